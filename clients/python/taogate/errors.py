"""The refusals a caller can act on: one exception type per stable reason code.

The agent ends a refused call with a reason code (``AcquireProgress.reason_code``,
or the ``taogate-reason`` trailing metadata and the ``"CODE: ..."`` message
prefix of a failed unary call). :func:`refusal` turns a code into the matching
exception; a code this client does not know yet becomes the base class
:class:`Refused`, so ``except taogate.Refused`` catches every refusal.
"""

from __future__ import annotations

import re
from typing import Optional

import grpc


class Refused(Exception):
    """Nothing was granted. ``reason_code`` is the agent's stable code."""

    reason_code: str = "REFUSED"

    def __init__(self, message: str, reason_code: Optional[str] = None) -> None:
        super().__init__(f"{reason_code or self.reason_code}: {message}")
        if reason_code:
            self.reason_code = reason_code
        self.message = message

    def __reduce__(self):  # pickles (e.g. across multiprocessing) keep both fields
        return (type(self), (self.message, self.reason_code))


class Denied(Refused):
    """The policy (or an approver's explicit deny) refused the request."""

    reason_code = "DENIED"


class Rejected(Refused):
    """An approver rejected the pending request."""

    reason_code = "REJECTED"


class Expired(Refused):
    """The decision or the TAO expired before it could be used."""

    reason_code = "EXPIRED"


class Timeout(Refused):
    """No final answer within the caller's (or the policy's) deadline."""

    reason_code = "TIMEOUT"


class Unavailable(Refused):
    """The agent or the governor could not be reached; nothing was granted."""

    reason_code = "UNAVAILABLE"


class RateLimited(Refused):
    """Too many requests from this workload; retry later."""

    reason_code = "RATE_LIMITED"


class Invalid(Refused):
    """The request itself is malformed (refused here or by the agent)."""

    reason_code = "INVALID"


_BY_CODE = {c.reason_code: c for c in (Denied, Rejected, Expired, Timeout, Unavailable, RateLimited, Invalid)}

# A failed call without a taogate reason code (e.g. the socket is absent).
_BY_GRPC = {
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "TIMEOUT",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID",
}

_CODE_PREFIX = re.compile(r"^([A-Z][A-Z0-9_]{1,63}): ")


def refusal(reason_code: str, message: str) -> Refused:
    """The exception for ``reason_code``; unknown codes give :class:`Refused`."""
    cls = _BY_CODE.get(reason_code, Refused)
    return cls(message, reason_code or None)


def from_rpc_error(err: grpc.RpcError) -> Refused:
    """Map a failed gRPC call to a refusal: metadata, message prefix, then status code."""
    code = ""
    details = ""
    status = None
    if isinstance(err, grpc.Call):
        details = err.details() or ""
        status = err.code()
        for key, value in err.trailing_metadata() or ():
            if key == "taogate-reason":
                code = value if isinstance(value, str) else value.decode("utf-8", "replace")
    prefix = _CODE_PREFIX.match(details)
    if prefix:
        code = code or prefix.group(1)
        if prefix.group(1) == code:
            details = details[prefix.end():]
    if not code:
        code = _BY_GRPC.get(status, status.name if status is not None else "REFUSED")
    return refusal(code, details or str(err))
