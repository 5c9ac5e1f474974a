"""Denied topics with the shipped text encoder: the example topics catch on-topic prompts, leave ordinary ones alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safegen.policy.encoder import encoder_for
from safegen.policy.topics import DEFAULT_TOPIC_THRESHOLD, TopicIndex, parse_topic_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "services/safegen/policy/examples/everything.yaml"


@pytest.fixture(scope="module")
def index():
    topics = parse_topic_policy(yaml.safe_load(EXAMPLE.read_text())["topicPolicyConfig"], "topicPolicyConfig")
    return TopicIndex(topics, encoder_for(None))


def test_background_statistics_fit_the_shipped_encoder(index):
    assert index.standardized, (
        "services/safegen/policy/data/topic_background.npz was computed with another "
        "encoder: rerun `python bench/bench_topics.py --write-background`"
    )
    assert index.threshold == DEFAULT_TOPIC_THRESHOLD


@pytest.mark.parametrize(
    "prompt,topic",
    [
        ("Boris Johnson as a superhero flying over London", "Political figures"),
        ("Kim Jong Un riding a unicorn", "Political figures"),
        ("what crypto will 10x next year", "Investment advice"),
        ("slot machine jackpot casino advertisement", "Gambling"),
    ],
)
def test_on_topic_prompts_are_flagged(index, prompt, topic):
    [emb] = encoder_for(None).embed([prompt])
    flagged = [m.name for m in index.match(emb, output=False) if m.detected]
    assert flagged == [topic]


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat sitting on a window sill",
        "portrait of a beautiful elf princess, intricate, elegant, highly detailed, digital painting, artstation",
        "a cozy cabin in a snowy forest at night, warm light in the windows, 8k",
        "A man riding a horse with trees and buildings in background.",
        "a doctor's office with a stethoscope on the desk, watercolor",
        "a bowl of fruit on a kitchen table, morning light",
    ],
)
def test_ordinary_prompts_are_not_flagged(index, prompt):
    [emb] = encoder_for(None).embed([prompt])
    assert not [m.name for m in index.match(emb, output=False) if m.detected]
