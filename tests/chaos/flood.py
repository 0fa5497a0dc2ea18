#!/usr/bin/python3
"""Flood both taogate daemons with malformed and oversized requests (tests/chaos/run).

Each run sends up to --count requests (within --seconds) from 16 threads, round robin over these kinds:
  agent-garbage     random bytes as the body of a real gRPC call on the agent's
                    workload socket (Redeem, Acquire), and on its operator socket
  agent-oversized   a 5 MiB body (above gRPC's 4 MiB default) to Redeem
  agent-raw         random bytes straight into the unix socket (not HTTP/2)
  gov-garbage       random bytes as the body of RequestAuthorization over mTLS
  gov-oversized     a 5 MiB body to RequestAuthorization over mTLS
  gov-raw           random bytes straight into the governor's TCP port (not TLS)
Every call has a 3 s deadline; any answer (mostly INVALID_ARGUMENT,
RESOURCE_EXHAUSTED, UNAVAILABLE while a daemon is down) is fine: the daemons
must survive, stay bounded and keep the invariants. Prints one JSON line:
{"requests": N, "by_kind": {...}, "by_code": {...}}.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import socket
import threading
import time

import grpc

BIG = os.urandom(5 * 1024 * 1024)  # one buffer, sent many times


def ident(b):
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent-socket", required=True)
    ap.add_argument("--operator-socket", required=True)
    ap.add_argument("--governor", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--kinds", default="", help="comma-separated kinds to send (default: all)")
    ap.add_argument("--seconds", type=float, default=10, help="stop sending after this long")
    a = ap.parse_args()

    def rd(p):
        with open(p, "rb") as f:
            return f.read()

    opts = [("grpc.max_send_message_length", -1), ("grpc.enable_retries", 0)]
    agent = grpc.insecure_channel("unix:" + a.agent_socket, options=opts)
    oper = grpc.insecure_channel("unix:" + a.operator_socket, options=opts)
    creds = grpc.ssl_channel_credentials(rd(a.ca), rd(a.key), rd(a.cert))
    gov = grpc.secure_channel(a.governor, creds, options=opts + [("grpc.ssl_target_name_override", "localhost")])
    host, port = a.governor.rsplit(":", 1)

    def unary(ch, method):
        return ch.unary_unary(method, request_serializer=ident, response_deserializer=ident)

    def stream(ch, method):
        return ch.unary_stream(method, request_serializer=ident, response_deserializer=ident)

    def call(fn, body):
        try:
            r = fn(body, timeout=3)
            if not isinstance(r, bytes):
                for _ in r:
                    pass
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    def raw_unix(path):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect(path)
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(4096))
                s.recv(1024)
            return "RAW_SENT"
        except OSError as e:
            return "RAW_" + type(e).__name__

    def raw_tcp():
        try:
            with socket.create_connection((host, int(port)), timeout=3) as s:
                s.sendall(os.urandom(8192))
                s.recv(1024)
            return "RAW_SENT"
        except OSError as e:
            return "RAW_" + type(e).__name__

    kinds = [
        ("agent-garbage", lambda: call(unary(agent, "/taogate.v1.Agent/Redeem"), os.urandom(64 + os.urandom(1)[0] * 8))),
        ("agent-garbage", lambda: call(stream(agent, "/taogate.v1.Agent/Acquire"), os.urandom(300))),
        ("agent-garbage", lambda: call(unary(oper, "/taogate.v1.Agent/LedgerTail"), os.urandom(100))),
        ("agent-oversized", lambda: call(unary(agent, "/taogate.v1.Agent/Redeem"), BIG)),
        ("agent-raw", lambda: raw_unix(a.agent_socket)),
        ("gov-garbage", lambda: call(unary(gov, "/taogate.v1.Governor/RequestAuthorization"), os.urandom(500))),
        ("gov-oversized", lambda: call(unary(gov, "/taogate.v1.Governor/RequestAuthorization"), BIG)),
        ("gov-raw", raw_tcp),
    ]
    if a.kinds:
        kinds = [k for k in kinds if k[0] in a.kinds.split(",")]
    by_kind, by_code = collections.Counter(), collections.Counter()
    lock = threading.Lock()

    deadline = time.monotonic() + a.seconds

    def one(i):
        if time.monotonic() > deadline:
            return
        kind, fn = kinds[i % len(kinds)]
        code = fn()
        with lock:
            by_kind[kind] += 1
            by_code[code] += 1

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(one, range(a.count)))
    print(json.dumps({"requests": sum(by_kind.values()), "by_kind": by_kind, "by_code": by_code}), flush=True)


if __name__ == "__main__":
    main()
