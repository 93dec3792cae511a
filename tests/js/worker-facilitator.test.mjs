// The Worker's facilitator endpoints (POST /verify, POST /settle, GET /supported) under the real
// workerd (wrangler dev) and a real anvil with the real EIP-3009 token: off by default; when on,
// behind the bearer token (required in settlement mode "self") and judging only this Worker's own
// offers unless `openFacilitator`; an amount of 0, an unfunded payer, another asset, a huge
// maxTimeoutSeconds or validBefore refused with their reason codes; request bodies capped at 64 KiB
// before and while reading; the RPC and facilitator URLs (which usually carry an API key) logged,
// never echoed to clients.
//
// The one stand-in: the "marker" Worker talks to anvil through a pass-through HTTP proxy that can be
// told to fail every JSON-RPC call (connection closed) or only eth_getTransactionCount (HTTP 502), so
// that an RPC failure shows up at each place a message reaches a client (a 503, /verify, a 402's
// PAYMENT-RESPONSE after verification passed). A real node cannot be made to fail one method on
// demand; everything else is forwarded untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS, ROLES, TOKEN_ADDRESS, authorizationState, balanceOf, deployToken, randomNonce, rpc,
  signTransferAuthorization, startAnvil, startRpcProxy, transferCount,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, encodeHeader, freePort, startWorker } from './lib/worker.mjs';

const TOKEN = 'facilitator-token-0123456789';
const RELAYER = ROLES.relayer.address;
const PAY_TO = ROLES.payTo.address;
const STRANGER = ANVIL_ACCOUNTS[5]; // funded payer #5, who has nothing to do with this Worker
const STRANGERS_FRIEND = ANVIL_ACCOUNTS[7]; // not this Worker's payTo
const RPC_MARKER = 'key-SECRETMARKER123';
const FACILITATOR_MARKER = 'fac-SECRETMARKER456';
const LIMIT = 64 * 1024;
const now = () => Math.floor(Date.now() / 1000);

let chain;
let proxy;
let proxyMode = 'forward'; // 'forward' | 'down' (every call: connection closed) | 'no-nonce'
let plain; // the default configuration: no facilitator endpoint
let fac; // facilitatorEndpoints on, behind TOKEN, self-settling
let open; // openFacilitator, settlement through a dead facilitator whose URL holds a marker
let marker; // self-settling through the proxy, at an RPC URL holding a marker

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  proxy = await startRpcProxy(chain.rpcUrl, (method, req, res) => {
    if (proxyMode === 'down') {
      req.socket.destroy();
      return true;
    }
    if (proxyMode === 'no-nonce' && method === 'eth_getTransactionCount') {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
      return true;
    }
    return false;
  });
  const deadPort = await freePort();
  [plain, fac, open, marker] = await Promise.all([
    startWorker({ config: defaultConfig(chain.rpcUrl), secrets: { X402_FACILITATOR_TOKEN: TOKEN } }),
    startWorker({ config: defaultConfig(chain.rpcUrl, { facilitatorEndpoints: true }), secrets: { X402_FACILITATOR_TOKEN: TOKEN } }),
    startWorker({
      config: defaultConfig(chain.rpcUrl, {
        facilitatorEndpoints: true,
        openFacilitator: true,
        settlement: { mode: 'facilitator', url: `http://127.0.0.1:${deadPort}/${FACILITATOR_MARKER}`, rpcUrl: chain.rpcUrl, timeoutSeconds: 5 },
      }),
      secrets: { X402_RELAYER_KEY: null, X402_FACILITATOR_TOKEN: TOKEN },
    }),
    startWorker({
      config: defaultConfig(`${proxy.url}/${RPC_MARKER}`, { facilitatorEndpoints: true }),
      secrets: { X402_FACILITATOR_TOKEN: TOKEN },
    }),
  ]);
});

after(async () => {
  await Promise.all([plain?.stop(), fac?.stop(), open?.stop(), marker?.stop()]);
  await chain?.stop();
  await proxy?.close();
});

/** The Worker's own offer for `path` (accepts[0] of its 402). */
async function ownOffer(worker, path) {
  const res = await fetch(worker.url + path);
  assert.equal(res.status, 402, `${path} should be 402`);
  await res.text();
  return decodeHeader(res.headers.get('payment-required')).accepts[0];
}

/** Requirements paying the stranger's friend 1234 units of the token: not this Worker's offer. */
function foreign(patch = {}) {
  return {
    scheme: 'exact',
    network: 'eip155:31337',
    amount: '1234',
    asset: TOKEN_ADDRESS,
    payTo: STRANGERS_FRIEND.address,
    maxTimeoutSeconds: 300,
    extra: { name: 'USD Coin', version: '2' },
    ...patch,
  };
}

/**
 * A facilitator request body paying `requirements` from `signer` ({ address, privateKey }), signed by
 * viem over the requirements' asset; `auth` overrides authorization fields before signing.
 */
async function facilitatorBody(requirements, signer, auth = {}) {
  const t = now();
  const authorization = {
    from: signer.address,
    to: requirements.payTo,
    value: requirements.amount,
    validAfter: String(t - 600),
    validBefore: String(t + requirements.maxTimeoutSeconds),
    nonce: randomNonce(),
    ...auth,
  };
  const signature = await signTransferAuthorization({ privateKey: signer.privateKey, token: requirements.asset, ...authorization });
  const paymentPayload = { x402Version: 2, accepted: requirements, payload: { signature, authorization } };
  return { x402Version: 2, paymentPayload, paymentRequirements: requirements };
}

async function post(worker, endpoint, body, { token = TOKEN } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(worker.url + endpoint, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json, headers: res.headers };
}

/** What a refused request must leave as it was: balances, transfers, the relayer's nonce. */
async function chainState(body) {
  const a = body.paymentPayload.payload.authorization;
  return {
    transfers: await transferCount(chain.rpcUrl),
    from: await balanceOf(chain.rpcUrl, a.from),
    to: await balanceOf(chain.rpcUrl, a.to),
    used: await authorizationState(chain.rpcUrl, a.from, a.nonce),
    relayerNonce: await rpc(chain.rpcUrl, 'eth_getTransactionCount', [RELAYER, 'pending']),
  };
}

describe('the stranger\'s transfer (1234 units from anvil #5 to anvil #7)', () => {
  test('(a) default configuration: no facilitator endpoint is served, nothing moves; discovery still is', async () => {
    const body = await facilitatorBody(foreign(), STRANGER);
    const before = await chainState(body);
    for (const endpoint of ['/settle', '/verify']) {
      for (const token of [TOKEN, null]) {
        const r = await post(plain, endpoint, body, { token });
        assert.notEqual(r.status, 200, `${endpoint}: ${r.text}`);
        assert.equal(r.json?.success, undefined, `${endpoint} is not a settlement: ${r.text}`);
        assert.equal(r.json?.isValid, undefined, `${endpoint} is not a verification: ${r.text}`);
      }
    }
    const sup = await fetch(`${plain.url}/supported`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const supText = await sup.text();
    assert.notEqual(sup.status, 200, supText);
    assert.doesNotMatch(supText, /kinds/);
    assert.deepEqual(await chainState(body), before, 'nothing moved');
    const discovery = await fetch(`${plain.url}/discovery/resources`);
    assert.equal(discovery.status, 200);
    assert.ok((await discovery.json()).items.length > 0, 'discovery stays on by default');
  });

  test('(b) endpoints on, no or a wrong bearer token: 401 unauthorized, nothing moves', async () => {
    const body = await facilitatorBody(foreign(), STRANGER);
    const before = await chainState(body);
    for (const token of [null, 'wrong-token-0123456789', `${TOKEN}x`]) {
      for (const endpoint of ['/settle', '/verify']) {
        const r = await post(fac, endpoint, body, { token });
        assert.equal(r.status, 401, `${endpoint} with ${token}: ${r.text}`);
        assert.equal(r.json.error, 'unauthorized');
      }
      const sup = await fetch(`${fac.url}/supported`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      assert.equal(sup.status, 401);
      await sup.text();
    }
    assert.deepEqual(await chainState(body), before, 'nothing moved');
  });

  test('(c) with the token but a foreign payTo: refused with invalid_payment_requirements, nothing moves', async () => {
    const body = await facilitatorBody(foreign(), STRANGER);
    const before = await chainState(body);
    const settled = await post(fac, '/settle', body);
    assert.equal(settled.status, 200, settled.text);
    assert.equal(settled.json.success, false, settled.text);
    assert.equal(settled.json.errorReason, 'invalid_payment_requirements');
    assert.match(settled.json.errorMessage, /payTo/);
    assert.equal(settled.json.transaction, '');
    const verified = await post(fac, '/verify', body);
    assert.equal(verified.json.isValid, false, verified.text);
    assert.equal(verified.json.invalidReason, 'invalid_payment_requirements');
    assert.deepEqual(await chainState(body), before, 'nothing moved: balances, transfers, the nonce, the relayer');
  });

  test('(d) the Worker\'s own offer settles through /settle with the token; /supported lists its own kinds', async () => {
    const sup = await fetch(`${fac.url}/supported`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(sup.status, 200);
    const kinds = (await sup.json()).kinds;
    assert.deepEqual(kinds.map((k) => `${k.x402Version} ${k.scheme} ${k.network}`), ['2 exact eip155:31337']);

    const payer = ROLES.payers[0];
    const offer = await ownOffer(fac, '/paid/two.html');
    assert.equal(offer.payTo, PAY_TO);
    const body = await facilitatorBody(offer, payer);
    const before = await chainState(body);
    const verified = await post(fac, '/verify', body);
    assert.deepEqual(verified.json, { isValid: true, payer: payer.address });
    const settled = await post(fac, '/settle', body);
    assert.equal(settled.json.success, true, settled.text);
    assert.match(settled.json.transaction, /^0x[0-9a-f]{64}$/);
    const receipt = await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [settled.json.transaction]);
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from.toLowerCase(), RELAYER.toLowerCase());
    assert.equal(await transferCount(chain.rpcUrl), before.transfers + 1);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before.from - 20_000n);
    assert.equal(await balanceOf(chain.rpcUrl, PAY_TO), before.to + 20_000n);
    const twice = await post(fac, '/settle', body);
    assert.equal(twice.json.transaction, settled.json.transaction, 'a repeat reports the same settlement');
    assert.equal(await transferCount(chain.rpcUrl), before.transfers + 1);
  });
});

test('endpoints on in settlement mode "self" without X402_FACILITATOR_TOKEN: every request is 500 invalid_config naming the secret', async () => {
  const worker = await startWorker({ config: defaultConfig(chain.rpcUrl, { facilitatorEndpoints: true }) });
  try {
    const body = await facilitatorBody(foreign(), STRANGER);
    const before = await chainState(body);
    for (const [method, path] of [['GET', '/paid/one.html'], ['POST', '/settle'], ['POST', '/verify'], ['GET', '/supported']]) {
      const res = await fetch(worker.url + path, { method, body: method === 'POST' ? JSON.stringify(body) : undefined });
      const json = await res.json();
      assert.equal(res.status, 500, `${method} ${path}`);
      assert.equal(json.error, 'invalid_config');
      assert.match(json.message, /X402_FACILITATOR_TOKEN/);
    }
    assert.deepEqual(await chainState(body), before);
  } finally {
    await worker.stop();
  }
});

describe('/verify vouches only for what this Worker would accept', () => {
  const MAX_U256 = ((1n << 256n) - 1n).toString();

  test('amount 0, an unfunded key, another asset, maxTimeoutSeconds 10^12, validBefore 2^256-1, a foreign payTo: each refused with its reason', async () => {
    const offer = await ownOffer(fac, '/paid/one.html');
    const payer = ROLES.payers[1];
    const freshKey = generatePrivateKey(); // a new key: no balance at all
    const fresh = { address: privateKeyToAccount(freshKey).address, privateKey: freshKey };
    const otherAsset = '0x000000000000000000000000000000000000dEaD';
    const cases = [
      ['amount 0', await facilitatorBody({ ...offer, amount: '0' }, payer), 'invalid_payment_requirements', /amount/],
      ['an unfunded key', await facilitatorBody(offer, fresh), 'invalid_exact_evm_insufficient_balance', /balance/],
      ['another asset', await facilitatorBody({ ...offer, asset: otherAsset }, payer), 'invalid_payment_requirements', /asset/],
      ['maxTimeoutSeconds 10^12', await facilitatorBody({ ...offer, maxTimeoutSeconds: 1e12 }, payer), 'invalid_payment_requirements', /maxTimeoutSeconds/],
      ['validBefore 2^256-1', await facilitatorBody(offer, payer, { validBefore: MAX_U256 }), 'invalid_exact_evm_payload_authorization_valid_before', /validBefore/],
      ['a foreign payTo', await facilitatorBody({ ...offer, payTo: STRANGERS_FRIEND.address }, payer), 'invalid_payment_requirements', /payTo/],
    ];
    const transfers = await transferCount(chain.rpcUrl);
    for (const [name, body, reason, message] of cases) {
      const r = await post(fac, '/verify', body);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(r.json.isValid, false, `${name}: ${r.text}`);
      assert.equal(r.json.invalidReason, reason, `${name}: ${r.text}`);
      assert.match(r.json.invalidMessage, message, name);
      const s = await post(fac, '/settle', body);
      assert.equal(s.json.success, false, `${name} /settle: ${s.text}`);
      assert.equal(s.json.errorReason, reason, `${name} /settle: ${s.text}`);
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing settled');
    // The same own offer, properly signed, verifies (the refusals are for the named term alone).
    assert.equal((await post(fac, '/verify', await facilitatorBody(offer, payer))).json.isValid, true);
  });

  test('openFacilitator = true: a foreign payTo verifies (any payer, any payee: dangerous, documented); amount 0, maxTimeoutSeconds 10^12 and another asset still refused', async () => {
    const ok = await post(open, '/verify', await facilitatorBody(foreign(), STRANGER));
    assert.deepEqual(ok.json, { isValid: true, payer: STRANGER.address }, ok.text);
    for (const [name, req, message] of [
      ['amount 0', foreign({ amount: '0' }), /amount/],
      ['maxTimeoutSeconds 10^12', foreign({ maxTimeoutSeconds: 1e12 }), /maxTimeoutSeconds/],
      ['another asset', foreign({ asset: '0x000000000000000000000000000000000000dEaD' }), /asset/],
    ]) {
      const r = await post(open, '/verify', await facilitatorBody(req, STRANGER));
      assert.equal(r.json.isValid, false, `${name}: ${r.text}`);
      assert.equal(r.json.invalidReason, 'invalid_payment_requirements', name);
      assert.match(r.json.invalidMessage, message, name);
    }
  });
});

describe('request bodies are capped at 64 KiB', () => {
  /**
   * POSTs to `path` with raw control over the body: `contentLength` (a header value, or none:
   * chunked), then `chunks` written one at a time until the answer arrives, then the end of the
   * body. Resolves with the status, the answer's JSON and how many body bytes had been written
   * when it arrived.
   */
  function rawPost(url, path, { contentLength, chunks, timeoutMs = 15_000 }) {
    return new Promise((resolve, reject) => {
      const headers = { 'content-type': 'application/json', Authorization: `Bearer ${TOKEN}` };
      if (contentLength !== undefined) headers['content-length'] = String(contentLength);
      const req = http.request(`${url}${path}`, { method: 'POST', headers });
      let written = 0;
      let answered = null;
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no answer within ${timeoutMs} ms (${written} bytes written)`));
      }, timeoutMs);
      req.on('response', (res) => {
        answered = written;
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          let json = null;
          try { json = JSON.parse(Buffer.concat(parts).toString('utf8')); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, json, writtenWhenAnswered: answered });
        });
      });
      req.on('error', () => { /* the server may close while we still write: the answer decides */ });
      req.flushHeaders(); // send the headers now, before (or without) any of the body
      (async () => {
        for (const chunk of chunks) {
          if (answered !== null || req.destroyed) return;
          await new Promise((r) => req.write(chunk, r));
          written += chunk.length;
          await new Promise((r) => setTimeout(r, 5));
        }
        if (answered === null && !req.destroyed) req.end();
      })();
    });
  }

  // Under wrangler dev the runtime's front layers take in a body of declared length before any
  // answer goes out, whatever the Worker does (seen as well on /x402/health, which never reads a
  // body; an `Expect: 100-continue` is answered at once by them too): what is observable here is
  // the Worker's refusal by its Content-Length (413, where it used to read the body and answer 400).
  // The chunked test below shows the refusal arriving long before the body ends.
  test('Content-Length over 64 KiB: 413 invalid_payload naming the limit', async () => {
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 0x20));
    const r = await rawPost(fac.url, '/verify', { contentLength: 1024 * 1024, chunks });
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.equal(r.json.error, 'invalid_payload');
    assert.match(r.json.message, /64 KiB/);
  });

  test('a chunked body (no Content-Length) of 1 MiB: 413 as soon as 64 KiB is passed, not after reading it all', async () => {
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 0x20)); // 1 MiB of spaces
    const r = await rawPost(fac.url, '/settle', { chunks });
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.equal(r.json.error, 'invalid_payload');
    assert.match(r.json.message, /64 KiB/);
    assert.ok(r.writtenWhenAnswered < 1024 * 1024, `answered after ${r.writtenWhenAnswered} bytes of 1 MiB`);
  });

  test('a body under the limit is still read and judged (400 for junk, not 413)', async () => {
    const junk = Buffer.alloc(LIMIT - 1, 0x20);
    const chunked = await rawPost(fac.url, '/verify', { chunks: [junk] });
    assert.equal(chunked.status, 400);
    assert.equal(chunked.json.error, 'invalid_payload');
    const exact = await rawPost(fac.url, '/verify', { contentLength: LIMIT, chunks: [Buffer.alloc(LIMIT, 0x20)] });
    assert.equal(exact.status, 400);
  });
});

describe('the RPC and facilitator URLs are logged, never sent to clients', () => {
  const log = (worker) => readFileSync(worker.logFile, 'utf8');

  test('RPC unreachable: the 503, /verify\'s invalidMessage and a 402\'s PAYMENT-RESPONSE name no URL; the log does', async () => {
    const offer = await ownOffer(marker, '/paid/one.html');
    const payer = ROLES.payers[2];
    const transfers = await transferCount(chain.rpcUrl);
    const seen = [];
    proxyMode = 'down';
    try {
      const paid = await fetch(`${marker.url}/paid/one.html`, {
        headers: { 'PAYMENT-SIGNATURE': encodeHeader((await facilitatorBody(offer, payer)).paymentPayload) },
      });
      const text = await paid.text();
      assert.equal(paid.status, 503, text);
      assert.equal(JSON.parse(text).error, 'unexpected_verify_error');
      assert.match(JSON.parse(text).message, /JSON-RPC unreachable/);
      seen.push(text, ...paid.headers.values());
      const verified = await post(marker, '/verify', await facilitatorBody(offer, payer));
      assert.equal(verified.json.isValid, false, verified.text);
      assert.equal(verified.json.invalidReason, 'unexpected_verify_error');
      assert.match(verified.json.invalidMessage, /JSON-RPC unreachable/);
      seen.push(verified.text);
      // Verification passes (eth_call answers) but the relayer cannot reach the node to settle.
      proxyMode = 'no-nonce';
      const refused = await fetch(`${marker.url}/paid/one.html`, {
        headers: { 'PAYMENT-SIGNATURE': encodeHeader((await facilitatorBody(offer, payer)).paymentPayload) },
      });
      const refusedText = await refused.text();
      assert.equal(refused.status, 402, refusedText);
      const receipt = decodeHeader(refused.headers.get('payment-response'));
      assert.equal(receipt.success, false);
      assert.match(receipt.errorMessage, /JSON-RPC unreachable/);
      seen.push(refusedText, JSON.stringify(receipt), ...refused.headers.values());
    } finally {
      proxyMode = 'forward';
    }
    for (const s of seen) assert.doesNotMatch(s, new RegExp(RPC_MARKER), `a response echoes the RPC URL: ${s}`);
    assert.equal(await transferCount(chain.rpcUrl), transfers);
    await new Promise((r) => setTimeout(r, 500)); // let wrangler flush the Worker's log
    assert.match(log(marker), new RegExp(RPC_MARKER), 'the operator finds the URL in the Worker log');
  });

  test('facilitator unreachable: settlement_pending names no facilitator URL; the log does', async () => {
    const offer = await ownOffer(open, '/paid/one.html');
    const header = encodeHeader((await facilitatorBody(offer, ROLES.payers[3])).paymentPayload);
    const res = await fetch(`${open.url}/paid/one.html`, { headers: { 'PAYMENT-SIGNATURE': header } });
    const text = await res.text();
    assert.equal(res.status, 402, text);
    const receipt = decodeHeader(res.headers.get('payment-response'));
    assert.equal(receipt.errorReason, 'settlement_pending');
    assert.match(receipt.errorMessage, /no answer/);
    for (const s of [text, JSON.stringify(receipt), ...res.headers.values()]) {
      assert.doesNotMatch(s, new RegExp(FACILITATOR_MARKER), `a response echoes the facilitator URL: ${s}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.match(log(open), new RegExp(FACILITATOR_MARKER));
  });
});
