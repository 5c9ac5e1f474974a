"""`safegen serve` as a real process: ready file, metrics port, SIGTERM drain, and split deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support import ServeProcess, stop_processes
from safegen.v1 import image_generation_pb2 as gen, image_generation_pb2_grpc as gen_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc
from safegen.v1 import text_moderation_pb2 as tm, text_moderation_pb2_grpc as tm_grpc

pytestmark = pytest.mark.slow


def start(tmp_path: Path, *args: str, env: dict | None = None, name: str = "serve"):
    sp = ServeProcess(tmp_path, *args, env=env, name=name)
    try:
        return sp.proc, sp.wait_ready(180)
    except RuntimeError as e:
        pytest.fail(str(e))


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def channel(port):
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 96 << 20)])


def test_sigterm_drains_in_flight_calls_and_reports_not_serving(tmp_path):
    proc, ready = start(tmp_path, env={"SAFEGEN_DRAIN_DELAY_SECONDS": "1.0", "SAFEGEN_GRACE_SECONDS": "30"}, name="all")
    try:
        assert set(ready["services"]) >= {
            "safegen.v1.SafeGenerationService",
            "safegen.v1.TextModerationService",
            "safegen.v1.ImageModerationService",
            "safegen.v1.GuardrailService",
        }
        # No bypass: generation is internal to the all-in-one process, never on its public port.
        assert "safegen.v1.ImageGenerationService" not in ready["services"]
        ch = channel(ready["port"])
        with pytest.raises(grpc.RpcError) as e:
            gen_grpc.ImageGenerationServiceStub(ch).GenerateImages(
                gen.GenerateImagesRequest(prompt="a p.0.r.n star"), timeout=30
            )
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        stub = pb_grpc.SafeGenerationServiceStub(ch)
        stream = stub.StreamGenerate(
            pb.StreamGenerateRequest(prompt="a yellow circle on a blue background", steps=150, seed=1), timeout=120
        )
        first = next(stream)  # the call is in flight
        assert first.WhichOneof("event") == "stage"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        rest = list(stream)
        assert rest[-1].WhichOneof("event") == "result" and rest[-1].result.images  # finished within grace
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_metrics_port_serves_grpc_and_stage_metrics(tmp_path):
    proc, ready = start(tmp_path, name="all")
    try:
        stub = pb_grpc.SafeGenerationServiceStub(channel(ready["port"]))
        stub.Generate(pb.GenerateRequest(prompt="a white square on a red background", seed=4), timeout=120)
        # The gateway calls text moderation in process; the public moderation API is still a gRPC service.
        tm_grpc.TextModerationServiceStub(channel(ready["port"])).ModerateText(
            tm.ModerateTextRequest(text="a quiet lake"), timeout=30
        )
        body = urllib.request.urlopen(f"http://127.0.0.1:{ready['metrics_port']}/metrics", timeout=10).read().decode()
        for needle in (
            'grpc_server_handled_total{grpc_code="OK",grpc_method="Generate"',
            'grpc_server_handling_seconds_bucket{grpc_method="ModerateText"',
            'safegen_stage_duration_seconds_count{stage="generation"}',
            "safegen_text_backend_seconds_count",
            "safegen_image_detect_seconds_count",
            'safegen_stage_duration_seconds_count{stage="total"}',
            "safegen_moderation_overhead_ratio_count",
            'safegen_decisions_total{action="ALLOWED",category="NONE",source="input"}',
        ):
            assert needle in body, needle
    finally:
        assert stop(proc) == 0


def test_services_as_separate_processes(tmp_path):
    procs = []
    try:
        addrs = {}
        for svc, var in (
            ("text-moderation", "SAFEGEN_TEXT_MODERATION_ADDR"),
            ("image-moderation", "SAFEGEN_IMAGE_MODERATION_ADDR"),
            ("image-generation", "SAFEGEN_IMAGE_GENERATION_ADDR"),
        ):
            p, r = start(tmp_path, svc, name=svc)
            procs.append(p)
            addrs[var] = f"127.0.0.1:{r['port']}"
            assert len(r["services"]) == 1
        gw, r = start(tmp_path, "gateway", "--http-port", "-1", env=addrs, name="gateway")
        procs.append(gw)
        assert "safegen.v1.TextModerationService" not in r["services"]
        resp = pb_grpc.SafeGenerationServiceStub(channel(r["port"])).Generate(
            pb.GenerateRequest(prompt="a blue square on a yellow background", seed=2), timeout=120
        )
        assert resp.images and resp.images[0].data and resp.timings.prompt_moderation_seconds > 0
        # A dead backend is UNAVAILABLE naming it, not a hang or INTERNAL.
        assert stop(procs[0]) == 0
        with pytest.raises(grpc.RpcError) as e:
            pb_grpc.SafeGenerationServiceStub(channel(r["port"])).Generate(
                pb.GenerateRequest(prompt="a cat"), timeout=60
            )
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "text moderation" in e.value.details()
    finally:
        stop_processes(procs)


def test_bad_setting_stops_with_a_clear_message(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "safegen.cli", "serve", "gateway", "--port", "0", "--metrics-port", "0"],
        env={**os.environ, "SAFEGEN_GRACE_SECONDS": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "SAFEGEN_GRACE_SECONDS='soon': expected a number" in r.stderr


@pytest.mark.parametrize(
    "args,env,fragment",
    [
        (
            [],
            {"SAFEGEN_IMAGE_GENERATION_ADDR": "gpu:50051"},
            "SAFEGEN_IMAGE_GENERATION_ADDR set, but `safegen serve` runs every backend in this process",
        ),
    ],
)
def test_backend_addresses_that_cannot_be_honoured_stop_the_start(args, env, fragment):
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_ADDR")}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "safegen.cli",
            "serve",
            *args,
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--http-port",
            "-1",
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and fragment in r.stderr, r.stderr[-2000:]
