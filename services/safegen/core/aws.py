"""Maps botocore errors to domain errors the same way for every AWS backend (no grpc here)."""

from __future__ import annotations

from safegen.errors import FailedPrecondition, InvalidArgument, NotFound, SafegenError, Unavailable

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "ServiceQuotaExceededException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalServerException",
    "InternalServerError",
    "ModelNotReadyException",
    "ModelTimeoutException",
}
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "UnauthorizedOperation",
    "ResourceNotReadyException",
}
_NOT_FOUND = {"ResourceNotFoundException", "ModelNotFound", "ValidationError.NotFound"}
_INVALID = {
    "ValidationException",
    "InvalidRequestException",
    "TextSizeLimitExceededException",
    "InvalidImageFormatException",
    "ImageTooLargeException",
    "InvalidParameterException",
    "ModelErrorException",
    "ModelError",
}


def map_aws_error(exc: Exception, what: str) -> SafegenError:
    """Turns a botocore ClientError/endpoint error from `what` (e.g. "Rekognition DetectModerationLabels")
    into a domain error: throttling (after botocore's own retries) -> Unavailable, access denied ->
    FailedPrecondition naming the missing permission, validation -> InvalidArgument."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, msg = err.get("Code", ""), err.get("Message", "")
        if code in _THROTTLING:
            return Unavailable(f"{what} is throttling or unavailable after retries ({code}): {msg}; retry later")
        if code in _DENIED:
            return FailedPrecondition(
                f"{what} denied access ({code}): {msg}. Grant the service account's IAM role permission "
                f"for this call (see the README's AWS section)"
            )
        if code in _NOT_FOUND:
            return NotFound(f"{what}: resource not found ({code}): {msg}")
        if code in _INVALID:
            return InvalidArgument(f"{what} rejected the input ({code}): {msg}")
        return Unavailable(f"{what} failed ({code or 'unknown error'}): {msg}")
    if isinstance(exc, NoCredentialsError):
        return FailedPrecondition(f"{what}: no AWS credentials found; configure IRSA or the standard credential chain")
    if isinstance(exc, (EndpointConnectionError, BotoCoreError)):
        return Unavailable(f"{what}: cannot reach AWS: {exc}")
    return Unavailable(f"{what} failed: {exc}")
