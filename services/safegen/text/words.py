"""Banned-word matching over normalized tokens: obfuscation-tolerant, Scunthorpe-safe, list-size independent.

How a text is matched (see docs/text-moderation.md):
1. `normalize()` folds Unicode tricks and keeps a map back to the original offsets.
2. The normalized text is split into tokens: runs of letters, digits and leet symbols (@ $ ! | * + ...).
   Matching is by whole token, so "class", "Scunthorpe" and "cocktail" never contain a match.
3. Each token yields a few candidate spellings: as written, leetspeak decoded (ambiguous characters
   such as 1/!/| give both i and l, * gives each vowel), v read as u and l as i ("fvck", "bltch"),
   runs of 3+ repeated letters squeezed to one and two ("fuuuuck"), "ph" read as "f".
4. Extra "virtual" tokens catch spacing tricks: runs of single characters are joined ("s e x",
   "s.e.x", "s-e-x", "s_e_x"; only single-character runs, so "is ex" stays two words), two tokens
   split by one inner punctuation mark are joined ("sh.it"), and two tokens split by one space when
   one of them is visibly obfuscated ("H@nD j0b").
5. Every candidate is looked up in hash tables (single words, plurals, phrase trie, prefix/suffix stems
   of the managed list), so the time per token does not depend on the list size.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from safegen.core.types import WordListKind, WordMatch
from safegen.text.normalize import Normalized, normalize

_DATA = Path(__file__).resolve().parent / "data"

# Leetspeak: characters that stand for letters inside a word. Ambiguous ones list every reading.
_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a", "o", "u"),
    "$": ("s",),
    "!": ("i", "l"),
    "|": ("i", "l"),
    "+": ("t",),
    "€": ("e",),
    "£": ("e",),
    "¢": ("c",),
    "¡": ("i",),
    # A mask character usually hides a vowel ("f*ck", "sh*t", "wh*re").
    "*": ("u", "i", "o", "a", "e", "y"),
}
_SYMBOLS = frozenset("@$!|*+€£¢¡")  # non-alphanumeric characters that may be part of a token
_EDGE_TRIM = frozenset("!|*")  # at a token's edges these are punctuation or emphasis, not letters
_JOINERS = frozenset(".-_*'/~")  # one of these between two tokens may be hiding a split word
_MAX_CANDIDATES = 64
_MAX_RUN = 12  # longest window of single characters joined ("m o t h e r f u c k e r" is 12)
_MAX_TOKEN = 100  # longer tokens cannot be a listed word (MAX_WORD_LENGTH): no spelling variants
_MAX_RUN_GAP = 3  # separators between single characters in a run: "s e x", "s . e . x"
_REPEAT = re.compile(r"(.)\1{2,}")
_MASK_MAX_LEN = 12  # words longer than this get no one-mask keys (bounds memory for long custom words)
_DOUBLE = re.compile(r"([a-z])\1")


@dataclass(frozen=True)
class Token:
    """A token: normalized text [start, end) and the candidate spellings to look up."""

    start: int
    end: int
    raw: str
    candidates: tuple[str, ...]
    masked: tuple[str, ...] = ()  # spellings with exactly one "*" left, for the one-mask index
    stems: bool = True  # False for two words glued across a space: only a whole listed word may match


def masked_candidates(raw: str) -> tuple[str, ...]:
    """For a token with mask characters: spellings where one "*" stays a wildcard, the others vowels."""
    stars = [i for i, c in enumerate(raw) if c == "*"]
    if not stars or len(stars) > 3:
        return ()
    out: dict[str, None] = {}
    for keep in stars:
        templ = list(raw)
        templ[keep] = "\0"
        for cand in candidates("".join(templ)):
            out[cand.replace("\0", "*")] = None
    return tuple(out)


def _token(a: int, b: int, raw: str, stems: bool = True) -> "Token":
    return Token(a, b, raw, candidates(raw), masked_candidates(raw) if "*" in raw else (), stems)


def _is_token_char(c: str) -> bool:
    return c.isalnum() or c in _SYMBOLS


def candidates(raw: str) -> tuple[str, ...]:
    """Spellings a token may stand for, the token as written first. Deterministic and bounded."""
    if len(raw) > _MAX_TOKEN:
        return (raw,)  # bounds the work an adversarial 10,000-character token can cause
    out: dict[str, None] = {raw: None}
    obfuscated = not raw.isalpha()
    if obfuscated and any(c in _LEET for c in raw):
        options = [_LEET.get(c, (c,)) for c in raw]
        # Real obfuscated words are short with a few ambiguous characters; long ones get fewer readings.
        limit = _MAX_CANDIDATES if len(raw) <= 12 else 16
        for combo in itertools.islice(itertools.product(*options), limit):
            out["".join(combo)] = None
    # Letters standing for letters ("fvck", "bltch") are read all at once, not per position, so a
    # plain word with many l's and v's costs four candidates, not 2^n.
    for cand in list(out):
        if "v" in cand:
            out[cand.replace("v", "u")] = None
        if "l" in cand:
            out[cand.replace("l", "i")] = None
            if "v" in cand:
                out[cand.replace("v", "u").replace("l", "i")] = None
    for cand in list(out):
        if "ph" in cand:
            out[cand.replace("ph", "f")] = None
        if len(cand) > 3 and cand[-1] == "z":
            out[cand[:-1] + "s"] = None  # "b00bz", "d1ckz": z as a plural s
    for cand in list(out):
        if _REPEAT.search(cand):
            out[_REPEAT.sub(_one, cand)] = None
            out[_REPEAT.sub(_two, cand)] = None
        elif obfuscated and _DOUBLE.search(cand):
            out[_DOUBLE.sub(_one, cand)] = None  # "sh1tt": doubled letters, only in obfuscated tokens
    return tuple(out)


def _one(m: re.Match) -> str:
    return m.group(1)


def _two(m: re.Match) -> str:
    return m.group(1) * 2


@dataclass
class Analysis:
    """A text prepared once for every word list: normalized text, tokens and virtual tokens."""

    norm: Normalized
    tokens: list[Token]
    # (first token index, last token index, token) for joined single-character runs and split words.
    virtual: list[tuple[int, int, Token]] = field(default_factory=list)


def _tokenize(s: str) -> list[tuple[int, int]]:
    spans = []
    i, n = 0, len(s)
    while i < n:
        if not _is_token_char(s[i]):
            i += 1
            continue
        j = i
        while j < n and _is_token_char(s[j]):
            j += 1
        a, b = i, j
        while a < b and s[a] in _EDGE_TRIM:
            a += 1
        while b > a and s[b - 1] in _EDGE_TRIM:
            b -= 1
        if a < b:
            spans.append((a, b))
        i = j
    return spans


def analyze(text: str) -> Analysis:
    """Normalizes and tokenizes `text`, adding virtual tokens for spacing tricks."""
    norm = normalize(text)
    s = norm.text
    tokens = [_token(a, b, s[a:b]) for a, b in _tokenize(s)]
    virtual: list[tuple[int, int, Token]] = []
    # Runs of single characters separated by short gaps of separators: "s e x", "s.e.x", "a_s_s".
    i = 0
    while i < len(tokens):
        j = i
        while (
            j + 1 < len(tokens)
            and tokens[j].end - tokens[j].start == 1
            and tokens[j + 1].end - tokens[j + 1].start == 1
            and tokens[j + 1].start - tokens[j].end <= _MAX_RUN_GAP
            and "\n" not in s[tokens[j].end : tokens[j + 1].start]
        ):
            j += 1
        if j > i:
            # Every window of 2.._MAX_RUN letters: a run may hide a word anywhere ("a b c s e x").
            run = tokens[i : j + 1]
            for a in range(len(run)):
                for b in range(a + 1, min(len(run), a + _MAX_RUN)):
                    raw = "".join(t.raw for t in run[a : b + 1])
                    # Whole listed words only: stems over every window would cost more than they find.
                    virtual.append((i + a, i + b, _token(run[a].start, run[b].end, raw, stems=False)))
            i = j + 1
        else:
            i += 1
    # Two tokens split by exactly one joiner and no space ("sh.it", "fu-ck", "c_unt"), or by one space
    # when either half is visibly obfuscated ("H4nd j0b"): plain words are never glued across spaces,
    # so "the rapist" and "pen is" stay apart.
    for k in range(len(tokens) - 1):
        a, b = tokens[k], tokens[k + 1]
        if b.start - a.end != 1:
            continue
        if s[a.end] in _JOINERS:
            virtual.append((k, k + 1, _token(a.start, b.end, a.raw + b.raw)))
        elif s[a.end] == " " and not (a.raw.isalpha() and b.raw.isalpha()) and len(a.raw) > 1 and len(b.raw) > 1:
            virtual.append((k, k + 1, _token(a.start, b.end, a.raw + b.raw, stems=False)))
    return Analysis(norm, tokens, virtual)


@lru_cache(maxsize=16)
def analyzed(text: str) -> Analysis:
    """`analyze(text)`, shared by the checks of one text (word lists, threat rules): a pathological 10,000-character
    text costs its analysis once (~0.5 s for 5,000 spaced letters), not once per check. Treat it as read-only."""
    return analyze(text)


def _entry_tokens(entry: str) -> tuple[str, ...]:
    """A list entry as the plain tokens it normalizes to (no leet decoding: entries are canonical)."""
    s = normalize(entry).text
    return tuple(s[a:b] for a, b in _tokenize(s))


def _plural_forms(word: str) -> list[str]:
    if not word[-1:].isalpha():
        return []
    if word.endswith(("s", "x", "sh", "ch", "z")):
        return [word + "es"]
    return [word + "s"]


@dataclass
class _Node:
    children: dict[str, "_Node"] = field(default_factory=dict)
    word: str | None = None


class WordMatcher:
    """A compiled word list: hash tables keyed by normalized tokens. Build once, match many times."""

    def __init__(
        self,
        entries: Iterable[str],
        kind: WordListKind,
        *,
        prefix_stems: Sequence[str] = (),
        suffix_stems: Sequence[str] = (),
        stem_exceptions: Iterable[str] = (),
        plurals: bool = True,
    ):
        self.kind = kind
        self._single: dict[str, str] = {}
        self._root = _Node()
        self._symbol_only: list[tuple[str, str]] = []  # entries with no letters or digits, e.g. an emoji
        # Single words with one letter replaced by "*", so one mask character matches any letter
        # ("c*nt", "G@*k") with a hash lookup; further masks are read as vowels.
        self._masked: dict[str, str] = {}
        self.size = 0
        derived: list[tuple[str, str]] = []  # plurals go in after every listed word, which wins
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            self.size += 1
            toks = _entry_tokens(entry)
            if not toks:
                folded = normalize(entry).text.strip()
                if folded:
                    self._symbol_only.append((folded, entry))
                continue
            if len(toks) == 1:
                self._single.setdefault(toks[0], entry)
                t0 = toks[0]
                # Masked keys cost one entry per letter: short words only (profanity is short), which
                # bounds a 10,000-word custom list to ~120k keys.
                for k in range(len(t0) if len(t0) <= _MASK_MAX_LEN else 0):
                    self._masked.setdefault(t0[:k] + "*" + t0[k + 1 :], entry)
                if plurals:
                    derived.extend((p, entry) for p in _plural_forms(t0))
            else:
                node = self._root
                for t in toks:
                    node = node.children.setdefault(t, _Node())
                if node.word is None:
                    node.word = entry
        for key, entry in derived:
            self._single.setdefault(key, entry)
        self._prefix = {s: s for s in prefix_stems}
        self._suffix = {s: s for s in suffix_stems}
        self._prefix_lens = sorted({len(s) for s in prefix_stems}, reverse=True)
        self._suffix_lens = sorted({len(s) for s in suffix_stems}, reverse=True)
        # Cheap filters on a candidate's first/last 3 characters before trying every stem length.
        self._prefix3 = frozenset(s[:3] for s in prefix_stems)
        self._suffix3 = frozenset(s[-3:] for s in suffix_stems)
        self._stem_exceptions = frozenset(stem_exceptions)

    def _lookup(self, tok: Token) -> str | None:
        for c in tok.candidates:
            w = self._single.get(c)
            if w is not None:
                return w
        if "*" in tok.raw:
            for key in tok.masked:
                w = self._masked.get(key)
                if w is not None:
                    return w
        if tok.stems and (self._prefix_lens or self._suffix_lens):
            for c in tok.candidates:
                if c in self._stem_exceptions:
                    return None
            for c in tok.candidates:
                if c[:3] in self._prefix3:
                    for n in self._prefix_lens:
                        if len(c) >= n and c[:n] in self._prefix:
                            return self._prefix[c[:n]]
                if c[-3:] in self._suffix3:
                    for n in self._suffix_lens:
                        if len(c) >= n and c[-n:] in self._suffix:
                            return self._suffix[c[-n:]]
        return None

    def _phrases_from(self, tokens: list[Token], i: int) -> tuple[int, str] | None:
        """Longest phrase starting at token i: (last token index, entry)."""
        best = None
        frontier = [self._root]
        k = i
        while frontier and k < len(tokens):
            nxt = []
            for node in frontier:
                for c in tokens[k].candidates:
                    child = node.children.get(c)
                    if child is not None and child not in nxt:
                        nxt.append(child)
                        if child.word is not None and k > i:
                            best = (k, child.word)
            frontier = nxt
            k += 1
        return best

    def match(self, analysis: Analysis) -> list[WordMatch]:
        """Every match in `analysis`, in order of position; a match inside a longer one is dropped."""
        found: list[tuple[int, int, str]] = []  # normalized [start, end), entry
        toks = analysis.tokens
        has_phrases = bool(self._root.children)
        for i, tok in enumerate(toks):
            w = self._lookup(tok)
            if w is not None:
                found.append((tok.start, tok.end, w))
            if has_phrases:
                p = self._phrases_from(toks, i)
                if p is not None:
                    found.append((tok.start, toks[p[0]].end, p[1]))
        for _, _, vt in analysis.virtual:
            w = self._lookup(vt)
            if w is not None:
                found.append((vt.start, vt.end, w))
        for folded, entry in self._symbol_only:
            start = analysis.norm.text.find(folded)
            while start >= 0:
                found.append((start, start + len(folded), entry))
                start = analysis.norm.text.find(folded, start + len(folded))
        return self._to_matches(analysis.norm, found)

    def _to_matches(self, norm: Normalized, found: list[tuple[int, int, str]]) -> list[WordMatch]:
        # Longest first, then drop anything overlapping an accepted match (leftmost-longest wins); on
        # equal spans the plainest entry names the match ("fuck" rather than "f_u_c_k").
        found.sort(key=lambda f: (-(f[1] - f[0]), f[0], sum(not c.isalnum() for c in f[2]), f[2]))
        taken = bytearray(len(norm.text))  # normalized positions already inside an accepted match
        kept = []
        for a, b, w in found:
            if any(taken[a:b]):
                continue
            taken[a:b] = b"\x01" * (b - a)
            kept.append((a, b, w))
        out = []
        for a, b, w in sorted(kept):
            start, end = norm.original_span(a, b)
            out.append(WordMatch(norm.original[start:end], start, end, self.kind, w))
        return out


@lru_cache(maxsize=1)
def managed_matcher() -> WordMatcher:
    """The managed profanity list shipped in data/ (sources in data/SOURCES.md), compiled once."""
    lines = (_DATA / "managed_profanity.txt").read_text(encoding="utf-8").splitlines()
    words = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    stems = json.loads((_DATA / "managed_stems.json").read_text(encoding="utf-8"))
    return WordMatcher(
        words,
        WordListKind.MANAGED_PROFANITY,
        prefix_stems=stems["prefix"],
        suffix_stems=stems["suffix"],
        stem_exceptions=stems["exceptions"],
    )


@lru_cache(maxsize=64)
def custom_matcher(words: tuple[str, ...]) -> WordMatcher:
    """A guardrail's custom words, compiled once per distinct list (guardrails are immutable)."""
    return WordMatcher(words, WordListKind.CUSTOM)


def find_words(text: str, *, managed: bool = True, custom: tuple[str, ...] = ()) -> list[WordMatch]:
    """Banned-word matches of `text` against the managed list and/or custom words, in position order."""
    if not managed and not custom:
        return []
    analysis = analyzed(text)
    out: list[WordMatch] = []
    if managed:
        out += managed_matcher().match(analysis)
    if custom:
        out += custom_matcher(tuple(custom)).match(analysis)
    out.sort(key=lambda m: (m.start, m.end, m.word_list.value))
    return out


# --- one readable spelling, for the classifier ------------------------------------------------------

_SYM_CLASS = r"[\w" + re.escape("".join(sorted(_SYMBOLS))) + r"]"
_PLAIN_TOKEN = re.compile(_SYM_CLASS + "+")
_SINGLE_RUN = re.compile(
    r"(?<!" + _SYM_CLASS + r")" + _SYM_CLASS + r"(?:[ .\-_*'/~]{1,3}" + _SYM_CLASS + r"(?!" + _SYM_CLASS + r")){2,}"
)
_RUN_SEPARATORS = re.compile(r"[ .\-_*'/~]")


def _readable_token(tok: str) -> str:
    core = tok.strip("".join(_EDGE_TRIM))
    if core != tok:  # "toilet!", "*wow*": edges are punctuation or emphasis, not letters
        if not core:
            return tok
        lead = len(tok) - len(tok.lstrip("".join(_EDGE_TRIM)))
        return tok[:lead] + _readable_token(core) + tok[lead + len(core) :]
    if tok.isalpha() or not any(c.isalpha() for c in tok) or (tok[0] == "@" and len(tok) > 6):
        return tok  # plain, a number or unit ("3d", "35mm"), or an @handle rather than "@ss"
    out = []
    for i, c in enumerate(tok):
        reading = _LEET.get(c)
        # A digit is a letter only between letters ("nak3d", "p0rn"), so "3d", "4k", "35mm" stay.
        if reading and (not c.isdigit() or (0 < i < len(tok) - 1 and tok[i - 1].isalpha() and tok[i + 1].isalpha())):
            out.append(reading[0])
        else:
            out.append(c)
    return "".join(out)


def _join_run(m: re.Match) -> str:
    chars = _RUN_SEPARATORS.sub("", m.group(0))
    if not chars:  # "* * *" (a markdown rule): "*" is both a mask symbol and a separator; nothing to join
        return m.group(0)
    # "a n u d e woman": the article in front of a spelt-out word stays a word of its own.
    if chars[0] in "ai" and len(chars) >= 3 and m.group(0)[1] == " ":
        return chars[0] + " " + chars[1:]
    return chars


def deobfuscate(text: str) -> str:
    """One plain spelling of `text` for the category classifier, which was trained on ordinary text:
    Unicode folded as for matching (homoglyphs, zero-width, case), runs of single characters joined
    ("n u d e", "p.o.r.n"), and leetspeak inside words read with its first reading ("nak3d", "s3x",
    "@ss", "f*ck"). Offsets are not kept: the word lists, not this, report spans."""
    return _plain(normalize(text).text)


def plain_reading(text: str) -> str | None:
    """`deobfuscate(text)` when it says something the normalized text does not, else None."""
    s = normalize(text).text
    plain = _plain(s)
    return plain if plain != s else None


def _plain(s: str) -> str:
    """`deobfuscate` of an already normalized text.

    Deliberately not `analyze`'s tokens and runs: those cast a wide net for the word lists (two-letter
    runs, any gap character, "_" splitting "@boys_south"); fed to the classifier they added 4 to 23
    false flags on the test and validation splits instead of 2 ("I'm #1" read as "im1")."""
    s = _SINGLE_RUN.sub(_join_run, s)
    return _PLAIN_TOKEN.sub(lambda m: _readable_token(m.group(0)), s)
