"""The audit log: one JSON line per decision, no content by default, never blocking, through every entry point."""

from __future__ import annotations

import io
import json
import threading
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from safegen.gateway import convert
from safegen.gateway.inprocess import InProcessBackends
from safegen.gateway.plane import DataPlane
from safegen.gateway.servicer import servicers_for
from safegen.core import audit_pb
from safegen.core.auth import Principal, current_principal
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from safegen.policy.audit import AuditLog, close_all, process_audit_log, request_id, sha256
from safegen.text.servicer import create_servicer as text_servicer
from safegen.v1 import guardrail_pb2 as gr, guardrail_pb2_grpc as gr_grpc
from safegen.v1 import image_moderation_pb2 as im, image_moderation_pb2_grpc as im_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc
from safegen.v1 import text_moderation_pb2 as tm, text_moderation_pb2_grpc as tm_grpc
from support import RedIsUnsafe, serve

from policy_helpers import FixedBackend, write
from test_services import BRAND, RecordingGeneration, _png


class BlockedStream(io.StringIO):
    """A stream whose writes wait until released: the writer thread is stuck, the queue fills."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def write(self, s):
        self.release.wait(10)
        return super().write(s)


def test_lines_are_json_with_version_and_time(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.record({"request_id": "r1", "action": "NONE"})
    log.record({"request_id": "r2", "action": "GUARDRAIL_INTERVENED"})
    log.close()
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert [ln["request_id"] for ln in lines] == ["r1", "r2"]
    assert all(ln["v"] == 1 and ln["time"].endswith("Z") for ln in lines)


def test_a_full_queue_drops_and_counts_instead_of_waiting():
    stream = BlockedStream()
    log = AuditLog("test", queue_size=2, stream=stream)
    before = REGISTRY.get_sample_value("safegen_audit_dropped_total") or 0.0
    t0 = time.perf_counter()
    for i in range(50):
        log.record({"request_id": str(i)})
    assert time.perf_counter() - t0 < 0.5  # 50 records while the writer is stuck: no waiting
    dropped = (REGISTRY.get_sample_value("safegen_audit_dropped_total") or 0.0) - before
    assert 46 <= dropped <= 48  # the writer holds one, the queue two
    stream.release.set()
    log.close()
    assert 2 <= len(stream.getvalue().splitlines()) <= 4


def test_request_ids():
    assert request_id("abc-123") == "abc-123"
    assert len(request_id("")) == 32 and len(request_id("x" * 129)) == 32 and len(request_id("a\nb")) == 32


def test_caller_key_id_comes_from_the_principal():
    assert audit_pb.caller_key_id() == ""  # no keys configured
    token = current_principal.set(Principal("web-frontend"))
    try:
        assert audit_pb.base("ModerateText", "r", "g", "1", 1, 0.01)["caller_key_id"] == "web-frontend"
    finally:
        current_principal.reset(token)
    token = current_principal.set(Principal("internal", on_behalf_of="mobile"))
    try:
        assert audit_pb.caller_key_id() == "mobile"
    finally:
        current_principal.reset(token)


@pytest.fixture(scope="module", params=[False, True], ids=["hashes", "content"])
def audited(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("audited")
    write(d, "brand-1.yaml", {**BRAND, "version": 1})
    path = d / "audit.jsonl"
    env = {"SAFEGEN_AUDIT_LOG": str(path), "SAFEGEN_AUDIT_CONTENT": str(request.param).lower()}
    registry = GuardrailRegistry.load(d)
    text, image, gen = (
        text_servicer(registry, env, backend=FixedBackend()),
        image_servicer(registry, env, detector=RedIsUnsafe()),
        RecordingGeneration(),
    )

    class Backends(InProcessBackends):  # the all-in-one wiring, generating with the recording double
        async def generate(self, request, pin, on_progress=None):
            # Through the split-mode conversions, so the double records the message a generation service gets.
            message = convert.generation_request_pb(request, pin.guardrail.id, pin.version)
            return convert.generation_result(await gen.GenerateImages(message, None))

    plane = DataPlane(Backends(text, image), registry, audit=process_audit_log(env))
    servicers = [text, image, gen, *servicers_for(plane)]
    with serve(*servicers) as port:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield {"path": path, "content": request.param, "ch": ch}
    close_all()


def _lines(path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return [json.loads(ln) for ln in lines]
        time.sleep(0.05)
    raise AssertionError(f"expected {n} audit lines, got {len(lines)}")


def test_every_entry_point_writes_one_line(audited):
    ch, path = audited["ch"], audited["path"]
    before = len(path.read_text().splitlines()) if path.exists() else 0
    prompt = "a poster for kim@example.com"
    r = pb_grpc.SafeGenerationServiceStub(ch).Generate(
        pb.GenerateRequest(prompt=prompt, guardrail_id="brand"), metadata=(("x-request-id", "req-42"),), timeout=30
    )
    assert r.request_id == "req-42"
    a = gr_grpc.GuardrailServiceStub(ch).ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            guardrail_id="brand",
            content=[
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a dragon")),
                gr.GuardrailContentBlock(image=gr.GuardrailImageBlock(data=_png((220, 20, 20)))),
            ],
        ),
        timeout=10,
    )
    assert len(a.request_id) == 32
    tm_grpc.TextModerationServiceStub(ch).ModerateText(tm.ModerateTextRequest(text="hello there"), timeout=10)
    im_grpc.ImageModerationServiceStub(ch).ModerateImages(
        im.ModerateImagesRequest(images=[_png((1, 2, 3))]), timeout=10
    )
    # Four decisions, four lines: the gateway's own ModerateText/ModerateImages calls are not logged twice.
    lines = _lines(path, before + 4)[before:]
    assert len(_lines(path, before + 4)) == before + 4
    gen, apply, text, images = lines
    assert [ln["rpc"] for ln in lines] == ["Generate", "ApplyGuardrail", "ModerateText", "ModerateImages"]
    assert gen["request_id"] == "req-42" and apply["request_id"] == a.request_id
    assert (gen["guardrail_id"], gen["guardrail_version"], gen["source"]) == ("brand", "1", "INPUT")
    assert "caller_key_id" not in gen and gen["latency_ms"] > 0
    assert gen["content"]["prompt"]["sha256"] == sha256(prompt)
    assert [s["stage"] for s in gen["stages"]] == ["prompt", "image"]
    assert gen["stages"][0]["sensitive_information"][0]["type"] == "EMAIL" and gen["stages"][0]["anonymized"]
    assert gen["action"] == "GUARDRAIL_INTERVENED" and gen["stages"][1]["outcome"] == "ALLOWED"
    assert apply["action"] == "GUARDRAIL_INTERVENED"
    assert [s["stage"] for s in apply["stages"]] == ["text", "image"]
    assert apply["stages"][0]["words"][0]["word"] == "dragon" and apply["stages"][0]["words"][0]["action"] == "BLOCKED"
    assert apply["stages"][1]["categories"][0]["category"] == "SEXUAL"
    assert "bytes" in apply["content"][1]["image"] and "data" not in json.dumps(apply["content"][1])
    assert (text["guardrail_id"], text["guardrail_version"]) == ("default", "DRAFT") and text["action"] == "NONE"
    assert images["source"] == "OUTPUT" and images["stages"][0]["index"] == 0
    raw = "\n".join(path.read_text().splitlines()[before:])
    if audited["content"]:
        assert gen["content"]["prompt"]["text"] == prompt and "kim@example.com" in raw
    else:
        # The configured word is named ("word": "dragon"); the caller's texts are not.
        assert "kim@example.com" not in raw and "hello there" not in raw and "a dragon" not in raw


@pytest.mark.parametrize("with_text", [False, True])
def test_threat_matches_are_audited_with_their_text_only_when_content_is_logged(with_text):
    from safegen.core.audit_pb import verdicts
    from safegen.v1 import common_pb2

    msg = tm.ModerateTextResponse(
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED,
        threats=[
            common_pb2.ThreatMatch(
                match="I will kill you",
                start=0,
                end=15,
                category=common_pb2.CATEGORY_VIOLENCE,
                kind="intent",
                action=common_pb2.POLICY_ACTION_BLOCKED,
            )
        ],
    )
    got = verdicts(msg, with_text=with_text)["threats"]
    assert got == [{"kind": "intent", "action": "BLOCKED", **({"match": "I will kill you"} if with_text else {})}]
