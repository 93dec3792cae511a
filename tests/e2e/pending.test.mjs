// A settlement that is slow to confirm never costs a second payment (issue #9, item 2): anvil with
// automine off, the Worker waiting 3 s for a receipt, so the first paid answer is 402
// `settlement_pending`. In Chromium, the reader's pay box says the payment was sent and waits,
// re-sending the same payment (also after a reload); once the block is mined the article appears,
// with exactly one transfer on chain and one signature request to the wallet. In Node, the npm
// `wrapFetch` (x402-wasm/local) does the same within one process.
// Needs: scripts/build-browser and scripts/build-worker run first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { balanceOf, deployToken, rpc, startAnvil, transferCount, ROLES } from '../js/lib/chain.mjs';
import { ART, checkBuilt, launchChromium, readerContext, rpcCounter, startWorker, withoutChannels } from './lib/stack.mjs';

let anvil, worker, browser, wallet;

before(async () => {
  checkBuilt();
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  worker = await startWorker(anvil.rpcUrl, (toml) => withoutChannels(toml.replace('receiptTimeoutSeconds = 20', 'receiptTimeoutSeconds = 3')));
  wallet = await rpcCounter(anvil.rpcUrl);
  browser = await launchChromium();
});

after(async () => {
  await rpc(anvil.rpcUrl, 'evm_setAutomine', [true]).catch(() => {});
  await browser?.close();
  await worker?.stop();
  await wallet?.close();
  await anvil?.stop();
});

const pendingWords = /Payment sent; waiting for the network to confirm it/;

test('the pay box waits for a pending settlement, across a reload, and the reader pays once', async () => {
  const payer = ROLES.payers[0]; // the demo wallet's account
  const context = await readerContext(browser, wallet.url);
  const page = await context.newPage();
  const box = page.locator('.x402-box');
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  const transfers = await transferCount(anvil.rpcUrl);
  await page.goto(`${worker.base}/articles/one.html`);
  const unlock = page.getByRole('button', { name: /Unlock for 0\.01 USDC/ });
  await unlock.waitFor();
  await rpc(anvil.rpcUrl, 'evm_setAutomine', [false]);
  try {
    await unlock.click();
    await page.locator('.x402-box[data-state=pending]').waitFor({ timeout: 30_000 });
    assert.match(await box.innerText(), pendingWords);
    assert.doesNotMatch(await box.innerText(), /failed/i);
    assert.equal(await box.locator('button').count(), 0, 'nothing to click while the payment is pending (no "Try again")');
    const key = `x402:pending:${worker.base}/paid/one.html`;
    const kept = JSON.parse(await page.evaluate((k) => localStorage.getItem(k), key));
    assert.equal(kept.name, 'PAYMENT-SIGNATURE');
    await page.screenshot({ path: path.join(ART, 'e2e-pending.png'), fullPage: true });

    // The reader reloads: the kept payment is sent again before anything else (no offer, no
    // wallet), and the box waits again.
    await page.reload();
    await page.locator('.x402-box[data-state=pending]').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByRole('button').count(), 0);
    // Still nothing mined, one signature.
    assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start);
    assert.equal(wallet.count('eth_signTypedData_v4'), 1);
  } finally {
    await rpc(anvil.rpcUrl, 'evm_setAutomine', [true]);
  }
  await rpc(anvil.rpcUrl, 'evm_mine', []);
  // The next automatic retry (at most 10 s away) gets the article.
  await page.locator('[data-x402-state=unlocked]').waitFor({ timeout: 40_000 });
  assert.match(await page.locator('[data-x402-src]').innerText(), /paid-content:one/);
  assert.equal(await box.getAttribute('data-state'), 'unlocked');
  assert.match(await box.innerText(), /You paid 0\.01 USDC/);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 10_000n, 'charged exactly once');
  assert.equal(await transferCount(anvil.rpcUrl), transfers + 1, 'one transfer on chain');
  assert.equal(wallet.count('eth_signTypedData_v4'), 1, 'one signature request reached the wallet');
  const { receipts, left } = await page.evaluate(async (k) => ({
    receipts: (await import('/x402/x402.js')).listReceipts(),
    left: localStorage.getItem(k),
  }), `x402:pending:${worker.base}/paid/one.html`);
  assert.equal(receipts.length, 1, 'the receipt is kept (the offer came back with the kept payment)');
  assert.equal(receipts[0].price, '0.01');
  assert.equal(left, null, 'the pending payment is gone once the content came');
  await page.screenshot({ path: path.join(ART, 'e2e-pending-unlocked.png'), fullPage: true });
  await context.close();
});

test('npm wrapFetch: a second call re-sends the pending payment, one signature, one transfer', async () => {
  // X402_LOCAL_JS: another build of x402-wasm/local (to see this fail on an older one).
  const { wrapFetch, localWallet } = await import(process.env.X402_LOCAL_JS ?? '../../js/local.js');
  const payer = ROLES.payers[1];
  const key = localWallet(payer.privateKey);
  let signatures = 0;
  const signer = { address: key.address, signTypedData: (typed) => { signatures++; return key.signTypedData(typed); } };
  const states = [];
  const pay = wrapFetch(fetch, signer, { onStatus: (s) => states.push(s) });
  const url = `${worker.base}/paid/two.html`;
  const start = await balanceOf(anvil.rpcUrl, payer.address);
  const transfers = await transferCount(anvil.rpcUrl);
  await rpc(anvil.rpcUrl, 'evm_setAutomine', [false]);
  try {
    const first = await pay(url);
    assert.equal(first.status, 402, 'the pending answer is returned, not thrown');
    assert.match(await first.text(), /settlement_pending/);
    assert.deepEqual(states, ['connect', 'sign', 'settling', 'pending']);
    // Called again before the block: the same payment, still pending, no new signature.
    const again = await pay(url);
    assert.equal(again.status, 402);
    await again.text();
    assert.equal(signatures, 1);
  } finally {
    await rpc(anvil.rpcUrl, 'evm_setAutomine', [true]);
  }
  await rpc(anvil.rpcUrl, 'evm_mine', []);
  const second = await pay(url);
  assert.equal(second.status, 200);
  assert.match(await second.text(), /paid-content:two/);
  assert.equal(signatures, 1, 'one signature');
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), start - 20_000n, 'charged exactly once');
  assert.equal(await transferCount(anvil.rpcUrl), transfers + 1, 'one transfer');
});
