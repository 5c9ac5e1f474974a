"""Failures below the drop-in routes reach each SDK in its own shape: domain errors from an in-process
plane, Retry-After from rate limits, deep JSON, and bugs (INTERNAL without internals)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from safegen import errors
from safegen.gateway.http import compat

ROUTES = [
    ("/v1/moderations", {"input": "hi"}, lambda b: b["error"]["message"]),
    (
        "/guardrail/default/version/DRAFT/apply",
        {"source": "INPUT", "content": [{"text": {"text": "hi"}}]},
        lambda b: b["message"],
    ),
    ("/contentsafety/text:analyze", {"text": "hi"}, lambda b: b["error"]["message"]),
]


def call(moderate, path: str, body) -> tuple[int, dict, dict]:
    async def body_of(request):
        return await request.read()

    async def run():
        app = web.Application()
        compat.add_routes(app, moderate, body_of)
        async with TestClient(TestServer(app)) as client:
            data = body if isinstance(body, str) else json.dumps(body)
            resp = await client.post(path, data=data, headers={"Content-Type": "application/json"})
            return resp.status, dict(resp.headers), await resp.json()

    return asyncio.run(run())


@pytest.mark.parametrize("path,body,message", ROUTES)
def test_a_rate_limited_call_says_when_to_retry(path, body, message):
    async def moderate(req):
        raise errors.ResourceExhausted("rate limit of API key 'k' reached", retry_after_s=2.2)

    status, headers, payload = call(moderate, path, body)
    assert status == 429 and headers["Retry-After"] == "3"
    assert message(payload) == "rate limit of API key 'k' reached"


@pytest.mark.parametrize("path,body,message", ROUTES)
def test_a_bug_is_internal_without_its_details(path, body, message, caplog):
    async def moderate(req):
        raise RuntimeError("secret detail")

    status, _, payload = call(moderate, path, body)
    assert status == 500 and message(payload) == "internal error"
    assert "secret detail" in caplog.text  # the log has it


@pytest.mark.parametrize("path,body,message", ROUTES)
def test_deeply_nested_json_is_a_400(path, body, message):
    async def moderate(req):
        raise AssertionError("never called")

    status, _, payload = call(moderate, path, "[" * 100_000 + "]" * 100_000)
    assert status == 400 and "nested too deeply" in message(payload)
