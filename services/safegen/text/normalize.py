"""Text normalization for banned-word matching that keeps a map from every output character to the original.

`normalize(text)` undoes the tricks people use to slip words past a list, character by character:
Unicode NFKC (fullwidth, mathematical and circled letters, ligatures), casefolding, diacritics removed,
invisible characters dropped (zero-width space/joiners, soft hyphen, BOM, bidi controls, variation
selectors, Hangul fillers) and Latin-lookalike homoglyphs from Unicode's confusables.txt mapped to ASCII.
Leetspeak, separators and repeated letters are ambiguous, so they are handled later as match candidates
(see words.py), not rewritten here.

Every normalized character carries the [start, end) code-point range of the original characters it came
from, so a match found in the normalized text maps back to the exact original substring, combining marks
and invisible characters inside the match included.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"

# Characters with no visible glyph that are used to split words invisibly. Category Cf (format
# characters: ZWSP, ZWNJ, ZWJ, LRM/RLM, bidi embeddings and isolates, word joiner, BOM, soft hyphen,
# tags) is dropped wholesale below; these are the invisible ones outside Cf.
_INVISIBLE_EXTRA = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers (render as blank, category Lo)
    "\u17b4\u17b5"  # Khmer inherent vowels (invisible)
    "\u180b\u180c\u180d\u180e\u180f"  # Mongolian free variation selectors and vowel separator
)
# Blank-looking characters that are not whitespace to str.isspace(): treated as a space.
_BLANKS = frozenset("\u2800")  # braille pattern blank


@lru_cache(maxsize=1)
def confusables() -> dict[str, str]:
    """The Latin-lookalike homoglyph map (built by build_data.py from Unicode's confusables.txt)."""
    return json.loads((_DATA / "confusables_latin.json").read_text(encoding="utf-8"))


def _is_mark(ch: str) -> bool:
    # Category, not combining class: variation selectors are marks (Mn) with combining class 0.
    return unicodedata.category(ch) in ("Mn", "Me")


def _is_invisible(ch: str) -> bool:
    if ch in _INVISIBLE_EXTRA:
        return True
    cat = unicodedata.category(ch)
    # Cf = format characters; variation selectors are Mn and are removed with the other marks.
    return cat == "Cf"


@dataclass(frozen=True)
class Normalized:
    """The normalized text and, per normalized character, the original [start, end) it came from."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def original_span(self, i: int, j: int) -> tuple[int, int]:
        """Original code-point span of normalized characters i..j-1 (j exclusive, j > i)."""
        return self.starts[i], self.ends[j - 1]


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """NFKC, casefold, strip combining marks and map homoglyphs, for one original character."""
    if _is_invisible(ch):
        return ""
    if ch in _BLANKS:
        return " "
    s = unicodedata.normalize("NFKC", ch).casefold()
    # NFD then dropping marks removes diacritics ("ü" -> "u"); NFKC again recomposes what is left.
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not _is_mark(c))
    conf = confusables()
    out = []
    for c in s:
        if c.isspace():
            out.append(" ")
        elif not _is_invisible(c):
            out.append(conf.get(c, c))
    return "".join(out)


def normalize(text: str) -> Normalized:
    """Normalizes `text` (see the module docstring) keeping the original span of every output character."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if _is_mark(ch) and chars:
            # A mark (accent, variation selector) belongs to the character before it: extend that
            # character's span so a match ending there includes the mark, as the reader sees it.
            if ends[-1] == i:
                ends[-1] = i + 1
            continue
        folded = _fold_char(ch)
        for c in folded:
            chars.append(c)
            starts.append(i)
            ends.append(i + 1)
    return Normalized(text, "".join(chars), tuple(starts), tuple(ends))
