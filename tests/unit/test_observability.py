"""The shared Metrics while POWERTOOLS_METRICS_DISABLED is set (tests, the local stack)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from etl_artifacts.observability import metrics


def test_disabled_metrics_print_nothing_and_keep_nothing(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # Powertools prints every 100th value of a metric to stdout even while disabled; a process that
    # shares stdout with its functions (a local invoke, a CLI test) must never read one.
    metrics.clear_metrics()  # whatever an earlier test of this process added while enabled
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(250):
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    assert capsys.readouterr().out == ""
    assert metrics.provider.metric_set == {}


def test_enabled_metrics_are_kept_for_the_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    try:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        assert metrics.provider.metric_set["Requests"]["Value"] == [1.0]
    finally:
        metrics.clear_metrics()
