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
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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
  TOKEN_ABI,
  TOKEN_ADDRESS,
  TOKEN_NAME,
  TOKEN_VERSION,
  balanceOf,
  deployBatchSettlement,
  deployToken,
  publicClient,
  rpc,
  startAnvil,
  walletClient,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';
import { localWallet, verifyReceipt, wrapFetch } from '../../js/local.js';

const NETWORK = 'eip155:31337';
const AUTHORIZER = ANVIL_ACCOUNTS[7]; // the receiver authorizer (no ROLES entry uses it)
const PRICE = 10_000n; // the Worker's GET /paid/one.html: $0.01
// The key the Worker signs offers and receipts with (offer-receipt).
const RECEIPT_KEY = generatePrivateKey();

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
  worker = await startWorker({ config, secrets: { X402_RECEIVER_AUTHORIZER_KEY: AUTHORIZER.privateKey, X402_RECEIPT_KEY: RECEIPT_KEY } });
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
/** The channel id of the one channel state in `storage`. */
const receiptOfLast = (storage) => {
  const states = [...storage.map.entries()].filter(([k]) => k.startsWith('x402:channel:'));
  assert.equal(states.length, 1);
  return JSON.parse(states[0][1]).channelId;
};

/** A new payer holding `amount` of TestUSDC (minted by the deployer), no ETH: it sends no transaction. */
async function fundedPayer(amount = 10_000_000n) {
  const privateKey = generatePrivateKey();
  const { address } = privateKeyToAccount(privateKey);
  const hash = await walletClient(chain.rpcUrl, ROLES.deployer).writeContract({
    address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'mint', args: [address, amount], chain: null,
  });
  await client.waitForTransactionReceipt({ hash });
  return { privateKey, address };
}
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
    if (i <= 2) {
      // The seller's signed receipt, for the deposit request and for a voucher alike.
      const signed = await verifyReceipt(res);
      assert.equal(signed.signer, privateKeyToAccount(RECEIPT_KEY).address, `request ${i}`);
      assert.equal(signed.payer, payer.address);
      assert.equal(signed.resourceUrl, url);
    }
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

test('a voucher whose answer is lost: the repeat gets the page again and is not charged twice; another page is charged once', async () => {
  const payer = await fundedPayer();
  const storage = mapStorage();
  // The network drops the answer to the third paid request (the Worker has charged it).
  let paid = 0;
  let dropped = false;
  const lossy = async (input, init) => {
    const res = await fetch(input, init);
    const req = new Request(input, init);
    if (req.headers.has('payment-signature') && res.status === 200 && ++paid === 3 && !dropped) {
      dropped = true;
      await res.arrayBuffer();
      throw new TypeError('fetch failed (the answer was lost)');
    }
    return res;
  };
  const pay = wrapFetch(lossy, localWallet(payer.privateKey), { channels: { allowed: true, credit: '1000000', storage } });
  const one = `${worker.url}/paid/one.html`;
  const two = `${worker.url}/paid/two.html`;
  for (let i = 1; i <= 2; i += 1) assert.equal((await pay(one)).status, 200);
  await assert.rejects(pay(one), /answer was lost/);
  // The reader tries again: the same voucher (the client's state did not move), served again,
  // the channel's charged total unchanged.
  const again = await pay(one);
  assert.equal(again.status, 200, await again.clone().text());
  assert.match(await again.text(), /paid-content:one/);
  const r = receiptOf(again);
  assert.equal(r.extra.chargedAmount, String(PRICE));
  assert.equal(r.extra.channelState.chargedCumulativeAmount, String(3n * PRICE), 'three pages, charged three times');
  // The next page is charged once, on top.
  const next = await pay(two);
  assert.equal(next.status, 200, await next.clone().text());
  assert.equal(receiptOf(next).extra.channelState.chargedCumulativeAmount, String(3n * PRICE + 20_000n));
  const state = JSON.parse(storage.map.get(`x402:channel:${r.extra.channelState.channelId}`));
  assert.equal(state.charged, String(3n * PRICE + 20_000n));
});

test('a lost answer repeated for another page is not served free: the stale voucher gets the corrective state and that page is charged', async () => {
  const payer = await fundedPayer();
  const storage = mapStorage();
  let drop = false;
  const lossy = async (input, init) => {
    const res = await fetch(input, init);
    if (drop && new Request(input, init).headers.has('payment-signature') && res.status === 200) {
      drop = false;
      await res.arrayBuffer();
      throw new TypeError('fetch failed (the answer was lost)');
    }
    return res;
  };
  const pay = wrapFetch(lossy, localWallet(payer.privateKey), { channels: { allowed: true, credit: '1000000', storage } });
  assert.equal((await pay(`${worker.url}/paid/one.html`)).status, 200);
  drop = true;
  await assert.rejects(pay(`${worker.url}/paid/one.html`), /answer was lost/);
  // The reader goes to page two instead: its first voucher builds on the lost charge (stale),
  // the corrective 402 resyncs the client, and page two is paid on top of both charges.
  const two = await pay(`${worker.url}/paid/two.html`);
  assert.equal(two.status, 200, await two.clone().text());
  assert.equal(receiptOf(two).extra.channelState.chargedCumulativeAmount, String(2n * PRICE + 20_000n));
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
    // A new voucher key has no channel yet: the first request carried the deposit (one
    // signature), with no probing voucher before it.
    assert.equal(vouchers[0].type, 'deposit');
    assert.equal(wallet.signed, 1);
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

test('the packed npm package pays the Worker through a channel kept in a file, then takes the credit left back', async () => {
  const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'x402-channel-consumer-'));
  try {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--silent', '--offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: dir, stdio: 'inherit' });
    copyFileSync(path.join(ROOT, 'tests', 'npm', 'channel-consumer.mjs'), path.join(dir, 'channel-consumer.mjs'));
    const url = `${worker.url}/paid/one.html`; // $0.01
    const run = async (payer, count, store, entry, env = {}) => {
      const { stdout } = await promisify(execFile)(process.execPath, ['channel-consumer.mjs', url, String(count), store, entry], {
        cwd: dir, env: { ...process.env, PAYER_KEY: payer.privateKey, ...env }, encoding: 'utf8', timeout: 120_000,
      });
      return JSON.parse(stdout.trim().split('\n').pop());
    };

    for (const [entry, count] of [['local', 100], ['main', 30]]) {
      const payer = await fundedPayer();
      const store = path.join(dir, `channels-${entry}.json`);
      const before0 = await balanceOf(chain.rpcUrl, payer.address);
      const firstBlock = await blockNumber();
      // The first process pays all but the last 5 and keeps its channel in the file.
      const first = await run(payer, count - 5, store, entry, { NO_REFUND: '1' });
      assert.equal(first.signed, 1, `${entry}: one deposit signature`);
      assert.deepEqual(first.kinds, ['deposit', ...Array(count - 6).fill('voucher')], entry);
      assert.deepEqual(first.charged, Array.from({ length: count - 5 }, (_, i) => String(BigInt(i + 1) * PRICE)), entry);
      assert.equal(statSync(store).mode & 0o777, 0o600, 'the file holds the voucher key: owner only');
      const kept = JSON.parse(readFileSync(store, 'utf8'));
      assert.ok(Object.keys(kept).some((k) => k.startsWith('x402:voucher-key:')), 'the voucher key is kept');
      // A new process on the same file goes on with vouchers (no deposit), then refunds the rest.
      const second = await run(payer, 5, store, entry);
      assert.equal(second.signed, 0, `${entry}: no signature after a restart`);
      assert.deepEqual(second.kinds, Array(5).fill('voucher'));
      assert.deepEqual(second.charged, Array.from({ length: 5 }, (_, i) => String(BigInt(count - 4 + i) * PRICE)));
      const spent = BigInt(count) * PRICE;
      assert.equal(second.refunded, String(1_500_000n - spent), `${entry}: everything not charged comes back`);
      assert.equal(second.credit, '0');
      // On chain: the deposit and one refund transaction (which claims the charges for payTo first).
      assert.equal(await blockNumber(), firstBlock + 2n, `${entry}: two transactions (deposit, refund)`);
      assert.equal(await balanceOf(chain.rpcUrl, payer.address), before0 - spent, `${entry}: the reader paid exactly the charges`);
    }
    // A channel file that is not JSON is refused, not overwritten (it may hold the only copy of a key).
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"x402:voucher-key:0xabc": "0x1');
    await assert.rejects(run(await fundedPayer(), 1, broken, 'local'), (e) => /invalid_config/.test(e.stderr) && /not a JSON object/.test(e.stderr));
    assert.equal(readFileSync(broken, 'utf8'), '{"x402:voucher-key:0xabc": "0x1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one budget counts exact payments and deposits: the deposit that would pass it is refused before the wallet is asked', async () => {
  const payer = await fundedPayer();
  const wallet = countingWallet(payer.privateKey);
  const storage = mapStorage(); // the budget's storage (options.storage), shared by both paths
  const sent = [];
  const recording = (req) => {
    const r = new Request(req);
    if (r.headers.has('PAYMENT-SIGNATURE')) sent.push(decodeHeader(r.headers.get('PAYMENT-SIGNATURE')).accepted.scheme);
    return fetch(r);
  };
  // $0.60 a day: an exact $0.05, a channel deposit of $0.50 (its vouchers draw on it, not on the
  // budget again), another exact $0.05: $0.60. Then a deposit on a new channel (another channel
  // store: a new voucher key) would make $1.10, and an exact $0.05 $0.65: both refused before the
  // wallet is asked.
  const budget = { limit: '600000' };
  const exactOnly = wrapFetch(recording, wallet, { storage, budget, channels: { allowed: true, preferred: false } });
  const viaChannel = wrapFetch(recording, wallet, { storage, budget, channels: { allowed: true, storage: mapStorage() } });
  let res = await exactOnly(`${worker.url}/paid/three.html`); // $0.05, exact
  assert.equal(res.status, 200, await res.text());
  res = await viaChannel(`${worker.url}/paid/one.html`); // $0.50 deposit + $0.01 voucher
  assert.equal(res.status, 200, await res.text());
  res = await exactOnly(`${worker.url}/paid/three.html`); // $0.05, exact: $0.60 in all
  assert.equal(res.status, 200, await res.text());
  assert.deepEqual(sent, ['exact', 'batch-settlement', 'exact']);
  assert.equal(wallet.signed, 3);
  // A fresh channel store: a new voucher key, so a new deposit of $0.50 — over the budget.
  const another = wrapFetch(recording, wallet, { storage, budget, channels: { allowed: true, storage: mapStorage() } });
  await assert.rejects(another(`${worker.url}/paid/one.html`), (e) => e.code === 'over_budget');
  // And an exact payment: $0.05 more is over it too.
  await assert.rejects(exactOnly(`${worker.url}/paid/three.html`), (e) => e.code === 'over_budget');
  assert.equal(wallet.signed, 3, 'nothing more signed');
  assert.equal(sent.length, 3, 'nothing more sent');
  // The per-payment cap applies to each charge on a channel too: $0.05 above a $0.02 cap.
  const capped = wrapFetch(recording, wallet, { maxAmount: '20000', channels: { allowed: true, storage: mapStorage() } });
  await assert.rejects(capped(`${worker.url}/paid/three.html`), (e) => e.code === 'over_max');
  assert.equal(wallet.signed, 3);
});

// Runs last: it moves the chain's clock by a quarter of an hour.
test('the timed withdrawal through an EIP-1193 wallet: initiate, refused early, collected after withdrawDelay', async () => {
  // An anvil account as an EIP-1193 wallet: anvil signs typed data and sends transactions for it.
  const account = ANVIL_ACCOUNTS[6];
  await walletClient(chain.rpcUrl, ROLES.deployer).writeContract({
    address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'mint', args: [account.address, 10_000_000n], chain: null,
  }).then((hash) => client.waitForTransactionReceipt({ hash }));
  const requests = [];
  const wallet = {
    request: ({ method, params = [] }) => {
      requests.push(method);
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return Promise.resolve([account.address]);
      return rpc(chain.rpcUrl, method, params);
    },
  };
  const storage = mapStorage();
  const pay = wrapFetch(fetch, wallet, { channels: { allowed: true, storage } });
  const url = `${worker.url}/paid/one.html`; // $0.01
  for (let i = 0; i < 3; i += 1) {
    const res = await pay(url);
    assert.equal(res.status, 200, await res.text());
  }
  const channelId = receiptOfLast(storage);
  const start = await balanceOf(chain.rpcUrl, account.address);
  assert.deepEqual(await channelOnChain(channelId), { balance: 500_000n, totalClaimed: 0n });

  const first = await pay.withdraw(url);
  assert.equal(first.step, 'initiated');
  assert.equal(first.amount, String(500_000n - 3n * PRICE), 'everything never charged');
  assert.match(first.transaction, /^0x[0-9a-f]{64}$/);
  assert.equal(first.offer.credit, '0', 'the withdrawn credit is no longer spent');
  const [pendingAmount] = await client.readContract({
    address: BATCH_SETTLEMENT_ADDRESS, abi: BATCH_SETTLEMENT_ABI, functionName: 'pendingWithdrawals', args: [channelId],
  });
  assert.equal(pendingAmount, 470_000n);
  // Before withdrawDelay: refused on the client, nothing sent.
  const sent = requests.filter((m) => m === 'eth_sendTransaction').length;
  await assert.rejects(pay.withdraw(url), (e) => e.code === 'withdrawal_pending' && e.after > Date.now() / 1000);
  assert.equal(requests.filter((m) => m === 'eth_sendTransaction').length, sent);

  // 900 s later (the chain's clock moved by anvil; the client's record moved with it: the wall
  // clock cannot be made to wait a quarter of an hour here).
  await rpc(chain.rpcUrl, 'evm_increaseTime', [901]);
  await rpc(chain.rpcUrl, 'evm_mine', []);
  const slot = `x402:withdrawal:${channelId}`;
  storage.setItem(slot, JSON.stringify({ ...JSON.parse(storage.getItem(slot)), after: Math.floor(Date.now() / 1000) - 1 }));
  const second = await pay.withdraw(url);
  assert.equal(second.step, 'finalized');
  assert.equal(second.amount, '470000');
  assert.equal(await balanceOf(chain.rpcUrl, account.address), start + 470_000n, 'the credit came back to the payer');
  // The charges stay for the receiver (the Worker claims them once it sees the withdrawal).
  assert.equal((await channelOnChain(channelId)).balance, 30_000n);
  assert.equal(requests.filter((m) => m === 'eth_signTypedData_v4').length, 1, 'one signature: the deposit');
});
