"""A fake Agent gRPC server in the test process, on a real unix socket.

Each test sets ``agent.script``: a function (request, context) -> iterable of
AcquireProgress, used for Acquire and Authorize alike, and/or
``agent.redeem``: (request, context) -> RedeemResponse, and/or ``agent.why``:
(request, context) -> WhyResponse. ``agent.calls`` lists (method, request) in
arrival order.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from concurrent import futures
from typing import Callable, Iterable, List, Optional, Tuple

import grpc
import pytest

from taogate._pb import agent_pb2, agent_pb2_grpc

Phase = agent_pb2.AcquireProgress.Phase
Script = Callable[[agent_pb2.AcquireRequest, grpc.ServicerContext], Iterable[agent_pb2.AcquireProgress]]


class FakeAgent(agent_pb2_grpc.AgentServicer):
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.calls: List[Tuple[str, object]] = []
        self.script: Optional[Script] = None
        self.redeem = None
        self.why = None
        self.cancelled = threading.Event()

    def _stream(self, method, request, context):
        self.calls.append((method, request))
        context.add_callback(self.cancelled.set)
        yield from self.script(request, context)

    def Acquire(self, request, context):
        yield from self._stream("Acquire", request, context)

    def Authorize(self, request, context):
        yield from self._stream("Authorize", request, context)

    def Redeem(self, request, context):
        self.calls.append(("Redeem", request))
        return self.redeem(request, context)

    def Why(self, request, context):
        self.calls.append(("Why", request))
        return self.why(request, context)


@pytest.fixture
def agent():
    """A started FakeAgent; its socket path is also $TAOGATE_AGENT_SOCKET."""
    tmp = tempfile.mkdtemp(prefix="tg-py-", dir="/tmp")  # sun_path is 108 bytes
    path = os.path.join(tmp, "agent.sock")
    fake = FakeAgent(path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    agent_pb2_grpc.add_AgentServicer_to_server(fake, server)
    assert server.add_insecure_port(f"unix:{path}") != 0
    server.start()
    old = os.environ.get("TAOGATE_AGENT_SOCKET")
    os.environ["TAOGATE_AGENT_SOCKET"] = path
    try:
        yield fake
    finally:
        if old is None:
            os.environ.pop("TAOGATE_AGENT_SOCKET", None)
        else:
            os.environ["TAOGATE_AGENT_SOCKET"] = old
        server.stop(grace=None).wait()
        shutil.rmtree(tmp, ignore_errors=True)


def progress(phase: int, **fields) -> agent_pb2.AcquireProgress:
    return agent_pb2.AcquireProgress(phase=phase, **fields)


def granted(request, **extra) -> agent_pb2.AcquireProgress:
    fields = dict(tao_id=bytes(range(16)), target=request.target, expires_at_ms=1_900_000_000_000,
                  consumed_seq=42)
    fields.update(extra)
    return progress(Phase.GRANTED, **fields)
