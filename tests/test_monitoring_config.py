"""The Prometheus and Grafana files in deploy/: promtool accepts the config and the rules, the
alerts fire on the series they are for (deploy/prometheus/alerts.test.yml), every dashboard
query is PromQL, and every Shipyard metric they name is one the platform exposes."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from app.jobs.metrics import JobMetrics

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "shipyard.json"
PROMTOOL = shutil.which("promtool")

# The drift gauges, which come from the stored drift reports.
DRIFT_METRICS = {
    "shipyard_drift_share",
    "shipyard_dataset_drift",
    "shipyard_drift_column_score",
    "shipyard_live_metric",
}

# The series names each metric type is exposed under.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
_SHIPYARD_NAME = re.compile(r"\bshipyard_[a-zA-Z0-9_]+")


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # the panels of a collapsed row


def dashboard_queries() -> list[str]:
    board = dashboard()
    queries = [str(t["expr"]) for panel in panels(board) for t in panel.get("targets", []) if t.get("expr")]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        queries.append(str(query["query"] if isinstance(query, dict) else query))
    return queries


def exposed_names(registry: CollectorRegistry) -> set[str]:
    return {
        f"{family.name}{suffix}" for family in registry.collect() for suffix in SERIES_SUFFIXES.get(family.type, ("",))
    }


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_accepts_the_config() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout, checked.stdout


def test_the_alerts_fire_on_the_series_they_are_for() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_rules_cover_drift_errors_latency_and_failed_jobs() -> None:
    rules = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    used = {name for expr in rules.values() for name in _SHIPYARD_NAME.findall(expr)}
    assert {
        "shipyard_dataset_drift",
        "shipyard_drift_share",
        "shipyard_predictions_total",
        "shipyard_prediction_latency_seconds_bucket",
        "shipyard_jobs",
    } <= used
    assert "histogram_quantile(0.95" in rules["ShipyardPredictionLatencyP95"]
    for rule in alert_rules():
        assert rule.get("labels", {}).get("severity"), f"{rule['alert']} has no severity"
        assert rule.get("annotations", {}).get("summary"), f"{rule['alert']} has no summary"


def test_every_dashboard_query_is_promql(tmp_path: Path) -> None:
    # promtool parses expressions only in rule files: each query becomes a recording rule, with
    # the dashboard's variables given a value.
    queries = [query.replace("$deployment", ".*") for query in dashboard_queries()]
    assert queries
    rules = [{"record": f"dashboard:query_{index}", "expr": query} for index, query in enumerate(queries)]
    rules = [rule for rule in rules if not rule["expr"].startswith("label_values(")]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", "queries.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_rules_and_dashboard_name_is_exposed(app: FastAPI) -> None:
    # The server's registry (HTTP, serving, prediction log, rollouts, job counts and the jobs it
    # runs itself) and a worker's, which it pushes to the Pushgateway.
    exposed = exposed_names(app.state.http_metrics.registry) | exposed_names(JobMetrics().registry)
    assert "shipyard_jobs" in exposed
    assert "shipyard_job_duration_seconds_bucket" in exposed
    used = {name for rule in alert_rules() for name in _SHIPYARD_NAME.findall(rule["expr"])}
    used |= {name for query in dashboard_queries() for name in _SHIPYARD_NAME.findall(query)}
    assert exposed >= DRIFT_METRICS
    unknown = sorted(used - exposed)
    assert not unknown, f"the rules or the dashboard name metrics the platform does not expose: {unknown}"


def test_the_dashboard_has_a_panel_per_alert_signal() -> None:
    used = {name for query in dashboard_queries() for name in _SHIPYARD_NAME.findall(query)}
    assert used >= DRIFT_METRICS
    assert {
        "shipyard_predictions_total",
        "shipyard_prediction_latency_seconds_bucket",
        "shipyard_jobs",
        "shipyard_jobs_finished_total",
        "shipyard_job_duration_seconds_bucket",
    } <= used
