"""The DDIM sampler (eta 0) of the bundled model in numpy, read from its committed scheduler_config.json.

The same arithmetic as diffusers' DDIMScheduler (betas, alphas_cumprod and every step in float32) for
the options the bundled model's config uses; any other value of an option that changes the result is
refused when the config is read, so a retrained model with a new schedule cannot silently sample wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Options that change nothing for eta 0 and epsilon prediction, or only describe the file.
_IGNORED = {
    "_class_name",
    "_diffusers_version",
    "dynamic_thresholding_ratio",
    "sample_max_value",
    "trained_betas",
    "variance_type",
}
_SUPPORTED = {
    "beta_schedule": ("squaredcos_cap_v2", "linear", "scaled_linear"),
    "prediction_type": ("epsilon",),
    "timestep_spacing": ("leading",),
    "thresholding": (False,),
    "rescale_betas_zero_snr": (False,),
}


def _cosine_betas(n: int, max_beta: float = 0.999) -> np.ndarray:
    # diffusers' betas_for_alpha_bar("cosine"): computed in float64, stored as float32.
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)], np.float32)


@dataclass(frozen=True)
class DDIM:
    """Deterministic DDIM: `timesteps(n)` then `step(eps, t, x, n)` for each timestep."""

    alphas_cumprod: np.ndarray  # float32, one per training timestep
    final_alpha_cumprod: np.float32
    num_train_timesteps: int
    steps_offset: int = 0
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    @classmethod
    def from_config_file(cls, path: Path) -> "DDIM":
        return cls.from_config(json.loads(Path(path).read_text()), str(path))

    @classmethod
    def from_config(cls, cfg: dict[str, Any], source: str = "scheduler config") -> "DDIM":
        if cfg.get("_class_name", "DDIMScheduler") != "DDIMScheduler":
            raise ValueError(f"{source}: the onnxruntime sampler implements DDIMScheduler, not {cfg['_class_name']}")
        for key, allowed in _SUPPORTED.items():
            if key in cfg and cfg[key] not in allowed:
                raise ValueError(
                    f"{source}: {key}={cfg[key]!r} is not implemented by the onnxruntime sampler "
                    f"(supported: {', '.join(map(repr, allowed))}); run the model through diffusers"
                )
        known = (
            _IGNORED
            | set(_SUPPORTED)
            | {
                "num_train_timesteps",
                "beta_start",
                "beta_end",
                "clip_sample",
                "clip_sample_range",
                "set_alpha_to_one",
                "steps_offset",
            }
        )
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"{source}: unknown DDIM options {', '.join(unknown)}; run the model through diffusers")
        if cfg.get("trained_betas") is not None:
            raise ValueError(f"{source}: trained_betas are not implemented by the onnxruntime sampler")
        n = int(cfg.get("num_train_timesteps", 1000))
        schedule = cfg.get("beta_schedule", "linear")
        start, end = float(cfg.get("beta_start", 0.0001)), float(cfg.get("beta_end", 0.02))
        if schedule == "squaredcos_cap_v2":
            betas = _cosine_betas(n)
        elif schedule == "linear":
            betas = np.linspace(start, end, n, dtype=np.float32)
        else:  # scaled_linear
            betas = np.linspace(start**0.5, end**0.5, n, dtype=np.float32) ** 2
        alphas_cumprod = np.cumprod(np.float32(1.0) - betas, dtype=np.float32)
        final = np.float32(1.0) if cfg.get("set_alpha_to_one", True) else alphas_cumprod[0]
        return cls(
            alphas_cumprod,
            np.float32(final),
            n,
            int(cfg.get("steps_offset", 0)),
            bool(cfg.get("clip_sample", True)),
            float(cfg.get("clip_sample_range", 1.0)),
        )

    def timesteps(self, num_steps: int) -> np.ndarray:
        """The "leading" spacing: 0, r, 2r, ... (r = train steps // num_steps), highest first."""
        if not 1 <= num_steps <= self.num_train_timesteps:
            raise ValueError(f"num_steps={num_steps}: allowed 1 to {self.num_train_timesteps}")
        ratio = self.num_train_timesteps // num_steps
        return (np.arange(num_steps, dtype=np.int64) * ratio)[::-1].copy() + self.steps_offset

    def step(self, eps: np.ndarray, t: int, sample: np.ndarray, num_steps: int) -> np.ndarray:
        """x_{t-1} from x_t and the predicted noise (float32 throughout, as diffusers computes it)."""
        prev_t = t - self.num_train_timesteps // num_steps
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        one = np.float32(1.0)
        x0 = (sample - (one - a_t) ** np.float32(0.5) * eps) / a_t ** np.float32(0.5)
        if self.clip_sample:
            x0 = np.clip(x0, -self.clip_sample_range, self.clip_sample_range)
        direction = (one - a_prev) ** np.float32(0.5) * eps
        prev: np.ndarray = (a_prev ** np.float32(0.5) * x0 + direction).astype(np.float32, copy=False)
        return prev
