"""Guardrail versions: several files per id, selection by guardrail_version, NotFound listing the versions."""

from __future__ import annotations

import pytest

from safegen.errors import InvalidArgument, NotFound
from safegen.policy import GuardrailConfigError, GuardrailRegistry, parse_version
from safegen.policy.guardrail import parse_guardrail

from policy_helpers import write


def _doc(version=None, message="m", gid="brand"):
    d = {"id": gid, "name": f"Brand v{version}", "blockedInputMessaging": message}
    if version is not None:
        d["version"] = version
    return d


@pytest.mark.parametrize("value,expected", [("", None), ("DRAFT", None), ("draft", None), (" 3 ", 3), ("12", 12)])
def test_parse_version(value, expected):
    assert parse_version(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "v2", "1.5", "latest", "³", "①", "٣"])
def test_bad_version_strings_are_invalid_argument(value):
    with pytest.raises(InvalidArgument, match="guardrail_version must be empty, DRAFT or a positive integer"):
        parse_version(value)


@pytest.mark.parametrize("version", [0, -2, "3", 1.0, True])
def test_version_in_a_file_must_be_a_positive_integer(version):
    with pytest.raises(GuardrailConfigError, match="version must be a positive integer"):
        parse_guardrail(_doc(version), "v.yaml", "v")


def test_versions_select_highest_exact_and_not_found(gdir):
    write(gdir, "brand-1.yaml", _doc(1, "one"))
    write(gdir, "brand-2.yaml", _doc(2, "two"))
    write(gdir, "brand-7.yaml", _doc(7, "seven"))
    reg = GuardrailRegistry.load(gdir)
    assert reg.get("brand").version == 7
    assert reg.get("brand", "DRAFT").blocked_input_message == "seven"
    assert reg.get("brand", "2").blocked_input_message == "two"
    assert reg.get("brand", "2").version_name == "2"
    with pytest.raises(NotFound, match=r"guardrail 'brand' has no version 3; known versions: 1, 2, 7"):
        reg.get("brand", "3")
    assert [g.version_name for g in reg.versions("brand")] == ["1", "2", "7"]
    # all() lists the highest version of each id, default first.
    assert [(g.id, g.version_name) for g in reg.all()][0] == ("default", "DRAFT")
    assert ("brand", "7") in [(g.id, g.version_name) for g in reg.all()]


def test_unnumbered_file_is_draft(gdir):
    write(gdir, "brand.yaml", _doc(None))
    g = GuardrailRegistry.load(gdir).get("brand", "DRAFT")
    assert g.version == 0 and g.version_name == "DRAFT"


def test_two_files_with_one_id_and_version_are_refused_at_start(gdir):
    write(gdir, "a.yaml", _doc(1, "a"))
    write(gdir, "b.yaml", _doc(1, "b"))
    with pytest.raises(
        GuardrailConfigError, match=r"b.yaml: id: guardrail 'brand' version 1 is also defined by .*a.yaml"
    ):
        GuardrailRegistry.load(gdir)


def test_a_draft_beside_numbered_versions_is_refused_at_start(gdir):
    write(gdir, "a.yaml", _doc(1))
    write(gdir, "b.yaml", _doc(None))
    with pytest.raises(GuardrailConfigError, match=r"b.yaml: version: guardrail 'brand' has numbered versions \(1\)"):
        GuardrailRegistry.load(gdir)


def test_directory_versions_replace_the_builtin_of_the_same_id(gdir):
    write(gdir, "default-3.yaml", _doc(3, "mine", gid="default"))
    reg = GuardrailRegistry.load(gdir)
    assert [g.version for g in reg.versions("default")] == [3]
    assert reg.get("").blocked_input_message == "mine"


def test_digest_ignores_comments_and_layout_but_not_content():
    a = parse_guardrail(_doc(1), "a.yaml", "a")
    b = parse_guardrail({**_doc(1)}, "b.yaml", "b")
    c = parse_guardrail(_doc(1, "changed"), "c.yaml", "c")
    assert a.digest == b.digest != c.digest
