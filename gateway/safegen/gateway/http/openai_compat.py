"""OpenAI's `POST /v1/moderations` over safegen's guardrails, for the `openai` SDK's moderations.create.

`input` is a string, a list of strings (one result each) or a list of text and image_url parts (one
result for all of them); images come inline as data URLs, never fetched. `model` names the guardrail:
OpenAI's own model names select the default one. `flagged` is the guardrail's verdict; the categories
are ours mapped through CATEGORY_MAP, the one table docs/http-api.md reproduces.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from safegen.gateway.http.compat import (
    BASE64,
    MAX_BLOCKS,
    CompatError,
    Moderate,
    ReadBody,
    decode_base64,
    expect_object,
    failure,
    handler,
    invalid,
    json_type,
    read_json,
)
from safegen.v1 import common_pb2, guardrail_pb2

PATH = "/v1/moderations"
DEFAULT_MODEL = "omni-moderation-latest"
#: OpenAI's model families; any of their names (…-latest, …-stable, dated ones) selects the default guardrail.
OPENAI_MODEL_PREFIXES = ("omni-moderation-", "text-moderation-")
#: Strings in one list input (each is its own result); more is refused rather than queued.
MAX_INPUTS = 100

C = common_pb2
#: OpenAI category -> (the safegen category scored for it, or None when nothing scores it; the input
#: types OpenAI applies it to). Unscored categories are always false with score 0 and no input types.
CATEGORY_MAP: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "harassment": (C.CATEGORY_INSULTS, ("text",)),
    "harassment/threatening": (None, ("text",)),
    "hate": (C.CATEGORY_HATE, ("text",)),
    "hate/threatening": (None, ("text",)),
    "illicit": (C.CATEGORY_MISCONDUCT, ("text",)),
    "illicit/violent": (None, ("text",)),
    "self-harm": (None, ("text", "image")),
    "self-harm/intent": (None, ("text", "image")),
    "self-harm/instructions": (None, ("text", "image")),
    "sexual": (C.CATEGORY_SEXUAL, ("text", "image")),
    "sexual/minors": (None, ("text",)),
    "violence": (C.CATEGORY_VIOLENCE, ("text", "image")),
    "violence/graphic": (None, ("text", "image")),
}

# The OpenAPI pattern: PNG or JPEG, strict padded base64, no whitespace. The code checks the prefix
# with _DATA_URL_PREFIX and the rest with decode_base64, which accepts exactly BASE64's strings.
DATA_URL_PREFIX = r"data:image/(png|jpeg|jpg);base64,"
DATA_URL = DATA_URL_PREFIX + BASE64
_DATA_URL_PREFIX = re.compile(DATA_URL_PREFIX)
_FORMATS = {
    "png": guardrail_pb2.IMAGE_FORMAT_PNG,
    "jpeg": guardrail_pb2.IMAGE_FORMAT_JPEG,
    "jpg": guardrail_pb2.IMAGE_FORMAT_JPEG,
}
_REQUEST_KEYS = {"input", "model"}
_TEXT_PART_KEYS = {"type", "text"}
_IMAGE_PART_KEYS = {"type", "image_url"}


@dataclass(frozen=True)
class Moderation:
    """A parsed request: the guardrail to apply, and the inputs, each a list of content blocks that
    gets one result."""

    model: str
    guardrail_id: str
    inputs: list[list[guardrail_pb2.GuardrailContentBlock]]


def guardrail_for(model: str) -> str:
    """The guardrail a model name selects: "" (the default) for OpenAI's models, else the name itself."""
    return "" if model.startswith(OPENAI_MODEL_PREFIXES) else model


def _text(value: Any, where: str) -> guardrail_pb2.GuardrailContentBlock:
    if not isinstance(value, str):
        raise invalid(f"{where} must be a string, not {json_type(value)}")
    if not value.strip():
        raise invalid(f"{where} must not be empty or blank")
    return guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text=value))


def decode_data_url(url: Any, where: str) -> guardrail_pb2.GuardrailContentBlock:
    """An image block from a `data:image/png;base64,…` URL; http(s) URLs are refused, never fetched."""
    if not isinstance(url, str):
        raise invalid(f"{where} must be a string, not {json_type(url)}")
    if url[:8].lower().startswith(("http://", "https://")):
        raise invalid(
            f"{where}: safegen does not fetch images from URLs; send the image inline as a data URL "
            "(data:image/png;base64,... or data:image/jpeg;base64,...)"
        )
    m = _DATA_URL_PREFIX.match(url)
    if m is None:
        raise invalid(
            f"{where} must be a data URL of a PNG or JPEG image with padded base64 "
            "(data:image/png;base64,... or data:image/jpeg;base64,...)"
        )
    data = decode_base64(url[m.end() :], where)
    return guardrail_pb2.GuardrailContentBlock(
        image=guardrail_pb2.GuardrailImageBlock(format=_FORMATS[m.group(1)], data=data)
    )


def _part(part: Any, where: str) -> guardrail_pb2.GuardrailContentBlock:
    part = expect_object(part, where)
    kind = part.get("type")
    if kind == "text":
        _only(part, _TEXT_PART_KEYS, where)
        if "text" not in part:
            raise invalid(f"{where} is a text part without text")
        return _text(part["text"], f"{where}.text")
    if kind == "image_url":
        _only(part, _IMAGE_PART_KEYS, where)
        image = expect_object(part.get("image_url"), f"{where}.image_url")
        _only(image, {"url"}, f"{where}.image_url")
        if "url" not in image:
            raise invalid(f"{where}.image_url has no url")
        return decode_data_url(image["url"], f"{where}.image_url.url")
    raise invalid(f'{where}.type must be "text" or "image_url", not {kind!r}')


def _only(obj: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise invalid(f"Unrecognized request argument supplied: {where}.{extra[0]}")


def parse_request(body: Any) -> Moderation:
    """The request body as guardrail content blocks, refused with a message naming the field."""
    body = expect_object(body, "request body")
    extra = sorted(set(body) - _REQUEST_KEYS)
    if extra:
        raise invalid(f"Unrecognized request argument supplied: {extra[0]}")
    model = body.get("model", DEFAULT_MODEL)
    if not isinstance(model, str) or not model:
        raise invalid(f"model must be a non-empty string, not {json_type(model)}")
    if "input" not in body:
        raise invalid("input is required: a string, a list of strings, or a list of text and image_url parts")
    value = body["input"]
    if isinstance(value, str):
        inputs = [[_text(value, "input")]]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) > MAX_INPUTS:
            raise invalid(f"input has {len(value)} strings; at most {MAX_INPUTS} are allowed")
        inputs = [[_text(v, f"input[{i}]")] for i, v in enumerate(value)]
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if len(value) > MAX_BLOCKS:
            raise invalid(f"input has {len(value)} parts; at most {MAX_BLOCKS} are allowed")
        inputs = [[_part(p, f"input[{i}]") for i, p in enumerate(value)]]
    elif isinstance(value, list) and not value:
        raise invalid("input must not be an empty list")
    elif isinstance(value, list):
        raise invalid("input must be a list of strings or a list of parts, not a mix or other values")
    else:
        raise invalid(f"input must be a string or a list, not {json_type(value)}")
    return Moderation(model=model, guardrail_id=guardrail_for(model), inputs=inputs)


def requests_for(m: Moderation) -> list[guardrail_pb2.ApplyGuardrailRequest]:
    """ApplyGuardrail calls of at most MAX_BLOCKS blocks each; a multi-part input is never split."""
    calls: list[list[guardrail_pb2.GuardrailContentBlock]] = [[]]
    for blocks in m.inputs:
        if len(calls[-1]) + len(blocks) > MAX_BLOCKS:
            calls.append([])
        calls[-1].extend(blocks)
    return [
        guardrail_pb2.ApplyGuardrailRequest(guardrail_id=m.guardrail_id, source=C.SOURCE_INPUT, content=c)
        for c in calls
    ]


def result(
    blocks: list[guardrail_pb2.GuardrailContentBlock], assessments: list[guardrail_pb2.GuardrailAssessment]
) -> dict[str, Any]:
    """One OpenAI Moderation object for one input: flagged when the guardrail intervened on any of its
    blocks; each mapped category true when its filter detected it, scored with the highest score."""
    categories = {name: False for name in CATEGORY_MAP}
    scores = {name: 0.0 for name in CATEGORY_MAP}
    applied: dict[str, list[str]] = {name: [] for name in CATEGORY_MAP}
    by_category = {cat: name for name, (cat, _) in CATEGORY_MAP.items() if cat is not None}
    for block, a in zip(blocks, assessments):
        modality = "image" if block.WhichOneof("block") == "image" else "text"
        for f in a.filters:
            name = by_category.get(f.category)
            if name is None or modality not in CATEGORY_MAP[name][1]:
                continue
            categories[name] = categories[name] or f.detected
            scores[name] = max(scores[name], round(float(f.score), 6))
            if modality not in applied[name]:
                applied[name].append(modality)
    return {
        "flagged": any(a.action == C.ACTION_GUARDRAIL_INTERVENED for a in assessments),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    }


def response(m: Moderation, responses: list[guardrail_pb2.ApplyGuardrailResponse]) -> dict[str, Any]:
    """The ModerationCreateResponse for the requests `requests_for(m)` made, in input order."""
    assessments = [a for r in responses for a in sorted(r.assessments, key=lambda a: a.content_index)]
    results, at = [], 0
    for blocks in m.inputs:
        results.append(result(blocks, assessments[at : at + len(blocks)]))
        at += len(blocks)
    return {"id": f"modr-{uuid.uuid4().hex}", "model": m.model, "results": results}


# OpenAI's error `type` per HTTP status; its SDK picks the exception class from the status alone.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(http: int, status: str, message: str) -> dict[str, Any]:
    """OpenAI's error shape: {error: {message, type, param, code}}."""
    code: str | None = status.lower()
    param = None
    if status == "NOT_FOUND":
        code, param = "model_not_found", "model"
    return {"error": {"message": message, "type": _TYPES.get(http, "server_error"), "param": param, "code": code}}


def error_response(http: int, status: str, message: str) -> web.Response:
    """An error in OpenAI's shape and status."""
    return web.json_response(error_body(http, status, message), status=http)


def routes(moderate: Moderate, read_body: ReadBody) -> dict[str, Any]:
    """The route this module serves, bound to the moderation call."""

    async def moderations(request: web.Request) -> web.Response:
        m = parse_request(await read_json(request, read_body))
        try:
            responses = await asyncio.gather(*(moderate(r) for r in requests_for(m)))
        except Exception as exc:
            found = failure(exc)
            if found is not None and found[1] == "NOT_FOUND" and m.guardrail_id:
                raise CompatError(
                    "NOT_FOUND",
                    f"The model '{m.model}' does not exist: {found[2]} (a model names a "
                    "guardrail; OpenAI's model names select the default one)",
                ) from None
            raise
        return web.json_response(response(m, list(responses)))

    return {PATH: handler(error_response, moderations)}
