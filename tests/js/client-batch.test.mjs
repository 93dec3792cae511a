// Our paying client (the x402-wasm/local build: wrapFetch + localWallet with `channels`) paying
// batch-settlement offers (x402 specs/schemes/batch-settlement/scheme_batch_settlement_evm.md,
// "Client behavior") against real components on one anvil carrying the stand-in contracts:
// our Worker under workerd (100 requests on one deposit), the reference batch server
// (@x402/hono + @x402/evm batch server scheme + in-process reference facilitator; 20 requests,
// then the reference channel manager's claimAndSettle), and the client's rules (maxDeposit,
// an overcharging server, a wiped client state recovered from the Worker's corrective 402).
// Every money check reads the chain.
//
//   bash scripts/build-browser && node --test tests/js/client-batch.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Hono } from 'hono';
import { x402Facilitator } from '@x402/core/facilitator';
import { x402ResourceServer } from '@x402/core/server';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { BatchSettlementEvmScheme as FacilitatorScheme } from '@x402/evm/batch-settlement/facilitator';
import { BatchSettlementEvmScheme as ServerScheme } from '@x402/evm/batch-settlement/server';
import { paymentMiddleware } from '@x402/hono';
import { createWalletClient, defineChain, http, publicActions } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { serveHono } from '../npm/ref-server.mjs';
import {
  ANVIL_ACCOUNTS,
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ROLES,
  TOKEN_ADDRESS,
  TOKEN_NAME,
  TOKEN_VERSION,
  balanceOf,
  deployBatchSettlement,
  deployToken,
  publicClient,
  startAnvil,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';
import { localWallet, wrapFetch } from '../../js/local.js';

const NETWORK = 'eip155:31337';
const AUTHORIZER = ANVIL_ACCOUNTS[7]; // the receiver authorizer (no ROLES entry uses it)
const PRICE = 10_000n; // the Worker's GET /paid/one.html: $0.01

let chain;
let client;
let worker;

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);
  // Claims only at a huge threshold or after an hour: the channel's charges stay with the Worker.
  const config = defaultConfig(chain.rpcUrl, {
    batchSettlement: { withdrawDelay: 900, claim: { threshold: '1000000000000', maxAgeSeconds: 3600, checkIntervalSeconds: 60 } },
  });
  worker = await startWorker({ config, secrets: { X402_RECEIVER_AUTHORIZER_KEY: AUTHORIZER.privateKey } });
});

after(async () => {
  await worker?.stop();
  await chain?.stop();
});

/** A localWallet whose signTypedData calls are counted (`wallet.signed`). */
function countingWallet(privateKey) {
  const inner = localWallet(privateKey);
  const w = {
    address: inner.address,
    signed: 0,
    signTypedData(typed) {
      w.signed += 1;
      return inner.signTypedData(typed);
    },
  };
  return w;
}

/** A `{ getItem, setItem }` over a Map (`map` exposed for the assertions). */
function mapStorage() {
  const map = new Map();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) };
}

const channelOnChain = async (channelId) => {
  const [balance, totalClaimed] = await client.readContract({
    address: BATCH_SETTLEMENT_ADDRESS,
    abi: BATCH_SETTLEMENT_ABI,
    functionName: 'channels',
    args: [channelId],
  });
  return { balance, totalClaimed };
};
const blockNumber = () => client.getBlockNumber({ cacheTime: 0 });
const receiptOf = (res) => decodeHeader(res.headers.get('payment-response'));

test('the Worker: 100 requests on one channel — one deposit, one wallet signature, cumulative charges', async () => {
  const payer = ROLES.payers[0];
  const wallet = countingWallet(payer.privateKey);
  const storage = mapStorage();
  // credit sized for the 100 requests ($1.00 = 100 × $0.01), within the default maxDeposit.
  const pay = wrapFetch(fetch, wallet, { channels: { allowed: true, credit: '1000000', storage } });
  const url = `${worker.url}/paid/one.html`;
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const firstBlock = await blockNumber();
  let channelId;
  for (let i = 1; i <= 100; i += 1) {
    const res = await pay(url);
    const body = await res.text();
    assert.equal(res.status, 200, `request ${i}: ${body}`);
    const r = receiptOf(res);
    assert.equal(r.success, true, `request ${i}`);
    assert.equal(r.extra.chargedAmount, String(PRICE), `request ${i}`);
    assert.equal(r.extra.channelState.chargedCumulativeAmount, String(BigInt(i) * PRICE), `request ${i}: cumulative`);
    if (i === 1) {
      channelId = r.extra.channelState.channelId;
      assert.match(r.transaction, /^0x[0-9a-f]{64}$/, 'the first request carries the deposit');
      assert.equal(r.amount, '1000000');
    } else {
      assert.equal(r.extra.channelState.channelId, channelId);
      assert.equal(r.transaction, '', `request ${i}: a voucher, no transaction`);
    }
    assert.equal(wallet.signed, 1, `request ${i}: the wallet signed the deposit only`);
  }
  assert.equal(await blockNumber(), firstBlock + 1n, 'one transaction for 100 requests: the deposit');
  assert.deepEqual(await channelOnChain(channelId), { balance: 1_000_000n, totalClaimed: 0n });
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore - 1_000_000n);
  // The stored state: JSON, the voucher key's address in the config, never a private key of it.
  const state = JSON.parse(storage.map.get(`x402:channel:${channelId}`));
  assert.equal(state.charged, String(100n * PRICE));
  assert.equal(state.balance, '1000000');
  assert.notEqual(state.voucherKey.toLowerCase(), payer.address.toLowerCase(), 'a separate voucher key');
  assert.equal(state.config.payerAuthorizer, state.voucherKey);
  assert.ok(!JSON.stringify(state).includes(payer.privateKey.slice(2)));
});

test('the reference batch server: 20 requests, claimAndSettle pays payTo exactly 20 × the price', async () => {
  const payer = ROLES.payers[3];
  const receiver = privateKeyToAccount(generatePrivateKey()).address; // a fresh payTo: exact balances
  const price = 1000n;
  const viemChain = defineChain({
    id: 31337,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  });
  const relayer = privateKeyToAccount(ROLES.relayer.privateKey);
  const wc = createWalletClient({ account: relayer, chain: viemChain, transport: http(chain.rpcUrl), pollingInterval: 50 }).extend(publicActions);
  const facilitatorSigner = toFacilitatorEvmSigner(Object.assign(wc, { address: relayer.address }), { confirmationTimeoutMs: 20_000 });
  const facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(facilitatorSigner));
  const facilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported(),
  };
  const serverScheme = new ServerScheme(receiver, { receiverAuthorizerSigner: privateKeyToAccount(AUTHORIZER.privateKey), withdrawDelay: 900 });
  const app = new Hono();
  app.use(
    paymentMiddleware(
      {
        'GET /paid': {
          accepts: {
            scheme: 'batch-settlement',
            network: NETWORK,
            payTo: receiver,
            price: { amount: String(price), asset: TOKEN_ADDRESS, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } },
            maxTimeoutSeconds: 300,
          },
          description: 'one paid thing',
        },
      },
      new x402ResourceServer(facilitatorClient).register(NETWORK, serverScheme),
    ),
  );
  app.get('/paid', (c) => c.text('paid content'));
  const server = await serveHono(app);
  try {
    const wallet = countingWallet(payer.privateKey);
    const pay = wrapFetch(fetch, wallet, { channels: { allowed: true } });
    const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
    let channelId;
    for (let i = 1; i <= 20; i += 1) {
      const res = await pay(`${server.url}/paid`);
      assert.equal(res.status, 200, `request ${i}: ${await res.clone().text()}`);
      assert.equal(await res.text(), 'paid content');
      const r = receiptOf(res);
      assert.equal(r.extra.chargedAmount, String(price));
      assert.equal(r.extra.channelState.chargedCumulativeAmount, String(BigInt(i) * price), `request ${i}`);
      channelId ??= r.extra.channelState.channelId;
      if (i === 1) assert.equal(r.amount, '500000', 'the default credit: $0.50');
    }
    assert.equal(wallet.signed, 1);
    assert.deepEqual(await channelOnChain(channelId), { balance: 500_000n, totalClaimed: 0n });

    const manager = serverScheme.createChannelManager(facilitatorClient, NETWORK, TOKEN_ADDRESS);
    const { claims, settle } = await manager.claimAndSettle();
    assert.equal(claims.length, 1);
    assert.match(settle.transaction, /^0x[0-9a-f]{64}$/);
    assert.equal(await balanceOf(chain.rpcUrl, receiver), 20n * price);
    assert.deepEqual(await channelOnChain(channelId), { balance: 500_000n, totalClaimed: 20n * price });
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore - 500_000n);
  } finally {
    await server.close();
  }
});

test('a deposit above maxDeposit is refused before anything is signed', async () => {
  const payer = ROLES.payers[2];
  const wallet = countingWallet(payer.privateKey);
  let sent = 0;
  const counting = (req) => {
    if (new Request(req).headers.has('PAYMENT-SIGNATURE')) sent += 1;
    return fetch(req);
  };
  // The Worker's minDeposit is 10 × $0.01 = $0.10, above maxDeposit $0.05.
  const pay = wrapFetch(counting, wallet, { channels: { allowed: true, credit: '10000', maxDeposit: '50000' } });
  const before0 = await balanceOf(chain.rpcUrl, payer.address);
  await assert.rejects(pay(`${worker.url}/paid/one.html`), (e) => e.code === 'over_max' && /maxDeposit 50000/.test(e.message));
  assert.equal(wallet.signed, 0, 'the wallet was never asked');
  assert.equal(sent, 0, 'no voucher was sent');
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), before0);
});

test('a server charging more than the price is refused; nothing more is signed on that channel', async () => {
  // The one stand-in of this file: a real server (ours, the reference) cannot answer a voucher with
  // a chargedAmount above the price, so this tiny server does, to show the client's check.
  const payer = ROLES.payers[4];
  const vouchers = [];
  const offer = {
    scheme: 'batch-settlement',
    network: NETWORK,
    amount: '1000',
    asset: TOKEN_ADDRESS,
    payTo: ROLES.payTo.address,
    maxTimeoutSeconds: 300,
    extra: { name: TOKEN_NAME, version: TOKEN_VERSION, receiverAuthorizer: AUTHORIZER.address, withdrawDelay: 900 },
  };
  const fake = createServer((req, res) => {
    const sig = req.headers['payment-signature'];
    if (!sig) {
      const required = { x402Version: 2, error: 'Payment required', resource: { url: `http://${req.headers.host}${req.url}` }, accepts: [offer] };
      res.writeHead(402, { 'PAYMENT-REQUIRED': Buffer.from(JSON.stringify(required)).toString('base64') });
      return res.end('{}');
    }
    const { payload } = decodeHeader(sig);
    vouchers.push(payload);
    const receipt = {
      success: true,
      payer: payer.address.toLowerCase(),
      transaction: '',
      network: NETWORK,
      amount: '',
      extra: {
        chargedAmount: '2000', // twice the price
        channelState: {
          channelId: payload.voucher.channelId,
          balance: '500000',
          totalClaimed: '0',
          withdrawRequestedAt: 0,
          refundNonce: '0',
          chargedCumulativeAmount: '2000',
        },
      },
    };
    res.writeHead(200, { 'PAYMENT-RESPONSE': Buffer.from(JSON.stringify(receipt)).toString('base64') });
    res.end('content');
  });
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  try {
    const wallet = countingWallet(payer.privateKey);
    const storage = mapStorage();
    const pay = wrapFetch(fetch, wallet, { channels: { allowed: true, storage } });
    const url = `http://127.0.0.1:${fake.address().port}/thing`;
    const mismatch = 'invalid_batch_settlement_evm_cumulative_amount_mismatch';
    await assert.rejects(pay(url), (e) => e.code === mismatch && /above the price/.test(e.message) && e.response?.status === 200);
    assert.equal(vouchers.length, 1);
    await assert.rejects(pay(url), (e) => e.code === mismatch && /blocked/.test(e.message));
    assert.equal(vouchers.length, 1, 'no second voucher');
    assert.equal(wallet.signed, 0);
    const [state] = [...storage.map.entries()].filter(([k]) => k.startsWith('x402:channel:')).map(([, v]) => JSON.parse(v));
    assert.equal(state.blocked, mismatch);
    assert.equal(state.charged, '0');
  } finally {
    await new Promise((r) => fake.close(r));
  }
});

test('a wiped client state is recovered from the Worker’s corrective 402, without a second deposit', async () => {
  const payer = ROLES.payers[1];
  const voucherKey = generatePrivateKey(); // kept by the caller across the wipe
  const first = countingWallet(payer.privateKey);
  const pay1 = wrapFetch(fetch, first, { channels: { allowed: true, voucherKey, storage: mapStorage() } });
  const url = `${worker.url}/paid/two.html`; // $0.02
  const price = 20_000n;
  let channelId;
  for (let i = 1; i <= 3; i += 1) {
    const res = await pay1(url);
    assert.equal(res.status, 200, await res.text());
    channelId ??= receiptOf(res).extra.channelState.channelId;
  }
  assert.equal(first.signed, 1);
  const deposited = (await channelOnChain(channelId)).balance;
  assert.equal(deposited, 500_000n);
  const firstBlock = await blockNumber();

  // A new client: same wallet and voucher key, empty storage.
  const second = countingWallet(payer.privateKey);
  const sent = [];
  const recording = async (req) => {
    const r = new Request(req);
    const sig = r.headers.get('PAYMENT-SIGNATURE');
    const res = await fetch(r);
    if (sig) sent.push({ type: decodeHeader(sig).payload.type, max: decodeHeader(sig).payload.voucher.maxClaimableAmount, status: res.status });
    return res;
  };
  const pay2 = wrapFetch(recording, second, { channels: { allowed: true, voucherKey, storage: mapStorage() } });
  for (let i = 4; i <= 5; i += 1) {
    const res = await pay2(url);
    assert.equal(res.status, 200, await res.text());
    const r = receiptOf(res);
    assert.equal(r.extra.channelState.channelId, channelId);
    assert.equal(r.extra.channelState.chargedCumulativeAmount, String(BigInt(i) * price));
  }
  // The first voucher (one price) met the corrective 402; the adopted state carried on.
  assert.deepEqual(sent, [
    { type: 'voucher', max: String(price), status: 402 },
    { type: 'voucher', max: String(4n * price), status: 200 },
    { type: 'voucher', max: String(5n * price), status: 200 },
  ]);
  assert.equal(second.signed, 0, 'no wallet signature');
  assert.equal(await blockNumber(), firstBlock, 'no transaction');
  assert.equal((await channelOnChain(channelId)).balance, deposited, 'one deposit only');
});

test('channels allowed but not preferred: the Worker’s exact offer is paid, on the 402 already received', async () => {
  const payer = ROLES.payers[2];
  const wallet = countingWallet(payer.privateKey);
  const sent = [];
  const recording = (req) => {
    const r = new Request(req);
    sent.push(r.headers.has('PAYMENT-SIGNATURE') ? decodeHeader(r.headers.get('PAYMENT-SIGNATURE')).accepted.scheme : 'unpaid');
    return fetch(r);
  };
  const pay = wrapFetch(recording, wallet, { channels: { allowed: true, preferred: false } });
  const before0 = await balanceOf(chain.rpcUrl, payer.address);
  const res = await pay(`${worker.url}/paid/three.html`); // $0.05
  assert.equal(res.status, 200, await res.text());
  assert.match(receiptOf(res).transaction, /^0x[0-9a-f]{64}$/);
  assert.deepEqual(sent, ['unpaid', 'exact'], 'one unpaid request, then the exact payment');
  assert.equal(wallet.signed, 1);
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), before0 - 50_000n);
});
