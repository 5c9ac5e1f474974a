"""OpenAI's POST /v1/moderations: the `openai` SDK against a real stack, and the pure mapping functions."""

from __future__ import annotations

import base64
import json

import openai
import pytest
from openai.types import moderation as oai

from safegen.gateway.http import compat, openai_compat as oc
from safegen.gateway.plane import MAX_BLOCKS
from safegen.v1 import common_pb2 as C
from safegen.v1 import guardrail_pb2

from .compat_support import ATTACK, BENIGN, PROFANE, RED_PNG, SEXUAL, WHITE_PNG, real_stack


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


@pytest.fixture(scope="module")
def client(stack):
    # Only the base URL changes; the key is sent and ignored (no API keys configured here).
    return openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key="sk-unused", max_retries=0, timeout=60)


# ------------------------------------------------------------------------------------ the SDK


def test_benign_text_is_not_flagged(client):
    r = client.moderations.create(model="omni-moderation-latest", input=BENIGN)
    assert r.id.startswith("modr-") and r.model == "omni-moderation-latest"
    [m] = r.results
    assert m.flagged is False
    assert not any(m.categories.model_dump().values())
    assert m.category_applied_input_types.sexual == ["text"]
    assert m.category_applied_input_types.self_harm == []  # nothing scores self-harm: not applied


def test_sexual_text_is_flagged_as_sexual(client):
    [m] = client.moderations.create(input=SEXUAL).results
    assert m.flagged is True
    assert m.categories.sexual is True and m.category_scores.sexual > 0.5
    assert m.categories.sexual_minors is False and m.category_scores.sexual_minors == 0  # unscored


def test_flagged_follows_the_verdict_even_without_an_openai_category(client):
    # A banned word and a prompt attack make the guardrail intervene; OpenAI has no category for either.
    for text in (PROFANE, ATTACK):
        [m] = client.moderations.create(model="text-moderation-latest", input=text).results
        assert m.flagged is True, text


def test_a_list_of_strings_gets_one_result_each_in_order(client):
    r = client.moderations.create(input=[BENIGN, SEXUAL, BENIGN])
    assert [m.flagged for m in r.results] == [False, True, False]


def test_more_strings_than_one_call_takes_are_split_and_kept_in_order(client):
    texts = [SEXUAL if i % 7 == 3 else f"{BENIGN} number {i}" for i in range(MAX_BLOCKS * 2 + 3)]
    r = client.moderations.create(input=texts)
    assert [m.flagged for m in r.results] == [i % 7 == 3 for i in range(len(texts))]


def test_image_parts_are_moderated_as_one_input(client):
    r = client.moderations.create(
        model="omni-moderation-latest",
        input=[
            {"type": "text", "text": BENIGN},
            {"type": "image_url", "image_url": {"url": data_url(RED_PNG)}},
        ],
    )
    [m] = r.results
    assert m.flagged is True and m.categories.sexual is True
    assert sorted(m.category_applied_input_types.sexual) == ["image", "text"]
    assert m.category_applied_input_types.harassment == ["text"]  # OpenAI scores harassment on text only
    [m] = client.moderations.create(input=[{"type": "image_url", "image_url": {"url": data_url(WHITE_PNG)}}]).results
    assert m.flagged is False and m.category_applied_input_types.sexual == ["image"]


def test_http_image_urls_are_refused_not_fetched(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.moderations.create(input=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    assert "does not fetch images from URLs" in e.value.message
    assert e.value.body["type"] == "invalid_request_error"


def test_model_selects_a_guardrail_and_an_unknown_one_is_404(client):
    assert client.moderations.create(model="permissive-warn", input=BENIGN).model == "permissive-warn"
    with pytest.raises(openai.NotFoundError) as e:
        client.moderations.create(model="no-such-guardrail", input=BENIGN)
    assert e.value.code == "model_not_found" and "no-such-guardrail" in e.value.message


def test_malformed_requests_are_400_in_openai_error_shape(client, stack):
    with pytest.raises(openai.BadRequestError) as e:
        client.moderations.create(input=BENIGN, extra_body={"bogus": 1})
    assert e.value.body["message"] == "Unrecognized request argument supplied: bogus"
    with pytest.raises(openai.BadRequestError):
        client.moderations.create(input=42)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as e:
        client.moderations.create(input=[{"type": "image_url", "image_url": {"url": data_url(b"not an image")}}])
    assert "image" in e.value.message.lower()  # the gateway's own message for undecodable bytes
    status, _, raw = stack.request(
        "POST", "/v1/moderations", '{"input": "x",', headers={"Content-Type": "application/json"}
    )
    body = json.loads(raw)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("malformed JSON at line 1")


# ------------------------------------------------------------------------------------ pure mapping


def test_category_table_names_exactly_openais_categories():
    fields = oai.Categories.model_fields
    assert set(oc.CATEGORY_MAP) == {f.alias or name for name, f in fields.items()}
    applied = oai.CategoryAppliedInputTypes.model_fields
    for name, f in applied.items():
        allowed = set(f.annotation.__args__[0].__args__)  # List[Literal["text", "image"]]
        assert set(oc.CATEGORY_MAP[f.alias or name][1]) == allowed, name


def test_openai_model_names_select_the_default_guardrail():
    for model in (
        "omni-moderation-latest",
        "omni-moderation-2024-09-26",
        "text-moderation-latest",
        "text-moderation-stable",
    ):
        assert oc.guardrail_for(model) == ""
    assert oc.guardrail_for("strict") == "strict"


def test_the_block_limit_is_the_gateways():
    assert compat.MAX_BLOCKS == MAX_BLOCKS


@pytest.mark.parametrize(
    "body,fragment",
    [
        ([], "request body must be a JSON object"),
        ({}, "input is required"),
        ({"input": ""}, "input must not be empty or blank"),
        ({"input": "   "}, "input must not be empty or blank"),
        ({"input": []}, "input must not be an empty list"),
        ({"input": ["a", {"type": "text", "text": "b"}]}, "not a mix"),
        ({"input": ["a", 1]}, "not a mix"),
        ({"input": ["a"] * (oc.MAX_INPUTS + 1)}, f"at most {oc.MAX_INPUTS}"),
        ({"input": [{"type": "text", "text": "a"}] * (MAX_BLOCKS + 1)}, f"at most {MAX_BLOCKS} are allowed"),
        ({"input": [{"type": "video"}]}, 'input[0].type must be "text" or "image_url"'),
        ({"input": [{"type": "text"}]}, "text part without text"),
        ({"input": [{"type": "text", "text": "a", "x": 1}]}, "Unrecognized request argument supplied: input[0].x"),
        (
            {"input": [{"type": "image_url", "image_url": "data:image/png;base64,AAAA"}]},
            "image_url must be a JSON object",
        ),
        ({"input": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}, "does not fetch"),
        ({"input": [{"type": "image_url", "image_url": {"url": "data:image/gif;base64,AAAA"}}]}, "PNG or JPEG"),
        ({"input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]}, "padded base64"),
        ({"input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,"}}]}, "holds no bytes"),
        ({"input": [{"type": "image_url", "image_url": {"url": "data:image/png,AAAA"}}]}, "must be a data URL"),
        ({"input": "a", "model": ""}, "model must be a non-empty string"),
        ({"input": "a", "model": 3}, "model must be a non-empty string"),
    ],
)
def test_bad_requests_name_the_problem(body, fragment):
    with pytest.raises(compat.CompatError) as e:
        oc.parse_request(body)
    assert e.value.status == "INVALID_ARGUMENT" and e.value.http == 400
    assert fragment in e.value.message


def test_data_urls_become_image_blocks_with_their_format():
    block = oc.decode_data_url(data_url(RED_PNG), "url")
    assert block.image.data == RED_PNG and block.image.format == guardrail_pb2.IMAGE_FORMAT_PNG
    assert oc.decode_data_url("data:image/jpg;base64,AAAA", "u").image.format == guardrail_pb2.IMAGE_FORMAT_JPEG


def test_requests_are_chunked_without_splitting_an_input():
    m = oc.parse_request({"input": [f"t{i}" for i in range(45)]})
    calls = oc.requests_for(m)
    assert [len(c.content) for c in calls] == [20, 20, 5]
    assert all(c.source == C.SOURCE_INPUT and c.guardrail_id == "" for c in calls)


def _filter(cat, score, detected, conf=C.CONFIDENCE_HIGH):
    return C.FilterResult(
        category=cat, score=score, confidence=conf, filter_strength=C.FILTER_STRENGTH_HIGH, detected=detected
    )


def test_result_maps_scores_and_detections_through_the_table():
    text = guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text="x"))
    image = guardrail_pb2.GuardrailContentBlock(image=guardrail_pb2.GuardrailImageBlock(data=b"x"))
    assessments = [
        guardrail_pb2.GuardrailAssessment(
            content_index=0,
            action=C.ACTION_NONE,
            filters=[_filter(C.CATEGORY_INSULTS, 0.25, False), _filter(C.CATEGORY_SEXUAL, 0.1, False)],
        ),
        guardrail_pb2.GuardrailAssessment(
            content_index=1,
            action=C.ACTION_GUARDRAIL_INTERVENED,
            filters=[_filter(C.CATEGORY_SEXUAL, 0.75, True), _filter(C.CATEGORY_HATE, 0.9, True)],
        ),
    ]
    r = oc.result([text, image], assessments)
    assert r["flagged"] is True
    assert r["categories"]["sexual"] is True and r["category_scores"]["sexual"] == 0.75
    assert r["category_applied_input_types"]["sexual"] == ["text", "image"]
    assert r["categories"]["harassment"] is False and r["category_scores"]["harassment"] == 0.25
    # OpenAI applies hate to text only: an image's HATE verdict flags the input but not "hate".
    assert r["categories"]["hate"] is False and r["category_applied_input_types"]["hate"] == []
    assert r["category_scores"]["self-harm"] == 0 and r["categories"]["violence/graphic"] is False


@pytest.mark.parametrize(
    "status,http,type_",
    [
        ("INVALID_ARGUMENT", 400, "invalid_request_error"),
        ("NOT_FOUND", 404, "invalid_request_error"),
        ("RESOURCE_EXHAUSTED", 429, "rate_limit_error"),
        ("UNAVAILABLE", 503, "server_error"),
        ("INTERNAL", 500, "server_error"),
    ],
)
def test_error_bodies_are_openai_shaped(status, http, type_):
    body = oc.error_body(http, status, "why")
    assert set(body) == {"error"} and body["error"]["message"] == "why" and body["error"]["type"] == type_
    assert set(body["error"]) == {"message", "type", "param", "code"}
