"""Module-level Prometheus metrics: grpc-ecosystem server metrics for every service, stage timings for the gateway.

Names and labels follow go-grpc-prometheus (grpc_server_handled_total, grpc_server_handling_seconds),
including its CamelCase grpc_code values, so existing gRPC dashboards work unchanged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Generation takes seconds to minutes, moderation milliseconds: one bucket set spans both.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

GRPC_STARTED = Counter(
    "grpc_server_started_total",
    "Total number of RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "Total number of RPCs completed on the server, regardless of success or failure.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_MSG_SENT = Counter(
    "grpc_server_msg_sent_total",
    "Total number of gRPC stream messages sent by the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)

KEY_REQUESTS = Counter(
    "safegen_api_key_requests_total",
    "RPCs by API key id (never the key), service and status code; only when "
    "SAFEGEN_API_KEYS_FILE is set. key_id is empty when no valid key was sent.",
    ["key_id", "grpc_service", "grpc_code"],
)

STAGES = ("prompt_moderation", "generation", "image_moderation", "total")
STAGE_SECONDS = Histogram(
    "safegen_stage_duration_seconds",
    "Wall-clock seconds of each gateway stage per request.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
OVERHEAD_RATIO = Histogram(
    "safegen_moderation_overhead_ratio",
    "Per request that generated: (prompt + image moderation seconds) / total seconds.",
    buckets=(0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0),
)
DECISIONS = Counter(
    "safegen_decisions_total",
    "Gateway moderation decisions by source (input/output), category and action.",
    ["source", "category", "action"],
)
REGENERATIONS = Counter(
    "safegen_regenerations_total", "Images regenerated because the prompt was safe but the image was not."
)
BLOCKED = Counter(
    "safegen_blocked_requests_total", "Requests answered without images, by reason (prompt, image).", ["reason"]
)

# The autoscaling signals (docs/operations.md "Autoscaling"): work waiting for a worker or the device, and
# RPCs being handled (running + waiting), per service as `safegen serve` names it. Sampled at scrape time,
# so they read the same whatever the scrape interval, unlike a rate.
QUEUE_DEPTH = Gauge(
    "safegen_queue_depth",
    "Requests admitted but waiting for a worker or the device (generation: for the backend; "
    "image moderation: for the scoring pool).",
    ["service"],
)
INFLIGHT = Gauge("safegen_inflight_requests", "RPCs being handled by this process (running + waiting).", ["service"])
#: gRPC service -> the `service` label (the `safegen serve` name, the chart's component). Health and reflection
#: are left out: a health Watch stream would count as in flight for as long as the prober stays connected.
SERVICE_LABELS = {
    "safegen.v1.TextModerationService": "text-moderation",
    "safegen.v1.ImageModerationService": "image-moderation",
    "safegen.v1.ImageGenerationService": "image-generation",
    "safegen.v1.SafeGenerationService": "gateway",
    "safegen.v1.GuardrailService": "gateway",
}


def service_label(grpc_service: str) -> str | None:
    """The `service` label of an RPC's gRPC service, or None for infrastructure (grpc.health, reflection)."""
    if grpc_service.startswith("grpc."):
        return None
    return SERVICE_LABELS.get(grpc_service, grpc_service)


# Pre-create children so dashboards and rules see zeros before the first request.
for _stage in STAGES:
    STAGE_SECONDS.labels(_stage)
for _reason in ("prompt", "image"):
    BLOCKED.labels(_reason)

# grpc.StatusCode name -> the name Go's codes.Code.String() gives (what go-grpc-prometheus exports).
GO_CODE_NAMES = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}


class RpcMetrics:
    """Cached labelled children for one method (labels() costs ~1.4 us; this runs on every RPC)."""

    __slots__ = ("started", "seconds", "sent", "inflight", "_handled", "_labels")

    def __init__(self, grpc_type: str, service: str, method: str):
        self._labels = (grpc_type, service, method)
        label = service_label(service)
        #: safegen_inflight_requests of this RPC's service; None for health and reflection.
        self.inflight = INFLIGHT.labels(label) if label else None
        self.started = GRPC_STARTED.labels(*self._labels)
        self.seconds = GRPC_HANDLING_SECONDS.labels(*self._labels)
        self.sent = GRPC_MSG_SENT.labels(*self._labels)
        self._handled: dict[str, Counter] = {}

    def handled(self, code_name: str) -> Counter:
        child = self._handled.get(code_name)
        if child is None:
            child = self._handled[code_name] = GRPC_HANDLED.labels(
                *self._labels, GO_CODE_NAMES.get(code_name, code_name)
            )
        return child
