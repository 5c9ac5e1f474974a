"""The leading comments of protos/safegen/v1, extracted once into proto_comments.json for OpenAPI.

The generated *_pb2 modules carry descriptors without source info, so the comments that document
every message, field and enum value are lost at runtime. `python -m safegen.gateway.http.comments`
runs protoc with --include_source_info over the .proto files and writes the JSON committed beside
this module; a test regenerates it and fails when it drifts from the protos.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

COMMENTS_FILE = "proto_comments.json"

# FileDescriptorProto / DescriptorProto / ServiceDescriptorProto field numbers used in
# SourceCodeInfo.Location.path (descriptor.proto).
_MESSAGE, _ENUM, _SERVICE = 4, 5, 6
_FIELD, _NESTED, _NESTED_ENUM = 2, 3, 4
_ENUM_VALUE, _METHOD = 2, 2


def extract(proto_root: Path) -> dict[str, str]:
    """Full proto name (e.g. "safegen.v1.GenerateRequest.prompt") -> its leading comment."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    files = sorted(str(p.relative_to(proto_root)) for p in (proto_root / "safegen" / "v1").glob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        include = str(resources.files("grpc_tools") / "_proto")
        rc = protoc.main(
            [
                "protoc",
                f"-I{proto_root}",
                f"-I{include}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ]
        )
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc} on {proto_root}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())

    comments: dict[str, str] = {}
    for f in fds.file:
        names: dict[tuple[int, ...], str] = {}

        def message(path: tuple[int, ...], m, scope: str) -> None:
            full = f"{scope}.{m.name}"
            names[path] = full
            for i, fld in enumerate(m.field):
                names[path + (_FIELD, i)] = f"{full}.{fld.name}"
            for i, n in enumerate(m.nested_type):
                message(path + (_NESTED, i), n, full)
            for i, e in enumerate(m.enum_type):
                enum(path + (_NESTED_ENUM, i), e, full)

        def enum(path: tuple[int, ...], e, scope: str) -> None:
            full = f"{scope}.{e.name}"
            names[path] = full
            # Enum values are scoped like siblings of the enum in proto, but we key them under the
            # enum so that OpenAPI can find them.
            for i, v in enumerate(e.value):
                names[path + (_ENUM_VALUE, i)] = f"{full}.{v.name}"

        for i, m in enumerate(f.message_type):
            message((_MESSAGE, i), m, f.package)
        for i, e in enumerate(f.enum_type):
            enum((_ENUM, i), e, f.package)
        for i, s in enumerate(f.service):
            full = f"{f.package}.{s.name}"
            names[(_SERVICE, i)] = full
            for j, meth in enumerate(s.method):
                names[(_SERVICE, i, _METHOD, j)] = f"{full}.{meth.name}"
        for loc in f.source_code_info.location:
            name = names.get(tuple(loc.path))
            text = " ".join(line.strip() for line in loc.leading_comments.strip().splitlines())
            if name and text:
                comments[name] = text
    return dict(sorted(comments.items()))


def load() -> dict[str, str]:
    """The committed comments; empty when the file is missing (OpenAPI then has names and types only)."""
    try:
        return json.loads((resources.files(__package__) / COMMENTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def render(comments: dict[str, str]) -> str:
    return json.dumps(comments, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = Path(__file__).resolve().parents[4]
    parser.add_argument("--protos", type=Path, default=repo / "protos", help="the proto root (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file differs")
    args = parser.parse_args(argv)
    text = render(extract(args.protos))
    target = Path(__file__).with_name(COMMENTS_FILE)
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is stale: run python -m safegen.gateway.http.comments", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text))} comments to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
