"""`safegen scan-dataset` for subprocess tests: the shared red double instead of the local detectors, a
keyword check instead of the text classifier, and SAFEGEN_TEST_SCAN_DELAY seconds of sleep per batch so
a test can SIGKILL a shard midway. Everything else (sharding from the environment, journal, report,
merge) is the real command."""

from __future__ import annotations

import os
import sys
import time

from safegen.core.types import Source
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.policy import GuardrailRegistry
from safegen.scan import cli, moderation
from support import RedIsUnsafe


def moderators(args):
    mod = ImageModerator(RedIsUnsafe(), GuardrailRegistry.load(), ImageLimits(rate_per_s=0))
    delay = float(os.environ.get("SAFEGEN_TEST_SCAN_DELAY", "0"))

    def images(batch):
        time.sleep(delay)
        return moderation.per_image(lambda d: moderation.result_from_verdict(mod.moderate([d], Source.INPUT)[0]), batch)

    def text(prompt: str) -> dict:
        return {"verdict": "UNSAFE" if "nude" in prompt else "SAFE", "detected": [], "words": []}

    return images, (lambda: RedIsUnsafe.name), text


if __name__ == "__main__":
    cli._moderators = moderators
    sys.exit(cli.main())
