"""Input limits: every violation is INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the image and the limit,
bombs are refused before decoding, corrupt bytes never crash, and nothing runs until the whole request passed."""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from PIL import Image

from safegen.core.types import Source
from safegen.errors import InvalidArgument, ResourceExhausted
from safegen.training import synthetic_images as synthetic
from safegen.image.limits import MB, ImageLimits, RateLimiter, check_header, sniff_format, validate_images
from safegen.image.moderator import ImageModerator

from image_helpers import jpeg, png


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header_only(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR claims width x height (8-bit grey), with the given IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bomb(side: int) -> bytes:
    """A real decompression bomb: side x side grey zeros deflate to a few hundred KB."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    return png_header_only(side, side, b"".join(parts))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 header is patched to claim width x height."""
    data = bytearray(jpeg(size=(32, 32)))
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


BOMB = png_bomb(9000)  # 81 megapixels: over the 64-megapixel (8000x8000) limit, 80 KB on the wire


@pytest.mark.parametrize(
    "name, data, error, fragment",
    [
        ("empty", b"", InvalidArgument, "images[0]: empty image"),
        ("gif", b"GIF89a" + b"\x00" * 40, InvalidArgument, "images[0]: unsupported format (GIF data)"),
        ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", InvalidArgument, "unsupported format (RIFF/WebP data)"),
        ("bmp", b"BM" + b"\x00" * 60, InvalidArgument, "unsupported format (BMP data)"),
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", InvalidArgument, "unsupported format (SVG data)"),
        ("text", b"hello world, not an image", InvalidArgument, "only PNG and JPEG are accepted"),
        (
            "too many bytes",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * (4 * MB),
            InvalidArgument,
            "images[0]: 4,194,312 bytes exceeds the 4 MB (4,194,304 bytes) limit",
        ),
        (
            "png too wide",
            png_header_only(8001, 10),
            InvalidArgument,
            "images[0]: 8001x10 pixels exceeds the 8000x8000 pixel limit (refused before decoding)",
        ),
        ("png too tall", png_header_only(10, 9000), InvalidArgument, "10x9000 pixels exceeds the 8000x8000"),
        (
            "png bomb",
            BOMB,
            InvalidArgument,
            "9000x9000 pixels exceeds the 8000x8000 pixel limit (refused before decoding)",
        ),
        (
            "png giant bomb header",
            png_header_only(100_000, 100_000),
            InvalidArgument,
            "decompression bomb refused before decoding",
        ),
        ("jpeg too big", jpeg_with_size(9000, 9000), InvalidArgument, "9000x9000 pixels exceeds"),
        ("png magic only", b"\x89PNG\r\n\x1a\n", InvalidArgument, "images[0]: corrupt PNG header"),
        (
            "png bad ihdr crc",
            b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 17,
            InvalidArgument,
            "corrupt PNG header",
        ),
        ("jpeg magic only", b"\xff\xd8\xff", InvalidArgument, "images[0]: corrupt JPEG header"),
        ("truncated png", png(size=(128, 128))[:400], InvalidArgument, "images[0]: corrupt or truncated PNG data"),
        (
            "truncated jpeg",
            jpeg(synthetic.noise_texture(3, 256))[:3000],
            InvalidArgument,
            "corrupt or truncated JPEG data",
        ),
        ("png zero idat", png_header_only(64, 64, b"\x00" * 50), InvalidArgument, "corrupt or truncated PNG data"),
    ],
)
def test_each_bad_image_gets_its_error(name, data, error, fragment):
    with pytest.raises(error) as e:
        validate_images([data], ImageLimits())
    assert fragment in e.value.message, e.value.message


def test_bomb_is_refused_quickly_without_decoding():
    t0 = time.perf_counter()
    with pytest.raises(InvalidArgument):
        validate_images([BOMB], ImageLimits())
    # Decoding 81 megapixels would take far longer than reading one header.
    assert time.perf_counter() - t0 < 0.2


def test_limits_at_the_edge_pass():
    ok = validate_images([png_header_only(8000, 1, b"")], ImageLimits(), decode=False)
    assert (ok[0].width, ok[0].height, ok[0].format) == (8000, 1, "PNG")


def test_format_is_judged_by_bytes_not_by_a_claim():
    # The request carries bytes only; a JPEG is a JPEG whatever a file name or a client says.
    assert sniff_format(jpeg()) == "JPEG" and sniff_format(png()) == "PNG"
    v = check_header(0, jpeg(size=(40, 30)), ImageLimits())
    assert (v.format, v.width, v.height) == ("JPEG", 40, 30)


def test_error_names_the_offending_index():
    images = [png(), jpeg(), png(), b"GIF89a" + b"\x00" * 10]
    with pytest.raises(InvalidArgument, match=r"^images\[3\]: unsupported format"):
        validate_images(images, ImageLimits())


@pytest.mark.parametrize(
    "count, fragment",
    [
        (0, "images: at least one image is required"),
        (21, "images: 21 images exceeds the limit of 20 per request"),
    ],
)
def test_image_count_limits(count, fragment):
    with pytest.raises(InvalidArgument, match=fragment.replace("[", r"\[")):
        validate_images([png()] * count, ImageLimits())


def test_twenty_images_pass():
    assert len(validate_images([png()] * 20, ImageLimits())) == 20


def test_nothing_runs_unless_every_image_passes(registry, fake_detector):
    mod = ImageModerator(fake_detector, registry, ImageLimits(rate_per_s=0))
    with pytest.raises(InvalidArgument, match=r"images\[2\]: corrupt or truncated PNG"):
        mod.moderate([png(), jpeg(), png(size=(128, 128))[:300]], Source.OUTPUT)
    assert fake_detector.calls == []
    assert len(mod.moderate([png(), jpeg()], Source.OUTPUT)) == 2 and fake_detector.calls == [2]


def test_transparent_png_is_flattened_for_detection():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    [v] = validate_images([synthetic.encode(rgba)], ImageLimits())
    assert v.working.mode == "RGB" and v.working.getpixel((0, 0)) == (255, 255, 255)


def test_big_images_get_a_small_working_copy():
    big = synthetic.encode(synthetic.gradient(0, 1600), "JPEG")
    [v] = validate_images([big], ImageLimits())
    assert (v.width, v.height) == (1600, 1600) and max(v.working.size) == 512


def test_corrupt_inputs_never_raise_anything_but_invalid_argument():
    """Fuzz: random corruption of valid files is either accepted or INVALID_ARGUMENT, never a crash."""
    import random

    r = random.Random(7)
    seeds = [png(synthetic.landscape(1, 96)), jpeg(synthetic.city(2, 96))]
    for _ in range(300):
        data = bytearray(r.choice(seeds))
        for _ in range(r.randrange(1, 8)):
            pos = r.randrange(8, len(data))
            data[pos] = r.randrange(256)
        if r.random() < 0.3:
            data = data[: r.randrange(8, len(data))]
        try:
            validate_images([bytes(data)], ImageLimits())
        except InvalidArgument as e:
            assert e.message.startswith("images[0]: ")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_rate_limit_is_a_token_bucket():
    clock = Clock()
    rl = RateLimiter(25, capacity=25, clock=clock)
    rl.acquire(20)
    rl.acquire(5)
    with pytest.raises(ResourceExhausted, match=r"images: rate limit of 25 images/s per process exceeded") as e:
        rl.acquire(1)
    assert "retry in 0.04 s" in e.value.message
    clock.t += 0.2  # refills 5 tokens
    rl.acquire(5)
    with pytest.raises(ResourceExhausted, match=r"images: rate limit"):
        rl.acquire(1)
    clock.t += 10  # never above capacity
    rl.acquire(25)
    with pytest.raises(ResourceExhausted):
        rl.acquire(1)


def test_rate_limit_blames_the_request_not_an_image():
    # It used to say "images[3]: ..." as if the fourth image were at fault; the request is over the budget.
    clock = Clock()
    rl = RateLimiter(25, capacity=25, clock=clock)
    rl.acquire(22)
    with pytest.raises(ResourceExhausted, match=r"^images: .*\(5 images in this request, 3 allowed now\)") as e:
        rl.acquire(5)
    assert "images[" not in e.value.message and e.value.retry_after_s == pytest.approx(0.08)


def test_rate_limit_zero_disables():
    rl = RateLimiter(0)
    for _ in range(100):
        rl.acquire(20)


def test_moderator_enforces_the_rate_before_decoding(registry, fake_detector):
    mod = ImageModerator(fake_detector, registry, ImageLimits(rate_per_s=2))
    mod.moderate([png()] * 20, caller="")  # the bucket holds one full request even below 20 images/s
    with pytest.raises(ResourceExhausted, match="rate limit of 2 images/s"):
        mod.moderate([png()], caller="")  # "": outside callers without API keys share one budget
    mod.moderate([png()] * 20)  # in-process callers (caller=None, the default) are not charged
    assert fake_detector.calls == [20, 20]


def test_settings_from_env():
    lim = ImageLimits.from_env({"SAFEGEN_IMAGE_RATE_LIMIT": "5", "SAFEGEN_IMAGE_MAX_IMAGES": "4"})
    assert lim.rate_per_s == 5 and lim.max_images == 4 and lim.max_bytes == 4 * MB
