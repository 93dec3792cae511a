// The edge Worker's batch-settlement scheme in settlement mode "facilitator" (crates/worker/src/batch/
// onchain.rs, `Settlement::Facilitator`): the Worker verifies and settles the client's deposits through a
// remote x402 facilitator's POST /verify and POST /settle, and its Channel objects claim and settle with
// server-authored `claim` / `settle` payloads (x402 specs/schemes/batch-settlement/
// scheme_batch_settlement_evm.md, "Claim" and "Settle") whose `claimAuthorizerSignature` the Worker signs
// with X402_RECEIVER_AUTHORIZER_KEY. The facilitator is the REFERENCE one — @x402/core x402Facilitator
// with @x402/evm's batch-settlement facilitator scheme (no authorizer key of its own: it must use the
// Worker's signatures), sending from its own account through a viem wallet — served over HTTP by a small
// node:http server in this process, answering as the reference HTTP facilitator does (200 with the
// VerifyResponse / SettleResponse, 400 on a body without paymentPayload/paymentRequirements, 500
// `{error}` when the facilitator throws), to the bodies @x402/core's HTTPFacilitatorClient sends
// (`{x402Version, paymentPayload, paymentRequirements}`). Every exchange is recorded.
//
// One anvil with the stand-in contracts (tests/contracts) at the canonical addresses, one Worker
// (claims once the oldest unclaimed charge is 2 s old; rpcUrl = anvil for its channel reads). The
// payer is the reference client (@x402/fetch + x402Client + BatchSettlementEvmScheme, delegated voucher
// key). Then the facilitator goes down: deposits are refused with a reason code and move nothing,
// vouchers on a freshly mirrored channel are still served (verified at the edge), and once the
// facilitator is back the charges served meanwhile are claimed and settled. Then the cooperative refund
// (an enriched refund the Worker signs), a channel the Worker never saw (the facilitator's voucher
// /verify), a facilitator refusal passing through, and a deposit /settle left unanswered.
//
// Tests 5 and 7 failed before the fixes they check (a claim the facilitator could not take was
// retried at once in a loop; a deposit whose /settle got no answer blocked its channel until the
// reservation expired).
//
//   node --test tests/js/worker-batch-remote.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { x402Client } from '@x402/core/client';
import { x402Facilitator } from '@x402/core/facilitator';
import { toClientEvmSigner, toFacilitatorEvmSigner } from '@x402/evm';
import { BatchSettlementEvmScheme as ClientScheme } from '@x402/evm/batch-settlement/client';
import { BatchSettlementEvmScheme as FacilitatorScheme } from '@x402/evm/batch-settlement/facilitator';
import { wrapFetchWithPayment } from '@x402/fetch';
import { createWalletClient, defineChain, getAddress, http, publicActions } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS,
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ROLES,
  TOKEN_ADDRESS,
  authorizationState,
  balanceOf,
  channelIdOf,
  depositNonce,
  deployBatchSettlement,
  deployToken,
  publicClient,
  rpc,
  startAnvil,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';
import { batchHeader, channelConfigFor, channelOnChain, depositPayload, receiverOnChain, voucherPayload } from './lib/batch.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NETWORK = 'eip155:31337';
const BS = BATCH_SETTLEMENT_ADDRESS;
const PAY_TO = ROLES.payTo.address;
/** The Worker's receiver authorizer (its X402_RECEIVER_AUTHORIZER_KEY). */
const AUTHORIZER = ANVIL_ACCOUNTS[7];
const PRICE = 10_000n; // GET /paid/one.html: $0.01
const MIN_DEPOSIT = 200_000n; // batchSettlement.minDeposit "$0.20": 20 requests
const MAX_AGE_SECONDS = 2;
const ONE_HTML = readFileSync(path.join(ROOT, 'www', 'paid', 'one.html'), 'utf8');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
const lower = (a) => a?.toLowerCase();

let chain;
let client; // viem public client on anvil
let facilitatorAccount; // the reference facilitator's sending account (fresh, funded)
let facilitator; // the reference x402Facilitator (also called in-process by test 4)
let fac; // the reference facilitator over HTTP: { url, port, exchanges, close, listen }
let worker;

// ------------------------------------------------------------------------------ the reference facilitator

/** JSON with bigints as decimal strings (what HTTPFacilitatorClient's toJsonSafe does). */
const jsonSafe = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * Serves `facilitator` (an x402Facilitator) as the reference HTTP facilitator does: POST /verify and
 * POST /settle take `{x402Version, paymentPayload, paymentRequirements}` and answer 200 with the
 * facilitator's result, 400 without paymentPayload/paymentRequirements, 500 `{error}` when it throws;
 * GET /supported answers getSupported(). Every exchange lands in `exchanges`. `faults.dropSettle`
 * makes POST /settle drop the connection without an answer. close() stops listening
 * (and drops kept-alive connections); listen() serves again on the same port.
 */
async function serveFacilitator(facilitator) {
  const exchanges = [];
  const faults = { dropSettle: false }; // dropSettle: POST /settle reads the request, then drops the connection unanswered
  const handle = async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    const route = `${req.method} ${req.url}`;
    if (faults.dropSettle && route === 'POST /settle') {
      exchanges.push({ route, body: JSON.parse(text), status: 'dropped', at: Date.now() });
      req.socket.destroy();
      return;
    }
    let status = 200;
    let answer;
    let body;
    try {
      if (route === 'GET /supported') {
        answer = facilitator.getSupported();
      } else if (route === 'POST /verify' || route === 'POST /settle') {
        body = JSON.parse(text);
        const { paymentPayload, paymentRequirements } = body ?? {};
        if (!paymentPayload || !paymentRequirements) {
          status = 400;
          answer = { error: 'Missing paymentPayload or paymentRequirements' };
        } else {
          answer = route === 'POST /verify'
            ? await facilitator.verify(paymentPayload, paymentRequirements)
            : await facilitator.settle(paymentPayload, paymentRequirements);
        }
      } else {
        status = 404;
        answer = { error: 'not found' };
      }
    } catch (e) {
      status = 500;
      answer = { error: e instanceof Error ? e.message : String(e) };
    }
    exchanges.push({ route, body, status, answer, at: Date.now() });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(jsonSafe(answer));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(e) }));
    });
  });
  let port = 0;
  const listen = () => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      port = server.address().port;
      resolve();
    });
  });
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    exchanges,
    faults,
    listen,
    listening: () => server.listening,
    close: () => new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);

  // The reference facilitator: its own account (not the Worker's relayer), no authorizer key.
  facilitatorAccount = privateKeyToAccount(generatePrivateKey());
  await rpc(chain.rpcUrl, 'anvil_setBalance', [facilitatorAccount.address, '0x56bc75e2d63100000']);
  const viemChain = defineChain({
    id: 31337,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  });
  const wallet = createWalletClient({ account: facilitatorAccount, chain: viemChain, transport: http(chain.rpcUrl), pollingInterval: 50 })
    .extend(publicActions);
  const signer = toFacilitatorEvmSigner(Object.assign(wallet, { address: facilitatorAccount.address }), { confirmationTimeoutMs: 20_000 });
  facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(signer));
  fac = await serveFacilitator(facilitator);

  const config = defaultConfig(chain.rpcUrl, {
    settlement: { mode: 'facilitator', url: fac.url, rpcUrl: chain.rpcUrl, timeoutSeconds: 20 },
    batchSettlement: {
      withdrawDelay: 900,
      minDeposit: '$0.20',
      claim: { threshold: '1000000000000', maxAgeSeconds: MAX_AGE_SECONDS, checkIntervalSeconds: 1 },
    },
  });
  worker = await startWorker({ config, secrets: { X402_RECEIVER_AUTHORIZER_KEY: AUTHORIZER.privateKey } });
});

after(async () => {
  await worker?.stop();
  await fac?.close();
  await chain?.stop();
});

// ------------------------------------------------------------------------------------------- helpers

/** The Worker's log (wrangler --log-level warn: console_error lines and warnings). */
const workerLog = () => readFileSync(worker.logFile, 'utf8');
/** The Worker log lines after offset `from`, without colours. */
const logSince = (from) => workerLog().slice(from).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter(Boolean);

/** Polls `read()` until `ok(value)`; fails with the last value after `timeoutMs`. Returns { value, ms }. */
async function eventually(what, read, ok, timeoutMs = 20_000) {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) {
      const log = logSince(0).slice(-12).join('\n');
      const seen = show(fac.exchanges.slice(-4).map((e) => ({ route: e.route, type: e.body?.paymentPayload?.payload?.type, status: e.status, answer: e.answer })));
      assert.fail(`${what}: still ${show(value)} after ${timeoutMs} ms\nfacilitator (listening: ${fac.listening()}) last saw: ${seen}\nWorker log:\n${log}`);
    }
    await sleep(200);
  }
}

const nonceOf = async (address) => Number(BigInt(await rpc(chain.rpcUrl, 'eth_getTransactionCount', [address, 'latest'])));
const events = (eventName, args, fromBlock = 0n) =>
  client.getContractEvents({ address: BS, abi: BATCH_SETTLEMENT_ABI, eventName, args, fromBlock });
const txFrom = async (hash) => getAddress((await client.getTransaction({ hash })).from);

/** GET `url` unpaid: the decoded PAYMENT-REQUIRED of its 402. */
async function offer(url) {
  const res = await fetch(url);
  await res.text();
  assert.equal(res.status, 402);
  return decodeHeader(res.headers.get('payment-required'));
}

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

/**
 * A reference client (BatchSettlementEvmScheme + x402Client + @x402/fetch) for `payer` with a
 * delegated voucher key; `seen` records each exchange its fetch makes.
 */
function referenceClient(payer) {
  const voucherKey = generatePrivateKey();
  const signer = toClientEvmSigner(privateKeyToAccount(payer.privateKey), client);
  const scheme = new ClientScheme(signer, { voucherSigner: toClientEvmSigner(privateKeyToAccount(voucherKey), client) });
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
  return { scheme, seen, pay: wrapFetchWithPayment(recording, x402), voucherKey };
}

/** Pays `url` with a reference client; returns the 200's decoded PAYMENT-RESPONSE. */
async function payOnce(ref, url, what) {
  const res = await ref.pay(url);
  const body = await res.text();
  assert.equal(res.status, 200, `${what}: ${body} ${show(ref.seen.slice(-3))}\n${workerLog().split('\n').slice(-15).join('\n')}`);
  assert.equal(body, ONE_HTML, `${what}: the page`);
  return decodeHeader(res.headers.get('payment-response'));
}

/** A served request's PAYMENT-RESPONSE: a deposit (transaction + amount) or a voucher (neither). */
function assertReceipt(receipt, { channelId, charged, deposit, payer, what }) {
  assert.equal(receipt.success, true, `${what}: ${show(receipt)}`);
  assert.equal(receipt.network, NETWORK, what);
  assert.equal(lower(receipt.payer), lower(payer), `${what}: payer`);
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
}

/** The `accepted` (and requirement) of a server-authored claim/settle (the reference channel manager's). */
const managerAccepted = {
  scheme: 'batch-settlement',
  network: NETWORK,
  amount: '0',
  asset: getAddress(TOKEN_ADDRESS),
  payTo: getAddress(PAY_TO),
  maxTimeoutSeconds: 0,
  extra: {},
};
const normalizedAccepted = (a) => ({ ...a, asset: getAddress(a.asset), payTo: getAddress(a.payTo) });

// ------------------------------------------------------------------------------------------- tests

let alice; // the reference client of test 1, paying on in test 2
let aliceChannel;
let aliceServed = 0; // requests served on alice's channel
let aliceDeposit = 0n;
let retriedDeposit; // test 6's second attempt, judged by test 7
let claimsWhileDown; // { attempts, seconds }: the Worker's claim attempts logged while the facilitator was down (test 2)

test('1. reference client → Worker → reference facilitator: deposit and vouchers; the alarm claims and settles through it', async (t) => {
  const payer = ROLES.payers[0];
  alice = referenceClient(payer);
  const url = `${worker.url}/paid/one.html`;
  const N = 11; // one deposit, then ten vouchers
  const workerRelayerNonce = await nonceOf(ROLES.relayer.address);
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const payToBefore = await balanceOf(chain.rpcUrl, PAY_TO);
  const receiverBefore = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
  const fromBlock = await client.getBlockNumber({ cacheTime: 0 });
  const seenBefore = fac.exchanges.length;

  // The 402 names the Worker's authorizer (not the facilitator's: it has none).
  const accepted = (await offer(url)).accepts.find((a) => a.scheme === 'batch-settlement');
  assert.equal(accepted.extra.receiverAuthorizer, getAddress(AUTHORIZER.address));
  assert.equal(accepted.extra.minDeposit, String(MIN_DEPOSIT));

  const receipts = [];
  for (let i = 1; i <= N; i++) receipts.push(await payOnce(alice, url, `request ${i}`));
  aliceServed = N;
  const channelId = receipts[0].extra?.channelState?.channelId;
  assert.match(channelId ?? '', /^0x[0-9a-f]{64}$/);
  aliceChannel = channelId;
  receipts.forEach((receipt, k) =>
    assertReceipt(receipt, {
      channelId,
      charged: BigInt(k + 1) * PRICE,
      deposit: k === 0 ? MIN_DEPOSIT : undefined,
      payer: payer.address,
      what: `request ${k + 1}`,
    }));
  aliceDeposit = MIN_DEPOSIT;

  // The facilitator saw the deposit's /verify and /settle, and nothing for the ten vouchers (verified at the edge).
  const during = fac.exchanges.slice(seenBefore);
  assert.deepEqual(during.map((e) => `${e.route} ${e.body?.paymentPayload?.payload?.type}`),
    ['POST /verify deposit', 'POST /settle deposit'], show(during));
  for (const e of during) {
    assert.equal(e.status, 200);
    assert.equal(e.body.x402Version, 2, 'top-level x402Version');
    assert.equal(e.body.paymentPayload.x402Version, 2);
    assert.equal(e.body.paymentRequirements.scheme, 'batch-settlement');
    assert.equal(e.body.paymentRequirements.amount, String(PRICE));
    assert.equal(getAddress(e.body.paymentRequirements.payTo), getAddress(PAY_TO));
    assert.equal(e.body.paymentRequirements.extra.receiverAuthorizer, getAddress(AUTHORIZER.address));
    assert.equal(e.body.paymentRequirements.extra.withdrawDelay, 900);
  }
  const [verified, settled] = during;
  assert.equal(verified.answer.isValid, true, show(verified.answer));
  assert.deepEqual(verified.answer.extra, { channelId, balance: '0', totalClaimed: '0', withdrawRequestedAt: 0, refundNonce: '0' });
  assert.equal(settled.answer.success, true, show(settled.answer));
  assert.equal(settled.answer.transaction, receipts[0].transaction, 'the Worker reports the facilitator\'s deposit transaction');

  // The deposit was sent by the facilitator's account, not the Worker's relayer.
  assert.equal(await txFrom(receipts[0].transaction), getAddress(facilitatorAccount.address), 'deposit tx from');
  const deposited = await events('Deposited', { channelId }, fromBlock);
  assert.deepEqual(deposited.map((e) => [e.transactionHash, e.args.amount]), [[receipts[0].transaction, MIN_DEPOSIT]]);

  // The alarm claims (oldest charge 2 s old) and settles through the facilitator: payTo gets exactly N × price.
  const total = BigInt(N) * PRICE;
  const { ms } = await eventually(
    'claimed and settled through the facilitator',
    async () => ({
      channel: await channelOnChain(chain.rpcUrl, channelId),
      payTo: (await balanceOf(chain.rpcUrl, PAY_TO)) - payToBefore,
    }),
    (v) => v.channel.totalClaimed === total && v.payTo === total,
  );
  t.diagnostic(`claimed + settled ${ms} ms after the last request`);
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: MIN_DEPOSIT, totalClaimed: total });
  const receiver = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
  assert.equal(receiver.totalClaimed - receiverBefore.totalClaimed, total);
  assert.equal(receiver.totalSettled - receiverBefore.totalSettled, total);
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore - MIN_DEPOSIT);

  // Claim and settle: server-authored payloads as the reference channel manager sends them; the
  // claim carries the Worker's authorizer signature; both transactions from the facilitator's account.
  const later = fac.exchanges.slice(seenBefore + 2);
  const claims = later.filter((e) => e.body?.paymentPayload?.payload?.type === 'claim');
  const settles = later.filter((e) => e.body?.paymentPayload?.payload?.type === 'settle');
  assert.equal(claims.length, 1, show(later));
  assert.equal(settles.length, 1, show(later));
  assert.deepEqual(later.map((e) => e.route), ['POST /settle', 'POST /settle'], show(later));
  const [claim] = claims;
  assert.equal(claim.body.x402Version, 2);
  assert.deepEqual(normalizedAccepted(claim.body.paymentPayload.accepted), managerAccepted);
  assert.deepEqual(normalizedAccepted(claim.body.paymentRequirements), managerAccepted);
  const claimPayload = claim.body.paymentPayload.payload;
  assert.match(claimPayload.claimAuthorizerSignature ?? '', /^0x[0-9a-f]{130}$/, 'the Worker signs the ClaimBatch');
  assert.equal(claimPayload.claims.length, 1);
  assert.equal(claimPayload.claims[0].totalClaimed, String(total));
  assert.equal(claimPayload.claims[0].voucher.maxClaimableAmount, String(total));
  assert.equal(channelIdOf(claimPayload.claims[0].voucher.channel), channelId);
  assert.equal(claim.answer.success, true, show(claim.answer));
  const [settle] = settles;
  assert.deepEqual(normalizedAccepted(settle.body.paymentPayload.accepted), managerAccepted);
  assert.deepEqual(
    { receiver: getAddress(settle.body.paymentPayload.payload.receiver), token: getAddress(settle.body.paymentPayload.payload.token) },
    { receiver: getAddress(PAY_TO), token: getAddress(TOKEN_ADDRESS) },
  );
  assert.equal(settle.answer.success, true, show(settle.answer));
  assert.equal(settle.answer.amount, String(total));

  const claimed = await events('Claimed', { channelId }, fromBlock);
  assert.deepEqual(claimed.map((e) => e.transactionHash), [claim.answer.transaction]);
  assert.equal(await txFrom(claim.answer.transaction), getAddress(facilitatorAccount.address), 'claim tx from');
  const settledEvents = await events('Settled', { receiver: PAY_TO }, fromBlock);
  assert.deepEqual(settledEvents.map((e) => [e.transactionHash, e.args.amount]), [[settle.answer.transaction, total]]);
  assert.equal(await txFrom(settle.answer.transaction), getAddress(facilitatorAccount.address), 'settle tx from');

  // The Worker's relayer sent nothing.
  assert.equal(await nonceOf(ROLES.relayer.address), workerRelayerNonce, 'the Worker relayer\'s nonce');
});

test('2. facilitator down: a deposit is refused with a reason code, nothing moves; vouchers on a fresh mirror are served; claims wait for it', async (t) => {
  assert.ok(aliceChannel, 'test 1 ran');
  await fac.close();
  assert.equal(fac.listening(), false);
  const url = `${worker.url}/paid/one.html`;
  const logFrom = workerLog().length;
  const fromBlock = await client.getBlockNumber({ cacheTime: 0 });
  const payToBefore = await balanceOf(chain.rpcUrl, PAY_TO);

  // A hand-built deposit for a new payer: 402 with a reason code; no transaction, no authorization used.
  const payer = ROLES.payers[1];
  const accepted = (await offer(url)).accepts.find((a) => a.scheme === 'batch-settlement');
  const voucherKey = generatePrivateKey();
  const config = channelConfigFor(accepted, { payer: payer.address, payerAuthorizer: privateKeyToAccount(voucherKey).address });
  const channelId = channelIdOf(config);
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const deposit = await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount: MIN_DEPOSIT, max: PRICE });
  const started = Date.now();
  const r = await send(url, batchHeader(accepted, deposit));
  const tookMs = Date.now() - started;
  assert.equal(r.status, 402, `deposit with the facilitator down: ${r.body}`);
  assert.doesNotMatch(r.body, /<html/i, 'no content');
  assert.ok(r.required, 'PAYMENT-REQUIRED');
  t.diagnostic(`deposit refused in ${tookMs} ms: ${r.body.slice(0, 300)}`);
  assert.equal(r.required.error, 'unexpected_verify_error', show(r.required));
  assert.equal(r.receipt, null, 'refused before settlement: no PAYMENT-RESPONSE');
  assert.ok(r.required.accepts.some((a) => a.scheme === 'batch-settlement'), 'the 402 still offers batch-settlement');
  const body = JSON.parse(r.body);
  assert.equal(body.error, 'unexpected_verify_error');
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: 0n, totalClaimed: 0n });
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore);
  assert.equal(await authorizationState(chain.rpcUrl, payer.address, depositNonce(channelId, deposit.deposit.authorization.erc3009Authorization.salt)), false);
  assert.equal(await client.getBlockNumber({ cacheTime: 0 }), fromBlock, 'no block mined');
  // (wrangler writes the Worker's console_error lines to its log a little later)
  const { value: refusalLog } = await eventually('the Worker logs the failed /verify', async () => logSince(logFrom),
    (lines) => lines.some((l) => l.includes(`facilitator POST ${fac.url}/verify`)), 5_000);
  t.diagnostic(`Worker log: ${refusalLog.find((l) => l.includes('/verify'))}`);

  // The reference client's first payment (a deposit) gets the same 402.
  const bob = referenceClient(ROLES.payers[2]);
  const res = await bob.pay(url);
  const bobBody = await res.text();
  assert.equal(res.status, 402, bobBody);
  assert.equal(decodeHeader(res.headers.get('payment-required')).error, 'unexpected_verify_error');
  assert.equal(bob.seen.at(-1).sent?.type, 'deposit');

  // Alice's channel (mirrored at its deposit, well within the mirror's freshness) keeps being served
  // on vouchers alone, verified at the edge: the facilitator is not needed.
  const M = 5;
  for (let i = 1; i <= M; i++) {
    const receipt = await payOnce(alice, url, `voucher ${i} while the facilitator is down`);
    assertReceipt(receipt, {
      channelId: aliceChannel,
      charged: BigInt(aliceServed + i) * PRICE,
      payer: ROLES.payers[0].address,
      what: `voucher ${i} (facilitator down)`,
    });
    assert.equal(alice.seen.at(-1).sent?.type, 'voucher');
  }
  aliceServed += M;
  assert.equal(fac.listening(), false);

  // The alarm's claim (due 2 s after the first of these charges) cannot reach the facilitator:
  // logged, and tried again; nothing moves on chain meanwhile.
  const downStart = Date.now();
  await sleep((MAX_AGE_SECONDS + 3) * 1000);
  const downLog = logSince(logFrom);
  const claimAttempts = downLog.filter((l) => /claim .*pending|claim failed/.test(l));
  claimsWhileDown = { attempts: claimAttempts.length, seconds: (Date.now() - downStart) / 1000 };
  t.diagnostic(`Worker log lines about the claim while the facilitator was down (${claimAttempts.length}):\n${claimAttempts.slice(0, 4).join('\n')}`);
  assert.ok(claimAttempts.length >= 1, `the failed claim is logged:\n${downLog.join('\n')}`);
  const paidSoFar = BigInt(aliceServed - M) * PRICE;
  assert.deepEqual(await channelOnChain(chain.rpcUrl, aliceChannel), { balance: aliceDeposit, totalClaimed: paidSoFar });
  assert.equal(await balanceOf(chain.rpcUrl, PAY_TO), payToBefore);

  // The facilitator is back: the charges served meanwhile are claimed and settled.
  const seenBefore = fac.exchanges.length;
  await fac.listen();
  const total = BigInt(aliceServed) * PRICE;
  const { ms } = await eventually(
    'claimed and settled once the facilitator is back',
    async () => ({
      channel: await channelOnChain(chain.rpcUrl, aliceChannel),
      payTo: (await balanceOf(chain.rpcUrl, PAY_TO)) - payToBefore,
    }),
    (v) => v.channel.totalClaimed === total && v.payTo === BigInt(M) * PRICE,
  );
  t.diagnostic(`claimed + settled ${ms} ms after the facilitator came back`);
  const back = fac.exchanges.slice(seenBefore);
  assert.ok(back.every((e) => e.route === 'POST /settle'), show(back));
  const receiver = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
  assert.equal(receiver.totalClaimed, receiver.totalSettled);
});

test('3. refund (reference client) through the facilitator: the enriched refund is signed by the Worker and sent by the facilitator', async () => {
  assert.ok(aliceChannel, 'test 1 ran');
  const payer = ROLES.payers[0];
  const url = `${worker.url}/paid/one.html`;
  const channel = await channelOnChain(chain.rpcUrl, aliceChannel);
  const charged = BigInt(aliceServed) * PRICE;
  assert.equal(channel.totalClaimed, charged, 'test 2 waited until every charge was claimed');
  const payerBefore = await balanceOf(chain.rpcUrl, payer.address);
  const seenBefore = fac.exchanges.length;
  const answers = [];
  const recording = async (input, init) => {
    const res = await fetch(input, init);
    answers.push({ status: res.status, body: await res.clone().text() });
    return res;
  };
  const result = await alice.scheme.refund(url, { fetch: recording });
  const last = answers.at(-1);
  assert.equal(last.status, 200, `${show(answers)}\n${logSince(0).slice(-8).join('\n')}`);
  assert.equal(JSON.parse(last.body).message, 'Refund acknowledged');
  assert.equal(result.success, true, show(result));
  const refunded = channel.balance - charged;
  assert.equal(result.amount, String(refunded));
  assert.equal(result.extra?.channelState?.chargedCumulativeAmount, String(charged));
  assert.equal(await balanceOf(chain.rpcUrl, payer.address), payerBefore + refunded);
  assert.deepEqual(await channelOnChain(chain.rpcUrl, aliceChannel), { balance: charged, totalClaimed: charged });
  assert.equal(await txFrom(result.transaction), getAddress(facilitatorAccount.address), 'refund tx from');

  const seen = fac.exchanges.slice(seenBefore);
  assert.deepEqual(seen.map((e) => `${e.route} ${e.body?.paymentPayload?.payload?.type}`), ['POST /verify refund', 'POST /settle refund'], show(seen));
  const [, settle] = seen;
  assert.deepEqual(normalizedAccepted(settle.body.paymentPayload.accepted), managerAccepted);
  const p = settle.body.paymentPayload.payload;
  assert.equal(p.amount, String(refunded));
  assert.equal(p.refundNonce, '0');
  // One claim row, the refund's voucher at the charged total (already claimed: a no-op on chain), with
  // the Worker's ClaimBatch signature; the facilitator sends multicall(claimWithSignature, refundWithSignature).
  assert.equal(p.claims.length, 1, show(p.claims));
  assert.equal(p.claims[0].totalClaimed, String(charged));
  assert.equal(p.claims[0].signature, p.voucher.signature);
  assert.equal(channelIdOf(p.claims[0].voucher.channel), aliceChannel);
  assert.match(p.claimAuthorizerSignature ?? '', /^0x[0-9a-f]{130}$/, 'the Worker signs the ClaimBatch');
  assert.match(p.refundAuthorizerSignature ?? '', /^0x[0-9a-f]{130}$/, 'the Worker signs the Refund');
  assert.equal(settle.answer.success, true, show(settle.answer));
  assert.equal(settle.answer.transaction, result.transaction);
});

test('4. the facilitator judges what the Worker cannot: a channel it never saw (voucher /verify), an unfunded deposit (its reason passes through)', async () => {
  const url = `${worker.url}/paid/one.html`;
  const accepted = (await offer(url)).accepts.find((a) => a.scheme === 'batch-settlement');

  // A channel funded on chain without the Worker (the facilitator settles a deposit directly).
  const payer = ROLES.payers[3];
  const voucherKey = generatePrivateKey();
  const config = channelConfigFor(accepted, { payer: payer.address, payerAuthorizer: privateKeyToAccount(voucherKey).address });
  const channelId = channelIdOf(config);
  const deposit = await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount: MIN_DEPOSIT, max: PRICE });
  const direct = await facilitator.settle({ x402Version: 2, accepted, payload: deposit }, accepted);
  assert.equal(direct.success, true, show(direct));
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: MIN_DEPOSIT, totalClaimed: 0n });

  // Its first voucher at the Worker: no record → the facilitator's /verify → served; the next one at the edge.
  const seenBefore = fac.exchanges.length;
  for (const [i, max] of [[1, 2n * PRICE], [2, 3n * PRICE]]) {
    const r = await send(url, batchHeader(accepted, await voucherPayload({ config, voucherKey, max })));
    assert.equal(r.status, 200, `voucher ${i}: ${r.body} ${show(r.required)}`);
    assertReceipt(r.receipt, { channelId, charged: max, payer: payer.address, what: `voucher ${i}` });
  }
  const seen = fac.exchanges.slice(seenBefore).filter((e) => e.route === 'POST /verify');
  assert.deepEqual(seen.map((e) => e.body.paymentPayload.payload.type), ['voucher'], show(seen));
  assert.equal(seen[0].answer.isValid, true, show(seen[0].answer));

  // A deposit from a payer without tokens: the facilitator's invalidReason reaches the client.
  const poorPrivateKey = generatePrivateKey();
  const poor = privateKeyToAccount(poorPrivateKey);
  const poorConfig = channelConfigFor(accepted, { payer: poor.address, payerAuthorizer: poor.address });
  const poorDeposit = await depositPayload({ config: poorConfig, payerKey: poorPrivateKey, voucherKey: poorPrivateKey, amount: MIN_DEPOSIT, max: PRICE });
  const r = await send(url, batchHeader(accepted, poorDeposit));
  assert.equal(r.status, 402, r.body);
  assert.equal(r.required?.error, 'invalid_batch_settlement_evm_insufficient_balance', show(r.required));
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelIdOf(poorConfig)), { balance: 0n, totalClaimed: 0n });
});

test('5. a claim the facilitator cannot take is retried at the check interval, not in a loop', () => {
  assert.ok(claimsWhileDown, 'test 2 ran');
  // checkIntervalSeconds = 1: about one attempt a second, with slack.
  const bound = Math.ceil(claimsWhileDown.seconds) + 3;
  assert.ok(claimsWhileDown.attempts <= bound, `${claimsWhileDown.attempts} claim attempts in ${claimsWhileDown.seconds} s (at most ${bound} expected)`);
});

test('6. /settle of a deposit gets no answer: 402 settlement_pending, nothing charged; the same payment sent again once the facilitator answers', async (t) => {
  const url = `${worker.url}/paid/one.html`;
  const accepted = (await offer(url)).accepts.find((a) => a.scheme === 'batch-settlement');
  const payer = ROLES.payers[4];
  const voucherKey = generatePrivateKey();
  const config = channelConfigFor(accepted, { payer: payer.address, payerAuthorizer: privateKeyToAccount(voucherKey).address });
  const channelId = channelIdOf(config);
  const header = batchHeader(accepted, await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount: MIN_DEPOSIT, max: PRICE }));
  const seenBefore = fac.exchanges.length;
  const fromBlock = await client.getBlockNumber({ cacheTime: 0 });

  fac.faults.dropSettle = true;
  let first;
  try {
    first = await send(url, header);
  } finally {
    fac.faults.dropSettle = false;
  }
  assert.deepEqual(fac.exchanges.slice(seenBefore).map((e) => `${e.route} ${e.status}`), ['POST /verify 200', 'POST /settle dropped']);
  assert.equal(first.status, 402, first.body);
  assert.equal(first.receipt?.success, false, show(first.receipt));
  assert.equal(first.receipt?.errorReason, 'settlement_pending', show(first.receipt));
  assert.equal(first.receipt?.transaction, '', 'no transaction is known');
  assert.doesNotMatch(first.body, /<html/i, 'no content');
  assert.equal(await client.getBlockNumber({ cacheTime: 0 }), fromBlock, 'the facilitator did not act');
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: 0n, totalClaimed: 0n });

  // The facilitator answers again. The same payment (its ERC-3009 authorization can be used once,
  // so sending it again cannot deposit twice):
  const again = await send(url, header);
  const laterSeen = fac.exchanges.slice(seenBefore + 2).map((e) => `${e.route} ${e.body?.paymentPayload?.payload?.type} ${e.status}`);
  t.diagnostic(`the same payment again: ${again.status} ${show(again.receipt ?? again.required?.error)}; the facilitator saw ${show(laterSeen)}`);
  retriedDeposit = { again, laterSeen, channelId };
});

test('7. …that retry reaches the facilitator and is served (an unknown outcome without a hash need not block the channel for maxTimeoutSeconds)', async () => {
  assert.ok(retriedDeposit, 'test 6 ran');
  const { again, laterSeen, channelId } = retriedDeposit;
  assert.equal(again.status, 200, `${again.status} ${show(again.receipt ?? again.required)}; facilitator saw ${show(laterSeen)}`);
  assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: MIN_DEPOSIT, totalClaimed: 0n });
});
