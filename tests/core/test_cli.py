"""The client commands as scripts use them: exit codes, human and proto-JSON output, closed pipes, Ctrl-C."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from safegen import cli
from safegen.core.types import Category, CategoryScore, Level, TextAssessment
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from safegen.text.servicer import create_servicer as text_servicer
from safegen.v1 import (
    common_pb2,
    image_generation_pb2 as gen_pb,
    safe_generation_pb2 as pb,
    safe_generation_pb2_grpc as pb_grpc,
)
from support import RedIsUnsafe, serve


class CleanClassifier:
    """The category classifier says NONE for every text: only the (real) banned-word lists intervene."""

    name = "clean-double"

    def assess(self, text, source):
        return TextAssessment(
            {c: CategoryScore(c, 0.01, Level.NONE) for c in (Category.SEXUAL, Category.VIOLENCE)}, backend=self.name
        )


#: Set when a "hang" request reaches the canned gateway.
HANGING = threading.Event()


class CannedGateway(pb_grpc.SafeGenerationServiceServicer):
    """StreamGenerate answers a fixed result: `blocked` prompts get no image, others one PNG; "hang" never ends."""

    def __init__(self):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, format="PNG")
        self.png = buf.getvalue()

    async def StreamGenerate(self, request, context):  # noqa: N802 - generated name
        if request.prompt == "hang":
            HANGING.set()  # the client is now blocked in its stream: the moment a Ctrl-C test wants
            await asyncio.sleep(60)
        yield pb.StreamGenerateResponse(
            stage=pb.StageEvent(stage=pb.STAGE_PROMPT_MODERATION, finished=True, detail="ok", seconds=0.001)
        )
        yield pb.StreamGenerateResponse(progress=gen_pb.GenerationProgress(step=1, total_steps=1))
        if request.prompt == "blocked":
            result = pb.GenerateResponse(action=common_pb2.ACTION_GUARDRAIL_INTERVENED, blocked_message="no")
        elif request.prompt == "blurred":
            result = pb.GenerateResponse(
                action=common_pb2.ACTION_GUARDRAIL_INTERVENED,
                images=[
                    pb.GeneratedImage(
                        data=self.png, blurred=True, seed=7, action=common_pb2.ACTION_GUARDRAIL_INTERVENED
                    )
                ],
            )
        else:
            result = pb.GenerateResponse(
                action=common_pb2.ACTION_NONE,
                images=[pb.GeneratedImage(data=self.png, seed=7, action=common_pb2.ACTION_NONE)],
            )
        yield pb.StreamGenerateResponse(result=result)


@pytest.fixture(scope="module")
def target():
    registry = GuardrailRegistry.load()
    with serve(
        text_servicer(registry, {}, backend=CleanClassifier()),
        image_servicer(registry, {}, detector=RedIsUnsafe()),
        CannedGateway(),
    ) as port:
        yield f"127.0.0.1:{port}"


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "text, code, verdict",
    [
        ("a watercolor of a lighthouse", 0, "ALLOWED"),
        ("a p0rn star", 3, "INTERVENED"),
    ],
)
def test_moderate_text_exit_code_and_human_output(capsys, target, text, code, verdict):
    got, out, _ = run(capsys, "moderate-text", "--target", target, text)
    assert got == code
    assert out.startswith(verdict)
    if code == 3:
        assert "word 'p0rn' at 2-6: managed profanity list entry" in out
    assert "{" not in out  # human-readable by default, not JSON


def test_moderate_text_human_output_names_a_threat_and_its_span(capsys, target):
    code, out, _ = run(capsys, "moderate-text", "--target", target, "I will kill you")
    assert code == 3 and out.startswith("INTERVENED")
    assert "threat 'I will kill you' at 0-15: intent rule, VIOLENCE" in out


def test_moderate_text_json_uses_proto_field_names(capsys, target):
    code, out, _ = run(capsys, "moderate-text", "--target", target, "--json", "a p0rn star")
    assert code == 3
    body = json.loads(out)
    assert body["action"] == "ACTION_GUARDRAIL_INTERVENED" and body["guardrail_id"] == "default"
    assert body["words"][0]["word_list"] == "WORD_LIST_MANAGED_PROFANITY"
    assert "filter_strength" in body["filters"][0] and "filterStrength" not in out


def test_moderate_image_exit_code_is_3_when_any_image_is_unsafe(capsys, target, tmp_path):
    safe, red = tmp_path / "blue.png", tmp_path / "red.png"
    safe.write_bytes(_png((0, 0, 255)))
    red.write_bytes(_png((255, 0, 0)))
    code, out, _ = run(capsys, "moderate-image", "--target", target, str(safe))
    assert code == 0 and out.startswith(f"{safe}: ALLOWED (PNG 64x64)")
    code, out, _ = run(capsys, "moderate-image", "--target", target, str(safe), str(red))
    assert code == 3 and f"{red}: INTERVENED" in out and "label 'Explicit'" in out
    code, out, _ = run(capsys, "moderate-image", "--target", target, "--json", str(red))
    assert code == 3 and json.loads(out)["results"][0]["labels"][0]["bounding_box"]["width"] > 0


def test_unreadable_file_is_a_usage_error(capsys, target, tmp_path):
    code, _, err = run(capsys, "moderate-image", "--target", target, str(tmp_path / "missing.png"))
    assert code == 2 and "cannot read" in err and "missing.png" in err


def test_server_errors_exit_1_with_the_status(capsys, target):
    code, _, err = run(capsys, "moderate-text", "--target", target, "--guardrail", "nope", "hello")
    assert code == 1 and err.startswith("safegen: NOT_FOUND:")


def test_guardrail_version_flag(capsys, target):
    code, out, _ = run(capsys, "moderate-text", "--target", target, "--guardrail-version", "DRAFT", "hello")
    assert code == 0 and "version DRAFT" in out
    code, _, err = run(capsys, "moderate-text", "--target", target, "--guardrail-version", "7", "hello")
    assert code == 1 and "NOT_FOUND" in err and "known versions: DRAFT" in err


def test_unreachable_server_exits_1(capsys):
    code, _, err = run(capsys, "moderate-text", "--target", "127.0.0.1:1", "--timeout", "2", "hello")
    assert code == 1 and "UNAVAILABLE" in err


@pytest.mark.parametrize(
    "prompt, code, line",
    [
        ("a blue square", 0, "wrote"),
        ("blurred", 3, "(blurred) seed=7"),
        ("blocked", 3, "blocked: no"),
    ],
)
def test_generate_exit_codes(capsys, target, tmp_path, prompt, code, line):
    out_file = tmp_path / "out.png"
    got, out, _ = run(capsys, "generate", "--target", target, "-o", str(out_file), prompt)
    assert got == code and line in out
    assert out_file.exists() == (prompt != "blocked")


def test_generate_draws_step_progress_only_on_a_terminal(capsys, target, tmp_path):
    code, _, err = run(capsys, "generate", "--target", target, "-o", str(tmp_path / "o.png"), "a blue square")
    assert code == 0 and "prompt_moderation: ok" in err and "step" not in err and "\r" not in err


def test_generate_json_is_the_result_message(capsys, target, tmp_path):
    code, out, _ = run(capsys, "generate", "--target", target, "-o", str(tmp_path / "o.png"), "--json", "blocked")
    assert code == 3 and json.loads(out) == {"action": "ACTION_GUARDRAIL_INTERVENED", "blocked_message": "no"}


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["moderate-text"])
    assert e.value.code == 2


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("safegen ")


def _client(*argv, **kw):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "safegen.cli", *argv], env=env, stderr=subprocess.PIPE, text=True, **kw
    )


def test_closed_pipe_ends_quietly(target):
    proc = _client("moderate-text", "--target", target, "--json", "a p0rn star", stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line, as with `| head -0`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and "Traceback" not in err, err


def test_ctrl_c_ends_quietly(target, tmp_path):
    HANGING.clear()
    # A pytest-xdist worker ignores SIGINT and a child inherits SIG_IGN, so Python would never raise
    # KeyboardInterrupt in it; a user's shell starts the CLI with the default disposition, as here.
    proc = _client(
        "generate",
        "--target",
        target,
        "-o",
        str(tmp_path / "x.png"),
        "hang",
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Interrupt once the request is in flight, not after a fixed sleep: on a loaded machine the client may
    # still be importing grpc after 3 s.
    assert HANGING.wait(timeout=60), "the client never reached the server"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err, err


def test_a_command_imports_no_other_subcommands_plugin():
    code = (
        "import sys\nfrom safegen import cli\ncli.build_parser('serve').parse_args(['serve'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('safegen.training', 'safegen.scan'))))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_bash_completion_completes_commands_and_their_options(capsys, tmp_path):
    assert cli.main(["completion"]) == 0
    script = tmp_path / "complete.sh"
    script.write_text(capsys.readouterr().out)

    def complete(*words):
        line = " ".join(words)
        r = subprocess.run(
            [
                "bash",
                "-c",
                f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                '_safegen; echo "${COMPREPLY[@]}"',
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("safegen", "mod") == ["moderate-text", "moderate-image"]
    assert complete("safegen", "moderate-image", "--js") == ["--json"]
    assert complete("safegen", "serve", "image-") == ["image-generation", "image-moderation"]
    assert "--quarantine" in complete("safegen", "scan-dataset", "--")  # plugins' options too
