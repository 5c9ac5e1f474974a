"""safegen.core.logging: JSON and text lines, lifecycle fields, and third-party chatter demoted to DEBUG once."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import warnings

import pytest

from safegen.core import logging as slog
from safegen.core.settings import CoreSettings, SettingsError


@pytest.fixture
def capture():
    """configure() into a buffer; restores the root logger afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("safegen").level)
    streams = []

    def make(level="INFO", fmt=slog.LogFormat.JSON):
        stream = io.StringIO()
        streams.append(stream)
        slog.configure(level, fmt, stream=stream)
        return stream

    yield make
    logging.captureWarnings(False)
    if slog._handler is not None:
        root.removeHandler(slog._handler)
        slog._handler = None
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("safegen").setLevel(saved[2])


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lifecycle_events_carry_their_fields_as_json_keys(capture):
    out = capture()
    log = logging.getLogger("safegen.serve")
    with slog.Stopwatch(log, "text-moderation") as sw:
        pass
    slog.log_event(log, "serving", "serving on %s:%d", "127.0.0.1", 50051, port=50051)
    loading, loaded, serving = lines(out)
    assert loading["event"] == "loading" and loading["component"] == "text-moderation"
    assert loaded["event"] == "loaded" and loaded["ms"] == round(sw.ms, 1)
    assert loaded["message"].startswith("loaded text-moderation in ")
    assert serving == {
        **serving,
        "event": "serving",
        "port": 50051,
        "message": "serving on 127.0.0.1:50051",
        "logger": "safegen.serve",
        "level": "INFO",
    }
    assert serving["time"].endswith("Z")


def test_failed_load_is_an_error_line(capture):
    out = capture()
    with pytest.raises(RuntimeError):
        with slog.Stopwatch(logging.getLogger("safegen.serve"), "image-moderation"):
            raise RuntimeError("weights missing")
    failed = lines(out)[-1]
    assert failed["level"] == "ERROR" and failed["event"] == "load_failed" and "weights missing" in failed["message"]


def test_text_format_is_one_readable_line(capture):
    out = capture(fmt=slog.LogFormat.TEXT)
    logging.getLogger("safegen.serve").info("stopped")
    assert out.getvalue().rstrip().endswith(" INFO safegen.serve: stopped")
    assert out.getvalue().count("\n") == 1


def test_third_party_records_go_to_debug_once(capture):
    out = capture()
    logging.getLogger("onnxruntime.quantization").warning("Please consider to run pre-processing")
    logging.getLogger().info("Quantization parameters for tensor ...")  # onnxruntime logs on the root logger
    assert out.getvalue() == ""  # demoted below INFO
    out = capture(level="DEBUG")
    for _ in range(3):
        logging.getLogger("onnxruntime.quantization").warning("Please consider to run pre-processing")
    (line,) = lines(out)
    assert line["level"] == "DEBUG" and line["logger"] == "onnxruntime.quantization"


def test_third_party_errors_stay_errors_and_safegen_warnings_stay_warnings(capture):
    out = capture()
    # (not "torch": torch gives its logger its own handler once imported, as other tests in this process do)
    logging.getLogger("somelib.cuda").error("CUDA error: out of memory")
    logging.getLogger("safegen.image").warning("NudeNet is enabled")
    logging.getLogger("safegen.image").warning("NudeNet is enabled")  # our own lines are never deduplicated
    assert [(x["logger"], x["level"]) for x in lines(out)] == [
        ("somelib.cuda", "ERROR"),
        ("safegen.image", "WARNING"),
        ("safegen.image", "WARNING"),
    ]


def test_known_messages_are_reworded(capture):
    out = capture(level="DEBUG")
    logging.getLogger("diffusers.models.modeling_utils").warning(
        "Cannot initialize model with low cpu memory usage because `accelerate` was not found in the environment."
    )
    (line,) = lines(out)
    assert line["level"] == "DEBUG" and line["message"].startswith("diffusers loads weights without `accelerate`")


def test_python_warnings_are_captured(capture):
    out = capture(level="DEBUG")
    warnings.warn("Converting a tensor to a Python boolean might cause the trace to be incorrect", UserWarning)
    (line,) = lines(out)
    assert line["logger"] == "py.warnings" and line["level"] == "DEBUG" and "Python boolean" in line["message"]


def test_default_format_is_text_on_a_terminal_and_json_otherwise():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert slog.default_format(Tty()) is slog.LogFormat.TEXT
    assert slog.default_format(io.StringIO()) is slog.LogFormat.JSON


@pytest.mark.parametrize("value, want", [("", ""), ("JSON", "json"), ("text", "text")])
def test_log_format_setting(value, want):
    assert CoreSettings.from_env({"SAFEGEN_LOG_FORMAT": value}).log_format == want


def test_bad_log_format_names_the_variable():
    with pytest.raises(SettingsError, match="SAFEGEN_LOG_FORMAT='xml': expected json or text"):
        CoreSettings.from_env({"SAFEGEN_LOG_FORMAT": "xml"})


def test_hugging_face_handlers_and_progress_bars_are_switched_off_at_import():
    # A fresh interpreter: transformers must not have been imported before configure().
    code = (
        "import sys, logging\n"
        "from safegen.core import logging as slog\n"
        "slog.configure('INFO', slog.LogFormat.JSON)\n"
        "from transformers.utils import logging as tl\n"
        "root = logging.getLogger('transformers')\n"
        "assert root.propagate and not root.handlers, (root.propagate, root.handlers)\n"
        "assert not tl.is_progress_bar_enabled()\n"
        "tl.get_logger('transformers.x').warning('chatter')\n"
        "logging.getLogger('safegen.t').info('ours')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["message"] for x in r.stderr.splitlines()] == ["ours"]


def test_torch_loggers_handler_is_switched_off_at_import():
    code = (
        "import logging\n"
        "from safegen.core import logging as slog\n"
        "slog.configure('INFO', slog.LogFormat.JSON)\n"
        "import torch\n"
        "root = logging.getLogger('torch')\n"
        "assert root.propagate and not root.handlers, (root.propagate, root.handlers)\n"
        "logging.getLogger('torch._dynamo').warning('chatter')\n"
        "logging.getLogger('torch').error('a real error')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert [(json.loads(x)["logger"], json.loads(x)["level"]) for x in r.stderr.splitlines()] == [("torch", "ERROR")]


@pytest.mark.slow
def test_a_clean_start_prints_only_safegen_lines(tmp_path):
    """`safegen serve` (all-in-one) from start to stop: every line is one of safegen's JSON lines, in
    lifecycle order; no third-party warning, advice or progress bar reaches the log."""
    from support import ServeProcess, stop_processes

    sp = ServeProcess(
        tmp_path, "--http-port", "0", env={"SAFEGEN_LOG_FORMAT": "json", "SAFEGEN_LOG_LEVEL": "INFO"}, name="quiet"
    )
    try:
        sp.wait_ready(300)
    finally:
        stop_processes([sp.proc])
    assert sp.proc.returncode == 0
    text = sp.log_file.read_text()
    assert "\r" not in text and "it/s]" not in text, "a progress bar reached the log"
    lines = [json.loads(line) for line in text.splitlines()]  # raises on any raw third-party output
    foreign = [x for x in lines if not x["logger"].startswith("safegen")]
    assert not foreign, foreign
    events = [x["event"] for x in lines if "event" in x]
    assert events[0] == "starting" and events[-3:] == ["serving", "draining", "stopped"], events
    loaded = {x["component"] for x in lines if x.get("event") == "loaded"}
    assert loaded == {"text-moderation", "image-moderation", "image-generation"}
    assert all(x["ms"] > 0 for x in lines if x.get("event") == "loaded")
