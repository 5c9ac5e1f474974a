"""Tables for text normalization: what each trick folds to, and that spans point back into the original."""

import pytest

from safegen.text.normalize import confusables, normalize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("FUCK", "fuck"),  # casefold
        ("ｆｕｃｋ", "fuck"),  # fullwidth -> NFKC
        ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold -> NFKC
        ("ﬁsh", "fish"),  # ligature expands to two characters
        ("Straße", "strasse"),  # casefold expands ß
        ("fück", "fuck"),  # precomposed diacritic removed
        ("fu\u0308ck", "fuck"),  # combining diaeresis removed
        ("f\u200bu\u200cc\u200dk", "fuck"),  # ZWSP, ZWNJ, ZWJ
        ("s\u00adh\ufeffi\u2060t", "shit"),  # soft hyphen, BOM, word joiner
        ("s\u202eh\u202ci\u2066t\u2069", "shit"),  # bidi override / isolates
        ("s\ufe0fe\U000e0100x", "sex"),  # variation selectors
        ("a\u3164b", "ab"),  # Hangul filler
        ("ѕһіt", "shit"),  # Cyrillic lookalikes
        ("ΡΟΡΝ", "popn"),  # Greek capitals casefold, then map as lookalikes
        ("a\u00a0b", "a b"),  # NBSP -> space
        ("a\u2800b", "a b"),  # braille blank -> space
    ],
)
def test_normalize_folds(text, expected):
    assert normalize(text).text == expected


def test_every_normalized_char_maps_into_the_original():
    text = "Ｈ\u200bé\u0301ll\ufe0fo ﬁ ѕһіt"
    n = normalize(text)
    assert len(n.text) == len(n.starts) == len(n.ends)
    for i in range(len(n.text)):
        assert 0 <= n.starts[i] < n.ends[i] <= len(text)
        assert n.starts[i] >= (n.starts[i - 1] if i else 0)


def test_spans_cover_combining_marks_but_not_trailing_invisibles():
    n = normalize("fu\u0308ck\u200b!")
    start, end = n.original_span(0, 4)
    assert (start, end) == (0, 5)  # includes the combining mark after "u"
    assert n.original[start:end] == "fu\u0308ck"


def test_confusables_map_is_latin_only():
    conf = confusables()
    assert len(conf) > 300
    assert all(len(k) == 1 and not k.isascii() for k in conf)
    assert set(conf.values()) <= set("abcdefghijklmnopqrstuvwxyz0123456789")
    assert conf["а"] == "a" and conf["ο"] == "o"  # Cyrillic a, Greek omicron
