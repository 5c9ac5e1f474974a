"""With API keys configured, each drop-in SDK sends its key the way docs/http-api.md says, and a missing
key is refused with the status the SDK raises for it."""

from __future__ import annotations

import boto3
import openai
import pytest
from azure.ai.contentsafety import ContentSafetyClient
from azure.ai.contentsafety.models import AnalyzeTextOptions
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from botocore.config import Config
from botocore.exceptions import ClientError

from safegen.core import auth
from safegen.core.auth import Guard, KeyStore, hash_key

from .compat_support import BENIGN, real_stack

KEY = "sk-compat-test"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keys.yaml"
    path.write_text(
        f"keys:\n  - id: compat\n    sha256: {hash_key(KEY)}\n    services: [safegen.v1.GuardrailService]\n"
    )
    mp = pytest.MonkeyPatch()
    mp.setattr(auth, "_process_guard", Guard(KeyStore(path, check_interval_s=0)))
    try:
        with real_stack() as s:
            yield s
    finally:
        mp.undo()


def test_openai_sends_its_api_key_as_bearer(stack):
    client = openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key=KEY, max_retries=0)
    assert client.moderations.create(input=BENIGN).results[0].flagged is False
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key="sk-wrong", max_retries=0).moderations.create(
            input=BENIGN
        )


def _bedrock(stack, key: str | None):
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=stack.base_url,
        region_name="us-east-1",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=Config(retries={"max_attempts": 1}),
    )
    if key is not None:
        # SigV4 carries no safegen key: replace the signed Authorization header with the key.
        def bearer(request, **_):
            request.headers["Authorization"] = f"Bearer {key}"

        client.meta.events.register("before-send.bedrock-runtime.ApplyGuardrail", bearer)
    return client


def test_boto3_sends_the_key_from_a_before_send_hook(stack):
    args = dict(
        guardrailIdentifier="default", guardrailVersion="DRAFT", source="INPUT", content=[{"text": {"text": BENIGN}}]
    )
    assert _bedrock(stack, KEY).apply_guardrail(**args)["action"] == "NONE"
    with pytest.raises(ClientError) as e:
        _bedrock(stack, None).apply_guardrail(**args)  # a SigV4 signature is not a key
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_azure_sends_the_key_as_a_header(stack):
    client = ContentSafetyClient(stack.base_url, AzureKeyCredential("unused"), retry_total=0)
    r = client.analyze_text(AnalyzeTextOptions(text=BENIGN), headers={"Authorization": f"Bearer {KEY}"})
    assert {c.severity for c in r.categories_analysis} == {0}
    with pytest.raises(ClientAuthenticationError):
        client.analyze_text(AnalyzeTextOptions(text=BENIGN))  # Ocp-Apim-Subscription-Key is not a key
