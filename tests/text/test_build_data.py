"""The committed word-list data is exactly what build_data.py makes from ../shared/data (no hand edits, no drift)."""

from __future__ import annotations

import json

from safegen.training.text import build_data


def test_committed_confusables_match_a_rebuild(shared_data):
    rebuilt = build_data.build_confusables(shared_data / "unicode_confusables" / "confusables.txt")
    committed = json.loads((build_data.DATA_DIR / "confusables_latin.json").read_text(encoding="utf-8"))
    assert committed == rebuilt


def test_committed_managed_list_matches_a_rebuild(shared_data):
    words, counts = build_data.build_managed(shared_data)
    lines = (build_data.DATA_DIR / "managed_profanity.txt").read_text(encoding="utf-8").splitlines()
    assert [ln for ln in lines if ln and not ln.startswith("#")] == words
    assert set(counts) == {"ldnoobw/en", "better_profanity", "surge_profanity"}
    stems = json.loads((build_data.DATA_DIR / "managed_stems.json").read_text(encoding="utf-8"))
    assert stems == {
        "prefix": sorted(build_data.PREFIX_STEMS),
        "suffix": sorted(build_data.SUFFIX_STEMS),
        "exceptions": sorted(build_data.STEM_EXCEPTIONS),
    }


def test_no_excluded_word_and_no_obfuscated_surge_spelling_is_listed(shared_data):
    words = set(build_data.build_managed(shared_data)[0])
    assert not words & build_data.EXCLUDE
    import csv

    with open(shared_data / "surge_profanity" / "profanity_en.csv", encoding="utf-8", newline="") as f:
        obfuscated = {r["text"].lower() for r in csv.DictReader(f) if build_data._OBFUSCATED.search(r["text"])}
    # Entries with digits come only from the other two lists' own spellings (e.g. "2 girls 1 cup").
    assert not (words & obfuscated) - {"2 girls 1 cup", "2g1c"}
