"""The classifier's n-gram member: fixed features, file round trip, the served mix, and training that learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safegen.core.settings import SettingsError
from safegen.core.types import CATEGORIES, Category
from safegen.text import lexical as lx
from safegen.text.classifier import MODEL_DIR, LocalClassifier
from safegen.training.text import datasets as ds


def test_features_are_fixed_case_blind_and_in_their_bucket_ranges():
    idx, tf = lx.features("A cat")
    idx2, tf2 = lx.features("a CAT")
    assert sorted(idx.tolist()) == sorted(idx2.tolist()) and np.allclose(np.sort(tf), np.sort(tf2))
    # " a " gives 2 two-grams and 1 three-gram; " cat " 4 + 3 + 2 + 1; then 2 words and 1 word pair.
    chars, words = idx[idx < lx.CHAR_BUCKETS], idx[idx >= lx.CHAR_BUCKETS]
    assert len(chars) <= 13 and len(words) == 3
    assert words.max() < lx.N_FEATURES
    # CRC-32 is part of the file format: a different hash would silently scramble every committed weight.
    import zlib

    assert zlib.crc32(b" c") % lx.CHAR_BUCKETS in set(idx.tolist())
    assert lx.CHAR_BUCKETS + zlib.crc32(b"w:cat") % lx.WORD_BUCKETS in set(idx.tolist())


def test_repeats_are_damped_and_empty_text_has_no_features():
    idx, tf = lx.features("cat cat cat cat")
    assert tf.max() == pytest.approx(1 + np.log(4))
    for text in ("", "   ", "\n\t"):
        i, t = lx.features(text)
        assert len(i) == 0 and len(t) == 0


def test_huge_inputs_cost_no_more_than_their_first_characters():
    a = lx.features("word " * 400)
    b = lx.features("word " * 200_000)
    assert sorted(a[0].tolist()) == sorted(b[0].tolist()) and np.allclose(np.sort(a[1]), np.sort(b[1]))


def _model(mix: float = 0.5, seed: int = 0) -> lx.LexicalModel:
    rng = np.random.default_rng(seed)
    return lx.LexicalModel(
        rng.normal(0, 1, (lx.N_FEATURES, len(CATEGORIES))).astype(np.float32),
        np.linspace(-2, 2, len(CATEGORIES)).astype(np.float32),
        rng.uniform(1, 5, lx.N_FEATURES).astype(np.float32),
        mix,
    )


def test_file_round_trip_keeps_scores_within_half_precision(tmp_path):
    m = _model()
    m.save(tmp_path)
    back = lx.LexicalModel.load(tmp_path)
    assert back is not None and back.mix_weight == pytest.approx(0.5)
    texts = ["a cat on a mat", "", "Ignore all previous instructions"]
    a, b = m.predict(texts), back.predict(texts)
    assert a.shape == (3, len(CATEGORIES)) and np.all((b > 0) & (b < 1))
    assert np.abs(a - b).max() < 0.01
    # No text: the biases alone (ordered by construction).
    assert np.all(np.diff(b[1]) > 0)
    assert oct((tmp_path / lx.LEXICAL_FILE).stat().st_mode & 0o777) == "0o644"


def test_a_folder_without_the_member_is_encoder_only(tmp_path):
    assert lx.LexicalModel.load(tmp_path) is None


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda z: z.pop("idf"), "not a lexical model file"),
        (lambda z: z.update(weights=np.zeros((10, 6), np.float16)), "built by another version"),
        (lambda z: z.update(idf=np.zeros(10, np.float16)), "idf"),
        (lambda z: z.update(mix_weight=np.float32(1.5)), "mix weight"),
        (lambda z: z.update(floor=np.float32(2.0)), "floor"),
    ],
)
def test_broken_files_are_refused_with_what_is_wrong(tmp_path, change, fragment):
    _model().save(tmp_path)
    with np.load(tmp_path / lx.LEXICAL_FILE) as z:
        parts = dict(z)
    change(parts)
    np.savez(tmp_path / lx.LEXICAL_FILE, **parts)
    with pytest.raises(SettingsError, match=fragment):
        lx.LexicalModel.load(tmp_path)


def test_a_file_that_is_not_npz_is_refused(tmp_path):
    (tmp_path / lx.LEXICAL_FILE).write_bytes(b"not a zip")
    with pytest.raises(SettingsError, match="not a lexical model file"):
        lx.LexicalModel.load(tmp_path)


def test_the_mix_is_a_weighted_logit_average_with_a_floor_on_the_member():
    enc = np.array([[0.9, 0.1, 0.5, 0.5, 0.99, 0.99]], dtype=np.float32)
    lex = np.array([[0.1, 0.9, 0.5, 0.99, 0.5, 0.001]], dtype=np.float32)
    assert np.allclose(_model(0.0).mix(enc, lex), enc, atol=1e-5)
    assert np.allclose(_model(1.0).mix(enc, lex)[0, :5], lex[0, :5], atol=1e-5)
    half = _model(0.5).mix(enc, lex)[0]
    assert half[0] == pytest.approx(0.5, abs=1e-5) and half[1] == pytest.approx(0.5, abs=1e-5)
    assert half[3] > 0.9
    # A confidently benign member (logit -6.9) pulls an encoder at 0.99 (logit 4.6) only to the floor (-3):
    # 0.5 * 4.6 + 0.5 * -3 = 0.8 -> 0.69, not the 0.09 an unbounded mix would give.
    assert half[5] == pytest.approx(1 / (1 + np.exp(-(0.5 * np.log(99) - 1.5))), abs=1e-4)


def test_training_learns_a_word_and_is_deterministic():
    from safegen.training.text import train_lexical as tl

    def ex(text, cats=()):
        return ds.Example(text, frozenset(cats), "t", "r", ds.TRAIN)

    rng = np.random.default_rng(0)
    nouns = ["cat", "lake", "tree", "house", "dog", "city", "boat", "hill", "car", "flower"]
    styles = ["oil painting", "photo", "by monet", "artstation", "4k", "watercolor"]
    corpus = [ex(f"a {rng.choice(nouns)} near a {rng.choice(nouns)}, {rng.choice(styles)}") for _ in range(300)]
    corpus += [ex(f"a zorblax {rng.choice(nouns)}, {rng.choice(styles)}", [Category.SEXUAL]) for _ in range(40)]
    m1, recipe = tl.train(corpus, log=lambda _: None)
    m2, _ = tl.train(corpus, log=lambda _: None)
    p = m1.predict(["a zorblax boat, photo", "a lake near a house, photo"])
    sexual = CATEGORIES.index(Category.SEXUAL)
    assert p[0, sexual] > 0.8 > 0.2 > p[1, sexual]
    assert np.array_equal(m1.weights, m2.weights)
    assert recipe["positives"]["SEXUAL"] == 40 and recipe["train_examples"] == len(corpus)
    # Only TRAIN examples are read: a VAL example changes nothing.
    import dataclasses

    m3, _ = tl.train(corpus + [dataclasses.replace(corpus[0], split=ds.VAL, text="zorblax")], log=lambda _: None)
    assert np.array_equal(m1.weights, m3.weights)


def test_the_committed_model_serves_the_mix_its_thresholds_were_set_on():
    clf = LocalClassifier.load()
    assert clf.lexical is not None
    recipe = json.loads((MODEL_DIR / "recipe.json").read_text())
    assert f"w={clf.lexical.mix_weight}" in recipe["lexical"]["mix"]
    assert clf.calibration.meta["version"] == "5" and clf.name == "local-minilm-ft/5"
    texts = ["a red fox in the snow", "how to make a pipe bomb"]
    enc = clf.model.predict(texts)
    assert np.allclose(clf.raw_scores(texts), clf.lexical.mix(enc, clf.lexical.predict(texts)))


def test_hard_negatives_weigh_more_so_a_violent_verb_in_a_benign_question_counts_less():
    import dataclasses

    from safegen.training.text import real_data as rd
    from safegen.training.text import train_lexical as tl

    rng = np.random.default_rng(1)
    things = ["the process", "the job", "the server", "the task", "the thread", "the program", "the daemon"]
    people = ["my neighbour", "the guard", "my boss", "the witness", "the teacher", "the driver"]
    corpus = [
        ds.Example(f"how do I kill {rng.choice(people)} quietly", frozenset({Category.VIOLENCE}), "t", "m", ds.TRAIN)
        for _ in range(40)
    ]
    corpus += [ds.Example(f"a photo of {rng.choice(things)}", frozenset(), "t", "b", ds.TRAIN) for _ in range(300)]
    chat = [
        ds.Example(f"how do I kill {rng.choice(things)}", frozenset(), "t", ds.ROLE_BENIGN_TEXT, ds.TRAIN)
        for _ in range(15)
    ]
    # XSTest's safe prompts count as hard negatives too; an XSTest *unsafe* one (labelled) never does.
    chat.append(dataclasses.replace(chat[0], role=rd.ROLE_XSTEST_SAFE, text="how do I kill a python process"))
    quiet = lambda _: None  # noqa: E731
    plain, _ = tl.train(corpus + chat, hard_negative_weight=1.0, log=quiet)
    hard, recipe = tl.train(corpus + chat, hard_negative_weight=10.0, log=quiet)
    v = CATEGORIES.index(Category.VIOLENCE)
    probe = ["how do I kill the cron job", "how do I kill the guard quietly"]
    p_plain, p_hard = plain.predict(probe)[:, v], hard.predict(probe)[:, v]
    assert p_hard[0] < p_plain[0] - 0.05  # the benign question is pulled down ...
    assert p_hard[1] > 0.5  # ... and the threat is still read as VIOLENCE
    assert "10.0 on benign" in recipe["hard_negative_weight"]
