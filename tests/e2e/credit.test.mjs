// End to end, a reader with credit: Debian's Chromium on the demo site served by the Worker
// (wrangler dev, the demo configuration with batch-settlement channels) on anvil with TestUSDC and
// the batch-settlement stand-in contracts; the reader's wallet is the demo wallet (an EIP-6963
// provider in the page whose every request is logged in localStorage['x402-demo:log']).
// The reader adds credit once (exactly one signing request reaches the wallet), unlocks three
// articles with no further wallet request at all, sees the credit fall by each price, reloads
// (the access pass keeps the article unlocked) and withdraws the rest, which comes back on chain.
// Another reader pays one article alone (the exact offer next to the credit offer), then restores
// it on another device from the credit box (Sign-In-With-X: one message, no payment).
// Screenshots of the pay box before and after land in tests/artifacts/.
// Needs: scripts/build-browser and scripts/build-worker run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startAnvil, deployToken, deployBatchSettlement, balanceOf, rpc, ROLES } from '../js/lib/chain.mjs';
import { ART, checkBuilt, launchChromium, startWorker } from './lib/stack.mjs';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

let anvil, worker, browser, base, host;
// The key the Worker signs offers and receipts with.
const RECEIPT_KEY = (() => {
  const privateKey = generatePrivateKey();
  return { privateKey, address: privateKeyToAccount(privateKey).address };
})();

before(async () => {
  checkBuilt();
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  await deployBatchSettlement(anvil.rpcUrl);
  worker = await startWorker(anvil.rpcUrl, undefined, { secrets: { X402_RECEIPT_KEY: RECEIPT_KEY.privateKey } });
  base = worker.base;
  host = new URL(base).host;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await anvil?.stop();
});

/** A reader's browser context: the demo wallet on `account` (anvil index), talking to our anvil. */
async function reader(account) {
  const context = await browser.newContext();
  await context.addInitScript(([rpc, index]) => {
    localStorage.setItem('x402-demo:rpc', rpc);
    localStorage.setItem('x402-demo:account', String(index));
  }, [anvil.rpcUrl, account]);
  return context;
}

const box = (page) => page.locator('.x402-box');
const walletLog = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('x402-demo:log') ?? '[]'));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a reader adds credit once, unlocks three articles with no wallet prompt, reloads, withdraws the rest', async () => {
  const payer = ROLES.payers[0]; // the demo wallet's account #1
  const context = await reader(1);
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, payer.address);

  await page.goto(`${base}/articles/one.html`);
  const add = page.getByRole('button', { name: 'Add 0.50 USDC of credit' });
  await add.waitFor();
  // Both offers, with the amounts of the challenge: the credit, and this article alone.
  assert.match(await box(page).innerText(), new RegExp(
    `Add 0\\.50 USDC of credit to ${escape(host)} \\(one signature\\), then unlock articles without asking; `
    + `or unlock this article alone for 0\\.01 USDC to ${escape(host)} \\(0x2361…1E8f\\) on local test chain\\.`,
  ));
  assert.equal(await page.getByRole('button', { name: 'Unlock this article for 0.01 USDC' }).count(), 1);
  assert.deepEqual(await walletLog(page), [], 'nothing asked of the wallet before the reader chooses');
  await box(page).screenshot({ path: path.join(ART, 'e2e-credit-offer.png') });

  await add.click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(),
    /^Unlocked\. You added 0\.50 USDC of credit \(transaction 0x[0-9a-f]{8}…\) and paid 0\.01 USDC from your credit; 0\.49 USDC left\./);
  const signing = (await walletLog(page)).filter((m) => m === 'eth_signTypedData_v4');
  assert.equal(signing.length, 1, 'exactly one signing request: the deposit');
  const afterDeposit = (await walletLog(page)).length;
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 500_000n, 'the deposit left the wallet, once');

  // Two more articles: one click each, no wallet request of any kind, the credit falls by each price.
  for (const [article, price, left] of [['two', '0.02', '0.47'], ['three', '0.05', '0.42']]) {
    await page.goto(`${base}/articles/${article}.html`);
    const unlock = page.getByRole('button', { name: `Unlock for ${price} USDC` });
    await unlock.waitFor();
    const credit = (Number(left) + Number(price)).toFixed(2);
    assert.match(await box(page).innerText(), new RegExp(`Unlock for ${escape(price)} USDC from your credit with ${escape(host)} \\(${credit} USDC left\\)\\. No wallet prompt\\.`));
    if (article === 'three') await box(page).screenshot({ path: path.join(ART, 'e2e-credit-next-article.png') });
    await unlock.click();
    await page.locator('[data-x402-state=unlocked]').waitFor();
    assert.match(await box(page).innerText(), new RegExp(`^Unlocked\\. Paid ${escape(price)} USDC from your credit; ${escape(left)} USDC left\\.`));
  }
  assert.equal((await walletLog(page)).length, afterDeposit, 'no wallet request after the deposit');
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 500_000n, 'no transfer for the vouchers');
  await box(page).screenshot({ path: path.join(ART, 'e2e-credit-unlocked.png') });

  // A reload: the access pass serves it, nothing is paid.
  await page.reload();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(), /already paid/);
  assert.equal((await walletLog(page)).length, afterDeposit);

  // The index lists the deposit and the three charges, newest first, as text.
  await page.goto(`${base}/`);
  await page.locator('[data-x402-receipts] li').first().waitFor();
  const receipts = await page.locator('[data-x402-receipts] li').allInnerTexts();
  assert.equal(receipts.length, 4, receipts.join('\n'));
  assert.match(receipts[0], /^0\.05 USDC for \/paid\/three\.html, from your credit on /);
  // Each charge from the credit with the seller's receipt, its signature checked on the device.
  for (const r of receipts.slice(0, 3)) assert.ok(r.endsWith(`; receipt signed by ${RECEIPT_KEY.address}`), r);
  assert.match(receipts[3], new RegExp(`^0\\.50 USDC of credit added to ${escape(host)} \\(transaction 0x[0-9a-f]{64}\\) on `));
  await context.close();

  // Another device (no cookie, no pass, no channel state): an article paid from the credit is
  // restored with one message to sign, and nothing is paid or deposited.
  const phone = await reader(1);
  const again = await phone.newPage();
  await again.goto(`${base}/articles/two.html`);
  await again.getByRole('button', { name: 'Already bought it? Restore with your wallet' }).click();
  await again.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(again).innerText(), /Restored: this wallet bought it before\. Nothing was paid\./);
  assert.match(await again.locator('[data-x402-src]').innerText(), /paid-content:two/);
  assert.deepEqual((await walletLog(again)).filter((m) => /sign/i.test(m)), ['personal_sign']);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 500_000n, 'nothing more left the wallet');
  await phone.close();
});

test('the credit left is withdrawn from the pay box and comes back on chain', async () => {
  const payer = ROLES.payers[1];
  const context = await reader(2);
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  await page.goto(`${base}/articles/two.html`);
  await page.getByRole('button', { name: 'Add 0.50 USDC of credit' }).click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  const withdraw = page.getByRole('button', { name: 'Withdraw remaining credit' });
  await withdraw.click();
  await page.locator('.x402-box[data-state=withdrawn]').waitFor({ timeout: 15_000 }).catch(async (e) => { throw new Error(`${e.message}: the box says ${await box(page).innerText()}`); });
  assert.match(await box(page).innerText(), /^0\.48 USDC of credit returned to your wallet \(transaction 0x[0-9a-f]{8}…\)\.$/);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 20_000n, 'the reader paid exactly the article');
  assert.equal((await walletLog(page)).filter((m) => m === 'eth_signTypedData_v4').length, 1, 'the refund asks the wallet nothing');
  // On the next article the box offers credit again (nothing left).
  await page.goto(`${base}/articles/one.html`);
  await page.getByRole('button', { name: /Add 0\.50 USDC of credit|Unlock for 0\.01 USDC/ }).first().waitFor();
  assert.equal(await page.getByRole('button', { name: 'Add 0.50 USDC of credit' }).count(), 1);
  await context.close();
});

test('a reader who pays for one article alone pays it with the exact offer, one signature', async () => {
  const payer = ROLES.payers[2];
  const context = await reader(3);
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  await page.goto(`${base}/articles/one.html`);
  await page.getByRole('button', { name: 'Unlock this article for 0.01 USDC' }).click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(page).innerText(), /^Unlocked\. You paid 0\.01 USDC; receipt 0x[0-9a-f]{8}… kept on this device\./);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 10_000n);
  assert.equal((await walletLog(page)).filter((m) => m === 'eth_signTypedData_v4').length, 1);
  await context.close();

  // The same reader on another device (no cookie, no pass): the credit box also offers to
  // restore the article bought alone, with one message to sign and no payment.
  const other = await reader(3);
  const again = await other.newPage();
  await again.goto(`${base}/articles/one.html`);
  await again.getByRole('button', { name: /^Add .* of credit$/ }).waitFor();
  await again.getByRole('button', { name: 'Already bought it? Restore with your wallet' }).click();
  await again.locator('[data-x402-state=unlocked]').waitFor();
  assert.match(await box(again).innerText(), /Restored: this wallet bought it before\. Nothing was paid\./);
  assert.match(await again.locator('[data-x402-src]').innerText(), /paid-content:one/);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 10_000n, 'nothing charged');
  const asked = await walletLog(again);
  assert.deepEqual(asked.filter((m) => /sign/i.test(m)), ['personal_sign'], asked.join());
  await other.close();
});

// Runs last: it moves the chain's clock by a quarter of an hour.
test('when the site does not return the credit, the reader withdraws it on chain: start, then collect after the delay', async () => {
  const payer = ROLES.payers[3];
  const context = await reader(4);
  const page = await context.newPage();
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  await page.goto(`${base}/articles/one.html`);
  await page.getByRole('button', { name: 'Add 0.50 USDC of credit' }).click();
  await page.locator('[data-x402-state=unlocked]').waitFor();
  // The site stops answering refunds (a route: the Worker itself cannot be made to fail this way).
  await page.route('**/paid/**', (route) => {
    const sig = route.request().headers()['payment-signature'];
    const payload = sig ? JSON.parse(Buffer.from(sig, 'base64').toString()).payload : undefined;
    return payload?.type === 'refund' ? route.fulfill({ status: 503, body: 'unavailable' }) : route.continue();
  });
  await page.getByRole('button', { name: 'Withdraw remaining credit' }).click();
  await page.getByRole('button', { name: 'Withdraw it myself on chain' }).waitFor();
  assert.match(await box(page).innerText(), /did not return your credit \(http_503\)\. It stays in the channel/);
  await page.getByRole('button', { name: 'Withdraw it myself on chain' }).click();
  await page.getByRole('button', { name: 'Collect withdrawn credit' }).waitFor();
  assert.match(await box(page).innerText(), /^Withdrawal of 0\.49 USDC started \(transaction 0x[0-9a-f]{8}…\)\. Collect it after /);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 500_000n, 'nothing back yet');
  // Too early: said so, nothing sent.
  await page.getByRole('button', { name: 'Collect withdrawn credit' }).click();
  await page.locator('.x402-box[data-state=failed]').waitFor();
  assert.match(await box(page).innerText(), /can be collected after/);
  // A quarter of an hour later (the chain's clock moved by anvil, the page's record with it).
  await rpc(anvil.rpcUrl, 'evm_increaseTime', [901]);
  await rpc(anvil.rpcUrl, 'evm_mine', []);
  await page.evaluate(() => {
    for (const k of Object.keys(localStorage).filter((k) => k.startsWith('x402:withdrawal:'))) {
      localStorage.setItem(k, JSON.stringify({ ...JSON.parse(localStorage.getItem(k)), after: Math.floor(Date.now() / 1000) - 1 }));
    }
  });
  await page.getByRole('button', { name: 'Collect withdrawn credit' }).click();
  await page.locator('.x402-box[data-state=withdrawn]').waitFor();
  assert.match(await box(page).innerText(), /^0\.49 USDC of credit returned to your wallet \(transaction 0x[0-9a-f]{8}…\)\.$/);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 10_000n, 'the reader paid exactly the article');
  const log = await walletLog(page);
  assert.equal(log.filter((m) => m === 'eth_signTypedData_v4').length, 1);
  assert.equal(log.filter((m) => m === 'eth_sendTransaction').length, 2, 'initiate and finalize, sent by the wallet');
  await box(page).screenshot({ path: path.join(ART, 'e2e-credit-withdrawn.png') });
  await context.close();
});
