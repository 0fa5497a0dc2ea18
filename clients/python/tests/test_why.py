"""last_denial()/denials(): why the kernel gate refused, as typed objects."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

import taogate
from taogate._pb import agent_pb2

DB = "tcp:10.0.0.5:5432"


def why(*denials):
    return lambda req, ctx: agent_pb2.WhyResponse(denials=list(denials))


def test_consumed_carries_the_tao_and_when(agent):
    agent.why = why(agent_pb2.Denial(reason="consumed", target=DB, time_ms=1_900_000_001_000, pid=7,
                                     cgroup_id=42, hook="connect4", tao_id=bytes(range(16)),
                                     consumed_at_ms=1_900_000_000_000, count=1))
    d = taogate.last_denial()
    assert isinstance(d, taogate.Denial)
    assert (d.reason, d.target, d.tao_id) == ("consumed", DB, bytes(range(16)).hex())
    assert d.time == dt.datetime(2030, 3, 17, 17, 46, 41, tzinfo=dt.timezone.utc)
    assert d.consumed_at == dt.datetime(2030, 3, 17, 17, 46, 40, tzinfo=dt.timezone.utc)
    (method, req), = agent.calls
    assert (method, req.pid, req.cgroup_id, req.limit) == ("Why", 0, 0, 1)


def test_no_grant_has_no_tao(agent):
    agent.why = why(agent_pb2.Denial(reason="no_grant", target=DB, time_ms=1))
    d = taogate.last_denial()
    assert (d.reason, d.tao_id, d.consumed_at) == ("no_grant", None, None)


def test_nothing_kept_is_none(agent):
    agent.why = why()
    assert taogate.last_denial() is None


def test_denials_newest_first_bounded_by_limit(agent):
    agent.why = why(*[agent_pb2.Denial(reason="expired", target=f"tcp:10.0.0.5:{p}", time_ms=p) for p in (3, 2, 1)])
    got = taogate.denials(limit=2)
    assert [d.target for d in got] == ["tcp:10.0.0.5:3", "tcp:10.0.0.5:2"]
    assert agent.calls[0][1].limit == 2


def test_refused_by_the_agent_raises(agent):
    def refuse(req, ctx):
        ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "NOT_GOVERNED: caller is not a governed workload")
    agent.why = refuse
    with pytest.raises(taogate.Refused) as err:
        taogate.last_denial()
    assert err.value.reason_code == "NOT_GOVERNED"


@pytest.mark.parametrize("limit", [0, 257, -1, True, 1.5])
def test_bad_limit_is_invalid_before_any_call(agent, limit):
    with pytest.raises(taogate.Invalid):
        taogate.denials(limit=limit)
    assert agent.calls == []


def test_no_socket_is_unavailable(tmp_path):
    with pytest.raises(taogate.Unavailable):
        taogate.last_denial(socket=str(tmp_path / "absent.sock"))
