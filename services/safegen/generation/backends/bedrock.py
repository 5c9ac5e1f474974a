"""The Bedrock backend: `bedrock-runtime InvokeModel` for Stability image models and Titan/Nova Canvas.

- Stability (`stability.sd3-large-v1:0`, `stability.stable-image-core-v1:*`, ...):
  {"prompt", "negative_prompt", "mode": "text-to-image", "aspect_ratio", "seed", "output_format": "png"}
  -> {"images": [base64], "seeds": [...], "finish_reasons": [null | "Filter reason: ..."]}.
  These models pick their own size from the aspect ratio and their own steps and guidance.
- Titan Image Generator / Nova Canvas (`amazon.titan-image-generator-v2:0`, `amazon.nova-canvas-v1:0`):
  {"taskType": "TEXT_IMAGE", "textToImageParams": {"text", "negativeText"}, "imageGenerationConfig":
  {"numberOfImages", "width", "height", "cfgScale", "seed", "quality"}} -> {"images": [base64], "error"}.

A Bedrock guardrail (guardrailIdentifier/guardrailVersion) or the model's own content filter blocking
the output is a verdict (`intervened`), not an error: the caller asked a legitimate question and got
a legitimate "no".
"""

from __future__ import annotations

import json

from safegen.core.settings import SettingsError
from safegen.errors import InvalidArgument, Unavailable
from safegen.generation.backends.base import GenerationBackend
from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, Limits, ProgressFn
from safegen.generation.backends.aws import aws_client, call_with_retries, decode_image

#: Stability's accepted aspect ratios on Bedrock.
ASPECT_RATIOS = {
    "16:9": 16 / 9,
    "1:1": 1.0,
    "21:9": 21 / 9,
    "2:3": 2 / 3,
    "3:2": 3 / 2,
    "4:5": 4 / 5,
    "5:4": 5 / 4,
    "9:16": 9 / 16,
    "9:21": 9 / 21,
}

_STABILITY_LIMITS = Limits(
    min_size=64,
    max_size=4096,
    default_width=1024,
    default_height=1024,
    min_steps=1,
    max_steps=150,
    default_steps=30,
    max_images=4,
    max_prompt_chars=10_000,
    max_negative_prompt_chars=10_000,
    default_guidance=7.0,
)
# Titan: text and negativeText at most 512 characters each, cfgScale 1.1-10, 1-5 images.
_TITAN_LIMITS = Limits(
    min_size=320,
    max_size=4096,
    size_multiple=16,
    default_width=1024,
    default_height=1024,
    min_steps=1,
    max_steps=150,
    default_steps=30,
    max_images=5,
    max_prompt_chars=512,
    max_negative_prompt_chars=512,
    min_guidance=1.1,
    max_guidance=10.0,
    default_guidance=8.0,
)
_TITAN_NEGATIVE_MAX = 512
_TITAN_MAX_PIXELS = 4_194_304
_FILTERED_MARKERS = ("blocked by our content filters", "content filter")


def model_family(model_id: str) -> str:
    """ "stability" or "titan" from a Bedrock model id (inference-profile prefixes like "us." allowed)."""
    base = model_id.split(":")[0]
    for prefix in ("us.", "eu.", "apac.", "global."):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    if base.startswith("stability.") and "stable-diffusion-xl" not in base:
        return "stability"
    if base.startswith("amazon.titan-image-generator") or base.startswith("amazon.nova-canvas"):
        return "titan"
    raise SettingsError(
        f"SAFEGEN_GEN_BEDROCK_MODEL_ID={model_id!r} is not supported: use a Stability image model (e.g. stability.sd3-large-v1:0) "
        f"or Titan Image Generator / Nova Canvas (e.g. amazon.titan-image-generator-v2:0)"
    )


def nearest_aspect_ratio(width: int, height: int) -> str:
    r = width / height
    return min(ASPECT_RATIOS, key=lambda k: abs(ASPECT_RATIOS[k] - r))


def fit_terms(text: str, limit: int) -> tuple[str, bool]:
    """Keeps whole comma-separated terms (caller's first) up to `limit` characters; True if some were cut."""
    if len(text) <= limit:
        return text, False
    kept: list[str] = []
    for term in text.split(", "):
        if len(", ".join(kept + [term])) > limit:
            break
        kept.append(term)
    return ", ".join(kept), True


def _guardrail_reason(body: dict) -> str:
    """A short description of what a Bedrock guardrail blocked, from the trace when present."""
    found: list[str] = []
    trace = body.get("amazon-bedrock-trace") or {}
    guard = trace.get("guardrail") or {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("action") in ("BLOCKED", "ANONYMIZED") and ("type" in node or "name" in node):
                found.append(str(node.get("type") or node.get("name")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(guard)
    what = ", ".join(sorted(set(found)))
    return "Bedrock guardrail intervened" + (f" ({what})" if what else "")


class BedrockBackend(GenerationBackend):
    name = "bedrock"

    def __init__(
        self,
        client,
        model_id: str,
        *,
        guardrail_id: str = "",
        guardrail_version: str = "",
        trace: str = "",
        max_concurrency: int = 4,
        retry_attempts: int = 4,
        retry_base_delay: float = 0.5,
    ):
        self.client = client
        self._model_id = model_id
        self.family = model_family(model_id)
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        self.trace = trace
        self.max_concurrency = max_concurrency
        self.retry_attempts = retry_attempts
        self.retry_base_delay = retry_base_delay

    @classmethod
    def from_settings(cls, settings) -> "BedrockBackend":
        return cls(
            aws_client("bedrock-runtime"),
            settings.bedrock_model_id,
            guardrail_id=settings.bedrock_guardrail_id,
            guardrail_version=settings.bedrock_guardrail_version,
            trace=settings.bedrock_trace,
            max_concurrency=settings.remote_max_concurrency,
            retry_attempts=settings.retry_attempts,
            retry_base_delay=settings.retry_base_delay_s,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def limits(self) -> Limits:
        return _STABILITY_LIMITS if self.family == "stability" else _TITAN_LIMITS

    # --- request bodies -------------------------------------------------------------------------

    def stability_body(self, req: GenerationRequest, seed: int) -> dict:
        body = {
            "prompt": req.prompt,
            "mode": "text-to-image",
            "aspect_ratio": nearest_aspect_ratio(req.width, req.height),
            "seed": seed,
            "output_format": "png",
        }
        if req.negative_prompt:
            body["negative_prompt"] = req.negative_prompt
        return body

    def titan_body(self, req: GenerationRequest, seed: int, negative: str) -> dict:
        params = {"text": req.prompt}
        if negative:
            params["negativeText"] = negative  # Titan rejects an empty negativeText
        return {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": params,
            "imageGenerationConfig": {
                "numberOfImages": 1,
                "width": req.width,
                "height": req.height,
                "cfgScale": req.guidance_scale,
                "seed": seed,
                "quality": "standard",
            },
        }

    # --- invocation -----------------------------------------------------------------------------

    def _invoke(self, body: dict, cancel: CancelToken) -> dict | str:
        """Returns the parsed body, or the string "FILTERED:<message>" when the model's filter refused."""
        from botocore.exceptions import ClientError

        what = f"Bedrock InvokeModel ({self.model_id})"
        kwargs = {
            "modelId": self.model_id,
            "body": json.dumps(body).encode(),
            "contentType": "application/json",
            "accept": "application/json",
        }
        if self.guardrail_id:
            kwargs["guardrailIdentifier"] = self.guardrail_id
            kwargs["guardrailVersion"] = self.guardrail_version
        if self.trace:
            kwargs["trace"] = self.trace

        def call():
            try:
                return self.client.invoke_model(**kwargs)["body"].read()
            except ClientError as exc:
                err = exc.response.get("Error", {})
                # Titan and Nova refuse filtered prompts/outputs with a ValidationException: a verdict.
                if err.get("Code") == "ValidationException" and any(
                    m in err.get("Message", "").lower() for m in _FILTERED_MARKERS
                ):
                    return ("FILTERED:" + err.get("Message", "")).encode()
                raise

        raw = call_with_retries(
            call, what, attempts=self.retry_attempts, base_delay=self.retry_base_delay, cancel=cancel
        )
        if raw.startswith(b"FILTERED:"):
            return raw.decode()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise Unavailable(f"{what} returned a body that is not JSON: {raw[:80]!r}") from exc

    def generate(self, req: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken) -> GenerationResult:
        what = f"Bedrock model {self.model_id}"
        notes: list[str] = []
        negative = req.negative_prompt
        if self.family == "stability":
            ratio = nearest_aspect_ratio(req.width, req.height)
            notes.append(
                f"{self.model_id} chooses its own size, steps and guidance; "
                f"{req.width}x{req.height} was sent as aspect ratio {ratio}"
            )
        else:
            if req.width * req.height > _TITAN_MAX_PIXELS:
                raise InvalidArgument(
                    f"width x height = {req.width * req.height} pixels: allowed at most "
                    f"{_TITAN_MAX_PIXELS} for {self.model_id}"
                )
            negative, cut = fit_terms(negative, _TITAN_NEGATIVE_MAX)
            if cut:
                notes.append(
                    f"the negative prompt was cut to {_TITAN_NEGATIVE_MAX} characters (Titan's limit); "
                    f"terms after the first {len(negative.split(', ')) if negative else 0} were dropped"
                )
            notes.append(f"{self.model_id} does not take a step count; steps={req.steps} was not used")

        images: list[bytes] = []
        seeds: list[int] = []
        reasons: list[str] = []
        for i in range(req.num_images):
            seed = req.seed + i
            body = (
                self.stability_body(req, seed) if self.family == "stability" else self.titan_body(req, seed, negative)
            )
            out = self._invoke(body, cancel)
            if isinstance(out, str):
                reasons.append(f"{self.model_id} content filter: {out[len('FILTERED:') :]}")
                continue
            if out.get("amazon-bedrock-guardrailAction") == "INTERVENED":
                reasons.append(_guardrail_reason(out))
                continue
            if self.family == "stability":
                finish = [r for r in (out.get("finish_reasons") or []) if r]
                filtered = [r for r in finish if str(r).startswith("Filter reason")]
                if filtered:
                    reasons.append(f"{self.model_id} content filter: {filtered[0]}")
                    continue
                if finish:
                    raise Unavailable(f"{what} failed: {finish[0]}")
            elif out.get("error"):
                raise Unavailable(f"{what} failed: {out['error']}")
            encoded = out.get("images") or []
            if not encoded:
                raise Unavailable(f"{what} returned no images (keys: {sorted(out)})")
            images.append(decode_image(encoded[0], what))
            seeds.append(int((out.get("seeds") or [seed])[0]))
        reason = "; ".join(dict.fromkeys(reasons))
        if reasons and images:
            notes.append(f"{len(reasons)} of {req.num_images} images were withheld: {reason}")
        return GenerationResult(
            images=images,
            seeds=seeds,
            model_id=self.model_id,
            backend=self.name,
            negative_prompt=negative,
            negative_prompt_applied=True,
            notes=notes,
            intervened=bool(reasons) and not images,
            intervention_reason=reason if not images else "",
        )
