// The Worker as a batch-settlement facilitator (x402 specs/schemes/batch-settlement/
// scheme_batch_settlement_evm.md, "Verification" and "Settlement"): its POST /verify, POST /settle and
// GET /supported, in settlement mode "self", behind the bearer token, serving the REFERENCE resource
// server (@x402/core x402ResourceServer + @x402/evm 2.27 batch-settlement server scheme, mounted with
// @x402/hono) through @x402/core's HTTPFacilitatorClient, paid by the reference client (@x402/fetch).
// One anvil carrying the batch-settlement stand-ins at their canonical addresses
// (tests/contracts/TestBatchSettlement.sol, …), one Worker under the real workerd (wrangler dev).
//
// The reference stack pays (deposit, then vouchers), its channel manager claims and settles through
// the Worker, the reference client refunds the rest: every amount is read back from the chain. Then
// the refusals: a stranger's offer, a claim row naming another receiverAuthorizer, a settle for a
// receiver that is not the Worker's, no token: nothing is sent.
//
//   node --test tests/js/worker-batch-facilitator.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { HTTPFacilitatorClient, x402ResourceServer } from '@x402/core/server';
import { toClientEvmSigner } from '@x402/evm';
import { BatchSettlementEvmScheme as ClientScheme } from '@x402/evm/batch-settlement/client';
import { BatchSettlementEvmScheme as ServerScheme } from '@x402/evm/batch-settlement/server';
import { wrapFetchWithPaymentFromConfig } from '@x402/fetch';
import { paymentMiddleware } from '@x402/hono';
import { getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
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
  channelIdOf,
  deployBatchSettlement,
  deployToken,
  publicClient,
  startAnvil,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';
import { channelConfigFor, channelOnChain, depositPayload, receiverOnChain, voucherPayload } from './lib/batch.mjs';

const NETWORK = 'eip155:31337';
const TOKEN = 'facilitator-token-batch-fac-0123456789';
const PAY_TO = ROLES.payTo.address;
/** The Worker's receiver authorizer key, which the reference server also signs with. */
const AUTHORIZER = ANVIL_ACCOUNTS[7];
const STRANGER = ANVIL_ACCOUNTS[6]; // neither payTo nor authorizer of this Worker
const code = (s) => `invalid_batch_settlement_evm_${s}`;

let chain;
let client;
let worker;
let offer; // the Worker's batch-settlement offer for GET /paid/one.html
let facilitatorClient; // @x402/core's HTTP client of the Worker's endpoints, with the bearer token
let stacks; // { signer, noSigner }: reference resource servers using the Worker as facilitator
const servers = [];

const blockNumber = () => client.getBlockNumber({ cacheTime: 0 });
const tokenBalance = (address) => balanceOf(chain.rpcUrl, address);

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);
  worker = await startWorker({
    config: defaultConfig(chain.rpcUrl, {
      facilitatorEndpoints: true,
      batchSettlement: { withdrawDelay: 900, claim: { threshold: '1000000000000', maxAgeSeconds: 3600 } },
    }),
    secrets: { X402_RECEIVER_AUTHORIZER_KEY: AUTHORIZER.privateKey, X402_FACILITATOR_TOKEN: TOKEN },
  });
  const res = await fetch(`${worker.url}/paid/one.html`);
  await res.text();
  offer = decodeHeader(res.headers.get('payment-required')).accepts.find((a) => a.scheme === 'batch-settlement');
  assert.ok(offer, 'the Worker offers batch-settlement');

  const auth = { Authorization: `Bearer ${TOKEN}` };
  facilitatorClient = new HTTPFacilitatorClient({
    url: worker.url,
    createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: auth }),
  });
  stacks = {
    signer: await referenceStack({ receiverAuthorizerSigner: privateKeyToAccount(AUTHORIZER.privateKey) }),
    noSigner: await referenceStack({}),
  };
});

/**
 * A reference resource server selling GET /paid on the Worker's own batch terms, with the Worker as
 * its facilitator. `options` go to its scheme: with `receiverAuthorizerSigner` it signs claims and
 * refunds itself (same key as the Worker's); without, it takes the receiver authorizer from the
 * Worker's /supported and the Worker signs.
 */
async function referenceStack(options) {
  const scheme = new ServerScheme(PAY_TO, { withdrawDelay: 900, ...options });
  const resourceServer = new x402ResourceServer(facilitatorClient).register(NETWORK, scheme);
  const app = new Hono();
  app.use(
    paymentMiddleware(
      {
        'GET /paid': {
          accepts: {
            scheme: 'batch-settlement',
            network: NETWORK,
            payTo: offer.payTo,
            price: { amount: offer.amount, asset: offer.asset, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } },
            maxTimeoutSeconds: offer.maxTimeoutSeconds,
          },
          description: 'paid through the Worker as facilitator',
        },
      },
      resourceServer,
    ),
  );
  app.get('/paid', (c) => c.text('paid content'));
  const server = await serveHono(app);
  servers.push(server);
  return { scheme, url: `${server.url}/paid` };
}

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await worker?.stop();
  await chain?.stop();
});

/** POST `{x402Version: 2, paymentPayload, paymentRequirements}` to the Worker's `/verify` or `/settle`. */
async function post(endpoint, payload, requirements, { accepted = requirements, token = TOKEN } = {}) {
  const res = await fetch(`${worker.url}/${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ x402Version: 2, paymentPayload: { x402Version: 2, accepted, payload }, paymentRequirements: requirements }),
  });
  return { status: res.status, body: await res.json() };
}

/** What the reference channel manager sends with claim / settle / refund payloads. */
const managerRequirements = (payTo = PAY_TO) => ({
  scheme: 'batch-settlement',
  network: NETWORK,
  asset: TOKEN_ADDRESS,
  amount: '0',
  payTo,
  maxTimeoutSeconds: 0,
  extra: {},
});

test('GET /supported: the batch-settlement kind carries the Worker’s receiver authorizer', async () => {
  const res = await fetch(`${worker.url}/supported`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const { kinds } = await res.json();
  assert.deepEqual(kinds.find((k) => k.scheme === 'batch-settlement'), {
    x402Version: 2,
    scheme: 'batch-settlement',
    network: NETWORK,
    extra: { receiverAuthorizer: getAddress(AUTHORIZER.address) },
  });
});

let channel; // { config, channelId } of the first reference client's channel

for (const [name, payerIndex] of [['signer', 0], ['noSigner', 2]]) {
  test(`the reference server (${name === 'signer' ? 'with its own receiverAuthorizerSigner' : 'authorizer from /supported'}) with the Worker as facilitator: deposit, vouchers, claimAndSettle, refund; the money adds up on chain`, async () => {
    const { scheme: serverScheme, url } = stacks[name];
    const payer = ROLES.payers[payerIndex];
    const PRICE = BigInt(offer.amount);
    const sdkClient = new ClientScheme(toClientEvmSigner(privateKeyToAccount(payer.privateKey), client));
    const pay = wrapFetchWithPaymentFromConfig(fetch, {
      schemes: [{ network: NETWORK, client: sdkClient }],
      spendControls: { allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS }] },
    });
    const payerBefore = await tokenBalance(payer.address);
    const payToBefore = await tokenBalance(PAY_TO);
    const receiverBefore = await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS);
    const firstBlock = await blockNumber();

    const N = 3;
    const receipts = [];
    for (let i = 0; i < N; i += 1) {
      const res = await pay(url);
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.equal(body, 'paid content');
      receipts.push(decodeHeader(res.headers.get('payment-response')));
    }
    assert.ok(receipts.every((r) => r.success), JSON.stringify(receipts));
    assert.match(receipts[0].transaction, /^0x[0-9a-f]{64}$/); // the deposit, sent by the Worker's relayer
    assert.deepEqual(receipts.slice(1).map((r) => r.transaction), Array(N - 1).fill(''));
    const { channelId } = receipts[0].extra.channelState;
    const deposited = BigInt(receipts[0].amount);
    assert.equal(deposited, BigInt(offer.extra.minDeposit));
    const tx = await client.getTransaction({ hash: receipts[0].transaction });
    assert.equal(getAddress(tx.from), ROLES.relayer.address);
    assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: deposited, totalClaimed: 0n });
    assert.equal(await blockNumber(), firstBlock + 1n);
    const config = channelConfigFor(offer, { payer: payer.address });
    assert.equal(channelIdOf(config), channelId);
    channel ??= { config, channelId };

    // /verify of a voucher on that channel answers the channel's state in extra.
    const v = await post('verify', await voucherPayload({ config, voucherKey: payer.privateKey, max: N * Number(PRICE) + 1 }), offer);
    assert.deepEqual(v.body, {
      isValid: true,
      payer: getAddress(payer.address),
      extra: { channelId, balance: String(deposited), totalClaimed: '0', withdrawRequestedAt: 0, refundNonce: '0' },
    });

    const manager = serverScheme.createChannelManager(facilitatorClient, NETWORK, TOKEN_ADDRESS);
    const { claims, settle } = await manager.claimAndSettle();
    assert.equal(claims.length, 1);
    assert.match(settle.transaction, /^0x[0-9a-f]{64}$/);
    assert.equal(await tokenBalance(PAY_TO), payToBefore + BigInt(N) * PRICE);
    assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: deposited, totalClaimed: BigInt(N) * PRICE });
    assert.deepEqual(await receiverOnChain(chain.rpcUrl, PAY_TO, TOKEN_ADDRESS), {
      totalClaimed: receiverBefore.totalClaimed + BigInt(N) * PRICE,
      totalSettled: receiverBefore.totalSettled + BigInt(N) * PRICE,
    });
    assert.equal(await blockNumber(), firstBlock + 3n); // + claim + settle

    // Nothing left to settle: a failure without a transaction.
    const again = await post('settle', { type: 'settle', receiver: PAY_TO, token: TOKEN_ADDRESS }, managerRequirements());
    assert.equal(again.body.success, false);
    assert.equal(again.body.errorReason, code('nothing_to_settle'));
    assert.equal(again.body.transaction, '');

    // The client's cooperative refund: the reference server enriches it, the Worker sends multicall(claim, refund).
    const refund = await sdkClient.refund(url);
    assert.equal(refund.success, true, JSON.stringify(refund));
    assert.equal(refund.amount, String(deposited - BigInt(N) * PRICE));
    assert.equal((await client.getTransaction({ hash: refund.transaction })).input.slice(0, 10), '0xac9650d8'); // multicall(bytes[])
    assert.deepEqual(await channelOnChain(chain.rpcUrl, channelId), { balance: BigInt(N) * PRICE, totalClaimed: BigInt(N) * PRICE });
    assert.equal(await tokenBalance(payer.address), payerBefore - BigInt(N) * PRICE);
    assert.equal(await blockNumber(), firstBlock + 4n);
  });
}

test('refusals: a stranger’s offer, a claim for another receiverAuthorizer, another receiver, no token — nothing is sent', async () => {
  const payer = ROLES.payers[1];
  const block = await blockNumber();
  const payerBefore = await tokenBalance(payer.address);

  // A deposit into a channel paying the stranger: not one of this Worker's offers.
  const strangers = { ...offer, payTo: STRANGER.address };
  const config = channelConfigFor(strangers, { payer: payer.address });
  const deposit = await depositPayload({ config, payerKey: payer.privateKey, voucherKey: payer.privateKey, amount: 100_000, max: 10_000 });
  const verified = await post('verify', deposit, strangers);
  assert.equal(verified.body.isValid, false);
  assert.equal(verified.body.invalidReason, 'invalid_payment_requirements');
  assert.match(verified.body.invalidMessage, /payTo/);
  const settled = await post('settle', deposit, strangers);
  assert.equal(settled.body.success, false);
  assert.equal(settled.body.errorReason, 'invalid_payment_requirements');
  assert.equal(settled.body.transaction, '');

  // A claim row naming another receiverAuthorizer (the stranger), on the Worker's own receiver and token.
  const foreignConfig = { ...channel.config, receiverAuthorizer: STRANGER.address };
  const voucher = await voucherPayload({ config: foreignConfig, voucherKey: ROLES.payers[0].privateKey, max: 1000 });
  const claims = [{ voucher: { channel: foreignConfig, maxClaimableAmount: '1000' }, signature: voucher.voucher.signature, totalClaimed: '1000' }];
  const claimed = await post('settle', { type: 'claim', claims }, managerRequirements());
  assert.equal(claimed.body.success, false);
  assert.equal(claimed.body.errorReason, code('authorizer_address_mismatch'));

  // A claim and a settle for a receiver that is not the Worker's payTo.
  const elsewhere = { ...channel.config, receiver: STRANGER.address };
  const otherClaims = [{ ...claims[0], voucher: { channel: elsewhere, maxClaimableAmount: '1000' } }];
  const other = await post('settle', { type: 'claim', claims: otherClaims }, managerRequirements());
  assert.equal(other.body.errorReason, 'invalid_payment_requirements');
  const otherSettle = await post('settle', { type: 'settle', receiver: STRANGER.address, token: TOKEN_ADDRESS }, managerRequirements(STRANGER.address));
  assert.equal(otherSettle.body.errorReason, 'invalid_payment_requirements');

  // Vouchers are not settled on their own; claims are not verified.
  const lone = await post('settle', await voucherPayload({ config: channel.config, voucherKey: ROLES.payers[0].privateKey, max: 1 }), offer);
  assert.equal(lone.body.errorReason, code('payload_type'));

  // Without the bearer token: 401 before anything is read.
  const anonymous = await post('settle', { type: 'settle', receiver: PAY_TO, token: TOKEN_ADDRESS }, managerRequirements(), { token: null });
  assert.equal(anonymous.status, 401);

  assert.equal(await blockNumber(), block, 'no transaction was sent');
  assert.equal(await tokenBalance(payer.address), payerBefore);
  assert.deepEqual(
    await client.readContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: BATCH_SETTLEMENT_ABI, functionName: 'channels', args: [channelIdOf(config)] }),
    [0n, 0n],
  );
});
