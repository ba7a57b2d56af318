from mlmonitor.ui.links import (
    airflow_run_url,
    dashboard_url,
    docs_base_url,
    docs_index_url,
    docs_url,
    metrics_url,
    static_base_url,
)


def test_links_share_one_prefix_and_quote_path_parts():
    base = "http://airflow.example:8080/"
    assert dashboard_url(base) == "http://airflow.example:8080/mlmonitor/"
    assert dashboard_url(base, "car loan") == "http://airflow.example:8080/mlmonitor/models/car%20loan"
    assert docs_url(base, "validations/carloan/run 1/x.html") == (
        "http://airflow.example:8080/mlmonitor/docs/validations/carloan/run%201/x.html"
    )
    assert docs_index_url(base) == "http://airflow.example:8080/mlmonitor/docs/index.html"
    assert metrics_url(base) == "http://airflow.example:8080/mlmonitor/metrics"
    assert docs_base_url("/sub/") == "/sub/mlmonitor/docs" and static_base_url("") == "/mlmonitor/static"
    assert airflow_run_url(base, "mlmonitor_carloan", "manual__2024-01-01T00:00:00+00:00") == (
        "http://airflow.example:8080/dags/mlmonitor_carloan/runs/manual__2024-01-01T00%3A00%3A00%2B00%3A00"
    )
