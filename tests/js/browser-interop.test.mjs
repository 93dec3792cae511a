// Interop: this package's paying fetch (the x402-wasm/local build, local-key wallet) pays a
// server built with the reference middleware (@x402/hono) whose reference facilitator settles
// on a real anvil. Balances are read from the chain.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAnvil, deployToken, balanceOf, ROLES } from './lib/chain.mjs';
import { startReferenceServer } from '../npm/ref-server.mjs';
import { wrapFetch, localWallet, paymentReceipt } from '../../js/local.js';

let anvil, server;
before(async () => {
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  server = await startReferenceServer(anvil.rpcUrl);
});
after(async () => {
  await server?.close();
  await anvil?.stop();
});

const payTo = ROLES.payTo.address;

test('pays a reference @x402/hono server; the payer loses exactly the price on chain', async () => {
  const payer = ROLES.payers[0];
  const [before0, beforeTo] = [await balanceOf(anvil.rpcUrl, payer.address), await balanceOf(anvil.rpcUrl, payTo)];
  const offers = [];
  const pay = wrapFetch(fetch, localWallet(payer.privateKey), { confirm: (o) => { offers.push(o); return true; } });
  const res = await pay(`${server.url}/paid`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'paid content');
  const receipt = paymentReceipt(res);
  assert.equal(receipt.success, true);
  assert.match(receipt.transaction, /^0x[0-9a-f]{64}$/);
  assert.equal(receipt.payer, payer.address);
  assert.equal(offers.length, 1);
  assert.equal(offers[0].amount, '10000');
  assert.equal(offers[0].price, '0.01');
  assert.equal(offers[0].network, 'eip155:31337');
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), before0 - 10000n);
  assert.equal(await balanceOf(anvil.rpcUrl, payTo), beforeTo + 10000n);
});

test('a POST body survives the paid retry', async () => {
  const pay = wrapFetch(fetch, localWallet(ROLES.payers[1].privateKey));
  const res = await pay(`${server.url}/echo`, { method: 'POST', body: 'hello body', headers: { 'content-type': 'text/plain' } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'echo:hello body');
});

test('over the default maximum ($0.10): over_max, nothing signed, nothing moved', async () => {
  const payer = ROLES.payers[2];
  const before0 = await balanceOf(anvil.rpcUrl, payer.address);
  const wallet = localWallet(payer.privateKey);
  let signed = 0;
  const counting = { address: wallet.address, signTypedData: (t) => { signed++; return wallet.signTypedData(t); } };
  await assert.rejects(wrapFetch(fetch, counting)(`${server.url}/dear`), { code: 'over_max' });
  assert.equal(signed, 0);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), before0);
});

test('a budget per origin (in memory in Node) stops the second payment', async () => {
  const payer = ROLES.payers[3];
  const before0 = await balanceOf(anvil.rpcUrl, payer.address);
  const pay = wrapFetch(fetch, localWallet(payer.privateKey), { budget: { limit: '15000' } });
  assert.equal((await pay(`${server.url}/paid`)).status, 200);
  await assert.rejects(pay(`${server.url}/paid`), (e) => e.code === 'over_budget' && /budget/.test(e.message));
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), before0 - 10000n);
});

test('a lost response: the retry re-sends the same signed payment, never a second signature', async () => {
  const payer = ROLES.payers[4];
  const before0 = await balanceOf(anvil.rpcUrl, payer.address);
  const wallet = localWallet(payer.privateKey);
  let signed = 0;
  const counting = { address: wallet.address, signTypedData: (t) => { signed++; return wallet.signTypedData(t); } };
  const sent = [];
  let dropNext = true;
  // The real request reaches the server and settles; only its response is lost on the way back.
  const lossy = async (req) => {
    const sig = req.headers.get('payment-signature');
    if (sig) sent.push(sig);
    const res = await fetch(req);
    if (sig && dropNext) { dropNext = false; await res.arrayBuffer(); throw new TypeError('network connection lost'); }
    return res;
  };
  const pay = wrapFetch(lossy, counting);
  await assert.rejects(pay(`${server.url}/paid`), TypeError);
  const again = await pay(`${server.url}/paid`);
  assert.equal(signed, 1, 'signed once');
  assert.equal(sent.length, 2);
  assert.equal(sent[1], sent[0], 'the same payload was re-sent');
  // The reference refuses the used authorization: no second charge.
  assert.equal(again.status, 402);
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), before0 - 10000n);
});
