"""The notifier destinations a model YAML declares: which severity gets which, and the config errors."""

from __future__ import annotations

import pytest

from mlmonitor.errors import ConfigError
from tests.factories import model_config

SMTP = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
PAGER = "airflow.providers.pagerduty.notifications.pagerduty.PagerdutyNotifier"


def test_routes_choose_their_notifiers() -> None:
    model = model_config(
        alerts={
            "notifiers": [{"notifier": SMTP, "text_argument": "html_content", "kwargs": {"to": "a@example.com"}}],
            "critical": {"notifiers": [{"notifier": PAGER, "text_argument": "summary"}]},
            "warning": {"channel": "#w"},
        }
    )
    assert [(f, n.notifier) for f, n in model.alerts.notifiers_for("warning")] == [("alerts.notifiers[0]", SMTP)]
    assert [(f, n.notifier) for f, n in model.alerts.notifiers_for("critical")] == [
        ("alerts.critical.notifiers[0]", PAGER)
    ]
    silent = model_config(
        alerts={"notifiers": [{"notifier": SMTP, "text_argument": "html_content"}], "warning": {"notifiers": []}}
    )
    assert silent.alerts.notifiers_for("warning") == ()
    assert model_config().alerts.notifiers_for("critical") == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"notifier": SMTP, "kwargs": {"to": "a@example.com"}}, "would not receive the alert: set text_argument"),
        ({"notifier": "SmtpNotifier", "text_argument": "x"}, "field 'alerts.notifiers.0.notifier'"),
        (
            {"notifier": SMTP, "text_argument": "html_content", "kwargs": {"html_content": "x"}},
            "kwargs ['html_content'] are filled by mlmonitor",
        ),
        ({"notifier": SMTP, "text_argument": "html content"}, "field 'alerts.notifiers.0.text_argument'"),
    ],
)
def test_bad_notifier_entries_name_the_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=r"m\.yaml: invalid model config") as err:
        model_config(alerts={"notifiers": [entry]})
    assert message in str(err.value)


def test_a_template_in_kwargs_is_enough() -> None:
    model = model_config(
        alerts={
            "notifiers": [
                {"notifier": SMTP, "kwargs": {"to": "a@x.org", "html_content": "<pre>{{ alert_text }}</pre>"}}
            ]
        }
    )
    assert model.alerts.notifiers[0].text_argument is None
