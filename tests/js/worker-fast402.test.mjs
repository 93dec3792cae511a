// The Worker's fast 402 (crates/worker/js/shim.mjs asks `unpaidChallenge`, crates/worker/src/lib.rs,
// before the full `fetch`): wherever it answers, its answer must be the full handler's answer to the
// same request, byte for byte, and it must decline every request the full handler judges otherwise
// (payments, passes, other methods, the Worker's own endpoints, unpriced paths, large headers, a bad
// configuration). The built module (build/worker) is loaded in Node, as bench/worker-verify.mjs
// does, and both paths are called on the same requests: no workerd needed, since an unpaid request
// reaches no Durable Object and no chain.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpaidArgs, unpaidResponse } from '../../crates/worker/js/unpaid.mjs';
import { ROLES } from './lib/chain.mjs';
import { TEST_PASS_SECRET, buildWorker, defaultConfig, makePass } from './lib/worker.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ORIGIN = 'https://paper.example';
const BROWSER = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36',
};

let rust;
let env;

before(async () => {
  buildWorker();
  rust = await import(path.join(ROOT, 'build', 'worker', 'x402_worker.js'));
  rust.initSync({ module: readFileSync(path.join(ROOT, 'build', 'worker', 'x402_worker_bg.wasm')) });
  const config = defaultConfig('http://127.0.0.1:1', { discovery: true, facilitatorEndpoints: true });
  config.routes.push({ pattern: 'GET /docs/*', price: '$0.02', description: 'Docs', mimeType: 'text/html' });
  env = { X402: config, X402_PASS_SECRET: TEST_PASS_SECRET, X402_FACILITATOR_TOKEN: 'facilitator-token-0123456789', X402_RELAYER_KEY: ROLES.relayer.privateKey };
});

/** The shim's fast answer (as crates/worker/js/shim.mjs asks for it), or undefined. */
function fast(request, e = env) {
  const parts = unpaidParts(request, e);
  return parts && unpaidResponse(parts);
}

function unpaidParts(request, e) {
  const args = unpaidArgs(request);
  return args && rust.unpaidChallenge(e, ...args);
}

const full = (request, e = env) => rust.fetch(request, e, { waitUntil() {}, passThroughOnException() {} });

async function snapshot(res) {
  return { status: res.status, headers: [...res.headers].sort(), body: await res.text() };
}

const req = (p, { method = 'GET', headers = {} } = {}) => new Request(ORIGIN + p, { method, headers });

describe('the fast 402 answers as the full handler does', () => {
  const answered = [
    ['a JSON client', '/paid/one.html', {}],
    ['a browser (the HTML paywall page)', '/paid/two.html', { headers: BROWSER }],
    ['HEAD', '/paid/one.html', { method: 'HEAD' }],
    ['a catch-all route', '/paid/deep/er/page.html', {}],
    ['a background route with a query', '/api/quote.json?pair=BTC', {}],
    ['a directory path (its index.html)', '/docs/', {}],
    ['an encoded spelling of a priced path', '/paid/%6fne.html', {}],
    ['dot segments', '/paid/x/../one.html', {}],
    ['cookies that hold no pass', '/paid/one.html', { headers: { cookie: 'theme=dark; session=abc' } }],
  ];
  for (const [what, p, opts] of answered) {
    test(what, async () => {
      const quick = fast(req(p, opts));
      assert.ok(quick, 'the fast path answers');
      const a = await snapshot(quick);
      const b = await snapshot(await full(req(p, opts)));
      assert.equal(a.status, 402);
      assert.deepEqual(a, b);
    });
  }

  test('kept per resource: asked again, the same answer; another path, its own resource URL', async () => {
    const first = await snapshot(fast(req('/paid/deep/a.html')));
    const again = await snapshot(fast(req('/paid/deep/a.html')));
    const other = await snapshot(fast(req('/paid/deep/b.html')));
    assert.deepEqual(again, first);
    const resource = (s) => JSON.parse(Buffer.from(Object.fromEntries(s.headers)['payment-required'], 'base64')).resource.url;
    assert.equal(resource(first), `${ORIGIN}/paid/deep/a.html`);
    assert.equal(resource(other), `${ORIGIN}/paid/deep/b.html`);
    // More resources than it keeps: every answer still its own.
    for (let i = 0; i < 600; i++) assert.equal(fast(req(`/paid/many/${i}.html`)).status, 402);
    assert.deepEqual(await snapshot(fast(req('/paid/deep/a.html'))), first);
    assert.equal(resource(await snapshot(fast(req('/paid/many/7.html')))), `${ORIGIN}/paid/many/7.html`);
  });

  test('a new configuration: answers from it, not from what was kept', async () => {
    const before = await snapshot(fast(req('/paid/one.html')));
    const cheaper = structuredClone(env.X402);
    cheaper.routes.find((r) => r.pattern === 'GET /paid/one.html').price = '$0.03';
    const e2 = { ...env, X402: cheaper };
    const after = await snapshot(fast(req('/paid/one.html'), e2));
    assert.notDeepEqual(after, before);
    assert.deepEqual(after, await snapshot(await full(req('/paid/one.html'), e2)));
    assert.deepEqual(await snapshot(fast(req('/paid/one.html'))), before, 'and back');
  });

  test('a route offering Sign-In-With-X: a fresh challenge each time, the rest as the full handler', async () => {
    const e2 = { ...env, X402: { ...env.X402, publicOrigin: ORIGIN } };
    const strip = (pr) => {
      const info = pr.extensions['sign-in-with-x'].info;
      assert.match(info.nonce, /^[0-9a-f]{32}$/);
      for (const k of ['nonce', 'issuedAt', 'expirationTime']) delete info[k];
      return pr;
    };
    const decode = (s) => JSON.parse(Buffer.from(Object.fromEntries(s.headers)['payment-required'], 'base64'));
    const a = await snapshot(fast(req('/paid/one.html'), e2));
    const b = await snapshot(fast(req('/paid/one.html'), e2));
    const c = await snapshot(await full(req('/paid/one.html'), e2));
    assert.notEqual(decode(a).extensions['sign-in-with-x'].info.nonce, decode(b).extensions['sign-in-with-x'].info.nonce);
    assert.deepEqual(strip(decode(a)), strip(decode(c)));
    assert.deepEqual(strip(JSON.parse(a.body)), strip(JSON.parse(c.body)));
    const other = (s) => s.headers.filter(([k]) => k !== 'payment-required');
    assert.deepEqual(other(a), other(c));
    // A request carrying a sign-in is the full handler's to judge.
    assert.equal(fast(req('/paid/one.html', { headers: { 'sign-in-with-x': 'e30=' } }), e2), undefined);
  });

  test('the same 402 a request gets when its headers are too large for the fast path to be sure', async () => {
    // 12,000 characters: over half of maxHeaderBytes (32 KiB) counted as UTF-16 units × 2, so the
    // fast path declines; within it as UTF-8 bytes, so the full handler answers the 402.
    const big = req('/paid/one.html', { headers: { 'x-filler': 'a'.repeat(17_000) } });
    assert.equal(fast(big), undefined);
    const small = await snapshot(fast(req('/paid/one.html')));
    const b = await snapshot(await full(big));
    assert.deepEqual(b, small, 'the full handler answers the same 402');
  });
});

describe('the fast 402 declines what the full handler judges otherwise', () => {
  const pass = () => makePass({ secret: TEST_PASS_SECRET, path: '/paid/one.html', payer: ROLES.payers[0].address, transaction: `0x${'ab'.repeat(32)}`, expires: Math.floor(Date.now() / 1000) + 3600 });
  const declined = [
    ['a payment (PAYMENT-SIGNATURE)', () => req('/paid/one.html', { headers: { 'payment-signature': 'e30=' } }), 402],
    ['a v1 payment (X-PAYMENT)', () => req('/paid/one.html', { headers: { 'x-payment': 'e30=' } }), 402],
    ['a pass header', () => req('/paid/one.html', { headers: { 'x-payment-pass': pass() } }), null],
    ['a pass cookie', () => req('/paid/one.html', { headers: { cookie: `theme=dark; x402_pass=${pass()}` } }), null],
    ['POST to a GET-priced path', () => req('/paid/one.html', { method: 'POST' }), 405],
    ['OPTIONS', () => req('/paid/one.html', { method: 'OPTIONS' }), 204],
    ['the health endpoint', () => req('/x402/health'), 200],
    ['discovery', () => req('/discovery/resources'), 200],
    ['a facilitator endpoint', () => req('/facilitator/supported'), null],
    ['a path that does not normalise (a control character)', () => req('/paid/one%00.html'), 400],
  ];
  for (const [what, make, status] of declined) {
    test(what, async () => {
      assert.equal(fast(make()), undefined);
      if (status !== null) assert.equal((await full(make())).status, status);
    });
  }

  test('an unpriced path', () => {
    assert.equal(fast(req('/index.html')), undefined);
  });

  test('a configuration that does not parse: declined (the full handler answers 500 invalid_config)', async () => {
    const bad = { ...env, X402: { ...env.X402, payTo: 'not an address' } };
    assert.equal(fast(req('/paid/one.html'), bad), undefined);
    const res = await full(req('/paid/one.html'), bad);
    assert.equal(res.status, 500);
    assert.match(await res.text(), /invalid_config/);
  });
});
