// Opening a paid URL directly (the Worker's HTML paywall page), as a new user following the README
// does (issue #9, item 5). With the demo configuration the page carries the demo wallet
// (`paywallScripts`) and the pay box offers the unlock; without it there is no wallet, and the pay
// box says a wallet is needed and what the article costs, without having tried to pay and without
// the word "failed". A wallet that announces itself later brings the offer. The drop-in itself
// never loads the demo wallet. Screenshots of both land in tests/artifacts/.
// Needs: scripts/build-browser and scripts/build-worker run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { balanceOf, deployToken, startAnvil, ROLES } from '../js/lib/chain.mjs';
import { ART, checkBuilt, launchChromium, readerContext, startWorker, withoutChannels } from './lib/stack.mjs';

let anvil, demo, bare, browser;

before(async () => {
  checkBuilt();
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  [demo, bare] = await Promise.all([
    startWorker(anvil.rpcUrl, withoutChannels),
    startWorker(anvil.rpcUrl, (toml) => withoutChannels(toml.replace(/^paywallScripts = .*$/m, ''))),
  ]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await Promise.all([demo?.stop(), bare?.stop()]);
  await anvil?.stop();
});

/** Every request the page makes, and whether any carried a payment. */
function watch(page) {
  const urls = [];
  let paid = 0;
  page.on('request', (r) => {
    urls.push(r.url());
    if (r.headers()['payment-signature'] || r.headers()['x-payment']) paid++;
  });
  return { urls, paid: () => paid };
}

test('without a wallet the paywall page says one is needed, with the price, and tries nothing', async () => {
  const context = await readerContext(browser, anvil.rpcUrl);
  const page = await context.newPage();
  const seen = watch(page);
  const res = await page.goto(`${bare.base}/paid/three.html`);
  assert.equal(res.status(), 402);
  const box = page.locator('.x402-box');
  await page.locator('.x402-box[data-state=needs-wallet]').waitFor();
  const text = await box.innerText();
  assert.match(text, /Unlocking costs 0\.05 USDC/);
  assert.match(text, /you need a browser wallet that supports EIP-6963/);
  assert.match(text, /on local test chain/);
  assert.doesNotMatch(await page.locator('body').innerText(), /failed/i);
  assert.equal(await page.getByRole('button', { name: /Try again/ }).count(), 0);
  assert.equal(await box.locator('button').count(), 0);
  assert.equal(seen.paid(), 0, 'no payment was attempted');
  assert.ok(!seen.urls.some((u) => u.includes('demo-wallet')), 'the drop-in does not load the demo wallet');
  await page.screenshot({ path: path.join(ART, 'e2e-paywall-no-wallet.png'), fullPage: true });

  // A wallet that announces itself later (EIP-6963) brings the offer.
  await page.evaluate(() => {
    const provider = { request: async () => { throw Object.assign(new Error('test wallet'), { code: 4001 }); } };
    const detail = Object.freeze({ info: { uuid: 'late-wallet', name: 'Late wallet', icon: '', rdns: 'test.late' }, provider });
    window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
  });
  await page.getByRole('button', { name: /Unlock for 0\.05 USDC/ }).waitFor();
  assert.equal(await box.getAttribute('data-state'), 'offer');
  await context.close();
});

test('with the demo configuration the paywall page offers the demo wallet and unlocks', async () => {
  const payer = ROLES.payers[0];
  const context = await readerContext(browser, anvil.rpcUrl);
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  const res = await page.goto(`${demo.base}/paid/three.html`);
  assert.equal(res.status(), 402);
  const unlock = page.getByRole('button', { name: /Unlock for 0\.05 USDC/ });
  await unlock.waitFor();
  assert.doesNotMatch(await page.locator('body').innerText(), /failed/i);
  await page.screenshot({ path: path.join(ART, 'e2e-paywall-demo-wallet.png'), fullPage: true });
  await unlock.click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await page.locator('[data-x402-src]').innerText(), /paid-content:three/);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 50_000n);
  await page.screenshot({ path: path.join(ART, 'e2e-paywall-unlocked.png'), fullPage: true });
  await context.close();
});
