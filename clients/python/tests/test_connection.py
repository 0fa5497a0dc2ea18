"""connection(): acquire, then one connect to exactly the target; closed on exit."""

from __future__ import annotations

import socket

import pytest

import taogate
from conftest import Phase, granted, progress


@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    yield srv
    srv.close()


def test_connects_to_the_target_and_closes_on_exit(agent, listener):
    port = listener.getsockname()[1]
    agent.script = lambda req, ctx: [granted(req)]
    with taogate.connection(f"tcp:127.0.0.1:{port}", action="db.read", reason="why", timeout=5) as sock:
        peer, _ = listener.accept()
        assert sock.getpeername() == ("127.0.0.1", port)
        assert peer.getpeername() == sock.getsockname()
        sock.sendall(b"ping")
        assert peer.recv(4) == b"ping"
    assert sock.fileno() == -1
    assert peer.recv(1) == b""  # EOF: the client side is closed
    peer.close()
    assert agent.calls[0][1].target == f"tcp:127.0.0.1:{port}"


def test_closes_the_socket_when_the_body_raises(agent, listener):
    port = listener.getsockname()[1]
    agent.script = lambda req, ctx: [granted(req)]
    with pytest.raises(RuntimeError):
        with taogate.connection(f"tcp:127.0.0.1:{port}", action="db.read", reason="why") as sock:
            raise RuntimeError("driver failed")
    assert sock.fileno() == -1


def test_refusal_connects_nowhere(agent, listener):
    port = listener.getsockname()[1]
    agent.script = lambda req, ctx: [progress(Phase.REFUSED, reason_code="DENIED", message="no")]
    with pytest.raises(taogate.Denied):
        with taogate.connection(f"tcp:127.0.0.1:{port}", action="db.read", reason="why"):
            pytest.fail("body ran after a refusal")
    listener.settimeout(0.1)
    with pytest.raises(socket.timeout):
        listener.accept()


def test_refused_connect_raises_oserror_and_leaks_nothing(agent):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    agent.script = lambda req, ctx: [granted(req)]
    with pytest.raises(ConnectionRefusedError):
        with taogate.connection(f"tcp:127.0.0.1:{port}", action="db.read", reason="why"):
            pytest.fail("body ran without a connection")


@pytest.mark.parametrize("target", ["udp:127.0.0.1:53", "file:/etc/hosts", "exec:/usr/bin/psql"])
def test_only_stream_targets(agent, target):
    with pytest.raises(taogate.Invalid, match="tcp or unix"):
        with taogate.connection(target, action="db.read", reason="why"):
            pass
    assert agent.calls == []
