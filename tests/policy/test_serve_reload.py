"""`safegen serve` as a real process picks up guardrail changes within 5 s, refuses a broken one (log line and
counter on /metrics) while the old one serves, and writes its audit lines out when it stops."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import grpc
import pytest

from safegen.v1 import common_pb2 as c, text_moderation_pb2 as tm, text_moderation_pb2_grpc as tm_grpc
from support import ServeProcess

from policy_helpers import write

pytestmark = pytest.mark.slow


def _brand(word: str) -> dict:
    return {"id": "brand", "wordPolicyConfig": {"wordsConfig": [{"text": word}]}}


def test_running_server_reloads_refuses_and_audits(tmp_path):
    gdir = tmp_path / "guardrails"
    gdir.mkdir()
    write(gdir, "brand.yaml", _brand("alphaword"))
    audit = tmp_path / "audit.jsonl"
    sp = ServeProcess(
        tmp_path,
        "text-moderation",
        "--http-port",
        "-1",
        env={"SAFEGEN_GUARDRAILS_DIR": str(gdir), "SAFEGEN_AUDIT_LOG": str(audit), "SAFEGEN_LOG_FORMAT": "text"},
        name="text",
    )
    try:
        ready = sp.wait_ready(180)
        stub = tm_grpc.TextModerationServiceStub(grpc.insecure_channel(f"127.0.0.1:{ready['port']}"))

        def blocks(text: str) -> bool:
            r = stub.ModerateText(tm.ModerateTextRequest(text=text, guardrail_id="brand"), timeout=30)
            return r.action == c.ACTION_GUARDRAIL_INTERVENED

        assert blocks("an alphaword here") and not blocks("a betaword here")
        write(gdir, "brand.yaml", _brand("betaword"))
        t0 = time.monotonic()
        while not blocks("a betaword here"):
            assert time.monotonic() - t0 < 5, "the changed guardrail did not serve within 5 s"
            time.sleep(0.2)
        (gdir / "brand.yaml").write_text("id: brand\nwordPolicyConfig: {wordsConfig: [{text: x, colour: red}]}\n")
        deadline = time.monotonic() + 5
        metrics = ""
        while 'safegen_guardrail_reload_errors_total{reason="invalid"} 1.0' not in metrics:
            assert time.monotonic() < deadline, "the broken file was not refused within 5 s"
            time.sleep(0.2)
            metrics = (
                urllib.request.urlopen(f"http://127.0.0.1:{ready['metrics_port']}/metrics", timeout=5).read().decode()
            )
        assert blocks("a betaword here")  # the last good version keeps serving
    finally:
        sp.proc.send_signal(signal.SIGTERM)
        sp.proc.wait(60)
    log = sp.log_file.read_text()
    assert "brand.yaml" in log and "colour" in log and "keeps serving" in log
    lines = [json.loads(ln) for ln in audit.read_text().splitlines()]
    assert len(lines) >= 4 and {ln["rpc"] for ln in lines} == {"ModerateText"}
