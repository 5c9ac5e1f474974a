"""Trains the bundled shapes model from scratch on CPU and writes it as a diffusers pipeline.

    PYTHONPATH=services python -m safegen.training.bundled.train \
        --out services/safegen/generation/bundled/weights

Recipe (see docs/image-generation.md): pixel-space 32x32 epsilon-prediction diffusion, DDPM
cosine schedule with 1000 steps, AdamW 1e-3 with warmup decaying to 1e-4, batch 64, bf16
autocast, EMA 0.999, images rendered on the fly. The committed weights are this command's output
after 56 minutes (5,037 steps at ~1.5 steps/s on an idle 2-core machine). Training stops at
`--steps` or after `--max-minutes`, whichever comes first; the learning-rate schedule follows
whichever of the two is further along, so a slower machine still ends on the low learning rate.
On a busy machine prefer a longer `--max-minutes` over a smaller batch: a 67-minute run at batch 32
and EMA 0.995 on a shared machine (~174 k images) followed prompts far worse than this one (~322 k).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from pathlib import Path

# Before torch loads OpenMP: spinning workers on a busy machine made each step 9x slower
# (17 s instead of 1.9 s with 2 threads under a run queue of 8 on 2 cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from diffusers import DDPMScheduler, UNet2DConditionModel  # noqa: E402

from . import data  # noqa: E402
from safegen.generation.bundled.model import ShapesTextEncoder, encode_batch, unet_config  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="pipeline directory to write")
    p.add_argument("--steps", type=int, default=12000)
    p.add_argument("--max-minutes", type=float, default=56.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint", type=Path, default=None, help="raw EMA state saved here every 250 steps")
    p.add_argument("--export-only", action="store_true", help="only export --checkpoint to --out")
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="continue from a --checkpoint file (its EMA weights; the optimizer starts afresh)",
    )
    return p.parse_args(argv)


def new_noise_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")


def export(unet_state: dict, text_state: dict, out: Path, meta: dict) -> None:
    from safegen.generation.bundled.pipeline import (
        build_pipeline,
    )  # imported late so a pipeline bug cannot cost a training run

    pipe = build_pipeline()
    pipe.unet.load_state_dict(unet_state)
    pipe.text_encoder.load_state_dict(text_state)
    pipe.save_bundled(out, meta)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export_only:
        ckpt = torch.load(args.checkpoint, map_location="cpu")
        export(ckpt["unet"], ckpt["text_encoder"], args.out, ckpt["meta"])
        return

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    unet = UNet2DConditionModel(**unet_config())
    text_encoder = ShapesTextEncoder()
    prior = {"steps": 0, "train_minutes": 0.0}
    if args.init_from:
        init = torch.load(args.init_from, map_location="cpu")
        unet.load_state_dict(init["unet"])
        text_encoder.load_state_dict(init["text_encoder"])
        prior = init["meta"]
    models = [unet, text_encoder]
    params = [p for m in models for p in m.parameters()]
    ema = [p.detach().clone() for p in params]
    print(
        f"unet {sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M params, "
        f"text encoder {sum(p.numel() for p in text_encoder.parameters()) / 1e3:.0f}k params",
        flush=True,
    )
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    sched = new_noise_scheduler()
    alphas = sched.alphas_cumprod

    def save_checkpoint(step: int, elapsed: float) -> dict:
        # Swap EMA weights in for the snapshot only.
        backup = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, e in zip(params, ema):
                p.copy_(e)
        unet_state = {k: v.clone() for k, v in unet.state_dict().items()}
        text_state = {k: v.clone() for k, v in text_encoder.state_dict().items()}
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)
        meta = {
            "steps": prior["steps"] + step,
            "train_minutes": round(prior["train_minutes"] + elapsed / 60, 1),
            "batch_size": args.batch_size,
            "seed": args.seed,
            "threads": args.threads,
            "lr": args.lr,
            "min_lr": args.min_lr,
            "warmup": args.warmup,
            "ema": args.ema,
        }
        if args.checkpoint:
            torch.save({"unet": unet_state, "text_encoder": text_state, "meta": meta}, args.checkpoint)
        return {"unet": unet_state, "text_encoder": text_state, "meta": meta}

    start = time.monotonic()
    budget = args.max_minutes * 60
    step = 0
    loss_avg = None
    while step < args.steps and time.monotonic() - start < budget:
        elapsed = time.monotonic() - start
        progress = max(step / args.steps, elapsed / budget)
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr

        images, captions = data.batch(args.batch_size, rng)
        x0 = torch.from_numpy(images)
        ids = encode_batch(captions)
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (x0.shape[0],))
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.autocast("cpu", dtype=torch.bfloat16):
            states = text_encoder(ids)
            pred = unet(xt, t, encoder_hidden_states=states).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - decay)
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if step % 50 == 0:
            el = time.monotonic() - start
            print(f"step {step} loss {loss_avg:.4f} lr {lr:.2e} {step / el:.2f} steps/s {el / 60:.1f} min", flush=True)
        if step % 250 == 0:
            save_checkpoint(step, time.monotonic() - start)

    final = save_checkpoint(step, time.monotonic() - start)
    print(f"done: {final['meta']['steps']} steps in {final['meta']['train_minutes']} min", flush=True)
    export(final["unet"], final["text_encoder"], args.out, final["meta"])
    print(f"wrote {args.out}", flush=True)
    # Serving runs the committed ONNX export, and refuses one made from other weights: refresh it with the weights.
    from safegen.generation.bundled.export import export as export_onnx
    from safegen.generation.settings import BUNDLED_MODEL_DIR

    if args.out.resolve() == BUNDLED_MODEL_DIR.resolve():
        for path in export_onnx(args.out):
            print(f"wrote {path}", flush=True)
    else:
        print(
            f"ONNX export for serving: python -m safegen.generation.bundled.export --weights {args.out} --out DIR",
            flush=True,
        )


if __name__ == "__main__":
    main()
