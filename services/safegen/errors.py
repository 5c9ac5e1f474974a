"""Domain exceptions: raised by domain code, mapped to gRPC status codes by the one interceptor.

Domain code never imports grpc; it raises one of these with a message a caller can act on.
"""

#: Budget of a message once gRPC has percent-encoded it into the `grpc-message` trailer. Messages echo
#: caller input (an unknown guardrail id, a field value); a 16 KB id used to push the trailer past the
#: metadata limit, so the caller got RESOURCE_EXHAUSTED instead of NOT_FOUND.
MAX_MESSAGE_BYTES = 2048


def _encoded_len(ch: str) -> int:
    # gRPC sends printable ASCII except '%' as is, and every other UTF-8 byte as %XX.
    return 1 if " " <= ch <= "~" and ch != "%" else 3 * len(ch.encode("utf-8", "surrogatepass"))


def bounded(message: str, budget: int = MAX_MESSAGE_BYTES) -> str:
    """`message`, or its head and tail around an omission marker when it would exceed `budget` bytes
    on the wire; the tail is kept because that is where messages say what is allowed."""
    if sum(map(_encoded_len, message)) <= budget:
        return message
    head_budget, tail_budget = budget * 2 // 3 - 40, budget // 3 - 40
    head: list[str] = []
    used = 0
    for ch in message:
        used += _encoded_len(ch)
        if used > head_budget:
            break
        head.append(ch)
    tail: list[str] = []
    used = 0
    for ch in reversed(message[len(head) :]):
        used += _encoded_len(ch)
        if used > tail_budget:
            break
        tail.append(ch)
    omitted = len(message) - len(head) - len(tail)
    return f"{''.join(head)} [... {omitted} characters omitted ...] {''.join(reversed(tail))}"


class SafegenError(Exception):
    """Base of every error safegen reports to a caller; the message is shown as is, bounded in size."""

    #: Name of the gRPC status code this error maps to (kept as text so grpc is not imported here).
    code = "INTERNAL"

    def __init__(self, message: str):
        message = bounded(message)
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
