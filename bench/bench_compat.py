"""Prints what the drop-in OpenAI / Bedrock / Azure routes cost next to safegen's own /v1/apply-guardrail.

Starts the gateway's GuardrailService over the real text moderation service (bundled classifier, word
lists) and image moderation with the test suite's red-image double (so image numbers are the HTTP
mapping and base64, not a detector), HTTP front on loopback. Then, interleaved round-robin so machine
noise hits every route alike, N sequential requests per route with one keep-alive connection each:
  raw      - http.client POSTs of each route's JSON (the server side: parsing, mapping, the gRPC hop)
  sdk      - the same verdict through the real client: openai, boto3 (SigV4 signing), azure-ai-contentsafety
and the pure mapping functions alone (parse + response, no I/O), in microseconds.
Usage: python bench/bench_compat.py [-n 200] [--image-side 512]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import statistics
import sys
import time
from pathlib import Path

TEXT = "a watercolor painting of a lighthouse on a cliff at sunset"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--image-side", type=int, default=512)
    args = p.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's helpers
    import boto3
    import numpy as np
    import openai
    from azure.ai.contentsafety import ContentSafetyClient
    from azure.ai.contentsafety.models import AnalyzeImageOptions, AnalyzeTextOptions, ImageData
    from azure.core.credentials import AzureKeyCredential
    from botocore.config import Config
    from PIL import Image
    from web.compat_support import real_stack

    from safegen.gateway.http import azure_compat, bedrock_compat, openai_compat
    from safegen.v1 import common_pb2, guardrail_pb2

    rng = np.random.default_rng(0)
    buf = io.BytesIO()  # noise compresses badly: a realistic-size PNG (~0.8 MB at 512x512)
    Image.fromarray(rng.integers(0, 255, (args.image_side, args.image_side, 3), dtype=np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    b64 = base64.b64encode(png).decode()

    with real_stack() as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=60)

        def raw(path: str, body: dict):
            def call():
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                assert r.status == 200, data[:300]

            return call

        oai = openai.OpenAI(base_url=f"{s.base_url}/v1", api_key="unused", max_retries=0)
        brt = boto3.client(
            "bedrock-runtime",
            endpoint_url=s.base_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            config=Config(retries={"max_attempts": 1}),
        )
        az = ContentSafetyClient(s.base_url, AzureKeyCredential("unused"), retry_total=0)
        cases = {
            "text  raw  /v1/apply-guardrail (baseline)": raw(
                "/v1/apply-guardrail", {"source": "SOURCE_INPUT", "content": [{"text": {"text": TEXT}}]}
            ),
            "text  raw  /v1/moderations": raw("/v1/moderations", {"input": TEXT}),
            "text  raw  bedrock apply": raw(
                "/guardrail/default/version/DRAFT/apply", {"source": "INPUT", "content": [{"text": {"text": TEXT}}]}
            ),
            "text  raw  azure text:analyze": raw("/contentsafety/text:analyze?api-version=2023-10-01", {"text": TEXT}),
            "text  sdk  openai moderations.create": lambda: oai.moderations.create(input=TEXT),
            "text  sdk  boto3 apply_guardrail": lambda: brt.apply_guardrail(
                guardrailIdentifier="default",
                guardrailVersion="DRAFT",
                source="INPUT",
                content=[{"text": {"text": TEXT}}],
            ),
            "text  sdk  azure analyze_text": lambda: az.analyze_text(AnalyzeTextOptions(text=TEXT)),
            "image raw  /v1/apply-guardrail (baseline)": raw(
                "/v1/apply-guardrail", {"source": "SOURCE_OUTPUT", "content": [{"image": {"data": b64}}]}
            ),
            "image raw  /v1/moderations": raw(
                "/v1/moderations",
                {"input": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}}]},
            ),
            "image raw  bedrock apply": raw(
                "/guardrail/default/version/DRAFT/apply",
                {"source": "OUTPUT", "content": [{"image": {"format": "png", "source": {"bytes": b64}}}]},
            ),
            "image raw  azure image:analyze": raw(
                "/contentsafety/image:analyze?api-version=2023-10-01", {"image": {"content": b64}}
            ),
            "image sdk  boto3 apply_guardrail": lambda: brt.apply_guardrail(
                guardrailIdentifier="default",
                guardrailVersion="DRAFT",
                source="OUTPUT",
                content=[{"image": {"format": "png", "source": {"bytes": png}}}],
            ),
            "image sdk  azure analyze_image": lambda: az.analyze_image(
                AnalyzeImageOptions(image=ImageData(content=png))
            ),
        }
        for call in cases.values():  # warm up: model load, connections
            for _ in range(3):
                call()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.n):
            for name, call in cases.items():
                t0 = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - t0) * 1000)

    # The mapping functions alone.
    resp = guardrail_pb2.ApplyGuardrailResponse(
        action=common_pb2.ACTION_NONE,
        guardrail_id="default",
        assessments=[
            guardrail_pb2.GuardrailAssessment(
                content_index=0,
                action=common_pb2.ACTION_NONE,
                filters=[
                    common_pb2.FilterResult(
                        category=c,
                        score=0.01,
                        confidence=common_pb2.CONFIDENCE_NONE,
                        filter_strength=common_pb2.FILTER_STRENGTH_HIGH,
                    )
                    for c in range(1, 7)
                ],
            )
        ],
    )
    micro = {
        "openai parse+response (text)": lambda: openai_compat.response(
            openai_compat.parse_request({"input": TEXT}), [resp]
        ),
        "bedrock parse+response (text)": lambda: bedrock_compat.response(
            bedrock_compat.parse_request(
                "default", "DRAFT", {"source": "INPUT", "content": [{"text": {"text": TEXT}}]}
            ),
            resp,
            1,
        ),
        "azure parse+response (text)": lambda: azure_compat.text_result(
            resp, azure_compat.text_request({"text": TEXT})[1], False
        ),
        f"openai data URL decode ({len(png) // 1024} KB PNG)": lambda: openai_compat.decode_data_url(
            f"data:image/png;base64,{b64}", "u"
        ),
    }
    micro_us = {}
    for name, fn in micro.items():
        fn()
        reps = 50 if "KB" in name else 2000
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        micro_us[name] = (time.perf_counter() - t0) / reps * 1e6

    print(
        f"{args.n} sequential requests per route, interleaved; PNG {len(png):,} bytes ({args.image_side}x{args.image_side})"
    )
    print(f"{'route':48s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}")
    for name, xs in times.items():
        print(f"{name:48s} {statistics.median(xs):8.2f} {pct(xs, 99):8.2f} {statistics.fmean(xs):8.2f}")
    print("mapping functions alone (no I/O):")
    for name, us in micro_us.items():
        print(f"  {name:46s} {us:9.1f} us")


if __name__ == "__main__":
    main()
