#!/usr/bin/env bash
# The deployment checks CI runs (.ci/run): installs the real tools, then checks the chart, the dashboard and
# the alerts with them, and runs the live Prometheus test against real `safegen serve` processes.
# Assumes `pip install -e .[test]`; idempotent; fails on the first broken check, and fails (not skips)
# when a tool is missing.
#   deploy/check.sh            everything (about 2 minutes once the tools are installed)
#   deploy/check.sh --fast     without the live Prometheus test
#   deploy/check.sh --no-pytest  only the shell-level tool checks (.ci/run: scripts/test already ran tests/deploy)
#   SAFEGEN_PODMAN_CHECK=1     also build and run the container image (deploy/podman-check.sh, slow)
set -euo pipefail
cd "$(dirname "$0")/.."
CHART=deploy/k8s/safegen

step() { printf '\n=== %s\n' "$*"; }

step "tools"
eval "$(deploy/setup-tools.sh)"
"$SAFEGEN_HELM" version --short
"$SAFEGEN_PROMTOOL" --version | head -1
python -m kubernetes_validate --version 2>/dev/null || kubernetes-validate --version

step "dashboard JSON is generated from deploy/dashboards/generate.py; the schema knows every setting"
python deploy/dashboards/generate.py --check
python deploy/sync-settings-schema.py --check

step "helm lint --strict, helm template, kubernetes-validate --strict (default values and $CHART/ci/*-values.yaml)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for values in "" "$CHART"/ci/*-values.yaml; do
  name=$(basename "${values:-default}" .yaml)
  args=()
  [ -n "$values" ] && args=(-f "$values")
  "$SAFEGEN_HELM" lint --strict "$CHART" "${args[@]}" >/dev/null
  "$SAFEGEN_HELM" template safegen "$CHART" --namespace safegen "${args[@]}" >"$out/$name.yaml"
  # Unknown kinds (our ServiceMonitor and PrometheusRule CRs) only warn here; the pytest checks them.
  kubernetes-validate --strict --quiet "$out/$name.yaml"
  echo "ok  $name"
done

step "the schema rejects a misspelt key"
if "$SAFEGEN_HELM" template safegen "$CHART" --set textModeration.bakend=local >/dev/null 2>"$out/typo.err"; then
  echo "FAIL: values.schema.json accepted textModeration.bakend" >&2
  exit 1
fi
grep -q "additional properties 'bakend' not allowed" "$out/typo.err"
echo "ok  rejected: $(grep -o "additional properties 'bakend' not allowed" "$out/typo.err")"

step "promtool check rules / test rules"
"$SAFEGEN_HELM" template safegen "$CHART" --namespace safegen --set metrics.prometheusRule.enabled=true \
  --show-only templates/prometheusrule.yaml \
  | python -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(sys.stdin)["spec"], sys.stdout, sort_keys=False)' \
  >"$out/safegen-rules.yaml"
cp deploy/prometheus/rules_test.yaml "$out/"
"$SAFEGEN_PROMTOOL" check rules "$out/safegen-rules.yaml"
(cd "$out" && "$SAFEGEN_PROMTOOL" test rules rules_test.yaml)

if [ "${1:-}" = --no-pytest ]; then
  exit 0
fi

step "pytest tests/deploy (chart, rules, dashboard$([ "${1:-}" = --fast ] || echo ', live Prometheus'))"
export SAFEGEN_REQUIRE_TOOLS=1
if [ "${1:-}" = --fast ]; then
  python -m pytest -q -p no:cacheprovider tests/deploy --deselect tests/deploy/test_live_prometheus.py
else
  python -m pytest -q -p no:cacheprovider tests/deploy
fi

if [ "${SAFEGEN_PODMAN_CHECK:-0}" = 1 ]; then
  step "container image with podman"
  deploy/podman-check.sh
fi
