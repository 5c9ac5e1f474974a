"""The Grafana dashboard: generated from one script without drift, laid out sanely, showing what issue 6 asks for."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from deploy_helpers import CHART, REPO

GENERATOR = REPO / "deploy" / "dashboards" / "generate.py"
DASHBOARD = CHART / "dashboards" / "safegen.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_committed_json_matches_the_generator():
    p = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def all_panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_panel_ids_are_unique_and_the_grid_fits(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
    # No two panels overlap.
    cells = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))


def test_every_query_uses_the_datasource_variable_and_only_known_variables(dashboard):
    known = {"$datasource", "$namespace", "$service", "$__rate_interval"}
    for p in all_panels(dashboard):
        assert p["datasource"]["uid"] == "${datasource}"
        for t in p["targets"]:
            used = set(re.findall(r"\$\w+", t["expr"]))
            assert used <= known, (p["title"], used - known)
            assert "$namespace" in t["expr"], f"{p['title']} ignores the namespace filter"


def test_shows_what_operators_need(dashboard):
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in all_panels(dashboard)}
    text = " ".join(exprs.values())
    # Per service: rate, error ratio, p50/p95/p99 from the grpc histogram (a row repeated per $service).
    repeated = [p for p in dashboard["panels"] if p.get("repeat") == "service"]
    assert repeated and repeated[0]["type"] == "row"
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le) (rate(grpc_server_handling_seconds_bucket" in text
    assert "grpc_server_handled_total" in exprs["Error ratio"]
    # Gateway stages, overhead with its 5% line, decisions, regenerations and blocks.
    assert "safegen_stage_duration_seconds_bucket" in exprs["Stage latency p95"]
    overhead = next(p for p in all_panels(dashboard) if p["title"].startswith("Moderation overhead ("))
    assert overhead["fieldConfig"]["defaults"]["unit"] == "percent"
    steps = overhead["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "red", "value": 5} in steps
    assert overhead["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"].startswith("line")
    assert "safegen_decisions_total" in exprs["Decisions per minute by category and action"]
    assert "by (source, category, action)" in exprs["Decisions per minute by category and action"]
    assert "safegen_regenerations_total" in exprs["Regenerations and blocks per minute"]
    assert "safegen_blocked_requests_total" in exprs["Regenerations and blocks per minute"]


@pytest.mark.tools
def test_dashboard_and_alert_use_the_same_overhead_and_error_definitions(dashboard, helm):
    from deploy_helpers import documents, render

    (rule,) = documents(
        render(helm, sets=("metrics.prometheusRule.enabled=true",), show_only="templates/prometheusrule.yaml")
    )
    rules = {r.get("record"): r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    codes = re.search(r'grpc_code=~"([^"]+)"', rules["namespace_grpc_service:grpc_server_errors:ratio_rate5m"]).group(1)
    dash = json.dumps(dashboard)
    assert f'grpc_code=~\\"{codes}\\"' in dash
    assert 'stage=~\\"prompt_moderation|image_moderation\\"' in dash
    assert 'stage=~"prompt_moderation|image_moderation"' in rules["namespace:safegen_moderation_overhead:ratio_rate5m"]
