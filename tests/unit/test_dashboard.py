"""Dashboard shaping and rendering on hand-made result rows (no Airflow, no database)."""

from __future__ import annotations

import datetime as dt
import json
import re

from mlmonitor.ui import dashboard, trends
from mlmonitor.ui.svgchart import Chart, Point, RefLine, Series, nice_ticks, render

D0 = dt.datetime(2024, 3, 1)


def day(i: int) -> dt.datetime:
    return D0 + dt.timedelta(days=i)


def run(i: int, status: str = "ok", **kw: object) -> dict[str, object]:
    return {
        "model": "carloan",
        "window_start": day(i),
        "window_end": day(i + 1),
        "status": status,
        "rows": 1000 + i,
        "model_versions": json.dumps({"1.0.0": 1000 + i}),
        "failed_expectations": 0,
        "drifted_features": 0,
        "docs_path": f"validations/carloan/{i}.html",
        "airflow_run_id": f"manual__2024-03-0{i + 1}T00:00:00+00:00",
        "message": f"{1000 + i} rows",
        **kw,
    }


def metric(i: int, check: str, column: str, name: str, value: float | None, status: str = "ok", **kw: object):
    return {
        "model": "carloan",
        "window_start": day(i),
        "window_end": day(i + 1),
        "check_name": check,
        "column_name": column,
        "metric": name,
        "value": value,
        "threshold": kw.pop("threshold", None),
        "p_value": kw.pop("p_value", None),
        "status": status,
        "details": json.dumps(kw.pop("details", {})),
    }


RUNS = [run(0), run(1), run(2, "alert", message="2 failed expectation(s); drift in income <b>")]
METRICS = [
    metric(0, "drift", "income", "psi", 0.01, threshold=0.1, details={"decision": "no drift"}),
    metric(1, "drift", "income", "psi", 0.05, threshold=0.1),
    metric(2, "drift", "income", "psi", 0.42, "warning", threshold=0.1, p_value=1e-9, details={"method": "psi"}),
    metric(0, "drift", "region", "psi", 0.02, threshold=0.1),
    metric(1, "drift", "region", "psi", None, threshold=0.1),
    metric(2, "drift", "", "drifted_share", 0.5, "alert", threshold=0.5),
    metric(2, "validation", "credit_score", "expect_column_values_to_not_be_null", 0.3, "alert"),
    metric(2, "validation", "id", "expect_column_values_to_be_unique", 1.0, "ok"),
    *(
        metric(i, "stats", "y_pred_proba", "mean", 0.2 + i / 100, details={"training_mean": 0.2, "training_std": 0.05})
        for i in range(3)
    ),
    *(metric(i, "stats", "y_pred_proba", "std", 0.05, details={"training": 0.05}) for i in range(3)),
    *(metric(i, "health", "latency_ms", p, v * (1 + i)) for i in range(3) for p, v in (("p50", 20), ("p95", 60))),
    metric(2, "health", "latency_ms", "p99", 300.0, details={"new_key": [1, 2]}),
    metric(2, "health", "", "rows_vs_trailing", 1.0, details="not json"),
]


def test_windows_newest_first_with_their_reasons_and_links():
    views = dashboard.window_views("carloan", RUNS, METRICS, base="/af")
    assert [v.start for v in views] == [day(2), day(1), day(0)]
    bad = views[0]
    assert bad.status == "alert"
    assert [(f.topic, f.title) for f in bad.findings][:2] == [
        ("failed expectation", "credit_score: must not be NULL"),
        ("drift", "many columns drifted"),
    ]
    assert ("drift", "income") in [(f.topic, f.title) for f in bad.findings]
    assert bad.href == "/af/mlmonitor/models/carloan/windows/20240303T0000"
    assert bad.docs_href == "/af/mlmonitor/models/carloan/windows/20240303T0000/docs"
    assert bad.docs_path == "validations/carloan/2.html"
    assert bad.run_href == "/af/dags/mlmonitor_carloan/runs/manual__2024-03-03T00%3A00%3A00%2B00%3A00"
    assert views[1].findings == () and views[1].versions == {"1.0.0": 1001}


def test_column_drift_puts_drifted_columns_first_with_both_signals():
    columns = trends.column_drift(METRICS)
    assert [c.column for c in columns] == ["income", "region"]
    income = columns[0]
    assert [s.label for s in income.chart.series] == ["population stability index"]
    assert income.chart.lines[0].value == 0.1 and income.chart.lines[0].label == "threshold"
    assert [p.status for p in income.chart.series[0].points] == ["ok", "ok", "warning"]
    assert income.chart.subtitle == "drifted in 1 of 3 windows" and income.drifted
    assert columns[1].chart.series[0].points[1].value is None  # missing value: a gap, not a zero
    assert not columns[1].drifted and columns[1].chart.subtitle == "no drift"


def test_prediction_and_operations_charts():
    pred = {c.key: c for c in trends.prediction_charts(METRICS)}
    mean = pred["prediction-mean-y_pred_proba"]
    assert mean.band is not None and (round(mean.band.low, 6), round(mean.band.high, 6)) == (0.195, 0.205)
    assert mean.lines[0].value == 0.2
    assert pred["prediction-std-y_pred_proba"].lines[0].value == 0.05
    ops = {c.key: c for c in trends.operations_charts(RUNS, METRICS)}
    assert [p.value for p in ops["volume"].series[0].points] == [1000, 1001, 1002]
    assert {p.status for p in ops["volume"].series[0].points} == {"ok"}  # traffic is not coloured by window status
    latency = ops["latency-latency_ms"]
    assert [s.label for s in latency.series] == ["p50", "p95", "p99"]
    assert latency.y_label == "latency (ms)"


def test_model_page_escapes_everything_and_links_the_evidence():
    view = dashboard.model_view("carloan", "Default <script>", RUNS, METRICS)
    page = dashboard.render_model(view)
    assert "<script>" not in page.replace('<script src="/mlmonitor/static/ui/mlmonitor.js"></script>', "")
    assert "Default &lt;script&gt;" in page
    assert page.count('data-chart="drift-') == 1  # the drifted column; the stable one is a sparkline row
    assert 'data-chart="spark-region"' in page
    assert 'href="/mlmonitor/models/carloan/windows/20240303T0000/docs"' in page
    assert 'href="/dags/mlmonitor_carloan/runs/manual__2024-03-03T00%3A00%3A00%2B00%3A00" data-airflow="1"' in page
    assert "window start (UTC)" in page and "drift score" in page and "latency (ms)" in page
    assert "unhealthy since 2024-03-03 00:00 (1 window)" in page
    assert "<title>" in page and "<svg" in page and "<title>" not in page.split("<svg", 1)[1]  # no SVG titles
    assert "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page)  # nothing from the network


def test_index_lists_every_model_even_without_results():
    views = dashboard.window_views("carloan", RUNS, METRICS)
    page = dashboard.render_index(
        [
            dashboard.model_summary("carloan", "Default probability", views, RUNS),
            dashboard.model_summary("churn", "", []),
            dashboard.ModelSummary(model="fraud", description="", latest=None, error="connection 'x' is not defined"),
        ]
    )
    assert 'href="/mlmonitor/models/carloan"' in page and ">alert<" in page
    assert "credit_score: must not be NULL" in page and "new in this window (2024-03-03)" in page
    assert "No window monitored yet" in page and "mlmonitor_churn_baseline" in page
    assert "connection &#x27;x&#x27; is not defined" in page
    assert page.index("fraud") < page.index("carloan") < page.index("churn")  # broken first, then by status


def test_svg_chart_axes_points_tooltips_and_escaping():
    chart = Chart(
        key="k",
        title='a "b" <c>',
        y_label="score",
        series=(Series("s", (Point(day(0), 0.1), Point(day(1), None), Point(day(2), 0.3, "warning", "x<y"))),),
        lines=(RefLine("threshold", 0.2),),
    )
    svg = render(chart)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;c&gt;" in svg and "x&lt;y" in svg
    assert svg.count('class="pt ') == 2 and 'data-status="warning"' in svg
    assert svg.count("<polyline") == 0  # two points separated by a gap: no line segment of two points
    assert "Mar 01" in svg and "Mar 03" in svg
    tips = re.findall(r'data-tip="([^"]*)"', svg)
    assert len(tips) == 3  # one hover target per window
    assert tips[2] == "window 2024-03-03 00:00 UTC&#10;s: 0.3 (warning) – x&lt;y&#10;threshold: 0.2".replace(
        "&#10;", "\n"
    )
    assert "<title>" not in svg and 'width="' not in svg.split(">", 1)[0]  # scales to its container


def test_nice_ticks_cover_the_range():
    assert nice_ticks(0, 1) == [0, 0.25, 0.5, 0.75, 1.0]
    ticks = nice_ticks(13, 87)
    assert ticks[0] <= 13 and ticks[-1] >= 87 and len(ticks) <= 7


def test_an_acknowledged_quality_anomaly_tags_only_its_own_finding() -> None:
    from mlmonitor.storage.mutes import Mute
    from mlmonitor.ui.findings import Finding

    start = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    ack = Mute(
        model="m",
        kind="acknowledge",
        labels=("performance:anomaly:f1()",),
        until=start + dt.timedelta(days=2),
        set_by="alice",
        set_at=start,
    )
    found = [
        Finding(key=f"performance:anomaly:{m}()", topic="quality", status="warning", title=m, detail="")
        for m in ("accuracy", "f1")
    ]
    tagged = dashboard.with_mutes(found, start, [ack])
    assert [bool(f.muted) for f in tagged] == [False, True]
    assert tagged[1].muted.startswith("acknowledged by alice")
