"""Headless Debian Chromium driven by selenium (python3-selenium 4.8), with
a WebAuthn virtual authenticator, for pages served over HTTPS by a test CA.

    from browser import Browser
    with Browser(workdir, "alice", spki=gov.server_spki_sha256_b64()) as b:
        b.add_authenticator()                      # ctap2, internal, UV + consent: yes
        b.driver.get("https://localhost:PORT/console/")
        ...
        cred = b.credentials()[0]                  # private key (PKCS#8) and sign_count
        b.driver.save_screenshot(path)

Each Browser is an independent context: its own chromedriver, Chromium, profile
(--user-data-dir under `workdir`), cookies and virtual authenticator. Two of
them are two people.

TLS: the page's certificate is accepted with
--ignore-certificate-errors-spki-list=<base64 SHA-256 of the server's SPKI>
(exactly that key; chromedriver always runs Chromium with a --user-data-dir,
ours or a temp one). trust="nss" instead adds the CA to a fresh NSS db under a
private HOME ($HOME/.pki/nssdb, certutil -A -t "C,,"), which is how a real
machine trusts a private CA. Both were checked to load the page without an
interstitial and to run navigator.credentials.create/get
(tests/browser/test_browser_env.py). Note: while a virtual authenticator is
attached, Chromium does not apply its "WebAuthn is not supported on sites
with TLS certificate errors" check at all, so these tests cannot exercise
that check; without an authenticator it does apply (to hosts other than
localhost).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Optional

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.virtual_authenticator import Credential, VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    def __init__(self, workdir: str | os.PathLike, name: str, *, spki: Optional[str] = None,
                 ca_cert: Optional[str | os.PathLike] = None, trust: str = "spki",
                 window: tuple[int, int] = (1280, 900), headless: bool = True, extra_args: tuple = ()):
        """trust="spki" needs `spki` (base64 SHA-256 of the server's SPKI);
        trust="nss" needs `ca_cert` (PEM); trust="none" accepts nothing."""
        self.name = name
        self.dir = Path(workdir) / f"browser-{name}"
        self.dir.mkdir(parents=True, exist_ok=False)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        args = ["--no-sandbox",                 # we run as root
                "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--password-store=basic", "--use-mock-keychain",
                f"--user-data-dir={self.dir / 'profile'}",
                f"--window-size={window[0]},{window[1]}"]
        if headless:
            args.insert(0, "--headless=new")
        env = dict(os.environ)
        if trust == "spki":
            if not spki:
                raise ValueError("trust='spki' needs spki=")
            args.append(f"--ignore-certificate-errors-spki-list={spki}")
        elif trust == "nss":
            if not ca_cert:
                raise ValueError("trust='nss' needs ca_cert=")
            home = self.dir / "home"
            nssdb = home / ".pki" / "nssdb"
            nssdb.mkdir(parents=True)
            subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
            subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "taogate-test-ca", "-t", "C,,",
                            "-i", str(ca_cert)], check=True, capture_output=True)
            env["HOME"] = str(home)     # Chromium reads $HOME/.pki/nssdb
        elif trust != "none":
            raise ValueError(trust)
        for a in (*args, *extra_args):
            opts.add_argument(a)
        # chromedriver in its own process group: Chromium inherits it, so
        # quit() can make sure nothing of this browser survives.
        self.service = Service(CHROMEDRIVER, env=env, log_path=str(self.dir / "chromedriver.log"),
                               popen_kw={"start_new_session": True})
        self.driver = webdriver.Chrome(service=self.service, options=opts)
        self.driver.set_window_size(*window)
        self._authenticators: list[str] = []

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc):
        self.quit()

    def quit(self, keep_dir: bool = False):
        pgid = getattr(getattr(self.service, "process", None), "pid", None)
        try:
            self.driver.quit()
        except Exception:
            pass
        if pgid:  # whatever of this browser's process group is left
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------- WebAuthn
    def add_authenticator(self, transport: str = "internal", user_verified: bool = True,
                          consenting: bool = True, resident_key: bool = False) -> str:
        """A CTAP2 virtual authenticator with user verification; becomes the
        driver's current one (selenium keeps one id: add_credential,
        get_credentials, set_user_verified act on the last added). Chromium
        allows one "internal" authenticator per browser: use "usb" for more."""
        self.driver.add_virtual_authenticator(VirtualAuthenticatorOptions(
            protocol="ctap2", transport=transport, has_resident_key=resident_key,
            has_user_verification=True, is_user_consenting=consenting, is_user_verified=user_verified))
        self._authenticators.append(self.driver.virtual_authenticator_id)
        return self.driver.virtual_authenticator_id

    def remove_authenticator(self):
        self.driver.remove_virtual_authenticator()

    def credentials(self) -> list[Credential]:
        """The current authenticator's credentials: .id (base64url WITH '='
        padding), ._id (raw bytes), .rp_id, ._private_key (PKCS#8 DER bytes),
        .sign_count."""
        return self.driver.get_credentials()

    def add_clone(self, cred: Credential, sign_count: int):
        """Adds a copy of `cred` (same id and private key) with `sign_count`
        to the current authenticator: a cloned authenticator."""
        self.driver.add_credential(Credential.create_non_resident_credential(
            cred._id, cred.rp_id, cred._private_key, sign_count))

    # ------------------------------------------------------------- page helpers
    def wait(self, predicate, timeout: float = 30):
        # A page that re-renders while we look makes elements stale: look again.
        return WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: predicate(d))

    def screenshot(self, path: str | os.PathLike) -> bool:
        return self.driver.save_screenshot(str(path))
