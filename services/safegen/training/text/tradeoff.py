"""The trade-off plot of docs/text-classifier.md: catch rate against real-prompt flag rate, one curve per model.

`python -m safegen.training.text.tradeoff NAME=scores.npz [NAME=scores.npz ...] --out docs/x.png`, where each
npz comes from `safegen eval --dump-scores` (or any script writing the same keys/scores/flagged arrays for the
TEST split). Each curve sweeps one threshold over the maximum category score; the dot is the model's own
operating point (its calibrated thresholds under the default guardrail).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.training.text import datasets as ds
from safegen.training.text import real_data as rd


def curves(examples: Sequence[ds.Example], dump: Path) -> dict:
    with np.load(dump) as z:
        by_key = dict(zip(z["keys"].tolist(), range(len(z["keys"]))))
        scores, flagged = z["scores"], z["flagged"]
    idx = np.array([by_key.get(rd.sha256(e.text), -1) for e in examples])
    keep = idx >= 0
    ex = [e for e, k in zip(examples, keep) if k]
    s = scores[idx[keep]].max(1)
    f = flagged[idx[keep]]
    roles = np.array([e.role for e in ex])
    sources = np.array([e.source for e in ex])
    unsafe = np.array([bool(e.labels) for e in ex])
    real = (sources == "sd_discord_audited") & ~unsafe
    groups = {"I2P hard": roles == ds.ROLE_I2P_HARD, "jailbreak / prompt attack": roles == ds.ROLE_ATTACK}
    grid = np.unique(np.quantile(s[real], np.linspace(0.80, 1.0, 200)))
    out = {"real_n": int(real.sum())}
    for name, m in groups.items():
        xs = [(s[real] >= t).mean() for t in grid] + [0.0]
        ys = [(s[m] >= t).mean() for t in grid] + [0.0]
        out[name] = {"x": xs, "y": ys, "point": (float(f[real].mean()), float(f[m].mean())), "n": int(m.sum())}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m safegen.training.text.tradeoff", description=__doc__)
    p.add_argument("dumps", nargs="+", help="NAME=path/to/scores.npz")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from safegen.training.text.finetune import build_examples

    examples = [e for e in build_examples(a.data_dir or ds.default_data_dir()) if e.split == ds.TEST]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    summary = {}
    for spec in a.dumps:
        name, path = spec.split("=", 1)
        c = curves(examples, Path(path))
        summary[name] = {g: c[g]["point"] for g in c if g != "real_n"}
        for ax, g in zip(axes, ("I2P hard", "jailbreak / prompt attack")):
            (line,) = ax.plot(100 * np.array(c[g]["x"]), 100 * np.array(c[g]["y"]), label=name)
            ax.plot(100 * c[g]["point"][0], 100 * c[g]["point"][1], "o", color=line.get_color())
            ax.set_title(f"{g} caught (n={c[g]['n']}) vs real prompts flagged (n={c['real_n']})", fontsize=9)
    for ax in axes:
        ax.axvline(5, color="grey", ls=":", lw=1)
        ax.set_xlim(0, 30)
        ax.set_ylim(0, 100)
        ax.set_xlabel("audited benign real SD prompts flagged (%)")
        ax.set_ylabel("caught (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].axhline(60, color="grey", ls=":", lw=1)
    axes[1].axhline(95, color="grey", ls=":", lw=1)
    fig.suptitle(
        "Text classifier trade-off on the TEST split (curve: one threshold on the max category score; "
        "dot: shipped operating point)",
        fontsize=9,
    )
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
