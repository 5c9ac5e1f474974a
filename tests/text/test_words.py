"""Tables for banned-word matching: obfuscations caught, Scunthorpe words passed, spans exact, lists bounded."""

import pytest

from safegen.core.types import WordListKind
from safegen.policy.guardrail import MAX_CUSTOM_WORDS, MAX_WORD_LENGTH
from safegen.text.words import WordMatcher, analyze, custom_matcher, deobfuscate, find_words, managed_matcher


def _managed(text):
    return [(m.match, m.word) for m in find_words(text)]


@pytest.mark.parametrize(
    "text, word",
    [
        ("fuck", "fuck"),
        ("FUCK", "fuck"),
        ("fuuuuuck", "fuck"),  # repeated letters
        ("f u c k", "fuck"),  # spacing
        ("f.u.c.k", "fuck"),
        ("f-u-c-k", "fuck"),
        ("f_u_c_k", "fuck"),  # the plainest entry names a match
        ("f . u . c . k", "fuck"),
        ("fu\u200bck", "fuck"),  # zero-width space
        ("f\u00aduck", "fuck"),  # soft hyphen
        ("ｆｕｃｋ", "fuck"),  # fullwidth
        ("ѕһіt", "shit"),  # Cyrillic homoglyphs
        ("sh1t", "shit"),  # leet 1 -> i
        ("$h!t", "shit"),
        ("5h17", "shit"),
        ("sh*t", "shit"),  # one mask character
        ("c*nt", "cunt"),
        ("wh0re", "whore"),
        ("b!tch", "bitch"),
        ("b|tch", "bitch"),
        ("bltch", "bitch"),  # l read as i
        ("phuck", "phuck"),
        ("fvck", "fvck"),
        ("sh.it", "shit"),  # one joiner inside a word
        ("H@nD j0b", "handjob"),  # leet halves glued across one space
        ("2 girls 1 cup", "2 girls 1 cup"),
        ("motherfucking", "motherfucking"),
        ("clusterfuck", "clusterfuck"),
        ("fuckface", "fuckface"),
        ("fuckwittery", "fuck"),  # prefix stem
        ("horseshit", "shit"),  # suffix stem
        ("bitches", "bitches"),
        ("whores", "whores"),
        ("cuntz", "cuntz"),
        ("b00bz", "boobs"),  # z as plural s, plural of a listed word
    ],
)
def test_managed_list_catches_obfuscations(text, word):
    matches = find_words(f"a picture of {text} here")
    assert [m.word for m in matches] == [word]


@pytest.mark.parametrize(
    "text",
    [
        "pegboard",
        "class",
        "cocktail",
        "assassin",
        "Sussex",
        "therapist",
        "Scunthorpe",
        "grape",
        "analysis",
        "classic",
        "passion",
        "bass guitar",
        "the rapist",  # "the rapist" must not be glued to "therapist" either
        "shiitake mushrooms",
        "shitake mushrooms",
        "Dickens",
        "hitchhiker",
        "peacock",
        "cockpit",
        "scrapbook",
        "this is ex",
        "is ex girlfriend",
        "a brown shower curtain",
        "Maine coon cat",
        "a nude lipstick",
        "snigger",
        "niggardly",
        "swank",
        "Moby Dick",
        "blue tits on a branch",
        "a bastard sword",
        "*masterpiece*, best quality, 8k, trending on artstation",
        "$100 bill",
        "s p a c e",
        "1 2 3 4",
        "c++ code on a screen",
        "A bicycle replica with a clock as the front wheel.",
        "rimuru tempest, tensei shitara slime datta ken",
        "Fukuoka tower at night",
        "Fukushima coast",
    ],
)
def test_innocent_text_passes(text):
    assert _managed(text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("oh shit!", [("shit", 3, 7)]),
        ("**fuck**", [("fuck", 2, 6)]),
        ("sh\u200bit happens", [("sh\u200bit", 0, 5)]),
        ("fu\u0308ck", [("fu\u0308ck", 0, 5)]),
        ("s h i t and f.u.c.k", [("s h i t", 0, 7), ("f.u.c.k", 12, 19)]),
        ("😀 ｓｈｉｔ 😀", [("ｓｈｉｔ", 2, 6)]),  # astral-plane emoji count as one code point each
        ("Ｓ\u200dＨ\u200dＩ\u200dＴ", [("Ｓ\u200dＨ\u200dＩ\u200dＴ", 0, 7)]),
    ],
)
def test_spans_point_at_the_original_substring(text, expected):
    matches = find_words(text)
    assert [(m.match, m.start, m.end) for m in matches] == expected
    for m in matches:
        assert text[m.start : m.end] == m.match
        assert m.word_list == WordListKind.MANAGED_PROFANITY


def test_single_letter_runs_join_only_single_letters():
    words = ("sex",)
    m = custom_matcher(words)
    assert [x.word for x in m.match(analyze("s e x"))] == ["sex"]
    assert [x.word for x in m.match(analyze("s.e.x s-e-x s_e_x"))] == ["sex"] * 3
    assert m.match(analyze("this is ex")) == []
    assert m.match(analyze("is ex")) == []
    # a run may start inside a longer run of single letters: "a s e x y" contains "s e x"
    assert [x.match for x in m.match(analyze("a s e x y"))] == ["s e x"]


def test_custom_phrases_and_longest_match_wins():
    m = WordMatcher(["red", "red dragon", "dragon"], WordListKind.CUSTOM)
    got = [(x.match, x.word) for x in m.match(analyze("a RED   dragon and a dragon"))]
    assert got == [("RED   dragon", "red dragon"), ("dragon", "dragon")]


def test_custom_words_are_whole_words():
    m = WordMatcher(["happy", "jolly", "merry"], WordListKind.CUSTOM)
    assert [x.word for x in m.match(analyze("Have a merry day! :)"))] == ["merry"]
    assert m.match(analyze("Fuck you! unhappy merrygoround")) == []


def test_symbol_only_custom_entries_match_as_text():
    m = WordMatcher(["🖕"], WordListKind.CUSTOM)
    assert [(x.match, x.start) for x in m.match(analyze("ok 🖕 ok"))] == [("🖕", 3)]


def test_find_words_reports_both_lists_in_position_order():
    got = find_words("shit and dragon", custom=("dragon",))
    assert [(m.word, m.word_list) for m in got] == [
        ("shit", WordListKind.MANAGED_PROFANITY),
        ("dragon", WordListKind.CUSTOM),
    ]
    assert find_words("shit", managed=False) == []


def test_bedrock_sized_custom_list_compiles_and_matches():
    words = tuple(f"w{i:05d}" + "x" * (MAX_WORD_LENGTH - 6) for i in range(MAX_CUSTOM_WORDS))
    m = custom_matcher(words)
    assert m.size == MAX_CUSTOM_WORDS
    hit = words[7777]
    assert [x.word for x in m.match(analyze(f"say {hit} now"))] == [hit]
    assert custom_matcher(words) is m  # compiled once per distinct list


def test_managed_list_is_loaded_and_curated():
    m = managed_matcher()
    assert m.size > 1000
    for innocent in ("nude", "naked", "sex", "gay", "kill", "blood", "god", "hell", "damn", "cock", "tits"):
        assert m.match(analyze(innocent)) == [], innocent


# --- deobfuscate: the plain reading the classifier also scores -----------------------------------------


@pytest.mark.parametrize(
    "text, plain",
    [
        ("a nak3d woman", "a naked woman"),
        ("s3x", "sex"),
        ("@ss", "ass"),
        ("f*ck", "fuck"),
        ("n.u.d.e", "nude"),
        ("a n u d e woman on a beach", "a nude woman on a beach"),
        ("p\u043ern", "porn"),  # Cyrillic o
        ("po\u200brn", "porn"),  # zero-width space
    ],
)
def test_deobfuscate_reads_obfuscated_words_plainly(text, plain):
    assert deobfuscate(text) == plain


@pytest.mark.parametrize(
    "text",
    [
        "a 3d render of a cat, 4k, 8k, 35mm",  # digits beside letters but not between them: units
        "A person lying down by an open toilet!",  # edge punctuation is not a letter
        "photo by @natgeo_photographer",  # an @handle, not "@ss"
        "covid19 mp3 2024",
        "a beautiful sunset over the sea",
    ],
)
def test_deobfuscate_leaves_ordinary_text_as_normalized(text):
    from safegen.text.normalize import normalize

    assert deobfuscate(text) == normalize(text).text


@pytest.mark.parametrize("text", ["* * *", "* * * hello", "*  *  *", "- * - * -", "~ ~ ~ ~ then text"])
def test_plain_reading_of_separator_only_runs_does_not_crash(text):
    # "* * *" is a markdown rule: "*" is both a mask symbol and a run separator, so the joined run
    # was empty and indexing it raised IndexError (INTERNAL for any text starting with it).
    from safegen.text.words import plain_reading

    result = plain_reading(text)
    assert result is None or isinstance(result, str)
    if not any(c.isalnum() for c in text):
        assert result is None  # nothing but separators: nothing for the classifier to read differently
