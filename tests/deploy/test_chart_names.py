"""What a real API server rejects and `helm template` does not: names and label values over 63 characters,
and resource quantities rendered as numbers (server-side apply wants strings)."""

from __future__ import annotations

import pytest

from deploy_helpers import CHART, SCENARIOS, documents, render

pytestmark = pytest.mark.tools

#: The longest release name Helm accepts is 53 characters.
LONG_RELEASE = "payments-platform-image-safety-production-eu-west-1bx"
LABEL_KEYS = ("labels", "matchLabels")


def _labels(obj, path=""):
    """Every (path, value) of a label map anywhere in a manifest (metadata, selectors, pod templates)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in LABEL_KEYS and isinstance(value, dict):
                for k, v in value.items():
                    yield f"{path}.{key}.{k}", v
            else:
                yield from _labels(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _labels(value, f"{path}[{i}]")


CASES = [(LONG_RELEASE, p) for p in SCENARIOS] + [
    ("safegen-" + "x" * 45, CHART / "ci" / "everything-values.yaml"),
    ("a", CHART / "ci" / "everything-values.yaml"),
]


@pytest.mark.parametrize("release,scenario", CASES, ids=[f"{len(r)}-{p.name}" for r, p in CASES])
def test_every_name_and_label_value_fits_in_63_characters(helm, release, scenario):
    assert len(LONG_RELEASE) == 53
    docs = documents(render(helm, scenario, release=release))
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    too_long = [(k, n, len(n)) for k, n in names if len(n) > 63]
    assert not too_long, too_long
    assert all(not n.endswith("-") for _, n in names)
    labels = [(d["kind"], p, v) for d in docs for p, v in _labels(d) if len(str(v)) > 63]
    assert not labels, labels
    # Truncation must not make two objects of one kind share a name.
    assert len(set(names)) == len(names)


def test_long_release_names_still_wire_the_services_together(helm):
    docs = documents(render(helm, release=LONG_RELEASE))
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    (gateway,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-gateway")]
    env = {e["name"]: e.get("value", "") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    for key in ("SAFEGEN_TEXT_MODERATION_ADDR", "SAFEGEN_IMAGE_MODERATION_ADDR", "SAFEGEN_IMAGE_GENERATION_ADDR"):
        host = env[key].removeprefix("dns:///").split(".")[0]
        assert host in services, (key, env[key], sorted(services))


def test_resource_quantities_render_as_strings(helm):
    docs = documents(
        render(
            helm,
            CHART / "ci" / "gpu-values.yaml",
            sets=("textModeration.resources.requests.cpu=2", "textModeration.resources.limits.memory=4294967296"),
        )
    )
    seen = 0
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            for kind, quantities in c["resources"].items():
                for resource, amount in quantities.items():
                    assert isinstance(amount, str), (d["metadata"]["name"], kind, resource, amount)
                    seen += 1
    assert seen >= 8
    by_name = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    gen = by_name["safegen-image-generation"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert gen["limits"]["nvidia.com/gpu"] == "1"
    text = by_name["safegen-text-moderation"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert text["requests"]["cpu"] == "2" and text["limits"]["memory"] == "4294967296"  # not 4.294967296e+09
