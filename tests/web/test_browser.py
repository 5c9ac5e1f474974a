"""The web page in headless Chromium against the real stack: a safe prompt shows an image, a banned word
shows the refusal, an image the moderation flags shows blurred with its warning.

Real gateway, real text moderation, real bundled generator and real image moderation; the only double
is a detector that calls mostly-red images unsafe, injected for the blurred case (no unsafe imagery
can ship in a test). Screenshots go to artifacts/screenshots/web/.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import RedIsUnsafe

from .stack import run_stack

pytestmark = pytest.mark.tools

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).with_name("browser.mjs")
SCREENSHOTS = REPO / "artifacts" / "screenshots" / "web"

SAFE_PROMPT = "a blue square on a yellow background"
BANNED_PROMPT = "a porn star on a beach"
# An obfuscated banned word after a character outside the BMP: the offsets are code points, and the
# page must mark exactly the obfuscated word (a UTF-16 slip would mark one character off).
OBFUSCATED_PROMPT = "\U0001f334 a p.0.r.n star on a beach"
RED_PROMPT = "a red circle on a white background"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run tests/web/setup.sh (apt chromium + npm ci)"
    if shutil.which("node") is None:
        return "node is missing"
    if not (REPO / "node_modules" / "playwright-core" / "package.json").exists():
        return "node_modules/playwright-core is missing: run tests/web/setup.sh"
    return None


if _missing():
    pytest.skip(_missing(), allow_module_level=True)


def _real_servicers(detector=None) -> list:
    from safegen.image.servicer import create_servicer as image_servicer
    from safegen.policy import GuardrailRegistry
    from safegen.serve import SERVICES, build

    registry = GuardrailRegistry.load()
    # The all-in-one wiring of `safegen serve`, with the detector double as its image moderation.
    return build(
        SERVICES, registry, prebuilt={"image-moderation": image_servicer(registry, detector=detector)}
    ).servicers


def _drive(scenarios: list[dict]) -> dict[str, dict]:
    config = {"screenshotDir": str(SCREENSHOTS), "executablePath": str(CHROMIUM), "scenarios": scenarios}
    proc = subprocess.run(
        ["node", str(SCRIPT), json.dumps(config)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"browser script failed:\n{proc.stderr[-4000:]}"
    return {s["name"]: s for s in json.loads(proc.stdout)["scenarios"]}


@pytest.fixture(scope="module")
def seen() -> dict[str, dict]:
    """Runs every scenario once in one browser (each in a fresh context), against two real stacks.

    Then asks the stack without the detector double, over plain HTTP, for the same prompt and seed
    as each image the page showed: the reference, unblurred, image (generation is seeded)."""
    with run_stack(*_real_servicers()) as real, run_stack(*_real_servicers(RedIsUnsafe())) as red:
        seen = _drive(
            [
                {"name": "safe-prompt", "baseUrl": real.base_url, "prompt": SAFE_PROMPT, "seed": 2},
                {"name": "banned-word-refused", "baseUrl": real.base_url, "prompt": BANNED_PROMPT},
                {"name": "obfuscated-word-refused", "baseUrl": real.base_url, "prompt": OBFUSCATED_PROMPT},
                {"name": "unsafe-image-blurred", "baseUrl": red.base_url, "prompt": RED_PROMPT, "seed": 1},
            ]
        )
        for name, prompt in (("safe-prompt", SAFE_PROMPT), ("unsafe-image-blurred", RED_PROMPT)):
            for card in seen[name]["cards"]:
                status, body = real.json("POST", "/v1/generate", {"prompt": prompt, "seed": card["seed"]})
                assert status == 200 and not body["images"][0]["blurred"]
                card["reference"] = body["images"][0]["data"]
        return seen


def _decode(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")


def _common(s: dict) -> None:
    assert s["state"] == "done", s.get("error")
    assert s["error"] is None
    assert s["consoleErrors"] == []
    # Everything the page loaded came from safegen itself: no CDN, no fonts, no analytics.
    assert s["foreignRequests"] == [], s["foreignRequests"]
    assert any(u.endswith("/static/app.js") for u in s["requests"])
    assert s["guardrailOptions"][0] == "default"  # the choice was filled from /v1/guardrails
    assert Path(s["screenshot"]).stat().st_size > 10_000


def test_safe_prompt_shows_an_image(seen):
    s = seen["safe-prompt"]
    _common(s)
    assert s["refusal"] is None and s["warnings"] == []
    [card] = s["cards"]
    assert card["visible"] and card["imageLoaded"] and card["naturalWidth"] > 0
    assert "Safe" in card["badges"] and "Blurred" not in card["badges"]
    # The page shows exactly the server's bytes: the same image as a plain API call with that seed.
    assert card["src"].split(",", 1)[1] == card["reference"]
    # The bundled model drew what was asked: a yellow background with a blue square, not a blank or
    # broken image (seed 2 draws it; the model gets about 5 seeds in 6 right).
    r, g, b = np.asarray(_decode(card["src"])).reshape(-1, 3).astype(int).T
    yellow = ((r > 150) & (g > 110) & (b < 100)).mean()
    blue = ((b > 150) & (r < 100) & (g < 120)).mean()
    assert yellow > 0.3 and blue > 0.05, f"{yellow:.0%} yellow and {blue:.0%} blue pixels"
    # Stage timings and the moderation overhead are shown.
    assert set(s["timings"]) == {"Prompt moderation", "Generation", "Image moderation", "Total", "Moderation overhead"}
    assert s["timings"]["Moderation overhead"].endswith(")") and "%" in s["timings"]["Moderation overhead"]
    # The progress indicator was fed by the stream while generation ran, and finished.
    assert s["progressBar"] == 100
    assert len([p for p in s["progressSeen"] if 10 < p < 85]) >= 2, s["progressSeen"]
    assert s["progressSeen"] == sorted(s["progressSeen"])
    assert any(t.startswith("Generation") for t in s["stagesSeen"])


def test_banned_word_shows_the_refusal(seen):
    s = seen["banned-word-refused"]
    _common(s)
    assert s["refusal"] == "This prompt was blocked by the content policy. Please rephrase it."
    assert s["cards"] == []  # nothing generated, nothing shown
    assert s["promptAction"] == "The guardrail intervened on the prompt."
    assert s["promptMarks"] == ["porn"]
    assert not any(t.startswith("Generation") for t in s["stagesSeen"])  # refused before generating


def test_obfuscated_banned_word_is_refused_and_marked_exactly(seen):
    s = seen["obfuscated-word-refused"]
    _common(s)
    assert s["refusal"] == "This prompt was blocked by the content policy. Please rephrase it."
    assert s["cards"] == []
    assert s["promptMarks"] == ["p.0.r.n"]


def test_unsafe_image_is_shown_blurred_with_its_warning(seen):
    s = seen["unsafe-image-blurred"]
    _common(s)
    assert s["refusal"] is None
    [card] = s["cards"]
    assert card["imageLoaded"] and "Blurred" in card["badges"] and "Unsafe" in card["badges"]
    assert "CATEGORY_SEXUAL" in card["detectedCategories"]
    assert any(label.startswith("Explicit") for label in card["labels"])
    assert s["warnings"], "the blur must be explained"
    assert any("blur" in w.lower() for w in s["warnings"]), s["warnings"]
    # What the browser received is the server's blurred image, never the original: compared with the
    # unblurred image of the same seed, it differs only inside the flagged box, and inside the box most
    # of the detail (gradient energy) is gone. The box comes from the label the page shows
    # ("at 29%,19% (69x75%)", rounded to whole percent), taken 3% in from each side.
    shown = np.asarray(_decode(card["src"]).convert("L")).astype(float)
    original = np.asarray(_decode("data:image/png;base64," + card["reference"]).convert("L")).astype(float)
    assert shown.shape == original.shape
    assert card["src"].split(",", 1)[1] != card["reference"]
    [box] = [re.search(r"at (\d+)%,(\d+)% \((\d+)\D(\d+)%\)", label).groups() for label in card["labels"]]
    left, top, width, height = (int(v) / 100 for v in box)
    h, w = shown.shape
    inner = (
        slice(int((top + 0.03) * h), int((top + height - 0.03) * h)),
        slice(int((left + 0.03) * w), int((left + width - 0.03) * w)),
    )
    outer = np.ones(shown.shape, bool)
    outer[
        int((top - 0.01) * h) : int((top + height + 0.01) * h) + 1,
        int((left - 0.01) * w) : int((left + width + 0.01) * w) + 1,
    ] = False
    assert np.array_equal(shown[outer], original[outer]), "pixels outside the flagged box changed"

    def energy(a):
        return (np.diff(a, axis=0) ** 2).mean() + (np.diff(a, axis=1) ** 2).mean()

    # Measured: 0.22-0.27 of the original's energy inside the box (seeds 1-5), the mean kept to 0.1 grey
    # level. (Mean absolute gradient would not do: blurring a clean edge keeps its total variation.)
    assert energy(shown[inner]) < 0.5 * energy(original[inner]), (energy(shown[inner]), energy(original[inner]))
    assert abs(shown.mean() - original.mean()) < 3, "not the same picture blurred"
