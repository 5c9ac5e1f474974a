"""The `safegen` command: serve the services, and client commands for a running stack."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

# Server wiring (what each mode serves, the data plane, drain) lives in safegen.serve (stdlib imports only).
from safegen.serve import SERVICES, build_servicers  # noqa: F401 - build_servicers re-exported for callers

DEFAULT_TARGET = "localhost:50051"

# Subcommands implemented next to their domain: module exposing configure_parser(parser) and run(args).
_PLUGINS = {
    "scan-dataset": ("safegen.scan.cli", "Moderate a fine-tuning dataset folder and flag or quarantine unsafe images."),
    "eval": ("safegen.training.text.evaluate", "Evaluate the text classifier on held-out splits of the shared data."),
}


def _cmd_serve(args) -> int:
    from safegen.core.settings import SettingsError
    from safegen.policy import GuardrailConfigError

    try:
        from safegen.serve import serve

        return asyncio.run(serve(args))
    except (SettingsError, GuardrailConfigError) as e:
        print(f"safegen: configuration error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"safegen: cannot start: {e}", file=sys.stderr)
        return 2


# --------------------------------------------------------------------------------------------- clients
#: Exit codes of every moderating command (README, "The CLI"): scripts branch on them.
EXIT_ALLOWED = 0  # nothing was intervened
EXIT_ERROR = 1  # the server answered with an error status, or could not be reached
EXIT_USAGE = 2  # bad arguments or unreadable input files (argparse uses 2 as well)
EXIT_INTERVENED = 3  # the guardrail intervened: blocked, blurred, withheld, or a flagged text or image
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
EXIT_CLOSED_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE, as for any Unix tool)


def _channel(target: str):
    from safegen.core.clientauth import client_channel  # SAFEGEN_API_KEY, SAFEGEN_TARGET_CA_FILE (TLS)

    return client_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", 96 * 1024 * 1024),
            ("grpc.max_send_message_length", 96 * 1024 * 1024),
        ],
    )


def _rpc_error(e) -> int:
    print(f"safegen: {e.code().name}: {e.details()}", file=sys.stderr)
    return EXIT_ERROR


def _source(value: str) -> int:
    from safegen.v1 import common_pb2

    return common_pb2.SOURCE_OUTPUT if value == "output" else common_pb2.SOURCE_INPUT


def _to_json(message) -> str:
    """The proto JSON mapping with the proto's own field names (snake_case), as grpcurl prints it."""
    from google.protobuf import json_format

    return json_format.MessageToJson(message, preserving_proto_field_name=True)


def _exit_for(action: int) -> int:
    from safegen.v1 import common_pb2

    return EXIT_INTERVENED if action == common_pb2.ACTION_GUARDRAIL_INTERVENED else EXIT_ALLOWED


def _enum(enum_type, value: int, prefix: str) -> str:
    return enum_type.Name(value).removeprefix(prefix)


def _filter_lines(filters) -> list[str]:
    """One line per category the backend found something in (`--json` has them all):
    `  SEXUAL  0.970  confidence HIGH   strength HIGH  detected`."""
    from safegen.v1 import common_pb2

    lines = []
    for f in filters:
        if not f.detected and f.confidence in (common_pb2.CONFIDENCE_NONE, common_pb2.CONFIDENCE_UNSPECIFIED):
            continue
        flag = "  detected" if f.detected else ""
        lines.append(
            f"  {_enum(common_pb2.Category, f.category, 'CATEGORY_'):<14} {f.score:.3f}  "
            f"confidence {_enum(common_pb2.Confidence, f.confidence, 'CONFIDENCE_'):<6} "
            f"strength {_enum(common_pb2.FilterStrength, f.filter_strength, 'FILTER_STRENGTH_')}{flag}"
        )
    return lines or ["  no category above confidence NONE"]


def _verdict(action: int) -> str:
    from safegen.v1 import common_pb2

    return "INTERVENED" if action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "ALLOWED"


def _cmd_generate(args) -> int:
    import grpc

    from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc

    req = pb.StreamGenerateRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        width=args.width,
        height=args.height,
        num_images=args.num_images,
        steps=args.steps,
        guidance_scale=args.guidance_scale,
        guardrail_id=args.guardrail,
        guardrail_version=args.guardrail_version,
    )
    if args.seed is not None:
        req.seed = args.seed
    stub = safe_generation_pb2_grpc.SafeGenerationServiceStub(_channel(args.target))
    result = None
    tty = sys.stderr.isatty()
    try:
        for event in stub.StreamGenerate(req, timeout=args.timeout):
            kind = event.WhichOneof("event")
            if kind == "stage" and event.stage.finished and not args.quiet:
                stage = pb.Stage.Name(event.stage.stage).removeprefix("STAGE_").lower()
                print(f"  {stage}: {event.stage.detail} ({event.stage.seconds * 1000:.0f} ms)", file=sys.stderr)
            elif kind == "progress" and not args.quiet and tty:  # a redrawn line only makes sense on a terminal
                print(f"\r  step {event.progress.step}/{event.progress.total_steps}", end="", file=sys.stderr)
                if event.progress.step == event.progress.total_steps:
                    print(file=sys.stderr)
            elif kind == "result":
                result = event.result
    except grpc.RpcError as e:
        return _rpc_error(e)
    if result is None:
        print("safegen: the stream ended without a result", file=sys.stderr)
        return EXIT_ERROR
    out = Path(args.output)
    written = []
    images = [img for img in result.images if img.data]
    try:
        for i, img in enumerate(images):
            path = out if len(images) == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
            path.write_bytes(img.data)
            written.append((path, img))
    except OSError as e:
        print(f"safegen: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(_to_json(result))
        return _exit_for(result.action)
    for w in result.warnings:
        print(f"warning: {w}")
    for path, img in written:
        tag = " (blurred)" if img.blurred else ""
        print(f"wrote {path}{tag} seed={img.seed}")
    withheld = sum(1 for img in result.images if img.withheld)
    if withheld:
        print(f"withheld {withheld} unsafe image(s)")
    t = result.timings
    print(
        f"timings: prompt {t.prompt_moderation_seconds * 1000:.0f} ms, generation {t.generation_seconds * 1000:.0f} ms, "
        f"images {t.image_moderation_seconds * 1000:.0f} ms, total {t.total_seconds * 1000:.0f} ms "
        f"(moderation overhead {t.moderation_overhead_ratio:.1%})"
    )
    if result.blocked_message:
        print(f"blocked: {result.blocked_message}")
    return _exit_for(result.action)


def _cmd_moderate_text(args) -> int:
    import grpc

    from safegen.v1 import common_pb2, text_moderation_pb2, text_moderation_pb2_grpc

    stub = text_moderation_pb2_grpc.TextModerationServiceStub(_channel(args.target))
    try:
        resp = stub.ModerateText(
            text_moderation_pb2.ModerateTextRequest(
                text=args.text,
                source=_source(args.source),
                guardrail_id=args.guardrail,
                guardrail_version=args.guardrail_version,
            ),
            timeout=args.timeout,
        )
    except grpc.RpcError as e:
        return _rpc_error(e)
    if args.json:
        print(_to_json(resp))
        return _exit_for(resp.action)
    print(
        f"{_verdict(resp.action)} (guardrail {resp.guardrail_id or 'default'} version {resp.guardrail_version or 'DRAFT'}, "
        f"backend {resp.backend})"
    )
    print("\n".join(_filter_lines(resp.filters)))
    for w in resp.words:
        kind = _enum(common_pb2.WordList, w.word_list, "WORD_LIST_").lower().replace("_", " ")
        print(f"  word {w.match!r} at {w.start}-{w.end}: {kind} list entry {w.word!r}")
    for t in resp.threats:
        print(f"  threat {t.match!r} at {t.start}-{t.end}: {t.kind} rule, VIOLENCE")
    return _exit_for(resp.action)


def _cmd_moderate_image(args) -> int:
    import grpc

    from safegen.v1 import common_pb2, image_moderation_pb2, image_moderation_pb2_grpc

    try:
        images = [Path(f).read_bytes() for f in args.files]
    except OSError as e:
        print(f"safegen: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    stub = image_moderation_pb2_grpc.ImageModerationServiceStub(_channel(args.target))
    try:
        resp = stub.ModerateImages(
            image_moderation_pb2.ModerateImagesRequest(
                images=images,
                source=_source(args.source),
                guardrail_id=args.guardrail,
                guardrail_version=args.guardrail_version,
            ),
            timeout=args.timeout,
        )
    except grpc.RpcError as e:
        return _rpc_error(e)
    intervened = any(r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED for r in resp.results)
    if args.json:
        print(_to_json(resp))
        return EXIT_INTERVENED if intervened else EXIT_ALLOWED
    for r in resp.results:
        print(f"{args.files[r.index]}: {_verdict(r.action)} ({r.format} {r.width}x{r.height})")
        print("\n".join(_filter_lines(r.filters)))
        for lb in r.labels:
            box = lb.bounding_box if lb.HasField("bounding_box") else None
            where = (
                f" at left {box.left:.2f} top {box.top:.2f} width {box.width:.2f} height {box.height:.2f}"
                if box
                else ""
            )
            print(f"  label {lb.name!r} {lb.confidence:.1f}%{where}")
    print(
        f"(guardrail {resp.guardrail_id or 'default'} version {resp.guardrail_version or 'DRAFT'}, "
        f"backend {resp.backend})"
    )
    return EXIT_INTERVENED if intervened else EXIT_ALLOWED


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


def _cmd_completion(args) -> int:
    """Bash completion of subcommands and each one's options, generated from the parser itself."""
    parser = build_parser()  # every plugin too: their options are part of the script
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, sp in sub.choices.items():
        opts = sorted(o for a in sp._actions for o in a.option_strings)
        choices = sorted({str(c) for a in sp._actions if not a.option_strings and a.choices for c in a.choices})
        cases.append(f'    {name}) words="{" ".join(opts + choices)}" ;;')
    print('# safegen bash completion: eval "$(safegen completion)" (e.g. in ~/.bashrc)')
    print("_safegen() {")
    print('  local cur="${COMP_WORDS[COMP_CWORD]}" words')
    print('  if [ "$COMP_CWORD" -eq 1 ]; then')
    print(f'    words="{" ".join(list(sub.choices) + ["--help", "--version"])}"')
    print("  else")
    print('    case "${COMP_WORDS[1]}" in')
    print("\n".join(cases))
    print('    *) words="" ;;')
    print("    esac")
    print("  fi")
    print('  COMPREPLY=($(compgen -W "$words" -- "$cur"))')
    print('  [ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))  # files and folders')
    print("  return 0")
    print("}")
    print("complete -F _safegen safegen")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("safegen")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


# ------------------------------------------------------------------------------------------------ main
_EPILOG = """exit codes of generate, moderate-text, moderate-image and scan-dataset:
  0 allowed   3 the guardrail intervened   1 error (server status or unreachable)   2 usage
  130 interrupted (Ctrl-C)   141 stdout closed by its reader (e.g. | head)"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. Given the `command` about to run, only that subcommand's plugin module is
    imported (the others' import numpy and training code: seconds off every start and client call)."""
    p = argparse.ArgumentParser(
        prog="safegen", description=__doc__, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"safegen {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="Run all four services in one process, or one service.")
    s.add_argument(
        "service",
        nargs="?",
        default="all",
        choices=("all",) + SERVICES,
        help="which service to run (default: all, the embedded stack)",
    )
    s.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=50051, help="gRPC port; 0 picks a free one (default 50051)")
    s.add_argument(
        "--metrics-port", type=int, default=9464, help="Prometheus /metrics port; 0 picks one (default 9464)"
    )
    s.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="gateway HTTP/JSON and web page port; -1 disables; 0 picks one (default 8080)",
    )
    s.add_argument("--ready-file", default="", help="write the bound ports as JSON here once serving")
    s.set_defaults(func=_cmd_serve)

    def client(name, help_):
        c = sub.add_parser(name, help=help_)
        c.add_argument(
            "--target",
            default=os.environ.get("SAFEGEN_TARGET", DEFAULT_TARGET),
            help="gRPC address of the service (default $SAFEGEN_TARGET or localhost:50051)",
        )
        c.add_argument("--guardrail", default="", help="guardrail id (default: the server's default guardrail)")
        c.add_argument(
            "--guardrail-version",
            default="",
            help="guardrail version: a number, or DRAFT / empty for the highest (default)",
        )
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
    g.add_argument(
        "--json",
        action="store_true",
        help="print the result as proto JSON (snake_case field names, as grpcurl) instead of text",
    )
    g.add_argument("--quiet", action="store_true", help="no progress output")
    g.add_argument(
        "--strict",
        action="store_true",
        help="kept for old scripts: exit 3 whenever the guardrail intervened is now the default",
    )
    g.set_defaults(func=_cmd_generate)

    t = client("moderate-text", "Moderate a text through a running text moderation service.")
    t.add_argument("text")
    t.add_argument("--source", choices=("input", "output"), default="input")
    t.add_argument("--json", action="store_true", help="print the response as proto JSON (snake_case, as grpcurl)")
    t.set_defaults(func=_cmd_moderate_text)

    m = client("moderate-image", "Moderate PNG/JPEG files through a running image moderation service.")
    m.add_argument("files", nargs="+")
    m.add_argument("--source", choices=("input", "output"), default="output")
    m.add_argument("--json", action="store_true", help="print the response as proto JSON (snake_case, as grpcurl)")
    m.set_defaults(func=_cmd_moderate_image)

    h = client("health", "Check a running server's gRPC health (exit 0 when SERVING).")
    h.add_argument("--service", default="", help="service name, e.g. safegen.v1.SafeGenerationService")
    h.set_defaults(func=_cmd_health)

    c = sub.add_parser("completion", help='Print a bash completion script: eval "$(safegen completion)".')
    c.set_defaults(func=_cmd_completion)

    for name, (module, help_) in _PLUGINS.items():
        if command is not None and command != name:
            sub.add_parser(name, help=help_)  # listed in --help; never parsed in this run
            continue
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else "").parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe surfaces here, not as a traceback at interpreter exit
        return code
    except KeyboardInterrupt:
        print("safegen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `safegen ... | head`: the reader is gone. Point stdout at /dev/null so the final flush at exit
        # cannot raise again, and end quietly like a Unix tool stopped by SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
