"""The harness against the current governor (no console yet): a request goes
PENDING_APPROVAL, the webhook receives its body, approvers approve with the
CLI's Ed25519 keys, and the requester's `authz watch` gets the TAO.

Run: /usr/bin/python3 -m pytest -v tests/browser/test_harness_smoke.py
"""

import os

import pytest

from harness import DB_TARGET, RULE_ONE, RULE_TWO, Governor, HarnessError, intent_bytes


def test_pending_webhook_two_approvals_then_the_watcher_gets_the_tao(governor):
    g = governor
    d = g.request("db.write", DB_TARGET, "refund ticket 77")
    assert d["_exit"] == 3 and d["outcome"] == "OUTCOME_PENDING_APPROVAL"
    assert d["rule"] == RULE_TWO and d["approvals_needed"] == 2
    w = g.watch(d["decision_id"])

    body = g.wait_webhook("pending_approval", decision_id=d["decision_id"])  # HMAC checked
    assert body["event"] == "pending_approval"
    assert body["requester"] == g.identity("requester")
    assert body["action"] == "db.write" and body["target"] == DB_TARGET and body["rule"] == RULE_TWO
    assert body["approvals_needed"] == "2" and body["approver_roles"] == "dba"
    assert body["reason"] == "refund ticket 77"
    # The CLI prints proto bytes as base64; the webhook carries hex.
    assert body["intent_sha256"] == intent_bytes(d).hex()
    assert d["decision_id"] in body["approve_with"]

    g.approve(d["decision_id"], "alice")
    mid = g.decision(d["decision_id"])
    assert mid["outcome"] == "OUTCOME_PENDING_APPROVAL" and mid["approvals_given"] == 1
    # The requester may not approve (no approver key), the same approver not twice.
    again = g.approve(d["decision_id"], "alice", check=False)
    assert again.returncode != 0, again.stdout
    g.approve(d["decision_id"], "bob")

    final = w.wait()
    assert final["_exit"] == 0 and final["outcome"] == "OUTCOME_PERMIT", final
    assert final["_tao"], "the watcher saved the TAO"
    assert [x["outcome"] for x in w.decisions][-1] == "OUTCOME_PERMIT"


def test_one_approval_rule_reject_and_permit(governor):
    g = governor
    d = g.request("db.read", reason="nightly report")
    assert d["rule"] == RULE_ONE and d["approvals_needed"] == 1
    w = g.watch(d["decision_id"])
    g.wait_webhook("pending_approval", decision_id=d["decision_id"])
    # dave is not a dba: refused, still pending.
    assert g.approve(d["decision_id"], "dave", check=False).returncode != 0
    g.approve(d["decision_id"], "carol")
    assert w.wait()["outcome"] == "OUTCOME_PERMIT"

    d2 = g.request("db.read", reason="second report")
    w2 = g.watch(d2["decision_id"])
    g.approve(d2["decision_id"], "alice", verdict="reject")
    f2 = w2.wait()
    assert f2["_exit"] == 2 and f2["outcome"] != "OUTCOME_PERMIT" and not f2["_tao"]

    assert g.request("db.status", expect="PERMIT")["_exit"] == 0


def test_activate_policy_as_admin_only(governor):
    g = governor
    r = g.activate_policy(g.policy(name="browser-test-v2"))
    assert r.returncode == 0 and "active" in r.stdout
    assert "name: browser-test-v2" in g.ctl("requester", "gov", "policy-get", check=True).stdout
    refused = g.activate_policy(g.policy(name="v3"), who="requester", check=False)
    assert refused.returncode == 1, refused.stdout
    assert "code 7: only governor admins activate policy" in refused.stderr, refused.stderr  # PERMISSION_DENIED


def test_stop_removes_everything_also_when_start_fails():
    g = Governor()
    g.start()
    d, pid = g.dir, g.proc.pid
    g.stop()
    assert not d.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    bad = Governor(extra_config="no_such_key: 1\n")
    with pytest.raises(HarnessError, match="no_such_key"):
        bad.start()
    assert not bad.dir.exists()
