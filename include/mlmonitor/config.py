"""Model onboarding: one YAML file per model, validated by a pydantic schema.

Errors name the file, the field and the fix, because the person reading them is an ML
engineer who just wrote the YAML, not someone who has read this module.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlmonitor.alerting.mentions import CHECKS, kind_of
from mlmonitor.checks.anomaly_stats import SERIES, AnomalyRule, Direction, Seasonality, SeriesName
from mlmonitor.checks.drift_methods import drift_method
from mlmonitor.checks.drift_stats import ColumnKind
from mlmonitor.checks.scores import CLASSIFICATION, REGRESSION
from mlmonitor.errors import ConfigError

MODELS_DIR_ENV = "MLMONITOR_MODELS_DIR"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# SQL identifiers from YAML are later checked against the reflected schema and quoted; this
# pattern only rejects what can never be a sensible column or table name (quotes, semicolons ...).
_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"
Identifier = Annotated[str, Field(pattern=_IDENT, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_cron(value: str) -> str:
    from croniter import croniter

    presets = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
    if value in presets or (len(value.split()) == 5 and croniter.is_valid(value)):
        return value
    raise ValueError(f"{value!r} is not a cron expression; use one of {sorted(presets)} or 5 cron fields")


class TrainingConfig(_Strict):
    """Where the reference (training) data lives."""

    table: Identifier
    timestamp_column: Identifier | None = None
    # How often the baseline DAG checks the training table's fingerprint (None: only on demand
    # and on the training Asset).
    refresh_schedule: str | None = "@daily"

    @field_validator("refresh_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class ServingConfig(_Strict):
    """Where the prediction logs live; one row per served prediction."""

    table: Identifier
    timestamp_column: Identifier
    id_column: Identifier
    model_version_column: Identifier | None = None
    latency_column: Identifier | None = None
    allowed_model_versions: tuple[str, ...] = ()
    # versions kept per window (share rows, run row, XCom, Prometheus); the rest are summed as "other"
    max_model_versions: int = Field(default=20, ge=1, le=1000)
    status_column: Identifier | None = None
    error_values: tuple[str, ...] = ("error",)


class PredictionConfig(_Strict):
    """The model output column (probability or score) and the kind of model."""

    column: Identifier
    task: Literal["classification", "regression"]
    class_column: Identifier | None = None


class FeaturesConfig(_Strict):
    """Monitored input columns; left empty, they are inferred from the training table."""

    numeric: tuple[Identifier, ...] = ()
    categorical: tuple[Identifier, ...] = ()

    @model_validator(mode="after")
    def _no_overlap(self) -> FeaturesConfig:
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise ValueError(f"columns {both} are listed as both numeric and categorical; keep each in one list")
        return self


class LabelsConfig(_Strict):
    """Ground truth that arrives later, joined to predictions by id; re-scored by its own DAG."""

    table: Identifier
    id_column: Identifier
    label_column: Identifier
    arrived_at_column: Identifier | None = None
    positive_label: str = "1"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    lookback_windows: int = Field(default=7, ge=1, le=1000)
    schedule: str | None = None
    min_labels: int = Field(default=30, ge=1)
    tolerance: float = Field(default=0.1, gt=0, lt=1)
    expected: dict[str, float] = Field(default_factory=dict)

    @field_validator("expected")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        known = {*CLASSIFICATION, *REGRESSION}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; use some of {sorted(known)}")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class RegistryConfig(_Strict):
    """A table of model versions and when each was trained."""

    table: Identifier
    version_column: Identifier = "model_version"
    trained_at_column: Identifier = "trained_at"


class StalenessConfig(_Strict):
    """Model age (M4): from `trained_at`, else the registry table, else the newest training timestamp."""

    trained_at: dt.date | None = None
    registry: RegistryConfig | None = None
    warn_days: float = Field(default=90, gt=0)
    alert_days: float = Field(default=180, gt=0)

    @model_validator(mode="after")
    def _order(self) -> StalenessConfig:
        if self.alert_days < self.warn_days:
            raise ValueError(f"alert_days ({self.alert_days}) must be at least warn_days ({self.warn_days})")
        if self.trained_at and self.registry:
            raise ValueError("give either trained_at or registry, not both")
        return self


class StabilityConfig(_Strict):
    """Numerical stability (M5): NULL, NaN, infinite and out-of-range prediction shares."""

    min: float | None = None
    max: float | None = None
    max_invalid_share: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _range(self) -> StabilityConfig:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class OperationsConfig(_Strict):
    """Serving health (M6): latency, volume and error rate against the trailing healthy windows."""

    history_windows: int = Field(default=7, ge=1, le=100)
    min_history: int = Field(default=3, ge=1)
    latency_regression: float = Field(default=1.5, gt=1)
    volume_drop: float = Field(default=0.5, gt=0, lt=1)
    volume_spike: float = Field(default=2.0, gt=1)
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    error_rate_regression: float = Field(default=2.0, gt=1)


class HealthConfig(_Strict):
    """Model and operations health checks; every one has a working default."""

    mixed_versions: Literal["ok", "warning", "alert"] = "warning"
    unknown_version: Literal["warning", "alert"] = "alert"
    # a version served that the previous serving window did not serve (and not in allowed_model_versions)
    version_change: Literal["ok", "warning", "alert"] = "warning"
    staleness: StalenessConfig = StalenessConfig()
    stability: StabilityConfig = StabilityConfig()
    operations: OperationsConfig = OperationsConfig()
    schema_changes: Literal["ok", "warning", "alert"] = "alert"


class SkewConfig(_Strict):
    """Training/serving skew (M3): an offline feature table joined to serving rows by key."""

    table: Identifier
    id_column: Identifier = "id"
    features: tuple[Identifier, ...] = ()
    tolerance: float = Field(default=1e-6, ge=0)
    max_mismatch_rate: float = Field(default=0.01, ge=0, le=1)


Severity = Literal["warning", "critical"]


_DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
_KEYWORD = r"^[A-Za-z_][A-Za-z0-9_]*$"


class NotifierConfig(_Strict):
    """An Airflow notifier (any provider's `BaseNotifier` subclass, by dotted path) as an alert
    destination. It receives the alert's plain text in the keyword `text_argument`, and its kwargs
    are rendered as Jinja templates with `alert_text`, `alert_title`, `model`, `severity` and `kind`.
    The core only declares it; the Airflow layer imports and calls the class."""

    notifier: str = Field(pattern=_DOTTED, max_length=250)
    text_argument: str | None = Field(default=None, pattern=_KEYWORD)
    title_argument: str | None = Field(default=None, pattern=_KEYWORD)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _receives_the_text(self) -> NotifierConfig:
        templated = any("alert_text" in str(v) for v in self.kwargs.values())
        if self.text_argument is None and not templated:
            raise ValueError(
                f"{self.notifier} would not receive the alert: set text_argument to the keyword that takes the "
                "message (e.g. html_content for SmtpNotifier, summary for PagerdutyNotifier, body for "
                "AppriseNotifier), or use '{{ alert_text }}' in one of its kwargs"
            )
        given = {self.text_argument, self.title_argument} & set(self.kwargs)
        if given:
            raise ValueError(f"kwargs {sorted(str(g) for g in given)} are filled by mlmonitor; remove them from kwargs")
        return self


class SeverityRoute(_Strict):
    """Where alerts of one severity go; empty fields fall back to the `alerts` defaults."""

    slack_conn_id: str | None = None
    channel: str | None = None
    notifiers: tuple[NotifierConfig, ...] | None = None  # None: alerts.notifiers; [] : none for this severity


class AlertsConfig(_Strict):
    """Where and how often alerts go. Without the Slack connection they go to the task log and a local file."""

    slack_conn_id: str = "mlmonitor_slack"
    channel: str | None = None
    warning: SeverityRoute = SeverityRoute()
    critical: SeverityRoute = SeverityRoute()
    notifiers: tuple[NotifierConfig, ...] = ()
    reminder_hours: float | None = Field(default=None, gt=0)
    # tell the critical route when a window is not monitored this long after it ends (Airflow deadline alerts)
    late_after_hours: float | None = Field(default=None, gt=0)
    top: int = Field(default=5, ge=1, le=50)
    retries: int = Field(default=3, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    timeout_seconds: int = Field(default=30, ge=1, le=300)
    owners: list[str] = []  # mentioned in every message: Slack user ids, user groups, e-mail addresses
    subscribers: list[str] = []  # named in every message too, after the owners
    check_owners: dict[str, list[str]] = {}  # check (validation, drift ...) -> owners named when it fails
    column_owners: dict[str, list[str]] = {}  # column -> owners named when one of its checks fails
    group_threshold: int | None = Field(default=None, ge=1)  # queue messages; >= this many per channel: one message

    @field_validator("owners", "subscribers", "check_owners", "column_owners")
    @classmethod
    def _mentions(cls, value: list[str] | dict[str, list[str]], info: ValidationInfo) -> object:
        """Every owner a Slack user id, user group or e-mail (`mentions.kind_of`); check_owners keyed by checks."""
        unknown = [k for k in value if k not in CHECKS] if info.field_name == "check_owners" else []
        if unknown:
            raise ValueError(f"check_owners: {unknown[0]!r} is not a check; use one of {', '.join(CHECKS)}")
        for name in [n for names in value.values() for n in names] if isinstance(value, dict) else value:
            kind_of(name)
        return value

    def route(self, severity: Severity) -> tuple[str, str | None]:
        """(Slack connection id, channel) for alerts of `severity`."""
        chosen = self.critical if severity == "critical" else self.warning
        return chosen.slack_conn_id or self.slack_conn_id, chosen.channel or self.channel

    def notifiers_for(self, severity: Severity) -> tuple[tuple[str, NotifierConfig], ...]:
        """(YAML field, notifier) of each Airflow notifier that alerts of `severity` go to, besides Slack."""
        chosen = self.critical if severity == "critical" else self.warning
        if chosen.notifiers is not None:
            return tuple((f"alerts.{severity}.notifiers[{i}]", n) for i, n in enumerate(chosen.notifiers))
        return tuple((f"alerts.notifiers[{i}]", n) for i, n in enumerate(self.notifiers))


def _method(name: str, kind: ColumnKind | None = None) -> str:
    """A registered drift method name (a ValueError, so pydantic reports it with the field)."""
    try:
        return drift_method(name, kind).name
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class DriftRule(NamedTuple):
    """How one column is judged: its effect size, that size's threshold, and the null-share threshold."""

    method: str
    threshold: float
    null_threshold: float


class ColumnDriftConfig(_Strict):
    """Per-column override of the drift rule; unset fields fall back to the model's drift settings."""

    method: str | None = None  # a registered drift method (checks/drift_methods.py)
    threshold: float | None = Field(default=None, gt=0)
    null_rate_threshold: float | None = Field(default=None, gt=0, le=1)
    enabled: bool = True

    @field_validator("method")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else _method(value)


class LearnedThresholdsConfig(_Strict):
    """Thresholds learned from the reference: each signal's spread over training chunks of a window's size."""

    enabled: bool = True
    # expected rows per window; None: the serving volume at derivation, else the training rows per interval
    window_rows: int | None = Field(default=None, ge=10)
    sigmas: float = Field(default=3.0, gt=0)  # threshold = chunk mean + sigmas x chunk std
    floor: float = Field(default=0.5, ge=0, le=1)  # never below this share of the method's default threshold
    relearn_factor: float = Field(default=3.0, gt=1)  # warn when a window is this many times off the learned size
    min_chunks: int = Field(default=10, ge=3)  # fewer chunks than this: keep the fixed defaults


class AccumulateConfig(_Strict):
    """Evidence across consecutive windows: each column's counts pooled with those of the stored windows
    just before, tested like one bigger window (README "Drift": accumulated evidence)."""

    mode: Literal["auto", "on", "off"] = "auto"  # auto: on for windows of fewer than below_rows rows
    windows: int = Field(default=3, ge=2, le=30)  # this window and the stored ones before it
    below_rows: int = Field(default=1000, ge=1)


class DriftConfig(_Strict):
    """Drift decision: a signal drifts when its effect size reaches its threshold AND its
    Benjamini-Hochberg adjusted p-value across all signals of the window is below `fdr`."""

    numeric_method: str = "wasserstein"
    categorical_method: str = "linf"
    numeric_threshold: float | None = Field(default=None, gt=0)
    categorical_threshold: float | None = Field(default=None, gt=0)
    null_rate_threshold: float = Field(default=0.02, gt=0, le=1)
    fdr: float = Field(default=0.01, gt=0, lt=1)
    bins: int = Field(default=10, ge=2, le=100)
    top_k: int = Field(default=20, ge=1, le=1000)
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1)
    columns: dict[str, ColumnDriftConfig] = {}
    threshold: float | None = Field(default=None, gt=0)  # one threshold for every signal (trigger-form override)
    learned: LearnedThresholdsConfig = LearnedThresholdsConfig()
    accumulate: AccumulateConfig = AccumulateConfig()

    @field_validator("numeric_method")
    @classmethod
    def _numeric(cls, value: str) -> str:
        return _method(value, "numeric")

    @field_validator("categorical_method")
    @classmethod
    def _categorical(cls, value: str) -> str:
        return _method(value, "categorical")

    def rule(self, column: str, kind: ColumnKind) -> DriftRule | None:
        """How `column` is judged, or None when its drift check is disabled."""
        override = self.columns.get(column, ColumnDriftConfig())
        if not override.enabled:
            return None
        name = override.method or (self.numeric_method if kind == "numeric" else self.categorical_method)
        try:
            method = drift_method(name, kind)
        except ConfigError as exc:
            raise ConfigError(
                f"drift.columns.{column}.method: {exc} ({column!r} is {kind}); fix the model YAML"
            ) from None
        if self.threshold is not None:
            return DriftRule(method.name, self.threshold, self.threshold)
        model_level = self.numeric_threshold if kind == "numeric" else self.categorical_threshold
        default = model_level if override.method is None else None
        threshold = override.threshold or default or method.default_threshold
        return DriftRule(method.name, threshold, override.null_rate_threshold or self.null_rate_threshold)

    def explicit(self, column: str, kind: ColumnKind) -> tuple[bool, bool]:
        """Whether the YAML (or the trigger form) sets `column`'s (effect, null-share) threshold: an
        explicit threshold wins over a learned one."""
        if self.threshold is not None:
            return True, True
        override = self.columns.get(column, ColumnDriftConfig())
        model_level = self.numeric_threshold if kind == "numeric" else self.categorical_threshold
        effect = override.threshold is not None or (model_level is not None and override.method is None)
        null = override.null_rate_threshold is not None or "null_rate_threshold" in self.model_fields_set
        return effect, null


class AnomalySeriesConfig(_Strict):
    """Per-series override of the anomaly settings; unset fields fall back to the model's `anomalies`."""

    enabled: bool | None = None
    seasonality: Seasonality | None = None
    direction: Direction | None = None
    min_history: int | None = Field(default=None, ge=2, le=1000)
    sensitivity: float | None = Field(default=None, gt=0)
    min_relative_change: float | None = Field(default=None, ge=0)
    min_absolute_change: float | None = Field(default=None, ge=0)


class AnomaliesConfig(_Strict):
    """History-aware anomalies: each window's value of a stored series (volume, latency, error rate,
    prediction mean, NULL shares, optionally drift scores) as a z-score against the same series in
    the model's earlier windows that did not alert (of the same seasonal bucket)."""

    enabled: bool = True
    seasonality: Seasonality = "none"
    direction: Direction = "both"
    min_history: int = Field(default=14, ge=2, le=1000)
    history_windows: int = Field(default=56, ge=2, le=1000)
    sensitivity: float = Field(default=3.0, gt=0)
    min_relative_change: float = Field(default=0.1, ge=0)
    min_absolute_change: float = Field(default=0.0, ge=0)
    status: Literal["warning", "alert"] = "warning"
    series: dict[SeriesName, AnomalySeriesConfig] = {}

    @model_validator(mode="after")
    def _enough_history(self) -> AnomaliesConfig:
        every: list[tuple[str, AnomalySeriesConfig]] = [("(model)", AnomalySeriesConfig()), *self.series.items()]
        for name, o in every:
            need = o.min_history or self.min_history
            if need > self.history_windows:
                raise ValueError(
                    f"min_history {need} of series {name} exceeds history_windows {self.history_windows}: "
                    "it could never be judged; raise history_windows or lower min_history"
                )
        return self

    def rule(self, name: SeriesName) -> AnomalyRule | None:
        """How series `name` is judged, or None when it is off."""
        info = next(s for s in SERIES if s.name == name)
        o = self.series.get(name, AnomalySeriesConfig())
        on = o.enabled if o.enabled is not None else info.enabled
        if not self.enabled or not on:
            return None
        absolute = (
            o.min_absolute_change
            if o.min_absolute_change is not None
            else max(self.min_absolute_change, info.min_absolute_change)
        )
        return AnomalyRule(
            seasonality=o.seasonality or self.seasonality,
            direction=o.direction or self.direction,
            min_history=o.min_history or self.min_history,
            sensitivity=o.sensitivity or self.sensitivity,
            min_relative_change=o.min_relative_change
            if o.min_relative_change is not None
            else self.min_relative_change,
            min_absolute_change=absolute,
        )


class ValidationConfig(_Strict):
    """Knobs of the derived expectation suite."""

    min_rows: int = Field(default=1, ge=0)
    max_rows: int | None = Field(default=None, ge=1)
    mostly: float = Field(default=0.99, gt=0, le=1)
    quantile_margin: float = Field(default=0.1, ge=0)
    # the window size the model expects (its smallest usual window): every derived `mostly` is a
    # training share minus 4 standard errors at this many rows; `null_tolerance_rows` is its old name
    window_rows: int = Field(default=500, ge=10, validation_alias=AliasChoices("window_rows", "null_tolerance_rows"))
    # a categorical with at most this many training values is validated against all of them (more:
    # against its top-K, allowing the share the top-K misses); 0 keeps to the top-K
    value_set_max: int = Field(default=1000, ge=0, le=10_000)
    # raw serving values shown per failed expectation (Data Docs, metric details, alerts); 0 shows none
    sample_values: int = Field(default=20, ge=0, le=200)


class ModelConfig(_Strict):
    """One monitored model: the whole content of its YAML file."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str = ""
    owner: str = "mlmonitor"
    warehouse_conn_id: str = "mlmonitor_warehouse"
    results_conn_id: str | None = None
    training: TrainingConfig
    serving: ServingConfig
    prediction: PredictionConfig
    features: FeaturesConfig = FeaturesConfig()
    exclude: tuple[Identifier, ...] = ()
    labels: LabelsConfig | None = None
    schedule: str = "@daily"
    start_date: dt.date
    retries: int = Field(default=2, ge=0, le=10)
    alerts: AlertsConfig = AlertsConfig()
    drift: DriftConfig = DriftConfig()
    validation: ValidationConfig = ValidationConfig()
    health: HealthConfig = HealthConfig()
    anomalies: AnomaliesConfig = AnomaliesConfig()
    skew: SkewConfig | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    def reserved_columns(self) -> set[str]:
        """Serving/training columns that are never features."""
        cols = {self.serving.timestamp_column, self.serving.id_column, self.prediction.column, *self.exclude}
        optional = (
            self.serving.model_version_column,
            self.serving.latency_column,
            self.serving.status_column,
            self.prediction.class_column,
            self.training.timestamp_column,
            self.labels.label_column if self.labels else None,
        )
        return cols | {c for c in optional if c}


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it or fix its spelling",
    "string_pattern_mismatch": "use letters, digits and underscores only (a SQL identifier)",
    "literal_error": "use one of the allowed values",
    "date_from_datetime_parsing": "write a date like 2024-03-01",
    "date_parsing": "write a date like 2024-03-01",
}


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid model config ({exc.error_count()} problem(s)):"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        fix = _FIXES.get(err["type"], "see the model YAML reference in README.md")
        lines.append(f"  - field '{field}': {err['msg']}; fix: {fix}")
    return "\n".join(lines)


def parse_model(data: Any, path: Path) -> ModelConfig:
    """Validate an already-parsed YAML document; `path` only labels the error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of model settings at the top level, got {type(data).__name__}")
    try:
        model = ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    if path.stem != model.name:
        raise ConfigError(
            f"{path}: field 'name' is {model.name!r} but the file is named {path.name!r}; "
            f"fix: rename the file to {model.name}.yaml or change the name"
        )
    return model


def load_model(path: Path) -> ModelConfig:
    """Read and validate one model YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}; fix the syntax") from None
    return parse_model(data, path)


def models_dir() -> Path:
    """The folder of model YAMLs: $MLMONITOR_MODELS_DIR or include/models/."""
    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def model_files(directory: Path | None = None) -> list[Path]:
    folder = directory or models_dir()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: models folder does not exist; set {MODELS_DIR_ENV} or create it")
    return sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and not p.name.startswith("."))


def load_models(directory: Path | None = None) -> list[ModelConfig]:
    """Load every model YAML; raise one ConfigError that lists every broken file."""
    models, broken = load_models_and_errors(directory)
    if broken:
        raise ConfigError("\n".join(broken.values()))
    return models


def load_models_and_errors(directory: Path | None = None) -> tuple[list[ModelConfig], dict[Path, str]]:
    """Every valid model YAML, and the error message of each broken one (so one bad file hides no other)."""
    models: list[ModelConfig] = []
    broken: dict[Path, str] = {}
    owner: dict[str, Path] = {}
    for path in model_files(directory):
        try:
            model = load_model(path)
        except ConfigError as exc:
            broken[path] = str(exc)
            continue
        if model.name in owner:
            broken[path] = (
                f"{path}: model name {model.name!r} is already used by {owner[model.name]}; names must be unique"
            )
            continue
        owner[model.name] = path
        models.append(model)
    return models, broken


def model_file(name: str, directory: Path | None = None) -> Path:
    """The YAML file of model `name` (for error messages; the .yaml path when neither exists)."""
    folder = directory or models_dir()
    found = [folder / f"{name}{suffix}" for suffix in (".yaml", ".yml") if (folder / f"{name}{suffix}").exists()]
    return found[0] if found else folder / f"{name}.yaml"


def get_model(name: str, directory: Path | None = None) -> ModelConfig:
    """Load the YAML of one model by name."""
    folder = directory or models_dir()
    for suffix in (".yaml", ".yml"):
        path = folder / f"{name}{suffix}"
        if path.exists():
            return load_model(path)
    known = ", ".join(p.stem for p in model_files(folder)) or "none"
    raise ConfigError(f"no model named {name!r} in {folder} (known models: {known})")
