"""`safegen serve`: what each mode serves on its public port, the gateway's data plane wiring, start and drain.

All-in-one (`safegen serve`, every service in one process): the gateway reaches text moderation, image
moderation and image generation in process (no loopback channel, no serialisation), and the public port
serves the two moderation services and the gateway, never ImageGenerationService: generation is
internal, so nothing can get an image that skipped moderation. One service (`safegen serve NAME`, split
mode) serves just that service; a gateway alone reaches its backends over gRPC (SAFEGEN_*_ADDR).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

SERVICES = ("text-moderation", "image-moderation", "image-generation", "gateway")

# Service name -> "module:function" building its servicer(s) from (registry, env). Imported lazily so
# `safegen serve text-moderation` never loads torch's diffusion stack, and client commands load nothing.
_FACTORIES = {
    "text-moderation": "safegen.text.servicer:create_servicer",
    "image-moderation": "safegen.image.servicer:create_servicer",
    "image-generation": "safegen.generation.servicer:create_servicer",
    "gateway": "safegen.gateway.servicer:create_servicers",
}
_ADDR_VARS = ("SAFEGEN_TEXT_MODERATION_ADDR", "SAFEGEN_IMAGE_MODERATION_ADDR", "SAFEGEN_IMAGE_GENERATION_ADDR")


def _factory(name: str):
    module, func = _FACTORIES[name].split(":")
    return getattr(importlib.import_module(module), func)


def _as_list(made) -> list:
    return list(made) if isinstance(made, (list, tuple)) else [made]


@dataclass
class Wiring:
    """What a mode built: the servicers of the public port, and the gateway's data plane (if any)."""

    servicers: list
    plane: Any = None  # safegen.gateway.plane.DataPlane


def build(
    names: Sequence[str],
    registry,
    env: Mapping[str, str] | None = None,
    *,
    prebuilt: Mapping[str, Any] | None = None,
    core=None,
) -> Wiring:
    """The servicers for `names`: one service (split mode), or all four (all-in-one).

    `prebuilt` maps a service name to an already built servicer to use instead of its factory's (tests
    inject detector doubles this way); in all-in-one its domain object is what the gateway calls.
    `core`: the CoreSettings `safegen serve` already read (read from `env` when not given).
    """
    prebuilt = dict(prebuilt or {})
    names = list(names)
    all_in_one = set(names) == set(SERVICES)
    if all_in_one:
        _check_no_addresses(env)  # before any model loads
    # Independent services load at the same time (generation first, the longest), each logging
    # `loading X` / `loaded X in N ms`; the gateway only opens channels (or wires the others).
    from safegen.core.startup import load_concurrently

    order = sorted((n for n in names if n != "gateway" and n not in prebuilt), key=lambda n: n != "image-generation")
    loaders = {n: (lambda n=n: _factory(n)(registry, env)) for n in order}
    if all_in_one and "image-moderation" in loaders:
        loaders["image-moderation"] = _image_sharing_text(registry, env, loaders, prebuilt)
    made = load_concurrently(loaders) if order else {}
    made.update({n: prebuilt[n] for n in names if n in prebuilt and n != "gateway"})
    if all_in_one:
        return _all_in_one(registry, env, made, core)
    servicers: list = []
    for name in names:
        if name == "gateway":
            servicers.extend(
                _as_list(prebuilt["gateway"] if "gateway" in prebuilt else _factory(name)(registry, env, core=core))
            )
        else:
            servicers.extend(_as_list(made[name]))
    plane = next((s.plane for s in servicers if hasattr(s, "plane")), None)
    return Wiring(servicers, plane)


def _image_sharing_text(registry, env, loaders: dict, prebuilt: Mapping[str, Any]):
    """In one process the image service judges OCR text with the text service's own moderator: one
    classifier in memory instead of two (about 480 MB), and never two first-start loads racing each other."""
    import concurrent.futures

    text_done: concurrent.futures.Future = concurrent.futures.Future()
    if "text-moderation" in loaders:
        load_text = loaders["text-moderation"]

        def text_then_share():
            try:
                servicer = load_text()
            except BaseException as e:
                if not text_done.done():  # a load retried after a refused concurrent import keeps the first
                    text_done.set_exception(e)
                raise
            if not text_done.done():
                text_done.set_result(servicer)
            return servicer

        loaders["text-moderation"] = text_then_share
    else:
        text_done.set_result(prebuilt.get("text-moderation"))

    def load_image():
        from safegen.image.servicer import create_servicer

        try:
            text_servicer = text_done.result()
        except BaseException:  # the text service's own load reports its error
            text_servicer = None
        return create_servicer(registry, env, text_moderator=getattr(text_servicer, "moderator", None))

    return load_image


def _check_no_addresses(env: Mapping[str, str] | None) -> None:
    from safegen.core.settings import Env, SettingsError

    set_addrs = [v for v in _ADDR_VARS if Env(env).str(v)]
    if set_addrs:
        # Silently calling a remote backend (or silently ignoring the address) would both surprise.
        raise SettingsError(
            f"{', '.join(set_addrs)} set, but `safegen serve` runs every backend in this process; unset "
            "it, or run the gateway alone (`safegen serve gateway`) in front of separate backends"
        )


def _all_in_one(registry, env: Mapping[str, str] | None, made: dict, core) -> Wiring:
    from safegen.core.settings import CoreSettings
    from safegen.gateway.inprocess import InProcessBackends
    from safegen.gateway.plane import DataPlane
    from safegen.gateway.servicer import servicers_for
    from safegen.policy.audit import process_audit_log

    core = core or CoreSettings.from_env(env)
    text, image, generation = made["text-moderation"], made["image-moderation"], made["image-generation"]
    backends = InProcessBackends(
        text, image, generation, generation_timeout_s=core.generation_timeout_s, closers=[generation.aclose]
    )
    plane = DataPlane(backends, registry, audit=process_audit_log(env))  # SAFEGEN_AUDIT_LOG, if set
    # ImageGenerationService is deliberately absent: the gateway is the only way to the generator.
    return Wiring([text, image, *servicers_for(plane)], plane)


def build_servicers(names: Sequence[str], registry, env: Mapping[str, str] | None = None) -> list:
    """The public port's servicers for `names` (see `build`)."""
    return build(names, registry, env).servicers


async def serve(args) -> int:
    """Runs the server for the parsed `safegen serve` arguments until SIGTERM/SIGINT, then drains."""
    from grpc_health.v1 import health, health_pb2
    from prometheus_client import start_http_server as start_metrics

    from safegen.core.files import atomic_write
    from safegen.core.logging import LogFormat, configure as configure_logging, log_event
    from safegen.core.server import create_server, drain, service_names, wait_for_signal
    from safegen.core.settings import CoreSettings
    from safegen.policy import GuardrailRegistry
    from safegen.policy.settings import PolicySettings

    core = CoreSettings.from_env()
    # Before any model library is imported, so their warnings and progress bars are caught from the start.
    configure_logging(core.log_level, LogFormat(core.log_format) if core.log_format else None)
    log = logging.getLogger("safegen.serve")
    names = SERVICES if args.service == "all" else (args.service,)
    t0 = time.perf_counter()
    log_event(log, "starting", "starting %s (pid %d)", args.service, os.getpid(), service=args.service, pid=os.getpid())
    registry = GuardrailRegistry.load(core.guardrails_dir or None, core.default_guardrail)
    policy = PolicySettings.from_env()
    wiring = build(names, registry, core=core)  # CoreSettings read once, here
    servicers = wiring.servicers
    registry.start_watching(policy.reload_seconds)  # after the servicers registered their preparers
    health_servicer = health.aio.HealthServicer()
    server, port = await create_server(servicers, f"{args.host}:{args.port}", health_servicer=health_servicer)
    metrics_httpd, _ = start_metrics(args.metrics_port, addr=args.host)
    metrics_port = metrics_httpd.server_port
    await server.start()
    http = None
    if wiring.plane is not None and args.http_port >= 0:
        from safegen.gateway.http import start_http_server

        async def server_health() -> str:
            resp = await health_servicer.Check(health_pb2.HealthCheckRequest(service=""), None)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

        wiring.plane.set_health(server_health)  # /healthz follows the gRPC health, drain included
        http = await start_http_server(args.host, args.http_port, wiring.plane, grace_seconds=core.grace_seconds)
    ready = {
        "port": port,
        "metrics_port": metrics_port,
        "http_port": http.port if http else None,
        "services": service_names(servicers),
    }
    # SIGTERM handlers first: whoever reads the ready file (or the serving line) may stop us at once.
    stop = asyncio.ensure_future(wait_for_signal())
    await asyncio.sleep(0)
    log_event(
        log,
        "serving",
        "serving %s on %s:%d (metrics :%d%s) after %.1f s",
        ", ".join(ready["services"]),
        args.host,
        port,
        metrics_port,
        f", http :{http.port}" if http else "",
        time.perf_counter() - t0,
        **ready,
        seconds=round(time.perf_counter() - t0, 3),
    )
    if args.ready_file:  # after the serving line: a reader of the file finds the line in the log
        atomic_write(args.ready_file, json.dumps(ready).encode())  # readers never see a half-written file
    sig = await stop
    log_event(
        log,
        "draining",
        "signal %d: draining (health NOT_SERVING, grace %.0f s)",
        sig,
        core.grace_seconds,
        signal=sig,
        grace_seconds=core.grace_seconds,
    )
    # HTTP and gRPC drain together: both count their calls on the same data plane, and running the
    # two graces one after the other would exceed the pod's termination grace.
    await asyncio.gather(
        http.stop() if http else asyncio.sleep(0),
        drain(server, health_servicer, core.grace_seconds, core.drain_delay_seconds, servicers),
    )
    for s in servicers:
        close = getattr(s, "aclose", None)
        if close:
            await close()
    registry.stop_watching()
    from safegen.policy.audit import close_all

    close_all()  # the audit lines of the last requests reach the log before the process exits
    metrics_httpd.shutdown()
    metrics_httpd.server_close()
    log_event(log, "stopped", "stopped")
    return 0
