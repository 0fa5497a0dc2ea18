"""The browser test environment works: headless Debian Chromium under selenium
4.8 loads an HTTPS page from https://localhost:PORT whose certificate comes
from a test CA (`taogatectl certs init`, the governor's own kind), and
WebAuthn (ES256, rp id localhost) runs there against a virtual authenticator;
the signature counter can be cloned lower (the 'cloned authenticator' test);
two browsers are two independent people; cookies and Origin behave as the
console needs.

Run: /usr/bin/python3 -m pytest -v tests/browser/test_browser_env.py
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import ssl
import struct
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat, load_der_private_key,
                                                          load_der_public_key)
from selenium.webdriver.common.by import By

from browser import Browser, b64u, unb64u
from harness import dev_certs, spki_sha256_b64

PAGE_DIR = Path(__file__).resolve().parent / "probe_page"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ProbeServer:
    """The probe page over HTTPS on 127.0.0.1 (reached as https://localhost:PORT/)."""

    def __init__(self, cert: Path, key: Path):
        self.posts: list[dict] = []
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def _send(self, code, body: bytes, ctype: str, extra=()):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", CSP)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Cache-Control", "no-store")
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path in ("/", "/index.html"):
                    self._send(200, (PAGE_DIR / "index.html").read_bytes(), "text/html; charset=utf-8")
                elif self.path == "/probe.js":
                    self._send(200, (PAGE_DIR / "probe.js").read_bytes(), "text/javascript")
                elif self.path == "/api/whoami":
                    self._send(200, json.dumps({"cookie": self.headers.get("Cookie", "")}).encode(), "application/json")
                else:
                    self._send(404, b"{}", "application/json")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                srv.posts.append({k.lower(): v for k, v in self.headers.items()})
                token = secrets.token_hex(8)
                self._send(200, json.dumps({"origin": self.headers.get("Origin", ""), "token": token}).encode(),
                           "application/json",
                           [("Set-Cookie", f"__Host-probe={token}; Secure; HttpOnly; SameSite=Strict; Path=/")])

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return dev_certs(tmp_path_factory.mktemp("certs") / "ca")


@pytest.fixture(scope="module")
def probe(certs):
    s = ProbeServer(certs / "server.crt", certs / "server.key")
    yield s
    s.stop()


@pytest.fixture
def browsers(tmp_path, certs):
    """make(name, trust="spki"|"nss") -> Browser; all quit at the end."""
    made = []

    def make(name, trust="spki"):
        b = Browser(tmp_path, name, trust=trust, spki=spki_sha256_b64(certs / "server.crt"),
                    ca_cert=certs / "ca.crt")
        made.append(b)
        return b
    yield make
    for b in made:
        b.quit()


def call(b: Browser, button: str, **params) -> dict:
    d = b.driver
    d.execute_script("document.getElementById('params').value = arguments[0];"
                     "document.getElementById('out').textContent = 'armed';", json.dumps(params))
    d.find_element(By.ID, button).click()
    b.wait(lambda d: d.find_element(By.ID, "out").text not in ("armed", "busy"))
    return json.loads(d.find_element(By.ID, "out").text)


def enroll(b: Browser, origin: str) -> tuple[dict, bytes]:
    b.driver.get(origin + "/")
    assert b.driver.title == "taogate browser probe", b.driver.page_source[:300]
    challenge = secrets.token_bytes(32)
    r = call(b, "create", rp_id="localhost", identity="spiffe://browser.test/human/alice",
             user_id=b64u(b"alice"), challenge=b64u(challenge))
    assert r["ok"], r
    cd = json.loads(unb64u(r["client_data_json"]))
    assert cd["type"] == "webauthn.create" and cd["origin"] == origin and cd["challenge"] == b64u(challenge)
    assert r["alg"] == -7
    return r, challenge


def assert_assertion(r: dict, spki_der: bytes, challenge: bytes, origin: str) -> int:
    """Checks an assertion as the server will; returns its counter."""
    assert r["ok"], r
    auth_data = unb64u(r["authenticator_data"])
    client_data = unb64u(r["client_data_json"])
    cd = json.loads(client_data)  # never compare it as bytes: Chrome sometimes adds a key
    assert cd["type"] == "webauthn.get" and cd["origin"] == origin and cd["challenge"] == b64u(challenge)
    assert auth_data[:32] == hashlib.sha256(b"localhost").digest()
    flags = auth_data[32]
    assert flags & 0x01 and flags & 0x04, f"UP and UV expected, flags {flags:#x}"
    load_der_public_key(spki_der).verify(unb64u(r["signature"]), auth_data + hashlib.sha256(client_data).digest(),
                                         ec.ECDSA(hashes.SHA256()))
    return struct.unpack(">I", auth_data[33:37])[0]


@pytest.mark.parametrize("trust", ["spki", "nss"])
def test_webauthn_create_then_get_over_https_with_the_test_ca(browsers, probe, trust, tmp_path):
    b = browsers("alice", trust)
    b.add_authenticator(transport="internal")
    created, _ = enroll(b, probe.origin)
    spki = base64.b64decode(created["public_key_b64"])
    counters = []
    for _ in range(2):
        ch = secrets.token_bytes(32)  # e.g. a decision's intent_sha256
        r = call(b, "get", rp_id="localhost", challenge=b64u(ch), allow_credentials=[created["credential_id"]])
        assert r["credential_id"] == created["credential_id"]
        counters.append(assert_assertion(r, spki, ch, probe.origin))
    assert counters[1] > counters[0] > 0
    # The authenticator's view: the private key and the counter.
    (cred,) = b.credentials()
    assert b64u(cred._id) == created["credential_id"] and cred.rp_id == "localhost"
    assert cred.sign_count == counters[1]
    pub = load_der_private_key(cred._private_key, None).public_key()
    assert pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == spki
    # Screenshots and window size.
    b.driver.set_window_size(1024, 700)
    shot = tmp_path / f"probe-{trust}.png"
    assert b.screenshot(shot) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_cloned_credential_signs_with_a_lower_counter(browsers, probe):
    alice = browsers("alice")
    alice.add_authenticator(transport="usb")
    created, _ = enroll(alice, probe.origin)
    spki = base64.b64decode(created["public_key_b64"])
    for _ in range(3):
        ch = secrets.token_bytes(32)
        high = assert_assertion(call(alice, "get", rp_id="localhost", challenge=b64u(ch),
                                     allow_credentials=[created["credential_id"]]), spki, ch, probe.origin)
    (cred,) = alice.credentials()
    assert cred.sign_count == high

    # The clone, in another browser (another person's machine).
    thief = browsers("thief")
    thief.add_authenticator(transport="usb")
    thief.add_clone(cred, sign_count=1)
    thief.driver.get(probe.origin + "/")
    ch = secrets.token_bytes(32)
    low = assert_assertion(call(thief, "get", rp_id="localhost", challenge=b64u(ch),
                                allow_credentials=[created["credential_id"]]), spki, ch, probe.origin)
    assert low == 2 < high

    # The clone in the same browser: a new authenticator after removing the first.
    alice.remove_authenticator()
    alice.add_authenticator(transport="usb")
    alice.add_clone(cred, sign_count=0)
    ch = secrets.token_bytes(32)
    assert assert_assertion(call(alice, "get", rp_id="localhost", challenge=b64u(ch),
                                 allow_credentials=[created["credential_id"]]), spki, ch, probe.origin) == 1


def test_user_not_verified_and_unknown_credential_are_refused(browsers, probe):
    b = browsers("bob")
    b.add_authenticator()
    created, _ = enroll(b, probe.origin)
    # UV fails: with userVerification 'preferred' Chromium refuses outright
    # (NotAllowedError, at once), it does not return an assertion with UV=0.
    b.driver.set_user_verified(False)
    r = call(b, "get", rp_id="localhost", challenge=b64u(b"x" * 32), allow_credentials=[created["credential_id"]])
    assert not r["ok"] and r["error"].startswith("NotAllowedError"), r
    b.driver.set_user_verified(True)
    # A credential this authenticator does not hold.
    r = call(b, "get", rp_id="localhost", challenge=b64u(b"y" * 32), allow_credentials=[b64u(b"unknown-credential")])
    assert not r["ok"] and r["error"].startswith("NotAllowedError"), r


def test_two_browsers_are_two_independent_people(browsers, probe):
    a, b = browsers("a"), browsers("b")
    for br in (a, b):
        br.add_authenticator()
        br.driver.get(probe.origin + "/")
    ra = call(a, "login")
    assert ra["ok"] and ra["body"]["origin"] == probe.origin  # fetch POST carries Origin
    assert probe.posts[-1]["origin"] == probe.origin
    who_a = call(a, "whoami")["body"]["cookie"]
    assert who_a == f"__Host-probe={ra['body']['token']}"  # the __Host- Secure cookie is kept and sent
    assert call(b, "whoami")["body"]["cookie"] == ""         # not in the other browser
    assert b.driver.get_cookies() == []
    # Each has its own authenticator: a credential made in a is unknown to b.
    created, _ = enroll(a, probe.origin)
    assert b.credentials() == []
    r = call(b, "get", rp_id="localhost", challenge=b64u(b"z" * 32), allow_credentials=[created["credential_id"]])
    assert not r["ok"] and r["error"].startswith("NotAllowedError"), r
