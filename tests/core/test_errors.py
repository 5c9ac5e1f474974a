"""Error messages stay within what a gRPC status trailer carries, keeping the head and the actionable tail."""

from __future__ import annotations

import urllib.parse

import pytest

from safegen.errors import MAX_MESSAGE_BYTES, InvalidArgument, NotFound, bounded


def _wire_len(message: str) -> int:
    # What grpc puts in grpc-message: printable ASCII except '%' as is, other UTF-8 bytes as %XX.
    return len(urllib.parse.quote(message, safe="".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")))


@pytest.mark.parametrize("echoed", ["g" * 20_000, "é" * 20_000, "\U0001f600" * 9_000, "%" * 10_000, "a\nb" * 4000])
def test_echoed_input_is_cut_to_the_trailer_budget(echoed):
    e = NotFound(f"guardrail {echoed!r} not found; known guardrails: default, permissive-warn")
    assert _wire_len(e.message) <= MAX_MESSAGE_BYTES
    assert e.message.startswith("guardrail '") and "characters omitted" in e.message
    assert e.message.endswith("not found; known guardrails: default, permissive-warn")
    assert str(e) == e.message


def test_short_messages_are_untouched():
    assert InvalidArgument("width must be a multiple of 8; got 100").message == "width must be a multiple of 8; got 100"
    assert bounded("x" * MAX_MESSAGE_BYTES) == "x" * MAX_MESSAGE_BYTES
