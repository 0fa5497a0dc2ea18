"""The Python client against the real agent, governor and kernel gate (root).

Each test runs the client in a child process inside the governed workload
cgroup (node.py, workload.py) and checks what the kernel let through: the
listeners count the connects they accepted.
"""

from __future__ import annotations

from node import NODE_ID, TRUST_DOMAIN, WORKLOAD


def test_acquire_admits_exactly_one_connect(node):
    db = node.listeners["db"]
    before = db.accepted
    out = node.run("acquire_connect_twice", db.target)
    assert (out["first"], out["second"]) == ("OK", "EPERM"), out
    assert out["grant"]["target"] == db.target
    assert out["grant"]["workload"] == f"cgroup:{node.governed}/{WORKLOAD}"  # attested, not declared
    assert len(out["grant"]["tao_id"]) == 32 and out["grant"]["consumed_seq"] > 0
    assert db.accepted - before == 1


def test_connection_talks_to_the_listener(node):
    db = node.listeners["db"]
    out = node.run("connection_echo", db.target)
    assert out["echo"] == "ping taogate\n", out
    assert out["phases"][0] == "ATTESTED" and out["phases"][-1] == "GRANTED", out
    assert out["after"] == "EPERM", out  # the grant went to connection()'s own connect


def test_target_the_policy_denies_raises_denied(node):
    secret = node.listeners["secret"]
    out = node.run("acquire_refused", secret.target)
    assert (out["error"], out["reason_code"]) == ("Denied", "DENIED"), out
    assert out["connect"] == "EPERM", out  # nothing was granted
    assert secret.accepted == 0


def test_unprotected_target_needs_no_acquire(node):
    open_ = node.listeners["open"]
    before = open_.accepted
    assert node.run("connect", open_.target) == {"connect": "OK"}
    assert node.run("connect", open_.target) == {"connect": "OK"}
    assert open_.accepted - before == 2


def test_protected_target_without_acquire_is_refused(node):
    assert node.run("connect", node.listeners["db"].target) == {"connect": "EPERM"}


def test_the_governor_saw_the_derived_workload_identity(node):
    """The actor is derived from the attestation: node + cgroup, in the node's trust domain."""
    node.run("acquire_connect_twice", node.listeners["db"].target)
    actor = f"spiffe://{TRUST_DOMAIN}/node/{NODE_ID}/cgroup{node.governed}/{WORKLOAD}"
    assert actor in node.governor_ledger(), node.log("governor")
