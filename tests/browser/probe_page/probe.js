'use strict';
// Parameters come from #params (JSON, binary values base64url); the result
// goes to #out as JSON {ok: true, ...} or {ok: false, error: "Name: message"}.
const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const params = () => JSON.parse(document.getElementById('params').value);
const show = (o) => { document.getElementById('out').textContent = JSON.stringify(o); };
const run = (f) => async () => {
  document.getElementById('out').textContent = 'busy';
  try { show(Object.assign({ok: true}, await f(params()))); } catch (e) { show({ok: false, error: e.name + ': ' + e.message}); }
};

document.getElementById('create').addEventListener('click', run(async (p) => {
  const c = await navigator.credentials.create({publicKey: {
    rp: {id: p.rp_id, name: 'taogate'},
    user: {id: unb64u(p.user_id), name: p.identity, displayName: p.identity},
    challenge: unb64u(p.challenge),
    pubKeyCredParams: [{type: 'public-key', alg: -7}],
    attestation: 'none',
    authenticatorSelection: {userVerification: 'preferred'},
    timeout: 20000}});
  return {credential_id: b64u(c.rawId), client_data_json: b64u(c.response.clientDataJSON),
          attestation_object: b64u(c.response.attestationObject),
          public_key_b64: btoa(String.fromCharCode(...new Uint8Array(c.response.getPublicKey()))),
          alg: c.response.getPublicKeyAlgorithm()};
}));

document.getElementById('get').addEventListener('click', run(async (p) => {
  const a = await navigator.credentials.get({publicKey: {
    challenge: unb64u(p.challenge), rpId: p.rp_id,
    allowCredentials: p.allow_credentials.map((id) => ({type: 'public-key', id: unb64u(id)})),
    userVerification: 'preferred', timeout: 20000}});
  return {credential_id: b64u(a.rawId), client_data_json: b64u(a.response.clientDataJSON),
          authenticator_data: b64u(a.response.authenticatorData), signature: b64u(a.response.signature)};
}));

document.getElementById('login').addEventListener('click', run(async () => {
  const r = await fetch('api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'});
  return {status: r.status, body: await r.json()};
}));

document.getElementById('whoami').addEventListener('click', run(async () => {
  const r = await fetch('api/whoami');
  return {status: r.status, body: await r.json()};
}));
