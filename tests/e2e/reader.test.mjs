// End to end, as a reader: Debian's Chromium (playwright-core) on the demo site served by the
// Worker (wrangler dev / workerd) that settles on a real anvil. The stack is started here on free
// ports (never 8545/8787): anvil + TestUSDC, then wrangler dev with a copy of wrangler.toml whose
// rpcUrl points at that anvil. The reader's wallet is the demo wallet (www/demo-wallet.js), an
// EIP-6963 provider in the page that forwards signing to an anvil dev account.
// Needs: scripts/build-browser and scripts/build-worker run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startAnvil, deployToken, balanceOf, ROLES } from '../js/lib/chain.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ART = path.join(ROOT, 'tests', 'artifacts');
const PAYER = ROLES.payers[0]; // the demo wallet's default account (#1)
let anvil, worker, browser, base, stateDir;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitFor(url, { tries = 300 } = {}) {
  for (let i = 0; i < tries; i++) {
    try { const r = await fetch(url); await r.arrayBuffer(); return; } catch { /* not up yet */ }
    if (worker.exitCode !== null) throw new Error(`wrangler exited (${worker.exitCode}); see ${worker.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up; see ${worker.log}`);
}

before(async () => {
  for (const f of ['www/x402/x402.js', 'build/worker/shim.mjs']) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} missing: run scripts/build-browser and scripts/build-worker`);
  }
  mkdirSync(ART, { recursive: true });
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  stateDir = path.join(ART, `e2e-${process.pid}`);
  mkdirSync(stateDir, { recursive: true });
  const config = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
    .replaceAll('http://127.0.0.1:8545', anvil.rpcUrl)
    .replace(/^main = "(.*)"/m, (_, m) => `main = "${path.join(ROOT, m)}"`)
    .replace(/^directory = "(.*)"/m, (_, d) => `directory = "${path.join(ROOT, d)}"`)
    .replace(/^\[build\][\s\S]*?(?=^\[)/m, '');
  const configPath = path.join(stateDir, 'wrangler.toml');
  writeFileSync(configPath, config);
  const vars = ['.dev.vars', '.dev.vars.example'].map((f) => path.join(ROOT, f)).find(existsSync);
  if (vars) writeFileSync(path.join(stateDir, '.dev.vars'), readFileSync(vars));
  const log = path.join(ART, `e2e-wrangler-${process.pid}.log`);
  const out = openSync(log, 'w');
  worker = spawn(path.join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['dev', '-c', configPath, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', path.join(stateDir, 'state'), '--inspector-port', String(await freePort())],
    { cwd: ROOT, stdio: ['ignore', out, out], detached: true, env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_HIDE_BANNER: 'true' } });
  closeSync(out);
  worker.log = log;
  await waitFor(`${base}/index.html`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (worker && worker.exitCode === null) process.kill(-worker.pid, 'SIGTERM');
  await anvil?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function reader({ budget } = {}) {
  const context = await browser.newContext();
  await context.addInitScript(([rpc, budgetJson]) => {
    localStorage.setItem('x402-demo:rpc', rpc);
    if (budgetJson && !sessionStorage.getItem('budget-set')) { localStorage.setItem('x402:budget', budgetJson); sessionStorage.setItem('budget-set', '1'); }
  }, [anvil.rpcUrl, budget ? JSON.stringify(budget) : null]);
  return context;
}

const box = (page) => page.locator('.x402-box');

test('a reader unlocks an article, reloads for free, pays again for a second one', async () => {
  const context = await reader();
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, PAYER.address);
  await page.goto(`${base}/articles/one.html`);
  const unlock = page.getByRole('button', { name: /Unlock for 0\.01 USDC|Pay 0\.01 USDC/ });
  await unlock.click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.equal(await box(page).getAttribute('data-state'), 'unlocked');
  const paidText = readFileSync(path.join(ROOT, 'www', 'paid', 'one.html'), 'utf8').replace(/<[^>]+>/g, ' ').trim().split(/\s+/).slice(0, 4).join(' ');
  assert.ok((await page.locator('[data-x402-src]').innerText()).includes(paidText), 'the paid content is in the page');
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start - 10_000n, 'exactly $0.01 moved');
  const receipts = await page.evaluate(async () => (await import('/x402/x402.js')).listReceipts());
  assert.equal(receipts.length, 1);
  assert.equal(receipts[0].price, '0.01');
  assert.match(receipts[0].transaction, /^0x[0-9a-f]{64}$/);
  await page.screenshot({ path: path.join(ART, 'e2e-unlocked-article.png'), fullPage: true });

  await page.reload();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(), /already paid/);
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start - 10_000n, 'reload: no new transfer');

  await page.goto(`${base}/articles/two.html`);
  await page.getByRole('button', { name: /0\.02 USDC/ }).click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start - 30_000n, 'a second article, a second payment');

  // The index lists both receipts, newest first, as text.
  await page.goto(`${base}/`);
  const items = page.locator('[data-x402-receipts] li');
  await items.nth(1).waitFor();
  assert.equal(await items.count(), 2);
  assert.match(await items.nth(0).innerText(), /^0\.02 USDC for \/paid\/two\.html on .+ \(transaction 0x[0-9a-f]{64}\)$/);
  assert.match(await items.nth(1).innerText(), /^0\.01 USDC for \/paid\/one\.html /);
  await page.screenshot({ path: path.join(ART, 'e2e-receipts.png'), fullPage: true });
  await context.close();
});

test('a budget below the price refuses with its message, and nothing is paid', async () => {
  const context = await reader({ budget: { limit: '20000', periodSeconds: 86400, spent: {} } });
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, PAYER.address);
  await page.goto(`${base}/articles/three.html`);
  await page.locator('.x402-box[data-state=failed]').waitFor();
  assert.equal(await box(page).getAttribute('data-code'), 'over_budget');
  assert.match(await box(page).innerText(), /exceed the budget/);
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start);
  await context.close();
});

test("the publisher's options on the script tag are applied: a lower maximum, other networks, a budget", async () => {
  const context = await reader();
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, PAYER.address);
  // The publisher's page with attributes on its script tag (the demo pages have none).
  let attrs = '';
  await page.route('**/articles/three.html', async (route) => {
    const res = await route.fetch();
    const html = (await res.text()).replace('<script type="module" src="/x402/x402.js">', `<script type="module" src="/x402/x402.js" ${attrs}>`);
    assert.ok(html.includes(attrs), 'the script tag was rewritten');
    await route.fulfill({ response: res, body: html });
  });
  const refused = async (code, words) => {
    await page.goto(`${base}/articles/three.html`);
    await page.locator('.x402-box[data-state=failed]').waitFor();
    assert.equal(await box(page).getAttribute('data-code'), code);
    assert.match(await box(page).innerText(), words);
    assert.equal(await page.getByRole('button', { name: /Try again/ }).count(), 0, 'no retry offered for a refusal');
  };
  attrs = 'data-max-amount="40000"'; // article three costs $0.05 = 50000
  await refused('over_max', /above the maximum per payment 40000/);
  attrs = 'data-networks="eip155:8453, eip155:84532"'; // the demo Worker offers eip155:31337 only
  await refused('no_acceptable_requirement', /network eip155:31337 is not allowed/);
  attrs = 'data-budget="30000"';
  await refused('over_budget', /exceed the budget/);
  attrs = 'data-max-amount="a lot"';
  await refused('invalid_config', /maxAmount/);
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start, 'nothing was paid');
  // A maximum at the price is accepted: the pay box offers the unlock.
  attrs = 'data-max-amount="50000" data-networks="eip155:31337"';
  await page.goto(`${base}/articles/three.html`);
  await page.getByRole('button', { name: /0\.05 USDC/ }).waitFor();
  await context.close();
});
