"""The `safegen` command: serve the services, and client commands for a running stack."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

DEFAULT_TARGET = "localhost:50051"
SERVICES = ("text-moderation", "image-moderation", "image-generation", "gateway")

# Service name -> "module:function" building its servicer(s) from (registry, env). Imported lazily so
# `safegen serve text-moderation` never loads torch's diffusion stack, and client commands load nothing.
_FACTORIES = {
    "text-moderation": "safegen.text.servicer:create_servicer",
    "image-moderation": "safegen.image.servicer:create_servicer",
    "image-generation": "safegen.generation.servicer:create_servicer",
    "gateway": "safegen.gateway.servicer:create_servicers",
}

# Subcommands implemented next to their domain: module exposing configure_parser(parser) and run(args).
_PLUGINS = {
    "scan-dataset": ("safegen.scan.cli", "Moderate a fine-tuning dataset folder and flag or quarantine unsafe images."),
    "eval": ("safegen.training.text.evaluate", "Evaluate the text classifier on held-out splits of the shared data."),
}


def _factory(name: str):
    module, func = _FACTORIES[name].split(":")
    return getattr(importlib.import_module(module), func)


def build_servicers(names, registry, env=None) -> list:
    servicers = []
    for name in names:
        made = _factory(name)(registry, env)
        servicers.extend(made if isinstance(made, (list, tuple)) else [made])
    return servicers


# ---------------------------------------------------------------------------------------------- serve
async def _serve(args) -> int:
    from grpc_health.v1 import health
    from prometheus_client import start_http_server as start_metrics

    from safegen.core.files import atomic_write
    from safegen.core.server import create_server, drain, service_names, wait_for_signal
    from safegen.core.settings import CoreSettings
    from safegen.policy import GuardrailRegistry

    core = CoreSettings.from_env()
    logging.basicConfig(level=core.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("safegen.serve")
    names = SERVICES if args.service == "all" else (args.service,)
    t0 = time.perf_counter()
    registry = GuardrailRegistry.load(core.guardrails_dir or None, core.default_guardrail)
    servicers = build_servicers(names, registry)
    health_servicer = health.aio.HealthServicer()
    server, port = await create_server(servicers, f"{args.host}:{args.port}", health_servicer=health_servicer)
    metrics_httpd, _ = start_metrics(args.metrics_port, addr=args.host)
    metrics_port = metrics_httpd.server_port
    await server.start()
    http = None
    if "gateway" in names and args.http_port >= 0:
        from safegen.gateway.http import start_http_server

        http = await start_http_server(args.host, args.http_port, f"127.0.0.1:{port}",
                                       grace_seconds=core.grace_seconds)
    ready = {"port": port, "metrics_port": metrics_port, "http_port": http.port if http else None,
             "services": service_names(servicers)}
    if args.ready_file:
        atomic_write(args.ready_file, json.dumps(ready).encode())  # readers never see a half-written file
    log.info("serving %s on %s:%d (metrics :%d%s) after %.1fs", ", ".join(ready["services"]), args.host, port,
             metrics_port, f", http :{http.port}" if http else "", time.perf_counter() - t0)
    print(json.dumps({"event": "serving", **ready}), flush=True)
    sig = await wait_for_signal()
    log.info("signal %d: draining (health NOT_SERVING, grace %.0fs)", sig, core.grace_seconds)
    # HTTP and gRPC drain together: HTTP requests in flight are gateway calls the gRPC drain waits for,
    # and running the two graces one after the other would exceed the pod's termination grace.
    await asyncio.gather(
        http.stop() if http else asyncio.sleep(0),
        drain(server, health_servicer, core.grace_seconds, core.drain_delay_seconds, servicers))
    for s in servicers:
        close = getattr(s, "aclose", None)
        if close:
            await close()
    metrics_httpd.shutdown()
    log.info("stopped")
    return 0


def _cmd_serve(args) -> int:
    from safegen.core.settings import SettingsError
    from safegen.policy import GuardrailConfigError

    try:
        return asyncio.run(_serve(args))
    except (SettingsError, GuardrailConfigError) as e:
        print(f"safegen: configuration error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"safegen: cannot start: {e}", file=sys.stderr)
        return 2


# --------------------------------------------------------------------------------------------- clients
def _channel(target: str):
    import grpc

    return grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 96 * 1024 * 1024),
                                                  ("grpc.max_send_message_length", 96 * 1024 * 1024)])


def _rpc_error(e) -> int:
    print(f"safegen: {e.code().name}: {e.details()}", file=sys.stderr)
    return 1


def _source(value: str) -> int:
    from safegen.v1 import common_pb2

    return common_pb2.SOURCE_OUTPUT if value == "output" else common_pb2.SOURCE_INPUT


def _cmd_generate(args) -> int:
    import grpc

    from safegen.v1 import common_pb2, safe_generation_pb2 as pb, safe_generation_pb2_grpc

    req = pb.StreamGenerateRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, width=args.width, height=args.height,
        num_images=args.num_images, steps=args.steps, guidance_scale=args.guidance_scale, guardrail_id=args.guardrail)
    if args.seed is not None:
        req.seed = args.seed
    stub = safe_generation_pb2_grpc.SafeGenerationServiceStub(_channel(args.target))
    result = None
    try:
        for event in stub.StreamGenerate(req, timeout=args.timeout):
            kind = event.WhichOneof("event")
            if kind == "stage" and event.stage.finished and not args.quiet:
                stage = pb.Stage.Name(event.stage.stage).removeprefix("STAGE_").lower()
                print(f"  {stage}: {event.stage.detail} ({event.stage.seconds * 1000:.0f} ms)", file=sys.stderr)
            elif kind == "progress" and not args.quiet:
                print(f"\r  step {event.progress.step}/{event.progress.total_steps}", end="", file=sys.stderr)
                if event.progress.step == event.progress.total_steps:
                    print(file=sys.stderr)
            elif kind == "result":
                result = event.result
    except grpc.RpcError as e:
        return _rpc_error(e)
    if args.json:
        from google.protobuf import json_format

        print(json_format.MessageToJson(result))
    for w in result.warnings:
        print(f"warning: {w}")
    out = Path(args.output)
    written = []
    images = [img for img in result.images if img.data]
    for i, img in enumerate(images):
        path = out if len(images) == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        path.write_bytes(img.data)
        written.append(path)
        tag = " (blurred)" if img.blurred else ""
        print(f"wrote {path}{tag} seed={img.seed}")
    t = result.timings
    print(f"timings: prompt {t.prompt_moderation_seconds * 1000:.0f} ms, generation {t.generation_seconds * 1000:.0f} ms, "
          f"images {t.image_moderation_seconds * 1000:.0f} ms, total {t.total_seconds * 1000:.0f} ms "
          f"(moderation overhead {t.moderation_overhead_ratio:.1%})")
    if result.blocked_message:
        print(f"blocked: {result.blocked_message}")
    if not written:
        return 3  # nothing to show: the guardrail blocked the prompt or withheld every image
    return 0 if result.action == common_pb2.ACTION_NONE or not args.strict else 4


def _cmd_moderate_text(args) -> int:
    import grpc
    from google.protobuf import json_format

    from safegen.v1 import text_moderation_pb2, text_moderation_pb2_grpc

    stub = text_moderation_pb2_grpc.TextModerationServiceStub(_channel(args.target))
    try:
        resp = stub.ModerateText(text_moderation_pb2.ModerateTextRequest(
            text=args.text, source=_source(args.source), guardrail_id=args.guardrail), timeout=args.timeout)
    except grpc.RpcError as e:
        return _rpc_error(e)
    print(json_format.MessageToJson(resp))
    return 0


def _cmd_moderate_image(args) -> int:
    import grpc
    from google.protobuf import json_format

    from safegen.v1 import image_moderation_pb2, image_moderation_pb2_grpc

    try:
        images = [Path(f).read_bytes() for f in args.files]
    except OSError as e:
        print(f"safegen: {e}", file=sys.stderr)
        return 2
    stub = image_moderation_pb2_grpc.ImageModerationServiceStub(_channel(args.target))
    try:
        resp = stub.ModerateImages(image_moderation_pb2.ModerateImagesRequest(
            images=images, source=_source(args.source), guardrail_id=args.guardrail), timeout=args.timeout)
    except grpc.RpcError as e:
        return _rpc_error(e)
    print(json_format.MessageToJson(resp))
    return 0


def _cmd_health(args) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(_channel(args.target))
    try:
        resp = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
    except grpc.RpcError as e:
        return _rpc_error(e)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    print(f"{args.service or '(server)'}: {status}")
    return 0 if resp.status == health_pb2.HealthCheckResponse.SERVING else 1


# ------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safegen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="Run all four services in one process, or one service.")
    s.add_argument("service", nargs="?", default="all", choices=("all",) + SERVICES,
                   help="which service to run (default: all, the embedded stack)")
    s.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=50051, help="gRPC port; 0 picks a free one (default 50051)")
    s.add_argument("--metrics-port", type=int, default=9464, help="Prometheus /metrics port; 0 picks one (default 9464)")
    s.add_argument("--http-port", type=int, default=8080,
                   help="gateway HTTP/JSON and web page port; -1 disables; 0 picks one (default 8080)")
    s.add_argument("--ready-file", default="", help="write the bound ports as JSON here once serving")
    s.set_defaults(func=_cmd_serve)

    def client(name, help_):
        c = sub.add_parser(name, help=help_)
        c.add_argument("--target", default=os.environ.get("SAFEGEN_TARGET", DEFAULT_TARGET),
                       help="gRPC address of the service (default $SAFEGEN_TARGET or localhost:50051)")
        c.add_argument("--guardrail", default="", help="guardrail id (default: the server's default guardrail)")
        c.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
        return c

    g = client("generate", "Generate images through a running gateway and save them.")
    g.add_argument("prompt")
    g.add_argument("-o", "--output", default="out.png", help="output file; several images get -1, -2... suffixes")
    g.add_argument("--negative-prompt", default="")
    g.add_argument("--width", type=int, default=0)
    g.add_argument("--height", type=int, default=0)
    g.add_argument("-n", "--num-images", type=int, default=1)
    g.add_argument("--steps", type=int, default=0)
    g.add_argument("--guidance-scale", type=float, default=0.0)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--json", action="store_true", help="also print the whole response as JSON")
    g.add_argument("--quiet", action="store_true", help="no progress output")
    g.add_argument("--strict", action="store_true", help="exit 4 when the guardrail intervened")
    g.set_defaults(func=_cmd_generate)

    t = client("moderate-text", "Moderate a text through a running text moderation service.")
    t.add_argument("text")
    t.add_argument("--source", choices=("input", "output"), default="input")
    t.set_defaults(func=_cmd_moderate_text)

    m = client("moderate-image", "Moderate PNG/JPEG files through a running image moderation service.")
    m.add_argument("files", nargs="+")
    m.add_argument("--source", choices=("input", "output"), default="output")
    m.set_defaults(func=_cmd_moderate_image)

    h = client("health", "Check a running server's gRPC health (exit 0 when SERVING).")
    h.add_argument("--service", default="", help="service name, e.g. safegen.v1.SafeGenerationService")
    h.set_defaults(func=_cmd_health)

    for name, (module, help_) in _PLUGINS.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        c = sub.add_parser(name, help=help_)
        mod.configure_parser(c)
        c.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    # Before torch loads: OpenMP threads that spin while waiting made a 2-thread step 9x slower on a
    # contended CPU (a shared node, or CPU limits); passive waiting costs nothing when the CPU is free.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
