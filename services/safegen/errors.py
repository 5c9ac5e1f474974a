"""Domain exceptions: raised by domain code, mapped to gRPC status codes by the one interceptor.

Domain code never imports grpc; it raises one of these with a message a caller can act on.
"""


class SafegenError(Exception):
    """Base of every error safegen reports to a caller; the message is shown as is."""

    #: Name of the gRPC status code this error maps to (kept as text so grpc is not imported here).
    code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(SafegenError):
    """The request is malformed or out of range; retrying the same request will fail again."""

    code = "INVALID_ARGUMENT"


class NotFound(SafegenError):
    """A named thing (guardrail, model) does not exist."""

    code = "NOT_FOUND"


class ResourceExhausted(SafegenError):
    """A quota, rate limit, queue or size limit was hit; retry later or send less.

    `retry_after_s`, when known, is sent as `retry-after` trailing metadata (HTTP: Retry-After)."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unauthenticated(SafegenError):
    """No API key, or one that is not in the keys file."""

    code = "UNAUTHENTICATED"


class PermissionDenied(SafegenError):
    """The API key is valid but not allowed to call this service."""

    code = "PERMISSION_DENIED"


class FailedPrecondition(SafegenError):
    """The system is not in a state to serve the request (e.g. AWS access denied, model missing)."""

    code = "FAILED_PRECONDITION"


class Unavailable(SafegenError):
    """A dependency is unreachable or throttling; retrying with backoff may succeed."""

    code = "UNAVAILABLE"


class DeadlineExceeded(SafegenError):
    """The work did not finish before the deadline."""

    code = "DEADLINE_EXCEEDED"


class Cancelled(SafegenError):
    """The caller went away; the work was stopped."""

    code = "CANCELLED"
