"""Process logging: one line per record in JSON or text, lifecycle events, and third-party chatter kept quiet.

`configure(level, fmt)` is called once by `safegen serve`, before any model library is imported:
- safegen's own records are printed as they are (`log_event` adds an `event` name and typed fields,
  which JSON lines carry as keys, so a log pipeline or `bench/bench_startup.py` can read them);
- records of other libraries (diffusers, transformers, onnxruntime's quantizer, `warnings.warn` such as
  torch's TracerWarning or diffusers' deprecations) are re-emitted once, at DEBUG, unless they are
  errors, or a known message that an operator can act on, which is re-worded in our own terms;
- progress bars of model loading are switched off (Hugging Face libraries draw them with tqdm).
"""

from __future__ import annotations

import enum
import importlib.abc
import importlib.machinery
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import IO, Any, Sequence

#: Record attributes the standard library sets; anything else passed in `extra` is a field of the line.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

#: Hugging Face modules whose import installs a private stderr handler (propagate=False) and tqdm bars.
_HF_LOGGING_MODULES = ("diffusers.utils.logging", "transformers.utils.logging")
#: torch's import gives the "torch" logger its own stderr handler (propagate=False) as well.
_TORCH = "torch"


class LogFormat(enum.Enum):
    """SAFEGEN_LOG_FORMAT: json (one object per line, for log pipelines) or text (for people)."""

    JSON = "json"
    TEXT = "text"


def default_format(stream: IO[str] | None = None) -> LogFormat:
    """Text on a terminal; JSON otherwise (pod logs, files and pipes are usually read by a collector)."""
    stream = sys.stderr if stream is None else stream
    try:
        return LogFormat.TEXT if stream.isatty() else LogFormat.JSON
    except (AttributeError, ValueError):  # closed or unusual streams
        return LogFormat.JSON


@dataclass(frozen=True)
class Rewording:
    """A third-party message an operator can act on (or should not worry about), said in our words."""

    logger: str  # prefix of the emitting logger's name ("py.warnings" for warnings.warn)
    pattern: re.Pattern[str]
    level: int
    message: str


#: Known third-party messages. Everything else from other libraries goes to DEBUG once.
REWORDINGS: tuple[Rewording, ...] = (
    Rewording(
        "diffusers",
        re.compile(r"`accelerate` was not found"),
        logging.DEBUG,
        "diffusers loads weights without `accelerate` (fine for the bundled model; "
        "`pip install accelerate` lowers peak memory when loading large Stable Diffusion models)",
    ),
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "event"?, ...fields, "exception"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-12-01 14:25:20.410 INFO safegen.serve: message` (fields are already in the message)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")


class ThirdPartyFilter(logging.Filter):
    """Lets safegen's records through at the configured level; other libraries' records are reworded
    (REWORDINGS) or demoted to DEBUG, and each distinct message is shown once."""

    def __init__(self, level: int, rewordings: Sequence[Rewording] = REWORDINGS):
        super().__init__()
        self.level = level
        self.rewordings = tuple(rewordings)
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "safegen" or record.name.startswith("safegen."):
            return record.levelno >= self.level
        text = record.getMessage()
        key = (record.name, text[:500])
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        for r in self.rewordings:
            if record.name.startswith(r.logger) and r.pattern.search(text):
                record.msg, record.args = r.message, None
                record.levelno, record.levelname = r.level, logging.getLevelName(r.level)
                break
        else:
            if record.levelno < logging.ERROR:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


class _QuietHuggingFace(importlib.abc.MetaPathFinder):
    """Runs right after diffusers'/transformers' logging module (or torch) is imported: removes its private
    stderr handler (their records then reach ours, and ThirdPartyFilter), and turns progress bars off."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in _HF_LOGGING_MODULES and name != _TORCH:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            if name == _TORCH:
                quiet_torch()
            else:
                quiet_hf_module(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def quiet_hf_module(module: Any) -> None:
    """Applies the Hugging Face logging switches (each exists in diffusers and transformers)."""
    for switch in ("disable_default_handler", "enable_propagation", "disable_progress_bar"):
        fn = getattr(module, switch, None)
        if fn is not None:
            fn()


def quiet_torch() -> None:
    """Sends torch's loggers' records ("torch", "torch._dynamo", ...: torch gives several their own stderr
    handler) through the root handler instead."""
    names = [n for n in logging.root.manager.loggerDict if n == _TORCH or n.startswith(_TORCH + ".")]
    for name in names:
        logger = logging.getLogger(name)
        handlers = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stderr, sys.stdout)
        ]
        for h in handlers:
            logger.removeHandler(h)
        if handlers or name == _TORCH:
            logger.propagate = True


_handler: logging.Handler | None = None


def configure(
    level: str | int = "INFO", fmt: LogFormat | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Installs the one root handler (replacing an earlier one), captures `warnings`, quiets Hugging Face.

    Call before importing model libraries; a library imported earlier is quieted here too."""
    global _handler
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    stream = sys.stderr if stream is None else stream
    fmt = fmt or default_format(stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.JSON else TextFormatter())
    handler.addFilter(ThirdPartyFilter(numeric))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    for h in list(root.handlers):  # e.g. a basicConfig handler: one line per record, not two
        if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stderr, sys.stdout):
            root.removeHandler(h)
    root.addHandler(handler)
    # Root passes INFO and up to the filter (third-party INFO becomes DEBUG there); DEBUG shows everything.
    root.setLevel(min(numeric, logging.INFO))
    logging.getLogger("safegen").setLevel(numeric)
    _handler = handler
    logging.captureWarnings(True)
    warnings.simplefilter("default")  # every distinct warning reaches the filter (which shows it once)
    # Hugging Face Hub draws its download/upload bars itself; offline loading should show none.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # onnxruntime (1.32 at least) persists a telemetry device id under ~/.cache/Microsoft at import, and prints a native
    # warning past our handler when $HOME is read-only: a server needs neither a writable home nor telemetry.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if not any(isinstance(f, _QuietHuggingFace) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietHuggingFace())
    for name in _HF_LOGGING_MODULES:
        if name in sys.modules:
            quiet_hf_module(sys.modules[name])
    if _TORCH in sys.modules:
        quiet_torch()
    return handler


def log_event(
    logger: logging.Logger, event: str, message: str, *args: Any, level: int = logging.INFO, **fields: Any
) -> None:
    """One lifecycle line: `message % args` for people, plus `event` and `fields` as JSON keys."""
    logger.log(level, message, *args, extra={"event": event, **fields}, stacklevel=2)


class Stopwatch:
    """`with Stopwatch(log, "text-moderation"):` logs `loading X` then `loaded X in N ms` (or `failed`)."""

    def __init__(self, logger: logging.Logger, component: str, what: str = ""):
        self.logger, self.component, self.what = logger, component, what or component
        self.ms = 0.0

    def __enter__(self) -> "Stopwatch":
        self._t0 = time.perf_counter()
        log_event(self.logger, "loading", "loading %s", self.what, component=self.component)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.ms = (time.perf_counter() - self._t0) * 1000
        if kind is None:
            log_event(
                self.logger,
                "loaded",
                "loaded %s in %.0f ms",
                self.what,
                self.ms,
                component=self.component,
                ms=round(self.ms, 1),
            )
        else:
            log_event(
                self.logger,
                "load_failed",
                "loading %s failed after %.0f ms: %s",
                self.what,
                self.ms,
                exc,
                level=logging.ERROR,
                component=self.component,
                ms=round(self.ms, 1),
            )
