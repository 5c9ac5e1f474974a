"""What the bundled shapes model is, without torch: its word vocabulary and tokenizer, native size and defaults.

Both runtimes read this file: the onnxruntime path that `safegen serve` uses (runtime.py) and the
diffusers pipeline that training and the equivalence tests use (model.py, pipeline.py). The
vocabulary ids are part of the committed weights' format, so change them only together with a retrain.
"""

from __future__ import annotations

import re

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
BOS_TOKEN = "[BOS]"

COLOURS = ("red", "green", "blue", "yellow", "white", "black")
SHAPES = ("circle", "square", "triangle")
# Position phrases the renderer understands; the last word of each is the one that carries meaning.
POSITIONS = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
SIZES = ("small", "large")

# Order fixes the token ids of the committed weights: append only, and retrain after any change.
VOCAB: tuple[str, ...] = (
    PAD_TOKEN,
    UNK_TOKEN,
    BOS_TOKEN,
    "a",
    "an",
    "on",
    "the",
    "at",
    "in",
    "background",
    "shape",
    *COLOURS,
    *SHAPES,
    *POSITIONS,
    *SIZES,
)
PAD_ID, UNK_ID, BOS_ID = 0, 1, 2
MAX_LENGTH = 16

# Spelling variants mapped onto the vocabulary before lookup; anything else becomes [UNK].
ALIASES = {
    "centre": "center",
    "middle": "center",
    "circles": "circle",
    "squares": "square",
    "triangles": "triangle",
    "grey": "white",
    "gray": "white",
    "big": "large",
    "tiny": "small",
}

#: The UNet denoises 32x32 RGB pixels directly (no VAE); results are upscaled to the requested size.
NATIVE_SIZE = 32
#: What a request gets when it names no size, and the sizes it may name.
DEFAULT_IMAGE_SIZE = 256
SIZE_BOUNDS = (NATIVE_SIZE, 1024)
DEFAULT_STEPS = 20
# Measured on the committed weights (evaluate.py, 6 prompts x 24 seeds, colours in the right roles):
# guidance 1.5 -> 121/144, 2 -> 135/144, 2.5 -> 123/144, 3 -> 90/144, 4 -> 33/144 (colours wash out).
# Retrained weights should be swept again: `evaluate.py --guidance G`.
DEFAULT_GUIDANCE = 2.0

_WORD_RE = re.compile(r"[a-z]+")
_IDS = {word: i for i, word in enumerate(VOCAB)}


def words(text: str) -> list[str]:
    """Lower-cases, drops punctuation and digits, applies aliases: the tokenizer's normalisation."""
    return [ALIASES.get(w, w) for w in _WORD_RE.findall(text.lower())]


def encode(text: str, max_length: int = MAX_LENGTH) -> list[int]:
    """Maps text to `max_length` ids: [BOS], known words, [UNK] for unknown ones, then [PAD].

    [BOS] is always present so a prompt with no words still has one unmasked position.
    """
    ids = [BOS_ID] + [_IDS.get(w, UNK_ID) for w in words(text)]
    ids = ids[:max_length]
    return ids + [PAD_ID] * (max_length - len(ids))
