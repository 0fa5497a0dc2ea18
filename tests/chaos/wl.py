#!/usr/bin/python3
"""One chaos workload, or the prober (tests/chaos/run; README.md here).

Workload (tests/chaos/run starts 64, each in its own governed cgroup): until
END exists, taogate.acquire (the Python client: the agent attests this
process, asks the governor, consumes the TAO, installs a one-shot grant) and,
when granted, one TCP connect to PostgreSQL. One log line per outcome:
  GRANT <tao_id> <consumed_seq>   acquire granted
  CONNECT <tao_id>                the connect after that grant succeeded
  CONNFAIL <tao_id> <errno name>  it failed (counted; the grant is one-shot)
  ACQFAIL <reason>                acquire failed (daemons down: expected)
Prober (--prober, a governed cgroup no rule names): until END exists, connect
every 50 ms; one line "<up|down> <OPEN|EPERM|errno name>", down while the file
DOWN exists (the agent is dead). OPEN is enforcement open: a violation.
One long-lived process each, so 64 of them leave the two cores to the daemons.
check.py decides what may never happen.
"""
import argparse
import errno
import os
import random
import socket
import sys
import time


def connect(port):
    """None if the connect succeeded, else the errno name."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return None
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--socket")
    ap.add_argument("--pause")
    ap.add_argument("--prober", action="store_true")
    ap.add_argument("--down")
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)
    if a.prober:
        while not os.path.exists(a.end):
            state = "down" if os.path.exists(a.down) else "up"
            err = connect(a.port)
            log.write(f"{state} {err or 'OPEN'}\n")
            time.sleep(0.05)
        return 0
    import taogate
    target = f"tcp:127.0.0.1:{a.port}"
    while not os.path.exists(a.end):
        if os.path.exists(a.pause):
            time.sleep(0.2)
            continue
        try:
            g = taogate.acquire(target, "db.read", "chaos", timeout=10, socket=a.socket)
        except taogate.Refused as e:
            log.write(f"ACQFAIL {e.reason_code}\n")
            time.sleep(1 + random.random())  # back off while a daemon is down
            continue
        except Exception as e:  # noqa: BLE001 -- counted, never fatal under chaos
            log.write(f"ACQFAIL {type(e).__name__}\n")
            time.sleep(1 + random.random())
            continue
        log.write(f"GRANT {g.tao_id or 'none'} {g.consumed_seq}\n")
        err = connect(a.port)
        log.write(f"CONNECT {g.tao_id or 'none'}\n" if err is None else f"CONNFAIL {g.tao_id or 'none'} {err}\n")
        time.sleep(0.1 + 0.2 * random.random())
    return 0


if __name__ == "__main__":
    sys.exit(main())
