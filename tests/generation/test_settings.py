"""SAFEGEN_GEN_* settings: parsed and checked at start, and the backend they select."""

from __future__ import annotations

import pytest

from safegen.core.settings import SettingsError
from safegen.generation.backends.bedrock import BedrockBackend
from safegen.generation.backends.sagemaker import SageMakerBackend
from safegen.generation.backends import build_backend
from safegen.generation.settings import BUNDLED_MODEL_DIR, BackendKind, GenerationSettings, SageMakerFormat


def test_defaults_select_the_bundled_model():
    s = GenerationSettings.from_env({})
    assert s.backend == BackendKind.DIFFUSERS and s.model_path == str(BUNDLED_MODEL_DIR)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SAFEGEN_GEN_BACKEND": "dalle"}, "SAFEGEN_GEN_BACKEND"),
        ({"SAFEGEN_GEN_DTYPE": "int8"}, "SAFEGEN_GEN_DTYPE"),
        ({"SAFEGEN_GEN_MAX_QUEUE": "-1"}, "SAFEGEN_GEN_MAX_QUEUE"),
        ({"SAFEGEN_GEN_BACKEND": "sagemaker"}, "SAFEGEN_GEN_SAGEMAKER_ENDPOINT"),
        ({"SAFEGEN_GEN_SAGEMAKER_FORMAT": "xml"}, "SAFEGEN_GEN_SAGEMAKER_FORMAT"),
        ({"SAFEGEN_GEN_BEDROCK_GUARDRAIL_ID": "gr-1"}, "must be set together"),
        ({"SAFEGEN_GEN_BEDROCK_TRACE": "loud"}, "SAFEGEN_GEN_BEDROCK_TRACE"),
    ],
)
def test_bad_settings_stop_the_process_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message):
        GenerationSettings.from_env(env)


def test_remote_backends_are_built_from_settings(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    sm = build_backend(
        GenerationSettings.from_env(
            {
                "SAFEGEN_GEN_BACKEND": "sagemaker",
                "SAFEGEN_GEN_SAGEMAKER_ENDPOINT": "sd21",
                "SAFEGEN_GEN_SAGEMAKER_FORMAT": "stability",
                "SAFEGEN_GEN_REMOTE_MAX_CONCURRENCY": "3",
            }
        )
    )
    assert isinstance(sm, SageMakerBackend) and sm.endpoint == "sd21" and sm.format == SageMakerFormat.STABILITY
    assert sm.max_concurrency == 3 and sm.limits.size_multiple == 64
    br = build_backend(
        GenerationSettings.from_env(
            {
                "SAFEGEN_GEN_BACKEND": "bedrock",
                "SAFEGEN_GEN_BEDROCK_MODEL_ID": "us.amazon.nova-canvas-v1:0",
                "SAFEGEN_GEN_BEDROCK_GUARDRAIL_ID": "gr-1",
                "SAFEGEN_GEN_BEDROCK_GUARDRAIL_VERSION": "DRAFT",
                "SAFEGEN_GEN_BEDROCK_TRACE": "enabled",
            }
        )
    )
    assert isinstance(br, BedrockBackend) and br.family == "titan"
    assert (br.guardrail_id, br.guardrail_version, br.trace) == ("gr-1", "DRAFT", "ENABLED")
    # botocore's own retries are off: ours count the attempts and check cancellation in between.
    assert br.client.meta.config.retries["total_max_attempts"] == 1
