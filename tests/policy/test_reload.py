"""Hot reload of SAFEGEN_GUARDRAILS_DIR: new and changed files serve, broken ones are refused and counted,
versions are immutable, ConfigMap symlink swaps work, and no request sees a half-loaded guardrail."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from prometheus_client import REGISTRY

from safegen.core.types import Source
from safegen.errors import NotFound
from safegen.policy import GuardrailRegistry
from safegen.text.moderator import TextModerator

from policy_helpers import FixedBackend, HashEncoder, write


def _errors(reason: str) -> float:
    return REGISTRY.get_sample_value("safegen_guardrail_reload_errors_total", {"reason": reason}) or 0.0


def _brand(version=None, message="one", **extra):
    d = {"id": "brand", "blockedInputMessaging": message, **extra}
    if version is not None:
        d["version"] = version
    return d


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_watcher_serves_a_new_and_a_changed_file_within_five_seconds(gdir):
    reg = GuardrailRegistry.load(gdir)
    reg.start_watching(0.2)
    try:
        write(gdir, "brand.yaml", _brand(message="first"))
        t0 = time.monotonic()
        assert _wait_for(lambda: "brand" in {g.id for g in reg.all()})
        assert time.monotonic() - t0 < 5
        write(gdir, "brand.yaml", _brand(message="second"))
        assert _wait_for(lambda: reg.get("brand").blocked_input_message == "second")
    finally:
        reg.stop_watching()


def test_broken_file_is_refused_with_file_and_key_and_the_old_one_keeps_serving(gdir, caplog):
    path = write(gdir, "brand.yaml", _brand(message="good"))
    reg = GuardrailRegistry.load(gdir)
    before = _errors("invalid")
    write(
        gdir,
        "brand.yaml",
        {
            **_brand(message="bad"),
            "contentPolicyConfig": {"filtersConfig": [{"type": "SEXUAL", "inputStrenght": "HIGH"}]},
        },
    )
    with caplog.at_level(logging.ERROR, logger="safegen.policy"):
        assert reg.reload_if_changed()
    assert reg.get("brand").blocked_input_message == "good"
    assert _errors("invalid") == before + 1
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert str(path) in line and "inputStrenght" in line and "filtersConfig[0]" in line
    # An unparseable YAML file is refused the same way; a new broken file never serves at all.
    (gdir / "brand.yaml").write_text("id: brand\nname: [unclosed\n")
    write(gdir, "other.yaml", {"id": "other", "colour": "red"})
    reg.reload_if_changed()
    assert reg.get("brand").blocked_input_message == "good"
    with pytest.raises(NotFound):
        reg.get("other")
    assert _errors("invalid") == before + 3
    # Nothing changed: no new log line, no new count (errors are reported once per change).
    assert not reg.reload_if_changed() and _errors("invalid") == before + 3


def test_numbered_versions_are_immutable(gdir, caplog):
    write(gdir, "brand-1.yaml", _brand(1, "v1"))
    reg = GuardrailRegistry.load(gdir)
    before = _errors("immutable")
    write(gdir, "brand-1.yaml", _brand(1, "v1 edited in place"))
    with caplog.at_level(logging.ERROR, logger="safegen.policy"):
        reg.reload()
    assert reg.get("brand", "1").blocked_input_message == "v1"
    assert _errors("immutable") == before + 1
    assert any("brand-1.yaml: version" in r.getMessage() and "immutable" in r.getMessage() for r in caplog.records)
    # Even removed and re-added later, version 1 may not come back with other content.
    (gdir / "brand-1.yaml").unlink()
    write(gdir, "brand-2.yaml", _brand(2, "v2"))
    reg.reload()
    assert [g.version for g in reg.versions("brand")] == [2]
    write(gdir, "brand-1.yaml", _brand(1, "sneaky"))
    reg.reload()
    assert [g.version for g in reg.versions("brand")] == [2]
    # The same content under the same number is fine (e.g. a file restored from git).
    write(gdir, "brand-1.yaml", _brand(1, "v1"))
    reg.reload()
    assert [g.version for g in reg.versions("brand")] == [1, 2] and reg.get("brand").version == 2


def test_removed_files_stop_serving_but_the_default_never_goes(gdir):
    write(gdir, "brand.yaml", _brand())
    write(gdir, "default.yaml", {"id": "default", "blockedInputMessaging": "mine"})
    reg = GuardrailRegistry.load(gdir)
    (gdir / "brand.yaml").unlink()
    (gdir / "default.yaml").unlink()
    reg.reload()
    with pytest.raises(NotFound):
        reg.get("brand")
    assert reg.get("").blocked_input_message != "mine"  # the built-in default serves again


def test_a_configured_default_that_breaks_keeps_serving(gdir):
    write(gdir, "house.yaml", {"id": "house", "blockedInputMessaging": "house"})
    reg = GuardrailRegistry.load(gdir, default_id="house")
    before = _errors("default")
    (gdir / "house.yaml").unlink()
    reg.reload()
    assert reg.get("").id == "house" and _errors("default") == before + 1


def _configmap(root, files: dict[str, dict], stamp: str):
    """Lays out files as the kubelet does: ..<stamp>/ with the files, ..data -> ..<stamp>, name -> ..data/name."""
    import yaml

    target = root / f"..{stamp}"
    target.mkdir()
    for name, doc in files.items():
        (target / name).write_text(yaml.safe_dump(doc))
    tmp = root / "..data_tmp"
    os.symlink(target.name, tmp)
    os.replace(tmp, root / "..data")  # the atomic swap
    for name in files:
        if not (root / name).is_symlink():
            os.symlink(f"..data/{name}", root / name)
    return target


def test_configmap_symlink_swap(gdir):
    old = _configmap(gdir, {"brand.yaml": _brand(message="before")}, "2026_12_01_10_00_00.1")
    reg = GuardrailRegistry.load(gdir)
    assert reg.get("brand").blocked_input_message == "before"
    _configmap(gdir, {"brand.yaml": _brand(message="after")}, "2026_12_01_10_05_00.2")
    for p in old.iterdir():
        p.unlink()
    old.rmdir()
    assert reg.reload_if_changed()
    g = reg.get("brand")
    assert g.blocked_input_message == "after"
    assert g.path == str(gdir / "brand.yaml")  # the path operators know, not the timestamped one


def test_preparer_failure_refuses_the_file_and_keeps_the_old(gdir):
    write(gdir, "brand.yaml", _brand(message="good"))
    reg = GuardrailRegistry.load(gdir)

    def prepare(g):
        if g.blocked_input_message == "poison":
            raise RuntimeError("cannot embed")

    reg.add_preparer(prepare)
    before = _errors("prepare")
    write(gdir, "brand.yaml", _brand(message="poison"))
    reg.reload()
    assert reg.get("brand").blocked_input_message == "good" and _errors("prepare") == before + 1
    # Another file changing later does not drop the one that keeps serving its old version.
    write(gdir, "other.yaml", {"id": "other"})
    reg.reload()
    assert reg.get("brand").blocked_input_message == "good" and reg.get("other").id == "other"


def test_no_request_sees_a_half_loaded_guardrail_under_concurrent_reloads(gdir):
    """Two drafts alternate while 4 threads moderate: every verdict comes wholly from one of them (its
    word, its topic and its version name), never a mix, never an error."""
    a = _brand(
        message="A",
        wordPolicyConfig={"wordsConfig": [{"text": "alpha"}]},
        topicPolicyConfig={"topicsConfig": [{"name": "Cats", "definition": "cats kittens felines"}]},
    )
    b = _brand(
        message="B",
        wordPolicyConfig={"wordsConfig": [{"text": "bravo"}]},
        topicPolicyConfig={"topicsConfig": [{"name": "Dogs", "definition": "dogs puppies hounds"}]},
    )
    write(gdir, "brand.yaml", a)
    reg = GuardrailRegistry.load(gdir)
    mod = TextModerator(reg, FixedBackend(), encoder=HashEncoder())
    reg.add_preparer(mod.prepare)
    stop = threading.Event()
    seen, problems = {"A": 0, "B": 0}, []

    def client():
        while not stop.is_set():
            try:
                v = mod.moderate("alpha bravo cats dogs", Source.INPUT, "brand")
            except Exception as e:  # noqa: BLE001
                problems.append(repr(e))
                continue
            words = {m.word for m in v.words}
            topics = {t.name for t in v.topics}
            if words == {"alpha"} and topics == {"Cats"}:
                seen["A"] += 1
            elif words == {"bravo"} and topics == {"Dogs"}:
                seen["B"] += 1
            else:
                problems.append(f"mixed verdict: words {words}, topics {topics}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(40):
            write(gdir, "brand.yaml", b if i % 2 == 0 else a)
            reg.reload()
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not problems, problems[:5]
    assert seen["A"] > 0 and seen["B"] > 0, seen
