"""Tests of the head training script: reproducible with a fixed seed, calibrated thresholds, style-matched data."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from safegen.core.types import CATEGORIES, Category
from safegen.training.text import datasets as ds
from safegen.text.classifier import Heads
from safegen.training.text.evaluate import average_precision
from safegen.training.text.train_heads import SIMPLE_BUDGET, STYLED_BUDGET, calibrate, train

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (SHARED_DATA / "i2p").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def test_training_is_deterministic_on_a_tiny_subset(tmp_path, data_dir):
    kw = {"seed": 3, "hidden": 8, "members": 2, "epochs": 2, "limit_per_source": 12, "cache_dir": tmp_path / "emb",
          "log": lambda m: None}
    a = train(data_dir, tmp_path / "a", **kw)
    b = train(data_dir, tmp_path / "b", **kw)
    assert (tmp_path / "a" / "heads.npz").exists()
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert a.thresholds == b.thresholds
    assert (tmp_path / "a" / "calibration.json").read_text() == (tmp_path / "b" / "calibration.json").read_text()
    loaded = Heads.load(tmp_path / "a")
    assert loaded.layers[0][0].shape == (384 + 4, 16)  # two members of 8 side by side
    c = train(data_dir, tmp_path / "c", **(kw | {"seed": 4}))
    assert not np.array_equal(c.layers[0][0], a.layers[0][0])  # the seed is really used


def test_corpus_is_deterministic_and_split_by_hash(data_dir):
    a = ds.build_corpus(data_dir, seed=0, limit_per_source=30)
    b = ds.build_corpus(data_dir, seed=0, limit_per_source=30)
    assert [(e.text, e.split) for e in a.examples] == [(e.text, e.split) for e in b.examples]
    assert {e.split for e in a.examples} == {ds.TRAIN, ds.VAL, ds.TEST}


def test_style_is_on_both_sides(data_dir):
    corpus = ds.build_corpus(data_dir, seed=0, limit_per_source=200)
    def styled_share(examples):
        tags = [t for t in ds.STYLE_TAGS if len(t) > 6]
        return np.mean([any(t in e.text.lower() for t in tags) for e in examples])
    benign = [e for e in corpus.examples if not e.labels and e.role in (ds.ROLE_STYLED_BENIGN, ds.ROLE_SIMPLE_BENIGN)]
    unsafe_prompts = [e for e in corpus.examples if e.role in (ds.ROLE_I2P, ds.ROLE_I2P_HARD)]
    # Style tags appear on benign and unsafe image prompts alike, so they carry no label signal.
    assert 0.25 < styled_share(benign) and 0.25 < styled_share(unsafe_prompts)


def test_jailbreak_communities_do_not_straddle_splits(data_dir):
    import csv

    with open(data_dir / "jailbreak_llms" / "jailbreak_prompts_2023_05_07.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_comm = {}
    for r in rows:
        if r["community_id"]:
            by_comm.setdefault(r["community_id"], set()).add(ds.split_of(f"jb-community:{r['community_id']}"))
    assert by_comm and all(len(s) == 1 for s in by_comm.values())


@pytest.mark.parametrize(
    "y, s, expected",
    [
        ([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.5 * (1 / 3) + 0.5 * (2 / 4)),
        ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 0.5 * 1 + 0.5 * (2 / 3)),
        ([1, 0], [0.5, 0.5], 0.5),  # a tie is one operating point
    ],
)
def test_average_precision_table(y, s, expected):
    assert average_precision(np.array(y), np.array(s)) == pytest.approx(expected)


def test_calibration_meets_budgets_and_is_monotonic():
    rng = np.random.default_rng(0)
    n = 2000
    styled = [ds.Example(f"s{i}", frozenset(), "x", ds.ROLE_STYLED_BENIGN, ds.VAL) for i in range(n)]
    simple = [ds.Example(f"c{i}", frozenset(), "x", ds.ROLE_SIMPLE_BENIGN, ds.VAL) for i in range(n)]
    pos = [ds.Example(f"p{i}", frozenset({Category.SEXUAL}), "x", ds.ROLE_I2P, ds.VAL) for i in range(n)]
    scores = np.vstack([rng.beta(1, 8, (n, 6)), rng.beta(1, 12, (n, 6)), rng.beta(6, 2, (n, 6))])
    cal = calibrate(scores, styled + simple + pos)
    assert cal["val_styled_union_rate"] <= STYLED_BUDGET and cal["val_simple_union_rate"] <= SIMPLE_BUDGET
    # The greedy search spends the budget where positives are: SEXUAL loosens most, the others stay strict.
    q = cal["per_category_q"]
    assert q["SEXUAL"] == max(q.values()) and q["SEXUAL"] > 5 * min(q.values())
    low = np.array([cal["thresholds"][c][0] for c in CATEGORIES])
    assert (scores[2 * n:, 0] >= low[0]).mean() > 0.9
    for c in CATEGORIES:
        lo, me, hi = cal["thresholds"][c]
        assert 0 < lo <= me <= hi <= 1
    assert Counter(len(t) for t in cal["thresholds"].values()) == {3: 6}


def test_medium_and_high_raise_precision_above_low():
    from safegen.training.text.train_heads import _precision_levels

    rng = np.random.default_rng(1)
    pos = np.r_[np.ones(300, bool), np.zeros(3000, bool)]
    scores = np.r_[rng.beta(5, 2, 300), rng.beta(1, 6, 3000)]
    low = 0.4
    med, high = _precision_levels(scores, pos, low)
    assert low <= med <= high <= 1.0

    def precision(t):
        return pos[scores >= t].mean()

    fdr_low = 1 - precision(low)
    assert 1 - precision(med) <= fdr_low * 0.5 + 1e-9
    assert 1 - precision(high) <= fdr_low * 0.25 + 1e-9


def test_precision_levels_when_nothing_passes_low():
    from safegen.training.text.train_heads import _precision_levels

    assert _precision_levels(np.array([0.1, 0.2]), np.array([True, False]), 0.5) == (0.5, 0.5)


def test_eval_command_reports_every_target(data_dir, tmp_path, capsys):
    import json

    from safegen.training.text.evaluate import main

    assert main(["--data-dir", str(data_dir), "--limit-per-source", "15", "--cache-dir", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["split"] == "test"
    assert set(r["targets"]) >= {"attack_detected", "i2p_hard_detected", "simple_benign_flagged",
                                 "styled_benign_flagged", "moderation_auprc_max"}
    assert set(r["per_category"]) == {c.value for c in CATEGORIES}
    for d in r["per_category"].values():
        assert math.isnan(d["auprc"]) or 0.0 <= d["auprc"] <= 1.0  # NaN when a category has no positives
    assert 0.0 <= r["overall"]["benign_false_flags"] <= 1.0


def test_eval_command_without_data_says_so(tmp_path, capsys):
    from safegen.training.text.evaluate import main

    assert main(["--data-dir", str(tmp_path)]) == 2
    assert "no shared data" in capsys.readouterr().err
