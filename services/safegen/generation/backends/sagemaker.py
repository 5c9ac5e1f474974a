"""The SageMaker backend: a Stable Diffusion endpoint behind `sagemaker-runtime InvokeEndpoint`.

Two request/response formats:
- `jumpstart` (JumpStart Stable Diffusion 1.x/2.x, the reference design): JSON
  {"prompt", "negative_prompt", "width", "height", "num_images_per_prompt", "num_inference_steps",
  "guidance_scale", "seed"} with Accept `application/json;jpeg` -> {"generated_images": [base64 JPEG],
  "prompt": ...}.
- `stability` (Stability SDXL containers): {"text_prompts": [{"text", "weight"}], "cfg_scale", "steps",
  "seed", "width", "height", "samples"} -> {"artifacts": [{"base64", "seed", "finishReason"}]}.
One invocation per image with seed + i, so every image is reproducible from its own seed. An endpoint
reports no denoising progress, so a stream from this backend carries only the final result.
"""

from __future__ import annotations

import json

from safegen.errors import Unavailable
from safegen.generation.backends.base import GenerationBackend
from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, Limits, ProgressFn
from safegen.generation.backends.aws import aws_client, call_with_retries, decode_image
from safegen.generation.settings import SageMakerFormat

_LIMITS = {
    # SD 2.1 base: 512 native; sizes up to 1024 work on a 16 GB GPU.
    SageMakerFormat.JUMPSTART: Limits(
        min_size=128,
        max_size=1024,
        default_width=512,
        default_height=512,
        default_steps=50,
        max_steps=150,
        max_images=4,
        default_guidance=7.5,
        max_guidance=20.0,
    ),
    # SDXL: sizes in steps of 64 around one megapixel.
    SageMakerFormat.STABILITY: Limits(
        min_size=512,
        max_size=1536,
        size_multiple=64,
        default_width=1024,
        default_height=1024,
        min_steps=10,
        max_steps=50,
        default_steps=30,
        max_images=4,
        default_guidance=7.0,
        max_guidance=35.0,
    ),
}


class SageMakerBackend(GenerationBackend):
    name = "sagemaker"

    def __init__(
        self,
        client,
        endpoint: str,
        fmt: SageMakerFormat = SageMakerFormat.JUMPSTART,
        *,
        model_id: str = "jumpstart-sd-2-1",
        max_concurrency: int = 4,
        retry_attempts: int = 4,
        retry_base_delay: float = 0.5,
    ):
        self.client = client
        self.endpoint = endpoint
        self.format = fmt
        self._model_id = model_id
        self.max_concurrency = max_concurrency
        self.retry_attempts = retry_attempts
        self.retry_base_delay = retry_base_delay

    @classmethod
    def from_settings(cls, settings) -> "SageMakerBackend":
        return cls(
            aws_client("sagemaker-runtime"),
            settings.sagemaker_endpoint,
            settings.sagemaker_format,
            model_id=settings.sagemaker_model_id,
            max_concurrency=settings.remote_max_concurrency,
            retry_attempts=settings.retry_attempts,
            retry_base_delay=settings.retry_base_delay_s,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def limits(self) -> Limits:
        return _LIMITS[self.format]

    def request_body(self, req: GenerationRequest, seed: int) -> dict:
        if self.format == SageMakerFormat.JUMPSTART:
            body = {
                "prompt": req.prompt,
                "width": req.width,
                "height": req.height,
                "num_images_per_prompt": 1,
                "num_inference_steps": req.steps,
                "guidance_scale": req.guidance_scale,
                "seed": seed,
            }
            if req.negative_prompt:
                body["negative_prompt"] = req.negative_prompt
            return body
        prompts = [{"text": req.prompt, "weight": 1.0}]
        if req.negative_prompt:
            # A negative weight is how the Stability API spells a negative prompt.
            prompts.append({"text": req.negative_prompt, "weight": -1.0})
        return {
            "text_prompts": prompts,
            "width": req.width,
            "height": req.height,
            "cfg_scale": req.guidance_scale,
            "steps": req.steps,
            "seed": seed,
            "samples": 1,
        }

    def _invoke(self, body: dict, cancel: CancelToken) -> dict:
        accept = "application/json;jpeg" if self.format == SageMakerFormat.JUMPSTART else "application/json"
        what = f"SageMaker InvokeEndpoint ({self.endpoint})"

        def call():
            resp = self.client.invoke_endpoint(
                EndpointName=self.endpoint,
                ContentType="application/json",
                Accept=accept,
                Body=json.dumps(body).encode(),
            )
            return resp["Body"].read()

        raw = call_with_retries(
            call, what, attempts=self.retry_attempts, base_delay=self.retry_base_delay, cancel=cancel
        )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise Unavailable(f"{what} returned a body that is not JSON: {raw[:80]!r}") from exc

    def generate(self, req: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken) -> GenerationResult:
        what = f"SageMaker endpoint {self.endpoint}"
        images, seeds, notes = [], [], []
        intervened, reason = False, ""
        for i in range(req.num_images):
            seed = req.seed + i
            out = self._invoke(self.request_body(req, seed), cancel)
            if self.format == SageMakerFormat.JUMPSTART:
                encoded = out.get("generated_images")
                if not isinstance(encoded, list) or not encoded:
                    raise Unavailable(f"{what} returned no generated_images (keys: {sorted(out)})")
                images.append(decode_image(encoded[0], what))
                seeds.append(seed)
            else:
                artifacts = out.get("artifacts")
                if not isinstance(artifacts, list) or not artifacts:
                    raise Unavailable(f"{what} returned no artifacts (keys: {sorted(out)})")
                art = artifacts[0]
                finish = art.get("finishReason") or "SUCCESS"
                if finish == "CONTENT_FILTERED":
                    intervened, reason = True, "the endpoint's content filter blocked the output"
                    continue
                if finish == "ERROR":
                    raise Unavailable(f"{what} reported an inference error")
                images.append(decode_image(art.get("base64", ""), what))
                seeds.append(int(art.get("seed", seed)))
        if intervened:
            notes.append(reason)
        return GenerationResult(
            images=images,
            seeds=seeds,
            model_id=self.model_id,
            backend=self.name,
            negative_prompt=req.negative_prompt,
            negative_prompt_applied=True,
            notes=notes,
            intervened=intervened and not images,
            intervention_reason=reason,
        )
