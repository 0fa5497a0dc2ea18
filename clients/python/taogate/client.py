"""Acquire, Authorize, Redeem and Why on the node agent's workload socket.

The caller names only the target, the action class and a reason; the agent
attests who the caller is from the kernel (never from the request), asks the
governor, follows a pending approval and (Acquire) installs a one-shot kernel
grant: connect once, to exactly that target, before it expires. A connect the
kernel gate refuses fails with EPERM only; :func:`last_denial` asks the agent
why (no grant, grant consumed, expired, quarantined, ...).

Every function opens its own channel to the unix socket and closes it before
returning, so they are safe to call from any thread and after fork().
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import socket as _socket
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Mapping, Optional, Tuple, Union

import grpc

from ._pb import agent_pb2, agent_pb2_grpc
from .errors import Invalid, Refused, Unavailable, from_rpc_error, refusal
from .target import Destination, parse_destination

DEFAULT_SOCKET = "/run/taogate/agent.sock"
SOCKET_ENV = "TAOGATE_AGENT_SOCKET"
MAX_REASON_BYTES = 1024  # policies/reason.h: kMaxReasonBytes
# The agent answers TIMEOUT itself at the caller's deadline; the channel's own
# deadline is a little later so that answer (not a bare DEADLINE_EXCEEDED) wins.
_DEADLINE_SLACK_S = 1.0

_Phase = agent_pb2.AcquireProgress.Phase


@dataclass(frozen=True)
class Progress:
    """One message of the agent's progress stream, as given to ``on_progress``."""

    phase: str  # "ATTESTED", "PENDING_APPROVAL", "AUTHORIZED", "GRANTED", "REFUSED"
    decision_id: str = ""
    workload: str = ""
    message: str = ""
    reason_code: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Grant:
    """Connect now: one connect to ``target`` before ``expires_at``."""

    tao_id: str  # hex
    target: str
    expires_at_ms: int  # unix ms (the kernel grant's expiry)
    consumed_seq: int  # node-ledger seq of the CONSUMED record
    decision_id: str = ""
    workload: str = ""  # the identity the agent attested

    @property
    def expires_at(self) -> _dt.datetime:
        """The expiry as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.expires_at_ms / 1000, tz=_dt.timezone.utc)


@dataclass(frozen=True)
class Authorization:
    """A TAO for a later :func:`redeem` (by this workload, on this node)."""

    tao: bytes = field(repr=False)
    tao_id: str
    target: str
    decision_id: str = ""
    workload: str = ""


@dataclass(frozen=True)
class Denial:
    """Why the kernel gate refused one of this workload's recent operations.

    ``reason`` is a stable lowercase code: ``no_grant``, ``consumed`` (this
    workload's grant for ``target`` was already used: ``tao_id``,
    ``consumed_at``), ``expired``, ``quarantined``, ``raw_socket``,
    ``killed``, ``file_denied``, ``exec_denied``, ``self_protection`` or
    ``denied``.
    """

    reason: str
    target: str
    time_ms: int  # unix ms of the (last) denial
    tao_id: Optional[str] = None  # hex; consumed only
    consumed_at_ms: int = 0
    pid: int = 0  # as the agent sees it (another pid namespace than a container's)
    cgroup_id: int = 0
    hook: str = ""
    count: int = 1  # consecutive repeats folded into this one

    @property
    def time(self) -> _dt.datetime:
        """When, as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.time_ms / 1000, tz=_dt.timezone.utc)

    @property
    def consumed_at(self) -> Optional[_dt.datetime]:
        """consumed: when the grant's one connect was made."""
        if not self.consumed_at_ms:
            return None
        return _dt.datetime.fromtimestamp(self.consumed_at_ms / 1000, tz=_dt.timezone.utc)


def last_denial(socket: Optional[str] = None, timeout: float = 5.0) -> Optional[Denial]:
    """This workload's most recent denial, or None if the agent kept none.

    The agent answers only for the caller's own workload (attested from the
    socket, like :func:`acquire`).
    """
    found = denials(limit=1, socket=socket, timeout=timeout)
    return found[0] if found else None


def denials(limit: int = 16, socket: Optional[str] = None, timeout: float = 5.0) -> List[Denial]:
    """This workload's recent denials, newest first (at most ``limit``, <= 256)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 256:
        raise Invalid(f"limit must be an int in 1..256, not {limit!r}")
    with _channel(socket) as channel:
        try:
            resp = agent_pb2_grpc.AgentStub(channel).Why(
                agent_pb2.WhyRequest(limit=limit), timeout=_positive(timeout, "timeout"))
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
    return [Denial(reason=d.reason, target=d.target, time_ms=d.time_ms, tao_id=d.tao_id.hex() or None,
                   consumed_at_ms=d.consumed_at_ms, pid=d.pid, cgroup_id=d.cgroup_id, hook=d.hook,
                   count=d.count or 1)
            for d in resp.denials[:limit]]


def acquire(target: str, action: str, reason: str, timeout: float = 30.0,
            annotations: Optional[Mapping[str, str]] = None, socket: Optional[str] = None,
            on_progress: Optional[ProgressCallback] = None) -> Grant:
    """Ask for ``target`` and wait (at most ``timeout`` s) until it is granted.

    Returns the :class:`Grant`; raises a :class:`~taogate.errors.Refused`
    subclass if nothing was granted. ``socket`` defaults to
    ``$TAOGATE_AGENT_SOCKET`` or ``/run/taogate/agent.sock``. ``on_progress``
    sees every message of the stream (ATTESTED, PENDING_APPROVAL, ...) in order;
    an exception it raises cancels the request.
    """
    request = _request(target, action, reason, timeout, annotations)
    final, decision_id, workload = _follow("Acquire", request, _Phase.GRANTED, timeout, socket, on_progress)
    return Grant(tao_id=final.tao_id.hex(), target=final.target, expires_at_ms=final.expires_at_ms,
                 consumed_seq=final.consumed_seq, decision_id=decision_id, workload=workload)


def authorize(target: str, action: str, reason: str, timeout: float = 30.0,
              annotations: Optional[Mapping[str, str]] = None, socket: Optional[str] = None,
              on_progress: Optional[ProgressCallback] = None) -> Authorization:
    """As :func:`acquire`, but stop with the TAO; :func:`redeem` installs the grant."""
    request = _request(target, action, reason, timeout, annotations)
    final, decision_id, workload = _follow("Authorize", request, _Phase.AUTHORIZED, timeout, socket, on_progress)
    return Authorization(tao=final.tao, tao_id=final.tao_id.hex(), target=final.target,
                         decision_id=decision_id, workload=workload)


def redeem(tao: Union[Authorization, bytes], socket: Optional[str] = None, timeout: float = 10.0) -> Grant:
    """Redeem a TAO (an :class:`Authorization` or its bytes) and return the grant."""
    auth = tao if isinstance(tao, Authorization) else None
    raw = auth.tao if auth else tao
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        raise Invalid("tao must be non-empty bytes or an Authorization")
    with _channel(socket) as channel:
        try:
            resp = agent_pb2_grpc.AgentStub(channel).Redeem(
                agent_pb2.RedeemRequest(tao=bytes(raw)), timeout=_positive(timeout, "timeout"))
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
    return Grant(tao_id=resp.tao_id.hex(), target=auth.target if auth else "",
                 expires_at_ms=resp.grant_expires_at_ms, consumed_seq=resp.consumed_seq,
                 decision_id=auth.decision_id if auth else "", workload=auth.workload if auth else "")


@contextlib.contextmanager
def connection(target: str, action: str, reason: str, timeout: float = 30.0,
               annotations: Optional[Mapping[str, str]] = None, socket: Optional[str] = None,
               on_progress: Optional[ProgressCallback] = None) -> Iterator[_socket.socket]:
    """Acquire ``target`` (tcp or unix), then connect to exactly it.

    Yields the connected ``socket.socket`` and closes it on exit. A refusal
    raises before any connect; a connect the kernel gate still refuses raises
    ``PermissionError`` (EPERM).
    """
    dest = parse_destination(target)
    if dest.proto not in ("tcp", "unix"):
        raise Invalid(f"target {target!r}: connection() opens tcp or unix stream sockets only")
    acquire(target, action, reason, timeout, annotations, socket, on_progress)
    sock = _connect(dest, timeout)
    try:
        yield sock
    finally:
        sock.close()


def agent_socket(socket: Optional[str] = None) -> str:
    """The agent socket path in use: ``socket``, else ``$TAOGATE_AGENT_SOCKET``, else the default."""
    return socket or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def _request(target: str, action: str, reason: str, timeout: float,
             annotations: Optional[Mapping[str, str]]) -> agent_pb2.AcquireRequest:
    parse_destination(target)
    if not isinstance(action, str) or not action or not action.isprintable() or " " in action:
        raise Invalid(f"action {action!r}: want a class name such as 'db.read'")
    _check_reason(reason)
    ms = math.ceil(_positive(timeout, "timeout") * 1000)
    notes = dict(annotations or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in notes.items()):
        raise Invalid("annotations must map str to str")
    return agent_pb2.AcquireRequest(target=target, action_class=action, reason=reason,
                                    annotations=notes, timeout_ms=min(ms, 2**32 - 1))


def _check_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip(" "):
        raise Invalid("reason is empty")
    if len(reason.encode("utf-8", "surrogatepass")) > MAX_REASON_BYTES:
        raise Invalid(f"reason longer than {MAX_REASON_BYTES} bytes")
    for i, ch in enumerate(reason):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise Invalid(f"reason has a control or invisible character at index {i}")


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise Invalid(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


@contextlib.contextmanager
def _channel(socket: Optional[str]) -> Iterator[grpc.Channel]:
    path = agent_socket(socket)
    if not os.path.exists(path):
        raise Unavailable(f"no taogate agent socket at {path} (set {SOCKET_ENV} or socket=)")
    with grpc.insecure_channel(f"unix:{path}") as channel:
        yield channel


def _follow(method: str, request: agent_pb2.AcquireRequest, want: int, timeout: float,
            socket: Optional[str], on_progress: Optional[ProgressCallback]
            ) -> Tuple[agent_pb2.AcquireProgress, str, str]:
    """Read the progress stream to its final message; return (final, decision_id, workload)."""
    decision_id = workload = ""
    with _channel(socket) as channel:
        stub = agent_pb2_grpc.AgentStub(channel)
        call = getattr(stub, method)(request, timeout=timeout + _DEADLINE_SLACK_S)
        try:
            for msg in call:
                if on_progress is not None:
                    on_progress(Progress(phase=_phase_name(msg.phase), decision_id=msg.decision_id,
                                         workload=msg.workload, message=msg.message,
                                         reason_code=msg.reason_code))
                decision_id = msg.decision_id or decision_id
                workload = msg.workload or workload
                if msg.phase == want:
                    return msg, decision_id, workload
                if msg.phase == _Phase.REFUSED:
                    raise refusal(msg.reason_code, msg.message)
                if msg.phase in (_Phase.AUTHORIZED, _Phase.GRANTED):
                    raise Refused(f"{method} answered {_phase_name(msg.phase)}", "PROTOCOL")
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()
    raise Unavailable(f"the agent ended {method} without an answer")


def _phase_name(phase: int) -> str:
    return _Phase.Name(phase) if phase in _Phase.values() else str(phase)


def _connect(dest: Destination, timeout: float) -> _socket.socket:
    if dest.name:
        return _connect_name(dest, timeout)
    if dest.proto == "unix":
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        address: object = dest.path
    elif dest.ip is not None and dest.ip.version == 6:
        sock = _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM)
        address = (str(dest.ip), dest.port, 0, 0)
    else:
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        address = (str(dest.ip), dest.port)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_name(dest: Destination, timeout: float) -> _socket.socket:
    """Connect to a DNS name target: each address this process resolves, in
    order. The grant covers the addresses the agent resolved; one of ours
    that is not among them is refused (EPERM) without spending the grant, so
    the next address is tried."""
    last: Optional[BaseException] = None
    for family, kind, proto, _, address in _socket.getaddrinfo(dest.name, dest.port, type=_socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.settimeout(None)
            return sock
        except OSError as err:
            sock.close()
            last = err
    raise last if last is not None else OSError(f"{dest.name} has no address")
