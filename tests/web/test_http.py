"""The HTTP front without a browser: status mapping, body limits, proto-JSON round trips, SSE, health."""

from __future__ import annotations

import json
import socket
import time

import grpc
import pytest
from google.protobuf import json_format
from prometheus_client import REGISTRY

from safegen.gateway.http.status import HTTP_STATUS, error_body, http_status
from safegen.v1 import guardrail_pb2, safe_generation_pb2 as pb

from .fakes import PNG_1x1, FakeGuardrails, FakeSafeGeneration, result_for
from .stack import run_stack

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def fake():
    return FakeSafeGeneration()


@pytest.fixture(scope="module")
def stack(fake):
    with run_stack(fake, FakeGuardrails(), max_body_bytes=LIMIT, timeout_seconds=20) as s:
        yield s


# ------------------------------------------------------------------------------------ status mapping


@pytest.mark.parametrize(
    "code,expected",
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.UNKNOWN, 500),
    ],
)
def test_grpc_code_maps_to_http_status(code, expected):
    assert http_status(code) == expected


def test_every_grpc_code_has_an_http_status():
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


def test_error_body_is_google_rpc_status_shaped():
    assert error_body(grpc.StatusCode.NOT_FOUND, "no guardrail named 'x'") == {
        "code": 5,
        "status": "NOT_FOUND",
        "message": "no guardrail named 'x'",
    }


@pytest.mark.parametrize(
    "name,http",
    [
        ("INVALID_ARGUMENT", 400),
        ("NOT_FOUND", 404),
        ("RESOURCE_EXHAUSTED", 429),
        ("FAILED_PRECONDITION", 400),
        ("UNAVAILABLE", 503),
        ("DEADLINE_EXCEEDED", 504),
        ("CANCELLED", 499),
    ],
)
def test_domain_errors_from_the_gateway_become_http_errors(stack, name, http):
    status, body = stack.json("POST", "/v1/generate", {"prompt": f"raise:{name}"})
    assert status == http
    assert body == {
        "code": getattr(grpc.StatusCode, name).value[0],
        "status": name,
        "message": f"fake {name} for 'raise:{name}'",
    }


def test_internal_errors_never_leak_details(stack):
    status, body = stack.json("POST", "/v1/generate", {"prompt": "raise:INTERNAL"})
    assert status == 500 and body["status"] == "INTERNAL" and body["code"] == 13
    assert "secret" not in body["message"]


def test_generation_deadline_is_504():
    slow = FakeSafeGeneration()
    with run_stack(slow, FakeGuardrails(), timeout_seconds=0.3) as s:
        status, body = s.json("POST", "/v1/generate", {"prompt": "slow"})
    assert status == 504 and body["status"] == "DEADLINE_EXCEEDED"


# ------------------------------------------------------------------------------------ bad requests


@pytest.mark.parametrize(
    "raw,content_type,http,fragment",
    [
        ('{"prompt": "x",', "application/json", 400, "malformed JSON at line 1 column 16"),
        ("not json", "application/json", 400, "malformed JSON at line 1 column 1"),
        ('{"prompt": "x", "bogus": 1}', "application/json", 400, 'no field named "bogus"'),
        ('{"prompt": "x", "width": "wide"}', "application/json", 400, "width"),
        ('{"prompt": "x", "seed": "1.5"}', "application/json", 400, "seed"),
        ('{"prompt": "x", "guardrailId": 7}', "application/json", 400, "guardrailId"),
        ('["a red circle"]', "application/json", 400, "must be a JSON object"),
        (
            '{"prompt": "x", "guidanceScale": false}',
            "application/json",
            400,
            "guidanceScale of safegen.v1.GenerateRequest must not be a boolean",
        ),
        ('{"prompt": "x", "num_images": true}', "application/json", 400, "num_images"),
        ("", "application/json", 400, "request body is empty"),
        (b'{"prompt": "\xff"}', "application/json", 400, "not UTF-8"),
        ('{"prompt": "x"}', "text/plain", 415, "Content-Type must be application/json"),
        ("prompt=x", "application/x-www-form-urlencoded", 415, "Content-Type must be application/json"),
    ],
)
def test_bad_bodies_get_400_naming_the_problem(stack, fake, raw, content_type, http, fragment):
    before = len(fake.requests)
    status, headers, body = stack.request("POST", "/v1/generate", raw, headers={"Content-Type": content_type})
    assert status == http, body
    error = json.loads(body)
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 3
    assert fragment in error["message"]
    assert len(fake.requests) == before, "a bad body must never reach the gateway"


def test_unknown_path_and_wrong_method_are_json_errors(stack):
    status, body = stack.json("GET", "/v1/nope")
    assert status == 404 and body["status"] == "NOT_FOUND"
    status, headers, raw = stack.request("TRACE", "/v1/generate")
    assert status == 405 and json.loads(raw)["status"] == "UNIMPLEMENTED"
    assert headers["allow"] == "POST"


# ------------------------------------------------------------------------------------ body limit


def _raw_exchange(port: int, head: bytes, chunks, *, read_timeout: float = 5.0) -> tuple[bytes, int]:
    """Sends the head and then chunks while the server lets us; returns (response bytes, bytes of body sent).

    Stops sending as soon as a response arrives, so the count shows how much the server needed."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    sent = 0
    try:
        sock.sendall(head)
        sock.setblocking(False)
        response = b""
        for chunk in chunks:
            try:
                response += sock.recv(65536)
            except BlockingIOError:
                pass
            if response:
                break
            try:
                sock.sendall(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            time.sleep(0.001)
        sock.setblocking(True)
        sock.settimeout(read_timeout)
        try:
            while b"\r\n\r\n" not in response or len(response) < response.find(b"\r\n\r\n") + 60:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except (socket.timeout, ConnectionResetError):
            pass
        return response, sent
    finally:
        sock.close()


def test_declared_oversized_body_is_refused_before_it_is_sent(stack, fake):
    before = len(fake.requests)
    head = (
        f"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * LIMIT}\r\n\r\n"
    ).encode()
    response, sent = _raw_exchange(stack.http_port, head, [b"{" + b" " * 1023] * 10)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"RESOURCE_EXHAUSTED"' in response and str(LIMIT).encode() in response
    # Answered from the header alone: at most the few chunks sent before the answer came back.
    assert sent <= 10 * 1024
    assert len(fake.requests) == before


def test_chunked_body_is_refused_once_the_count_passes_the_limit(stack, fake):
    before = len(fake.requests)
    head = (
        b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * 4096
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    total_chunks = 20 * LIMIT // len(piece)  # a body 20 times the limit, which we never finish sending
    response, sent = _raw_exchange(stack.http_port, head, [chunk] * total_chunks)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 4 * LIMIT, f"the server let {sent} bytes in before refusing a body over {LIMIT}"
    assert len(fake.requests) == before


def test_expect_100_continue_gets_413_instead_of_continue(stack):
    head = (
        f"POST /v1/apply-guardrail HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {LIMIT + 1}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    response, sent = _raw_exchange(stack.http_port, head, [])
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"100 Continue" not in response


def test_body_just_under_the_limit_is_accepted(stack, fake):
    padding = LIMIT - len(json.dumps({"prompt": "a red circle", "negativePrompt": ""})) - 1
    body = json.dumps({"prompt": "a red circle", "negativePrompt": "x" * padding})
    assert len(body) < LIMIT
    status, _, raw = stack.request("POST", "/v1/generate", body, headers={"Content-Type": "application/json"})
    assert status == 200, raw[:300]
    assert fake.requests[-1].negative_prompt == "x" * padding


# ------------------------------------------------------------------------------------ proto JSON


def test_generate_round_trips_proto_json(stack, fake):
    sent = {
        "prompt": "a red circle on a white background",
        "negativePrompt": "blue",
        "width": 64,
        "height": 32,
        "numImages": 2,
        "steps": 20,
        "guidanceScale": 3.5,
        "seed": "1099511627776",
        "guardrailId": "default",
    }
    status, body = stack.json("POST", "/v1/generate", sent)
    assert status == 200
    expected_request = json_format.ParseDict(sent, pb.GenerateRequest())
    assert fake.requests[-1] == expected_request
    assert fake.requests[-1].seed == 2**40  # int64 as a string, exactly
    # The response parses back, strictly, into exactly the message the gateway sent.
    assert json_format.ParseDict(body, pb.GenerateResponse()) == result_for(expected_request)
    image = body["images"][0]
    assert (
        image["data"] == "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVQI12P4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
    )
    assert image["seed"] == str(2**40) and image["blurred"] is True and image["withheld"] is False
    assert body["action"] == "ACTION_GUARDRAIL_INTERVENED"  # enums as their names


def test_original_field_names_and_numeric_int64_are_accepted_too(stack, fake):
    status, _ = stack.json("POST", "/v1/generate", {"prompt": "x", "guardrail_id": "default", "seed": 12})
    assert status == 200
    assert fake.requests[-1].guardrail_id == "default" and fake.requests[-1].seed == 12


def test_apply_guardrail_and_list_guardrails(stack):
    import base64

    req = {
        "source": "SOURCE_INPUT",
        "content": [
            {"text": {"text": "hello"}},
            {"image": {"format": "IMAGE_FORMAT_PNG", "data": base64.b64encode(PNG_1x1).decode()}},
        ],
    }
    status, body = stack.json("POST", "/v1/apply-guardrail", req)
    assert status == 200
    resp = json_format.ParseDict(body, guardrail_pb2.ApplyGuardrailResponse())
    assert [a.content_index for a in resp.assessments] == [0, 1]
    bad = {"content": [{"image": {"format": 1.5, "data": ""}}]}
    status, body = stack.json("POST", "/v1/apply-guardrail", bad)
    assert status == 400 and "content.image.format" in body["message"]
    status, body = stack.json("POST", "/v1/apply-guardrail", {**req, "guardrailId": "nope"})
    assert status == 404 and "nope" in body["message"]
    status, body = stack.json("GET", "/v1/guardrails")
    assert status == 200
    assert [g["id"] for g in body["guardrails"]] == ["default", "permissive-warn"]
    assert body["guardrails"][0]["isDefault"] is True and body["guardrails"][1]["isDefault"] is False


# ------------------------------------------------------------------------------------ streaming


def parse_sse(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue  # comments are heartbeats
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_stream_sends_stage_progress_and_result_events(stack, fake):
    status, headers, raw = stack.request("POST", "/v1/generate:stream", {"prompt": "a red circle", "seed": "9"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = parse_sse(raw)
    assert [name for name, _ in events] == ["stage", "progress", "progress", "result"]
    for name, data in events:
        # The data is the whole StreamGenerateResponse, and the event name is its oneof member.
        msg = json_format.ParseDict(data, pb.StreamGenerateResponse())
        assert msg.WhichOneof("event") == name
    assert events[1][1]["progress"] == {"step": 1, "totalSteps": 2}
    final = json_format.ParseDict(events[-1][1]["result"], pb.GenerateResponse())
    assert final.images[0].seed == 9


def test_stream_error_before_the_first_event_is_an_http_error(stack):
    status, headers, raw = stack.request("POST", "/v1/generate:stream", {"prompt": "raise:NOT_FOUND"})
    assert status == 404 and headers["content-type"].startswith("application/json")
    assert json.loads(raw)["status"] == "NOT_FOUND"


def test_stream_error_after_the_first_event_is_an_error_event(stack):
    status, _, raw = stack.request("POST", "/v1/generate:stream", {"prompt": "fail-mid-stream"})
    assert status == 200
    events = parse_sse(raw)
    assert [name for name, _ in events] == ["stage", "error"]
    assert events[-1][1] == {"code": 14, "status": "UNAVAILABLE", "message": "image generation backend went away"}


def test_stream_sends_heartbeats_while_no_event_comes():
    fake = FakeSafeGeneration()
    with run_stack(fake, FakeGuardrails(), heartbeat_seconds=0.1) as s:
        body = b'{"prompt": "hang"}'
        sock = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
        sock.sendall(
            b"POST /v1/generate:stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        seen = b""
        deadline = time.monotonic() + 5
        while seen.count(b": keep-alive") < 3 and time.monotonic() < deadline:
            seen += sock.recv(4096)
        sock.close()
    assert b"event: stage" in seen and seen.count(b": keep-alive") >= 3
    # The heartbeats did not disturb the call: it was still running until the client left.
    deadline = time.monotonic() + 5
    while not fake.cancelled.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled.is_set()


def test_heartbeats_between_events_leave_the_events_intact():
    with run_stack(FakeSafeGeneration(), FakeGuardrails(), heartbeat_seconds=0.05) as s:
        status, _, raw = s.request("POST", "/v1/generate:stream", {"prompt": "sleep:0.3"})
    assert status == 200 and raw.count(b": keep-alive") >= 4
    assert [name for name, _ in parse_sse(raw)] == ["stage", "progress", "progress", "result"]


def test_client_that_disconnects_cancels_the_generation():
    fake = FakeSafeGeneration()
    with run_stack(fake, FakeGuardrails()) as s:
        body = b'{"prompt": "hang"}'
        head = (
            f"POST /v1/generate:stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
        sock.sendall(head + body)
        first = b""
        while b"event: stage" not in first:
            first += sock.recv(4096)
        sock.close()  # the tab was closed while the image was being generated
        deadline = time.monotonic() + 10
        while not fake.cancelled.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.cancelled.is_set(), "the gRPC call kept running after the HTTP client left"


# ------------------------------------------------------------------------------------ health, page, metrics


def test_healthz_reports_the_gateway_health(stack):
    assert stack.json("GET", "/healthz") == (200, {"status": "SERVING"})


def test_healthz_is_503_when_the_gateway_is_unreachable():
    import asyncio

    from safegen.gateway.http import start_http_server

    async def probe():
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        handle = await start_http_server("127.0.0.1", 0, f"127.0.0.1:{dead}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", handle.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = await reader.read()
            writer.close()
            return raw
        finally:
            await handle.stop()

    raw = asyncio.run(probe())
    assert raw.startswith(b"HTTP/1.1 503")
    assert b'"UNREACHABLE"' in raw


def test_page_and_assets_are_served_with_a_same_origin_policy(stack):
    status, headers, body = stack.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = body.decode()
    for asset in ("/static/app.js", "/static/app.css"):
        assert asset in html
        status, headers, _ = stack.request("GET", asset)
        assert status == 200 and headers["x-content-type-options"] == "nosniff"
    for name in ("index.html", "app.js", "app.css"):
        text = stack.request("GET", f"/static/{name}")[2].decode()
        assert "http://" not in text and "https://" not in text, f"{name} refers to another origin"
    assert headers["server"] == "safegen"  # no library or Python versions announced
    assert stack.request("GET", "/static/..%2F__init__.py")[0] == 404
    assert stack.request("GET", "/static/__init__.py")[0] == 404


def test_requests_are_counted_per_route_not_per_path(stack):
    def count(route, code):
        return REGISTRY.get_sample_value("safegen_http_requests_total", {"route": route, "code": code}) or 0

    before = count("/v1/guardrails", "200"), count("/v1/generate", "404")
    stack.request("GET", "/v1/guardrails")
    stack.request("POST", "/v1/generate", {"prompt": "raise:NOT_FOUND"})
    assert (count("/v1/guardrails", "200"), count("/v1/generate", "404")) == (before[0] + 1, before[1] + 1)
    stack.request("GET", "/some/random/path/123")
    assert (
        REGISTRY.get_sample_value("safegen_http_requests_total", {"route": "/some/random/path/123", "code": "404"})
        is None
    )


def test_default_body_limit_admits_what_grpc_admits():
    from safegen.core.server import MAX_MESSAGE_BYTES
    from safegen.gateway.http import DEFAULT_MAX_BODY_BYTES

    # bytes travel as base64 in JSON: 4/3 of the gRPC message limit, and not wildly more.
    assert MAX_MESSAGE_BYTES * 4 / 3 < DEFAULT_MAX_BODY_BYTES < MAX_MESSAGE_BYTES * 1.5


def test_stop_lets_requests_in_flight_finish_and_refuses_new_ones():
    import asyncio

    from safegen.core.server import create_server
    from safegen.gateway.http import start_http_server

    async def scenario():
        server, port = await create_server([FakeSafeGeneration(), FakeGuardrails()], "127.0.0.1:0")
        await server.start()
        handle = await start_http_server("127.0.0.1", 0, f"127.0.0.1:{port}", grace_seconds=5)
        body = b'{"prompt": "sleep:0.5"}'
        reader, writer = await asyncio.open_connection("127.0.0.1", handle.port)
        writer.write(
            b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the request is now in flight
        stopping = asyncio.create_task(handle.stop())
        await asyncio.sleep(0.05)
        try:
            await asyncio.open_connection("127.0.0.1", handle.port)
            refused = False
        except OSError:
            refused = True
        raw = await asyncio.wait_for(reader.read(), 5)
        await stopping
        await server.stop(None)
        return raw, refused

    raw, refused = asyncio.run(scenario())
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    assert refused, "a stopping server must not accept new connections"
