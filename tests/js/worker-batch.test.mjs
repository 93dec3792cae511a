// The edge Worker's batch-settlement scheme (x402 specs/schemes/batch-settlement/
// scheme_batch_settlement_evm.md) under the real workerd (wrangler dev) and a real anvil carrying the
// batch-settlement stand-ins at their canonical addresses (tests/contracts/TestBatchSettlement.sol,
// TestERC3009DepositCollector.sol, TestMulticall3.sol): the offer, the reference client
// (@x402/fetch + @x402/evm 2.27) paying through deposits and vouchers, hand-signed stale, forged and
// mismatched vouchers (tests/js/lib/batch.mjs), concurrency on one channel, origin failures, a lost
// Channel state, the cooperative refund, the facilitator's /supported, and a payer's timed
// withdrawal racing the Worker's claim. Every money check reads the chain.
//
// The one stand-in: a local origin server (a 500, and a 500 ms delay that keeps a channel reserved
// while concurrent copies of the same voucher arrive).
//
// Workers: `worker` (claims once the oldest unclaimed charge is 2 s old; its RPC goes through a
// pass-through proxy that counts broadcasts) serves most tests; `patient` and `doomed`
// (age rule at an hour: charges stay unclaimed) serve the withdrawal race and the lost-state test.
// The timed withdrawal moves the chain's clock 15 minutes ahead, so it runs last.
//
//   node --test tests/js/worker-batch.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { x402Client } from '@x402/core/client';
import { toClientEvmSigner } from '@x402/evm';
import { BatchSettlementEvmScheme } from '@x402/evm/batch-settlement/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS,
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ROLES,
  TOKEN_ADDRESS,
  balanceOf,
  channelIdOf,
  deployBatchSettlement,
  deployToken,
  isBroadcast,
  publicClient,
  rpc,
  startAnvil,
  startRpcProxy,
  walletClient,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';
import { localWallet, wrapFetch } from '../../js/local.js';
import {
  batchHeader,
  channelConfigFor,
  channelOnChain,
  depositPayload,
  receiverOnChain,
  voucherPayload,
} from './lib/batch.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NETWORK = 'eip155:31337';
const BS = BATCH_SETTLEMENT_ADDRESS;
const PAY_TO = ROLES.payTo.address;
const RELAYER = ROLES.relayer.address;
/** The receiver authorizer: an anvil account no ROLES entry uses (not relayer, payTo, payer, deployer). */
const AUTHORIZER = ANVIL_ACCOUNTS[7];
const FACILITATOR_TOKEN = 'facilitator-token-batch-0123456789';
const PRICE = 10_000n; // GET /paid/one.html and GET /paid/*: $0.01
const MIN_DEPOSIT = 100_000n; // the default: 10 × the route's amount
const ONE_HTML = readFileSync(path.join(ROOT, 'www', 'paid', 'one.html'), 'utf8');
const code = (s) => `invalid_batch_settlement_evm_${s}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

let chain;
let client; // viem public client on anvil
let proxy; // worker → anvil; counts broadcasts
let broadcasts = 0;
let originServer;
let worker; // age rule 2 s, facilitator endpoints on, RPC through the proxy
let patient; // age rule 1 h (test 7)
let doomed; // age rule 1 h, stopped in test 6

/** The X402 configuration: defaultConfig with batch settlement on and the given claim policy. */
function batchConfig(rpcUrl, claim, patch = {}) {
  return defaultConfig(rpcUrl, {
    batchSettlement: { withdrawDelay: 900, claim: { threshold: '1000000000000', checkIntervalSeconds: 1, ...claim } },
    ...patch,
  });
}

/** A fresh relayer account with ETH (so Workers never share a nonce sequence). */
async function fundedRelayerKey() {
  const key = generatePrivateKey();
  await rpc(chain.rpcUrl, 'anvil_setBalance', [privateKeyToAccount(key).address, '0x56bc75e2d63100000']);
  return key;
}

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);
  proxy = await startRpcProxy(chain.rpcUrl, (method, req, res, body) => {
    if (isBroadcast(method, body)) broadcasts++;
    return false;
  });
  originServer = createServer(async (req, res) => {
    if (req.url.startsWith('/origin/slow')) await sleep(500); // keeps a request's channel reservation live
    res.writeHead(req.url.startsWith('/origin/boom') ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(req.url.startsWith('/origin/boom') ? 'origin failed' : `origin says ${req.url}`);
  });
  await new Promise((r) => originServer.listen(0, '127.0.0.1', r));
  const mainConfig = batchConfig(proxy.url, { maxAgeSeconds: 2 }, { facilitatorEndpoints: true });
  mainConfig.routes.unshift({
    pattern: 'GET /origin/*',
    price: '$0.01',
    content: { source: 'origin', url: `http://127.0.0.1:${originServer.address().port}` },
  }, {
    // Test 11: payments must name themselves (payment-identifier required).
    pattern: 'GET /named/*',
    price: '$0.01',
    paymentIdentifier: 'required',
    content: { source: 'origin', url: `http://127.0.0.1:${originServer.address().port}` },
  });
  const authorizerSecret = { X402_RECEIVER_AUTHORIZER_KEY: AUTHORIZER.privateKey };
  const [patientKey, doomedKey] = [await fundedRelayerKey(), await fundedRelayerKey()];
  [worker, patient, doomed] = await Promise.all([
    startWorker({ config: mainConfig, secrets: { ...authorizerSecret, X402_FACILITATOR_TOKEN: FACILITATOR_TOKEN } }),
    startWorker({
      config: batchConfig(chain.rpcUrl, { maxAgeSeconds: 3600 }),
      secrets: { ...authorizerSecret, X402_RELAYER_KEY: patientKey },
    }),
    startWorker({
      config: batchConfig(chain.rpcUrl, { maxAgeSeconds: 3600 }),
      secrets: { ...authorizerSecret, X402_RELAYER_KEY: doomedKey },
    }),
  ]);
});

after(async () => {
  await Promise.all([worker?.stop(), patient?.stop(), doomed?.stop()]);
  await chain?.stop();
  await proxy?.close();
  await new Promise((r) => (originServer ? originServer.close(r) : r()));
});

// ------------------------------------------------------------------------------------------- helpers

/** GET `url` unpaid: the decoded PAYMENT-REQUIRED of its 402. */
async function offer(url) {
  const res = await fetch(url);
  const body = await res.text();
  assert.equal(res.status, 402, `${url} unpaid: ${body}`);
  return decodeHeader(res.headers.get('payment-required'));
}
const batchEntry = (required) => required.accepts.find((a) => a.scheme === 'batch-settlement');

/** GET `url` with a PAYMENT-SIGNATURE: status, body and the decoded x402 headers. */
async function send(url, header) {
  const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': header } });
  const body = await res.text();
  const required = res.headers.get('payment-required');
  const receipt = res.headers.get('payment-response');
  return {
    status: res.status,
    body,
    required: required ? decodeHeader(required) : null,
    receipt: receipt ? decodeHeader(receipt) : null,
  };
}

/** The refusal code of a 402: PAYMENT-REQUIRED error (verify stage) or PAYMENT-RESPONSE errorReason (settle stage). */
function refusal(r) {
  if (r.required?.error) return r.required.error;
  if (r.receipt && r.receipt.success === false) return r.receipt.errorReason;
  try {
    return JSON.parse(r.body).error;
  } catch {
    return undefined;
  }
}

function assertRefused(r, expected, what) {
  assert.equal(r.status, 402, `${what}: ${r.body}`);
  assert.equal(refusal(r), expected, `${what}: ${show({ required: r.required, receipt: r.receipt })}`);
  assert.doesNotMatch(r.body, /<html/i, `${what}: no content`);
}

/**
 * A served voucher/deposit request: 200 with the page, PAYMENT-RESPONSE success with chargedAmount =
 * the price and channelState.chargedCumulativeAmount = `charged`.
 */
function assertServed(r, { channelId, charged, deposit, payer, what }) {
  assert.equal(r.status, 200, `${what}: ${r.body}`);
  assert.ok(r.receipt, `${what}: PAYMENT-RESPONSE`);
  const { receipt } = r;
  assert.equal(receipt.success, true, `${what}: ${show(receipt)}`);
  assert.equal(receipt.network, NETWORK);
  if (payer) assert.equal(receipt.payer?.toLowerCase(), payer.toLowerCase(), `${what}: payer`);
  assert.equal(receipt.extra?.chargedAmount, String(PRICE), `${what}: chargedAmount`);
  assert.equal(receipt.extra?.channelState?.channelId, channelId, `${what}: channelId`);
  assert.equal(receipt.extra.channelState.chargedCumulativeAmount, String(charged), `${what}: chargedCumulativeAmount`);
  if (deposit) {
    assert.match(receipt.transaction, /^0x[0-9a-f]{64}$/, `${what}: the deposit transaction`);
    assert.equal(receipt.amount, String(deposit), `${what}: amount = the deposit`);
  } else {
    assert.equal(receipt.transaction, '', `${what}: no transaction for a voucher`);
    assert.equal(receipt.amount, '', `${what}: no amount for a voucher`);
  }
  return receipt;
}

/** Polls `read()` until `ok(value)`; fails with the last value after `timeoutMs`. Returns { value, ms }. */
async function eventually(what, read, ok, timeoutMs = 20_000) {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: still ${show(value)} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

const relayerNonce = async (address = RELAYER) => Number(BigInt(await rpc(chain.rpcUrl, 'eth_getTransactionCount', [address, 'latest'])));

/** Events of the batch-settlement contract from `fromBlock` on. */
const events = (eventName, args, fromBlock = 0n) =>
  client.getContractEvents({ address: BS, abi: BATCH_SETTLEMENT_ABI, eventName, args, fromBlock });

/**
 * A reference client (@x402/evm BatchSettlementEvmScheme + x402Client + @x402/fetch) for `payer`,
 * with a delegated voucher key (payerAuthorizer ≠ payer, so the Worker may verify vouchers locally).
 * `seen` records every HTTP exchange the wrapped fetch makes: the payload it sent and what came back.
 */
function referenceClient(payer) {
  const voucherKey = generatePrivateKey();
  const signer = toClientEvmSigner(privateKeyToAccount(payer.privateKey), client);
  const scheme = new BatchSettlementEvmScheme(signer, { voucherSigner: toClientEvmSigner(privateKeyToAccount(voucherKey), client) });
  const x402 = new x402Client()
    .register(NETWORK, scheme)
    .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS }] });
  const seen = [];
  const recording = async (input, init) => {
    const req = new Request(input, init);
    const sig = req.headers.get('payment-signature');
    const res = await fetch(req);
    const required = res.headers.get('payment-required');
    const receipt = res.headers.get('payment-response');
    seen.push({
      status: res.status,
      sent: sig ? decodeHeader(sig).payload : null,
      required: required ? decodeHeader(required) : null,
      receipt: receipt ? decodeHeader(receipt) : null,
    });
    return res;
  };
  return { scheme, seen, recording, pay: wrapFetchWithPayment(recording, x402), voucherKey };
}

/** Pays `url` with a reference client; returns the 200's decoded PAYMENT-RESPONSE. */
async function payOnce(ref, url, what) {
  const res = await ref.pay(url);
  const body = await res.text();
  assert.equal(res.status, 200, `${what}: ${body} ${show(ref.seen.slice(-3))}`);
  assert.equal(body, ONE_HTML, `${what}: the page`);
  return decodeHeader(res.headers.get('payment-response'));
}

/** The deposits the reference client makes for `n` requests at `price` (its sizing: max(needed, minDeposit)). */
function referenceDeposits(n, price, minDeposit) {
  let balance = 0n;
  const deposits = new Map();
  for (let i = 1n; i <= BigInt(n); i++) {
    const max = i * price;
    if (balance === 0n || max > balance) {
      const needed = max - balance;
      const amount = needed > minDeposit ? needed : minDeposit;
      deposits.set(Number(i), amount);
      balance += amount;
    }
  }
  return deposits;
}

/** A hand-signing payer on one channel with the Worker's offer at `url`. */
async function rawPayer(payer, url) {
  const accepted = batchEntry(await offer(url));
  const voucherKey = generatePrivateKey();
  const config = channelConfigFor(accepted, { payer: payer.address, payerAuthorizer: privateKeyToAccount(voucherKey).address });
  const channelId = channelIdOf(config);
  return {
    accepted,
    config,
    channelId,
    voucherKey,
    voucher: async (max, o = {}) =>
      batchHeader(o.accepted ?? accepted, await voucherPayload({ config: o.config ?? config, voucherKey: o.voucherKey ?? voucherKey, max, channelId: o.channelId })),
    deposit: async (amount, max) =>
      batchHeader(accepted, await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount, max })),
  };
}

// ------------------------------------------------------------------------------------------- tests

test('1. the 402 offers exact, then batch-settlement (same terms; extra with the channel terms)', async () => {
  for (const [p, amount] of [['/paid/one.html', '10000'], ['/paid/two.html', '20000'], ['/api/quote', '1000']]) {
    const res = await fetch(`${worker.url}${p}`);
    assert.equal(res.status, 402);
    const required = decodeHeader(res.headers.get('payment-required'));
    const exact = {
      scheme: 'exact',
      network: NETWORK,
      amount,
      asset: TOKEN_ADDRESS,
      payTo: PAY_TO,
      maxTimeoutSeconds: 300,
      extra: { name: 'USD Coin', version: '2' },
    };
    assert.deepEqual(required.accepts, [
      exact,
      {
        ...exact,
        scheme: 'batch-settlement',
        extra: {
          name: 'USD Coin',
          version: '2',
          receiverAuthorizer: getAddress(AUTHORIZER.address),
          withdrawDelay: 900,
          minDeposit: String(10n * BigInt(amount)),
        },
      },
    ], p);
    const { extra } = required.accepts[1];
    assert.equal(typeof extra.withdrawDelay, 'number', 'withdrawDelay is a JSON number');
    assert.equal(extra.receiverAuthorizer, getAddress(extra.receiverAuthorizer), 'checksummed');
    const body = JSON.parse(await res.text());
    assert.deepEqual(body.accepts, required.accepts, `${p}: the body lists the same accepts`);
  }
});

let alice; // the reference client of test 2 (refunded in test 8)
let aliceChannel;

test('2. reference client: 21 paid requests, deposits as its sizing needs, claims and settle add up on chain', async (t) => {
  const payer = ROLES.payers[0];
  alice = referenceClient(payer);
  const url = `${worker.url}/paid/one.html`;
  const N = 21;
  const expectedDeposits = referenceDeposits(N, PRICE, MIN_DEPOSIT); // request number → amount
  const depositTotal = [...expectedDeposits.values()].reduce((a, b) => a + b, 0n);
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const payToBefore = await balanceOf(chain.rpcUrl, PAY_TO);
  const receiverBefore = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
  const sentBefore = broadcasts;
  const nonceBefore = await relayerNonce();
  const fromBlock = await client.getBlockNumber({ cacheTime: 0 });

  const receipts = [];
  for (let i = 1; i <= N; i++) receipts.push(await payOnce(alice, url, `request ${i}`));
  const channelId = receipts[0].extra?.channelState?.channelId;
  assert.match(channelId ?? '', /^0x[0-9a-f]{64}$/);
  aliceChannel = channelId;
  receipts.forEach((receipt, k) => {
    const i = k + 1;
    assertServed({ status: 200, body: '', receipt }, {
      channelId,
      charged: BigInt(i) * PRICE,
      deposit: expectedDeposits.get(i),
      payer: payer.address,
      what: `request ${i}`,
    });
    const state = receipt.extra.channelState;
    assert.equal(typeof state.withdrawRequestedAt, 'number', `request ${i}: withdrawRequestedAt`);
    assert.equal(typeof state.refundNonce, 'string', `request ${i}: refundNonce`);
    assert.match(state.balance, /^\d+$/);
    assert.match(state.totalClaimed, /^\d+$/);
  });

  // The deposits on chain: exactly those the responses name, each a mined deposit into this channel.
  const depositTxs = receipts.filter((r) => r.transaction).map((r) => r.transaction);
  const deposited = await events('Deposited', { channelId }, fromBlock);
  assert.deepEqual(deposited.map((e) => e.transactionHash), depositTxs);
  assert.deepEqual(deposited.map((e) => e.args.amount), [...expectedDeposits.values()]);
  t.diagnostic(`deposits for ${N} requests: ${depositTxs.length} (the reference client's sizing: ${expectedDeposits.size})`);

  // Claims (the oldest unclaimed charge is 2 s old) and the settle: the receiver is paid exactly N × price.
  const total = BigInt(N) * PRICE;
  const { ms } = await eventually(
    'claimed and settled',
    async () => ({
      channel: await channelOnChain(chain.rpcUrl, channelId),
      payTo: (await balanceOf(chain.rpcUrl, PAY_TO)) - payToBefore,
    }),
    (v) => v.channel.totalClaimed === total && v.payTo === total,
  );
  t.diagnostic(`claimed + settled ${ms} ms after the last request`);
  const channel = await channelOnChain(chain.rpcUrl, channelId);
  assert.deepEqual(channel, { balance: depositTotal, totalClaimed: total });
  assert.equal(channel.balance - channel.totalClaimed, depositTotal - total);
  const receiver = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
  assert.equal(receiver.totalClaimed - receiverBefore.totalClaimed, total);
  assert.equal(receiver.totalSettled - receiverBefore.totalSettled, total);
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore - depositTotal);

  // Every transaction the Worker sent: the deposits, the claims, the settles; all mined.
  const claimTxs = new Set((await events('Claimed', { channelId }, fromBlock)).map((e) => e.transactionHash));
  const settleTxs = new Set((await events('Settled', { receiver: PAY_TO }, fromBlock)).map((e) => e.transactionHash));
  const sent = broadcasts - sentBefore;
  t.diagnostic(`transactions: ${sent} (${depositTxs.length} deposits, ${claimTxs.size} claims, ${settleTxs.size} settles) for ${N} requests`);
  assert.equal(await relayerNonce(), nonceBefore + sent, 'every broadcast mined');
  assert.equal(sent, depositTxs.length + claimTxs.size + settleTxs.size, 'no transaction beyond deposits, claims and settles');
});

test('3. hand-signed vouchers: stale, over the balance, forged, mismatched terms are refused and charge nothing', async () => {
  const payer = ROLES.payers[1];
  const url = `${worker.url}/paid/one.html`;
  const p = await rawPayer(payer, url);
  const { channelId } = p;
  const served = (r, charged, what, deposit) => assertServed(r, { channelId, charged, deposit, payer: payer.address, what });

  // The deposit request, built by hand: 100000 deposited, the first voucher at the price.
  const depositHeader = await p.deposit(MIN_DEPOSIT, PRICE);
  const firstSignature = decodeHeader(depositHeader).payload.voucher.signature;
  const first = await send(url, depositHeader);
  const depositReceipt = served(first, PRICE, 'deposit', MIN_DEPOSIT);
  assert.equal(depositReceipt.extra.channelState.balance, String(MIN_DEPOSIT));
  const mined = await client.getTransactionReceipt({ hash: depositReceipt.transaction });
  assert.equal(mined.status, 'success');
  assert.equal(getAddress(mined.to), BS);
  assert.deepEqual((await channelOnChain(chain.rpcUrl, channelId)).balance, MIN_DEPOSIT);
  let charged = PRICE;

  /** The next valid voucher is served and charges exactly one price on top of `charged`. */
  const next = async (what) => {
    charged += PRICE;
    served(await send(url, await p.voucher(charged)), charged, `the valid voucher after ${what}`);
  };

  // The deposit request's voucher again, for the same page within its window: the repeat of a
  // request whose answer was lost, served again and charging nothing (charged stays PRICE).
  served(await send(url, await p.voucher(PRICE)), PRICE, 'the repeat of the last request');
  await next('the repeat');
  const lastSignature = decodeHeader(await p.voucher(charged)).payload.voucher.signature;

  // A replayed old voucher (no longer the last charge): corrective 402 with the server's charged
  // total and the last voucher it holds.
  const replay = await send(url, await p.voucher(PRICE));
  assertRefused(replay, code('cumulative_amount_mismatch'), 'replayed voucher');
  assert.deepEqual(replay.required.accepts[0], (await offer(url)).accepts[0], 'the exact entry as offered');
  const entry = batchEntry(replay.required);
  const { channelState, voucherState, ...offered } = entry.extra;
  assert.deepEqual(offered, p.accepted.extra, 'the offer’s extra, extended');
  assert.equal(channelState.channelId, channelId);
  assert.equal(channelState.chargedCumulativeAmount, String(charged));
  assert.equal(channelState.balance, String(MIN_DEPOSIT));
  assert.ok(['0', String(PRICE), String(charged)].includes(channelState.totalClaimed), `totalClaimed ${channelState.totalClaimed}`);
  assert.equal(typeof channelState.withdrawRequestedAt, 'number');
  assert.equal(channelState.refundNonce, '0');
  assert.equal(voucherState.signedMaxClaimable, String(charged));
  assert.equal(voucherState.signature.toLowerCase(), lastSignature.toLowerCase());
  assert.notEqual(lastSignature.toLowerCase(), firstSignature.toLowerCase());
  await next('the replay');

  // A voucher signed by another key (the payer's wallet, not the committed payerAuthorizer).
  assertRefused(await send(url, await p.voucher(charged + PRICE, { voucherKey: payer.privateKey })), code('voucher_signature'), 'forged voucher');
  await next('the forged voucher');

  // Terms that are not the offer's (each config hashes to the channelId its voucher signs).
  const other = privateKeyToAccount(generatePrivateKey()).address;
  const mismatches = [
    ['receiver_mismatch', { receiver: other }],
    ['receiver_authorizer_mismatch', { receiverAuthorizer: other }],
    ['token_mismatch', { token: other }],
    ['withdraw_delay_mismatch', { withdrawDelay: 1800 }],
  ];
  for (const [reason, change] of mismatches) {
    const config = { ...p.config, ...change };
    assertRefused(await send(url, await p.voucher(charged + PRICE, { config, channelId: channelIdOf(config) })), code(reason), reason);
    await next(reason);
  }
  // A config that does not hash to the voucher's channelId.
  const elsewhere = channelIdOf({ ...p.config, salt: `0x${'11'.repeat(32)}` });
  assertRefused(await send(url, await p.voucher(charged + PRICE, { channelId: elsewhere })), code('channel_id_mismatch'), 'channel_id_mismatch');
  await next('channel_id_mismatch');

  // Up to the deposit, then one voucher beyond it.
  while (charged < MIN_DEPOSIT) await next('filling the deposit');
  assert.equal(charged, MIN_DEPOSIT);
  assertRefused(await send(url, await p.voucher(charged + PRICE)), code('cumulative_exceeds_balance'), 'voucher over the balance');
  // Nothing was charged: a top-up deposit with the same cumulative is served and charges one price.
  const topUp = served(await send(url, await p.deposit(MIN_DEPOSIT, charged + PRICE)), charged + PRICE, 'top-up', MIN_DEPOSIT);
  charged += PRICE;
  assert.equal(topUp.extra.channelState.balance, String(2n * MIN_DEPOSIT));
  assert.equal((await channelOnChain(chain.rpcUrl, channelId)).balance, 2n * MIN_DEPOSIT);

  // On chain, in the end: exactly the served requests are claimed.
  await eventually('claimed', () => channelOnChain(chain.rpcUrl, channelId), (c) => c.totalClaimed === charged);
});

let rush; // the hand-signing payer of tests 4 and 5
let rushCharged;

test('4. 20 concurrent requests on one channel: only charged requests are served; sequential retries finish', async (t) => {
  const payer = ROLES.payers[2];
  const url = `${worker.url}/paid/one.html`;
  rush = await rawPayer(payer, url);
  const { channelId } = rush;
  assertServed(await send(url, await rush.deposit(3n * MIN_DEPOSIT, PRICE)), { channelId, charged: PRICE, deposit: 3n * MIN_DEPOSIT, what: 'deposit' });
  const busyOrStale = [code('channel_busy'), code('cumulative_amount_mismatch')];
  /** The server's charged total, read from the corrective 402 a stale voucher gets. */
  const chargedNow = async () => {
    const probe = await send(url, await rush.voucher(PRICE));
    assertRefused(probe, code('cumulative_amount_mismatch'), 'stale probe');
    return batchEntry(probe.required).extra.channelState.chargedCumulativeAmount;
  };

  // The same voucher (charged + price) 20 times at once on a slow origin (500 ms): served once,
  // charged once; the copies arriving while the first holds the channel are channel_busy.
  const same = await rush.voucher(2n * PRICE);
  const slow = `${worker.url}/origin/slow`;
  const copies = await Promise.all(Array.from({ length: 20 }, () => send(slow, same)));
  const once = copies.filter((r) => r.status === 200);
  assert.equal(once.length, 1, `one copy served: ${copies.map((r) => r.status).join(',')}`);
  assertServed(once[0], { channelId, charged: 2n * PRICE, what: 'the one served copy' });
  assert.equal(once[0].body, 'origin says /origin/slow');
  const copyCodes = {};
  for (const r of copies.filter((x) => x.status !== 200)) {
    assert.equal(r.status, 402, r.body);
    assert.ok(busyOrStale.includes(refusal(r)), refusal(r));
    assert.doesNotMatch(r.body, /origin says/);
    copyCodes[refusal(r)] = (copyCodes[refusal(r)] ?? 0) + 1;
  }
  t.diagnostic(`one voucher 20 times at once: 1 served; refused ${show(copyCodes)}`);
  assert.ok(copyCodes[code('channel_busy')] >= 1, 'copies meeting the live reservation are channel_busy');
  assert.equal(await chargedNow(), String(2n * PRICE));
  const base = 2n * PRICE;

  // 20 at once, voucher k signing base + k × price: only the one matching the charged total can be served at a time.
  const headers = await Promise.all(Array.from({ length: 20 }, (_, k) => rush.voucher(base + BigInt(k + 1) * PRICE)));
  const results = await Promise.all(headers.map((h) => send(url, h)));
  const served = [];
  const refusedCodes = {};
  results.forEach((r, k) => {
    const max = base + BigInt(k + 1) * PRICE;
    if (r.status === 200) {
      assertServed(r, { channelId, charged: max, what: `concurrent voucher ${k + 1}` });
      assert.equal(r.body, ONE_HTML);
      served.push(k + 1);
    } else {
      assert.equal(r.status, 402, `concurrent voucher ${k + 1}: ${r.status} ${r.body}`);
      const c = refusal(r);
      assert.ok(busyOrStale.includes(c), `concurrent voucher ${k + 1}: ${c}`);
      assert.doesNotMatch(r.body, /<html/i);
      refusedCodes[c] = (refusedCodes[c] ?? 0) + 1;
    }
  });
  t.diagnostic(`served ${served.length} of 20 at once (${served.join(',')}); refused ${show(refusedCodes)}`);
  assert.ok(served.length >= 1, 'at least the first in line is served');
  assert.deepEqual(served, Array.from({ length: served.length }, (_, i) => i + 1), 'served ones are consecutive cumulatives from the charged total');

  // The server's charged total = base + served × price.
  assert.equal(await chargedNow(), String(base + BigInt(served.length) * PRICE));

  // The others, retried one by one in order, are all served.
  for (let k = served.length + 1; k <= 20; k++) {
    const r = await send(url, headers[k - 1]);
    assertServed(r, { channelId, charged: base + BigInt(k) * PRICE, what: `retry of voucher ${k}` });
  }
  rushCharged = base + 20n * PRICE;
  await eventually('claimed', () => channelOnChain(chain.rpcUrl, channelId), (c) => c.totalClaimed === rushCharged);
});

test('5. origin failure (404 asset, 500 origin): the status passes through, nothing is charged; the same voucher then buys a page', async () => {
  assert.ok(rush && rushCharged !== undefined, 'test 4 ran');
  const { channelId } = rush;
  const header = await rush.voucher(rushCharged + PRICE);
  const missing = await send(`${worker.url}/paid/missing-page.html`, header);
  assert.equal(missing.status, 404, missing.body);
  assert.ok(!missing.receipt?.success, 'no success PAYMENT-RESPONSE on a 404');
  const boom = await send(`${worker.url}/origin/boom`, header);
  assert.equal(boom.status, 500, boom.body);
  assert.equal(boom.body, 'origin failed');
  assert.ok(!boom.receipt?.success, 'no success PAYMENT-RESPONSE on a 500');
  const ok = await send(`${worker.url}/paid/one.html`, header);
  assertServed(ok, { channelId, charged: rushCharged + PRICE, what: 'the same voucher on an existing page' });
  assert.equal(ok.body, ONE_HTML);
  rushCharged += PRICE;
  await eventually('claimed', () => channelOnChain(chain.rpcUrl, channelId), (c) => c.totalClaimed === rushCharged);
});

test('6. Channel state lost: the reference client resyncs or is served; never charged beyond what it was served', async (t) => {
  const payer = ROLES.payers[3];
  const bob = referenceClient(payer);
  // Three requests on `doomed`, whose charges stay unclaimed (age rule at an hour) …
  const earlier = [];
  for (let i = 1; i <= 3; i++) earlier.push(await payOnce(bob, `${doomed.url}/paid/one.html`, `doomed request ${i}`));
  const { channelId } = earlier[0].extra.channelState;
  assert.deepEqual(earlier.map((r) => r.extra.channelState.chargedCumulativeAmount), ['10000', '20000', '30000']);
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: MIN_DEPOSIT, totalClaimed: 0n });
  // … then that Worker is gone, its Durable Object state with it. `worker` (same payTo, receiver
  // authorizer and withdrawDelay: the same channel) has never seen this channel: its state is empty.
  await doomed.stop();
  doomed = null;

  const seenFrom = bob.seen.length;
  const later = [];
  for (let i = 1; i <= 3; i++) later.push(await payOnce(bob, `${worker.url}/paid/one.html`, `request ${i} after the loss`));
  const exchanges = bob.seen.slice(seenFrom);
  t.diagnostic(`exchanges after the loss: ${exchanges.map((e) => `${e.status}${e.required?.error ? ` ${e.required.error}` : ''}${e.sent ? ` (${e.sent.type} ${e.sent.voucher?.maxClaimableAmount})` : ''}`).join(' | ')}`);
  // A paid request answered 402 is a corrective one: its baseline is at least the on-chain totalClaimed (0
  // here); the spec's baseline after a loss is exactly that (the unclaimed 30000 forfeited), while the
  // reference server infers charged = voucher − price (the 30000 the lost state had charged) and serves.
  const corrective = exchanges.filter((e) => e.sent && e.status === 402);
  for (const c of corrective) {
    assert.equal(c.required?.error, code('cumulative_amount_mismatch'), show(c.required));
    assert.equal(batchEntry(c.required).extra.channelState.chargedCumulativeAmount, '0', 'baseline = on-chain totalClaimed');
  }
  assert.ok(corrective.length <= 1, 'one resync at most');
  assert.ok(exchanges.every((e) => !e.sent || e.sent.type === 'voucher'), 'no new deposit: the balance on chain covers it');

  const charges = later.map((r) => BigInt(r.extra.channelState.chargedCumulativeAmount));
  charges.forEach((c, i) => i > 0 && assert.equal(c, charges[i - 1] + PRICE, 'one price per request'));
  const last = charges.at(-1);
  const served = BigInt(earlier.length + later.length);
  assert.ok(last <= served * PRICE, `charged ${last} ≤ served ${served} × price`);

  // After the claims the chain holds exactly what this Worker says it charged, never more than was served.
  const { value } = await eventually('claimed', () => channelOnChain(chain.rpcUrl, channelId), (c) => c.totalClaimed === last);
  assert.ok(value.totalClaimed <= served * PRICE);
  assert.equal(value.balance, MIN_DEPOSIT);
  t.diagnostic(`served ${served}, claimed ${value.totalClaimed} (forfeited ${served * PRICE - value.totalClaimed})`);

  // Another Worker without this channel's state (`patient`) gets a stale voucher, below the claimed
  // total: a corrective 402 whose baseline is the on-chain totalClaimed; nothing is charged, and the
  // voucher at totalClaimed + price is then served.
  const url = `${patient.url}/paid/one.html`;
  const accepted = batchEntry(await offer(url));
  const config = bob.scheme.buildChannelConfig(accepted);
  assert.equal(channelIdOf(config), channelId);
  const voucher = async (max) => batchHeader(accepted, await voucherPayload({ config, voucherKey: bob.voucherKey, max }));
  const stale = await send(url, await voucher(value.totalClaimed - 2n * PRICE));
  assert.equal(stale.status, 402, stale.body);
  assert.ok(
    [code('cumulative_amount_mismatch'), code('cumulative_below_claimed')].includes(refusal(stale)),
    `stale voucher: ${show(stale.required ?? stale.receipt)}`,
  );
  const staleState = stale.required && batchEntry(stale.required)?.extra?.channelState;
  if (staleState) assert.equal(staleState.chargedCumulativeAmount, String(value.totalClaimed), 'baseline = on-chain totalClaimed');
  t.diagnostic(`stale voucher at a Worker without state: ${refusal(stale)}, channelState ${show(staleState ?? null)}`);
  assertServed(await send(url, await voucher(value.totalClaimed + PRICE)), {
    channelId,
    charged: value.totalClaimed + PRICE,
    payer: payer.address,
    what: 'the voucher at totalClaimed + price',
  });
});

test('8. cooperative refund (reference client): 200 "Refund acknowledged", the rest of the balance goes back', async () => {
  assert.ok(aliceChannel, 'test 2 ran');
  const payer = ROLES.payers[0];
  const url = `${worker.url}/paid/one.html`;
  const channel = await channelOnChain(chain.rpcUrl, aliceChannel);
  const charged = channel.totalClaimed; // test 2 waited until every charge was claimed
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const answers = [];
  const recording = async (input, init) => {
    const res = await fetch(input, init);
    answers.push({ status: res.status, body: await res.clone().text(), cacheControl: res.headers.get('cache-control') });
    return res;
  };
  const result = await alice.scheme.refund(url, { fetch: recording });
  const last = answers.at(-1);
  assert.equal(last.status, 200, show(answers));
  const body = JSON.parse(last.body);
  assert.equal(body.message, 'Refund acknowledged');
  assert.equal(body.channelId, aliceChannel);
  assert.match(last.cacheControl ?? '', /private/);
  assert.equal(result.success, true, show(result));
  assert.equal(result.amount, String(channel.balance - charged));
  assert.match(result.transaction, /^0x[0-9a-f]{64}$/);
  assert.equal(result.extra?.channelState?.chargedCumulativeAmount, String(charged));
  assert.equal(result.extra?.chargedAmount, undefined, 'no chargedAmount on a refund');
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore + (channel.balance - charged));
  assert.deepEqual(await channelOnChain(chain.rpcUrl, aliceChannel), { balance: charged, totalClaimed: charged });
  assert.equal(
    await client.readContract({ address: BS, abi: BATCH_SETTLEMENT_ABI, functionName: 'refundNonce', args: [aliceChannel] }),
    1n,
  );
});

test('9. facilitator endpoints: GET /supported lists a batch-settlement kind with the receiver authorizer', async () => {
  const res = await fetch(`${worker.url}/supported`, { headers: { Authorization: `Bearer ${FACILITATOR_TOKEN}` } });
  assert.equal(res.status, 200);
  const { kinds } = await res.json();
  assert.deepEqual(kinds.map((k) => `${k.x402Version} ${k.scheme} ${k.network}`).sort(), ['2 batch-settlement eip155:31337', '2 exact eip155:31337']);
  assert.deepEqual(kinds.find((k) => k.scheme === 'batch-settlement'), {
    x402Version: 2,
    scheme: 'batch-settlement',
    network: NETWORK,
    extra: { receiverAuthorizer: getAddress(AUTHORIZER.address) },
  });
});

test('10. a charge through a channel brings an access pass for that page: it serves the page again without payment, and no other page', async () => {
  const url = `${worker.url}/paid/one.html`;
  const p = await rawPayer(ROLES.payers[3], url);
  const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': await p.deposit(MIN_DEPOSIT, PRICE) } });
  assert.equal(res.status, 200, await res.clone().text());
  const pass = res.headers.get('x-payment-pass');
  assert.ok(pass, 'X-PAYMENT-PASS with the paid page');
  assert.match(res.headers.get('set-cookie') ?? '', /x402_pass=[^;]+; Path=\/paid\/one\.html; Max-Age=\d+; HttpOnly; Secure; SameSite=Lax/);
  const again = await fetch(url, { headers: { 'X-PAYMENT-PASS': pass } });
  assert.equal(again.status, 200);
  assert.equal(await again.text(), ONE_HTML);
  assert.equal(again.headers.get('payment-response'), null, 'served by the pass: nothing charged');
  const other = await fetch(`${worker.url}/paid/two.html`, { headers: { 'X-PAYMENT-PASS': pass } });
  await other.text();
  assert.equal(other.status, 402, 'the pass is for its own page only');
  // The next voucher still builds on one charge: the pass charged nothing.
  const next = await send(url, await p.voucher(2n * PRICE));
  assertServed(next, { channelId: p.channelId, charged: 2n * PRICE, what: 'the voucher after the pass' });
  // A route without passes (passLifetimeSeconds = 0) gives none.
  const api = await rawPayer(ROLES.payers[3], `${worker.url}/api/quote.json`);
  const quote = await fetch(`${worker.url}/api/quote.json`, { headers: { 'PAYMENT-SIGNATURE': await api.deposit(MIN_DEPOSIT, 1000n) } });
  assert.equal(quote.status, 200, await quote.clone().text());
  assert.equal(quote.headers.get('x-payment-pass'), null);
});

test('11. payment-identifier on channel payments: the same payment under its id is answered again (deposit too), charging nothing; another payment under it is 409', async () => {
  const payer = ROLES.payers[2];
  const p = await rawPayer(payer, `${worker.url}/origin/named-a`);
  // A payment with `id` in extensions["payment-identifier"].info (as a client echoes the declaration).
  const named = (header, id) => {
    const payment = decodeHeader(header);
    payment.extensions = { 'payment-identifier': { info: { required: false, id } } };
    return Buffer.from(JSON.stringify(payment)).toString('base64');
  };
  const at = (x) => `${worker.url}/origin/named-${x}`;
  const deposit = named(await p.deposit(MIN_DEPOSIT, PRICE), 'pay_deposit_000000000001');
  const r1 = await send(at('a'), deposit);
  const depositReceipt = assertServed(r1, { channelId: p.channelId, charged: PRICE, deposit: MIN_DEPOSIT, what: 'the deposit' });
  const sent = broadcasts;
  // Its answer lost: the same deposit under the same id gets the same answer, no new transaction.
  const again = await send(at('a'), deposit);
  assert.equal(again.status, 200, again.body);
  assert.equal(again.body, r1.body);
  assert.deepEqual({ ...again.receipt, extensions: undefined }, { ...depositReceipt, extensions: undefined });
  assert.equal(broadcasts, sent, 'no second deposit broadcast');
  assert.equal((await channelOnChain(chain.rpcUrl, p.channelId)).balance, MIN_DEPOSIT);

  const v2 = named(await p.voucher(2n * PRICE), 'pay_voucher_00000000002');
  const served2 = assertServed(await send(at('b'), v2), { channelId: p.channelId, charged: 2n * PRICE, what: 'voucher 2' });
  assertServed(await send(at('c'), named(await p.voucher(3n * PRICE), 'pay_voucher_00000000003')), { channelId: p.channelId, charged: 3n * PRICE, what: 'voucher 3' });
  // Voucher 2 sent again (not the channel's last charge): under its id, the first answer again.
  const repeat = await send(at('b'), v2);
  assert.equal(repeat.status, 200, repeat.body);
  assert.deepEqual({ ...repeat.receipt, extensions: undefined }, { ...served2, extensions: undefined });
  // Without the id the same voucher is only a stale one: the corrective state.
  assertRefused(await send(at('b'), await p.voucher(2n * PRICE)), code('cumulative_amount_mismatch'), 'voucher 2 without its id');
  // The id on another payment: 409, and the channel is left as it was.
  const conflict = await send(at('d'), named(await p.voucher(4n * PRICE), 'pay_voucher_00000000002'));
  assert.equal(conflict.status, 409, conflict.body);
  assert.equal(JSON.parse(conflict.body).error, 'invalid_payload');
  // The same voucher for another resource is another payment too.
  assert.equal((await send(at('c'), v2)).status, 409);
  // A malformed id: 400.
  const bad = await send(at('d'), named(await p.voucher(4n * PRICE), 'short'));
  assert.equal(bad.status, 400, bad.body);
  assertServed(await send(at('d'), await p.voucher(4n * PRICE)), { channelId: p.channelId, charged: 4n * PRICE, what: 'voucher 4 after the refusals' });

  // A route that requires ids: a voucher without one is 400; our channel client names each
  // payment (from its payload), so two purchases on one channel are two ids, and both are served.
  const q = await rawPayer(payer, `${worker.url}/named/one`);
  const missing = await send(`${worker.url}/named/one`, await q.deposit(MIN_DEPOSIT, PRICE));
  assert.equal(missing.status, 400, missing.body);
  assert.match(JSON.parse(missing.body).message, /requires a payment-identifier/);
  const ours = wrapFetch(fetch, localWallet(ROLES.payers[1].privateKey), { channels: { allowed: true, credit: '100000' } });
  for (const x of ['one', 'two']) {
    const res = await ours(`${worker.url}/named/${x}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), `origin says /named/${x}`);
  }
});

test('7. timed withdrawal: the Worker claims its unclaimed charges before the delay ends; finalize pays the payer only the rest', async (t) => {
  const payer = ROLES.payers[4];
  const carol = referenceClient(payer);
  const url = `${patient.url}/paid/one.html`;
  const receipts = [];
  for (let i = 1; i <= 3; i++) receipts.push(await payOnce(carol, url, `request ${i}`));
  const { channelId } = receipts[0].extra.channelState;
  const charged = 3n * PRICE;
  const accepted = batchEntry(await offer(url));
  const config = carol.scheme.buildChannelConfig(accepted);
  assert.equal(channelIdOf(config), channelId);
  await sleep(2_000);
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: MIN_DEPOSIT, totalClaimed: 0n }, 'no claim yet (age rule at an hour)');

  // The payer asks for everything not claimed on chain, unclaimed charges included.
  const wallet = walletClient(chain.rpcUrl, payer);
  const write = async (functionName, args) => {
    const hash = await wallet.writeContract({ address: BS, abi: BATCH_SETTLEMENT_ABI, functionName, args, chain: null });
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success', functionName);
    return receipt;
  };
  await write('initiateWithdraw', [config, MIN_DEPOSIT]);
  const { ms } = await eventually('claimed before the withdrawal completes', () => channelOnChain(chain.rpcUrl, channelId), (c) => c.totalClaimed === charged, 15_000);
  t.diagnostic(`claimed ${ms} ms after initiateWithdraw`);
  const [pending] = await client.readContract({ address: BS, abi: BATCH_SETTLEMENT_ABI, functionName: 'pendingWithdrawals', args: [channelId] });
  assert.equal(pending, MIN_DEPOSIT, 'the withdrawal is still pending');

  // The delay passes; finalizing pays out the balance minus the claimed charges.
  await rpc(chain.rpcUrl, 'evm_increaseTime', [901]);
  await rpc(chain.rpcUrl, 'evm_mine', []);
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  await write('finalizeWithdraw', [config]);
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore + (MIN_DEPOSIT - charged));
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: charged, totalClaimed: charged });
});
