"""Bedrock Runtime's ApplyGuardrail wire format (restJson1, what boto3's `apply_guardrail` sends and parses).

`POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply` with `source`, `content` (text
and image blocks) and `outputScope`, answered with `action`, `actionReason`, `outputs`, one aggregated
`assessments` entry and `usage`/`guardrailCoverage`, over safegen's ApplyGuardrail. Errors are AWS's:
the exception name in the `x-amzn-ErrorType` header and `__type`, the text in `message`. SigV4
`Authorization` headers are accepted and ignored (the API-key check, when configured, is not ours).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from safegen.gateway.http.compat import (
    MAX_BLOCKS,
    Moderate,
    ReadBody,
    decode_base64,
    expect_object,
    handler,
    invalid,
    json_type,
    read_json,
)
from safegen.v1 import common_pb2 as C
from safegen.v1 import guardrail_pb2

PATH = "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply"
#: Bedrock's version syntax: "DRAFT" (the highest version) or a version number.
VERSION = r"(([1-9][0-9]{0,7})|(DRAFT))"
_VERSION = re.compile(VERSION)
#: `arn:aws:bedrock:<region>:<account>:guardrail/<id>` names the guardrail <id>.
_ARN = re.compile(r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/(?P<id>[^/]+)")
SOURCES = {"INPUT": C.SOURCE_INPUT, "OUTPUT": C.SOURCE_OUTPUT}
OUTPUT_SCOPES = ("INTERVENTIONS", "FULL")
QUALIFIERS = ("grounding_source", "query", "guard_content")
IMAGE_FORMATS = {"png": guardrail_pb2.IMAGE_FORMAT_PNG, "jpeg": guardrail_pb2.IMAGE_FORMAT_JPEG}
#: Bedrock bills text in units of up to 1,000 characters per block.
TEXT_UNIT_CHARS = 1000

# gRPC status -> (AWS exception name, HTTP status), the exceptions botocore's model declares.
_ERRORS = {
    "INVALID_ARGUMENT": ("ValidationException", 400),
    "OUT_OF_RANGE": ("ValidationException", 400),
    "FAILED_PRECONDITION": ("ValidationException", 400),
    "NOT_FOUND": ("ResourceNotFoundException", 404),
    "RESOURCE_EXHAUSTED": ("ThrottlingException", 429),
    "UNAUTHENTICATED": ("AccessDeniedException", 403),
    "PERMISSION_DENIED": ("AccessDeniedException", 403),
    "UNAVAILABLE": ("ServiceUnavailableException", 503),
    "DEADLINE_EXCEEDED": ("ServiceUnavailableException", 503),
}


@dataclass(frozen=True)
class Apply:
    """A parsed ApplyGuardrail call: safegen's request and Bedrock's output scope."""

    request: guardrail_pb2.ApplyGuardrailRequest
    output_scope: str


def guardrail_id(identifier: str) -> str:
    """The safegen guardrail an identifier names: the id itself, or the id at the end of an ARN."""
    m = _ARN.fullmatch(identifier)
    return m.group("id") if m else identifier


def _enum(value: Any, allowed, where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = value if isinstance(value, str) else json_type(value)
        raise invalid(f"{where} must be one of {', '.join(allowed)}; got {shown!r}")
    return value


def _block(block: Any, where: str) -> guardrail_pb2.GuardrailContentBlock:
    block = expect_object(block, where)
    kinds = [k for k in ("text", "image") if k in block]
    if len(kinds) != 1:
        raise invalid(f"{where} must hold exactly one of text or image")
    if kinds[0] == "text":
        text = expect_object(block["text"], f"{where}.text")
        if "text" not in text:
            raise invalid(f"{where}.text.text is required")
        value = text["text"]
        if not isinstance(value, str):
            raise invalid(f"{where}.text.text must be a string, not {json_type(value)}")
        if not value.strip():
            raise invalid(f"{where}.text.text must not be empty or blank")
        qualifiers = text.get("qualifiers", [])
        if not isinstance(qualifiers, list):
            raise invalid(f"{where}.text.qualifiers must be a list, not {json_type(qualifiers)}")
        for i, q in enumerate(qualifiers):
            _enum(q, QUALIFIERS, f"{where}.text.qualifiers[{i}]")
        return guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text=value))
    image = expect_object(block["image"], f"{where}.image")
    if "format" not in image or "source" not in image:
        raise invalid(f"{where}.image needs format (png or jpeg) and source.bytes")
    fmt = _enum(image["format"], tuple(IMAGE_FORMATS), f"{where}.image.format")
    source = expect_object(image["source"], f"{where}.image.source")
    if "bytes" not in source:
        raise invalid(f"{where}.image.source.bytes is required (safegen reads no S3 locations)")
    data = decode_base64(source["bytes"], f"{where}.image.source.bytes")
    return guardrail_pb2.GuardrailContentBlock(
        image=guardrail_pb2.GuardrailImageBlock(format=IMAGE_FORMATS[fmt], data=data)
    )


def parse_request(identifier: str, version: str, body: Any) -> Apply:
    """The path and body as safegen's ApplyGuardrailRequest; unknown members are ignored, as AWS does."""
    if _VERSION.fullmatch(version) is None:
        raise invalid(f"guardrailVersion must be DRAFT or a version number; got {version!r}")
    body = expect_object(body, "request body")
    for key in ("source", "content"):
        if key not in body:
            raise invalid(f"{key} is required")
    source = _enum(body["source"], tuple(SOURCES), "source")
    content = body["content"]
    if not isinstance(content, list):
        raise invalid(f"content must be a list of content blocks, not {json_type(content)}")
    if not 1 <= len(content) <= MAX_BLOCKS:
        raise invalid(f"content has {len(content)} blocks; from 1 to {MAX_BLOCKS} are allowed")
    blocks = [_block(b, f"content[{i}]") for i, b in enumerate(content)]
    scope = _enum(body.get("outputScope", "INTERVENTIONS"), OUTPUT_SCOPES, "outputScope")
    return Apply(
        guardrail_pb2.ApplyGuardrailRequest(
            guardrail_id=guardrail_id(identifier), guardrail_version=version, source=SOURCES[source], content=blocks
        ),
        scope,
    )


def _name(enum, value: int, prefix: str, unset: str = "NONE") -> str:
    return enum.Name(value).removeprefix(prefix) if value else unset


def policy_action(item: Any, detected: bool) -> str:
    """Bedrock's per-entry action: the entry's own PolicyAction (a detect-only policy, or SHADOW mode,
    detects with action NONE); when unset, BLOCKED for whatever was detected."""
    if item.action:
        return C.PolicyAction.Name(item.action).removeprefix("POLICY_ACTION_")
    return "BLOCKED" if detected else "NONE"


def content_policy(assessments, full: bool) -> dict | None:
    """One filter per category over all blocks: the one that intervened, else the most confident.
    INTERVENTIONS lists only the filters that intervened; FULL lists every category evaluated."""
    best: dict[int, Any] = {}
    for a in assessments:
        for f in a.filters:
            key = (f.detected, f.confidence, f.score)
            if f.category not in best or key > (
                best[f.category].detected,
                best[f.category].confidence,
                best[f.category].score,
            ):
                best[f.category] = f
    filters = [
        {
            "type": _name(C.Category, f.category, "CATEGORY_"),
            "confidence": _name(C.Confidence, f.confidence, "CONFIDENCE_"),
            "filterStrength": _name(C.FilterStrength, f.filter_strength, "FILTER_STRENGTH_"),
            "action": policy_action(f, f.detected),
            "detected": bool(f.detected),
        }
        for _, f in sorted(best.items())
        if full or f.detected
    ]
    return {"filters": filters} if filters else None


def word_policy(assessments) -> dict | None:
    """Banned-word matches: custom words and the managed profanity list, one entry per match."""
    custom, managed = [], []
    for a in assessments:
        for w in a.words:
            entry = {"match": w.match, "action": policy_action(w, True), "detected": True}
            if w.word_list == C.WORD_LIST_MANAGED_PROFANITY:
                managed.append({"match": w.match, "type": "PROFANITY", "action": entry["action"], "detected": True})
            else:
                custom.append(entry)
    return {"customWords": custom, "managedWordLists": managed} if custom or managed else None


def topic_policy(assessments, full: bool) -> dict | None:
    """Denied topics (Bedrock's topicPolicy): one entry per topic over all blocks (the block where it was
    detected, and blocked if any); INTERVENTIONS lists the detected ones, FULL every topic evaluated."""
    best: dict[str, Any] = {}
    for a in assessments:
        for t in a.topics:
            seen = best.get(t.name)
            if seen is None or (t.detected, policy_action(t, t.detected) == "BLOCKED") > (
                seen.detected,
                policy_action(seen, seen.detected) == "BLOCKED",
            ):
                best[t.name] = t
    topics = [
        {"name": t.name, "type": t.type or "DENY", "action": policy_action(t, t.detected), "detected": bool(t.detected)}
        for t in best.values()
        if full or t.detected
    ]
    return {"topics": topics} if topics else None


def sensitive_information_policy(assessments, full: bool) -> dict | None:
    """PII entities and custom regexes (Bedrock's sensitiveInformationPolicy); every entry is a match."""
    pii, regexes = [], []
    for a in assessments:
        for m in a.sensitive_information:
            action = policy_action(m, m.detected)
            if m.regex:
                regexes.append({"name": m.type, "match": m.match, "action": action, "detected": bool(m.detected)})
            else:
                pii.append({"match": m.match, "type": m.type, "action": action, "detected": bool(m.detected)})
    return {"piiEntities": pii, "regexes": regexes} if pii or regexes else None


def usage_and_coverage(
    request: guardrail_pb2.ApplyGuardrailRequest, resp: guardrail_pb2.ApplyGuardrailResponse | None = None
) -> tuple[dict, dict]:
    """Bedrock's usage units and coverage: the guardrail engine's own (`usage`, `guardrail_coverage`),
    or, for a response without them, counted here: text 1 unit per 1,000 characters of each block,
    images 1 each, and everything sent guarded."""
    if resp is not None and resp.HasField("usage"):
        return _reported(resp)
    texts = [b.text.text for b in request.content if b.WhichOneof("block") == "text"]
    images = sum(1 for b in request.content if b.WhichOneof("block") == "image")
    units = sum(math.ceil(len(t) / TEXT_UNIT_CHARS) for t in texts)
    chars = sum(len(t) for t in texts)
    usage = {
        "topicPolicyUnits": 0,
        "contentPolicyUnits": units,
        "wordPolicyUnits": units,
        "sensitiveInformationPolicyUnits": 0,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
        "contentPolicyImageUnits": images,
    }
    coverage: dict[str, Any] = {}
    if texts:
        coverage["textCharacters"] = {"guarded": chars, "total": chars}
    if images:
        coverage["images"] = {"guarded": images, "total": images}
    return usage, coverage


_USAGE_FIELDS = {
    "topicPolicyUnits": "topic_policy_units",
    "contentPolicyUnits": "content_policy_units",
    "wordPolicyUnits": "word_policy_units",
    "sensitiveInformationPolicyUnits": "sensitive_information_policy_units",
    "sensitiveInformationPolicyFreeUnits": "sensitive_information_policy_free_units",
    "contextualGroundingPolicyUnits": "contextual_grounding_policy_units",
    "contentPolicyImageUnits": "content_policy_image_units",
}


def _reported(resp: guardrail_pb2.ApplyGuardrailResponse) -> tuple[dict, dict]:
    """The usage and coverage the engine reported, in Bedrock's names."""
    u, c = resp.usage, resp.guardrail_coverage
    coverage: dict[str, Any] = {}
    if c.text_characters_total:
        coverage["textCharacters"] = {"guarded": c.text_characters_guarded, "total": c.text_characters_total}
    if c.images_total:
        coverage["images"] = {"guarded": c.images_guarded, "total": c.images_total}
    return {k: getattr(u, f) for k, f in _USAGE_FIELDS.items()}, coverage


def response(apply: Apply, resp: guardrail_pb2.ApplyGuardrailResponse, latency_ms: int) -> dict[str, Any]:
    """Bedrock's ApplyGuardrailResponse: one assessment aggregating every block, as Bedrock returns."""
    full = apply.output_scope == "FULL"
    assessments = list(resp.assessments)
    usage, coverage = usage_and_coverage(apply.request, resp)
    assessment: dict[str, Any] = {}
    for key, part in (
        ("topicPolicy", topic_policy(assessments, full)),
        ("contentPolicy", content_policy(assessments, full)),
        ("wordPolicy", word_policy(assessments)),
        ("sensitiveInformationPolicy", sensitive_information_policy(assessments, full)),
    ):
        if part is not None:
            assessment[key] = part
    assessment["invocationMetrics"] = {
        "guardrailProcessingLatency": latency_ms,
        "usage": usage,
        "guardrailCoverage": coverage,
    }
    assessment["appliedGuardrailDetails"] = {
        "guardrailId": resp.guardrail_id or apply.request.guardrail_id,
        "guardrailVersion": resp.guardrail_version or apply.request.guardrail_version,
    }  # the one that decided
    intervened = resp.action == C.ACTION_GUARDRAIL_INTERVENED
    return {
        "usage": usage,
        "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
        # "intervened", not "blocked": an anonymize-only verdict intervenes with the masked text as output.
        "actionReason": f"Guardrail intervened. {resp.action_reason}".strip() if intervened else "No action.",
        "outputs": [{"text": o.text} for o in resp.outputs] if intervened else [],
        "assessments": [assessment],
        "guardrailCoverage": coverage,
    }


def error_response(http: int, status: str, message: str) -> web.Response:
    """AWS restJson1 error: botocore reads the name from x-amzn-ErrorType (or __type), the text from message."""
    name, code = _ERRORS.get(status, ("InternalServerException", 500))
    if http in (413, 415):  # the front's own refusals keep their status; botocore reads the name
        name, code = "ValidationException", http
    return web.json_response({"__type": name, "message": message}, status=code, headers={"x-amzn-ErrorType": name})


def routes(moderate: Moderate, read_body: ReadBody) -> dict[str, Any]:
    """The route this module serves, bound to the moderation call."""

    async def apply_guardrail(request: web.Request) -> web.Response:
        apply = parse_request(
            request.match_info["guardrailIdentifier"],
            request.match_info["guardrailVersion"],
            await read_json(request, read_body),
        )
        start = time.perf_counter()
        resp = await moderate(apply.request)  # an unknown guardrail is NOT_FOUND: ResourceNotFoundException
        latency_ms = round((time.perf_counter() - start) * 1000)
        return web.json_response(response(apply, resp, latency_ms))

    return {PATH: handler(error_response, apply_guardrail)}
