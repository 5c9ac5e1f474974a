"""The chart's recording rules and alerts with the real promtool: `check rules` and the unit tests in deploy/prometheus."""

from __future__ import annotations

import shutil

import pytest
import yaml

from deploy_helpers import REPO, rules_file, run

pytestmark = pytest.mark.tools

UNIT_TESTS = REPO / "deploy" / "prometheus" / "rules_test.yaml"


@pytest.fixture()
def rendered_rules(helm, tmp_path):
    # The unit tests name the rendered file safegen-rules.yaml, next to themselves.
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    return rules_file(helm, tmp_path / "safegen-rules.yaml")


def test_promtool_check_rules(promtool, rendered_rules):
    p = run([promtool, "check", "rules", str(rendered_rules)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def test_promtool_unit_tests_of_the_alerts(promtool, rendered_rules):
    p = run([promtool, "test", "rules", UNIT_TESTS.name], cwd=rendered_rules.parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def test_every_alert_has_a_unit_test_and_a_runbook(rendered_rules):
    groups = yaml.safe_load(rendered_rules.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == {
        "SafegenModerationOverheadHigh",
        "SafegenHighErrorRatio",
        "SafegenLatencyP99High",
        "SafegenTargetDown",
        "SafegenServiceNotServing",
    }
    tested = {
        t["alertname"]
        for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
        if any(a for a in t.get("exp_alerts", []))
    }
    assert alerts <= tested, f"alerts never shown to fire in {UNIT_TESTS.name}: {sorted(alerts - tested)}"
    runbooks = (REPO / "docs" / "operations.md").read_text().lower()
    for g in groups:
        for r in g["rules"]:
            if "alert" in r:
                anchor = r["annotations"]["runbook_url"].rsplit("#", 1)[1]
                assert f"### {r['alert'].lower()}" in runbooks, (
                    f"docs/operations.md has no runbook heading for {r['alert']}"
                )
                assert anchor == r["alert"].lower()
