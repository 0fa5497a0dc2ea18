"""A real taogate-governor for the browser tests (tests/browser).

    from harness import Governor
    with Governor("/work/main/build") as g:          # or g = Governor(...); g.start(); ...; g.stop()
        d = g.request("db.write", "tcp:127.0.0.1:5432", "refund ticket 77")   # PENDING_APPROVAL
        w = g.watch(d["decision_id"])                 # `taogatectl authz watch` as the requester
        body = g.wait_webhook("pending_approval", decision_id=d["decision_id"])
        g.approve(d["decision_id"], "alice"); g.approve(d["decision_id"], "bob")
        final = w.wait()                              # exit 0, the last Decision JSON, the TAO bytes

What it makes, in one temp dir (removed by stop(), which every path reaches:
start() failures, the context manager, atexit):

- a CA and the governor's server certificate (SAN DNS:localhost, IP:127.0.0.1,
  ECDSA P-256, 30 days) with `taogatectl certs init`, and one client
  certificate per identity (the identity is the URI SAN) with
  `taogatectl certs client`: the same commands docs/governor.md gives;
- one Ed25519 approver key per approver (`taogatectl authz keygen`), listed
  under the actor's `approver_keys` in the bundle;
- the policy bundle (render_policy): a rule needing 1 approval, one needing 2,
  an allow rule, a break-glass scope;
- a webhook receiver (http.server on 127.0.0.1, format json, HMAC secret),
  configured as a webhook `http://127.0.0.1:PORT/hook`;
- taogate-governor --config governor.yaml --port-file ... with software keys,
  a file ledger, gRPC and /metrics on 127.0.0.1 ephemeral ports; start()
  returns once /healthz answers 200.

Identities (trust domain browser.test): see IDENTITIES. Any name there works
as `who` in ctl()/request()/approve().

Runs with Debian's python3 (/usr/bin/python3: python3-pytest,
python3-selenium); no PyPI package is needed.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

TRUST_DOMAIN = "browser.test"
IDENTITIES = {
    # name: (URI SAN, roles)
    "requester": (f"spiffe://{TRUST_DOMAIN}/agent/writer", ["writer"]),
    "admin": (f"spiffe://{TRUST_DOMAIN}/human/admin", ["admin"]),
    "alice": (f"spiffe://{TRUST_DOMAIN}/human/alice", ["dba"]),
    "bob": (f"spiffe://{TRUST_DOMAIN}/human/bob", ["dba"]),
    "carol": (f"spiffe://{TRUST_DOMAIN}/human/carol", ["dba", "oncall"]),
    "dave": (f"spiffe://{TRUST_DOMAIN}/human/dave", ["auditor"]),  # logged in, no approver role
}
APPROVERS = ("alice", "bob", "carol", "dave")  # get Ed25519 approver keys
ADMINS = ("admin",)

# The request binding every rule of render_policy() selects.
NODE = "node-a"
CGROUP_ID = "4242"
CGROUP_PATH = "/taogate/test"
DB_TARGET = "tcp:127.0.0.1:5432"

RULE_ONE = "reads-need-one-dba"      # db.read  -> 1 approval, role dba
RULE_TWO = "writes-need-two-dbas"    # db.write -> 2 approvals, role dba
RULE_ALLOW = "status-allowed"        # db.status -> PERMIT at once
BREAK_GLASS_SCOPE = "oncall-db-write"  # carol (oncall) may break glass for db.write


def render_policy(approver_keys: dict[str, list[str]],
                  webauthn_credentials: Optional[dict[str, list[dict]]] = None,
                  name: str = "browser-test", one_count: int = 1, two_count: int = 2) -> str:
    """The bundle. approver_keys: name -> [64-hex Ed25519 public keys].
    webauthn_credentials: name -> [{"id": b64url, "public_key": b64 SPKI DER,
    "description": ...}] (policies/SCHEMA.md `webauthn_credentials`; only
    rendered when given, for the console tests)."""
    webauthn_credentials = webauthn_credentials or {}
    actors = []
    for who, (uri, roles) in IDENTITIES.items():
        a = f"  - identity: {uri}\n    roles: [{', '.join(roles)}]\n"
        if approver_keys.get(who):
            a += f"    approver_keys: [{', '.join(approver_keys[who])}]\n"
        if webauthn_credentials.get(who):
            a += "    webauthn_credentials:\n"
            for c in webauthn_credentials[who]:
                a += f"      - id: {c['id']}\n        public_key: {c['public_key']}\n"
                if c.get("description"):
                    a += f"        description: {json.dumps(c['description'])}\n"
        actors.append(a)
    roles = sorted({r for _, rs in IDENTITIES.values() for r in rs})
    return f"""version: 1
name: {name}
description: taogate browser tests (tests/browser/harness.py)
roles:
{''.join(f'  - id: {r}{chr(10)}' for r in roles)}actors:
{''.join(actors)}workloads:
  - id: test
    selectors:
      nodes: [{NODE}]
      cgroup_paths: [{CGROUP_PATH}]
targets:
  - id: db
    networks:
      - cidrs: [127.0.0.1/32]
        ports: [5432]
        protocols: [tcp]
action_classes:
  - id: db.status
    ttl: 60s
  - id: db.read
    ttl: 60s
  - id: db.write
    ttl: 30s
rules:
  - id: {RULE_ALLOW}
    effect: allow
    roles: [writer]
    workloads: [test]
    actions: [db.status]
    targets: [db]
  - id: {RULE_ONE}
    effect: require_approval
    roles: [writer]
    workloads: [test]
    actions: [db.read]
    targets: [db]
    approval:
      roles: [dba]
      count: {one_count}
  - id: {RULE_TWO}
    effect: require_approval
    roles: [writer]
    workloads: [test]
    actions: [db.write]
    targets: [db]
    approval:
      roles: [dba]
      count: {two_count}
break_glass:
  - id: {BREAK_GLASS_SCOPE}
    roles: [oncall]
    workloads: [test]
    actions: [db.write]
    targets: [db]
    max_ttl: 5m
"""


def free_port() -> int:
    """A loopback port free right now. Only for ports that must be known
    before the server starts (the console: its origin names the port); the
    governor's gRPC and metrics ports are ephemeral (port 0, --port-file)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spki_sha256_b64(cert_pem_path: str | os.PathLike) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo DER)) of a certificate: the value
    for Chromium's --ignore-certificate-errors-spki-list."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    cert = x509.load_pem_x509_certificate(Path(cert_pem_path).read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def parse_json_stream(text: str) -> list:
    """taogatectl prints decisions as pretty JSON objects one after the other."""
    out, dec, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def intent_bytes(decision: dict) -> bytes:
    """The 32 intent bytes of a Decision as taogatectl prints it (proto JSON:
    bytes are standard base64); the webhook carries them as hex, the console
    API as b64u / `intent_sha256_hex`."""
    return base64.b64decode(decision["intent_sha256"])


class HarnessError(RuntimeError):
    pass


def default_build_dir() -> Path:
    return Path(os.environ.get("TAOGATE_BUILD_DIR") or Path(__file__).resolve().parents[2] / "build")


def dev_certs(out_dir: str | os.PathLike, build_dir: str | os.PathLike = None) -> Path:
    """`taogatectl certs init OUT_DIR`: ca.{crt,key}, server.{crt,key} (SAN
    DNS:localhost, IP:127.0.0.1), the governor's certificates; for tests that
    need only a TLS server (tests/browser/test_browser_env.py)."""
    ctl = Path(build_dir or default_build_dir()) / "bin" / "taogatectl"
    subprocess.run([str(ctl), "certs", "init", str(out_dir)], check=True, capture_output=True, timeout=30)
    return Path(out_dir)


# ----------------------------------------------------------------- webhook receiver
@dataclass
class Delivery:
    event: str
    headers: dict
    body: dict
    raw: bytes
    signature_ok: bool


class WebhookReceiver:
    """HTTP on 127.0.0.1 recording each POSTed JSON body (format: json)."""

    def __init__(self, secret: str):
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._handed: set[int] = set()
        self._cv = threading.Condition()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Taogate-Timestamp", "")
                want = "sha256=" + hmac.new(recv.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                d = Delivery(self.headers.get("X-Taogate-Event", ""), {k.lower(): v for k, v in self.headers.items()},
                             body, raw, hmac.compare_digest(want, self.headers.get("X-Taogate-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with recv._cv:
                    recv.deliveries.append(d)
                    recv._cv.notify_all()

            def log_message(self, *a):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, event: str, timeout: float = 20, decision_id: Optional[str] = None,
             match: Optional[Callable[[dict], bool]] = None) -> Delivery:
        """The oldest delivery of `event` (and decision_id / match) not handed
        out before; HarnessError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for i, d in enumerate(self.deliveries):
                    if i in self._handed or d.event != event:
                        continue
                    if decision_id is not None and d.body.get("decision_id") != decision_id:
                        continue
                    if match is not None and not match(d.body):
                        continue
                    self._handed.add(i)
                    return d
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError(f"no {event!r} webhook within {timeout}s; got "
                                       f"{[(d.event, d.body.get('decision_id')) for d in self.deliveries]}")
                self._cv.wait(left)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


# ----------------------------------------------------------------- watcher
@dataclass
class Watcher:
    """`taogatectl authz watch ID --tao-out FILE` running as the requester."""
    proc: subprocess.Popen
    tao_path: Path
    out_path: Path
    err_path: Path
    decisions: list = field(default_factory=list)
    returncode: Optional[int] = None

    def wait(self, timeout: float = 30) -> dict:
        """Waits for the stream to end (the decision is final). Returns the
        last Decision JSON plus "_exit" (0 PERMIT, 2 DENY/...) and "_tao"
        (the TAO bytes, b"" if none)."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise HarnessError(f"authz watch still running after {timeout}s: {self.out_path.read_text()[-2000:]}")
        self.decisions = parse_json_stream(self.out_path.read_text())
        last = dict(self.decisions[-1]) if self.decisions else {}
        last["_exit"] = self.returncode
        last["_tao"] = self.tao_path.read_bytes() if self.tao_path.exists() else b""
        last["_stderr"] = self.err_path.read_text()
        return last

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ----------------------------------------------------------------- governor
class Governor:
    def __init__(self, build_dir: str | os.PathLike = None, *, approval_window_s: Optional[int] = None,
                 extra_config: str = "", keep_dir: Optional[bool] = None,
                 # console=True picks console_port up front (the origin names it) and
                 # writes console_listen / console_origin into governor.yaml (_write_config).
                 console: bool = False, console_host: str = "localhost"):
        self.build_dir = Path(build_dir or default_build_dir())
        self.bin = self.build_dir / "bin"
        self.governor_bin = self.bin / "taogate-governor"
        self.ctl_bin = self.bin / "taogatectl"
        for b in (self.governor_bin, self.ctl_bin):
            if not os.access(b, os.X_OK):
                raise HarnessError(f"missing {b} (build first)")
        self.approval_window_s = approval_window_s
        self.extra_config = extra_config
        self.keep_dir = bool(int(os.environ.get("TAOGATE_BROWSER_KEEP", "0"))) if keep_dir is None else keep_dir
        self.console = console
        self.console_host = console_host
        self.console_port: Optional[int] = None
        self.dir: Optional[Path] = None
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.metrics_port: Optional[int] = None
        self.webhook: Optional[WebhookReceiver] = None
        self.webhook_secret = secrets.token_hex(16)
        self.approver_keys: dict[str, str] = {}      # name -> public key hex
        self.webauthn_credentials: dict[str, list[dict]] = {}
        self._watchers: list[Watcher] = []
        self._stopped = False

    # ------------------------------------------------------------- paths
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def policy_path(self) -> Path:
        return self.dir / "policy.yaml"

    @property
    def ledger_dir(self) -> Path:
        return self.dir / "ledger"

    @property
    def log_path(self) -> Path:
        return self.dir / "governor.log"

    def identity(self, who: str) -> str:
        return IDENTITIES[who][0]

    def cert(self, who: str) -> Path:
        return self.dir / f"{who}.crt"

    def key(self, who: str) -> Path:
        return self.dir / f"{who}.key"

    def approver_key_path(self, who: str) -> Path:
        return self.dir / f"{who}.approver.pem"

    def server_spki_sha256_b64(self) -> str:
        """For Chromium's --ignore-certificate-errors-spki-list (tests/browser/browser.py)."""
        return spki_sha256_b64(self.server_cert)

    @property
    def console_origin(self) -> str:
        if not self.console_port:
            raise HarnessError("no console (Governor(console=True))")
        return f"https://{self.console_host}:{self.console_port}"

    @property
    def console_url(self) -> str:
        return self.console_origin + "/console/"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------- lifecycle
    def __enter__(self) -> "Governor":
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout: float = 30) -> "Governor":
        atexit.register(self.stop)
        try:
            self._prepare()
            self._launch(timeout)
        except BaseException:
            log = self.log()
            self.stop()
            if log:
                print("--- governor.log (last 40 lines)\n" + "\n".join(log.splitlines()[-40:]))
            raise
        return self

    def _prepare(self):
        self.dir = Path(tempfile.mkdtemp(prefix="taogate-browser-"))
        os.chmod(self.dir, 0o700)
        self._run_ctl_raw("certs", "init", str(self.dir))  # ca.{crt,key}, server.{crt,key}: localhost, 127.0.0.1
        for who, (uri, _) in IDENTITIES.items():
            self._run_ctl_raw("certs", "client", str(self.dir), "--uri", uri, "--name", who)
        for who in APPROVERS:
            out = self._run_ctl_raw("authz", "keygen", str(self.approver_key_path(who))).stdout
            self.approver_keys[who] = out.split("approver_keys entry:")[1].split()[0]
        self.policy_path.write_text(self.policy())
        self.webhook = WebhookReceiver(self.webhook_secret)
        (self.dir / "webhook-secret").write_text(self.webhook_secret + "\n")
        if self.console:
            self.console_port = free_port()
        self._write_config()

    def policy(self, **kw) -> str:
        """The bundle with this governor's approver keys (and the WebAuthn
        credentials registered with add_webauthn_credential)."""
        return render_policy({k: [v] for k, v in self.approver_keys.items()},
                             kw.pop("webauthn_credentials", self.webauthn_credentials), **kw)

    def _write_config(self):
        d = self.dir
        cfg = f"""# written by tests/browser/harness.py
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
tls_ca: {d}/ca.crt
tls_cert: {d}/server.crt
tls_key: {d}/server.key
policy_file: {self.policy_path}
ledger_dir: {self.ledger_dir}
instance: browser-test
admins:
{''.join(f'  - {self.identity(a)}{chr(10)}' for a in ADMINS)}software_keys: true
software_root_key: {d}/root.pem
webhooks:
  - name: browser-test
    url: {self.webhook.url}
    format: json
    secret_file: {d}/webhook-secret
webhook_max_attempts: 3
webhook_first_backoff_ms: 100
"""
        if self.approval_window_s is not None:
            cfg += f"approval_window_s: {self.approval_window_s}\n"
        if self.console:
            cfg += (f"console_listen: 127.0.0.1:{self.console_port}\n"
                    f"console_origin: {self.console_origin}\n"
                    f"# console_tls_cert / console_tls_key default to tls_cert / tls_key\n")
        cfg += self.extra_config
        (d / "governor.yaml").write_text(cfg)

    def _launch(self, timeout: float):
        port_file = self.dir / "port"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.governor_bin), "--config", str(self.dir / "governor.yaml"), "--port-file", str(port_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise HarnessError(f"governor exited with {self.proc.returncode}: {self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise HarnessError(f"governor not healthy after {timeout}s: {self.log()[-3000:]}")
            if self.port is None:
                p = port_file.read_text() if port_file.exists() else ""
                if p.endswith("\n"):
                    self.port = int(p)
            if self.port is not None and self.metrics_port is None:
                self.metrics_port = self._metrics_port_from_log()
            if self.metrics_port is not None and self.healthz()[0] == 200:
                break
            time.sleep(0.05)
        if self.console:
            while self.console_get("/console/")[0] != 200:
                if time.monotonic() > deadline:
                    raise HarnessError(f"console not serving after {timeout}s: {self.log()[-3000:]}")
                time.sleep(0.05)

    def console_request(self, method: str, path: str, body: Optional[dict] = None,
                        headers: Optional[dict] = None) -> tuple[int, dict, dict]:
        """An HTTPS request to the console from outside any browser (the CA
        trusted, 127.0.0.1 dialled, Host localhost): (status, JSON or {}, headers)."""
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        conn = http.client.HTTPSConnection(self.console_host, self.console_port, context=ctx, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            h = {"Content-Type": "application/json"} if data is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            try:
                parsed = json.loads(raw) if raw else {}
            except ValueError:
                parsed = {}
            return r.status, parsed, dict(r.getheaders())
        except OSError:
            return 0, {}, {}
        finally:
            conn.close()

    def console_get(self, path: str) -> tuple[int, dict]:
        s, j, _ = self.console_request("GET", path)
        return s, j

    def _metrics_port_from_log(self) -> Optional[int]:
        for line in self.log().splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("metrics_port"):
                return int(j["metrics_port"])
        return None

    def healthz(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            return 0, str(e)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        """Kills what start() started and removes the temp dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for w in self._watchers:
            try:
                w.kill()
            except Exception:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.webhook is not None:
            self.webhook.stop()
        if self.dir is not None:
            if self.keep_dir:
                print(f"harness: kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    # ------------------------------------------------------------- taogatectl
    def _run_ctl_raw(self, *args, check=True, timeout=30, env=None) -> subprocess.CompletedProcess:
        r = subprocess.run([str(self.ctl_bin), *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, env=env)
        if check and r.returncode != 0:
            raise HarnessError(f"taogatectl {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def conn_args(self, who: str) -> list[str]:
        return ["--governor", self.address, "--ca", str(self.ca_cert), "--cert", str(self.cert(who)),
                "--key", str(self.key(who))]

    def ctl(self, who: Optional[str], *args, check: bool = False, timeout: float = 30) -> subprocess.CompletedProcess:
        """taogatectl ARGS with the connection flags of `who` (a name in
        IDENTITIES) appended; who=None runs it without them (offline
        commands). Returns the CompletedProcess (text); check=True raises on
        a non-zero exit."""
        extra = self.conn_args(who) if who else []
        return self._run_ctl_raw(*args, *extra, check=check, timeout=timeout)

    def request(self, action: str, target: str = DB_TARGET, reason: str = "browser test",
                who: str = "requester", expect: Optional[str] = "PENDING_APPROVAL") -> dict:
        """`taogatectl authz request` for the test workload (node-a,
        /taogate/test). Returns the Decision JSON (decision_id, outcome,
        intent_sha256 (base64), approvals_needed, ...) plus "_exit" (0 PERMIT,
        2 DENY, 3 PENDING). `expect` (an outcome name, None = any) raises
        otherwise."""
        r = self.ctl(who, "authz", "request", "--node", NODE, "--cgroup-id", CGROUP_ID, "--cgroup-path", CGROUP_PATH,
                     "--action", action, "--target", target, "--reason", reason)
        if r.returncode not in (0, 2, 3):
            raise HarnessError(f"authz request: exit {r.returncode}: {r.stderr}")
        d = parse_json_stream(r.stdout)[-1]
        d["_exit"] = r.returncode
        if expect is not None and d.get("outcome", "").replace("OUTCOME_", "") != expect:
            raise HarnessError(f"authz request: expected {expect}, got {d.get('outcome')}: {r.stdout} {r.stderr}")
        return d

    def watch(self, decision_id: str, who: str = "requester") -> Watcher:
        """Starts `taogatectl authz watch` (streams the decision until final)."""
        n = len(self._watchers)
        tao, out, err = (self.dir / f"watch-{n}.tao", self.dir / f"watch-{n}.out", self.dir / f"watch-{n}.err")
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen([str(self.ctl_bin), "authz", "watch", decision_id, "--tao-out", str(tao),
                                  *self.conn_args(who)], stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        w = Watcher(p, tao, out, err)
        self._watchers.append(w)
        return w

    def decision(self, decision_id: str, who: str = "requester") -> dict:
        r = self.ctl(who, "authz", "decision", decision_id)
        if r.returncode not in (0, 2, 3):
            raise HarnessError(f"authz decision: exit {r.returncode}: {r.stderr}")
        return parse_json_stream(r.stdout)[-1]

    def approve(self, decision_id: str, approver: str, verdict: str = "approve", check: bool = True) -> subprocess.CompletedProcess:
        """`taogatectl authz approve|reject ID --approver-key KEY` as `approver`
        (its client certificate and its Ed25519 approver key)."""
        assert verdict in ("approve", "reject")
        return self.ctl(approver, "authz", verdict, decision_id, "--approver-key", str(self.approver_key_path(approver)),
                        check=check)

    def activate_policy(self, yaml_text: str, who: str = "admin", check: bool = True) -> subprocess.CompletedProcess:
        """`taogatectl gov policy-activate` as an admin."""
        fd, path = tempfile.mkstemp(prefix="policy-", suffix=".yaml", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.write(yaml_text)
        return self.ctl(who, "gov", "policy-activate", path, check=check)

    def add_webauthn_credential(self, who: str, credential_id_b64u: str, public_key_spki_b64: str,
                                activate: bool = True, description: str = "") -> Optional[subprocess.CompletedProcess]:
        """Lists a WebAuthn credential under `who` (webauthn_credentials) and,
        by default, activates the bundle. For the console tests: what an admin
        does with the enrollment's bundle_snippet."""
        c = {"id": credential_id_b64u, "public_key": public_key_spki_b64}
        if description:
            c["description"] = description
        self.webauthn_credentials.setdefault(who, []).append(c)
        return self.activate_policy(self.policy()) if activate else None

    def enroll_link(self, who: str, as_admin: str = "admin") -> str:
        """`taogatectl approvers enroll IDENTITY` as an admin: the one-time
        https://localhost:PORT/console/#/enroll/TOKEN link it prints."""
        import re
        r = self.ctl(as_admin, "approvers", "enroll", self.identity(who), check=True)
        m = re.search(r"https://\S+/console/#/enroll/\S+", r.stdout)
        if not m:
            raise HarnessError(f"approvers enroll: no link in {r.stdout!r}")
        return m.group(0)

    def wait_webhook(self, event: str, timeout: float = 20, decision_id: Optional[str] = None,
                     match: Optional[Callable[[dict], bool]] = None) -> dict:
        """The JSON body of the oldest `event` webhook (pending_approval,
        break_glass, kill_switch) not returned before; raises after timeout.
        The HMAC signature is checked: a bad one raises."""
        d = self.webhook.wait(event, timeout, decision_id, match)
        if not d.signature_ok:
            raise HarnessError(f"webhook {event}: bad X-Taogate-Signature: {d.headers}")
        return d.body
