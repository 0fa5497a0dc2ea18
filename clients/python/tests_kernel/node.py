"""A real governed node for the client's kernel tests, torn down on every path.

``Node`` starts, as root: a real ``taogate-governor`` (software keys, mTLS on
127.0.0.1, a policy rendered for this run), a real ``taogate-agent`` whose
cgroup-BPF gate sits on a governed cgroup made here (unique name) with its
pins on a private bpffs, and three real TCP listeners on 127.0.0.1: ``db``
(protected, the workload may read it), ``secret`` (protected, no rule allows
it) and ``open`` (not protected). The agent reaches the governor with a node
certificate ``spiffe://tg-py.test/node/<node>`` made by ``taogatectl certs``;
the workload never holds a certificate.

``Node.run(action, *args)`` runs tests_kernel/workload.py as a child process
that first joins the workload cgroup ``<governed>/app`` and then does one
client action; it returns the action's JSON result.

Everything made here (processes, cgroups, bpffs mount, pins, temp dir) is
removed by ``close()``, which is safe to call after a partial start.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

TRUST_DOMAIN = "tg-py.test"
NODE_ID = "py-node"
WORKLOAD = "app"
HERE = pathlib.Path(__file__).resolve().parent


def cgroup2_mount() -> Optional[str]:
    """The cgroup v2 mount point, from /proc/self/mountinfo (None if absent)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return left.split()[4]
    return None


class Listener:
    """A real TCP listener on 127.0.0.1: counts accepts, echoes what it reads."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _policy(governed: str, db: int, secret: int) -> str:
    actor = f"spiffe://{TRUST_DOMAIN}/node/{NODE_ID}/cgroup{governed}/{WORKLOAD}"
    return f"""version: 1
name: python-client-kernel-test
roles:
  - id: reader
actors:
  - identity: {actor}
    roles: [reader]
workloads:
  - id: app
    selectors:
      nodes: [{NODE_ID}]
      cgroup_paths: [{governed}/{WORKLOAD}]
      exe_paths: [{os.path.realpath(sys.executable)}]
targets:
  - id: db
    networks: [{{cidrs: [127.0.0.1/32], ports: [{db}], protocols: [tcp]}}]
  - id: secret
    networks: [{{cidrs: [127.0.0.1/32], ports: [{secret}], protocols: [tcp]}}]
action_classes:
  - id: db.read
    ttl: 60s
rules:
  - id: app-reads-db
    effect: allow
    actors: [{actor}]
    workloads: [app]
    actions: [db.read]
    targets: [db]
"""


class Node:
    """See the module docstring. ``start()`` raises on any failure; ``close()`` always."""

    def __init__(self, bin_dir: str, cg2: str) -> None:
        self.bin = pathlib.Path(bin_dir)
        self.cg2 = cg2
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tg-pyk-", dir="/tmp"))  # sun_path <= 108
        self.governed = f"/tg-pyk-{os.getpid()}-{secrets.token_hex(3)}"
        self.governed_abs = cg2 + self.governed
        self.workload_abs = f"{self.governed_abs}/{WORKLOAD}"
        self.agent_socket = str(self.dir / "run" / "agent.sock")
        self.operator_socket = str(self.dir / "run" / "operator.sock")
        self.bpffs = self.dir / "bpffs"
        self.pin_root = str(self.bpffs / "taogate")
        self.listeners: Dict[str, Listener] = {}
        self._procs: List[subprocess.Popen] = []
        self._made_cgroup = self._mounted = False

    # -------------------------------------------------------------- start
    def start(self) -> "Node":
        os.mkdir(self.governed_abs)
        self._made_cgroup = True
        os.mkdir(self.workload_abs)
        self.bpffs.mkdir()
        self._run_ok(["mount", "-t", "bpf", "bpf", str(self.bpffs), "-o", "mode=0700"])
        self._mounted = True
        (self.dir / "run").mkdir()
        for name in ("db", "secret", "open"):
            self.listeners[name] = Listener()
        self._pki()
        policy = self.dir / "policy.yaml"
        policy.write_text(_policy(self.governed, self.listeners["db"].port, self.listeners["secret"].port))
        self.policy_sha256 = hashlib.sha256(policy.read_bytes()).hexdigest()
        self._start_governor(policy)
        self._start_agent()
        return self

    def _ctl(self, *args: str) -> str:
        return self._run_ok([str(self.bin / "taogatectl"), *args])

    @staticmethod
    def _run_ok(argv: List[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stdout}{done.stderr}")
        return done.stdout

    def _pki(self) -> None:
        pki = self.dir / "pki"
        self._ctl("certs", "init", str(pki))
        self._ctl("certs", "client", str(pki), "--uri", f"spiffe://{TRUST_DOMAIN}/node/{NODE_ID}", "--name", "node")
        # The governor's software root (Ed25519) and the agent's trust bundle holding it.
        self._run_ok(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(self.dir / "root.pem")])
        self._run_ok(["openssl", "pkey", "-in", str(self.dir / "root.pem"), "-pubout",
                       "-out", str(self.dir / "root.pub")])
        self._ctl("keys", "bundle-add", "--trust-bundle", str(self.dir / "trust.json"),
                  "--pem", str(self.dir / "root.pub"), "--software", "--name", "dev")

    def _spawn(self, name: str, argv: List[str]) -> subprocess.Popen:
        out = open(self.dir / f"{name}.out", "wb")
        err = open(self.dir / f"{name}.log", "wb")
        with out, err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self._procs.append(proc)
        return proc

    def _wait(self, proc: subprocess.Popen, name: str, ready, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}: {self.log(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready in {seconds}s: {self.log(name)}")

    def _start_governor(self, policy: pathlib.Path) -> None:
        d, port_file = self.dir, self.dir / "governor.port"
        gov = self._spawn("governor", [
            str(self.bin / "taogate-governor"), "--listen", "127.0.0.1:0", "--port-file", str(port_file),
            "--tls-ca", str(d / "pki/ca.crt"), "--tls-cert", str(d / "pki/server.crt"),
            "--tls-key", str(d / "pki/server.key"), "--policy", str(policy),
            "--ledger-dir", str(d / "governor-ledger"), "--instance", "py-kernel-test",
            "--admin", f"spiffe://{TRUST_DOMAIN}/admin/operator", "--trust-domain", TRUST_DOMAIN,
            "--software-keys", "--software-root-key", str(d / "root.pem"), "--metrics-listen", "127.0.0.1:0"])
        self._wait(gov, "governor", lambda: port_file.exists() and port_file.read_text().endswith("\n"))
        self.governor_address = f"127.0.0.1:{port_file.read_text().strip()}"

    def _start_agent(self) -> None:
        d = self.dir
        config = d / "agent.yaml"
        config.write_text(f"""node_id: {NODE_ID}
cgroup2_mount: {self.cg2}
governed_cgroup: {self.governed}
pin_root: {self.pin_root}
mount_bpffs: false
mode: protect-listed
ledger_dir: {d}/agent-ledger
ledger_key: {d}/agent-ledger.key
workload_socket: {self.agent_socket}
operator_socket: {self.operator_socket}
operator_uids: [0]
trust_bundle: {d}/trust.json
strict_keys: false
metrics_port: -1
governor_address: {self.governor_address}
governor_ca: {d}/pki/ca.crt
governor_cert: {d}/pki/node.crt
governor_key: {d}/pki/node.key
governor_server_name: localhost
targets_cache: {d}/agent-targets.pb
governor_retry_max_ms: 400
denied_flush_ms: 200
""")
        agent = self._spawn("agent", [str(self.bin / "taogate-agent"), "--config", str(config)])
        ready = d / "agent.out"
        self._wait(agent, "agent", lambda: b"READY" in ready.read_bytes())
        # Fail closed until the governor's targets arrive: wait for this policy's.
        self._wait(agent, "agent", lambda: self.policy_sha256 in self.agent_status())

    def agent_status(self) -> str:
        done = subprocess.run([str(self.bin / "taogatectl"), "agent", "--socket", self.operator_socket, "status"],
                              capture_output=True, text=True, timeout=30)
        return done.stdout

    def governor_ledger(self) -> str:
        """The governor ledger's last records as `taogatectl ledger tail` prints them."""
        return self._ctl("ledger", "tail", "--dir", str(self.dir / "governor-ledger"), "-n", "100")

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    # -------------------------------------------------------------- workloads
    def run(self, action: str, *args: str, timeout: float = 60) -> dict:
        """workload.py ACTION ARGS in the workload cgroup; its JSON result."""
        env = dict(os.environ, TAOGATE_AGENT_SOCKET=self.agent_socket)
        done = subprocess.run([sys.executable, str(HERE / "workload.py"), f"{self.workload_abs}/cgroup.procs",
                               action, *args], capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            raise AssertionError(f"workload {action} exit {done.returncode}: {done.stdout}{done.stderr}"
                                 f"\n--- agent log ---\n{self.log('agent')}")
        return json.loads(done.stdout)

    # -------------------------------------------------------------- teardown
    def close(self) -> None:
        for proc in reversed(self._procs):  # agent first, then the governor
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._mounted:
            subprocess.run([str(self.bin / "taogatectl"), "gate", "detach", "--pin-root", self.pin_root],
                           capture_output=True, timeout=30)
            subprocess.run(["umount", "-l", str(self.bpffs)], capture_output=True, timeout=30)
        if self._made_cgroup:
            _remove_cgroup_tree(self.governed_abs)
        for listener in self.listeners.values():
            listener.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _remove_cgroup_tree(root: str) -> None:
    """Kill what is left below ``root`` (only this test's subtree), then rmdir it bottom-up."""
    kill = os.path.join(root, "cgroup.kill")
    if os.path.exists(kill):
        with open(kill, "w") as f:
            f.write("1")
    for _ in range(50):
        for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        if not os.path.exists(root):
            return
        time.sleep(0.1)
