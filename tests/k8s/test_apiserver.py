#!/usr/bin/env python3
"""A Kubernetes API server for tests: the real wire protocol for pods and
namespaces, nothing else.

  GET /api/v1/{pods,namespaces}[?fieldSelector=spec.nodeName%3DN]   -> a List
      with metadata.resourceVersion
  GET ...&watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=S
      -> 200, chunked, one {"type":...,"object":...} JSON per line; a watch
         from a compacted resourceVersion gets an ERROR event carrying a
         410 Status (as the real server does); BOOKMARKs when asked to.
Bearer tokens are checked (401 with a Status body otherwise).

The test drives it over a plain-HTTP admin port on loopback (POST JSON):
  /upsert {resource, object[, silent]}   ADDED or MODIFIED (silent: no event,
                                         as if the event had been compacted)
  /delete {resource, key[, silent]}      DELETED (key: uid for pods, name)
  /compact                               history gone: live watches get 410
  /drop                                  cut every watch connection (no TLS
                                         close, no final chunk)
  /bookmark                              a BOOKMARK on every watch
  /inject {resource, line}               a raw line on every watch
  /tokens {tokens}                       the tokens accepted from now on
  /fail {resource, status, count}        the next requests get that status
  /ignore_field_selector {on}            misbehave: send every node's pods
  /short_watch {on}                      misbehave: end every watch at once
  GET /stats                             requests seen, current rv
Prints "READY <api_port> <admin_port>" on stdout once both listen.
"""
import argparse
import copy
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Condition()
STATE = {
    "rv": 1000,
    "objs": {"pods": {}, "namespaces": {}},
    "history": [],          # (rv, resource, type, object)
    "compacted": 0,         # watches from rv < compacted are gone
    "tokens": set(),
    "ignore_fs": False,
    "short_watch": False,
    "fail": {},             # resource -> [status, count]
    "drop_gen": 0,
    "bookmark_gen": 0,
    "inject": {"pods": [], "namespaces": []},
    "requests": [],
}


def key_of(resource, obj):
    m = obj.get("metadata", {})
    return m.get("uid") if resource == "pods" else m.get("name")


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def matches(resource, obj, node):
    if resource != "pods" or node is None or STATE["ignore_fs"]:
        return True
    return obj.get("spec", {}).get("nodeName") == node


def record(resource, etype, obj, silent):
    STATE["rv"] += 1
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})["resourceVersion"] = str(STATE["rv"])
    if not silent:
        STATE["history"].append((STATE["rv"], resource, etype, obj))
    LOCK.notify_all()
    return obj


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        resource = {"/api/v1/pods": "pods", "/api/v1/namespaces": "namespaces"}.get(url.path)
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        watch = q.get("watch") in ("1", "true")
        with LOCK:
            STATE["requests"].append({"t": time.monotonic(), "resource": resource, "watch": watch,
                                      "resourceVersion": q.get("resourceVersion"),
                                      "fieldSelector": q.get("fieldSelector"),
                                      "allowWatchBookmarks": q.get("allowWatchBookmarks"),
                                      "timeoutSeconds": q.get("timeoutSeconds"),
                                      "token": token})
            if token not in STATE["tokens"]:
                return self.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
            if resource is None:
                return self.send_json(404, status_obj(404, "NotFound", "the server could not find the requested resource"))
            fail = STATE["fail"].get(resource)
            if fail and fail[1] > 0:
                fail[1] -= 1
                return self.send_json(fail[0], status_obj(fail[0], "Injected", f"injected HTTP {fail[0]}"))
        node = None
        fs = q.get("fieldSelector")
        if fs:
            if not fs.startswith("spec.nodeName=") or resource != "pods":
                return self.send_json(400, status_obj(400, "BadRequest", "unsupported field selector " + fs))
            node = fs[len("spec.nodeName="):]
        if watch:
            return self.watch(resource, q, node)
        with LOCK:
            items = [o for o in STATE["objs"][resource].values() if matches(resource, o, node)]
            kind = "PodList" if resource == "pods" else "NamespaceList"
            body = {"kind": kind, "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(STATE["rv"])}, "items": items}
        self.send_json(200, body)

    def watch(self, resource, q, node):
        timeout = float(q.get("timeoutSeconds", "1800"))
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") == "true"
        try:
            cursor = int(q.get("resourceVersion") or "0")
        except ValueError:
            return self.send_json(400, status_obj(400, "BadRequest", "bad resourceVersion"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        if STATE["short_watch"]:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        with LOCK:
            drop_gen, bm_gen = STATE["drop_gen"], STATE["bookmark_gen"]
            inj = len(STATE["inject"][resource])
        while True:
            out, end, cut = [], False, False
            with LOCK:
                LOCK.wait_for(lambda: STATE["drop_gen"] != drop_gen or STATE["bookmark_gen"] != bm_gen
                              or len(STATE["inject"][resource]) != inj or STATE["compacted"] > cursor
                              or (STATE["history"] and STATE["history"][-1][0] > cursor),
                              timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                if STATE["drop_gen"] != drop_gen:
                    cut = True
                elif cursor < STATE["compacted"]:
                    out.append({"type": "ERROR", "object": status_obj(
                        410, "Expired", f"too old resource version: {cursor} ({STATE['compacted']})")})
                    end = True
                else:
                    for rv, res, etype, obj in STATE["history"]:
                        if rv > cursor and res == resource and matches(res, obj, node):
                            out.append({"type": etype, "object": obj})
                    if STATE["history"]:
                        cursor = max(cursor, STATE["history"][-1][0])
                    while inj < len(STATE["inject"][resource]):
                        out.append(STATE["inject"][resource][inj])
                        inj += 1
                    if STATE["bookmark_gen"] != bm_gen:
                        bm_gen = STATE["bookmark_gen"]
                        if bookmarks:
                            cursor = STATE["rv"]
                            kind = "Pod" if resource == "pods" else "Namespace"
                            out.append({"type": "BOOKMARK", "object": {
                                "kind": kind, "apiVersion": "v1",
                                "metadata": {"resourceVersion": str(cursor)}}})
            try:
                if cut:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                for ev in out:
                    line = ev if isinstance(ev, (bytes, bytearray)) else json.dumps(ev).encode() + b"\n"
                    self.chunk(bytes(line))
                if end or time.monotonic() >= deadline:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
            except OSError:
                self.close_connection = True
                return


class Admin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.reply({"rv": STATE["rv"], "requests": STATE["requests"]})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        a = json.loads(self.rfile.read(n) or b"{}")
        cmd = self.path.strip("/")
        with LOCK:
            res = a.get("resource", "pods")
            if cmd == "upsert":
                k = key_of(res, a["object"])
                etype = "MODIFIED" if k in STATE["objs"][res] else "ADDED"
                STATE["objs"][res][k] = record(res, etype, a["object"], a.get("silent", False))
            elif cmd == "delete":
                obj = STATE["objs"][res].pop(a["key"])
                record(res, "DELETED", obj, a.get("silent", False))
            elif cmd == "compact":
                STATE["compacted"] = STATE["rv"] + 1
                STATE["history"].clear()
            elif cmd == "drop":
                STATE["drop_gen"] += 1
            elif cmd == "bookmark":
                STATE["bookmark_gen"] += 1
            elif cmd == "inject":
                STATE["inject"][res].append(a["line"].encode())
            elif cmd == "tokens":
                STATE["tokens"] = set(a["tokens"])
            elif cmd == "fail":
                STATE["fail"][res] = [a["status"], a["count"]]
            elif cmd == "ignore_field_selector":
                STATE["ignore_fs"] = bool(a["on"])
            elif cmd == "short_watch":
                STATE["short_watch"] = bool(a["on"])
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            LOCK.notify_all()
            self.reply({"rv": STATE["rv"]})


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, ctx):
        super().__init__(addr, handler)
        self.ctx = ctx

    def finish_request(self, request, client_address):
        # The handshake runs on the request's thread, not the accept loop.
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", action="append", default=[])
    args = p.parse_args()
    STATE["tokens"] = set(args.token)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    api = TlsServer(("127.0.0.1", 0), Api, ctx)
    admin = ThreadingHTTPServer(("127.0.0.1", 0), Admin)
    admin.daemon_threads = True
    for s in (api, admin):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"READY {api.server_address[1]} {admin.server_address[1]}", flush=True)
    try:
        sys.stdin.read()  # the test closes our stdin (or dies): exit
    finally:
        sys.exit(0)


if __name__ == "__main__":
    main()
