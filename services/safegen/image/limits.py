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

from safegen.core.ratelimit import TokenBucket
from safegen.core.settings import Env, SettingsError
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
    rate_per_s: float = 25.0  # images per second per caller (API key; one budget without keys); 0 disables
    decode_budget_mb: int = 512  # decoded-image bytes held at once by the whole process
    decode_wait_s: float = 5.0  # how long a decode waits for budget before RESOURCE_EXHAUSTED

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ImageLimits":
        e = Env(env)
        limits = cls(
            max_bytes=e.int("SAFEGEN_IMAGE_MAX_BYTES", 4 * MB, 1024, 64 * MB),
            max_width=e.int("SAFEGEN_IMAGE_MAX_SIDE", 8000, 16, 20000),
            max_height=e.int("SAFEGEN_IMAGE_MAX_SIDE", 8000, 16, 20000),
            max_images=e.int("SAFEGEN_IMAGE_MAX_IMAGES", 20, 1, 100),
            rate_per_s=e.float("SAFEGEN_IMAGE_RATE_LIMIT", 25.0, 0.0, 10_000.0),
            decode_budget_mb=e.int("SAFEGEN_IMAGE_DECODE_BUDGET_MB", 512, 16, 1 << 20),
            decode_wait_s=e.float("SAFEGEN_IMAGE_DECODE_WAIT_SECONDS", 5.0, 0.0, 600.0),
        )
        largest = -(-limits.max_pixels * 4 // MB)
        if limits.decode_budget_mb < largest:
            raise SettingsError(
                f"SAFEGEN_IMAGE_DECODE_BUDGET_MB={limits.decode_budget_mb}: one legal "
                f"{limits.max_width}x{limits.max_height} RGBA PNG decodes to {largest} MB; raise the budget to at "
                f"least that or lower SAFEGEN_IMAGE_MAX_SIDE"
            )
        return limits

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
    decode_bytes: int = 0  # what decoding it holds in memory at its peak (see decode_cost)


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
    known = {
        b"GIF8": "GIF",
        b"RIFF": "RIFF/WebP",
        b"BM": "BMP",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
        b"%PDF": "PDF",
        b"<svg": "SVG",
        b"<?xm": "XML/SVG",
    }
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
            f"({_bytes_text(limits.max_bytes)}) limit"
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidArgument(
            f"{where}: unsupported format ({_describe_magic(data)}); only PNG and JPEG are accepted, "
            f"judged by the file's bytes"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own MAX_IMAGE_PIXELS; we apply our stricter limit just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Image.open reads only the header: width and height are known before any pixel is decoded.
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
                mode = im.mode
    except Image.DecompressionBombError as e:
        raise InvalidArgument(f"{where}: decompression bomb refused before decoding ({e})") from None
    except Exception as e:  # noqa: BLE001 - any parser failure on hostile bytes is the caller's bad input
        raise InvalidArgument(f"{where}: corrupt {fmt} header: {e}") from None
    if width <= 0 or height <= 0:
        raise InvalidArgument(f"{where}: {fmt} header gives an empty size {width}x{height}")
    if width > limits.max_width or height > limits.max_height:
        raise InvalidArgument(
            f"{where}: {width}x{height} pixels exceeds the {limits.max_width}x{limits.max_height} pixel limit "
            f"(refused before decoding)"
        )
    return ValidImage(index, data, fmt, width, height, decode_bytes=decode_cost(fmt, mode, width, height))


def _jpeg_draft_scale(width: int, height: int, side: int) -> int:
    # What Image.draft picks for a (side, side) request: the largest of 8, 4, 2, 1 not above the ratio.
    ratio = min(width // side, height // side)
    return next(s for s in (8, 4, 2, 1) if s <= max(ratio, 1))


def decode_cost(fmt: str, mode: str, width: int, height: int, side: int = WORKING_SIDE) -> int:
    """Bytes a decode of this image holds at its peak: Pillow stores 1 byte per pixel for 1/L/P,
    2 for 16-bit grey and 4 for everything else (RGB included); a JPEG is decoded at its draft scale.
    PNG has no reduced decode: a legal 8000x8000 RGBA PNG costs 256 MB however small its bytes."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    if fmt == "JPEG":
        scale = _jpeg_draft_scale(width, height, side)
        width, height = -(-width // scale), -(-height // scale)
    return width * height * per_pixel


def _shrink(im: Image.Image, side: int) -> Image.Image:
    """A copy whose longest side is between `side` and 2*side, made before any mode conversion so the
    full-size pixels are never copied (a full-size RGBA composite used to cost 4 more copies)."""
    factor = max(im.size) // side
    if factor < 2:
        return im
    if im.mode in ("L", "LA", "RGB", "RGBA", "I", "F", "PA", "CMYK"):
        return im.reduce(factor)  # box filter: every pixel counts, like a thumbnail
    # P, 1, I;16: reduce() does not take these modes; nearest keeps the palette and is still small.
    return im.resize((max(1, im.width // factor), max(1, im.height // factor)), Image.NEAREST)


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
                rgb = _to_rgb(_shrink(im, side))
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

    def __init__(
        self, rate_per_s: float, capacity: float | None = None, clock=time.monotonic, scope: str = "per process"
    ):
        self.rate = float(rate_per_s)
        self.scope = scope
        self.capacity = float(capacity if capacity is not None else max(rate_per_s, 1.0))
        self._bucket = TokenBucket(self.rate, self.capacity, clock) if self.rate > 0 else None

    def acquire(self, n: int) -> None:
        """Takes n tokens or raises ResourceExhausted saying how many would fit now and when to retry."""
        if self._bucket is None:
            return
        wait = self._bucket.take(n)
        if not wait:
            return
        have = int(self._bucket.available())
        # The request is over the budget, not any one image of it: no images[i] here.
        raise ResourceExhausted(
            f"images: rate limit of {self.rate:g} images/s {self.scope} exceeded "
            f"({n} images in this request, {have} allowed now); retry in {wait:.2f} s",
            retry_after_s=wait,
        )


class DecodeBudget:
    """A per-process budget of decoded-image bytes: decoding waits up to `wait_s` for room, then is
    RESOURCE_EXHAUSTED, so concurrent big images cannot add up past the budget (RSS stays bounded)."""

    def __init__(self, budget_bytes: int, wait_s: float = 5.0):
        self.budget = budget_bytes
        self.wait_s = wait_s
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    def acquire(self, n: int, where: str = "images") -> None:
        n = min(n, self.budget)  # one image is always admitted alone (limits are checked at start)
        with self._cond:
            if not self._cond.wait_for(lambda: self._used + n <= self.budget, timeout=self.wait_s):
                raise ResourceExhausted(
                    f"{where}: the decoded-image budget of {self.budget // MB} MB per process is in use by other "
                    f"requests (this image needs {-(-n // MB)} MB decoded); retry shortly",
                    retry_after_s=1.0,
                )
            self._used += n

    def release(self, n: int) -> None:
        n = min(n, self.budget)
        with self._cond:
            self._used = max(0, self._used - n)
            self._cond.notify_all()


def decode_within(img: ValidImage, budget: DecodeBudget | None, side: int = WORKING_SIDE) -> Image.Image:
    """decode_working under the budget (no budget: as decode_working)."""
    if budget is None:
        return decode_working(img, side)
    cost = img.decode_bytes or decode_cost(img.format, "RGBA", img.width, img.height, side)
    budget.acquire(cost, f"images[{img.index}]")
    try:
        return decode_working(img, side)
    finally:
        budget.release(cost)
