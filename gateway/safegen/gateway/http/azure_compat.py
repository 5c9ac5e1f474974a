"""Azure AI Content Safety's text:analyze, image:analyze and text:shieldPrompt over safegen's guardrails.

What `azure-ai-contentsafety`'s ContentSafetyClient calls (`{endpoint}/contentsafety/...?api-version=`):
`categoriesAnalysis` gives Hate, Sexual, Violence and SelfHarm severities from our confidences
(SEVERITY), `blocklistsMatch` the word-list matches, and shieldPrompt's `attackDetected` the
PROMPT_ATTACK filter. Every call applies the default guardrail. Errors are Azure's {error: {code, message}}.
"""

from __future__ import annotations

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

PREFIX = "/contentsafety"
#: Azure's categories in its response order -> the safegen category scored for each (None: unscored,
#: always severity 0).
CATEGORY_MAP: dict[str, int | None] = {
    "Hate": C.CATEGORY_HATE,
    "SelfHarm": None,
    "Sexual": C.CATEGORY_SEXUAL,
    "Violence": C.CATEGORY_VIOLENCE,
}
#: Our confidence -> Azure's severity; the four-level scale (0, 2, 4, 6) is a subset of the eight-level
#: one (0..7), so both output types get these values.
SEVERITY = {
    C.CONFIDENCE_UNSPECIFIED: 0,
    C.CONFIDENCE_NONE: 0,
    C.CONFIDENCE_LOW: 2,
    C.CONFIDENCE_MEDIUM: 4,
    C.CONFIDENCE_HIGH: 6,
}
TEXT_OUTPUT_TYPES = ("FourSeverityLevels", "EightSeverityLevels")
IMAGE_OUTPUT_TYPES = ("FourSeverityLevels",)
#: The name a match's word list gets in blocklistsMatch.
BLOCKLIST_NAMES = {C.WORD_LIST_MANAGED_PROFANITY: "ManagedProfanity", C.WORD_LIST_CUSTOM: "CustomWords"}
#: Azure's limit on shieldPrompt documents; more than ApplyGuardrail's blocks would take several calls.
MAX_DOCUMENTS = MAX_BLOCKS - 1

# gRPC status -> Azure's error code.
_CODES = {
    "INVALID_ARGUMENT": "InvalidRequestBody",
    "OUT_OF_RANGE": "InvalidRequestBody",
    "FAILED_PRECONDITION": "InvalidRequestBody",
    "NOT_FOUND": "NotFound",
    "RESOURCE_EXHAUSTED": "TooManyRequests",
    "UNAUTHENTICATED": "Unauthorized",
    "PERMISSION_DENIED": "Forbidden",
    "UNAVAILABLE": "ServiceUnavailable",
    "DEADLINE_EXCEEDED": "OperationTimeout",
    "UNIMPLEMENTED": "NotImplemented",
}


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"{where} must be a string, not {json_type(value)}")
    if not value.strip():
        raise invalid(f"{where} must not be empty or blank")
    return value


def _categories(body: dict) -> list[str]:
    if "categories" not in body:
        return list(CATEGORY_MAP)
    value = body["categories"]
    if not isinstance(value, list) or not value:
        raise invalid("categories must be a non-empty list of Hate, SelfHarm, Sexual, Violence")
    for i, c in enumerate(value):
        if not isinstance(c, str) or c not in CATEGORY_MAP:
            raise invalid(f"categories[{i}] must be one of Hate, SelfHarm, Sexual, Violence; got {c!r}")
    return [c for c in CATEGORY_MAP if c in value]


def _output_type(body: dict, allowed: tuple[str, ...]) -> None:
    value = body.get("outputType", allowed[0])
    if value not in allowed:
        raise invalid(f"outputType must be one of {', '.join(allowed)}; got {value!r}")


def _request(block: guardrail_pb2.GuardrailContentBlock) -> guardrail_pb2.ApplyGuardrailRequest:
    return guardrail_pb2.ApplyGuardrailRequest(source=C.SOURCE_INPUT, content=[block])


def text_request(body: Any) -> tuple[guardrail_pb2.ApplyGuardrailRequest, list[str], bool]:
    """AnalyzeTextOptions as (safegen request, categories to report, haltOnBlocklistHit).

    blocklistNames is accepted and not used: the guardrail's word lists always apply."""
    body = expect_object(body, "request body")
    if "text" not in body:
        raise invalid("text is required")
    text = _text(body["text"], "text")
    names = body.get("blocklistNames", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise invalid("blocklistNames must be a list of strings")
    halt = body.get("haltOnBlocklistHit", False)
    if not isinstance(halt, bool):
        raise invalid(f"haltOnBlocklistHit must be a boolean, not {json_type(halt)}")
    _output_type(body, TEXT_OUTPUT_TYPES)
    block = guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text=text))
    return _request(block), _categories(body), halt


def image_request(body: Any) -> tuple[guardrail_pb2.ApplyGuardrailRequest, list[str]]:
    """AnalyzeImageOptions as (safegen request, categories to report); blobUrl is refused, never fetched."""
    body = expect_object(body, "request body")
    if "image" not in body:
        raise invalid('image is required: {"content": "<base64 PNG or JPEG>"}')
    image = expect_object(body["image"], "image")
    if "blobUrl" in image:
        raise invalid("image.blobUrl: safegen does not fetch images; send the bytes as image.content (base64)")
    if "content" not in image:
        raise invalid("image.content is required (the base64 PNG or JPEG bytes)")
    data = decode_base64(image["content"], "image.content")
    _output_type(body, IMAGE_OUTPUT_TYPES)
    block = guardrail_pb2.GuardrailContentBlock(image=guardrail_pb2.GuardrailImageBlock(data=data))
    return _request(block), _categories(body)


def categories_analysis(assessment: guardrail_pb2.GuardrailAssessment, categories: list[str]) -> list[dict]:
    """One {category, severity} per requested category, in Azure's order."""
    by_category = {f.category: f for f in assessment.filters}
    out = []
    for name in categories:
        f = by_category.get(CATEGORY_MAP[name]) if CATEGORY_MAP[name] is not None else None
        out.append({"category": name, "severity": SEVERITY[f.confidence] if f is not None else 0})
    return out


def blocklists_match(assessment: guardrail_pb2.GuardrailAssessment) -> list[dict]:
    """Word-list matches as Azure blocklist matches: the list, the canonical word, the text that matched."""
    return [
        {
            "blocklistName": BLOCKLIST_NAMES.get(w.word_list, "CustomWords"),
            "blocklistItemId": w.word or w.match,
            "blocklistItemText": w.match,
        }
        for w in assessment.words
    ]


def text_result(resp: guardrail_pb2.ApplyGuardrailResponse, categories: list[str], halt: bool) -> dict[str, Any]:
    """AnalyzeTextResult; with haltOnBlocklistHit a blocklist match leaves categoriesAnalysis empty, as Azure does."""
    a = resp.assessments[0] if resp.assessments else guardrail_pb2.GuardrailAssessment()
    matches = blocklists_match(a)
    return {
        "blocklistsMatch": matches,
        "categoriesAnalysis": [] if halt and matches else categories_analysis(a, categories),
    }


def image_result(resp: guardrail_pb2.ApplyGuardrailResponse, categories: list[str]) -> dict[str, Any]:
    """AnalyzeImageResult."""
    a = resp.assessments[0] if resp.assessments else guardrail_pb2.GuardrailAssessment()
    return {"categoriesAnalysis": categories_analysis(a, categories)}


def shield_request(body: Any) -> tuple[guardrail_pb2.ApplyGuardrailRequest | None, int]:
    """ShieldPrompt's userPrompt and documents as one ApplyGuardrail call (None when both are empty),
    with the number of documents; the user prompt, when present, is block 0."""
    body = expect_object(body, "request body")
    prompt = body.get("userPrompt", "")
    if not isinstance(prompt, str):
        raise invalid(f"userPrompt must be a string, not {json_type(prompt)}")
    docs = body.get("documents", [])
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise invalid("documents must be a list of strings")
    if len(docs) > MAX_DOCUMENTS:
        raise invalid(f"documents has {len(docs)} entries; at most {MAX_DOCUMENTS} are allowed")
    texts = ([prompt] if prompt.strip() else []) + [d for d in docs if d.strip()]
    if not texts:
        return None, len(docs)
    return guardrail_pb2.ApplyGuardrailRequest(
        source=C.SOURCE_INPUT,
        content=[guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text=t)) for t in texts],
    ), len(docs)


def _attack(a: guardrail_pb2.GuardrailAssessment | None) -> bool:
    return a is not None and any(f.category == C.CATEGORY_PROMPT_ATTACK and f.detected for f in a.filters)


def shield_result(body: dict, resp: guardrail_pb2.ApplyGuardrailResponse | None) -> dict[str, Any]:
    """ShieldPromptResult: attackDetected where the guardrail's PROMPT_ATTACK filter intervened.

    Blank prompts and documents are not sent and count as no attack."""
    blocks = iter(sorted(resp.assessments, key=lambda a: a.content_index) if resp is not None else [])
    prompt = body.get("userPrompt", "")
    user = _attack(next(blocks)) if prompt.strip() else False
    docs = [_attack(next(blocks)) if d.strip() else False for d in body.get("documents", [])]
    return {"userPromptAnalysis": {"attackDetected": user}, "documentsAnalysis": [{"attackDetected": d} for d in docs]}


def error_response(http: int, status: str, message: str) -> web.Response:
    """Azure's error shape, which azure-core's HttpResponseError reads (error.code, error.message)."""
    code = {413: "RequestTooLarge", 415: "UnsupportedMediaType"}.get(http) or _CODES.get(status, "InternalServerError")
    return web.json_response({"error": {"code": code, "message": message}}, status=http)


def routes(moderate: Moderate, read_body: ReadBody) -> dict[str, Any]:
    """The routes this module serves, bound to the moderation call (`api-version` is accepted, any value)."""

    async def analyze_text(request: web.Request) -> web.Response:
        req, categories, halt = text_request(await read_json(request, read_body))
        return web.json_response(text_result(await moderate(req), categories, halt))

    async def analyze_image(request: web.Request) -> web.Response:
        req, categories = image_request(await read_json(request, read_body))
        return web.json_response(image_result(await moderate(req), categories))

    async def shield_prompt(request: web.Request) -> web.Response:
        body = await read_json(request, read_body)
        req, _ = shield_request(body)
        resp = await moderate(req) if req is not None else None
        return web.json_response(shield_result(body, resp))

    return {
        f"{PREFIX}/text:analyze": handler(error_response, analyze_text),
        f"{PREFIX}/image:analyze": handler(error_response, analyze_image),
        f"{PREFIX}/text:shieldPrompt": handler(error_response, shield_prompt),
    }
