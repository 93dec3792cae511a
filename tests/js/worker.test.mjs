// The edge Worker under the real workerd (wrangler dev), self-settling on a real anvil with the
// real EIP-3009 token. Signatures come from viem (tests/js/lib/chain.mjs), not from x402-core.
// No mocks: the one unreachable RPC is a closed port on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ANVIL_ACCOUNTS, ROLES, TOKEN_ABI, TOKEN_ADDRESS, authorizationState, balanceOf, deployToken,
  publicClient, randomNonce, rpc, signTransferAuthorization, startAnvil, transferCount, walletClient,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, encodeHeader, freePort, makePass, startWorker } from './lib/worker.mjs';
import { parseSignature, serializeSignature } from 'viem';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const PAY_TO = ROLES.payTo.address;
let chain;
let worker;
let originServer;
let originUrl;

const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  originServer = http.createServer((req, res) => {
    if (req.url.startsWith('/origin/boom')) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('origin failed');
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`origin says ${req.url}`);
    }
  });
  await new Promise((r) => originServer.listen(0, '127.0.0.1', r));
  originUrl = `http://127.0.0.1:${originServer.address().port}`;
  const config = defaultConfig(chain.rpcUrl);
  config.routes.unshift({ pattern: 'GET /origin/*', price: '$0.01', content: { source: 'origin', url: originUrl } });
  worker = await startWorker({ config });
});

after(async () => {
  await worker?.stop();
  await chain?.stop();
  await new Promise((r) => (originServer ? originServer.close(r) : r()));
});

/** GET the 402 for `path` and return its decoded challenge. */
async function challenge(path) {
  const res = await fetch(worker.url + path);
  assert.equal(res.status, 402, `${path} should be 402`);
  await res.text();
  return decodeHeader(res.headers.get('payment-required'));
}

/**
 * A v2 PAYMENT-SIGNATURE header paying `accepted` from payer account `payer`, signed by viem.
 * `mutate` edits { auth, accepted, domain, privateKey } before signing; `after` edits the payload.
 */
async function paymentHeader(accepted, payer, { mutate, post } = {}) {
  const t = now();
  const c = {
    privateKey: payer.privateKey,
    accepted: structuredClone(accepted),
    auth: {
      from: payer.address,
      to: accepted.payTo,
      value: accepted.amount,
      validAfter: String(t - 600),
      validBefore: String(t + accepted.maxTimeoutSeconds),
      nonce: randomNonce(),
    },
    domain: { chainId: 31337, token: accepted.asset, name: accepted.extra.name, version: accepted.extra.version },
  };
  mutate?.(c);
  const signature = await signTransferAuthorization({ privateKey: c.privateKey, ...c.auth, ...c.domain });
  const payload = { x402Version: 2, accepted: c.accepted, payload: { signature, authorization: c.auth } };
  post?.(payload);
  return { header: encodeHeader(payload), payload };
}

async function pay(path, header, extra = {}) {
  const res = await fetch(worker.url + path, { headers: { 'PAYMENT-SIGNATURE': header, ...extra } });
  return { res, body: await res.text() };
}

function reasonOf(res, body) {
  const pr = decodeHeader(res.headers.get('payment-required'));
  const json = JSON.parse(body);
  assert.equal(json.error, pr.error, 'body and header carry the same reason');
  return pr.error;
}

describe('challenge', () => {
  test('no payment: 402 whose header decodes to the configured requirements', async () => {
    const res = await fetch(`${worker.url}/paid/two.html`);
    assert.equal(res.status, 402);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const pr = decodeHeader(res.headers.get('payment-required'));
    assert.equal(pr.x402Version, 2);
    assert.equal(pr.resource.url, `${worker.url}/paid/two.html`);
    assert.equal(pr.resource.description, 'Two');
    assert.deepEqual(pr.accepts, [
      {
        scheme: 'exact',
        network: 'eip155:31337',
        amount: '20000',
        asset: TOKEN_ADDRESS,
        payTo: PAY_TO,
        maxTimeoutSeconds: 300,
        extra: { name: 'USD Coin', version: '2' },
      },
    ]);
    const body = JSON.parse(await res.text());
    assert.equal(body.x402Version, 2, 'no v1 network on 31337: the body is the v2 challenge');
    assert.deepEqual(body.accepts, pr.accepts);
  });

  test('browser navigation gets the HTML paywall, with PAYMENT-REQUIRED too', async () => {
    const res = await fetch(`${worker.url}/paid/one.html`, {
      headers: { Accept: 'text/html,application/xhtml+xml', 'User-Agent': 'Mozilla/5.0 test' },
    });
    assert.equal(res.status, 402);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.ok(decodeHeader(res.headers.get('payment-required')).accepts.length === 1);
    const html = await res.text();
    assert.match(html, /Payment required/);
    assert.match(html, /0\.01 USDC/);
    assert.doesNotMatch(html, /paid-content/);
  });

  test('CORS preflight is answered before gating', async () => {
    const res = await fetch(`${worker.url}/paid/one.html`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://reader.example', 'Access-Control-Request-Headers': 'payment-signature' },
    });
    assert.equal(res.status, 204);
    assert.match(res.headers.get('access-control-allow-headers'), /PAYMENT-SIGNATURE/);
    assert.match(res.headers.get('access-control-allow-headers'), /X-PAYMENT/);
    const expose = res.headers.get('access-control-expose-headers');
    for (const h of ['PAYMENT-REQUIRED', 'PAYMENT-RESPONSE', 'X-PAYMENT-RESPONSE', 'X-PAYMENT-PASS']) {
      assert.ok(expose.includes(h), h);
    }
  });

  test('bypass spellings of a paid path all get 402', async () => {
    const spellings = [
      '/paid/one.html', '/PAID/one.html', '/paid/ONE.HTML', '//paid/one.html', '/paid//one.html',
      '/paid/./one.html', '/x/../paid/one.html', '/paid%2fone.html', '/paid%2Fone.html', '/%70aid/one.html',
      '/paid%252fone.html', '/paid/one.html/', '/paid/one.html?x=1', '/paid%5cone.html', '/api/..%2fpaid/one.html',
      '/paid', '/paid/', '/paid/unknown.html', '/paid/%2e/one.html', '/paid/x/%2e%2e/one.html',
    ];
    for (const s of spellings) {
      const res = await fetch(worker.url + s);
      const body = await res.text();
      assert.equal(res.status, 402, `${s} → ${res.status}`);
      assert.doesNotMatch(body, /paid-content/, s);
    }
    // A free path is served (through the Worker, from the assets).
    const free = await fetch(`${worker.url}/x402/health`);
    assert.equal(free.status, 200);
    await free.text();
    // A directory is its index.html, judged under that name: the site's front page is free.
    const index = await fetch(`${worker.url}/`);
    assert.equal(index.status, 200);
    assert.equal(await index.text(), readFileSync(path.join(ROOT, 'www', 'index.html'), 'utf8'));
  });

  test('oversized request headers are refused with a reason code', async () => {
    const res = await fetch(`${worker.url}/paid/one.html`, { headers: { 'X-Big': 'a'.repeat(40_000) } });
    assert.equal(res.status, 431);
    assert.equal((await res.json()).error, 'invalid_request');
  });

  test('malformed payment header: 402 with invalid_payload', async () => {
    const { res, body } = await pay('/paid/one.html', 'not base64!!');
    assert.equal(res.status, 402);
    assert.equal(reasonOf(res, body), 'invalid_payload');
  });
});

describe('payment', () => {
  test('paid: 200, content, PAYMENT-RESPONSE with a real tx, balances moved by exactly the price; retry and pass serve again without a new transfer', async () => {
    const payer = ROLES.payers[0];
    const { accepts: [accepted] } = await challenge('/paid/one.html');
    const before = [await balanceOf(chain.rpcUrl, payer.address), await balanceOf(chain.rpcUrl, PAY_TO)];
    const transfers = await transferCount(chain.rpcUrl);
    const { header } = await paymentHeader(accepted, payer);
    const { res, body } = await pay('/paid/one.html', header);
    assert.equal(res.status, 200, body);
    assert.match(body, /paid-content:one/);
    assert.equal(res.headers.get('server-timing'), null, 'serverTiming is off by default');
    const receipt = decodeHeader(res.headers.get('payment-response'));
    assert.equal(receipt.success, true);
    assert.equal(receipt.network, 'eip155:31337');
    assert.equal(receipt.payer, payer.address);
    assert.match(receipt.transaction, /^0x[0-9a-f]{64}$/);
    const mined = await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [receipt.transaction]);
    assert.equal(mined.status, '0x1');
    assert.equal(mined.from.toLowerCase(), ROLES.relayer.address.toLowerCase());
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before[0] - 10_000n);
    assert.equal(await balanceOf(chain.rpcUrl, PAY_TO), before[1] + 10_000n);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);

    const pass = res.headers.get('x-payment-pass');
    assert.ok(pass);
    const cookie = res.headers.get('set-cookie');
    assert.match(cookie, /^x402_pass=/);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/paid/one.html']) assert.ok(cookie.includes(attr), attr);

    // Same authorization again (a client retry after a lost response): content, same tx, no charge.
    const again = await pay('/paid/one.html', header);
    assert.equal(again.res.status, 200);
    assert.equal(decodeHeader(again.res.headers.get('payment-response')).transaction, receipt.transaction);
    // Pass reuse, as a header and as a cookie.
    const viaHeader = await fetch(`${worker.url}/paid/one.html`, { headers: { 'X-PAYMENT-PASS': pass } });
    assert.equal(viaHeader.status, 200);
    assert.match(await viaHeader.text(), /paid-content:one/);
    const viaCookie = await fetch(`${worker.url}/paid/one.html`, { headers: { Cookie: cookie.split(';')[0] } });
    assert.equal(viaCookie.status, 200);
    await viaCookie.text();
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'no new transfer');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before[0] - 10_000n);

    // The same authorization for another resource is refused (its nonce is spent).
    const other = await pay('/paid/unknown.html', header);
    assert.equal(other.res.status, 402);
    assert.equal(reasonOf(other.res, other.body), 'invalid_exact_evm_nonce_already_used');

    // Forged, expired and other-resource passes get 402.
    const claims = { path: '/paid/one.html', payer: payer.address, transaction: receipt.transaction };
    const cases = [
      ['/paid/one.html', makePass({ ...claims, secret: 'not-the-secret-0123456789', expires: now() + 3600 })],
      ['/paid/one.html', makePass({ ...claims, expires: now() - 1 })],
      ['/paid/two.html', pass],
      ['/paid/two.html', makePass({ ...claims, expires: now() + 3600 })],
      ['/paid/one.html', `${pass.slice(0, -2)}AA`],
    ];
    for (const [p, bad] of cases) {
      const r = await fetch(worker.url + p, { headers: { 'X-PAYMENT-PASS': bad } });
      const b = await r.text();
      assert.equal(r.status, 402, `${p} ${bad}`);
      assert.equal(JSON.parse(b).error, 'invalid_pass');
    }
    // A correctly keyed pass the test makes itself is accepted (the format is the documented one).
    const own = await fetch(`${worker.url}/paid/one.html`, { headers: { 'X-PAYMENT-PASS': makePass({ ...claims, expires: now() + 60 }) } });
    assert.equal(own.status, 200);
    await own.text();
  });

  test('each verification failure has its reason code and moves nothing', async () => {
    const payer = ROLES.payers[1];
    const { accepts: [accepted] } = await challenge('/paid/one.html');
    const other = ANVIL_ACCOUNTS[7];
    const n = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
    const cases = {
      invalid_exact_evm_signature: { mutate: (c) => { c.privateKey = other.privateKey; } },
      'invalid_exact_evm_signature (wrong domain)': { mutate: (c) => { c.domain.name = 'USDC'; } },
      'invalid_exact_evm_signature (high-s)': {
        post: (p) => {
          const { r, s, yParity } = parseSignature(p.payload.signature);
          const highS = `0x${(n - BigInt(s)).toString(16).padStart(64, '0')}`;
          p.payload.signature = serializeSignature({ r, s: highS, yParity: 1 - yParity });
        },
      },
      invalid_exact_evm_recipient_mismatch: { mutate: (c) => { c.auth.to = other.address; } },
      'invalid_exact_evm_recipient_mismatch (accepted.payTo)': { mutate: (c) => { c.accepted.payTo = other.address; c.auth.to = other.address; } },
      invalid_exact_evm_asset_mismatch: { mutate: (c) => { c.accepted.asset = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'; } },
      invalid_exact_evm_network_mismatch: { mutate: (c) => { c.accepted.network = 'eip155:84532'; } },
      invalid_exact_evm_authorization_value: { mutate: (c) => { c.auth.value = '9999'; } },
      'invalid_exact_evm_authorization_value (accepted.amount)': { mutate: (c) => { c.accepted.amount = '1'; c.auth.value = '1'; } },
      invalid_exact_evm_payload_authorization_valid_before: { mutate: (c) => { c.auth.validBefore = String(now() - 10); } },
      invalid_exact_evm_payload_authorization_valid_after: { mutate: (c) => { c.auth.validAfter = String(now() + 3600); } },
      invalid_exact_evm_insufficient_balance: { mutate: (c) => { c.privateKey = ANVIL_ACCOUNTS[6].privateKey; c.auth.from = ANVIL_ACCOUNTS[6].address; } },
    };
    const transfers = await transferCount(chain.rpcUrl);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    for (const [name, opts] of Object.entries(cases)) {
      const { header } = await paymentHeader(accepted, payer, opts);
      const { res, body } = await pay('/paid/one.html', header);
      assert.equal(res.status, 402, `${name}: ${body}`);
      assert.equal(reasonOf(res, body), name.split(' ')[0], name);
      assert.doesNotMatch(body, /paid-content/);
    }
    // Nonce already used on chain (settled directly, not through this Worker).
    const { payload } = await paymentHeader(accepted, payer);
    const a = payload.payload.authorization;
    const { r, s, v } = parseSignature(payload.payload.signature);
    const hash = await walletClient(chain.rpcUrl, ROLES.deployer).writeContract({
      address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'transferWithAuthorization',
      args: [a.from, a.to, BigInt(a.value), BigInt(a.validAfter), BigInt(a.validBefore), a.nonce, Number(v), r, s], chain: null,
    });
    await publicClient(chain.rpcUrl).waitForTransactionReceipt({ hash });
    assert.equal(await authorizationState(chain.rpcUrl, a.from, a.nonce), true);
    const used = await pay('/paid/one.html', encodeHeader(payload));
    assert.equal(used.res.status, 402);
    assert.equal(reasonOf(used.res, used.body), 'invalid_exact_evm_nonce_already_used');

    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'only the direct transfer happened');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 10_000n);
  });

  test('20 concurrent requests with the same authorization: exactly one transfer', async () => {
    const payer = ROLES.payers[2];
    const { accepts: [accepted] } = await challenge('/paid/three.html');
    const transfers = await transferCount(chain.rpcUrl);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const { header } = await paymentHeader(accepted, payer);
    const results = await Promise.all(Array.from({ length: 20 }, () => pay('/paid/three.html', header)));
    const ok = results.filter((r) => r.res.status === 200);
    assert.ok(ok.length >= 1, 'at least one request is served');
    for (const r of results) {
      if (r.res.status === 200) {
        assert.match(r.body, /paid-content:three/);
      } else {
        assert.equal(r.res.status, 402, r.body);
        assert.equal(reasonOf(r.res, r.body), 'duplicate_settlement');
      }
    }
    const txs = new Set(ok.map((r) => decodeHeader(r.res.headers.get('payment-response')).transaction));
    assert.equal(txs.size, 1, 'every 200 carries the one settlement');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 50_000n);
  });

  test('origin answering 500: its answer, no transfer, and the authorization stays usable', async () => {
    const payer = ROLES.payers[3];
    const { accepts: [accepted] } = await challenge('/origin/boom');
    const transfers = await transferCount(chain.rpcUrl);
    const { header } = await paymentHeader(accepted, payer);
    const { res, body } = await pay('/origin/boom', header);
    assert.equal(res.status, 500);
    assert.equal(body, 'origin failed');
    assert.equal(res.headers.get('payment-response'), null);
    assert.equal(await transferCount(chain.rpcUrl), transfers);
    // The origin proxy gets the normalised path, without the payment header.
    const ok = await pay('/origin//x/../fine%3Fq', header);
    assert.equal(ok.res.status, 200, ok.body);
    assert.equal(ok.body, 'origin says /origin/fine%3Fq');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });

  test('background route: served after verification, settled afterwards', async () => {
    const payer = ROLES.payers[4];
    const { accepts: [accepted] } = await challenge('/api/quote.json');
    assert.equal(accepted.amount, '1000');
    const transfers = await transferCount(chain.rpcUrl);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const { header } = await paymentHeader(accepted, payer);
    const { res, body } = await pay('/api/quote.json', header);
    assert.equal(res.status, 200, body);
    assert.equal(JSON.parse(body).pair, 'ETH/USD');
    assert.equal(res.headers.get('x-payment-settlement'), 'background');
    // Poll the chain until the background settlement lands (no timing is asserted).
    for (let i = 0; i < 200 && (await transferCount(chain.rpcUrl)) === transfers; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 1_000n);
  });
});

describe('facilitator endpoints (off by default) and discovery', () => {
  test('the default configuration serves no facilitator endpoint (no open relay); its paths are ordinary content', async () => {
    const transfers = await transferCount(chain.rpcUrl);
    const { accepts: [accepted] } = await challenge('/paid/two.html');
    const { payload } = await paymentHeader(accepted, ROLES.payers[0]);
    const body = JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: accepted });
    for (const [method, ep] of [['GET', '/supported'], ['POST', '/verify'], ['POST', '/settle']]) {
      const res = await fetch(worker.url + ep, { method, body: method === 'POST' ? body : undefined });
      const text = await res.text();
      assert.equal(res.status, 404, `${method} ${ep}: ${text}`);
      assert.doesNotMatch(text, /isValid|success|kinds/);
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing settled');
  });

  test('GET /discovery/resources lists the paid routes', async () => {
    const d = await (await fetch(`${worker.url}/discovery/resources?limit=3`)).json();
    assert.equal(d.x402Version, 2);
    assert.equal(d.pagination.limit, 3);
    assert.equal(d.pagination.total, 6);
    assert.equal(d.items.length, 3);
    assert.equal(d.items[1].resource, `${worker.url}/paid/one.html`);
    assert.equal(d.items[1].type, 'http');
    assert.equal(d.items[1].accepts[0].amount, '10000');
  });
});

describe('faults', () => {
  test('RPC unreachable: no content, no transfer, a clear reason-coded error', async () => {
    const deadPort = await freePort();
    const broken = await startWorker({ config: defaultConfig(`http://127.0.0.1:${deadPort}`) });
    try {
      const res0 = await fetch(`${broken.url}/paid/one.html`);
      assert.equal(res0.status, 402);
      const { accepts: [accepted] } = decodeHeader(res0.headers.get('payment-required'));
      await res0.text();
      const transfers = await transferCount(chain.rpcUrl);
      const { header } = await paymentHeader(accepted, ROLES.payers[1]);
      const res = await fetch(`${broken.url}/paid/one.html`, { headers: { 'PAYMENT-SIGNATURE': header } });
      const body = await res.json();
      assert.equal(res.status, 503);
      assert.equal(body.error, 'unexpected_verify_error');
      assert.match(body.message, /JSON-RPC unreachable/);
      assert.equal(JSON.stringify(body).includes('paid-content'), false);
      assert.equal(await transferCount(chain.rpcUrl), transfers);
    } finally {
      await broken.stop();
    }
  });

  test('invalid configuration fails loudly, naming the field', async () => {
    const config = defaultConfig(chain.rpcUrl);
    config.routes[1].price = '$0.0000001';
    const bad = await startWorker({ config });
    try {
      const res = await fetch(`${bad.url}/paid/one.html`);
      const body = await res.json();
      assert.equal(res.status, 500);
      assert.equal(body.error, 'invalid_config');
      assert.match(body.message, /routes\[1\]\.price/);
    } finally {
      await bad.stop();
    }
  });
});
