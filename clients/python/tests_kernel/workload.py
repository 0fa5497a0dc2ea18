"""The workload side of the kernel tests: join a governed cgroup, then act.

    python3 workload.py CGROUP_PROCS ACTION TARGET

writes its own pid to CGROUP_PROCS before anything else (so the agent
attests, and the gate judges, this process in that cgroup), runs ACTION with
the taogate client (``$TAOGATE_AGENT_SOCKET``; no certificate, cgroup id or
node name anywhere) and prints the outcome as one JSON object. Outcomes of
connects are "OK" or the errno name ("EPERM"); refusals are the exception's
class name and reason code.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from typing import Callable, Dict

import taogate

ACTION, REASON = "db.read", "python client kernel test"


def _connect(target: str) -> str:
    _, host, port = target.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return "OK"
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err))


def _grant(grant: taogate.Grant) -> dict:
    return {"tao_id": grant.tao_id, "target": grant.target, "expires_at_ms": grant.expires_at_ms,
            "consumed_seq": grant.consumed_seq, "workload": grant.workload}


def acquire_connect_twice(target: str) -> dict:
    """acquire(), then two connects: the grant admits exactly one."""
    grant = taogate.acquire(target, ACTION, REASON, timeout=20)
    return {"grant": _grant(grant), "first": _connect(target), "second": _connect(target)}


def connection_echo(target: str) -> dict:
    """connection() and a round trip on the socket it yields."""
    phases = []
    with taogate.connection(target, action=ACTION, reason=REASON, timeout=20,
                            on_progress=lambda p: phases.append(p.phase)) as sock:
        sock.sendall(b"ping taogate\n")
        echo = b""
        while len(echo) < 13:
            chunk = sock.recv(64)
            if not chunk:
                break
            echo += chunk
    return {"echo": echo.decode(), "phases": phases, "after": _connect(target)}


def acquire_refused(target: str) -> dict:
    """acquire() expecting a refusal, then a connect anyway."""
    try:
        grant = taogate.acquire(target, ACTION, REASON, timeout=20)
        outcome = {"granted": _grant(grant)}
    except taogate.Refused as err:
        outcome = {"error": type(err).__name__, "reason_code": err.reason_code, "message": err.message}
    outcome["connect"] = _connect(target)
    return outcome


def connect(target: str) -> dict:
    """A plain connect, no acquire."""
    return {"connect": _connect(target)}


ACTIONS: Dict[str, Callable[[str], dict]] = {
    f.__name__: f for f in (acquire_connect_twice, connection_echo, acquire_refused, connect)}


def main(argv: list) -> int:
    procs, action, target = argv[1:]
    with open(procs, "w") as f:  # join the workload cgroup before acting
        f.write(str(os.getpid()))
    print(json.dumps(ACTIONS[action](target)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
