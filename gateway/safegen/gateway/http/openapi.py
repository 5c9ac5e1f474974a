"""OpenAPI 3.1 for the HTTP front, generated at runtime from the safegen.v1 proto descriptors.

Schemas follow the proto3 JSON mapping exactly as google.protobuf.json_format reads and writes it:
lowerCamelCase json names, enums as their value names (numbers accepted on input), bytes as base64
strings, 64-bit integers as decimal strings (numbers accepted on input), NaN/Infinity as strings,
null for any field meaning its default. Because they are walked
from the same descriptors the server parses with, the description cannot drift from the messages.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor as _d

from safegen.gateway.http import comments as _comments
from safegen.gateway.http import compat_openapi as _compat
from safegen.v1 import guardrail_pb2, safe_generation_pb2

FD = _d.FieldDescriptor

ERROR_SCHEMA = "google.rpc.Status"

_INT32 = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
_UINT32 = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
_INT64 = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
_UINT64 = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
_FLOAT = {FD.TYPE_FLOAT, FD.TYPE_DOUBLE}
_FLOAT32_MAX = 3.4028234663852886e38
_NOT_NULL = {"not": {"type": "null"}}

# Well-known types have their own JSON forms; only the ones a future contract is likely to use.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
}


def _decimal_upto(n: int) -> str:
    """A regex (no anchors) matching exactly the decimal numbers 0..n without leading zeros."""
    digits = str(n)
    alts = ["0"]
    if len(digits) > 1:
        alts.append(f"[1-9][0-9]{{0,{len(digits) - 2}}}")  # every shorter number
    for i, d in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(d) > low:
            rest = len(digits) - i - 1
            alts.append(f"{digits[:i]}[{low}-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alts.append(digits)
    return "(" + "|".join(alts) + ")"


def _int_pattern(low: int, high: int) -> str:
    """An anchored regex for the decimal strings of low..high (low is 0 or -(high + 1))."""
    if low == 0:
        return f"^{_decimal_upto(high)}$"
    return f"^({_decimal_upto(high)}|-{_decimal_upto(-low)})$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    # proto3 JSON: null is accepted for any field and means its default value.
    t = schema.get("type")
    if isinstance(t, str) and "enum" not in schema:
        return {**schema, "type": [t, "null"]}
    if isinstance(t, list):
        return {**schema, "type": [*t, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(full_name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{full_name}"}


class _SchemaBuilder:
    def __init__(self, comments: dict[str, str]):
        self.comments = comments
        self.schemas: dict[str, dict[str, Any]] = {}

    def _describe(self, schema: dict[str, Any], full_name: str) -> dict[str, Any]:
        text = self.comments.get(full_name)
        if text:
            schema["description"] = text
        return schema

    def message(self, desc: _d.Descriptor) -> dict[str, str]:
        if desc.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[desc.full_name])
        if desc.full_name not in self.schemas:
            self.schemas[desc.full_name] = {}  # placeholder first: messages may be recursive
            properties: dict[str, Any] = {}
            for field in desc.fields:
                properties[field.json_name] = self._describe(
                    _nullable(self.field(field)), f"{desc.full_name}.{field.name}"
                )
            schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
            # At most one member of a (real) oneof may be set: no two of them together. proto3
            # `optional` fields are synthetic oneofs of one member and need no rule.
            exclusive = []
            for oneof in desc.oneofs:
                names = [f.json_name for f in oneof.fields]
                # A member set to null counts as unset, as the parser treats it.
                exclusive += [
                    {"not": {"required": [a, b], "properties": {a: _NOT_NULL, b: _NOT_NULL}}}
                    for i, a in enumerate(names)
                    for b in names[i + 1 :]
                ]
            if exclusive:
                schema["allOf"] = exclusive
            self.schemas[desc.full_name] = self._describe(schema, desc.full_name)
        return _ref(desc.full_name)

    def enum(self, desc: _d.EnumDescriptor) -> dict[str, str]:
        if desc.full_name not in self.schemas:
            values = [v.name for v in desc.values]
            notes = [
                f"{v.name}: {self.comments[f'{desc.full_name}.{v.name}']}"
                for v in desc.values
                if f"{desc.full_name}.{v.name}" in self.comments
            ]
            # Written as the value's name; read as the name or (proto3 enums are open) any int32 number.
            schema = self._describe(
                {
                    "anyOf": [
                        {"type": "string", "enum": values},
                        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
                    ]
                },
                desc.full_name,
            )
            if notes:
                schema["description"] = (
                    schema.get("description", "") + "\n\n" + "\n".join(f"- {n}" for n in notes)
                ).strip()
            self.schemas[desc.full_name] = schema
        return _ref(desc.full_name)

    def scalar(self, field: _d.FieldDescriptor) -> dict[str, Any]:
        t = field.type
        if t == FD.TYPE_MESSAGE:
            return self.message(field.message_type)
        if t == FD.TYPE_ENUM:
            return self.enum(field.enum_type)
        if t == FD.TYPE_BOOL:
            return {"type": "boolean"}
        if t == FD.TYPE_STRING:
            return {"type": "string"}
        if t == FD.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64", "format": "byte"}
        if t in _INT32:
            return {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
        if t in _UINT32:
            return {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
        if t in _INT64:
            return {
                "type": ["string", "integer"],
                "format": "int64",
                "minimum": -(2**63),
                "maximum": 2**63 - 1,
                "pattern": _int_pattern(-(2**63), 2**63 - 1),
            }
        if t in _UINT64:
            return {
                "type": ["string", "integer"],
                "format": "uint64",
                "minimum": 0,
                "maximum": 2**64 - 1,
                "pattern": _int_pattern(0, 2**64 - 1),
            }
        if t in _FLOAT:
            number: dict[str, Any] = {"type": "number", "format": "double"}
            if t == FD.TYPE_FLOAT:
                # json_format refuses finite values a 32-bit float cannot hold.
                number = {"type": "number", "format": "float", "minimum": -_FLOAT32_MAX, "maximum": _FLOAT32_MAX}
            return {"anyOf": [number, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
        raise ValueError(f"unsupported proto field type {t} for {field.full_name}")

    def field(self, field: _d.FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.scalar(value)}
        if field.is_repeated:
            return {"type": "array", "items": self.scalar(field)}
        return self.scalar(field)


def _json_body(ref: dict[str, str], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": ref}}}


def _ok(ref: dict[str, str], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {
        400: "Malformed JSON, unknown field, or an invalid request (INVALID_ARGUMENT, FAILED_PRECONDITION)",
        404: "Unknown guardrail (NOT_FOUND)",
        413: "The request body is over the server's limit; refused before it is read whole",
        415: "The request is not application/json",
        429: "A quota or queue limit was hit (RESOURCE_EXHAUSTED)",
        503: "A backend is unavailable (UNAVAILABLE)",
        504: "The request did not finish before its deadline (DEADLINE_EXCEEDED)",
    }
    out = {str(c): _ok(_ref(ERROR_SCHEMA), names[c]) for c in codes}
    out["default"] = _ok(_ref(ERROR_SCHEMA), "Any other gRPC status, mapped as in google/rpc/code.proto")
    return out


@functools.lru_cache(maxsize=1)
def build_spec(version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document (cached: descriptors do not change at runtime; callers must not mutate it)."""
    comments = _comments.load()
    b = _SchemaBuilder(comments)
    sg = safe_generation_pb2.DESCRIPTOR.message_types_by_name
    gr = guardrail_pb2.DESCRIPTOR.message_types_by_name

    def doc(name: str) -> str:
        return comments.get(name, "")

    body_errors = (400, 404, 413, 415, 429, 503, 504)
    paths: dict[str, Any] = {
        "/v1/generate": {
            "post": {
                "operationId": "Generate",
                "summary": "Safe generation: moderate the prompt, generate, moderate every image",
                "description": doc("safegen.v1.SafeGenerationService.Generate")
                + " A blocked prompt is a normal 200 response with action ACTION_GUARDRAIL_INTERVENED.",
                "tags": ["SafeGenerationService"],
                "requestBody": _json_body(b.message(sg["GenerateRequest"]), doc("safegen.v1.GenerateRequest")),
                "responses": {
                    "200": _ok(b.message(sg["GenerateResponse"]), doc("safegen.v1.GenerateResponse")),
                    **_errors(*body_errors),
                },
            }
        },
        "/v1/generate:stream": {
            "post": {
                "operationId": "StreamGenerate",
                "summary": "Safe generation with progress, as Server-Sent Events",
                "description": doc("safegen.v1.SafeGenerationService.StreamGenerate")
                + " Each event's name is the member of StreamGenerateResponse.event that is set (`stage`,"
                " `progress`, `result`) and its data is the StreamGenerateResponse in proto JSON. An error"
                " after the stream started arrives as an `error` event whose data is a google.rpc.Status;"
                " an error before the first event is an ordinary HTTP error response.",
                "tags": ["SafeGenerationService"],
                "requestBody": _json_body(
                    b.message(sg["StreamGenerateRequest"]), doc("safegen.v1.StreamGenerateRequest")
                ),
                "responses": {
                    "200": {
                        "description": "A text/event-stream of StreamGenerateResponse events, the result last",
                        "content": {
                            "text/event-stream": {
                                # One event (OpenAPI 3.2's itemSchema; tools read `schema` this way on 3.1).
                                "schema": {
                                    "type": "object",
                                    "required": ["event", "data"],
                                    "properties": {
                                        "event": {"type": "string", "enum": ["stage", "progress", "result", "error"]},
                                        "data": {
                                            "type": "string",
                                            "contentMediaType": "application/json",
                                            "contentSchema": {
                                                "oneOf": [b.message(sg["StreamGenerateResponse"]), _ref(ERROR_SCHEMA)]
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    **_errors(*body_errors),
                },
            }
        },
        "/v1/apply-guardrail": {
            "post": {
                "operationId": "ApplyGuardrail",
                "summary": "Moderate text and image blocks against a guardrail (Bedrock ApplyGuardrail's shape)",
                "description": doc("safegen.v1.GuardrailService.ApplyGuardrail"),
                "tags": ["GuardrailService"],
                "requestBody": _json_body(
                    b.message(gr["ApplyGuardrailRequest"]), doc("safegen.v1.ApplyGuardrailRequest")
                ),
                "responses": {
                    "200": _ok(b.message(gr["ApplyGuardrailResponse"]), doc("safegen.v1.ApplyGuardrailResponse")),
                    **_errors(*body_errors),
                },
            }
        },
        "/v1/guardrails": {
            "get": {
                "operationId": "ListGuardrails",
                "summary": "The guardrails this server has loaded, default first",
                "description": doc("safegen.v1.GuardrailService.ListGuardrails"),
                "tags": ["GuardrailService"],
                "responses": {
                    "200": _ok(b.message(gr["ListGuardrailsResponse"]), doc("safegen.v1.ListGuardrailsResponse")),
                    **_errors(503, 504),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "Health",
                "summary": "200 when the gateway's gRPC health check says SERVING, 503 otherwise",
                "tags": ["Operations"],
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/safegen.http.Health"}, "Serving"),
                    "503": _ok({"$ref": "#/components/schemas/safegen.http.Health"}, "Not serving or unreachable"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "OpenApi",
                "summary": "This document",
                "tags": ["Operations"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    paths.update(_compat.paths())  # the drop-in OpenAI, Bedrock and Azure routes, in their own shapes
    schemas = dict(sorted(b.schemas.items()))
    schemas.update(_compat.schemas())
    schemas[ERROR_SCHEMA] = {
        "type": "object",
        "description": "An error, in google.rpc.Status's shape: the gRPC status code number, its name and a message a caller can act on.",
        "properties": {
            "code": {
                "type": "integer",
                "minimum": 0,
                "maximum": 16,
                "description": "The gRPC status code number, e.g. 3 for INVALID_ARGUMENT.",
            },
            "status": {"type": "string", "description": "The gRPC status code name, e.g. INVALID_ARGUMENT."},
            "message": {"type": "string", "description": "What went wrong."},
        },
        "required": ["code", "status", "message"],
        "additionalProperties": False,
    }
    schemas["safegen.http.Health"] = {
        "type": "object",
        "properties": {
            "status": {
                "type": "string",
                "enum": ["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN", "UNREACHABLE"],
            }
        },
        "required": ["status"],
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "safegen HTTP API",
            "version": version,
            "description": "The JSON front of safegen's gateway. Every request and response body is the "
            "proto3 JSON mapping of a safegen.v1 message, so HTTP and gRPC callers see the same messages, "
            "limits and errors. gRPC status codes map to HTTP statuses as in google/rpc/code.proto. The drop-in "
            "OpenAI, Bedrock and Azure routes (their tags) speak those APIs' own JSON and error shapes instead.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "SafeGenerationService", "description": doc("safegen.v1.SafeGenerationService")},
            {"name": "GuardrailService", "description": doc("safegen.v1.GuardrailService")},
            {"name": "Operations"},
            *_compat.TAGS,
        ],
        "paths": paths,
        "components": {"schemas": schemas},
    }
