"""Audit records built from safegen.v1 requests and responses (the line format is in docs/guardrails.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import grpc

from safegen.core.auth import ANONYMOUS, current_principal
from safegen.policy.audit import request_id, sha256
from safegen.v1 import common_pb2, guardrail_pb2, image_moderation_pb2, safe_generation_pb2, text_moderation_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

#: A message with a guardrail's per-policy results (filters, and words/topics/... where it has them).
Assessment = Union[
    text_moderation_pb2.ModerateTextResponse,
    safe_generation_pb2.PromptAssessment,
    safe_generation_pb2.GeneratedImage,
    guardrail_pb2.GuardrailAssessment,
    image_moderation_pb2.ImageModerationResult,
]

#: Metadata the gateway sends with its own moderation calls: the gateway writes the decision's line.
GATEWAY_CALL = ("x-safegen-caller", "gateway")


def _name(enum: EnumTypeWrapper, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
        return name.removeprefix(prefix)
    except ValueError:
        return str(value)


def _action(value: int) -> str:
    return _name(common_pb2.Action, value, "ACTION_")


def _policy(value: int) -> str:
    return _name(common_pb2.PolicyAction, value, "POLICY_ACTION_")


def caller_key_id() -> str:
    """The API key id of the caller (or the keyed caller an internal call was made for); empty without keys."""
    p = current_principal.get()
    if p.on_behalf_of:
        return p.on_behalf_of
    return "" if p.id == ANONYMOUS or p.internal else p.id


def metadata_value(context: grpc.aio.ServicerContext | None, key: str) -> str:
    for k, v in (context.invocation_metadata() or ()) if context is not None else ():
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return ""


def request_id_of(context: grpc.aio.ServicerContext | None) -> str:
    """The caller's x-request-id (when usable) or a new id."""
    return request_id(metadata_value(context, "x-request-id"))


def is_gateway_call(context: grpc.aio.ServicerContext | None) -> bool:
    return metadata_value(context, GATEWAY_CALL[0]) == GATEWAY_CALL[1]


def text_content(text: str, with_text: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"sha256": sha256(text), "chars": len(text)}
    if with_text:
        out["text"] = text
    return out


def verdicts(msg: Assessment, with_text: bool) -> dict[str, Any]:
    """Per-stage verdicts of a text or image assessment message (any with filters/words/topics/...)."""
    out: dict[str, Any] = {
        "action": _action(msg.action),
        "detected_action": _action(getattr(msg, "detected_action", 0)),
        "categories": [
            {
                "category": _name(common_pb2.Category, f.category, "CATEGORY_"),
                "confidence": _name(common_pb2.Confidence, f.confidence, "CONFIDENCE_"),
                "score": round(float(f.score), 4),
                "action": _policy(f.action),
            }
            for f in msg.filters
            if f.detected
        ],
    }
    if hasattr(msg, "words"):
        out["words"] = [
            {
                "list": _name(common_pb2.WordList, w.word_list, "WORD_LIST_"),
                "word": w.word,
                "action": _policy(w.action),
                **({"match": w.match} if with_text else {}),
            }
            for w in msg.words
        ]
    if hasattr(msg, "threats"):
        out["threats"] = [
            {"kind": t.kind, "action": _policy(t.action), **({"match": t.match} if with_text else {})}
            for t in msg.threats
        ]
    if hasattr(msg, "topics"):
        out["topics"] = [
            {"name": t.name, "score": round(float(t.score), 3), "action": _policy(t.action)}
            for t in msg.topics
            if t.detected
        ]
    if hasattr(msg, "sensitive_information"):
        out["sensitive_information"] = [
            {"type": s.type, "regex": s.regex, "action": _policy(s.action), **({"match": s.match} if with_text else {})}
            for s in msg.sensitive_information
        ]
    return out


def base(
    rpc: str, request_id: str, guardrail_id: str, guardrail_version: str, source: int, latency_s: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"request_id": request_id, "rpc": rpc}
    key = caller_key_id()
    if key:
        out["caller_key_id"] = key
    out.update(
        {
            "guardrail_id": guardrail_id,
            "guardrail_version": guardrail_version,
            "source": _name(common_pb2.Source, source or common_pb2.SOURCE_INPUT, "SOURCE_"),
            "latency_ms": round(latency_s * 1000, 2),
        }
    )
    return out


def generate_record(
    req: safe_generation_pb2.GenerateRequest | safe_generation_pb2.StreamGenerateRequest,
    resp: safe_generation_pb2.GenerateResponse,
    request_id: str,
    latency_s: float,
    with_text: bool,
) -> dict[str, Any]:
    out = base("Generate", request_id, resp.guardrail_id, resp.guardrail_version, common_pb2.SOURCE_INPUT, latency_s)
    out["content"] = {"prompt": text_content(req.prompt, with_text)}
    prompt = {"stage": "prompt", **verdicts(resp.prompt_assessment, with_text)}
    if resp.prompt_assessment.anonymized_prompt:
        prompt["anonymized"] = True
    stages = [prompt]
    for i, img in enumerate(resp.images):
        stages.append(
            {
                "stage": "image",
                "index": i,
                "attempt": img.attempt,
                "outcome": "WITHHELD"
                if img.withheld
                else "BLURRED"
                if img.blurred
                else ("WARNED" if img.action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "ALLOWED"),
                **({"sha256": sha256(img.data)} if img.data else {}),
                **verdicts(img, with_text),
            }
        )
    out["stages"] = stages
    out.update(
        {
            "action": _action(resp.action),
            "detected_action": _action(resp.detected_action),
            "blocked": bool(resp.blocked_message),
            "attempts": resp.attempts,
        }
    )
    return out


def apply_record(
    req: guardrail_pb2.ApplyGuardrailRequest,
    resp: guardrail_pb2.ApplyGuardrailResponse,
    request_id: str,
    latency_s: float,
    with_text: bool,
) -> dict[str, Any]:
    out = base("ApplyGuardrail", request_id, resp.guardrail_id, resp.guardrail_version, req.source, latency_s)
    blocks, stages = [], []
    for i, block in enumerate(req.content):
        if block.WhichOneof("block") == "text":
            blocks.append({"index": i, "text": text_content(block.text.text, with_text)})
        else:
            blocks.append({"index": i, "image": {"sha256": sha256(block.image.data), "bytes": len(block.image.data)}})
    for a in resp.assessments:
        kind = "image" if "image" in blocks[a.content_index] else "text"
        stages.append({"stage": kind, "index": a.content_index, **verdicts(a, with_text)})
    out.update(
        {
            "content": blocks,
            "stages": stages,
            "action": _action(resp.action),
            "detected_action": _action(resp.detected_action),
        }
    )
    return out


def text_record(
    req: text_moderation_pb2.ModerateTextRequest,
    resp: text_moderation_pb2.ModerateTextResponse,
    request_id: str,
    latency_s: float,
    with_text: bool,
) -> dict[str, Any]:
    out = base("ModerateText", request_id, resp.guardrail_id, resp.guardrail_version, req.source, latency_s)
    out.update(
        {
            "content": text_content(req.text, with_text),
            "stages": [{"stage": "text", **verdicts(resp, with_text)}],
            "action": _action(resp.action),
            "detected_action": _action(resp.detected_action),
        }
    )
    return out


def images_record(
    req: image_moderation_pb2.ModerateImagesRequest,
    resp: image_moderation_pb2.ModerateImagesResponse,
    request_id: str,
    latency_s: float,
) -> dict[str, Any]:
    out = base(
        "ModerateImages",
        request_id,
        resp.guardrail_id,
        resp.guardrail_version,
        req.source or common_pb2.SOURCE_OUTPUT,
        latency_s,
    )
    stages = [{"stage": "image", "index": r.index, **verdicts(r, False)} for r in resp.results]
    intervened = any(r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED for r in resp.results)
    detected = any(r.detected_action == common_pb2.ACTION_GUARDRAIL_INTERVENED for r in resp.results)
    out.update(
        {
            "content": [
                {"index": i, "image": {"sha256": sha256(b), "bytes": len(b)}} for i, b in enumerate(req.images)
            ],
            "stages": stages,
            "action": _action(common_pb2.ACTION_GUARDRAIL_INTERVENED if intervened else common_pb2.ACTION_NONE),
            "detected_action": _action(common_pb2.ACTION_GUARDRAIL_INTERVENED if detected else common_pb2.ACTION_NONE),
        }
    )
    return out
