"""Where the GE project, suites, baselines and Data Docs live (shared by every worker)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GX_ROOT_ENV = "MLMONITOR_GX_ROOT"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GxProject:
    """Where the GE project lives: `root/gx/` is the GE file context."""

    root: Path

    @property
    def gx_dir(self) -> Path:
        return self.root / "gx"

    @property
    def suites_dir(self) -> Path:
        return self.gx_dir / "expectations"

    @property
    def docs_dir(self) -> Path:
        return self.gx_dir / "uncommitted" / "data_docs" / "local_site"

    @property
    def baselines_dir(self) -> Path:
        return self.root / "baselines"

    def baseline_path(self, model: str) -> Path:
        return self.baselines_dir / f"{model}.json"

    def model_index_path(self, model: str) -> Path:
        """The rows of the model's Data Docs index (one per window), kept beside the site, not in it."""
        return self.gx_dir / "uncommitted" / "mlmonitor_index" / f"{model}.json"

    @property
    def alerts_file(self) -> Path:
        return self.gx_dir / "uncommitted" / "alerts.jsonl"


def default_project() -> GxProject:
    """$MLMONITOR_GX_ROOT, or expectations/ in the repository."""
    return GxProject(Path(os.environ.get(GX_ROOT_ENV) or REPO_ROOT / "expectations"))
