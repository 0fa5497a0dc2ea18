"""acquire/authorize/redeem against the fake agent: answers, refusals, deadlines."""

from __future__ import annotations

import datetime as dt
import os
import socket
import time

import grpc
import pytest

import taogate
from conftest import Phase, granted, progress
from taogate._pb import agent_pb2

TARGET = "tcp:10.0.0.5:5432"


def test_granted_returns_the_grant_and_sends_only_what_was_asked(agent):
    agent.script = lambda req, ctx: [progress(Phase.ATTESTED, workload="spiffe://td/ns/ai/sa/tool"),
                                     granted(req)]
    grant = taogate.acquire(TARGET, "db.read", "monthly report", timeout=5, annotations={"ticket": "T-1"})
    assert grant.tao_id == bytes(range(16)).hex()
    assert (grant.target, grant.consumed_seq, grant.workload) == (TARGET, 42, "spiffe://td/ns/ai/sa/tool")
    assert grant.expires_at == dt.datetime(2030, 3, 17, 17, 46, 40, tzinfo=dt.timezone.utc)
    (method, req), = agent.calls
    assert (method, req.target, req.action_class, req.reason) == ("Acquire", TARGET, "db.read", "monthly report")
    assert (dict(req.annotations), req.timeout_ms) == ({"ticket": "T-1"}, 5000)


def test_pending_then_granted_reports_progress(agent):
    agent.script = lambda req, ctx: [progress(Phase.ATTESTED, workload="w"),
                                     progress(Phase.PENDING_APPROVAL, decision_id="d-7", message="2 approvers"),
                                     granted(req)]
    seen = []
    grant = taogate.acquire(TARGET, "db.read", "why", on_progress=seen.append)
    assert [p.phase for p in seen] == ["ATTESTED", "PENDING_APPROVAL", "GRANTED"]
    assert seen[1].decision_id == "d-7" and seen[1].message == "2 approvers"
    assert grant.decision_id == "d-7"


@pytest.mark.parametrize("code,cls", [
    ("DENIED", taogate.Denied), ("REJECTED", taogate.Rejected), ("EXPIRED", taogate.Expired),
    ("TIMEOUT", taogate.Timeout), ("UNAVAILABLE", taogate.Unavailable),
    ("RATE_LIMITED", taogate.RateLimited), ("INVALID", taogate.Invalid),
    ("QUARANTINED", taogate.Refused), ("", taogate.Refused),
])
def test_each_refusal_code_raises_its_type(agent, code, cls):
    agent.script = lambda req, ctx: [progress(Phase.REFUSED, reason_code=code, message="no rule matches")]
    with pytest.raises(taogate.Refused) as err:
        taogate.acquire(TARGET, "db.read", "why")
    assert type(err.value) is cls
    assert err.value.reason_code == (code or "REFUSED")
    assert err.value.message == "no rule matches"


def test_refusal_after_pending_is_still_a_refusal(agent):
    agent.script = lambda req, ctx: [progress(Phase.PENDING_APPROVAL, decision_id="d"),
                                     progress(Phase.REFUSED, reason_code="REJECTED", message="by alice")]
    with pytest.raises(taogate.Rejected, match="by alice"):
        taogate.acquire(TARGET, "db.read", "why")


@pytest.mark.parametrize("code,metadata,details,cls,reason_code", [
    (grpc.StatusCode.RESOURCE_EXHAUSTED, None, "flood", taogate.RateLimited, "RATE_LIMITED"),
    (grpc.StatusCode.UNAVAILABLE, None, "governor down", taogate.Unavailable, "UNAVAILABLE"),
    (grpc.StatusCode.PERMISSION_DENIED, "DENIED", "DENIED: not yours", taogate.Denied, "DENIED"),
    (grpc.StatusCode.PERMISSION_DENIED, None, "OPERATOR_ONLY: wrong socket", taogate.Refused, "OPERATOR_ONLY"),
    (grpc.StatusCode.INTERNAL, None, "boom", taogate.Refused, "INTERNAL"),
])
def test_a_failed_stream_maps_to_a_refusal(agent, code, metadata, details, cls, reason_code):
    def script(req, ctx):
        if metadata:
            ctx.set_trailing_metadata((("taogate-reason", metadata),))
        ctx.abort(code, details)
        yield  # pragma: no cover
    agent.script = script
    with pytest.raises(taogate.Refused) as err:
        taogate.acquire(TARGET, "db.read", "why")
    assert (type(err.value), err.value.reason_code) == (cls, reason_code)


def test_stream_without_final_answer_is_unavailable(agent):
    agent.script = lambda req, ctx: [progress(Phase.ATTESTED, workload="w")]
    with pytest.raises(taogate.Unavailable, match="without an answer"):
        taogate.acquire(TARGET, "db.read", "why")


def test_wrong_final_phase_is_a_protocol_refusal(agent):
    agent.script = lambda req, ctx: [progress(Phase.AUTHORIZED, tao=b"t")]
    with pytest.raises(taogate.Refused) as err:
        taogate.acquire(TARGET, "db.read", "why")
    assert err.value.reason_code == "PROTOCOL"


def pending_forever(req, ctx):
    yield progress(Phase.PENDING_APPROVAL, decision_id="d")
    while ctx.is_active():
        time.sleep(0.02)


def test_timeout_when_the_agent_never_answers(agent):
    agent.script = pending_forever
    start = time.monotonic()
    with pytest.raises(taogate.Timeout):
        taogate.acquire(TARGET, "db.read", "why", timeout=0.2)
    assert time.monotonic() - start < 5
    assert agent.cancelled.wait(5), "the server side saw the call end"


def test_progress_callback_error_cancels_the_request(agent):
    agent.script = pending_forever

    def give_up(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        taogate.acquire(TARGET, "db.read", "why", on_progress=give_up)
    assert agent.cancelled.wait(5)


def test_absent_socket_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("TAOGATE_AGENT_SOCKET", str(tmp_path / "nothing.sock"))
    with pytest.raises(taogate.Unavailable, match="nothing.sock"):
        taogate.acquire(TARGET, "db.read", "why", timeout=2)


def test_socket_nobody_listens_on_is_unavailable(monkeypatch):
    path = f"/tmp/tg-py-dead-{os.getpid()}.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays; connects get ECONNREFUSED
    try:
        with pytest.raises(taogate.Unavailable):
            taogate.acquire(TARGET, "db.read", "why", timeout=2, socket=path)
    finally:
        os.unlink(path)


def test_socket_argument_overrides_the_environment(agent, monkeypatch):
    monkeypatch.setenv("TAOGATE_AGENT_SOCKET", "/nonexistent/agent.sock")
    agent.script = lambda req, ctx: [granted(req)]
    assert taogate.acquire(TARGET, "db.read", "why", socket=agent.socket_path).consumed_seq == 42
    assert taogate.agent_socket() == "/nonexistent/agent.sock"
    monkeypatch.delenv("TAOGATE_AGENT_SOCKET")
    assert taogate.agent_socket() == taogate.DEFAULT_SOCKET == "/run/taogate/agent.sock"


def test_authorize_then_redeem(agent):
    agent.script = lambda req, ctx: [progress(Phase.AUTHORIZED, tao=b"signed-tao", tao_id=b"\x01" * 16,
                                              target=req.target, decision_id="d-1")]
    agent.redeem = lambda req, ctx: agent_pb2.RedeemResponse(tao_id=b"\x01" * 16, consumed_seq=9,
                                                             grant_expires_at_ms=1_000)
    auth = taogate.authorize(TARGET, "db.read", "why")
    assert (auth.tao, auth.tao_id, auth.decision_id) == (b"signed-tao", "01" * 16, "d-1")
    assert "signed-tao" not in repr(auth)
    grant = taogate.redeem(auth)
    assert (grant.tao_id, grant.consumed_seq, grant.target, grant.expires_at_ms) == ("01" * 16, 9, TARGET, 1_000)
    assert [(m, getattr(r, "tao", None)) for m, r in agent.calls][1] == ("Redeem", b"signed-tao")
    assert agent.calls[0][0] == "Authorize"


def test_refused_redeem_carries_the_agents_reason(agent):
    def refuse(req, ctx):
        ctx.set_trailing_metadata((("taogate-reason", "REPLAY"),))
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "REPLAY: TAO already consumed at seq 12")
    agent.redeem = refuse
    with pytest.raises(taogate.Refused) as err:
        taogate.redeem(b"tao")
    assert (type(err.value), err.value.reason_code) == (taogate.Refused, "REPLAY")
    assert err.value.message == "TAO already consumed at seq 12"
    assert str(err.value) == "REPLAY: TAO already consumed at seq 12"


def test_refusals_survive_pickling():
    import pickle
    for err in (taogate.Denied("no rule"), taogate.Refused("used", "REPLAY")):
        back = pickle.loads(pickle.dumps(err))
        assert (type(back), back.reason_code, back.message, str(back)) == \
            (type(err), err.reason_code, err.message, str(err))
