"""Generates the chart's Grafana dashboard JSON (the one source of truth); `--check` fails when the file drifts.

    python deploy/dashboards/generate.py          # writes deploy/k8s/safegen/dashboards/safegen.json
    python deploy/dashboards/generate.py --check  # exit 1 if the committed JSON differs from this script

Every PromQL expression uses only the metrics safegen exports (see docs/operations.md) and the Grafana
variables $datasource, $namespace, $service and $__rate_interval / $__range; tests/deploy evaluates each
one against a real Prometheus scraping a real `safegen serve`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "k8s" / "safegen" / "dashboards" / "safegen.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
NS = 'namespace=~"$namespace"'
SAFEGEN_SERVICES = 'grpc_service=~"safegen\\\\.v1\\\\..+"'
# Server-side failures only: the same set as the chart's error-ratio recording rule and alert.
ERROR_CODES = 'grpc_code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"'
# The moderation overhead objective (the reference design measured ~5%: 700 ms of a 15 s generation).
OVERHEAD_OBJECTIVE_PERCENT = 5


class Layout:
    """Hands out panel ids and grid positions, 24 columns wide, row after row."""

    def __init__(self) -> None:
        self.next_id = 1
        self.y = 0
        self.x = 0
        self.row_height = 0

    def place(self, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.y += self.row_height
            self.x, self.row_height = 0, 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def new_row(self) -> dict:
        if self.x:
            self.y += self.row_height
        self.x, self.row_height = 0, 0
        pos = {"h": 1, "w": 24, "x": 0, "y": self.y}
        self.y += 1
        return pos

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def targets(*pairs: tuple[str, str]) -> list[dict]:
    return [target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(pairs)]


def timeseries(
    lay: Layout,
    title: str,
    description: str,
    tgts: list[dict],
    unit: str,
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    thresholds: list[dict] | None = None,
    max_: float | None = None,
) -> dict:
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10 if not stack else 60,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    steps = [{"color": "green", "value": None}]
    if thresholds:
        steps += thresholds
        custom["thresholdsStyle"] = {"mode": "line+area"}
    defaults = {
        "unit": unit,
        "custom": custom,
        "thresholds": {"mode": "absolute", "steps": steps},
        "color": {"mode": "palette-classic"},
        "min": 0,
    }
    if max_ is not None:
        defaults["max"] = max_
    return {
        "id": lay.take_id(),
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": lay.place(w, h),
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(lay: Layout, title: str, description: str, expr: str, unit: str, thresholds: list[dict] | None = None) -> dict:
    steps = [{"color": "green", "value": None}] + (thresholds or [])
    return {
        "id": lay.take_id(),
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": lay.place(6, 4),
        "targets": targets((expr, "")),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
    }


def row(lay: Layout, title: str, repeat: str | None = None) -> dict:
    r = {"id": lay.take_id(), "type": "row", "title": title, "collapsed": False, "gridPos": lay.new_row(), "panels": []}
    if repeat:
        r["repeat"] = repeat
    return r


def error_ratio(selector: str, by: str | None) -> str:
    """Failed share of calls; `or ... * 0` gives 0 instead of no data while nothing failed."""
    agg = f"sum by ({by})" if by else "sum"
    total = f"{agg} (rate(grpc_server_handled_total{{{selector}}}[$__rate_interval]))"
    errors = f"{agg} (rate(grpc_server_handled_total{{{selector}, {ERROR_CODES}}}[$__rate_interval]))"
    return f"({errors} or {total} * 0) / {total}"


def quantile(q: float, metric: str, selector: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))"


def overhead_percent() -> str:
    """Share of the gateway's request time spent moderating, weighted by time: sum of moderation-stage
    seconds over sum of total seconds. Unlike the mean of the per-request ratio, a cheap blocked prompt
    (ratio ~1, no generation) barely moves it. The chart's alert uses the same expression."""
    return (
        f'100 * sum(rate(safegen_stage_duration_seconds_sum{{{NS}, stage=~"prompt_moderation|image_moderation"}}[$__rate_interval]))'
        f' / sum(rate(safegen_stage_duration_seconds_sum{{{NS}, stage="total"}}[$__rate_interval]))'
    )


def build() -> dict:
    lay = Layout()
    panels: list[dict] = []
    svc_all = f"{NS}, {SAFEGEN_SERVICES}"
    objective = [{"color": "red", "value": OVERHEAD_OBJECTIVE_PERCENT}]

    panels.append(row(lay, "Overview"))
    panels.append(
        stat(
            lay,
            "Gateway requests",
            "Calls per second to the gateway (Generate and StreamGenerate).",
            f'sum(rate(grpc_server_handled_total{{{NS}, grpc_service="safegen.v1.SafeGenerationService"}}[$__rate_interval]))',
            "reqps",
        )
    )
    panels.append(
        stat(
            lay,
            "Moderation overhead",
            "Share of the gateway's request time spent moderating prompts and images.",
            overhead_percent(),
            "percent",
            objective,
        )
    )
    panels.append(
        stat(
            lay,
            "Blocked requests / min",
            "Requests answered without images: unsafe prompt, or every image withheld.",
            f"sum(rate(safegen_blocked_requests_total{{{NS}}}[$__rate_interval])) * 60",
            "short",
        )
    )
    panels.append(
        stat(
            lay,
            "Error ratio (all services)",
            "Share of calls that failed with a server-side code.",
            error_ratio(svc_all, None),
            "percentunit",
            [{"color": "orange", "value": 0.01}, {"color": "red", "value": 0.05}],
        )
    )
    panels.append(
        timeseries(
            lay,
            "Requests by service",
            "Calls per second per gRPC service, all methods.",
            targets(
                (
                    f"sum by (grpc_service) (rate(grpc_server_handled_total{{{svc_all}}}[$__rate_interval]))",
                    "{{grpc_service}}",
                )
            ),
            "reqps",
        )
    )
    panels.append(
        timeseries(
            lay,
            "Error ratio by service",
            "Share of calls per service that ended with a server-side code "
            "(Unknown, DeadlineExceeded, Unimplemented, Internal, Unavailable, DataLoss).",
            targets((error_ratio(svc_all, "grpc_service"), "{{grpc_service}}")),
            "percentunit",
            thresholds=[{"color": "red", "value": 0.05}],
        )
    )

    panels.append(row(lay, "Load (the autoscaling signals)"))
    panels.append(
        timeseries(
            lay,
            "Queue depth by service",
            "safegen_queue_depth summed over pods: calls waiting for the generation device or the image scoring pool. "
            "The chart's queue-based autoscaler targets its per-pod average (docs/operations.md, Autoscaling).",
            targets((f"sum by (service) (safegen_queue_depth{{{NS}}})", "{{service}}")),
            "short",
            w=12,
        )
    )
    panels.append(
        timeseries(
            lay,
            "In-flight requests by service",
            "safegen_inflight_requests summed over pods: RPCs being handled (running + waiting), per service.",
            targets((f"sum by (service) (safegen_inflight_requests{{{NS}}})", "{{service}}")),
            "short",
            w=12,
        )
    )

    panels.append(row(lay, "Moderation overhead"))
    panels.append(
        timeseries(
            lay,
            "Moderation overhead (% of request time)",
            "overall: moderation seconds / total seconds over all requests (what SafegenModerationOverheadHigh "
            f"alerts on; the red line is its {OVERHEAD_OBJECTIVE_PERCENT}% objective). p50/p95: the per-request ratio "
            "(safegen_moderation_overhead_ratio); a prompt blocked before generation counts as ~100% there.",
            targets(
                (overhead_percent(), "overall"),
                (f"100 * {quantile(0.5, 'safegen_moderation_overhead_ratio', NS, 'le')}", "per request p50"),
                (f"100 * {quantile(0.95, 'safegen_moderation_overhead_ratio', NS, 'le')}", "per request p95"),
            ),
            "percent",
            w=12,
            thresholds=objective,
        )
    )
    panels.append(
        timeseries(
            lay,
            "Mean time per request by stage",
            "Mean seconds per request in each gateway stage, stacked; `total` includes the gateway's own work.",
            targets(
                (
                    f'sum by (stage) (rate(safegen_stage_duration_seconds_sum{{{NS}, stage!="total"}}[$__rate_interval]))'
                    f' / sum by (stage) (rate(safegen_stage_duration_seconds_count{{{NS}, stage!="total"}}[$__rate_interval]))',
                    "{{stage}}",
                )
            ),
            "s",
            w=12,
            stack=True,
        )
    )

    panels.append(row(lay, "Gateway stages"))
    for q in (0.5, 0.95, 0.99):
        panels.append(
            timeseries(
                lay,
                f"Stage latency p{int(q * 100)}",
                f"p{int(q * 100)} of each gateway stage's duration.",
                targets((quantile(q, "safegen_stage_duration_seconds", NS, "stage, le"), "{{stage}}")),
                "s",
                w=8,
            )
        )

    panels.append(row(lay, "Decisions"))
    panels.append(
        timeseries(
            lay,
            "Decisions per minute by category and action",
            "Moderation decisions of the gateway: source (input = prompt, output = image), category (or WORDS) and the action taken.",
            targets(
                (
                    f"sum by (source, category, action) (rate(safegen_decisions_total{{{NS}}}[$__rate_interval])) * 60",
                    "{{source}} {{category}} {{action}}",
                )
            ),
            "short",
            w=12,
            stack=True,
        )
    )
    panels.append(
        timeseries(
            lay,
            "Regenerations and blocks per minute",
            "Regenerations after an unsafe image from a safe prompt; blocked requests by reason (prompt or image).",
            targets(
                (f"sum(rate(safegen_regenerations_total{{{NS}}}[$__rate_interval])) * 60", "regenerations"),
                (
                    f"sum by (reason) (rate(safegen_blocked_requests_total{{{NS}}}[$__rate_interval])) * 60",
                    "blocked: {{reason}}",
                ),
            ),
            "short",
            w=12,
        )
    )

    panels.append(row(lay, "Service $service", repeat="service"))
    svc = f'{NS}, grpc_service=~"$service"'
    panels.append(
        timeseries(
            lay,
            "Requests by method and code",
            "Calls per second of this service by method and status code.",
            targets(
                (
                    f"sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total{{{svc}}}[$__rate_interval]))",
                    "{{grpc_method}} {{grpc_code}}",
                )
            ),
            "reqps",
            w=8,
        )
    )
    panels.append(
        timeseries(
            lay,
            "Error ratio",
            "Share of this service's calls that ended with a server-side code.",
            targets((error_ratio(svc, "grpc_method"), "{{grpc_method}}")),
            "percentunit",
            w=8,
            thresholds=[{"color": "red", "value": 0.05}],
        )
    )
    panels.append(
        timeseries(
            lay,
            "Latency p50 / p95 / p99",
            "Handling time of this service's calls (for streams: the whole stream).",
            targets(
                (quantile(0.5, "grpc_server_handling_seconds", svc, "le"), "p50"),
                (quantile(0.95, "grpc_server_handling_seconds", svc, "le"), "p95"),
                (quantile(0.99, "grpc_server_handling_seconds", svc, "le"), "p99"),
            ),
            "s",
            w=8,
        )
    )

    templating = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
            "options": [],
        },
        {
            "name": "namespace",
            "label": "Namespace",
            "type": "query",
            "datasource": DS,
            "query": {"query": "label_values(grpc_server_handled_total, namespace)", "refId": "namespace"},
            "definition": "label_values(grpc_server_handled_total, namespace)",
            "refresh": 2,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "current": {},
            "hide": 0,
            "options": [],
            "regex": "",
            "sort": 1,
        },
        {
            "name": "service",
            "label": "gRPC service",
            "type": "query",
            "datasource": DS,
            "query": {
                "query": f"label_values(grpc_server_handled_total{{{svc_all}}}, grpc_service)",
                "refId": "service",
            },
            "definition": f"label_values(grpc_server_handled_total{{{svc_all}}}, grpc_service)",
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "current": {},
            "hide": 0,
            "options": [],
            "regex": "",
            "sort": 1,
        },
    ]
    return {
        "title": "safegen",
        "uid": "safegen-overview",
        "description": "safegen: traffic, errors and latency per gRPC service, the gateway's stages, moderation overhead and decisions.",
        "tags": ["safegen", "grpc"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": templating},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python deploy/dashboards/generate.py", file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
