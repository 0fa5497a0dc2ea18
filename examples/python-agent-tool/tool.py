#!/usr/bin/env python3
"""An AI agent framework's tool function that reads PostgreSQL under taogate.

Copy ``quarterly_revenue`` into your framework's tool registry (its docstring
is what the model sees). It asks the node's taogate agent for one connection
("db.read" on the database), then connects with psycopg2 right after the grant
and runs one query. No certificate, cgroup id or node name appears here: the
agent attests this process from the kernel.

Run by hand (prints JSON):  python3 tool.py EMEA "why the model wants it"
Environment: PGHOSTADDR (an IP literal, default 127.0.0.1), PGPORT (5432),
PGDATABASE (reports), PGUSER (postgres), PGSSLMODE (disable),
TAOGATE_AGENT_SOCKET (/run/taogate/agent.sock).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sys
from typing import Any, Dict

import psycopg2

import taogate

QUERY = "SELECT quarter, region, revenue_eur FROM quarterly_revenue WHERE region = %s ORDER BY quarter"


def quarterly_revenue(region: str, reason: str) -> Dict[str, Any]:
    """Quarterly revenue of one region from the reports database.

    Args:
        region: a sales region, e.g. "EMEA".
        reason: why you need it; a human approver may read this.
    Returns {"rows": [...]} or {"error": CODE, "message": ...} when access is refused.
    """
    hostaddr = str(ipaddress.ip_address(os.environ.get("PGHOSTADDR", "127.0.0.1")))
    port = int(os.environ.get("PGPORT", "5432"))
    host = f"[{hostaddr}]" if ":" in hostaddr else hostaddr
    try:
        grant = taogate.acquire(f"tcp:{host}:{port}", action="db.read", reason=reason, timeout=120,
                                on_progress=_tell_operator)
    except taogate.Refused as err:  # Denied, Rejected, Timeout, Unavailable, ...
        return {"error": err.reason_code, "message": err.message}
    # The grant admits one connect, now: psycopg2 (libpq) cannot adopt an already
    # connected socket, so it connects itself, to the IP literal (no DNS, no
    # second address) and without an SSL/GSS negotiation that could reconnect.
    try:
        conn = psycopg2.connect(hostaddr=hostaddr, port=port, connect_timeout=5,
                                dbname=os.environ.get("PGDATABASE", "reports"),
                                user=os.environ.get("PGUSER", "postgres"),
                                sslmode=os.environ.get("PGSSLMODE", "disable"), gssencmode="disable")
    except psycopg2.OperationalError as err:  # e.g. EPERM from the gate: grant expired or used
        return {"error": "CONNECT_FAILED", "message": str(err).strip()}
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute(QUERY, (region,))
        rows = [{"quarter": q, "region": r, "revenue_eur": str(v)} for q, r, v in cur.fetchall()]
    return {"rows": rows, "tao_id": grant.tao_id}


def _tell_operator(progress: taogate.Progress) -> None:
    """Progress for the human watching (stderr); the model sees only the result."""
    if progress.phase == "ATTESTED":  # who the agent found this process to be, from the kernel
        print(f"taogate: ATTESTED as {progress.workload} ({progress.message})", file=sys.stderr)
    elif progress.phase == "PENDING_APPROVAL":
        print(f"taogate: waiting for approval (decision {progress.decision_id})", file=sys.stderr)


def main(argv: list) -> int:
    if len(argv) not in (2, 3):
        print(f"usage: {argv[0]} REGION [REASON]", file=sys.stderr)
        return 2
    result = quarterly_revenue(argv[1], argv[2] if len(argv) == 3 else f"revenue of {argv[1]}")
    print(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
