"""The chart's scan Job, run: the arguments and environment it renders, given to 4 `safegen scan-dataset`
processes (as the Indexed Job's pods, JOB_COMPLETION_INDEX 0-3) against an S3 emulator (moto server) and a
real image moderation server, then the merge Job's; the merged report and dataset_info.json land in S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import ImageDraw

from deploy_helpers import CHART, REPO, documents, render
from safegen.image.servicer import create_servicer
from safegen.policy import GuardrailRegistry
from safegen.training import synthetic_images as synthetic
from support import RedIsUnsafe, serve

pytestmark = pytest.mark.tools
moto_server = pytest.importorskip("moto.server")


@pytest.fixture
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def pod_command(job: dict, image_target: str) -> tuple[list[str], dict[str, str]]:
    """The container's args and literal env, with the in-cluster Service addresses replaced by the local server."""
    (c,) = job["spec"]["template"]["spec"]["containers"]
    args = [
        a if not a.startswith(("--target=", "--text-target=")) else f"{a.split('=', 1)[0]}={image_target}"
        for a in c["args"]
    ]
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    env.pop("SAFEGEN_GUARDRAILS_DIR")  # the pod's ConfigMap mount; the client side reads no guardrails
    return args, env


def test_the_rendered_scan_and_merge_jobs_scan_s3_end_to_end(helm, s3_endpoint, tmp_path):
    import boto3

    jobs = {
        d["metadata"]["name"]: d
        for d in documents(render(helm, CHART / "ci" / "scan-values.yaml"))
        if d["kind"] == "Job"
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="training-data")
    names = []
    for i in range(12):
        img = synthetic.landscape(i, 96)
        if i % 4 == 0:
            ImageDraw.Draw(img).rectangle((10, 10, 80, 80), fill=(240, 5, 5))
        names.append(f"img_{i:02d}.png")
        s3.put_object(Bucket="training-data", Key=f"dogs/{names[-1]}", Body=synthetic.encode(img))
    s3.put_object(
        Bucket="training-data",
        Key="dogs/dataset_info.json",
        Body=json.dumps({"instance_prompt": "a photo of sks dog", "images": names}).encode(),
    )

    servicer = create_servicer(GuardrailRegistry.load(), {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe())
    base_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "services"), str(REPO / "gateway")]),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAFEGEN_AWS_ENDPOINT_URL": s3_endpoint,
        "OMP_NUM_THREADS": "1",
    }
    with serve(servicer) as port:
        args, env = pod_command(jobs["safegen-scan"], f"127.0.0.1:{port}")
        count = int(env["JOB_COMPLETION_COUNT"])
        pods = [
            subprocess.Popen(
                [sys.executable, "-m", "safegen.cli", *args],
                cwd=tmp_path,
                env={**base_env, **env, "JOB_COMPLETION_INDEX": str(k)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(count)
        ]
        outs = [p.communicate(timeout=180) for p in pods]
        for p, (out, err) in zip(pods, outs):
            assert p.returncode == 0, err[-2000:]  # --unsafe-exit-code=0: findings are not failures
        assert sorted(int(out.split(":")[0].split()[1].split("/")[0]) for out, _ in outs) == list(range(count))

        margs, menv = pod_command(jobs["safegen-scan-merge"], "")
        merge = subprocess.run(
            [sys.executable, "-m", "safegen.cli", *margs],
            cwd=tmp_path,
            env={**base_env, **menv},
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert merge.returncode == 0, merge.stderr[-2000:]
    assert f"merged {count} of {count} shards: 12 images" in merge.stdout
    assert list(tmp_path.iterdir()) == []  # every byte of state went to S3, none to the pod's disk

    report = json.loads(
        s3.get_object(Bucket="training-data", Key="scan-state/dogs/safegen_scan_report.json")["Body"].read()
    )
    assert report["summary"]["images"] == 12 and report["summary"]["unsafe"] == 3
    assert report["shards"] == {"count": count, "merged": list(range(count)), "missing": []}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="training-data")["Contents"]}
    unsafe = [n for i, n in enumerate(names) if i % 4 == 0]
    assert all(f"quarantine/dogs/{n}" in keys and f"dogs/{n}" not in keys for n in unsafe)
    info = json.loads(s3.get_object(Bucket="training-data", Key="dogs/dataset_info.json")["Body"].read())
    assert info["images"] == [n for n in names if n not in unsafe]
    assert info["safegen_scan"]["quarantined"] == unsafe
