"""Shared by the SageMaker and Bedrock backends: retries with backoff, image decoding, client setup."""

from __future__ import annotations

import base64
import binascii
import io
import random
import time
from dataclasses import replace
from typing import Callable, TypeVar

from safegen.core.aws import map_aws_error
from safegen.errors import Unavailable
from safegen.generation.request import CancelToken

T = TypeVar("T")

#: Error codes worth retrying: the service is overloaded or warming up, the request itself is fine.
RETRYABLE = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "ModelNotReadyException",
    "InternalServerException",
    "InternalFailure",
}
_PNG = b"\x89PNG\r\n\x1a\n"


def aws_client(service: str, aws=None, session=None):
    """A boto3 client with botocore's own retries off: `call_with_retries` retries instead, so the
    number of attempts is ours to count, and cancellation is checked between attempts."""
    from safegen.core.settings import AwsSettings

    aws = aws or AwsSettings.from_env()
    return replace(aws, max_attempts=0).client(service, session=session)  # botocore: retries after the first


def call_with_retries(
    fn: Callable[[], T],
    what: str,
    *,
    attempts: int,
    base_delay: float,
    cancel: CancelToken,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Calls `fn`; on a retryable AWS error waits base_delay * 2**attempt (with jitter) and tries again,
    up to `attempts` calls. Errors are mapped to domain errors (throttling -> Unavailable, access denied
    -> FailedPrecondition, ...)."""
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(attempts):
        cancel.check()
        try:
            return fn()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in RETRYABLE and attempt + 1 < attempts:
                delay = base_delay * (2**attempt) * random.uniform(0.5, 1.0)
                remaining = cancel.remaining()
                if remaining is not None:
                    delay = min(delay, max(remaining, 0.0))
                sleep(delay)
                continue
            raise map_aws_error(exc, what) from exc
        except BotoCoreError as exc:
            raise map_aws_error(exc, what) from exc
    raise Unavailable(f"{what}: no attempt was made")  # attempts < 1; settings forbid it


def decode_image(b64: str, what: str) -> bytes:
    """Base64 image (PNG or JPEG) -> PNG bytes, so every backend returns the same format."""
    from PIL import Image

    try:
        raw = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise Unavailable(f"{what} returned an image that is not valid base64: {exc}") from exc
    if raw.startswith(_PNG):
        return raw
    try:
        with Image.open(io.BytesIO(raw)) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="PNG")
            return buf.getvalue()
    except Exception as exc:  # PIL raises several types for undecodable data
        raise Unavailable(f"{what} returned data that is not an image: {exc}") from exc
