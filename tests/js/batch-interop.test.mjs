// The reference batch-settlement code (npm @x402/evm 2.27 batch-settlement client, server and
// facilitator, with @x402/core, @x402/hono and @x402/fetch) against our stand-in contracts on anvil
// (tests/contracts/TestBatchSettlement.sol, TestERC3009DepositCollector.sol, TestMulticall3.sol at the
// canonical addresses the SDK hard-codes). It shows the stand-ins speak the canonical ABI: every
// function, getter tuple, event and revert the reference relies on is exercised through the reference
// code itself, and its results are checked against the chain.
//
//   node --test tests/js/batch-interop.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Hono } from 'hono';
import { x402Facilitator } from '@x402/core/facilitator';
import { x402ResourceServer } from '@x402/core/server';
import { toClientEvmSigner, toFacilitatorEvmSigner } from '@x402/evm';
import { BatchSettlementEvmScheme as ClientScheme, signVoucher as sdkSignVoucher } from '@x402/evm/batch-settlement/client';
import { BatchSettlementEvmScheme as FacilitatorScheme } from '@x402/evm/batch-settlement/facilitator';
import { BatchSettlementEvmScheme as ServerScheme } from '@x402/evm/batch-settlement/server';
import { wrapFetchWithPaymentFromConfig } from '@x402/fetch';
import { paymentMiddleware } from '@x402/hono';
import { createWalletClient, defineChain, getAddress, http, parseEventLogs, publicActions } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { serveHono } from '../npm/ref-server.mjs';
import {
  ANVIL_ACCOUNTS,
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
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
  walletClient,
} from './lib/chain.mjs';

const NETWORK = 'eip155:31337';
const BS = BATCH_SETTLEMENT_ADDRESS;
const receiverAuthorizer = privateKeyToAccount(ANVIL_ACCOUNTS[7].privateKey);

let chain;
let client;
let facilitatorSigner;

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);
  const viemChain = defineChain({
    id: 31337,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  });
  const relayer = privateKeyToAccount(ROLES.relayer.privateKey);
  const wallet = createWalletClient({ account: relayer, chain: viemChain, transport: http(chain.rpcUrl), pollingInterval: 50 }).extend(
    publicActions,
  );
  facilitatorSigner = toFacilitatorEvmSigner(Object.assign(wallet, { address: relayer.address }), { confirmationTimeoutMs: 20_000 });
});

after(async () => {
  await chain?.stop();
});

const read = (functionName, args) => client.readContract({ address: BS, abi: BATCH_SETTLEMENT_ABI, functionName, args });
async function channelState(channelId) {
  const [balance, totalClaimed] = await read('channels', [channelId]);
  return { balance, totalClaimed };
}
const tokenBalance = (address) => balanceOf(chain.rpcUrl, address);
/** The chain's block number, uncached (viem caches getBlockNumber); anvil mines one block per transaction. */
const blockNumber = () => client.getBlockNumber({ cacheTime: 0 });
const clientSigner = (account) => toClientEvmSigner(privateKeyToAccount(account.privateKey), client);

/** A reference client scheme for `payer`, with `voucherKey` as its delegated voucher signer when given. */
function referenceClient(payer, voucherKey) {
  return new ClientScheme(clientSigner(payer), voucherKey ? { voucherSigner: clientSigner(voucherKey) } : undefined);
}

// ------------------------------------------------------------------------------------------- facilitator

describe('the reference facilitator scheme drives our contracts', () => {
  const payer = ROLES.payers[0];
  const voucherKey = ANVIL_ACCOUNTS[6];
  const receiver = privateKeyToAccount(generatePrivateKey()).address; // a fresh payTo: exact balances
  const requirements = {
    scheme: 'batch-settlement',
    network: NETWORK,
    amount: '1000',
    asset: TOKEN_ADDRESS,
    payTo: receiver,
    maxTimeoutSeconds: 300,
    extra: { receiverAuthorizer: receiverAuthorizer.address, withdrawDelay: 900, name: TOKEN_NAME, version: TOKEN_VERSION },
  };
  // What the SDK channel manager sends with claim / settle / refund payloads.
  const managerRequirements = {
    scheme: 'batch-settlement',
    network: NETWORK,
    asset: TOKEN_ADDRESS,
    amount: '0',
    payTo: receiver,
    maxTimeoutSeconds: 0,
    extra: {},
  };
  const envelope = (payload, accepted = requirements) => ({ x402Version: 2, accepted, payload });

  let facilitator; // the reference facilitator scheme, holding the receiverAuthorizer key
  let sdkClient;
  let deposit; // the deposit payload made by the reference client
  let config; // its ChannelConfig
  let channelId;

  before(() => {
    facilitator = new FacilitatorScheme(facilitatorSigner, receiverAuthorizer);
    sdkClient = referenceClient(payer, voucherKey);
  });

  const voucher = async (max) => ({
    type: 'voucher',
    channelConfig: config,
    voucher: await sdkSignVoucher(clientSigner(voucherKey), channelId, String(max), NETWORK),
  });

  test('deposit: the client reads channels(), the facilitator verifies (Multicall3 reads, eth_call) and settles', async () => {
    const result = await sdkClient.createPaymentPayload(2, requirements);
    deposit = result.payload;
    config = deposit.channelConfig;
    channelId = deposit.voucher.channelId;
    assert.equal(deposit.type, 'deposit');
    assert.equal(channelIdOf(config), channelId);
    assert.equal(await read('getChannelId', [config]), channelId);
    assert.equal(deposit.deposit.amount, '5000'); // 5 × the price, the client's default
    assert.equal(deposit.voucher.maxClaimableAmount, '1000');

    const verified = await facilitator.verify(envelope(deposit), requirements);
    assert.deepEqual(verified, {
      isValid: true,
      payer: payer.address,
      extra: { channelId, balance: '0', totalClaimed: '0', withdrawRequestedAt: 0, refundNonce: '0' },
    });

    const payerBefore = await tokenBalance(payer.address);
    const settled = await facilitator.settle(envelope(deposit), requirements);
    assert.equal(settled.success, true, JSON.stringify(settled));
    assert.equal(settled.amount, '5000');
    assert.deepEqual(settled.extra.channelState, {
      channelId,
      balance: '5000',
      totalClaimed: '0',
      withdrawRequestedAt: 0,
      refundNonce: '0',
    });
    const receipt = await client.getTransactionReceipt({ hash: settled.transaction });
    assert.equal(getAddress(receipt.to), BS);
    const deposited = parseEventLogs({ abi: BATCH_SETTLEMENT_ABI, eventName: 'Deposited', logs: receipt.logs });
    assert.deepEqual(deposited.map((l) => [l.args.channelId, l.args.amount, l.args.newBalance]), [[channelId, 5000n, 5000n]]);
    assert.deepEqual(await channelState(channelId), { balance: 5000n, totalClaimed: 0n });
    assert.equal(await tokenBalance(payer.address), payerBefore - 5000n);
    assert.equal(await tokenBalance(ERC3009_DEPOSIT_COLLECTOR_ADDRESS), 0n);
  });

  test('a replayed deposit fails the facilitator’s simulation on our revert (authorization already used)', async () => {
    const verified = await facilitator.verify(envelope(deposit), requirements);
    assert.equal(verified.isValid, false);
    assert.equal(verified.invalidReason, 'invalid_batch_settlement_evm_deposit_simulation_failed');
    assert.match(verified.invalidMessage, /FiatTokenV2: authorization is used or canceled/);
    assert.deepEqual(await channelState(channelId), { balance: 5000n, totalClaimed: 0n });
  });

  test('voucher verification reads our state: valid, above the balance, at or below the claimed total', async () => {
    assert.deepEqual(await facilitator.verify(envelope(await voucher(2000)), requirements), {
      isValid: true,
      payer: payer.address,
      extra: { channelId, balance: '5000', totalClaimed: '0', withdrawRequestedAt: 0, refundNonce: '0' },
    });
    const over = await facilitator.verify(envelope(await voucher(5001)), requirements);
    assert.equal(over.invalidReason, 'invalid_batch_settlement_evm_cumulative_exceeds_balance');
  });

  test('claim: the facilitator signs the ClaimBatch as receiverAuthorizer and our claimWithSignature records it', async () => {
    const v = await voucher(2000);
    const claims = [{ voucher: { channel: config, maxClaimableAmount: '2000' }, signature: v.voucher.signature, totalClaimed: '2000' }];
    const result = await facilitator.settle(envelope({ type: 'claim', claims }, managerRequirements), managerRequirements);
    assert.equal(result.success, true, JSON.stringify(result));
    const receipt = await client.getTransactionReceipt({ hash: result.transaction });
    const claimed = parseEventLogs({ abi: BATCH_SETTLEMENT_ABI, eventName: 'Claimed', logs: receipt.logs });
    assert.deepEqual(claimed.map((l) => [l.args.channelId, l.args.claimAmount, l.args.newTotalClaimed]), [[channelId, 2000n, 2000n]]);
    assert.deepEqual(await channelState(channelId), { balance: 5000n, totalClaimed: 2000n });

    const stale = await facilitator.verify(envelope(await voucher(2000)), requirements);
    assert.equal(stale.invalidReason, 'invalid_batch_settlement_evm_cumulative_below_claimed');
  });

  test('a claim our contract refuses (voucher signed by another key) fails the simulation: nothing is sent', async () => {
    const forged = await sdkSignVoucher(clientSigner(ROLES.payers[4]), channelId, '3000', NETWORK);
    const claims = [{ voucher: { channel: config, maxClaimableAmount: '3000' }, signature: forged.signature, totalClaimed: '3000' }];
    const block = await blockNumber();
    const result = await facilitator.settle(envelope({ type: 'claim', claims }, managerRequirements), managerRequirements);
    assert.equal(result.success, false);
    assert.equal(result.errorReason, 'invalid_batch_settlement_evm_claim_simulation_failed');
    assert.match(result.errorMessage, /0x8baa579f|InvalidSignature/); // our InvalidSignature() selector
    assert.equal(await blockNumber(), block);
  });

  test('settle: the amount comes from our Settled event; a second settle is nothing_to_settle (receivers())', async () => {
    const settlePayload = { type: 'settle', receiver, token: TOKEN_ADDRESS };
    const result = await facilitator.settle(envelope(settlePayload, managerRequirements), managerRequirements);
    assert.equal(result.success, true, JSON.stringify(result));
    assert.equal(result.amount, '2000');
    const receipt = await client.getTransactionReceipt({ hash: result.transaction });
    assert.ok(receipt.gasUsed < 120_000n);
    assert.equal(await tokenBalance(receiver), 2000n);
    assert.deepEqual(await read('receivers', [receiver, TOKEN_ADDRESS]), [2000n, 2000n]);

    const again = await facilitator.settle(envelope(settlePayload, managerRequirements), managerRequirements);
    assert.equal(again.success, false);
    assert.equal(again.errorReason, 'invalid_batch_settlement_evm_nothing_to_settle');
  });

  test('a pending withdrawal shows as withdrawRequestedAt (pendingWithdrawals() tuple)', async () => {
    const hash = await walletClient(chain.rpcUrl, payer).writeContract({
      address: BS,
      abi: BATCH_SETTLEMENT_ABI,
      functionName: 'initiateWithdraw',
      args: [config, 100n],
      chain: null,
    });
    const receipt = await client.waitForTransactionReceipt({ hash });
    const { timestamp } = await client.getBlock({ blockNumber: receipt.blockNumber });
    const verified = await facilitator.verify(envelope(await voucher(2500)), requirements);
    assert.equal(verified.isValid, true);
    assert.equal(verified.extra.withdrawRequestedAt, Number(timestamp));
  });

  test('refund: multicall([claimWithSignature, refundWithSignature]), nonce and post-state read back', async () => {
    const v = await voucher(2500);
    const refundPayload = {
      type: 'refund',
      channelConfig: config,
      voucher: v.voucher,
      amount: '1000000', // more than is left: the contract caps it
      refundNonce: '0',
      claims: [{ voucher: { channel: config, maxClaimableAmount: '2500' }, signature: v.voucher.signature, totalClaimed: '2500' }],
    };
    const wrongNonce = await facilitator.settle(envelope({ ...refundPayload, refundNonce: '1' }, managerRequirements), managerRequirements);
    assert.equal(wrongNonce.errorReason, 'invalid_batch_settlement_evm_refund_simulation_failed');
    assert.match(wrongNonce.errorMessage, /0x164f1afe|InvalidRefundNonce/);

    const payerBefore = await tokenBalance(payer.address);
    const result = await facilitator.settle(envelope(refundPayload, managerRequirements), managerRequirements);
    assert.equal(result.success, true, JSON.stringify(result));
    assert.equal(result.amount, '2500');
    // A withdrawal was pending, so the SDK read the post-refund state back (refundNonce bumped, withdrawal cancelled).
    assert.deepEqual(result.extra.channelState, {
      channelId,
      balance: '2500',
      totalClaimed: '2500',
      withdrawRequestedAt: 0,
      refundNonce: '1',
    });
    const tx = await client.getTransaction({ hash: result.transaction });
    assert.equal(tx.input.slice(0, 10), '0xac9650d8'); // multicall(bytes[])
    assert.equal(await tokenBalance(payer.address), payerBefore + 2500n);
    assert.deepEqual(await channelState(channelId), { balance: 2500n, totalClaimed: 2500n });
    assert.deepEqual(await read('pendingWithdrawals', [channelId]), [0n, 0]);
    assert.equal(await read('refundNonce', [channelId]), 1n);
  });
});

// ------------------------------------------------------------------------------------------- whole stack

describe('the whole reference stack over HTTP (@x402/fetch → @x402/hono → x402Facilitator) on our contracts', () => {
  const payer = ROLES.payers[1];
  const receiver = privateKeyToAccount(generatePrivateKey()).address;
  const PRICE = 1000n;
  let server;
  let serverScheme;
  let facilitatorClient;

  before(async () => {
    const facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(facilitatorSigner));
    facilitatorClient = {
      verify: (p, r) => facilitator.verify(p, r),
      settle: (p, r) => facilitator.settle(p, r),
      getSupported: async () => facilitator.getSupported(),
    };
    serverScheme = new ServerScheme(receiver, { receiverAuthorizerSigner: receiverAuthorizer, withdrawDelay: 900 });
    const resourceServer = new x402ResourceServer(facilitatorClient).register(NETWORK, serverScheme);
    const app = new Hono();
    app.use(
      paymentMiddleware(
        {
          'GET /paid': {
            accepts: {
              scheme: 'batch-settlement',
              network: NETWORK,
              payTo: receiver,
              price: { amount: String(PRICE), asset: TOKEN_ADDRESS, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } },
              maxTimeoutSeconds: 300,
            },
            description: 'one paid thing',
          },
        },
        resourceServer,
      ),
    );
    app.get('/paid', (c) => c.text('paid content'));
    server = await serveHono(app);
  });

  after(async () => {
    await server?.close();
  });

  test('one deposit, paid requests on vouchers, claim + settle, refund: the money adds up on chain', async () => {
    const sdkClient = referenceClient(payer);
    const pay = wrapFetchWithPaymentFromConfig(fetch, {
      schemes: [{ network: NETWORK, client: sdkClient }],
      spendControls: { allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS }] },
    });
    const url = `${server.url}/paid`;
    const payerBefore = await tokenBalance(payer.address);
    const firstBlock = await blockNumber();

    const N = 5;
    const receipts = [];
    for (let i = 0; i < N; i += 1) {
      const res = await pay(url);
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.equal(body, 'paid content');
      receipts.push(JSON.parse(Buffer.from(res.headers.get('payment-response'), 'base64').toString()));
    }
    assert.ok(receipts.every((r) => r.success));
    assert.match(receipts[0].transaction, /^0x[0-9a-f]{64}$/); // the deposit
    assert.deepEqual(receipts.slice(1).map((r) => r.transaction), Array(N - 1).fill('')); // vouchers only
    const { channelId } = receipts[0].extra.channelState;
    const deposited = BigInt(receipts[0].amount); // the server's minDeposit hint: 10 × the price
    assert.equal(deposited, 10n * PRICE);
    assert.deepEqual(await channelState(channelId), { balance: deposited, totalClaimed: 0n });
    assert.equal(await blockNumber(), firstBlock + 1n); // one transaction for N requests

    const manager = serverScheme.createChannelManager(facilitatorClient, NETWORK, TOKEN_ADDRESS);
    const { claims, settle } = await manager.claimAndSettle();
    assert.equal(claims.length, 1);
    assert.match(settle.transaction, /^0x[0-9a-f]{64}$/);
    assert.equal(await tokenBalance(receiver), BigInt(N) * PRICE);
    assert.deepEqual(await channelState(channelId), { balance: deposited, totalClaimed: BigInt(N) * PRICE });
    assert.equal(await blockNumber(), firstBlock + 3n); // + claim + settle

    const refund = await sdkClient.refund(url);
    assert.equal(refund.success, true, JSON.stringify(refund));
    assert.equal(refund.amount, String(deposited - BigInt(N) * PRICE));
    assert.deepEqual(await channelState(channelId), { balance: BigInt(N) * PRICE, totalClaimed: BigInt(N) * PRICE });
    assert.equal(await read('refundNonce', [channelId]), 1n);
    assert.equal(await tokenBalance(payer.address), payerBefore - BigInt(N) * PRICE);
    assert.equal(await blockNumber(), firstBlock + 4n); // + refund
  });
});
