"""The approvals console in a real browser (issue 19): a real governor
(harness.py) serving the console over HTTPS, headless Debian Chromium with a
WebAuthn virtual authenticator per person (browser.py).

One governor serves the whole module. Its people enroll through the page first
(the enrollment link `taogatectl approvers enroll` prints), the admin adds the
printed credentials to the bundle, and the tests then approve, attack and
explore through the page. Screenshots of every page land in
$TAOGATE_BROWSER_ARTIFACTS (CTest: <build>/browser-artifacts).
"""

import json
import os
import re
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from browser import Browser
from harness import Governor, RULE_ONE, RULE_TWO

ARTIFACTS = Path(os.environ.get("TAOGATE_BROWSER_ARTIFACTS", "/tmp/taogate-browser-artifacts"))
WINDOW_S = 30  # the approval window (and so each decision link's life)

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def shot(b: Browser, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    b.driver.execute_script("window.scrollTo(0, 0)")
    assert b.screenshot(ARTIFACTS / f"{name}.png"), name


def status(b: Browser) -> tuple[str, str]:
    el = b.driver.find_element(By.ID, "status")
    return el.get_attribute("class") or "", el.text


def wait_status(b: Browser, cls: str, pattern: str = "", timeout: float = 20) -> str:
    def ok(_):
        c, t = status(b)
        return cls in c.split() and re.search(pattern, t, re.I) is not None
    try:
        b.wait(ok, timeout)
    except Exception:
        raise AssertionError(f"status never became {cls} /{pattern}/: now {status(b)}")
    return status(b)[1]


def click(b: Browser, by, sel: str, index: int = 0, inner: str = ""):
    """Clicks the element, again if the page re-rendered it meanwhile."""
    def attempt(d):
        try:
            el = d.find_elements(by, sel)[index]
            if inner:
                el = el.find_element(By.CSS_SELECTOR, inner)
            el.click()
            return True
        except (StaleElementReferenceException, IndexError):
            return False
    b.wait(attempt, 20)


def goto(b: Browser, g: Governor, route: str):
    b.driver.get(g.console_url + route)


def login(b: Browser, g: Governor, who: str):
    """The page's login: identity, then a WebAuthn assertion."""
    b.wait(lambda d: d.find_elements(By.ID, "identity") and d.find_element(By.ID, "identity").is_displayed())
    box = b.driver.find_element(By.ID, "identity")
    box.clear()
    box.send_keys(g.identity(who))
    click(b, By.ID, "login")
    b.wait(lambda d: g.identity(who) in d.find_element(By.ID, "session").text)


def login_shown(b: Browser) -> bool:
    return bool(b.driver.find_elements(By.ID, "identity")) and b.driver.find_element(By.ID, "identity").is_displayed()


def ensure_login(b: Browser, g: Governor, who: str) -> bool:
    """Logs in as `who` if the page asks; True if it did."""
    # Wait for the page to decide: the login form, or the header's identity.
    b.wait(lambda d: login_shown(b) or d.find_element(By.ID, "session").text.strip())
    if not login_shown(b):
        return False
    login(b, g, who)
    return True


def open_as(b: Browser, g: Governor, who: str, route: str):
    """`route` in the page, logged in as `who` (logging in if the session is gone)."""
    goto(b, g, route)
    if ensure_login(b, g, who):
        goto(b, g, route)


def fetch(b: Browser, method: str, path: str, body=None, csrf: bool = True, origin_ok: bool = True):
    """A fetch from inside the page (so with its cookie): (status, json)."""
    return b.driver.execute_async_script("""
      const [method, path, body, csrf, done] = arguments;
      (async () => {
        const h = {'Content-Type': 'application/json'};
        if (csrf) {
          const s = await fetch('/console/api/session', {credentials: 'same-origin'});
          if (s.ok) h['X-Taogate-CSRF'] = (await s.json()).csrf;
        }
        const r = await fetch(path, {method, credentials: 'same-origin', headers: h,
                                     body: body === null ? undefined : JSON.stringify(body)});
        let j = {}; try { j = await r.json(); } catch (e) {}
        done([r.status, j]);
      })().catch(e => done([-1, {error: String(e)}]));
    """, method, path, body, csrf)


# JavaScript helpers run in the page for the forged-assertion attacks.
ASSERT_JS = """
const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')
    + '==='.slice((s.length + 3) % 4)), c => c.charCodeAt(0));
const hex2 = (h) => Uint8Array.from(h.match(/../g).map(x => parseInt(x, 16)));
async function assertion(challenge, ids) {
  const c = await navigator.credentials.get({publicKey: {challenge, rpId: location.hostname,
      allowCredentials: ids.map(id => ({type: 'public-key', id: unb64u(id)})), userVerification: 'preferred'}});
  return {credential_id: b64u(c.rawId), client_data_json: b64u(c.response.clientDataJSON),
          authenticator_data: b64u(c.response.authenticatorData), signature: b64u(c.response.signature)};
}
async function csrf() { return (await (await fetch('/console/api/session')).json()).csrf; }
async function post(path, body, token) {
  const h = {'Content-Type': 'application/json'};
  if (token) h['X-Taogate-CSRF'] = token;
  const r = await fetch(path, {method: 'POST', credentials: 'same-origin', headers: h, body: JSON.stringify(body)});
  let j = {}; try { j = await r.json(); } catch (e) {}
  return [r.status, j];
}
"""


class People:
    """One browser per person, each with its own profile and authenticator."""

    def __init__(self, g: Governor, workdir: Path):
        self.g, self.workdir, self.b = g, workdir, {}

    def browser(self, name: str, transport: str = "usb") -> Browser:
        if name not in self.b:
            b = Browser(self.workdir, name, spki=self.g.server_spki_sha256_b64())
            b.add_authenticator(transport=transport)
            self.b[name] = b
        return self.b[name]

    def quit(self):
        for b in self.b.values():
            b.quit()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    g = Governor(console=True, approval_window_s=WINDOW_S)
    g.start()
    people = People(g, tmp_path_factory.mktemp("browsers"))
    try:
        # Enrollment through the page: link -> passkey -> the bundle entry.
        for who in ("alice", "bob", "admin"):
            b = people.browser(who)
            b.driver.get(g.enroll_link(who))
            b.wait(lambda d: g.identity(who) in d.find_element(By.ID, "enroll-identity").text)
            if who == "alice":
                shot(b, "enroll")
            click(b, By.ID, "enroll")
            b.wait(lambda d: d.find_element(By.ID, "bundle-snippet").text.strip())
            snippet = b.driver.find_element(By.ID, "bundle-snippet").text
            cred_id = re.search(r"id: (\S+)", snippet).group(1)
            key = re.search(r"public_key: (\S+)", snippet).group(1)
            assert b.driver.find_element(By.ID, "enroll-credential-id").text == cred_id
            if who == "alice":
                shot(b, "enrolled")
            g.add_webauthn_credential(who, cred_id, key, activate=False)
        g.activate_policy(g.policy())
        yield g, people
    finally:
        people.quit()
        g.stop()


def test_enrollment_is_recorded_and_single_use(env):
    g, people = env
    b = people.browser("admin")
    goto(b, g, "#/login")
    login(b, g, "admin")
    st, page = fetch(b, "GET", "/console/api/ledger/records?from=0&count=200")
    assert st == 200, page
    enrolled = [r for r in page["records"] if r["kind"] == "APPROVER_ENROLLED"]
    assert len(enrolled) == 3
    assert {dict(r["fields"])["actor"] for r in enrolled} == {g.identity(w) for w in ("alice", "bob", "admin")}
    # The enrollment link, once used, is refused.
    link = g.enroll_link("carol")
    token = link.split("#/enroll/")[1]
    st, _, _ = g.console_request("POST", "/console/api/enroll/begin", {"token": token},
                                 {"Origin": g.console_origin})
    assert st == 200
    st, body, _ = g.console_request("POST", "/console/api/enroll/begin", {"token": "x" + token},
                                    {"Origin": g.console_origin})
    assert st == 404, body


def test_pending_decision_link_login_approve_and_the_workload_gets_its_tao(env):
    g, people = env
    d = g.request("db.read", reason="quarterly report for ticket 81")
    watcher = g.watch(d["decision_id"])
    hook = g.wait_webhook("pending_approval", decision_id=d["decision_id"])
    link = hook["console_link"]
    assert link.startswith(g.console_origin + "/console/#/link/")
    alice = people.browser("alice")
    alice.driver.delete_all_cookies()
    alice.driver.get(link)
    # No session: the page asks for a login first, then follows the link.
    alice.wait(lambda dr: dr.find_elements(By.ID, "identity"))
    shot(alice, "login")
    login(alice, g, "alice")
    alice.wait(lambda dr: dr.find_elements(By.ID, "d-id") and dr.find_element(By.ID, "d-id").text.strip())
    assert d["decision_id"] in alice.driver.find_element(By.ID, "d-id").text
    assert alice.driver.find_element(By.ID, "d-rule").text == RULE_ONE
    assert "quarterly report" in alice.driver.find_element(By.ID, "d-reason").text
    assert alice.driver.find_element(By.ID, "d-intent").text.strip() == hook["intent_sha256"]
    shot(alice, "decision")
    click(alice, By.ID, "approve")
    wait_status(alice, "ok")
    final = watcher.wait()
    assert final["_exit"] == 0, final
    assert final.get("_tao"), "the workload's watch got no TAO"
    shot(alice, "approved")
    # The APPROVAL record carries the WebAuthn evidence.
    st, page = fetch(alice, "GET", f"/console/api/ledger/records?from=0&count=200")
    approvals = [dict(r["fields"]) for r in page["records"] if r["kind"] == "APPROVAL"
                 and dict(r["fields"]).get("decision_id") == d["decision_id"]]
    assert len(approvals) == 1
    a = approvals[0]
    assert a["event"] == "webauthn" and a["approver"] == g.identity("alice")
    for k in ("credential_id", "authenticator_data", "client_data", "assertion"):
        assert a[k], k
    # The same link again: single use.
    alice.driver.get(link)
    wait_status(alice, "error", "already used")
    shot(alice, "link-reused")


def test_two_approvers_in_two_browsers(env):
    g, people = env
    d = g.request("db.write", reason="refund ticket 77")
    watcher = g.watch(d["decision_id"])
    link = g.wait_webhook("pending_approval", decision_id=d["decision_id"])["console_link"]
    alice, bob = people.browser("alice"), people.browser("bob")
    alice.driver.get(link)
    ensure_login(alice, g, "alice")
    alice.wait(lambda dr: dr.find_elements(By.ID, "approve"))
    click(alice, By.ID, "approve")
    wait_status(alice, "ok")
    assert "1 / 2" in alice.driver.find_element(By.ID, "d-approvals").text
    # Alice again: once per approver.
    st, body = fetch(alice, "GET", f"/console/api/decision?id={d['decision_id']}")
    assert st == 200 and body["approvals_given"] == 1
    # Bob finds it in the pending list of his own browser.
    open_as(bob, g, "bob", "#/pending")
    row = f'tr[data-decision-id="{d["decision_id"]}"]'
    bob.wait(lambda dr: dr.find_elements(By.CSS_SELECTOR, row))
    shot(bob, "pending")
    click(bob, By.CSS_SELECTOR, row)
    bob.wait(lambda dr: dr.find_elements(By.ID, "approve"))
    click(bob, By.ID, "approve")
    wait_status(bob, "ok")
    final = watcher.wait()
    assert final["_exit"] == 0 and final.get("_tao"), final
    goto(bob, g, "#/history")
    bob.wait(lambda dr: dr.find_elements(By.CSS_SELECTOR, row))
    shot(bob, "history")


def test_reject_signs_a_different_challenge(env):
    g, people = env
    d = g.request("db.read", reason="reject me")
    watcher = g.watch(d["decision_id"])
    alice = people.browser("alice")
    open_as(alice, g, "alice", f"#/decision/{d['decision_id']}")
    alice.wait(lambda dr: dr.find_elements(By.ID, "reject"))
    click(alice, By.ID, "reject")
    wait_status(alice, "ok")
    final = watcher.wait()
    assert final["outcome"] == "OUTCOME_REJECTED", final


def test_forged_and_misdirected_assertions_are_refused(env):
    g, people = env
    a_dec = g.request("db.read", reason="decision A")
    b_dec = g.request("db.read", reason="decision B")
    alice = people.browser("alice")
    open_as(alice, g, "alice", "#/pending")
    intent_a = fetch(alice, "GET", f"/console/api/decision?id={a_dec['decision_id']}")[1]["intent_sha256_hex"]
    # 1. An assertion over decision A's intent, submitted for decision B.
    st, body = alice.driver.execute_async_script(ASSERT_JS + """
      const [idA, idB, intentA, identity, done] = arguments;
      (async () => {
        const [, s] = await post('/console/api/login/begin', {identity}, await csrf());
        const a = await assertion(hex2(intentA), s.allow_credentials);
        return await post('/console/api/decision/approve', {decision_id: idB, verdict: 'approve', ...a}, await csrf());
      })().then(done, e => done([-1, {error: String(e)}]));
    """, a_dec["decision_id"], b_dec["decision_id"], intent_a, g.identity("alice"))
    assert st == 401 and "challenge" in body["error"], (st, body)
    # 2. No CSRF token: refused before anything is read.
    st, body = fetch(alice, "POST", "/console/api/decision/approve", {"decision_id": b_dec["decision_id"]}, csrf=False)
    assert st == 403 and "CSRF" in body["error"], (st, body)
    # 3. The session cookie replayed from another origin (no browser would send
    #    it: SameSite=Strict; the Origin check refuses it anyway).
    cookie = alice.driver.get_cookie("__Host-taogate-session")
    assert cookie and cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    csrf_token = fetch(alice, "GET", "/console/api/session")[1]["csrf"]
    hdr = {"Cookie": f"__Host-taogate-session={cookie['value']}", "X-Taogate-CSRF": csrf_token}
    st, body, _ = g.console_request("POST", "/console/api/decision/approve", {"decision_id": b_dec["decision_id"]},
                                    {**hdr, "Origin": "https://evil.example"})
    assert st == 403 and "Origin" in body["error"], (st, body)
    st, body, _ = g.console_request("POST", "/console/api/decision/approve", {"decision_id": b_dec["decision_id"]},
                                    {**hdr, "Origin": g.console_origin, "Content-Type": "text/plain"})
    assert st == 415, (st, body)
    # 4. Decision B is untouched.
    assert fetch(alice, "GET", f"/console/api/decision?id={b_dec['decision_id']}")[1]["approvals_given"] == 0


def test_unenrolled_credential_cannot_log_in(env):
    g, people = env
    eve = people.browser("eve")
    goto(eve, g, "#/login")
    # Eve makes her own credential for this site and answers alice's login
    # challenge with it.
    st, body = eve.driver.execute_async_script(ASSERT_JS + """
      const [identity, done] = arguments;
      (async () => {
        const made = await navigator.credentials.create({publicKey: {rp: {id: location.hostname, name: 'x'},
            user: {id: new Uint8Array(16), name: 'eve', displayName: 'eve'},
            challenge: new Uint8Array(32), pubKeyCredParams: [{type: 'public-key', alg: -7}], attestation: 'none'}});
        const s = await (await fetch('/console/api/login/begin', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({identity})})).json();
        const a = await assertion(unb64u(s.challenge), [b64u(made.rawId)]);
        return await post('/console/api/login/finish', {identity, ...a});
      })().then(done, e => done([-1, {error: String(e)}]));
    """, g.identity("alice"))
    assert st == 401 and "not enrolled" in body["error"], (st, body)
    assert eve.driver.get_cookie("__Host-taogate-session") is None


def test_cloned_authenticator_with_a_lower_counter_is_refused(env):
    g, people = env
    alice = people.browser("alice")
    cred = [c for c in alice.credentials() if c.rp_id == "localhost"][0]
    assert cred.sign_count >= 1  # the governor has seen at least the enrollment's counter
    # The same key, its counter reset: its next assertion says 1, which the
    # governor has already seen.
    clone = people.browser("alice-clone")
    clone.add_clone(cred, sign_count=0)
    goto(clone, g, "#/login")
    clone.wait(lambda d: d.find_elements(By.ID, "identity") and d.find_element(By.ID, "identity").is_displayed())
    box = clone.driver.find_element(By.ID, "identity")
    box.send_keys(g.identity("alice"))
    click(clone, By.ID, "login")
    text = wait_status(clone, "error", "counter")
    assert "cloned" in text or "counter" in text
    assert clone.driver.get_cookie("__Host-taogate-session") is None


def test_reason_is_shown_as_text_never_run(env):
    g, people = env
    d = g.request("db.read", reason=XSS)
    alice = people.browser("alice")
    open_as(alice, g, "alice", f"#/decision/{d['decision_id']}")
    alice.wait(lambda dr: dr.find_elements(By.ID, "d-reason") and dr.find_element(By.ID, "d-reason").text)
    reason = alice.driver.find_element(By.ID, "d-reason")
    # The governor keeps a redacted summary; whatever of the payload survives
    # is text: no element was created from it and nothing ran.
    assert not reason.find_elements(By.TAG_NAME, "img") and not reason.find_elements(By.TAG_NAME, "script")
    assert alice.driver.execute_script("return window.__xss === undefined")
    shot(alice, "xss-reason")
    goto(alice, g, "#/pending")
    alice.wait(lambda dr: dr.find_elements(By.CSS_SELECTOR, f'tr[data-decision-id="{d["decision_id"]}"]'))
    assert not alice.driver.find_elements(By.CSS_SELECTOR, "#pending img")
    assert alice.driver.execute_script("return window.__xss === undefined")
    # The CSP forbids inline script even if something slipped through.
    st, _, headers = g.console_request("GET", "/console/")
    assert "script-src 'self'" in headers.get("Content-Security-Policy", "")
    assert "unsafe-inline" not in headers.get("Content-Security-Policy", "")


def test_expired_link_is_refused(env):
    g, people = env
    d = g.request("db.read", reason="let it expire")
    link = g.wait_webhook("pending_approval", decision_id=d["decision_id"])["console_link"]
    time.sleep(WINDOW_S + 1)
    alice = people.browser("alice")
    alice.driver.get(link)
    ensure_login(alice, g, "alice")
    wait_status(alice, "error", "expired")


def test_kill_switch_for_admins_only(env):
    g, people = env
    admin = people.browser("admin")
    open_as(admin, g, "admin", "#/killswitch")
    admin.wait(lambda dr: dr.find_elements(By.ID, "ks-engage"))
    admin.driver.find_element(By.ID, "ks-reason").send_keys("browser test drill")
    # Without the typed confirmation nothing is sent.
    click(admin, By.ID, "ks-engage")
    wait_status(admin, "error")
    admin.driver.find_element(By.ID, "ks-confirm").send_keys("ENGAGE")
    click(admin, By.ID, "ks-engage")
    admin.wait(lambda dr: dr.find_element(By.ID, "ks-state").text.strip().lower() == "engaged")
    hook = g.wait_webhook("kill_switch")
    assert hook["verdict"] == "engage" and hook["actor"] == g.identity("admin")
    shot(admin, "killswitch")
    admin.driver.find_element(By.ID, "ks-reason").send_keys("drill over")
    box = admin.driver.find_element(By.ID, "ks-confirm")
    box.clear()
    box.send_keys("RELEASE")
    click(admin, By.ID, "ks-release")
    admin.wait(lambda dr: dr.find_element(By.ID, "ks-state").text.strip().lower() == "released")
    # Alice is an approver, not an admin.
    alice = people.browser("alice")
    open_as(alice, g, "alice", "#/pending")
    st, body = fetch(alice, "POST", "/console/api/killswitch", {"engage": True, "confirm": "ENGAGE", "reason": "x"})
    assert st == 403, (st, body)


def test_ledger_explorer_verifies_in_the_browser_and_catches_a_tampered_proof(env):
    g, people = env
    admin = people.browser("admin")
    open_as(admin, g, "admin", "#/ledger")
    # Pin the verifier key from outside the page (taogatectl over mTLS).
    out = g.ctl("admin", "gov", "checkpoint", check=True).stdout
    vkey = re.search(r"verifier key: (\S+)", out).group(1)
    admin.wait(lambda dr: dr.find_elements(By.ID, "pinned-key"))
    admin.driver.find_element(By.ID, "pinned-key").send_keys(vkey)
    click(admin, By.ID, "pin-key")
    click(admin, By.ID, "ledger-load")
    admin.wait(lambda dr: len(dr.find_elements(By.CSS_SELECTOR, "#ledger-records tr[data-seq]")) > 5)
    assert not admin.driver.find_elements(By.CSS_SELECTOR, "#ledger-records tr.mismatch")
    click(admin, By.CSS_SELECTOR, "#ledger-records tr[data-seq]", -1, "button.verify")
    admin.wait(lambda dr: "verified" in (dr.find_element(By.ID, "proof-result").get_attribute("class") or "").split())
    assert admin.driver.find_element(By.ID, "proof-result").text.startswith("Verified")
    assert "pinned" in admin.driver.find_element(By.ID, "checkpoint").text.lower()
    shot(admin, "ledger-verified")
    # Now the server (as far as the page can tell) lies about the proof.
    admin.driver.execute_script("""
      const real = window.fetch.bind(window);
      window.fetch = async (url, opts) => {
        const r = await real(url, opts);
        if (!String(url).includes('/ledger/proof')) return r;
        const j = await r.json();
        const h = atob(j.audit_path_b64[0]);
        j.audit_path_b64[0] = btoa(String.fromCharCode(h.charCodeAt(0) ^ 1) + h.slice(1));
        return new Response(JSON.stringify(j), {status: 200, headers: {'Content-Type': 'application/json'}});
      };
    """)
    click(admin, By.CSS_SELECTOR, "#ledger-records tr[data-seq]", -1, "button.verify")
    admin.wait(lambda dr: "failed" in (dr.find_element(By.ID, "proof-result").get_attribute("class") or "").split())
    assert admin.driver.find_element(By.ID, "proof-result").text.startswith("FAILED")
    shot(admin, "ledger-tampered")


def test_console_approvals_reverify_offline_from_the_ledger_alone(env):
    g, people = env
    d = g.request("db.read", reason="audited later")
    alice = people.browser("alice")
    open_as(alice, g, "alice", f"#/decision/{d['decision_id']}")
    alice.wait(lambda dr: dr.find_elements(By.ID, "approve"))
    click(alice, By.ID, "approve")
    wait_status(alice, "ok")
    # taogatectl reads the ledger directory (read-only, beside the running
    # governor): keys from APPROVER_ENROLLED, signatures over the recorded intent.
    r = g._run_ctl_raw("ledger", "approvals", "--dir", str(g.ledger_dir), "--origin", g.console_origin, check=False)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines and all(l["ok"] for l in lines), lines
    assert any(l["decision_id"] == d["decision_id"] and l["approver"] == g.identity("alice") for l in lines)
    # Approvals made for another origin (a phishing copy of the console) fail.
    r = g._run_ctl_raw("ledger", "approvals", "--dir", str(g.ledger_dir), "--origin", "https://evil.example",
                       check=False)
    assert r.returncode == 1 and '"ok":false' in r.stdout, r.stdout + r.stderr
