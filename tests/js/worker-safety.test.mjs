// Money safety at the edge, under the real workerd (wrangler dev) settling on a real anvil with the
// real EIP-3009 token; signatures by viem. Each test is one defect of the safety reviews: paid
// content marked cacheable, retries refused during a background settlement, a settled payment
// re-opening its route forever, one balance spent many times on background routes, passes where a
// route has none or signed with a retired key, the example pass secret on a real network, the pass
// cookie forwarded to an origin, unpriced methods proxied on priced paths, the paywall page's
// operator scripts. No mocks: the origin is a plain HTTP server on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ExactEvmScheme } from '@x402/evm';
import { wrapFetchWithPaymentFromConfig } from '@x402/fetch';
import { localWallet, paymentReceipt, wrapFetch } from '../../js/local.js';
import {
  ROLES, TOKEN_ABI, TOKEN_ADDRESS, authorizationState, balanceOf, deployToken, publicClient, rpc, startAnvil,
  transferCount, walletClient,
} from './lib/chain.mjs';
import { TEST_PASS_SECRET, decodeHeader, defaultConfig, encodeHeader, makePass, paymentHeader, startWorker } from './lib/worker.mjs';

const PAY_TO = ROLES.payTo.address;
const NEW_PASS_SECRET = 'rotated-pass-secret-abcdef0123456789';
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let chain;
let worker;
let origin;
let originUrl;
const originSeen = []; // { method, url, cookie } of every request the origin got
// The upfront route's origin: whether the payment it is asked for was already settled on chain
// when it was asked (`watch`: the payer and EIP-3009 nonce of the payment being made), and
// whether it fails.
const upfront = { watch: null, settledWhenAsked: [], fail: false };

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  origin = http.createServer(async (req, res) => {
    originSeen.push({ method: req.method, url: req.url, cookie: req.headers.cookie ?? null });
    if (req.url.startsWith('/upfront/')) {
      if (upfront.watch) {
        upfront.settledWhenAsked.push(await authorizationState(chain.rpcUrl, upfront.watch.payer, upfront.watch.nonce));
      }
      if (upfront.fail) {
        res.writeHead(500, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
        res.end('origin failed');
        return;
      }
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=86400', etag: '"o1"' });
    res.end(`origin says ${req.method} ${req.url}`);
  });
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  originUrl = `http://127.0.0.1:${origin.address().port}`;
  const config = defaultConfig(chain.rpcUrl, {
    paywallScripts: ['/demo-wallet.js'],
    freeRoutes: ['POST /origin/comments'],
  });
  config.settlement.receiptTimeoutSeconds = 3;
  config.routes.unshift(
    { pattern: 'GET /origin/*', price: '$0.01', content: { source: 'origin', url: originUrl } },
    { pattern: 'GET /short/*', price: '$0.01', maxTimeoutSeconds: 20, passLifetimeSeconds: 0, content: { source: 'origin', url: originUrl } },
    { pattern: 'GET /upfront/*', price: '$0.01', paymentFlow: 'upfront', content: { source: 'origin', url: originUrl } },
  );
  // Passes are being rotated: new ones are signed with NEW_PASS_SECRET, the test harness's usual
  // secret is the previous one, still honoured.
  worker = await startWorker({
    config,
    secrets: { X402_PASS_SECRET: NEW_PASS_SECRET, X402_PASS_SECRET_PREVIOUS: TEST_PASS_SECRET },
  });
});

after(async () => {
  await worker?.stop();
  await chain?.stop();
  await new Promise((r) => (origin ? origin.close(r) : r()));
});

async function accepted(path) {
  const res = await fetch(worker.url + path);
  assert.equal(res.status, 402, `${path} should be 402`);
  await res.text();
  return decodeHeader(res.headers.get('payment-required')).accepts[0];
}

async function get(path, headers = {}) {
  const res = await fetch(worker.url + path, { headers });
  return { res, body: await res.text() };
}

const reason = ({ res, body }) => {
  assert.equal(res.status, 402, body);
  return decodeHeader(res.headers.get('payment-required')).error;
};

describe('paid content is never storable by a shared cache (Cache-Control: private)', () => {
  test('payment, settled retry, pass header, pass cookie, background route: private, no-store; 402 no-store; a free asset keeps its own', async () => {
    const payer = ROLES.payers[0];
    const acc = await accepted('/origin/article');
    const header = await paymentHeader(acc, payer);
    const paid = await get('/origin/article', { 'PAYMENT-SIGNATURE': header });
    assert.equal(paid.res.status, 200, paid.body);
    const retry = await get('/origin/article', { 'PAYMENT-SIGNATURE': header });
    assert.equal(retry.res.status, 200, retry.body);
    const pass = paid.res.headers.get('x-payment-pass');
    const viaHeader = await get('/origin/article', { 'X-PAYMENT-PASS': pass });
    const viaCookie = await get('/origin/article', { Cookie: paid.res.headers.get('set-cookie').split(';')[0] });
    const bg = await get('/api/quote.json', { 'PAYMENT-SIGNATURE': await paymentHeader(await accepted('/api/quote.json'), ROLES.payers[1]) });
    const assetPaid = await get('/paid/two.html', { 'PAYMENT-SIGNATURE': await paymentHeader(await accepted('/paid/two.html'), payer) });
    for (const [name, r] of Object.entries({ paid, retry, viaHeader, viaCookie, bg, assetPaid })) {
      assert.equal(r.res.status, 200, `${name}: ${r.body}`);
      assert.equal(r.res.headers.get('cache-control'), 'private, no-store', name);
    }
    const unpaid = await fetch(`${worker.url}/paid/one.html`);
    await unpaid.text();
    assert.equal(unpaid.headers.get('cache-control'), 'no-store');
    const free = await fetch(`${worker.url}/site.css`);
    await free.text();
    assert.equal(free.status, 200);
    assert.notEqual(free.headers.get('cache-control'), 'private, no-store', 'free assets are untouched');
  });
});

describe('a settled payment is not a pass with no end', () => {
  test('validBefore 2^256-1 (and anything past now + maxTimeoutSeconds + skew) is refused, nothing moves', async () => {
    const acc = await accepted('/paid/one.html');
    const transfers = await transferCount(chain.rpcUrl);
    for (const validBefore of [(1n << 256n) - 1n, BigInt(now() + acc.maxTimeoutSeconds + 3600)]) {
      const r = await get('/paid/one.html', { 'PAYMENT-SIGNATURE': await paymentHeader(acc, ROLES.payers[0], { validBefore }) });
      assert.equal(reason(r), 'invalid_exact_evm_payload_authorization_valid_before', String(validBefore));
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers);
  });

  test('a settled payment is served again only for its own resource (path and query), within its window, with no pass where the route has none', async () => {
    const acc = await accepted('/short/a');
    const header = await paymentHeader(acc, ROLES.payers[2]);
    const first = await get('/short/a?x=1', { 'PAYMENT-SIGNATURE': header });
    assert.equal(first.res.status, 200, first.body);
    assert.equal(first.res.headers.get('x-payment-pass'), null, 'passLifetimeSeconds = 0: no pass');
    const retry = await get('/short/a?x=1', { 'PAYMENT-SIGNATURE': header });
    assert.equal(retry.res.status, 200, retry.body);
    assert.equal(retry.res.headers.get('x-payment-pass'), null, 'no pass on a retry either');
    for (const q of ['?x=2', '?y=1', '']) {
      assert.equal(reason(await get(`/short/a${q}`, { 'PAYMENT-SIGNATURE': header })), 'invalid_exact_evm_nonce_already_used', q);
    }
    // Once the authorization's window has passed, the same header opens nothing.
    const wait = Number(decodeHeader(header).payload.authorization.validBefore) - now() + 1;
    await sleep(wait * 1000);
    assert.equal(reason(await get('/short/a?x=1', { 'PAYMENT-SIGNATURE': header })), 'invalid_exact_evm_payload_authorization_valid_before');
  });

  test('a pass re-issued on a retry keeps the first one\'s expiry; passes are not honoured where the route issues none', async () => {
    const acc = await accepted('/paid/three.html');
    const header = await paymentHeader(acc, ROLES.payers[0]);
    const first = await get('/paid/three.html', { 'PAYMENT-SIGNATURE': header });
    assert.equal(first.res.status, 200, first.body);
    const claims = (p) => Buffer.from(p.split('.')[0], 'base64url').toString().split('\n');
    const firstExpiry = claims(first.res.headers.get('x-payment-pass')).at(-1);
    await sleep(2100);
    const retry = await get('/paid/three.html', { 'PAYMENT-SIGNATURE': header });
    assert.equal(retry.res.status, 200, retry.body);
    assert.equal(claims(retry.res.headers.get('x-payment-pass')).at(-1), firstExpiry);
    const maxAge = Number(/Max-Age=(\d+)/.exec(retry.res.headers.get('set-cookie'))[1]);
    assert.ok(maxAge <= 3600 - 2, `Max-Age ${maxAge} counts from the first settlement`);

    // /api/* has passLifetimeSeconds = 0: a correctly signed pass for it opens nothing.
    const forged = makePass({ secret: NEW_PASS_SECRET, path: '/api/quote.json', payer: ROLES.payers[0].address, transaction: `0x${'ab'.repeat(32)}`, expires: now() + 3600 });
    const r = await get('/api/quote.json', { 'X-PAYMENT-PASS': forged });
    assert.equal(r.res.status, 402);
  });

  test('pass key rotation: the previous secret\'s passes still open, a retired secret\'s do not', async () => {
    const claims = { path: '/paid/one.html', payer: ROLES.payers[0].address, transaction: `0x${'cd'.repeat(32)}`, expires: now() + 60 };
    for (const secret of [NEW_PASS_SECRET, TEST_PASS_SECRET]) {
      const r = await get('/paid/one.html', { 'X-PAYMENT-PASS': makePass({ ...claims, secret }) });
      assert.equal(r.res.status, 200, `${secret}: ${r.body}`);
    }
    const retired = await get('/paid/one.html', { 'X-PAYMENT-PASS': makePass({ ...claims, secret: 'a-retired-secret-0123456789abcdef' }) });
    assert.equal(reason(retired), 'invalid_pass');
    assert.match(JSON.parse(retired.body).message, /no longer/);
  });
});

describe('background routes: one balance is promised once, retries are served', () => {
  test('8 concurrent payments from a key holding exactly one price: exactly one served, one transfer', async () => {
    const acc = await accepted('/api/quote.json');
    const key = generatePrivateKey();
    const payer = { address: privateKeyToAccount(key).address, privateKey: key };
    const funder = walletClient(chain.rpcUrl, ROLES.payers[3]);
    const hash = await funder.writeContract({ address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'transfer', args: [payer.address, BigInt(acc.amount)] });
    await publicClient(chain.rpcUrl).waitForTransactionReceipt({ hash });
    const payToBefore = await balanceOf(chain.rpcUrl, PAY_TO);
    const headers = await Promise.all(Array.from({ length: 8 }, () => paymentHeader(acc, payer)));
    const results = await Promise.all(headers.map((h, i) => get(`/api/quote.json?i=${i}`, { 'PAYMENT-SIGNATURE': h })));
    const served = results.filter((r) => r.res.status === 200);
    assert.equal(served.length, 1, results.map((r) => `${r.res.status} ${r.body.slice(0, 120)}`).join('\n'));
    // Refused by the payer's guard while the served payment is in flight (insufficient_funds), or,
    // once its background settlement has landed (anvil mines at once), by the balance read on chain.
    for (const r of results.filter((x) => x.res.status !== 200)) {
      assert.ok(['insufficient_funds', 'invalid_exact_evm_insufficient_balance'].includes(reason(r)), r.body);
    }
    // The one served payment settles in the background.
    for (let i = 0; i < 50 && (await balanceOf(chain.rpcUrl, payer.address)) !== 0n; i++) await sleep(200);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), 0n);
    assert.equal(await balanceOf(chain.rpcUrl, PAY_TO), payToBefore + BigInt(acc.amount));
  });

  test('the same header re-sent 20 times while its background settlement is in flight (automine off): all 200, one transfer', async () => {
    const acc = await accepted('/api/quote.json');
    const payer = ROLES.payers[4];
    const before = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const header = await paymentHeader(acc, payer);
    await rpc(chain.rpcUrl, 'evm_setAutomine', [false]);
    try {
      const first = await get('/api/quote.json', { 'PAYMENT-SIGNATURE': header });
      assert.equal(first.res.status, 200, first.body);
      const statuses = [];
      for (let i = 0; i < 20; i++) {
        // Spread over the receipt wait (3 s) and past it, when the settlement is recorded pending.
        const r = await get('/api/quote.json', { 'PAYMENT-SIGNATURE': header });
        statuses.push(`${r.res.status} ${r.res.status === 200 ? '' : r.body.slice(0, 160)}`);
        assert.equal(r.res.headers.get('cache-control'), r.res.status === 200 ? 'private, no-store' : 'no-store');
        await sleep(250);
      }
      assert.deepEqual(statuses.filter((s) => !s.startsWith('200')), [], statuses.join('\n'));
    } finally {
      await rpc(chain.rpcUrl, 'evm_setAutomine', [true]);
    }
    await rpc(chain.rpcUrl, 'evm_mine', []);
    const again = await get('/api/quote.json', { 'PAYMENT-SIGNATURE': header });
    assert.equal(again.res.status, 200, again.body);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'one transfer');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before - BigInt(acc.amount));
  });
});

describe('origin mode and methods', () => {
  test('the pass cookie and header never reach the origin; its other cookies do', async () => {
    const acc = await accepted('/origin/cookies');
    const paid = await get('/origin/cookies', { 'PAYMENT-SIGNATURE': await paymentHeader(acc, ROLES.payers[1]) });
    assert.equal(paid.res.status, 200, paid.body);
    const passCookie = paid.res.headers.get('set-cookie').split(';')[0];
    originSeen.length = 0;
    const r = await get('/origin/cookies', { Cookie: `theme=dark; ${passCookie}; session=abc`, 'X-PAYMENT-PASS': paid.res.headers.get('x-payment-pass') });
    assert.equal(r.res.status, 200, r.body);
    assert.equal(originSeen.length, 1);
    assert.equal(originSeen[0].cookie, 'theme=dark; session=abc');
    assert.doesNotMatch(JSON.stringify(originSeen), /x402_pass/);
  });

  test('a method the route does not price on a priced path is 405 (not proxied unpaid), unless routed explicitly', async () => {
    originSeen.length = 0;
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${worker.url}/origin/article`, { method, body: method === 'DELETE' ? undefined : 'x' });
      const body = await res.text();
      assert.equal(res.status, 405, `${method}: ${body}`);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.equal(JSON.parse(body).error, 'invalid_request');
    }
    assert.equal(originSeen.length, 0, 'the origin saw none of them');
    const free = await fetch(`${worker.url}/origin/comments`, { method: 'POST', body: 'hello' });
    assert.equal(free.status, 200, 'freeRoutes: POST /origin/comments is proxied');
    assert.match(await free.text(), /origin says POST \/origin\/comments/);
  });
});

describe('an upfront route (paymentFlow "upfront": settled before the origin is asked)', () => {
  const pay = async (p, payer) => {
    const acc = await accepted(p);
    const header = await paymentHeader(acc, payer);
    const { nonce } = decodeHeader(header).payload.authorization;
    upfront.watch = { payer: payer.address, nonce };
    return { acc, header, nonce };
  };

  test('offered as paymentFlow "upfront"; the origin is asked only once the transfer is on chain', async () => {
    const payer = ROLES.payers[2];
    const { acc, header } = await pay('/upfront/order', payer);
    assert.equal(acc.extra.paymentFlow, 'upfront');
    assert.equal((await accepted('/origin/article')).extra.paymentFlow, undefined, 'the default flow is not emitted');
    const transfers = await transferCount(chain.rpcUrl);
    upfront.settledWhenAsked.length = 0;
    const r = await get('/upfront/order', { 'PAYMENT-SIGNATURE': header });
    assert.equal(r.res.status, 200, r.body);
    assert.equal(r.body, 'origin says GET /upfront/order');
    assert.deepEqual(upfront.settledWhenAsked, [true], 'settled before the origin was asked');
    assert.equal(decodeHeader(r.res.headers.get('payment-response')).success, true);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });

  test('a payment that does not verify never reaches the origin', async () => {
    const payer = ROLES.payers[2];
    const { header } = await pay('/upfront/refused', payer);
    const forged = decodeHeader(header);
    forged.payload.authorization.value = '1';
    const seen = originSeen.length;
    const r = await get('/upfront/refused', { 'PAYMENT-SIGNATURE': encodeHeader(forged) });
    assert.equal(r.res.status, 402);
    assert.equal(originSeen.length, seen, 'the origin was not asked');
  });

  test('the origin fails after the payment: its answer carries the receipt, private; the retry is served, charged once', async () => {
    const payer = ROLES.payers[3];
    const { header } = await pay('/upfront/fails', payer);
    const transfers = await transferCount(chain.rpcUrl);
    upfront.fail = true;
    let r;
    try {
      r = await get('/upfront/fails', { 'PAYMENT-SIGNATURE': header });
    } finally {
      upfront.fail = false;
    }
    assert.equal(r.res.status, 500, r.body);
    const receipt = decodeHeader(r.res.headers.get('payment-response'));
    assert.equal(receipt.success, true);
    assert.match(r.res.headers.get('cache-control'), /private/);
    assert.doesNotMatch(r.res.headers.get('cache-control'), /public/);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'paid');
    const again = await get('/upfront/fails', { 'PAYMENT-SIGNATURE': header });
    assert.equal(again.res.status, 200, again.body);
    assert.equal(decodeHeader(again.res.headers.get('payment-response')).transaction, receipt.transaction);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'not charged again');
  });

  test('our client (x402-wasm/local wrapFetch) pays an upfront route, the flow kept in what it signs', async () => {
    const payer = ROLES.payers[4];
    const transfers = await transferCount(chain.rpcUrl);
    const sent = [];
    const spy = (input, init) => {
      const h = new Request(input, init).headers.get('payment-signature');
      if (h) sent.push(decodeHeader(h));
      return fetch(input, init);
    };
    upfront.watch = null;
    const res = await wrapFetch(spy, localWallet(payer.privateKey))(`${worker.url}/upfront/by-ours`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), 'origin says GET /upfront/by-ours');
    assert.equal(paymentReceipt(res).success, true);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].accepted.extra.paymentFlow, 'upfront');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });

  test('the reference client (@x402/fetch) pays an upfront route', async () => {
    const payer = ROLES.payers[4];
    const transfers = await transferCount(chain.rpcUrl);
    const paying = wrapFetchWithPaymentFromConfig(fetch, {
      schemes: [{ network: 'eip155:31337', client: new ExactEvmScheme(privateKeyToAccount(payer.privateKey)) }],
      spendControls: { allowedAssets: [{ network: 'eip155:31337', asset: TOKEN_ADDRESS, maxAmountPerPayment: '10000' }] },
    });
    upfront.watch = null;
    const res = await paying(`${worker.url}/upfront/by-reference`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), 'origin says GET /upfront/by-reference');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });
});

describe('configuration', () => {
  test('the HTML paywall page loads the operator\'s paywallScripts before the drop-in', async () => {
    const res = await fetch(`${worker.url}/paid/three.html`, { headers: { Accept: 'text/html', 'User-Agent': 'Mozilla/5.0 test' } });
    const html = await res.text();
    assert.equal(res.status, 402);
    const wallet = html.indexOf('<script type="module" src="/demo-wallet.js"></script>');
    assert.ok(wallet > 0, html);
    assert.ok(wallet < html.indexOf('src="/x402/x402.js"'));
  });

  test('the example pass secret is refused outside the local test chain', async () => {
    const w = await startWorker({
      config: defaultConfig(chain.rpcUrl, { networks: ['eip155:84532'], settlement: { mode: 'facilitator', url: 'https://x402.org/facilitator' } }),
      secrets: { X402_PASS_SECRET: 'demo-pass-secret-change-me-0123456789', X402_RELAYER_KEY: null },
    });
    try {
      const res = await fetch(`${w.url}/paid/one.html`);
      const body = await res.json();
      assert.equal(res.status, 500);
      assert.equal(body.error, 'invalid_config');
      assert.match(body.message, /X402_PASS_SECRET: the example secret/);
    } finally {
      await w.stop();
    }
  });
});
