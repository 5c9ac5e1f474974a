"""Input limits for images: format by magic bytes, size, pixel count, bombs, count per request, rate.

Everything here runs before any detector: a request is validated whole (every image) first, so a
bad image never leaves half the work done. Headers are read without decoding pixels, and a decoded
working copy is made only once every header passed. Errors name the image index and the limit.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from PIL import Image

from safegen.core.settings import Env
from safegen.errors import InvalidArgument, ResourceExhausted

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

MB = 1024 * 1024
#: The longest side of the working copy the local detectors see; bigger images are downscaled once.
WORKING_SIDE = 512


@dataclass(frozen=True)
class ImageLimits:
    """Per-request and per-image limits (Rekognition's own image limit is 5 MB; ours is stricter)."""

    max_bytes: int = 4 * MB
    max_width: int = 8000
    max_height: int = 8000
    max_images: int = 20
    rate_per_s: float = 25.0  # images per second per process; 0 disables

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ImageLimits":
        e = Env(env)
        return cls(
            max_bytes=e.int("SAFEGEN_IMAGE_MAX_BYTES", 4 * MB, 1024, 64 * MB),
            max_width=e.int("SAFEGEN_IMAGE_MAX_SIDE", 8000, 16, 20000),
            max_height=e.int("SAFEGEN_IMAGE_MAX_SIDE", 8000, 16, 20000),
            max_images=e.int("SAFEGEN_IMAGE_MAX_IMAGES", 20, 1, 100),
            rate_per_s=e.float("SAFEGEN_IMAGE_RATE_LIMIT", 25.0, 0.0, 10_000.0),
        )

    @property
    def max_pixels(self) -> int:
        return self.max_width * self.max_height


@dataclass
class ValidImage:
    """An image that passed every limit: its bytes, what the bytes are, and a small decoded RGB copy."""

    index: int
    data: bytes
    format: str  # "PNG" or "JPEG"
    width: int
    height: int
    working: Image.Image | None = field(default=None, repr=False)  # RGB, longest side <= WORKING_SIDE


def _bytes_text(n: int) -> str:
    return f"{n:,} bytes"


def sniff_format(data: bytes) -> str | None:
    """The format the bytes really are (never a claimed one): "PNG", "JPEG" or None."""
    if data.startswith(PNG_MAGIC):
        return "PNG"
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    return None


def _describe_magic(data: bytes) -> str:
    known = {b"GIF8": "GIF", b"RIFF": "RIFF/WebP", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
             b"%PDF": "PDF", b"<svg": "SVG", b"<?xm": "XML/SVG"}
    for magic, name in known.items():
        if data.startswith(magic):
            return f"{name} data"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "HEIF/AVIF data"
    return f"data starting with {data[:8].hex(' ') or 'nothing'}"


def check_header(index: int, data: bytes, limits: ImageLimits) -> ValidImage:
    """Checks one image's bytes: size, format by magic, and header dimensions, without decoding pixels."""
    where = f"images[{index}]"
    if not data:
        raise InvalidArgument(f"{where}: empty image; send PNG or JPEG bytes")
    if len(data) > limits.max_bytes:
        raise InvalidArgument(
            f"{where}: {_bytes_text(len(data))} exceeds the {limits.max_bytes / MB:g} MB "
            f"({_bytes_text(limits.max_bytes)}) limit")
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidArgument(f"{where}: unsupported format ({_describe_magic(data)}); only PNG and JPEG are accepted, "
                              f"judged by the file's bytes")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own MAX_IMAGE_PIXELS; we apply our stricter limit just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Image.open reads only the header: width and height are known before any pixel is decoded.
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
    except Image.DecompressionBombError as e:
        raise InvalidArgument(f"{where}: decompression bomb refused before decoding ({e})") from None
    except Exception as e:  # noqa: BLE001 - any parser failure on hostile bytes is the caller's bad input
        raise InvalidArgument(f"{where}: corrupt {fmt} header: {e}") from None
    if width <= 0 or height <= 0:
        raise InvalidArgument(f"{where}: {fmt} header gives an empty size {width}x{height}")
    if width > limits.max_width or height > limits.max_height:
        raise InvalidArgument(
            f"{where}: {width}x{height} pixels exceeds the {limits.max_width}x{limits.max_height} pixel limit "
            f"(refused before decoding)")
    return ValidImage(index, data, fmt, width, height)


def decode_working(img: ValidImage, side: int = WORKING_SIDE) -> Image.Image:
    """Decodes fully (so truncation is caught here) into an RGB copy whose longest side is at most `side`."""
    where = f"images[{img.index}]"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(img.data), formats=[img.format]) as im:
                if img.format == "JPEG":
                    # DCT scaling: decode big JPEGs at 1/2..1/8 size directly, far cheaper than full decode.
                    im.draft("RGB", (side, side))
                im.load()
                rgb = _to_rgb(im)
    except Exception as e:  # noqa: BLE001 - truncated/corrupt data must never crash a worker
        raise InvalidArgument(f"{where}: corrupt or truncated {img.format} data: {e}") from None
    if max(rgb.size) > side:
        rgb.thumbnail((side, side), Image.BILINEAR, reducing_gap=2.0)
    return rgb


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Composite over white, as a viewer would show it: the detector judges what a person sees.
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def check_count(images: Sequence[bytes], limits: ImageLimits) -> None:
    if not images:
        raise InvalidArgument("images: at least one image is required")
    if len(images) > limits.max_images:
        raise InvalidArgument(f"images: {len(images)} images exceeds the limit of {limits.max_images} per request")


def validate_images(images: Sequence[bytes], limits: ImageLimits, decode: bool = True) -> list[ValidImage]:
    """Validates a whole request: count first, then every header, then every decode; detectors run after."""
    check_count(images, limits)
    valid = [check_header(i, data, limits) for i, data in enumerate(images)]
    if decode:
        for v in valid:
            v.working = decode_working(v)
    return valid


class RateLimiter:
    """A per-process token bucket in images per second. Non-blocking: over the limit is RESOURCE_EXHAUSTED.

    The bucket holds at least one full request (max_images) so a legal request can always pass
    once the bucket has refilled, even when the configured rate is below the per-request limit.
    """

    def __init__(self, rate_per_s: float, capacity: float | None = None, clock=time.monotonic):
        self.rate = float(rate_per_s)
        self.capacity = float(capacity if capacity is not None else max(rate_per_s, 1.0))
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int) -> None:
        """Takes n tokens or raises ResourceExhausted naming the first image over the limit."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if n <= self._tokens:
                self._tokens -= n
                return
            have = int(self._tokens)
            wait = (n - self._tokens) / self.rate
        raise ResourceExhausted(
            f"images[{have}]: rate limit of {self.rate:g} images/s per process exceeded "
            f"({n} images in this request, {have} allowed now); retry in {wait:.2f} s")
