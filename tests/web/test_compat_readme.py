"""The README's drop-in snippets run unchanged (but for the base URL) against a real stack."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from .compat_support import real_stack

README = Path(__file__).resolve().parents[2] / "README.md"


def snippets() -> list[str]:
    section = README.read_text().split("## Drop-in clients", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_there_is_one_short_snippet_per_sdk():
    found = snippets()
    assert len(found) == 3
    assert all(len(s.strip().splitlines()) <= 5 for s in found), [len(s.splitlines()) for s in found]


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


@pytest.mark.parametrize(
    "index,expected",
    [
        (0, "True True"),
        (1, "GUARDRAIL_INTERVENED [{'text': 'This prompt was blocked"),
        (2, "'category': 'Sexual', 'severity': 6"),
    ],
)
def test_snippet_runs(stack, index, expected):
    code = snippets()[index].replace("http://localhost:8080", stack.base_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README snippet {index}", "exec"), {})
    assert expected in out.getvalue(), out.getvalue()
