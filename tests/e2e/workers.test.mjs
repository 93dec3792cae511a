// End to end, in workers: the npm package's browser code (pkg/web) paying the x402 Worker from
// inside a dedicated module Web Worker (through js/web.js, the browser entry) and a module service
// worker (through js/lazy.js: service workers refuse module graphs with top-level await, which
// js/web.js has), in Debian's Chromium (playwright-core). Started here on free ports (never 8545/8787): anvil + TestUSDC, the
// Worker under wrangler dev (self-settling on that anvil, CORS allowing the test site's origin),
// and a static test site on its own origin serving js/, pkg/web/ and tests/e2e/workers/.
// The wallet inside the workers is a signer { address, signTypedData } forwarding to anvil's
// eth_signTypedData_v4 for a funded dev account.
// Needs: scripts/build-browser run first (pkg/web); startWorker runs scripts/build-worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ANVIL_ACCOUNTS, startAnvil, deployToken, deployBatchSettlement, balanceOf, ROLES } from '../js/lib/chain.mjs';
import { defaultConfig, freePort, startWorker } from '../js/lib/worker.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SITE = path.join(ROOT, 'tests', 'e2e', 'workers');
const PAY_TO = ROLES.payTo.address;
// One payer per case, so no case sees another's transfers.
const WEB_WORKER_PAYER = ROLES.payers[1]; // anvil #2
const SERVICE_WORKER_PAYER = ROLES.payers[2]; // anvil #3
const REJECTING_PAYER = ROLES.payers[3]; // anvil #4
const LAZY_PAYER = ROLES.payers[4]; // anvil #5

let anvil, worker, site, siteOrigin, browser, context, page;

// ------------------------------------------------------------------------------ the test site

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.ts': 'text/plain' };

// Every path the test site served, in order (the channel module must be fetched only when used).
const served = [];

/** URL path → file: /js/*, /pkg/web/* and /pkg/channel/* from the repository, everything else from tests/e2e/workers/. */
function fileFor(urlPath) {
  let p;
  try { p = decodeURIComponent(urlPath); } catch { return null; }
  const [base, rel] = p.startsWith('/js/') ? [path.join(ROOT, 'js'), p.slice(4)]
    : p.startsWith('/pkg/web/') ? [path.join(ROOT, 'pkg', 'web'), p.slice(9)]
      : p.startsWith('/pkg/channel/') ? [path.join(ROOT, 'pkg', 'channel'), p.slice(13)]
        : [SITE, p.slice(1)];
  const file = path.resolve(base, rel);
  if (!file.startsWith(base + path.sep)) return null;
  return existsSync(file) && statSync(file).isFile() ? file : null;
}

function startSite(port) {
  const server = http.createServer((req, res) => {
    served.push(new URL(req.url, 'http://x').pathname);
    const file = req.method === 'GET' ? fileFor(new URL(req.url, 'http://x').pathname) : null;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

// ------------------------------------------------------------------------------ set-up

before(async () => {
  for (const f of ['pkg/web/x402.js', 'pkg/web/x402_bg.wasm']) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} missing: run scripts/build-browser`);
  }
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  await deployBatchSettlement(anvil.rpcUrl);
  const sitePort = await freePort();
  siteOrigin = `http://127.0.0.1:${sitePort}`;
  site = await startSite(sitePort);
  // Channels too (claims only far off): the exact payments below ignore the batch offers.
  worker = await startWorker({
    config: defaultConfig(anvil.rpcUrl, {
      corsAllowOrigin: siteOrigin,
      batchSettlement: { withdrawDelay: 900, claim: { threshold: '1000000000000', maxAgeSeconds: 3600, checkIntervalSeconds: 60 } },
    }),
    secrets: { X402_RECEIVER_AUTHORIZER_KEY: ANVIL_ACCOUNTS[7].privateKey },
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ serviceWorkers: 'allow' });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[page] ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto(`${siteOrigin}/page.html`);
  await page.locator('body[data-ready="1"]').waitFor({ state: 'attached', timeout: 30_000 });
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await worker?.stop();
  await anvil?.stop();
  await new Promise((r) => (site ? site.close(r) : r()));
});

// ------------------------------------------------------------------------------ helpers

const balances = async (payer) => ({
  payer: await balanceOf(anvil.rpcUrl, payer.address),
  payTo: await balanceOf(anvil.rpcUrl, PAY_TO),
});

/** The text of a paid body, the way a reader would recognise it. */
const paidText = (name) => readFileSync(path.join(ROOT, 'www', 'paid', name), 'utf8');

const job = (payer, route, extra = {}) => ({ rpcUrl: anvil.rpcUrl, address: payer.address, url: `${worker.url}${route}`, ...extra });

function assertPaid(result, { where, route, file, price, payer, before: b, after: a }) {
  assert.equal(result.ok, true, `${where}: wrapFetch rejected: ${JSON.stringify(result.error)}`);
  assert.equal(result.status, 200, `${where}: ${route} status`);
  assert.equal(result.body, paidText(file), `${where}: the body is www/paid/${file}`);
  assert.ok(result.receipt, `${where}: paymentReceipt(res) found a PAYMENT-RESPONSE (readable cross-origin)`);
  assert.equal(result.receipt.success, true, `${where}: receipt.success`);
  assert.match(result.receipt.transaction, /^0x[0-9a-fA-F]{64}$/, `${where}: receipt.transaction`);
  assert.equal(result.receipt.payer?.toLowerCase(), payer.address.toLowerCase(), `${where}: receipt.payer`);
  assert.equal(result.receipt.network, 'eip155:31337', `${where}: receipt.network`);
  assert.equal(a.payer, b.payer - price, `${where}: the payer paid exactly ${price}`);
  assert.equal(a.payTo, b.payTo + price, `${where}: payTo received exactly ${price}`);
}

// ------------------------------------------------------------------------------ tests

test('the Worker answers the test site\'s origin with CORS that exposes the payment headers', async () => {
  const res = await fetch(`${worker.url}/paid/one.html`, { headers: { origin: siteOrigin } });
  await res.text();
  assert.equal(res.status, 402);
  assert.equal(res.headers.get('access-control-allow-origin'), siteOrigin);
  const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
  for (const h of ['payment-required', 'payment-response']) assert.ok(exposed.includes(h), `${h} is exposed`);
});

test('wrapFetch (js/web.js) pays from a dedicated module Web Worker', async () => {
  const b = await balances(WEB_WORKER_PAYER);
  const result = await page.evaluate((j) => window.inWebWorker(j), job(WEB_WORKER_PAYER, '/paid/one.html'));
  assert.equal(result.scope.global, '[object DedicatedWorkerGlobalScope]', 'ran in a dedicated worker');
  assert.equal(result.scope.hasWindow, false);
  assertPaid(result, {
    where: 'Web Worker', route: '/paid/one.html', file: 'one.html', price: 10_000n, payer: WEB_WORKER_PAYER, before: b, after: await balances(WEB_WORKER_PAYER),
  });
});

test('a wallet that rejects (4001) in a Web Worker: wrapFetch rejects with user_rejected, nothing moves', async () => {
  const b = await balances(REJECTING_PAYER);
  const result = await page.evaluate((j) => window.inWebWorker(j), job(REJECTING_PAYER, '/paid/one.html', { reject: true }));
  assert.equal(result.scope.global, '[object DedicatedWorkerGlobalScope]');
  assert.equal(result.ok, false, `wrapFetch should reject, got status ${result.status}`);
  assert.equal(result.error.isError, true, `rejects with an Error: ${JSON.stringify(result.error)}`);
  assert.equal(result.error.code, 'user_rejected', `error code: ${JSON.stringify(result.error)}`);
  assert.deepEqual(await balances(REJECTING_PAYER), b, 'no balance moved');
});

test('wrapFetch (js/lazy.js) pays from a module service worker', async () => {
  const b = await balances(SERVICE_WORKER_PAYER);
  const result = await page.evaluate((j) => window.inServiceWorker(j), job(SERVICE_WORKER_PAYER, '/paid/two.html'));
  assert.equal(result.scope.global, '[object ServiceWorkerGlobalScope]', 'ran in a service worker');
  assert.equal(result.scope.hasWindow, false);
  assertPaid(result, {
    where: 'service worker', route: '/paid/two.html', file: 'two.html', price: 20_000n, payer: SERVICE_WORKER_PAYER, before: b, after: await balances(SERVICE_WORKER_PAYER),
  });
});

test('js/lazy.js in a Web Worker: a fetch wrapped before the wasm loaded waits for it and pays', async () => {
  const b = await balances(LAZY_PAYER);
  const result = await page.evaluate(([j, script]) => window.inWebWorker(j, script), [job(LAZY_PAYER, '/paid/three.html'), '/worker-lazy.js']);
  assert.equal(result.scope.global, '[object DedicatedWorkerGlobalScope]');
  assert.match(result.beforeReady, /before the wasm module was loaded/, 'paymentReceipt refuses before ready');
  assertPaid(result, {
    where: 'Web Worker (lazy)', route: '/paid/three.html', file: 'three.html', price: 50_000n, payer: LAZY_PAYER, before: b, after: await balances(LAZY_PAYER),
  });
});

// Last: until now no page or worker asked for the channel module.
test('wrapFetch (js/web.js) with channels in a Web Worker: the channel module loads on the first request, then one deposit and vouchers', async () => {
  assert.equal(served.filter((p) => p.startsWith('/pkg/channel/')).length, 0, 'nothing fetched the channel module before');
  const b = await balances(WEB_WORKER_PAYER);
  const result = await page.evaluate((j) => window.inWebWorker(j), job(WEB_WORKER_PAYER, '/paid/one.html', { channels: { allowed: true }, count: 5 }));
  assert.equal(result.scope.global, '[object DedicatedWorkerGlobalScope]');
  assert.equal(result.ok, true, JSON.stringify(result.error));
  assert.equal(result.body, paidText('one.html'));
  assert.deepEqual(result.receipts.map((r) => r.extra?.channelState?.chargedCumulativeAmount), ['10000', '20000', '30000', '40000', '50000']);
  assert.match(result.receipts[0].transaction, /^0x[0-9a-f]{64}$/, 'the first answer carries the deposit');
  assert.deepEqual(result.receipts.slice(1).map((r) => r.transaction), ['', '', '', ''], 'then vouchers, no transaction');
  assert.ok(served.includes('/pkg/channel/x402_bg.wasm'), 'the channel module was fetched');
  const a = await balances(WEB_WORKER_PAYER);
  assert.equal(a.payer, b.payer - 500_000n, 'one deposit of the default credit ($0.50)');
  assert.equal(a.payTo, b.payTo, 'nothing claimed yet');
});
