"""Bad input is refused here, with Invalid, before any call to the agent."""

from __future__ import annotations

import pytest

import taogate

NOT_ONE_DESTINATION = [
    "", "10.0.0.5:5432", "tcp:10.0.0.5", "tcp:10.0.0.0/8:5432", "tcp:[fd00::]/64:5432",
    "tcp:10.0.0.5:*", "tcp:10.0.0.5:1000-2000", "tcp:10.0.0.5:0", "tcp:10.0.0.5:65536",
    "tcp:10.0.0.5:+80", "tcp:10.0.0.5:٨٠", "any:10.0.0.5:5432", "tcp:node:5432",
    "tcp:db:5432", "tcp:*.example.com:5432", "tcp:-db.example.com:5432", "tcp:db_1.example.com:5432",
    "tcp:db.example.123:5432", "tcp:db..example.com:5432", "tcp:" + "a" * 64 + ".example.com:5432",
    "tcp:db.exämple.com:5432", "tcp:db.example.com:*", "tcp:::1:5432", "tcp:[::1:5432", "tcp:[fe80::1%eth0]:5432",
    "tcp:010.0.0.5:5432", "tcp:10.0.0.5:5432,tcp:10.0.0.6:5432", "sctp:10.0.0.5:5432",
    "unix:relative.sock", "unix:/run/../etc/x", "unix:/run//pg", "unix:/run/pg/", "unix:/",
    "file:", None, b"tcp:10.0.0.5:5432",
]


@pytest.mark.parametrize("target", NOT_ONE_DESTINATION)
def test_target_that_is_not_one_destination(agent, target):
    with pytest.raises(taogate.Invalid):
        taogate.acquire(target, "db.read", "why")
    assert agent.calls == []


@pytest.mark.parametrize("target", ["tcp:10.0.0.5:5432", "udp:[fd00::53]:53", "tcp:[::ffff:10.0.0.5]:1",
                                    "tcp:db.prod.internal:5432", "udp:ns1.example.com:53",
                                    "unix:/run/pg/.s.PGSQL.5432", "file:/etc/secrets/db.key",
                                    "exec:/usr/bin/psql"])
def test_one_destination_is_sent_as_written(agent, target):
    from conftest import granted
    agent.script = lambda req, ctx: [granted(req)]
    assert taogate.acquire(target, "db.read", "why").target == target


@pytest.mark.parametrize("kwargs", [
    dict(action=""), dict(action="db read"), dict(action="db.read\n"), dict(action=None),
    dict(reason=""), dict(reason="   "), dict(reason="a\nb"), dict(reason="x\u202ey"), dict(reason="z" * 1025),
    dict(reason=None), dict(timeout=0), dict(timeout=-1), dict(timeout=float("nan")),
    dict(timeout=float("inf")), dict(timeout="30"), dict(timeout=True),
    dict(annotations={"k": 1}), dict(annotations={1: "v"}),
])
def test_bad_arguments(agent, kwargs):
    args = dict(target="tcp:10.0.0.5:5432", action="db.read", reason="why", **{})
    args.update(kwargs)
    with pytest.raises(taogate.Invalid):
        taogate.acquire(**args)
    with pytest.raises(taogate.Invalid):
        taogate.authorize(**args)
    assert agent.calls == []


def test_redeem_needs_a_tao(agent):
    for bad in (b"", "tao", None):
        with pytest.raises(taogate.Invalid):
            taogate.redeem(bad)
    assert agent.calls == []
