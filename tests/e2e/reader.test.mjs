// End to end, as a reader: Debian's Chromium (playwright-core) on the demo site served by the
// Worker (wrangler dev / workerd) that settles on a real anvil. The stack is started here on free
// ports (never 8545/8787): anvil + TestUSDC, then wrangler dev with a copy of wrangler.toml whose
// rpcUrl points at that anvil (tests/e2e/lib/stack.mjs). The reader's wallet is the demo wallet
// (www/demo-wallet.js), an EIP-6963 provider in the page that forwards signing to an anvil dev
// account.
// Needs: scripts/build-browser and scripts/build-worker run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startAnvil, deployToken, balanceOf, ROLES } from '../js/lib/chain.mjs';
import { ART, ROOT, checkBuilt, launchChromium, startWorker, withoutChannels } from './lib/stack.mjs';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const PAYER = ROLES.payers[0]; // the demo wallet's default account (#1)
// The key the Worker signs offers and receipts with.
const RECEIPT_KEY = (() => {
  const privateKey = generatePrivateKey();
  return { privateKey, address: privateKeyToAccount(privateKey).address };
})();
let anvil, worker, browser, base;

before(async () => {
  checkBuilt();
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  // The exact path's pay box: the demo without channels (tests/e2e/credit.test.mjs has them),
  // with Sign-In-With-X (the demo's publicOrigin, made this Worker's own) and signed receipts.
  worker = await startWorker(anvil.rpcUrl, withoutChannels, { secrets: { X402_RECEIPT_KEY: RECEIPT_KEY.privateKey } });
  base = worker.base;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await anvil?.stop();
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
  await unlock.waitFor();
  // Who is paid, next to the price: the site, the payee (shortened), the network by name.
  const host = new URL(base).host.replace(/\./g, '\\.');
  assert.match(await box(page).innerText(), new RegExp(`Unlock for 0\\.01 USDC to ${host} \\(0x2361…1E8f\\) on local test chain — `));
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
  // Each with the seller's signature checked: who signed the receipt (the Worker's receipt key).
  const signedBy = `; receipt signed by ${RECEIPT_KEY.address}`;
  assert.match(await items.nth(0).innerText(), /^0\.02 USDC for \/paid\/two\.html on .+ \(transaction 0x[0-9a-f]{64}\); receipt signed by /);
  assert.ok((await items.nth(0).innerText()).endsWith(signedBy), await items.nth(0).innerText());
  assert.match(await items.nth(1).innerText(), /^0\.01 USDC for \/paid\/one\.html /);
  assert.ok((await items.nth(1).innerText()).endsWith(signedBy));
  // The reader can save them: a JSON file of what this device keeps, signed receipts included.
  const link = page.getByRole('link', { name: 'Export your receipts (JSON)' });
  const saved = await link.evaluate(async (a) => ({ name: a.download, json: await (await fetch(a.href)).json() }));
  assert.equal(saved.name, `x402-receipts-${new URL(base).host}.json`);
  assert.equal(saved.json.length, 2);
  assert.equal(saved.json[1].signed.payload.resourceUrl, `${base}/paid/two.html`);
  // A receipt changed on this device (here: its page) is flagged, not shown as signed.
  await page.evaluate(() => {
    const all = JSON.parse(localStorage.getItem('x402:receipts'));
    all[0].signed.payload.resourceUrl = all[0].signed.payload.resourceUrl.replace('one.html', 'two.html');
    localStorage.setItem('x402:receipts', JSON.stringify(all));
  });
  await page.reload();
  await items.nth(1).waitFor();
  assert.match(await items.nth(1).innerText(), /; signed receipt for another purchase \(by 0x[0-9a-fA-F]{40}\)$/);
  assert.ok(!(await items.nth(1).innerText()).includes(RECEIPT_KEY.address), 'not the receipt key');
  assert.ok((await items.nth(0).innerText()).endsWith(signedBy), 'the other one is untouched');
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

test('bought in one browser, restored in another with no cookies: one signature, no payment, the article shown', async () => {
  const start = await balanceOf(anvil.rpcUrl, PAYER.address);
  const laptop = await reader();
  const first = await laptop.newPage();
  await first.goto(`${base}/articles/three.html`);
  await first.getByRole('button', { name: /Unlock for 0\.05 USDC/ }).click();
  await first.locator('[data-x402-state=unlocked]').waitFor();
  // The article inserted after the pay box (the box's own words differ between the two devices).
  const paid = (page) => page.locator('[data-x402-src] > .x402-box ~ *').allTextContents();
  const article = await paid(first);
  assert.ok(article.join('').includes('paid-content:three'), article.join(''));
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start - 50_000n);
  await laptop.close();

  // Another device: a fresh context, no cookies, no pass, no receipts; the same wallet.
  const phone = await reader();
  const page = await phone.newPage();
  await page.goto(`${base}/articles/three.html`);
  const restore = page.getByRole('button', { name: 'Already bought it? Restore with your wallet' });
  await restore.waitFor();
  await page.screenshot({ path: path.join(ART, 'e2e-restore-offer.png'), fullPage: true });
  await restore.click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(), /Restored: this wallet bought it before\. Nothing was paid\./);
  assert.deepEqual(await paid(page), article, 'the same article');
  assert.equal(await balanceOf(anvil.rpcUrl, PAYER.address), start - 50_000n, 'nothing charged');
  // What the wallet was asked on this device: one message to sign, no payment to sign.
  const asked = await page.evaluate(() => JSON.parse(localStorage.getItem('x402-demo:log')));
  assert.equal(asked.filter((m) => m === 'personal_sign').length, 1, asked.join());
  assert.equal(asked.filter((m) => m === 'eth_signTypedData_v4').length, 0, asked.join());
  await page.screenshot({ path: path.join(ART, 'e2e-restored-article.png'), fullPage: true });
  // The pass it got opens the article on reload without asking again.
  await page.reload();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(), /already paid/);

  // A wallet that never bought article two: not restored, the offer stays, nothing moves.
  await page.evaluate(() => localStorage.setItem('x402-demo:account', '5'));
  await page.goto(`${base}/articles/two.html`);
  const other = await balanceOf(anvil.rpcUrl, ROLES.payers[4].address);
  await restore.click();
  await page.getByText(/Not restored: this wallet has not bought it\./).waitFor();
  assert.ok(await page.getByRole('button', { name: /0\.02 USDC/ }).isVisible(), 'the offer is still there');
  assert.equal(await balanceOf(anvil.rpcUrl, ROLES.payers[4].address), other);
  await phone.close();
});

