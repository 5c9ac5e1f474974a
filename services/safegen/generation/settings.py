"""Image generation settings (SAFEGEN_GEN_*), read from the environment and validated at start."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from safegen.core.settings import Env, SettingsError

#: The bundled shapes model, trained by `python -m safegen.training.bundled.train`.
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "bundled" / "weights"
#: Its text encoder and UNet as ONNX (`python -m safegen.generation.bundled.export`), what serving runs.
BUNDLED_ONNX_DIR = Path(__file__).resolve().parent / "bundled" / "onnx"


class BackendKind(str, enum.Enum):
    DIFFUSERS = "diffusers"
    SAGEMAKER = "sagemaker"
    BEDROCK = "bedrock"


class SageMakerFormat(str, enum.Enum):
    #: JumpStart Stable Diffusion 1.x/2.x: {"prompt", "negative_prompt", ...} -> {"generated_images": [...]}.
    JUMPSTART = "jumpstart"
    #: Stability SDXL containers: {"text_prompts": [{"text", "weight"}], ...} -> {"artifacts": [...]}.
    STABILITY = "stability"


_DTYPES = ("auto", "float32", "float16", "bfloat16")
_TRACE = ("", "ENABLED", "DISABLED", "ENABLED_FULL")


@dataclass(frozen=True)
class GenerationSettings:
    backend: BackendKind = BackendKind.DIFFUSERS
    # --- diffusers (and the bundled model, which is loaded the same way) ---
    #: A local pipeline directory or a model id in the local Hugging Face cache; empty = the bundled model.
    model: str = ""
    device: str = "auto"  # auto (cuda when present), cpu, cuda, cuda:1, ...
    dtype: str = "auto"  # auto (float16 on CUDA, float32 on CPU), float32, float16, bfloat16
    scheduler: str = ""  # a diffusers scheduler class name, e.g. EulerDiscreteScheduler; empty = the model's own
    max_queue: int = 8  # generations waiting for the device before RESOURCE_EXHAUSTED
    torch_threads: int = 0  # 0 leaves torch's default
    # --- request defaults (0 = the backend's own default) ---
    default_width: int = 0
    default_height: int = 0
    default_steps: int = 0
    default_guidance: float = 0.0
    # --- SageMaker ---
    sagemaker_endpoint: str = ""
    sagemaker_format: SageMakerFormat = SageMakerFormat.JUMPSTART
    sagemaker_model_id: str = "jumpstart-sd-2-1"  # only reported back in responses
    # --- Bedrock ---
    bedrock_model_id: str = "stability.sd3-large-v1:0"
    bedrock_guardrail_id: str = ""
    bedrock_guardrail_version: str = ""
    bedrock_trace: str = ""
    # --- remote backends ---
    remote_max_concurrency: int = 4
    retry_attempts: int = 4  # our own retries on throttling, with exponential backoff
    retry_base_delay_s: float = 0.5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "GenerationSettings":
        e = Env(env)
        dtype = e.str("SAFEGEN_GEN_DTYPE", "auto").lower()
        if dtype not in _DTYPES:
            raise SettingsError(f"SAFEGEN_GEN_DTYPE={dtype!r}: expected one of {', '.join(_DTYPES)}")
        trace = e.str("SAFEGEN_GEN_BEDROCK_TRACE").upper()
        if trace not in _TRACE:
            raise SettingsError(f"SAFEGEN_GEN_BEDROCK_TRACE={trace!r}: expected ENABLED, DISABLED or ENABLED_FULL")
        s = cls(
            backend=e.enum("SAFEGEN_GEN_BACKEND", BackendKind, BackendKind.DIFFUSERS),
            model=e.str("SAFEGEN_GEN_MODEL"),
            device=e.str("SAFEGEN_GEN_DEVICE", "auto"),
            dtype=dtype,
            scheduler=e.str("SAFEGEN_GEN_SCHEDULER"),
            max_queue=e.int("SAFEGEN_GEN_MAX_QUEUE", 8, 0, 10_000),
            torch_threads=e.int("SAFEGEN_GEN_TORCH_THREADS", 0, 0, 256),
            default_width=e.int("SAFEGEN_GEN_DEFAULT_WIDTH", 0, 0, 8192),
            default_height=e.int("SAFEGEN_GEN_DEFAULT_HEIGHT", 0, 0, 8192),
            default_steps=e.int("SAFEGEN_GEN_DEFAULT_STEPS", 0, 0, 1000),
            default_guidance=e.float("SAFEGEN_GEN_DEFAULT_GUIDANCE", 0.0, 0.0, 50.0),
            sagemaker_endpoint=e.str("SAFEGEN_GEN_SAGEMAKER_ENDPOINT"),
            sagemaker_format=e.enum("SAFEGEN_GEN_SAGEMAKER_FORMAT", SageMakerFormat, SageMakerFormat.JUMPSTART),
            sagemaker_model_id=e.str("SAFEGEN_GEN_SAGEMAKER_MODEL_ID", "jumpstart-sd-2-1"),
            bedrock_model_id=e.str("SAFEGEN_GEN_BEDROCK_MODEL_ID", "stability.sd3-large-v1:0"),
            bedrock_guardrail_id=e.str("SAFEGEN_GEN_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_GEN_BEDROCK_GUARDRAIL_VERSION"),
            bedrock_trace=trace,
            remote_max_concurrency=e.int("SAFEGEN_GEN_REMOTE_MAX_CONCURRENCY", 4, 1, 1000),
            retry_attempts=e.int("SAFEGEN_GEN_RETRY_ATTEMPTS", 4, 1, 20),
            retry_base_delay_s=e.float("SAFEGEN_GEN_RETRY_BASE_DELAY_SECONDS", 0.5, 0.0, 60.0),
        )
        if s.backend == BackendKind.SAGEMAKER and not s.sagemaker_endpoint:
            raise SettingsError("SAFEGEN_GEN_BACKEND=sagemaker needs SAFEGEN_GEN_SAGEMAKER_ENDPOINT")
        if bool(s.bedrock_guardrail_id) != bool(s.bedrock_guardrail_version):
            raise SettingsError(
                "SAFEGEN_GEN_BEDROCK_GUARDRAIL_ID and SAFEGEN_GEN_BEDROCK_GUARDRAIL_VERSION must be set together"
            )
        return s

    @property
    def model_path(self) -> str:
        return self.model or str(BUNDLED_MODEL_DIR)
