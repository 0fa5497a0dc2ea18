// taogate approvals console: the single page served by the governor under
// /console/ (docs/console-api.md). No framework, no build step. Every string
// that comes from the server or the ledger is inserted with textContent (via
// el() below), never as HTML: requesters write reasons, and the CSP forbids
// inline script anyway.
'use strict';

const API = '/console/api/';
const SS_NEXT = 'taogate.next';            // route to continue after login
const SS_CREDS = 'taogate.webauthn';       // {identity, rp_id, allow_credentials}
const LS_IDENTITY = 'taogate.identity';    // last identity typed (convenience)
const LS_PINNED = 'taogate.ledgerVerifierKey';

// ---------------------------------------------------------------- bytes

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function bytesToBinary(u8) {
  let s = '';
  for (let i = 0; i < u8.length; i++) s += String.fromCharCode(u8[i]);
  return s;
}

function b64Encode(bytes) { return btoa(bytesToBinary(new Uint8Array(bytes))); }

// Standard base64 with padding (names ending in _b64, note text).
function b64Decode(text) {
  const ok = typeof text === 'string' && text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
  if (!ok) throw new Error('malformed base64');
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// base64url without padding: every binary value of the JSON API.
function b64uEncode(bytes) {
  return b64Encode(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64uDecode(text) {
  if (typeof text !== 'string' || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('malformed base64url');
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return b64Decode(std + '='.repeat((4 - (std.length % 4)) % 4));
}

function hexEncode(bytes) { return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join(''); }

function hexDecode(text) {
  if (typeof text !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error('malformed hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => { out.set(p, off); return off + p.length; }, 0);
  return out;
}

function bytesEqual(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)); }

// ---------------------------------------------------------------- DOM

// el('td', {class: 'x'}, 'text', child): strings become text nodes, so
// server data can never become markup.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const $ = (sel) => document.querySelector(sel);

function str(v) { return v === undefined || v === null ? '' : String(v); }

function setStatus(message, kind) {
  const box = $('#status');
  box.className = message ? (kind === 'ok' ? 'ok' : 'error') : '';
  box.textContent = message || '';
}

// A message to show after the next route change (which clears the status).
let flashed = null;
function flash(message, kind) { flashed = { message, kind }; }

function describeError(e) {
  if (e && e.name === 'NotAllowedError') return 'the security key prompt was cancelled or timed out';
  if (e && e.name === 'InvalidStateError') return 'this authenticator is already registered';
  return (e && e.message) || String(e);
}

function showError(e, prefix) {
  if (e && e.sessionLost) return;  // sessionLost() already redirected and said why
  setStatus((prefix ? prefix + ': ' : '') + describeError(e), 'error');
}

function fmtMs(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return '';
  return new Date(n).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// "2025-12-06 17:03:20 UTC (in 9 min)": absolute for the record, relative to act on.
function fmtExpires(ms) {
  const abs = fmtMs(ms);
  if (!abs) return '';
  const mins = Math.round((Number(ms) - Date.now()) / 60000);
  const span = Math.abs(mins) < 120 ? `${Math.abs(mins)} min` : `${Math.round(Math.abs(mins) / 60)} h`;
  return `${abs} (${mins === 0 ? 'now' : mins > 0 ? 'in ' + span : span + ' ago'})`;
}

function fmtNs(ns) {  // ns: BigInt
  const d = new Date(Number(ns / 1000000n));
  return Number.isNaN(d.getTime()) ? ns.toString() : d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

function shortId(id) { const s = str(id); return s.length > 12 ? s.slice(0, 12) + '…' : s; }

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const state = { session: null };

async function api(method, path, body) {
  const headers = {};
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers };
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    if (state.session && state.session.csrf) headers['X-Taogate-CSRF'] = state.session.csrf;
    init.body = JSON.stringify(body || {});
  }
  const res = await fetch(API + path, init).catch((e) => {
    throw new ApiError(0, 'cannot reach the governor (' + describeError(e) + ')');
  });
  let data = null;
  try { data = JSON.parse(await res.text()); } catch (e) { data = null; }
  if (!res.ok) throw new ApiError(res.status, (data && typeof data.error === 'string' && data.error) || `HTTP ${res.status}`);
  if (data === null || typeof data !== 'object') throw new ApiError(res.status, 'the governor sent no JSON object');
  return data;
}

// For calls that need the session: a 401 means it ended (15 minutes), so go
// to login and come back here afterwards.
async function sapi(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    e.sessionLost = e instanceof ApiError && e.status === 401;
    if (e.sessionLost) sessionLost();
    throw e;
  }
}

function sessionLost() {
  state.session = null;
  renderHeader();
  if (routeNeedsSession(location.hash)) sessionStorage.setItem(SS_NEXT, location.hash);
  flash('Your session has ended: log in again.', 'error');
  location.replace('#/login');
}

function renderHeader() {
  const s = state.session;
  $('#account').hidden = !s;
  $('#nav').hidden = !s;
  $('#nav-killswitch').hidden = !(s && s.admin);
  const box = $('#session');
  box.replaceChildren();
  if (!s) return;
  box.append(el('span', { class: 'who', title: (s.roles || []).join(', ') }, str(s.identity)));
  if (s.admin) box.append(el('span', { class: 'badge admin' }, 'admin'));
}

// ---------------------------------------------------------------- WebAuthn

function requireWebAuthn() {
  if (!window.PublicKeyCredential || !navigator.credentials) throw new Error('this browser has no WebAuthn');
}

async function getAssertion(challenge, rpId, credentialIds, timeout) {
  requireWebAuthn();
  const cred = await navigator.credentials.get({ publicKey: {
    challenge, rpId: rpId || location.hostname, userVerification: 'preferred', timeout: timeout || 120000,
    allowCredentials: (credentialIds || []).map((id) => ({ type: 'public-key', id: b64uDecode(id) })),
  } });
  if (!cred) throw new Error('no credential was used');
  const r = cred.response;
  return { credential_id: b64uEncode(cred.rawId), client_data_json: b64uEncode(r.clientDataJSON),
    authenticator_data: b64uEncode(r.authenticatorData), signature: b64uEncode(r.signature) };
}

// Approvals must be signed with the session's own credentials. They were
// remembered at login; a tab that found an existing session asks
// login/begin again only to learn them.
async function sessionCredentials() {
  const identity = state.session.identity;
  try {
    const saved = JSON.parse(sessionStorage.getItem(SS_CREDS) || 'null');
    if (saved && saved.identity === identity && Array.isArray(saved.allow_credentials)) return saved;
  } catch (e) { /* fall through */ }
  const begin = await api('POST', 'login/begin', { identity });
  return rememberCredentials(identity, begin);
}

function rememberCredentials(identity, begin) {
  const ids = Array.isArray(begin.allow_credentials) ? begin.allow_credentials.map(String) : [];
  const creds = { identity, rp_id: str(begin.rp_id) || location.hostname, allow_credentials: ids };
  sessionStorage.setItem(SS_CREDS, JSON.stringify(creds));
  return creds;
}

// ---------------------------------------------------------------- router

const ROUTES = [
  { re: /^#\/login$/, view: viewLogin, open: true },
  { re: /^#\/enroll\/([^/]+)$/, view: viewEnroll, open: true },
  { re: /^#\/pending$/, view: viewPending, nav: 'nav-pending' },
  { re: /^#\/decision\/([^/]+)$/, view: viewDecision },
  { re: /^#\/link\/([^/]+)$/, view: viewLink },
  { re: /^#\/history$/, view: viewHistory, nav: 'nav-history' },
  { re: /^#\/killswitch$/, view: viewKillswitch, nav: 'nav-killswitch' },
  { re: /^#\/ledger$/, view: viewLedger, nav: 'nav-ledger' },
];

function matchRoute(hash) {
  for (const r of ROUTES) {
    const m = r.re.exec(hash || '');
    if (!m) continue;
    try {
      return { route: r, params: m.slice(1).map(decodeURIComponent) };
    } catch (e) {
      return null;  // a malformed %-escape
    }
  }
  return null;
}

function routeNeedsSession(hash) {
  const m = matchRoute(hash);
  return !!m && !m.route.open;
}

// Each navigation bumps routeGen; a view's async work checks ctx.live()
// before touching the DOM so a slow response cannot paint over a newer view.
let routeGen = 0;

function route() {
  const gen = ++routeGen;
  const hash = location.hash;
  const m = matchRoute(hash);
  if (!m) { location.replace(state.session ? '#/pending' : '#/login'); return; }
  if (!m.route.open && !state.session) {
    sessionStorage.setItem(SS_NEXT, hash);  // e.g. a #/link/TOKEN opened before login
    if (!flashed) flash('Log in to continue.', 'ok');
    location.replace('#/login');
    return;
  }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.id === m.route.nav);
  if (flashed) { setStatus(flashed.message, flashed.kind); flashed = null; } else setStatus('');
  const view = $('#view');
  view.replaceChildren();
  const ctx = { view, live: () => gen === routeGen };
  Promise.resolve()
    .then(() => m.route.view(ctx, ...m.params))
    .catch((e) => { if (ctx.live()) showError(e); });
}

function title(text, ...extra) {
  return el('div', { class: 'view-head' }, el('h1', {}, text), ...extra);
}

// ---------------------------------------------------------------- login

function viewLogin(ctx) {
  if (state.session) { location.replace(takeNext() || '#/pending'); return; }
  const input = el('input', {
    id: 'identity', type: 'text', autocomplete: 'username', spellcheck: 'false', required: true,
    placeholder: 'spiffe://example.org/human/alice', value: localStorage.getItem(LS_IDENTITY) || '',
  });
  const button = el('button', { id: 'login', type: 'submit', class: 'primary' }, 'Log in with security key');
  const form = el('form', { class: 'card login', novalidate: true },
    el('h1', {}, 'Log in'),
    el('p', { class: 'muted' }, 'Approvers and admins log in with the passkey or security key enrolled for their actor identity.'),
    el('label', { for: 'identity' }, 'Actor identity'), input, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const identity = input.value.trim();
    if (!identity) { setStatus('Type your actor identity (a URI such as spiffe://example.org/human/alice).', 'error'); return; }
    button.disabled = true;
    await login(identity).catch((e) => showError(e, 'Login failed'));
    button.disabled = false;
  });
  ctx.view.append(form);
  input.focus();
}

function takeNext() {
  const next = sessionStorage.getItem(SS_NEXT);
  sessionStorage.removeItem(SS_NEXT);
  return next && routeNeedsSession(next) ? next : null;
}

async function login(identity) {
  setStatus('Touch your security key…', 'ok');
  const begin = await api('POST', 'login/begin', { identity });
  const assertion = await getAssertion(b64uDecode(begin.challenge), begin.rp_id, begin.allow_credentials, begin.timeout_ms);
  const session = await api('POST', 'login/finish', { identity, ...assertion });
  state.session = session;
  rememberCredentials(str(session.identity) || identity, begin);
  localStorage.setItem(LS_IDENTITY, identity);
  renderHeader();
  flash(`Logged in as ${str(session.identity)}.`, 'ok');
  location.hash = takeNext() || '#/pending';
}

async function logout() {
  try { await api('POST', 'logout', {}); } catch (e) { /* the cookie expires anyway */ }
  state.session = null;
  sessionStorage.removeItem(SS_CREDS);
  sessionStorage.removeItem(SS_NEXT);
  renderHeader();
  flash('Logged out.', 'ok');
  location.hash = '#/login';
}

// ---------------------------------------------------------------- decisions

function isPending(d) { return d.outcome === 'PENDING_APPROVAL' || d.outcome === 'OUTCOME_PENDING_APPROVAL'; }

const OUTCOME_CLASS = { PENDING_APPROVAL: 'pending', PERMIT: 'good', DENY: 'bad', REJECTED: 'bad', EXPIRED: 'neutral' };

function outcomeBadge(outcome) {
  const o = str(outcome).replace(/^OUTCOME_/, '');
  return el('span', { class: 'badge ' + (OUTCOME_CLASS[o] || 'neutral') }, o || '?');
}

function reviewBadge(d) {
  if (!d.break_glass) return null;
  const cls = { accepted: 'good', violation: 'bad', review_required: 'pending' }[d.review] || 'pending';
  return el('span', { class: 'badge ' + cls }, 'break-glass: ' + (str(d.review) || 'review_required').replace(/_/g, ' '));
}

function approvalsText(d) { return `${str(d.approvals_given)} / ${str(d.approvals_needed)}`; }

function decisionLink(d) {
  return el('a', { href: '#/decision/' + encodeURIComponent(str(d.decision_id)), class: 'mono', title: str(d.decision_id) },
    shortId(d.decision_id));
}

// The columns both tables share; long URIs wrap, short values do not.
function decisionCells(d) {
  return [el('td', { class: 'mono wrap' }, str(d.requester)), el('td', { class: 'nowrap' }, str(d.action)),
    el('td', { class: 'mono wrap' }, str(d.target)), el('td', { class: 'nowrap' }, str(d.rule)),
    el('td', { class: 'nowrap' }, approvalsText(d))];
}

// Rows link to the decision: the id cell is a real link, the row is clickable.
function decisionRow(d, cells) {
  const tr = el('tr', { 'data-decision-id': str(d.decision_id), class: 'clickable' },
    el('td', { class: 'nowrap' }, decisionLink(d)), cells);
  tr.addEventListener('click', (ev) => {
    if (!ev.target.closest('a')) location.hash = '#/decision/' + encodeURIComponent(str(d.decision_id));
  });
  return tr;
}

function table(id, headings, rows) {
  return el('table', { id, class: 'grid' },
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows));
}

async function viewPending(ctx) {
  const refresh = el('button', { id: 'refresh', type: 'button', on: { click: route } }, 'Refresh');
  ctx.view.append(title('Pending approvals', refresh));
  const data = await sapi('GET', 'decisions');
  if (!ctx.live()) return;
  const list = Array.isArray(data.pending) ? data.pending : [];
  ctx.view.append(table('pending', ['Decision', 'Requester', 'Action', 'Target', 'Rule', 'Approvals', 'Expires'],
    list.map((d) => decisionRow(d, [...decisionCells(d), el('td', {}, fmtExpires(d.expires_at_ms))]))));
  if (!list.length) ctx.view.append(el('p', { class: 'empty' }, 'Nothing is waiting for approval.'));
}

async function viewHistory(ctx) {
  ctx.view.append(title('History'));
  const data = await sapi('GET', 'decisions');
  if (!ctx.live()) return;
  const list = Array.isArray(data.history) ? data.history : [];
  ctx.view.append(table('history', ['Decision', 'Outcome', 'Requester', 'Action', 'Target', 'Rule', 'Approvals', 'Expires'],
    list.map((d) => {
      const tr = decisionRow(d, [
        el('td', {}, el('div', { class: 'badges' }, outcomeBadge(d.outcome), reviewBadge(d))),
        ...decisionCells(d), el('td', {}, fmtMs(d.expires_at_ms))]);
      if (d.break_glass) tr.classList.add('break-glass');
      return tr;
    })));
  if (!list.length) ctx.view.append(el('p', { class: 'empty' }, 'No decisions yet.'));
}

async function viewDecision(ctx, id) {
  ctx.view.append(title('Decision'));
  const d = await sapi('GET', 'decision?id=' + encodeURIComponent(id));
  if (!ctx.live()) return;
  renderDecision(ctx, d);
}

function renderDecision(ctx, d) {
  const row = (label, id, value, cls) => [el('dt', {}, label), el('dd', { id, class: cls }, value)];
  const approvers = Array.isArray(d.approvers) ? d.approvers.map(String) : [];
  const approvals = approvalsText(d) + (approvers.length ? ' — ' + approvers.join(', ') : '');
  const box = el('div', { id: 'decision', class: 'card' },
    el('dl', { class: 'fields' },
      row('Decision', 'd-id', str(d.decision_id), 'mono'),
      [el('dt', {}, 'Outcome'), el('dd', { id: 'd-outcome' }, outcomeBadge(d.outcome), ' ', reviewBadge(d))],
      row('Requester', 'd-requester', str(d.requester), 'mono'),
      row('Workload', 'd-workload', str(d.workload), 'mono'),
      row('Node', 'd-node', str(d.node_id), 'mono'),
      row('Action', 'd-action', str(d.action)),
      row('Target', 'd-target', str(d.target), 'mono'),
      row('Rule', 'd-rule', str(d.rule)),
      row('Reason', 'd-reason', str(d.reason), 'reason'),
      row('Approver roles', 'd-roles', (Array.isArray(d.approver_roles) ? d.approver_roles : []).join(', ')),
      row('Approvals', 'd-approvals', approvals),
      row('Expires', 'd-expires', fmtExpires(d.expires_at_ms)),
      row('Intent SHA-256', 'd-intent', str(d.intent_sha256_hex), 'mono hash')));
  if (isPending(d)) {
    const approve = el('button', { id: 'approve', type: 'button', class: 'primary' }, 'Approve');
    const reject = el('button', { id: 'reject', type: 'button', class: 'danger' }, 'Reject');
    const act = (verdict) => async () => {
      approve.disabled = reject.disabled = true;
      try {
        const updated = await submitVerdict(d, verdict);
        if (!ctx.live()) return;
        ctx.view.querySelector('#decision').remove();
        renderDecision(ctx, updated);
        setStatus(`${verdict === 'approve' ? 'Approved' : 'Rejected'}: ${approvalsText(updated)} approvals, ` +
          `outcome ${str(updated.outcome)}.`, 'ok');
      } catch (e) {
        showError(e, verdict === 'approve' ? 'Approval failed' : 'Rejection failed');
        approve.disabled = reject.disabled = false;
      }
    };
    approve.addEventListener('click', act('approve'));
    reject.addEventListener('click', act('reject'));
    box.append(el('p', { class: 'muted' },
      'Your security key signs the intent hash above (approve) or a rejection bound to it (reject).'),
    el('div', { class: 'actions' }, approve, reject));
  }
  ctx.view.append(box);
}

// The assertion's challenge binds the signature to this decision's intent:
// approve signs the 32 intent bytes; reject signs
// SHA-256("taogate.reject.v1" || 0x00 || intent) so one can't pass for the other.
async function submitVerdict(d, verdict) {
  const intent = hexDecode(str(d.intent_sha256_hex));
  if (intent.length !== 32) throw new Error('the decision has no 32-byte intent hash');
  const challenge = verdict === 'approve' ? intent
    : await sha256(concatBytes(utf8.encode('taogate.reject.v1'), new Uint8Array([0]), intent));
  const creds = await sessionCredentials();
  setStatus('Touch your security key to sign…', 'ok');
  const assertion = await getAssertion(challenge, creds.rp_id, creds.allow_credentials, 120000);
  try {
    return await api('POST', 'decision/approve', { decision_id: str(d.decision_id), verdict, ...assertion });
  } catch (e) {
    // 401 here usually means the assertion was refused, not that the session
    // ended; ask the server which.
    if (e instanceof ApiError && e.status === 401) await checkSession();
    throw e;
  }
}

async function checkSession() {
  try { state.session = await api('GET', 'session'); } catch (e) { if (e.status === 401) sessionLost(); }
}

async function viewLink(ctx, token) {
  ctx.view.append(title('Opening link…'));
  let res;
  try {
    res = await sapi('POST', 'link', { token });
  } catch (e) {
    if (e.sessionLost || !ctx.live()) return;  // after login the link is tried again
    ctx.view.replaceChildren(title('One-time link'),
      el('p', {}, 'This link cannot be opened. Links are single use and expire; the decision may still be listed in ',
        el('a', { href: '#/pending' }, 'Pending'), '.'));
    showError(e, 'Link refused');
    return;
  }
  if (!ctx.live()) return;
  // replace(), so the spent token does not stay in the tab's history.
  location.replace('#/decision/' + encodeURIComponent(str(res.decision_id)));
}

// ---------------------------------------------------------------- enrollment

async function viewEnroll(ctx, token) {
  ctx.view.append(title('Enroll a security key'));
  const begin = await api('POST', 'enroll/begin', { token });
  if (!ctx.live()) return;
  const button = el('button', { id: 'enroll', type: 'button', class: 'primary' }, 'Register security key');
  const result = el('div', { id: 'enroll-result' });
  ctx.view.append(el('div', { class: 'card' },
    el('dl', { class: 'fields' },
      el('dt', {}, 'Identity'), el('dd', { id: 'enroll-identity', class: 'mono' }, str(begin.identity))),
    el('p', { class: 'muted' }, 'Registering creates a credential on your passkey or security key for this identity. ' +
      'It takes effect once an admin adds the snippet below to the policy bundle.'),
    el('div', { class: 'actions' }, button), result));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      requireWebAuthn();
      setStatus('Touch your security key…', 'ok');
      const cred = await navigator.credentials.create({ publicKey: {
        rp: { id: str(begin.rp_id) || location.hostname, name: str(begin.rp_name) || 'taogate' },
        user: { id: b64uDecode(begin.user_id), name: str(begin.identity), displayName: str(begin.identity) },
        challenge: b64uDecode(begin.challenge), pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
        attestation: 'none', authenticatorSelection: { userVerification: 'preferred' }, timeout: begin.timeout_ms || 120000,
      } });
      if (!cred) throw new Error('no credential was created');
      const fin = await api('POST', 'enroll/finish', { token, credential_id: b64uEncode(cred.rawId),
        client_data_json: b64uEncode(cred.response.clientDataJSON),
        attestation_object: b64uEncode(cred.response.attestationObject) });
      button.hidden = true;
      result.replaceChildren(
        el('dl', { class: 'fields' },
          el('dt', {}, 'Credential id'),
          el('dd', {}, el('span', { id: 'enroll-credential-id', class: 'mono hash' }, str(fin.credential_id))),
          el('dt', {}, 'Public key (SPKI)'), el('dd', { class: 'mono hash' }, str(fin.public_key_b64))),
        el('h2', {}, 'Policy bundle snippet'),
        el('p', { class: 'muted' }, 'Give this to an admin to add under the actor in the policy bundle.'),
        el('pre', { id: 'bundle-snippet' }, str(fin.bundle_snippet)));
      setStatus(`Security key registered for ${str(fin.identity)}.`, 'ok');
    } catch (e) {
      showError(e, 'Enrollment failed');
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- kill switch

async function viewKillswitch(ctx) {
  ctx.view.append(title('Kill switch'));
  if (!state.session.admin) { ctx.view.append(el('p', { class: 'empty' }, 'Only admins can use the kill switch.')); return; }
  const ks = await sapi('GET', 'killswitch');
  if (!ctx.live()) return;
  const engaged = ks.engaged === true;
  const field = (label, id, placeholder) => el('div', { class: 'field' },
    el('label', { for: id }, label), el('input', { id, type: 'text', placeholder, spellcheck: 'false' }));
  const engage = el('button', { id: 'ks-engage', type: 'button', class: 'danger' }, 'Engage');
  const release = el('button', { id: 'ks-release', type: 'button', class: 'primary' }, 'Release');
  ctx.view.append(
    el('div', { class: 'card' },
      el('p', { class: 'ks-line' }, 'State: ',
        el('span', { id: 'ks-state', class: 'badge ' + (engaged ? 'bad' : 'good') }, engaged ? 'engaged' : 'released')),
      el('div', { class: 'form-grid' },
        field('Node (empty = all nodes)', 'ks-node', 'node-a'),
        field('Workload (empty = all workloads)', 'ks-workload', '/kubepods/…'),
        field('Reason', 'ks-reason', 'why, for the ledger and the notification'),
        field('Type ENGAGE or RELEASE to confirm', 'ks-confirm', '')),
      el('div', { class: 'actions' }, engage, release)),
    el('h2', {}, 'History'));
  const history = Array.isArray(ks.history) ? ks.history : [];
  ctx.view.append(table('ks-history', ['Sequence', 'Verdict', 'Node', 'Workload', 'Reason'],
    history.map((h) => el('tr', {},
      el('td', {}, str(h.sequence)),
      el('td', {}, el('span', { class: 'badge ' + (h.engage ? 'bad' : 'good') }, h.engage ? 'engage' : 'release')),
      el('td', { class: 'mono' }, str(h.node_id) || 'all'),
      el('td', { class: 'mono' }, str(h.workload) || 'all'),
      el('td', { class: 'reason' }, str(h.reason))))));
  if (!history.length) ctx.view.append(el('p', { class: 'empty' }, 'The kill switch has never been used.'));

  const act = (on) => async () => {
    const verb = on ? 'ENGAGE' : 'RELEASE';
    const confirm = $('#ks-confirm').value.trim();
    // A deliberate act: the person types the verdict (the server checks it too).
    if (confirm !== verb) { setStatus(`Type ${verb} in the confirmation box first.`, 'error'); return; }
    engage.disabled = release.disabled = true;
    try {
      const res = await sapi('POST', 'killswitch', { engage: on, node_id: $('#ks-node').value.trim(),
        workload: $('#ks-workload').value.trim(), reason: $('#ks-reason').value.trim(), confirm });
      const what = on ? 'engaged' : 'released';
      flash(`Kill switch ${what} (sequence ${str(res.sequence)}, ledger record ${str(res.ledger_seq)}).`, 'ok');
      route();
    } catch (e) {
      showError(e, `Kill switch ${verb.toLowerCase()} failed`);
      engage.disabled = release.disabled = false;
    }
  };
  engage.addEventListener('click', act(true));
  release.addEventListener('click', act(false));
}

// ---------------------------------------------------------------- ledger: decoding

// RecordKind (ledger/include/taogate/ledger/record.h), index = kind value.
const KIND_NAMES = ['', 'ISSUED', 'DENIED', 'APPROVAL', 'CONSUMED', 'EXERCISED', 'REJECTED', 'KILLSWITCH',
  'POLICY_ACTIVATED', 'BREAK_GLASS', 'KEY_ROTATED', 'CHECKPOINT', 'APPROVAL_REQUESTED', 'EXPIRED', 'STARTED',
  'LOSS_ACCEPTED', 'WORKLOAD', 'HOLD', 'WOULD_DENY', 'RELOADED', 'APPROVER_ENROLLED'];

function kindName(k) { return k >= 1 && k < KIND_NAMES.length ? KIND_NAMES[k] : `UNKNOWN(${k})`; }

// Payload v1 (ledger_format.h), little-endian, decoded as strictly as the
// ledger's own DecodePayload: the page shows what it decoded, not what the
// server says the record contains.
function decodePayload(p) {
  if (p.length < 52) throw new Error('payload shorter than its 52-byte header');
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p[0] !== 1) throw new Error(`payload version ${p[0]}, want 1`);
  const seq = dv.getBigUint64(1, true);
  const timeNs = dv.getBigInt64(9, true);
  const kind = dv.getUint16(17, true);
  const prevHash = p.slice(19, 51);
  const count = p[51];
  if (count > 32) throw new Error(`${count} fields, at most 32`);
  const fields = [];
  const seen = new Set();
  let off = 52;
  for (let i = 0; i < count; i++) {
    if (off + 1 > p.length) throw new Error(`field ${i} truncated`);
    const nameLen = p[off++];
    if (nameLen < 1 || nameLen > 32 || off + nameLen > p.length) throw new Error(`field ${i}: bad name length`);
    const name = bytesToBinary(p.subarray(off, off + nameLen));
    off += nameLen;
    if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`field ${i}: name is not [a-z0-9_]`);
    if (seen.has(name)) throw new Error(`field '${name}' appears twice`);
    seen.add(name);
    if (off + 2 > p.length) throw new Error(`field '${name}' truncated`);
    const valueLen = dv.getUint16(off, true);
    off += 2;
    if (valueLen > 1024 || off + valueLen > p.length) throw new Error(`field '${name}': bad value length`);
    let value;
    try { value = utf8Strict.decode(p.subarray(off, off + valueLen)); } catch (e) { throw new Error(`field '${name}' is not UTF-8`); }
    off += valueLen;
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`field '${name}' has a control character`);
    fields.push([name, value]);
  }
  if (off !== p.length) throw new Error(`${p.length - off} bytes after the last field`);
  return { seq, timeNs, kind, prevHash, fields };
}

// JSON numbers above 2^53 arrive rounded; compare the way JSON.parse rounds.
function sameInt(serverValue, big) {
  if (typeof serverValue === 'number') {
    return Number.isSafeInteger(serverValue) ? BigInt(serverValue) === big : serverValue === Number(big);
  }
  try { return BigInt(String(serverValue)) === big; } catch (e) { return false; }
}

// Differences between the server's summary of a record and the payload.
function serverDisagreements(r, rec) {
  const out = [];
  if (!sameInt(r.seq, rec.seq)) out.push(`seq: server ${str(r.seq)}, payload ${rec.seq}`);
  if (r.time_ns !== undefined && !sameInt(r.time_ns, rec.timeNs)) out.push(`time: server ${str(r.time_ns)}, payload ${rec.timeNs}`);
  const kindOk = typeof r.kind === 'number' ? r.kind === rec.kind : str(r.kind) === kindName(rec.kind);
  if (!kindOk) out.push(`kind: server ${str(r.kind)}, payload ${kindName(rec.kind)}`);
  const sf = Array.isArray(r.fields) ? r.fields : [];
  if (sf.length !== rec.fields.length) out.push(`fields: server has ${sf.length}, payload ${rec.fields.length}`);
  rec.fields.forEach(([n, v], i) => {
    const s = Array.isArray(sf[i]) ? sf[i] : [];
    if (str(s[0]) !== n || str(s[1]) !== v) out.push(`field ${i} (${n}) differs`);
  });
  return out;
}

// ---------------------------------------------------------------- ledger: proofs

class StepError extends Error {
  constructor(step, message) { super(message); this.step = step; }
}

// C2SP signed note: body = text through the "\n" before the last blank line.
function parseNote(text) {
  if (typeof text !== 'string') throw new Error('no note text');
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new Error('no signature block');
  const body = text.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 4) throw new Error(`body has ${lines.length} lines, want 4`);
  const [origin, sizeText, rootText, timeLine] = lines;
  if (!origin) throw new Error('empty origin line');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) throw new Error('bad tree size line');
  const root = b64Decode(rootText);
  if (root.length !== 32) throw new Error('root hash is not 32 bytes');
  const tm = /^time (0|-?[1-9][0-9]*)$/.exec(timeLine);
  if (!tm) throw new Error('bad time line');
  const sigText = text.slice(split + 2);
  if (!sigText.endsWith('\n')) throw new Error('unterminated signature line');
  const signatures = sigText.slice(0, -1).split('\n').map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('malformed signature line');
    const raw = b64Decode(m[2]);
    if (raw.length < 5) throw new Error('signature too short');
    return { name: m[1], keyHash: raw.slice(0, 4), sig: raw.slice(4) };
  });
  return { body, origin, treeSize: Number(sizeText), root, rootText, timeNs: BigInt(tm[1]), signatures };
}

async function keyHash(name, key) {
  return (await sha256(concatBytes(utf8.encode(name), new Uint8Array([0x0a, 0x01]), key))).slice(0, 4);
}

// "<name>+<8 hex key hash>+<base64(0x01 || 32-byte Ed25519 key)>"; the hash
// must match name and key, as the ledger's ParseNoteVerifier requires.
async function parseVerifierKey(text) {
  const t = str(text).trim();
  const p1 = t.indexOf('+');
  const p2 = p1 < 0 ? -1 : t.indexOf('+', p1 + 1);
  if (p2 < 0) throw new Error('want <name>+<hash>+<base64 key>');
  const name = t.slice(0, p1);
  const hashHex = t.slice(p1 + 1, p2);
  if (!/^[^\u0000-\u0020\u007f+]+$/.test(name)) throw new Error('bad key name');
  if (!/^[0-9a-fA-F]{8}$/.test(hashHex)) throw new Error('key hash is not 8 hex digits');
  const typed = b64Decode(t.slice(p2 + 1));
  if (typed.length !== 33 || typed[0] !== 0x01) throw new Error('not an Ed25519 key (0x01 || 32 bytes)');
  const key = typed.slice(1);
  const hash = hexDecode(hashHex);
  if (!bytesEqual(hash, await keyHash(name, key))) throw new Error('key hash does not match name and key');
  return { name, keyHash: hash, key, text: t };
}

async function verifyNoteSignature(note, vkey) {
  const byName = note.signatures.filter((s) => s.name === vkey.name);
  const signers = note.signatures.map((s) => s.name).join(', ');
  if (!byName.length) throw new Error(`no signature by key '${vkey.name}' (signed by: ${signers})`);
  const candidates = byName.filter((s) => bytesEqual(s.keyHash, vkey.keyHash));
  if (!candidates.length) throw new Error(`signature key hash does not match the key of '${vkey.name}'`);
  const key = await crypto.subtle.importKey('raw', vkey.key, { name: 'Ed25519' }, false, ['verify']).catch((e) => {
    throw new Error('this browser cannot verify Ed25519 with WebCrypto (' + describeError(e) + ')');
  });
  const body = utf8.encode(note.body);
  for (const s of candidates) {
    if (s.sig.length === 64 && await crypto.subtle.verify('Ed25519', key, s.sig, body)) return;
  }
  throw new Error(`bad signature by '${vkey.name}'`);
}

async function nodeHash(left, right) {
  return sha256(concatBytes(new Uint8Array([0x01]), left, right));
}

// RFC 9162 section 2.1.3.2. Plain arithmetic (not bit operators) so indices
// above 2^31 stay exact.
async function rootFromInclusionProof(leafIndex, treeSize, leafHash, path) {
  if (leafIndex >= treeSize) throw new Error('leaf index is not below the tree size');
  let [fn, sn, r] = [leafIndex, treeSize - 1, leafHash];
  for (const p of path) {
    if (sn === 0) throw new Error('the proof is longer than the tree allows');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else r = await nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the proof is shorter than the tree needs');
  return r;
}

// The key to trust: the auditor's pinned key if any. The server's own key
// proves nothing against a lying server, so say so whenever it is used.
async function checkpointKey(serverKey) {
  const pinned = localStorage.getItem(LS_PINNED);
  return { pinned: !!pinned, vkey: await parseVerifierKey(pinned || serverKey) };
}

// `cover`: a record the checkpoint must include (the server signs a new one
// if the latest is older), so any record can be proved at once.
async function fetchCheckpoint(cover) {
  const resp = await sapi('GET', cover === undefined ? 'ledger/checkpoint' : `ledger/checkpoint?cover=${cover}`);
  let note, chosen;
  try { note = parseNote(resp.note); } catch (e) { throw new StepError('checkpoint note', e.message); }
  try { chosen = await checkpointKey(resp.verifier_key); } catch (e) { throw new StepError('verifier key', e.message); }
  let sigError = null;
  try { await verifyNoteSignature(note, chosen.vkey); } catch (e) { sigError = e.message; }
  renderCheckpoint(note, chosen, sigError);
  if (sigError) throw new StepError('checkpoint signature', sigError);
  return { note, pinned: chosen.pinned, keyName: chosen.vkey.name };
}

function renderCheckpoint(note, chosen, sigError) {
  const box = $('#checkpoint');
  if (!box) return;  // the person left the ledger view
  const row = (k, v, cls) => [el('dt', {}, k), el('dd', { class: cls }, v)];
  box.replaceChildren(
    el('h2', {}, 'Latest checkpoint'),
    el('dl', { class: 'fields' },
      row('Origin', note.origin, 'mono'),
      row('Tree size', String(note.treeSize)),
      row('Root', note.rootText, 'mono hash'),
      row('Time', fmtNs(note.timeNs)),
      row('Key name', chosen.vkey.name, 'mono'),
      row('Key', chosen.pinned ? 'pinned by you' : 'from the server (not pinned)', chosen.pinned ? 'good-text' : 'warn-text'),
      row('Signature', sigError ? 'FAILED: ' + sigError : 'valid', sigError ? 'bad-text' : 'good-text')),
    el('p', { class: 'warning', hidden: chosen.pinned },
      'Warning: this key came from the server being checked. Pin the auditor\'s key ' +
      '(taogatectl ledger output or the trust bundle) for a meaningful check.'));
}

function setProof(cls, text) {
  const box = $('#proof-result');
  if (box) { box.className = cls; box.textContent = text; }
}

let proofGen = 0;

async function verifyRecord(rec, row) {
  const gen = ++proofGen;
  const live = () => gen === proofGen && document.body.contains(row);
  const seq = rec.decoded ? Number(rec.decoded.seq) : Number(rec.seq);
  setProof('busy', `Verifying record ${seq}…`);
  let step = 'checkpoint';
  try {
    const cp = await fetchCheckpoint(seq);
    if (!live()) return;
    if (seq >= cp.note.treeSize) {
      setProof('pending', `Not provable yet: record ${seq} comes after the latest checkpoint (tree size ${cp.note.treeSize}). ` +
        'Try again after the next checkpoint.');
      return;
    }
    step = 'inclusion proof fetch';
    const pr = await sapi('GET', `ledger/proof?seq=${seq}&size=${cp.note.treeSize}`);
    if (!live()) return;
    const sameProof = sameInt(pr.tree_size, BigInt(cp.note.treeSize)) && sameInt(pr.seq, BigInt(seq));
    if (!sameProof) throw new Error('the proof is for another record or tree size');
    step = 'inclusion proof decode';
    if (!Array.isArray(pr.audit_path_b64)) throw new Error('no audit path');
    const path = pr.audit_path_b64.map(b64Decode);
    if (path.some((h) => h.length !== 32)) throw new Error('an audit path hash is not 32 bytes');
    step = 'leaf hash';
    const leaf = await sha256(concatBytes(new Uint8Array([0x00]), rec.payload));
    step = 'inclusion proof';
    const root = await rootFromInclusionProof(seq, cp.note.treeSize, leaf, path);
    if (!bytesEqual(root, cp.note.root)) throw new Error('the proof leads to a different root than the signed checkpoint');
    if (!live()) return;
    row.classList.add('proved');
    setProof('verified', `Verified: record ${seq} (${rec.decoded ? kindName(rec.decoded.kind) : 'undecoded'}) is in the ` +
      `ledger of size ${cp.note.treeSize} whose root is signed by '${cp.keyName}'` +
      (cp.pinned ? ' (your pinned key).' : '. Warning: with the key the server itself sent, not a pinned key.'));
  } catch (e) {
    if (!live() || e.sessionLost) return;
    setProof('failed', `FAILED: ${e instanceof StepError ? e.step : step}: ${describeError(e)}`);
  }
}

// ---------------------------------------------------------------- ledger: view

async function viewLedger(ctx) {
  const from = el('input', { id: 'ledger-from', type: 'number', min: '0', step: '1', value: '0' });
  const load = el('button', { id: 'ledger-load', type: 'button', class: 'primary' }, 'Load');
  const pinnedInput = el('input', { id: 'pinned-key', type: 'text', spellcheck: 'false',
    placeholder: 'name+1a2b3c4d+AeWk…', value: localStorage.getItem(LS_PINNED) || '' });
  const pin = el('button', { id: 'pin-key', type: 'button' }, 'Pin key');
  const pinState = el('span', { id: 'pinned-state' });
  const info = el('p', { id: 'ledger-info', class: 'muted' });
  const records = el('div', { id: 'ledger-table' });

  const showPin = () => {
    const p = localStorage.getItem(LS_PINNED);
    pinState.className = p ? 'good-text' : 'warn-text';
    pinState.textContent = p ? `Pinned: ${p.split('+')[0]}` : 'No key pinned: checks use the server\'s own key.';
  };
  pin.addEventListener('click', async () => {
    const text = pinnedInput.value.trim();
    try {
      if (!text) { localStorage.removeItem(LS_PINNED); setStatus('Pinned key removed.', 'ok'); } else {
        const v = await parseVerifierKey(text);
        localStorage.setItem(LS_PINNED, v.text);
        setStatus(`Pinned checkpoint key '${v.name}'.`, 'ok');
      }
    } catch (e) { showError(e, 'Cannot pin this key'); }
    showPin();
  });

  const doLoad = async (start) => {
    const seq = Math.max(0, Math.floor(Number(start)) || 0);
    from.value = String(seq);
    load.disabled = true;
    try {
      const data = await sapi('GET', `ledger/records?from=${seq}&count=50`);
      if (!ctx.live()) return;
      const recs = Array.isArray(data.records) ? data.records : [];
      info.textContent = `Ledger size ${str(data.size)} records; showing ${recs.length} from ${seq}.`;
      records.replaceChildren(await ledgerTable(recs));
    } catch (e) { showError(e, 'Loading records failed'); } finally { load.disabled = false; }
  };
  load.addEventListener('click', () => doLoad(from.value));
  from.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') doLoad(from.value); });

  ctx.view.append(
    title('Ledger explorer'),
    el('p', { class: 'muted' }, 'Records are decoded and verified in this browser: the leaf hash, the RFC 9162 inclusion ' +
      'proof and the checkpoint\'s Ed25519 signature are checked with WebCrypto, not taken from the server.'),
    el('div', { class: 'card' },
      el('div', { class: 'toolbar' }, el('label', { for: 'ledger-from' }, 'From seq'), from, load),
      el('div', { class: 'toolbar' }, el('label', { for: 'pinned-key' }, 'Checkpoint key'), pinnedInput, pin),
      pinState),
    el('div', { class: 'split' }, el('div', { id: 'checkpoint', class: 'card' }), el('div', { id: 'proof-result' })),
    info, records);
  showPin();
  fetchCheckpoint().catch((e) => {
    if (!ctx.live() || e.sessionLost) return;
    if ((!(e instanceof StepError) || e.step !== 'checkpoint signature') && $('#checkpoint')) {
      $('#checkpoint').replaceChildren(el('h2', {}, 'Latest checkpoint'),
        el('p', { class: 'bad-text' }, 'FAILED: ' + describeError(e)));
    }
  });
  await doLoad(0);
}

async function ledgerTable(recs) {
  const rows = [];
  let prevLeaf = null;
  let prevSeq = null;
  for (const r of recs) {
    const rec = { seq: r.seq, payload: null, decoded: null };
    const problems = [];
    try { rec.payload = b64Decode(str(r.payload_b64)); } catch (e) { problems.push('payload_b64: ' + e.message); }
    if (rec.payload) {
      try { rec.decoded = decodePayload(rec.payload); } catch (e) { problems.push('undecodable payload: ' + e.message); }
    }
    let leaf = null;
    if (rec.decoded) {
      problems.push(...serverDisagreements(r, rec.decoded));
      // A kind this page does not know is shown as UNKNOWN(n) and flagged, not hidden.
      if (rec.decoded.kind < 1 || rec.decoded.kind >= KIND_NAMES.length) problems.push(`unknown record kind ${rec.decoded.kind}`);
      leaf = await sha256(concatBytes(new Uint8Array([0x00]), rec.payload));
      // Hash chain inside the page: prev_hash must be the previous leaf hash.
      if (prevLeaf && prevSeq + 1n === rec.decoded.seq && !bytesEqual(prevLeaf, rec.decoded.prevHash)) {
        problems.push('prev_hash is not the previous record\'s leaf hash');
      }
    }
    prevLeaf = leaf;
    prevSeq = rec.decoded ? rec.decoded.seq : null;
    rows.push(ledgerRow(r, rec, problems));
  }
  return table('ledger-records', ['Seq', 'Kind', 'Time', 'Fields (decoded from the payload)', ''], rows);
}

function ledgerRow(r, rec, problems) {
  const d = rec.decoded;
  const fields = el('td', { class: 'fields-cell' });
  const bad = problems.length > 0;
  if (bad) fields.append(el('div', { class: 'badge bad mismatch-note' }, (d ? 'Mismatch: ' : '') + problems.join('; ')));
  for (const [n, v] of d ? d.fields : []) {
    fields.append(el('div', { class: 'kv' }, el('span', { class: 'k' }, n), el('span', { class: 'v' }, v)));
  }
  const verify = el('button', { type: 'button', class: 'verify' }, 'Verify');
  const seq = d ? d.seq.toString() : str(r.seq);
  const tr = el('tr', { 'data-seq': seq, 'data-mismatch': bad ? 'true' : null, class: bad ? 'mismatch' : null },
    el('td', { class: 'mono' }, seq),
    el('td', {}, d ? kindName(d.kind) : '?'),
    el('td', { class: 'nowrap' }, d ? fmtNs(d.timeNs) : ''),
    fields,
    el('td', {}, verify));
  verify.disabled = !rec.payload;
  verify.addEventListener('click', () => verifyRecord(rec, tr));
  return tr;
}

// ---------------------------------------------------------------- startup

async function start() {
  $('#logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  state.session = await api('GET', 'session').catch((e) => {
    if (e.status !== 401) flash(describeError(e), 'error');
    return null;
  });
  renderHeader();
  route();
}

start();
