"""`torch.randn` on a CPU `torch.Generator`, reproduced in numpy, so a seed draws the same image without torch.

The bundled model's images have always been drawn from `torch.Generator().manual_seed(seed + i)`;
the onnxruntime path keeps that mapping (a seed a caller saved still gives its image) by replaying
what torch does on CPU for a float32 tensor of at least 16 elements: Mersenne Twister MT19937 seeded
with init_genrand(seed) (numpy's legacy RandomState seeding is the same), one 32-bit output per
element turned into a uniform in [0, 1) from its low 24 bits, then Box-Muller on each block of 16
(u1 = 1 - u[j], u2 = u[j + 8] for j < 8); when the size is not a multiple of 16, 16 more uniforms
are drawn for the last 16 elements. The values agree with torch's to about 1e-6 (torch computes log/cos in float32).
"""

from __future__ import annotations

import numpy as np


def _uniform(rs: np.random.RandomState, n: int) -> np.ndarray:
    # A full-range uint32 draw is one raw MT19937 output each (no rejection), as torch's random() is.
    raw = rs.randint(0, 2**32, size=n, dtype=np.uint32)
    return (raw & 0xFFFFFF).astype(np.float64) / (1 << 24)


def _box_muller_16(u: np.ndarray) -> np.ndarray:
    """Rows of 16 uniforms -> rows of 16 standard normals, in torch's normal_fill_16 layout."""
    u1 = 1.0 - u[:, :8].astype(np.float32).astype(np.float64)
    radius = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u[:, 8:]
    return np.concatenate([radius * np.cos(theta), radius * np.sin(theta)], axis=1)


def torch_randn(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normals equal (to ~1e-6) to `torch.randn(shape, generator=Generator().manual_seed(seed))`."""
    n = int(np.prod(shape))
    if n < 16:
        raise ValueError(f"torch draws tensors under 16 elements another way; got shape {shape}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed {seed} is outside 0..2**32-1")
    rs = np.random.RandomState(seed)
    full = n // 16 * 16
    out = np.empty(n, np.float64)
    u = _uniform(rs, n)  # torch draws a uniform for every element first, the tail included
    out[:full] = _box_muller_16(u[:full].reshape(-1, 16)).reshape(-1)
    if n != full:
        out[n - 16 :] = _box_muller_16(_uniform(rs, 16).reshape(1, 16)).reshape(-1)
    return out.astype(np.float32).reshape(shape)
