// The batch-settlement stand-ins (tests/contracts/TestBatchSettlement.sol, TestERC3009DepositCollector.sol,
// TestMulticall3.sol) on one anvil, placed at the canonical addresses by deployBatchSettlement: the ABI
// and EIP-712 values of the x402 batch-settlement scheme (x402-foundation/x402
// specs/schemes/batch-settlement/scheme_batch_settlement_evm.md), then every happy path and every revert
// rule of deposit, claim, settle, refund and the timed withdrawal. Failing calls are mined as real
// transactions (explicit gas, nothing pre-simulated); their revert data is read back from the chain
// and decoded against the contracts' custom errors. Successful calls are checked by their events and by
// the balances and getters they change.
//
//   node --test tests/js/batch-contracts.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  decodeErrorResult,
  encodeAbiParameters,
  decodeFunctionResult,
  encodeFunctionData,
  getAddress,
  hashDomain,
  hashTypedData,
  keccak256,
  pad,
  parseEventLogs,
  recoverAddress,
  toEventSelector,
  toFunctionSelector,
  toHex,
  zeroAddress,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS,
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ERC3009_DEPOSIT_COLLECTOR_ABI,
  ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
  MULTICALL3_ADDRESS,
  ROLES,
  TOKEN_ABI,
  TOKEN_ADDRESS,
  balanceOf,
  batchSettlementDomain,
  channelIdOf,
  deployBatchSettlement,
  deploySmartWallet,
  deployToken,
  depositCollectorData,
  depositNonce,
  loadArtifact,
  publicClient,
  revertData,
  rpc,
  signClaimBatch,
  signReceiveAuthorization,
  signRefund,
  signVoucher,
  startAnvil,
  walletClient,
} from './lib/chain.mjs';

const BS = BATCH_SETTLEMENT_ADDRESS;
const COLLECTOR = ERC3009_DEPOSIT_COLLECTOR_ADDRESS;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const UINT128_MAX = 2n ** 128n - 1n;
const MULTICALL_ABI = loadArtifact('TestMulticall3').abi;
const FAULTY = loadArtifact('TestFaultyCollector');
const ERROR_ABI = [...BATCH_SETTLEMENT_ABI, ...ERC3009_DEPOSIT_COLLECTOR_ABI].filter((x) => x.type === 'error');
const EVENT_ABI = [...BATCH_SETTLEMENT_ABI, ...TOKEN_ABI].filter((x) => x.type === 'event');

const { deployer, relayer } = ROLES;
const payer = ROLES.payers[0]; // #1
const payer2 = ROLES.payers[1]; // #2
const stranger = ROLES.payers[4]; // #5
const voucherKey = ANVIL_ACCOUNTS[6]; // the payers' delegated voucher signer (payerAuthorizer)
const receiverAuthorizer = ANVIL_ACCOUNTS[7];
const receiver = ROLES.payTo; // #8

let chain; // { rpcUrl, chainId, stop }
let client;

before(async () => {
  chain = await startAnvil();
  client = publicClient(chain.rpcUrl);
  await deployToken(chain.rpcUrl);
  await deployBatchSettlement(chain.rpcUrl);
});

after(async () => {
  await chain?.stop();
});

// ------------------------------------------------------------------------------------------- helpers

const keyOf = (address) => ANVIL_ACCOUNTS.find((a) => a.address.toLowerCase() === address.toLowerCase());

async function chainNow() {
  return (await client.getBlock()).timestamp;
}

let saltSeq = 0;
/** A fresh ChannelConfig (its own salt) between `payer` and `receiver`, voucherKey signing vouchers. */
function newConfig(overrides = {}) {
  return {
    payer: payer.address,
    payerAuthorizer: voucherKey.address,
    receiver: receiver.address,
    receiverAuthorizer: receiverAuthorizer.address,
    token: TOKEN_ADDRESS,
    withdrawDelay: 900,
    salt: pad(toHex(++saltSeq), { size: 32 }),
    ...overrides,
  };
}

/** Sends a call with a fixed gas limit (so reverting calls are mined too) and returns the receipt. */
async function send(functionName, args, { from = relayer, address = BS, abi = BATCH_SETTLEMENT_ABI } = {}) {
  const hash = await walletClient(chain.rpcUrl, from).writeContract({
    address,
    abi,
    functionName,
    args,
    gas: 2_000_000n,
    chain: null,
  });
  return client.waitForTransactionReceipt({ hash });
}

/** The revert of a mined transaction as { errorName, args }. */
async function decodedRevert(receipt) {
  const data = await revertData(chain.rpcUrl, receipt.transactionHash);
  assert.ok(data && data !== '0x', `no revert data for ${receipt.transactionHash}`);
  const { errorName, args } = decodeErrorResult({ abi: ERROR_ABI, data });
  return { errorName, args: args ?? [] };
}

async function expectOk(functionName, args, opts) {
  const receipt = await send(functionName, args, opts);
  if (receipt.status !== 'success') {
    const { errorName, args: errorArgs } = await decodedRevert(receipt);
    assert.fail(`${functionName} reverted: ${errorName}(${errorArgs.join(', ')})`);
  }
  return receipt;
}

/** Mines the call, expects it to revert with `errorName` (and `errorArgs` when given). */
async function expectRevert(functionName, args, errorName, { errorArgs, ...opts } = {}) {
  const receipt = await send(functionName, args, opts);
  assert.equal(receipt.status, 'reverted', `${functionName} did not revert`);
  const got = await decodedRevert(receipt);
  assert.equal(got.errorName, errorName);
  if (errorArgs) assert.deepEqual(got.args, errorArgs);
  return receipt;
}

/** The receipt's events as [contract, eventName, args], in order. */
function events(receipt) {
  return parseEventLogs({ abi: EVENT_ABI, logs: receipt.logs }).map((l) => [getAddress(l.address), l.eventName, l.args]);
}

const read = (functionName, args = [], address = BS, abi = BATCH_SETTLEMENT_ABI) =>
  client.readContract({ address, abi, functionName, args });

async function channelState(config) {
  const [balance, totalClaimed] = await read('channels', [channelIdOf(config)]);
  return { balance, totalClaimed };
}
async function pendingOf(config) {
  const [amount, initiatedAt] = await read('pendingWithdrawals', [channelIdOf(config)]);
  return { amount, initiatedAt };
}
async function receiverTotals(who, token = TOKEN_ADDRESS) {
  const [totalClaimed, totalSettled] = await read('receivers', [who, token]);
  return { totalClaimed, totalSettled };
}
const refundNonceOf = (config) => read('refundNonce', [channelIdOf(config)]);
const tokenBalance = (address) => balanceOf(chain.rpcUrl, address);

/**
 * The ERC-3009 deposit's arguments: a ReceiveWithAuthorization by the payer (to the collector, nonce
 * bound to the channel and `salt`), valid for an hour of chain time. Overrides: signer (an account with
 * privateKey), value (the signed amount), validAfter, validBefore, salt, nonceChannelId.
 */
async function depositArgs(config, amount, o = {}) {
  const channelId = channelIdOf(config);
  const salt = o.salt ?? BigInt(keccak256(toHex(`salt-${++saltSeq}`)));
  const validAfter = o.validAfter ?? 0n;
  const validBefore = o.validBefore ?? (await chainNow()) + 3600n;
  const nonce = depositNonce(o.nonceChannelId ?? channelId, salt);
  const signer = o.signer ?? keyOf(config.payer);
  const signature = await signReceiveAuthorization({
    privateKey: signer.privateKey,
    from: config.payer,
    to: COLLECTOR,
    value: o.value ?? amount,
    validAfter,
    validBefore,
    nonce,
  });
  const data = depositCollectorData({ validAfter, validBefore, salt, signature });
  return { args: [config, amount, COLLECTOR, data], channelId, nonce, signature, salt };
}

/** A successful deposit through the ERC-3009 collector. */
async function deposit(config, amount, o = {}) {
  const d = await depositArgs(config, amount, o);
  return { ...d, receipt: await expectOk('deposit', d.args) };
}

/** A VoucherClaim row: the voucher (max) signed by `key` (default voucherKey), claiming `total`. */
async function claimRow(config, max, total = max, { key = voucherKey, signature } = {}) {
  return {
    voucher: { channel: config, maxClaimableAmount: BigInt(max) },
    signature:
      signature ?? (await signVoucher({ privateKey: key.privateKey, channelId: channelIdOf(config), maxClaimableAmount: max })),
    totalClaimed: BigInt(total),
  };
}

/** claimWithSignature args for `rows`, the batch signed by `key` (default the receiverAuthorizer). */
async function claimArgs(rows, { key = receiverAuthorizer } = {}) {
  return [rows, await signClaimBatch({ privateKey: key.privateKey, claims: rows })];
}

async function refundArgs(config, amount, nonce, { key = receiverAuthorizer } = {}) {
  const nonceNow = nonce ?? (await refundNonceOf(config));
  const signature = await signRefund({ privateKey: key.privateKey, channelId: channelIdOf(config), nonce: nonceNow, amount });
  return [config, BigInt(amount), nonceNow, signature];
}

function splitSig(sig) {
  return { r: BigInt(`0x${sig.slice(2, 66)}`), s: BigInt(`0x${sig.slice(66, 130)}`), v: Number.parseInt(sig.slice(130), 16) };
}
function joinSig({ r, s, v }) {
  return `0x${r.toString(16).padStart(64, '0')}${s.toString(16).padStart(64, '0')}${v.toString(16).padStart(2, '0')}`;
}
/** The malleable twin of a signature: s' = n - s, v flipped (ecrecover gives the same signer). */
function highS(sig) {
  const { r, s, v } = splitSig(sig);
  return joinSig({ r, s: SECP256K1_N - s, v: v === 27 ? 28 : 27 });
}

async function mint(to, amount) {
  await expectOk('mint', [to, amount], { from: deployer, address: TOKEN_ADDRESS, abi: TOKEN_ABI });
}

// ------------------------------------------------------------------------------------------- placement and ABI

describe('placement at the canonical addresses', () => {
  test('code at the three addresses, the collector bound to the canonical batch-settlement address', async () => {
    for (const address of [BS, COLLECTOR, MULTICALL3_ADDRESS]) {
      const code = await client.getCode({ address });
      assert.ok(code && code.length > 1000, `no code at ${address}`);
    }
    assert.equal(await read('x402BatchSettlement', [], COLLECTOR, ERC3009_DEPOSIT_COLLECTOR_ABI), BS);
    const [fields, name, version, chainId, verifyingContract, salt, extensions] = await read('eip712Domain');
    assert.deepEqual([fields, name, version, chainId, verifyingContract, salt, extensions], [
      '0x0f',
      'x402 Batch Settlement',
      '1',
      31337n,
      BS,
      pad('0x', { size: 32 }),
      [],
    ]);
  });

  test('deployBatchSettlement is idempotent and sends no transaction', async () => {
    const block = await client.getBlockNumber({ cacheTime: 0 });
    const nonce = await client.getTransactionCount({ address: deployer.address });
    const code = await client.getCode({ address: BS });
    assert.deepEqual(await deployBatchSettlement(chain.rpcUrl), {
      batchSettlement: BS,
      erc3009DepositCollector: COLLECTOR,
      multicall3: MULTICALL3_ADDRESS,
    });
    assert.equal(await client.getBlockNumber({ cacheTime: 0 }), block);
    assert.equal(await client.getTransactionCount({ address: deployer.address }), nonce);
    assert.equal(await client.getCode({ address: BS }), code);
  });

  test('deployBatchSettlement leaves foreign code in place: refuses at the batch address, keeps a Multicall3', async () => {
    const original = await client.getCode({ address: BS });
    const multicall = await client.getCode({ address: MULTICALL3_ADDRESS });
    try {
      await rpc(chain.rpcUrl, 'anvil_setCode', [MULTICALL3_ADDRESS, '0x60016000f3']);
      await rpc(chain.rpcUrl, 'anvil_setCode', [BS, '0x60006000fd']);
      await assert.rejects(deployBatchSettlement(chain.rpcUrl), /other code than TestBatchSettlement/);
      assert.equal(await client.getCode({ address: BS }), '0x60006000fd');
      await rpc(chain.rpcUrl, 'anvil_setCode', [BS, original]);
      await deployBatchSettlement(chain.rpcUrl);
      assert.equal(await client.getCode({ address: MULTICALL3_ADDRESS }), '0x60016000f3');
    } finally {
      await rpc(chain.rpcUrl, 'anvil_setCode', [BS, original]);
      await rpc(chain.rpcUrl, 'anvil_setCode', [MULTICALL3_ADDRESS, multicall]);
    }
  });

  test('the ABI carries the canonical selectors, event topics and error selectors', () => {
    const fn = Object.fromEntries(
      BATCH_SETTLEMENT_ABI.filter((x) => x.type === 'function').map((x) => [x.name, toFunctionSelector(x)]),
    );
    assert.deepEqual(fn, {
      CHANNEL_CONFIG_TYPEHASH: '0x8e4a68ac',
      CLAIM_BATCH_TYPEHASH: '0x53ab0fae',
      CLAIM_ENTRY_TYPEHASH: '0xba94ec0d',
      MAX_WITHDRAW_DELAY: '0x1fc3277d',
      MIN_WITHDRAW_DELAY: '0xae159439',
      REFUND_TYPEHASH: '0x1e69ef40',
      VOUCHER_TYPEHASH: '0x94739e87',
      channels: '0x7a7ebd7b',
      claim: '0x29237b0c',
      claimWithSignature: '0xe43ce1f2',
      deposit: '0x140f1e75',
      eip712Domain: '0x84b0196e',
      finalizeWithdraw: '0xe88377b1',
      getChannelId: '0x5e5e0b87',
      getClaimBatchDigest: '0x488ccc3b',
      getRefundDigest: '0xe25cf189',
      getVoucherDigest: '0x862bb199',
      initiateWithdraw: '0xcf5cf3dc',
      multicall: '0xac9650d8',
      pendingWithdrawals: '0xb7f06ebe',
      receivers: '0x21ff6389',
      refund: '0xdce4bfae',
      refundNonce: '0xf0dc792e',
      refundWithSignature: '0xb77433e9',
      settle: '0x9db32a8f',
    });
    const ev = Object.fromEntries(
      BATCH_SETTLEMENT_ABI.filter((x) => x.type === 'event').map((x) => [x.name, toEventSelector(x)]),
    );
    assert.deepEqual(ev, {
      ChannelClosed: '0x8d5942f197f362dfd44dfdc1b0b7a9721c9151b67f55817c83349271d3c08d37',
      ChannelCreated: '0x69d8248d5566bdb2ebc4d218970710d8378a2ff9b709a999e052b71970f808fa',
      Claimed: '0x36bd546bb573e8921fdbfd934bbed62d872796b01792cd240cce27f79dd3eddd',
      Deposited: '0x6c2a09353b5e75e70d0b9778b80a413809bb235d46c211811c474b3346791d89',
      Refunded: '0xa84286cf8ebc7903a663c77c8d99aa92b600d4c2fcca872a5d4a663db4eb394b',
      Settled: '0x7337b4386b690fdb8ba66905b92b9d45d33bc6626ee2620c905fb150ec0cc47d',
      WithdrawFinalized: '0x546ce1e2242cd930c196bd08b894443562d709b4fffe4f028a75a6d233efc6e3',
      WithdrawInitiated: '0xe4280d0d903c7f258f62b07c62f262377cbaa23f7791d78126e6446e0f0e3c23',
    });
    const settled = BATCH_SETTLEMENT_ABI.find((x) => x.name === 'Settled');
    assert.deepEqual(settled.inputs.map((i) => i.indexed), [true, true, true, false]);
    const err = (abi) =>
      Object.fromEntries(abi.filter((x) => x.type === 'error').map((x) => [x.name, toFunctionSelector({ ...x, type: 'function' })]));
    assert.deepEqual(err(BATCH_SETTLEMENT_ABI), {
      ClaimExceedsBalance: '0x7d8242b6',
      ClaimExceedsCeiling: '0xf1789775',
      DepositCollectionFailed: '0xeb43592c',
      DepositOverflow: '0x1132981b',
      ECDSAInvalidSignature: '0xf645eedf',
      ECDSAInvalidSignatureLength: '0xfce698f7',
      ECDSAInvalidSignatureS: '0xd78bce0c',
      EmptyBatch: '0xc2e5347d',
      FailedCall: '0xd6bda275',
      InvalidChannel: '0xea3a9a39',
      InvalidCollector: '0x18b1afd4',
      InvalidRefundNonce: '0x164f1afe',
      InvalidSignature: '0x8baa579f',
      NotAuthorizedToClaim: '0xdefb7069',
      NotAuthorizedToFinalizeWithdraw: '0x15f969d5',
      NotAuthorizedToRefund: '0x7864f008',
      NotReceiverAuthorizer: '0xf5e2237d',
      NothingToWithdraw: '0xd0d04f60',
      ReentrancyGuardReentrantCall: '0x3ee5aeb5',
      SafeERC20FailedOperation: '0x5274afe7',
      WithdrawAmountExceedsAvailable: '0x6d3d5764',
      WithdrawDelayNotElapsed: '0xf3965827',
      WithdrawDelayOutOfRange: '0x4574fab6',
      WithdrawalAlreadyPending: '0xa2aed0f0',
      WithdrawalNotPending: '0x3a0a1ca6',
      ZeroDeposit: '0x56316e87',
      ZeroRefund: '0xd758525c',
    });
    assert.deepEqual(err(ERC3009_DEPOSIT_COLLECTOR_ABI), {
      InvalidX402BatchSettlementAddress: '0xe55654f5',
      OnlyX402BatchSettlement: '0x9794beb9',
      SafeERC20FailedOperation: '0x5274afe7',
    });
    const collectorFns = ERC3009_DEPOSIT_COLLECTOR_ABI.filter((x) => x.type === 'function').map(toFunctionSelector);
    assert.deepEqual(collectorFns.sort(), ['0x4dec6d95', '0xe416d8d3']);
    assert.deepEqual(MULTICALL_ABI.filter((x) => x.type === 'function').map(toFunctionSelector), ['0xbce38bd7']);
  });

  test('constants: type hashes and withdraw-delay bounds', async () => {
    const h = (s) => keccak256(toHex(s));
    assert.equal(await read('CHANNEL_CONFIG_TYPEHASH'), '0x1c9a06ceab9b0ebbd3301dc56c9111bb6d9af421356dc9ccb3b7084c755db308');
    assert.equal(
      await read('CHANNEL_CONFIG_TYPEHASH'),
      h('ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)'),
    );
    assert.equal(await read('VOUCHER_TYPEHASH'), '0x1e1bd6ff84c3e0d9029a292b212e039c0ca97ec497c55191a4a5874294609a69');
    assert.equal(await read('REFUND_TYPEHASH'), '0xbe23ad087435072cd69b49cc5b92de10ee610fce7ae0ab428307972d764bb216');
    assert.equal(await read('CLAIM_ENTRY_TYPEHASH'), '0x30b9a0367528fca13c3e8ec6134c3113f1887ebe7a1ad61de0955aac288b0cf5');
    assert.equal(await read('CLAIM_BATCH_TYPEHASH'), '0x42bd57c010b870c2e96203c66341f28a6a19b4d56a74533a8eb5f706b9fd6d57');
    assert.equal(await read('MIN_WITHDRAW_DELAY'), 900);
    assert.equal(await read('MAX_WITHDRAW_DELAY'), 2_592_000);
  });

  test('Multicall3 stand-in: tryAggregate reports each call, requireSuccess reverts the batch', async () => {
    const config = newConfig();
    const calls = [
      { target: BS, callData: encodeFunctionData({ abi: BATCH_SETTLEMENT_ABI, functionName: 'getChannelId', args: [config] }) },
      { target: BS, callData: '0xdeadbeef' },
    ];
    const results = await read('tryAggregate', [false, calls], MULTICALL3_ADDRESS, MULTICALL_ABI);
    assert.deepEqual(results, [
      { success: true, returnData: channelIdOf(config) },
      { success: false, returnData: '0x' },
    ]);
    await assert.rejects(read('tryAggregate', [true, calls], MULTICALL3_ADDRESS, MULTICALL_ABI), /Multicall3: call failed/);
  });
});

// ------------------------------------------------------------------------------------------- test vectors

describe('EIP-712 values equal the chain-31337 test vectors', () => {
  // payer = payerAuthorizer = anvil #0, receiver #1, receiverAuthorizer #2, TestUSDC, delay 900, salt 0.
  const vectorConfig = {
    payer: ANVIL_ACCOUNTS[0].address,
    payerAuthorizer: ANVIL_ACCOUNTS[0].address,
    receiver: ANVIL_ACCOUNTS[1].address,
    receiverAuthorizer: ANVIL_ACCOUNTS[2].address,
    token: TOKEN_ADDRESS,
    withdrawDelay: 900,
    salt: pad('0x', { size: 32 }),
  };
  const CHANNEL_ID = '0x3dba7b750189e416712e643b7f71b0f6a79d0cce7f84596a48d48205120ffbce';

  test('domain separator, channel id, voucher / refund / claim-batch digests', async () => {
    assert.equal(hashDomain({ domain: batchSettlementDomain(31337), types: { EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' },
    ] } }), '0xbf720f8d28a5c76a2f7743512598984fa4b90dd1efdb19af73f64cc6587d68af');
    assert.equal(await read('getChannelId', [vectorConfig]), CHANNEL_ID);
    assert.equal(channelIdOf(vectorConfig), CHANNEL_ID);
    assert.equal(await read('getVoucherDigest', [CHANNEL_ID, 1000n]), '0xd48e132c94dcd17b21fe7470534f023f2faebbb8db6b5391f5b8d6f75e463053');
    assert.equal(await read('getRefundDigest', [CHANNEL_ID, 0n, 500n]), '0x593c3d5ffb896add60ca16378a0587f58c7322fd1e4aab4b3ebacd1fc5fda980');
    const row = { voucher: { channel: vectorConfig, maxClaimableAmount: 1000n }, signature: '0x', totalClaimed: 1000n };
    const claimDigest = '0x2f46733a02ccc402c5eb8054fa1e9ae883411f9bac87ee0fb172a5663cf3ccce';
    assert.equal(await read('getClaimBatchDigest', [[row]]), claimDigest);
    // The same through viem's EIP-712 array encoding, and an empty batch hashes keccak256("") as its root.
    assert.equal(
      hashTypedData({
        domain: batchSettlementDomain(31337),
        types: { ClaimBatch: [{ name: 'claims', type: 'ClaimEntry[]' }], ClaimEntry: [
          { name: 'channelId', type: 'bytes32' },
          { name: 'maxClaimableAmount', type: 'uint128' },
          { name: 'totalClaimed', type: 'uint128' },
        ] },
        primaryType: 'ClaimBatch',
        message: { claims: [{ channelId: CHANNEL_ID, maxClaimableAmount: 1000n, totalClaimed: 1000n }] },
      }),
      claimDigest,
    );
    assert.equal(
      await read('getClaimBatchDigest', [[]]),
      hashTypedData({
        domain: batchSettlementDomain(31337),
        types: { ClaimBatch: [{ name: 'claims', type: 'ClaimEntry[]' }], ClaimEntry: [
          { name: 'channelId', type: 'bytes32' },
          { name: 'maxClaimableAmount', type: 'uint128' },
          { name: 'totalClaimed', type: 'uint128' },
        ] },
        primaryType: 'ClaimBatch',
        message: { claims: [] },
      }),
    );
  });

  test('the vector deposit (auth salt 1) and voucher signature work on chain', async () => {
    const me = ANVIL_ACCOUNTS[0];
    await mint(me.address, 10_000n);
    const nonce = depositNonce(CHANNEL_ID, 1n);
    assert.equal(nonce, '0xc411b8a3d60a2104645ed1804d546b93e11f69b73bfbfbf4653d8f2ec464e622');
    const d = await depositArgs(vectorConfig, 10_000n, { salt: 1n, validBefore: 2_000_000_000n });
    assert.equal(
      d.signature,
      '0x88ddd56d0347c565455d7023647422f88076856b1ad57999ac0145210e00bc953da27c31f808f22212672f3d87898b83675aa320ee168ae008ad58014bd2aa5a1b',
    );
    const receipt = await expectOk('deposit', d.args);
    assert.deepEqual(
      events(receipt).find(([, name]) => name === 'AuthorizationUsed'),
      [TOKEN_ADDRESS, 'AuthorizationUsed', { authorizer: me.address, nonce }],
    );
    assert.deepEqual(await channelState(vectorConfig), { balance: 10_000n, totalClaimed: 0n });

    const voucherSig = await signVoucher({ privateKey: me.privateKey, channelId: CHANNEL_ID, maxClaimableAmount: 1000n });
    assert.equal(
      voucherSig,
      '0x48b40bfff3bebfbe9e49bd5a0d707adeb458085e4aa8dc8a1cd4c34d1b9388115abc686a061525bf828f4a126948376283a278eac751e85428ccf0e055a44f9f1c',
    );
    const row = await claimRow(vectorConfig, 1000n, 1000n, { signature: voucherSig });
    await expectOk('claimWithSignature', await claimArgs([row], { key: ANVIL_ACCOUNTS[2] }));
    assert.deepEqual(await channelState(vectorConfig), { balance: 10_000n, totalClaimed: 1000n });
  });
});

// ------------------------------------------------------------------------------------------- deposit

describe('deposit through the ERC-3009 collector', () => {
  test('first deposit: the payer’s receiveWithAuthorization pulls the tokens into the channel', async () => {
    const config = newConfig();
    const [payerBefore, bsBefore] = [await tokenBalance(payer.address), await tokenBalance(BS)];
    const { receipt, channelId, nonce } = await deposit(config, 5_000_000n);
    assert.equal(await read('getChannelId', [config]), channelId);
    assert.deepEqual(events(receipt), [
      [TOKEN_ADDRESS, 'AuthorizationUsed', { authorizer: payer.address, nonce }],
      [TOKEN_ADDRESS, 'Transfer', { from: payer.address, to: COLLECTOR, value: 5_000_000n }],
      [TOKEN_ADDRESS, 'Transfer', { from: COLLECTOR, to: BS, value: 5_000_000n }],
      [BS, 'ChannelCreated', { channelId, config }],
      [BS, 'Deposited', { channelId, sender: relayer.address, amount: 5_000_000n, newBalance: 5_000_000n }],
    ]);
    assert.equal(await tokenBalance(payer.address), payerBefore - 5_000_000n);
    assert.equal(await tokenBalance(BS), bsBefore + 5_000_000n);
    assert.equal(await tokenBalance(COLLECTOR), 0n);
    assert.deepEqual(await channelState(config), { balance: 5_000_000n, totalClaimed: 0n });
  });

  test('a top-up adds to the same channel without ChannelCreated; payerAuthorizer 0 is allowed', async () => {
    const config = newConfig({ payerAuthorizer: zeroAddress });
    const first = await deposit(config, 1000n);
    const { receipt, channelId } = await deposit(config, 2500n);
    assert.equal(channelId, first.channelId);
    assert.deepEqual(
      events(receipt).filter(([a]) => a === BS),
      [[BS, 'Deposited', { channelId, sender: relayer.address, amount: 2500n, newBalance: 3500n }]],
    );
    assert.deepEqual(await channelState(config), { balance: 3500n, totalClaimed: 0n });
  });

  test('InvalidChannel when payer, receiver, receiverAuthorizer or token is zero', async () => {
    for (const field of ['payer', 'receiver', 'receiverAuthorizer', 'token']) {
      const config = newConfig({ [field]: zeroAddress });
      await expectRevert('deposit', [config, 1000n, COLLECTOR, '0x'], 'InvalidChannel');
    }
  });

  test('WithdrawDelayOutOfRange outside 900…2592000 s; both bounds accepted', async () => {
    for (const withdrawDelay of [0, 899, 2_592_001]) {
      await expectRevert('deposit', [newConfig({ withdrawDelay }), 1000n, COLLECTOR, '0x'], 'WithdrawDelayOutOfRange');
    }
    for (const withdrawDelay of [900, 2_592_000]) {
      const config = newConfig({ withdrawDelay });
      await deposit(config, 10n);
      assert.equal((await channelState(config)).balance, 10n);
    }
  });

  test('ZeroDeposit, InvalidCollector, and the order of the checks', async () => {
    await expectRevert('deposit', [newConfig(), 0n, COLLECTOR, '0x'], 'ZeroDeposit');
    await expectRevert('deposit', [newConfig(), 1000n, zeroAddress, '0x'], 'InvalidCollector');
    // config before delay before amount before collector
    await expectRevert('deposit', [newConfig({ token: zeroAddress, withdrawDelay: 1 }), 0n, zeroAddress, '0x'], 'InvalidChannel');
    await expectRevert('deposit', [newConfig({ withdrawDelay: 1 }), 0n, zeroAddress, '0x'], 'WithdrawDelayOutOfRange');
    await expectRevert('deposit', [newConfig(), 0n, zeroAddress, '0x'], 'ZeroDeposit');
  });

  test('DepositOverflow when the balance would pass 2^128-1 (checked before the collector runs)', async () => {
    const config = newConfig();
    await deposit(config, 1000n);
    await expectRevert('deposit', [config, UINT128_MAX, COLLECTOR, '0x'], 'DepositOverflow');
    await expectRevert('deposit', [config, UINT128_MAX - 999n, COLLECTOR, '0x'], 'DepositOverflow');
    assert.equal((await channelState(config)).balance, 1000n);
  });

  test('the payer’s authorization is checked by the token: expired, replayed, wrong amount, wrong channel, wrong signer', async () => {
    const config = newConfig();
    const before = await tokenBalance(payer.address);
    const reason = async (args) => {
      const r = await expectRevert('deposit', args, 'Error');
      return (await decodedRevert(r)).args[0];
    };
    const expired = await depositArgs(config, 1000n, { validBefore: await chainNow() });
    assert.equal(await reason(expired.args), 'FiatTokenV2: authorization is expired');
    const early = await depositArgs(config, 1000n, { validAfter: (await chainNow()) + 600n });
    assert.equal(await reason(early.args), 'FiatTokenV2: authorization is not yet valid');
    const other = await depositArgs(config, 1000n, { value: 999n });
    assert.equal(await reason(other.args), 'FiatTokenV2: invalid signature');
    // A signature whose nonce binds it to another channel cannot fund this one.
    const elsewhere = await depositArgs(config, 1000n, { nonceChannelId: channelIdOf(newConfig()) });
    assert.equal(await reason(elsewhere.args), 'FiatTokenV2: invalid signature');
    const forged = await depositArgs(config, 1000n, { signer: stranger });
    assert.equal(await reason(forged.args), 'FiatTokenV2: invalid signature');
    assert.equal(await tokenBalance(payer.address), before);
    assert.deepEqual(await channelState(config), { balance: 0n, totalClaimed: 0n });

    const ok = await deposit(config, 1000n);
    assert.equal(await reason(ok.args), 'FiatTokenV2: authorization is used or canceled');
    assert.deepEqual(await channelState(config), { balance: 1000n, totalClaimed: 0n });
  });

  test('the collector only serves the batch-settlement contract (OnlyX402BatchSettlement)', async () => {
    const config = newConfig();
    const d = await depositArgs(config, 1000n);
    const collect = [payer.address, TOKEN_ADDRESS, 1000n, d.channelId, d.args[3]];
    const opts = { from: stranger, address: COLLECTOR, abi: ERC3009_DEPOSIT_COLLECTOR_ABI };
    await expectRevert('collect', collect, 'OnlyX402BatchSettlement', opts);
    // The same authorization still works through deposit.
    await expectOk('deposit', d.args);
    assert.equal((await channelState(config)).balance, 1000n);
  });

  describe('with a collector that does not deliver exactly the amount', () => {
    let faulty;
    /** TestFaultyCollector's collectorData: deliver `deliver` tokens, after calling back with `callback`. */
    const data = (deliver, callback = '0x') => encodeAbiParameters([{ type: 'uint256' }, { type: 'bytes' }], [deliver, callback]);

    before(async () => {
      const hash = await walletClient(chain.rpcUrl, deployer).deployContract({ abi: FAULTY.abi, bytecode: FAULTY.bytecode, chain: null });
      faulty = getAddress((await client.waitForTransactionReceipt({ hash })).contractAddress);
      await mint(faulty, 1_000_000n);
    });

    test('DepositCollectionFailed for less or more than the amount; any collector delivering it exactly is accepted', async () => {
      const config = newConfig();
      for (const deliver of [0n, 999n, 1001n]) {
        await expectRevert('deposit', [config, 1000n, faulty, data(deliver)], 'DepositCollectionFailed');
      }
      assert.equal(await tokenBalance(faulty), 1_000_000n);
      const receipt = await expectOk('deposit', [config, 1000n, faulty, data(1000n)]);
      assert.deepEqual(events(receipt).at(-1), [
        BS,
        'Deposited',
        { channelId: channelIdOf(config), sender: relayer.address, amount: 1000n, newBalance: 1000n },
      ]);
      assert.equal(await tokenBalance(faulty), 999_000n);
    });

    test('a collector cannot re-enter (ReentrancyGuardReentrantCall)', async () => {
      const config = newConfig();
      const reenter = encodeFunctionData({ abi: BATCH_SETTLEMENT_ABI, functionName: 'settle', args: [receiver.address, TOKEN_ADDRESS] });
      await expectRevert('deposit', [config, 1000n, faulty, data(1000n, reenter)], 'ReentrancyGuardReentrantCall');
      assert.equal((await channelState(config)).balance, 0n);
    });
  });
});

// ------------------------------------------------------------------------------------------- claims

describe('claims', () => {
  test('claimWithSignature records the voucher: channel and receiver totals, Claimed, no token moves', async () => {
    const config = newConfig({ receiver: privateKeyToAccount(generatePrivateKey()).address });
    const { channelId } = await deposit(config, 10_000n);
    const bsBefore = await tokenBalance(BS);
    const row = await claimRow(config, 3000n, 2500n); // a voucher for 3000, 2500 of it claimed
    const receipt = await expectOk('claimWithSignature', await claimArgs([row]));
    assert.deepEqual(events(receipt), [
      [BS, 'Claimed', { channelId, sender: relayer.address, claimAmount: 2500n, newTotalClaimed: 2500n }],
    ]);
    assert.deepEqual(await channelState(config), { balance: 10_000n, totalClaimed: 2500n });
    assert.deepEqual(await receiverTotals(config.receiver), { totalClaimed: 2500n, totalSettled: 0n });
    assert.equal(await tokenBalance(BS), bsBefore);
    assert.equal(await tokenBalance(config.receiver), 0n);
  });

  test('one batch over two channels, then a higher voucher claims only the difference', async () => {
    const who = privateKeyToAccount(generatePrivateKey()).address;
    const a = newConfig({ receiver: who });
    const b = newConfig({ receiver: who, payer: payer2.address });
    await deposit(a, 5000n);
    await deposit(b, 5000n);
    let receipt = await expectOk('claimWithSignature', await claimArgs([await claimRow(a, 1000n), await claimRow(b, 2000n)]));
    assert.deepEqual(
      events(receipt).map(([, n, x]) => [n, x.channelId, x.claimAmount, x.newTotalClaimed]),
      [
        ['Claimed', channelIdOf(a), 1000n, 1000n],
        ['Claimed', channelIdOf(b), 2000n, 2000n],
      ],
    );
    receipt = await expectOk('claimWithSignature', await claimArgs([await claimRow(a, 1700n)]));
    assert.deepEqual(events(receipt)[0][2], { channelId: channelIdOf(a), sender: relayer.address, claimAmount: 700n, newTotalClaimed: 1700n });
    assert.deepEqual(await receiverTotals(who), { totalClaimed: 3700n, totalSettled: 0n });
  });

  test('a replayed or older voucher is a silent no-op (no event, no check, totals unchanged)', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    const row = await claimRow(config, 2000n);
    await expectOk('claimWithSignature', await claimArgs([row]));
    const totals = await receiverTotals(receiver.address);
    for (const stale of [
      row, // the same voucher again
      await claimRow(config, 1500n), // an older, lower voucher
      await claimRow(config, 2000n, 2000n, { signature: '0x1234' }), // not even checked when it raises nothing
    ]) {
      const receipt = await expectOk('claimWithSignature', await claimArgs([stale]));
      assert.deepEqual(events(receipt), []);
    }
    assert.deepEqual(await channelState(config), { balance: 5000n, totalClaimed: 2000n });
    assert.deepEqual(await receiverTotals(receiver.address), totals);
  });

  test('ClaimExceedsCeiling: claiming more than the voucher allows', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    await expectRevert('claimWithSignature', await claimArgs([await claimRow(config, 1000n, 1001n)]), 'ClaimExceedsCeiling');
    assert.equal((await channelState(config)).totalClaimed, 0n);
  });

  test('ClaimExceedsBalance: a voucher above the deposit cannot be claimed past the balance', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    await expectRevert('claimWithSignature', await claimArgs([await claimRow(config, 8000n, 5001n)]), 'ClaimExceedsBalance');
    // up to the balance it can
    await expectOk('claimWithSignature', await claimArgs([await claimRow(config, 8000n, 5000n)]));
    assert.deepEqual(await channelState(config), { balance: 5000n, totalClaimed: 5000n });
  });

  test('voucher signature by a delegated key: wrong signer, other amount, high s, wrong length, bad v', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    const good = await claimRow(config, 1000n);
    const bad = async (signature, errorName, errorArgs) =>
      expectRevert('claimWithSignature', await claimArgs([{ ...good, signature }]), errorName, { errorArgs });
    await bad((await claimRow(config, 1000n, 1000n, { key: payer })).signature, 'InvalidSignature'); // the payer is not payerAuthorizer
    await bad((await claimRow(config, 999n, 999n)).signature, 'InvalidSignature'); // signed for another max
    const twin = highS(good.signature);
    assert.equal(
      await recoverAddress({ hash: await read('getVoucherDigest', [channelIdOf(config), 1000n]), signature: good.signature }),
      voucherKey.address,
    );
    await bad(twin, 'ECDSAInvalidSignatureS', [`0x${splitSig(twin).s.toString(16).padStart(64, '0')}`]);
    await bad(good.signature.slice(0, -2), 'ECDSAInvalidSignatureLength', [64n]);
    await bad(`${good.signature}00`, 'ECDSAInvalidSignatureLength', [66n]);
    await bad(joinSig({ ...splitSig(good.signature), v: 29 }), 'ECDSAInvalidSignature');
    assert.equal((await channelState(config)).totalClaimed, 0n);
    await expectOk('claimWithSignature', await claimArgs([good]));
    assert.equal((await channelState(config)).totalClaimed, 1000n);
  });

  test('the claim batch signature: wrong signer, altered batch, malformed (all InvalidSignature), EmptyBatch', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    const row = await claimRow(config, 1000n);
    const [, sig] = await claimArgs([row]);
    await expectRevert('claimWithSignature', await claimArgs([row], { key: receiver }), 'InvalidSignature');
    await expectRevert('claimWithSignature', [[{ ...row, totalClaimed: 999n }], sig], 'InvalidSignature');
    // Unlike the voucher's ECDSA check, the authorizer's check never reverts on its own: malformed is just invalid.
    for (const s of [highS(sig), sig.slice(0, -2), `${sig}00`, '0x']) {
      await expectRevert('claimWithSignature', [[row], s], 'InvalidSignature');
    }
    await expectRevert('claimWithSignature', [[], sig], 'EmptyBatch');
    await expectRevert('claim', [[]], 'EmptyBatch', { from: receiver });
    assert.equal((await channelState(config)).totalClaimed, 0n);
  });

  test('NotReceiverAuthorizer: every row must share the first row’s receiverAuthorizer', async () => {
    const a = newConfig();
    const b = newConfig({ receiverAuthorizer: stranger.address });
    await deposit(a, 1000n);
    await deposit(b, 1000n);
    const rows = [await claimRow(a, 100n), await claimRow(b, 100n)];
    await expectRevert('claimWithSignature', await claimArgs(rows), 'NotReceiverAuthorizer');
    assert.equal((await channelState(a)).totalClaimed, 0n);
  });

  test('claim without a batch signature: by the receiver or its authorizer, not by others (NotAuthorizedToClaim)', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    await expectRevert('claim', [[await claimRow(config, 100n)]], 'NotAuthorizedToClaim', { from: stranger });
    await expectRevert('claim', [[await claimRow(config, 100n)]], 'NotAuthorizedToClaim', { from: payer });
    let receipt = await expectOk('claim', [[await claimRow(config, 100n)]], { from: receiver });
    assert.deepEqual(events(receipt), [[BS, 'Claimed', { channelId, sender: receiver.address, claimAmount: 100n, newTotalClaimed: 100n }]]);
    receipt = await expectOk('claim', [[await claimRow(config, 300n)]], { from: receiverAuthorizer });
    assert.deepEqual(events(receipt), [
      [BS, 'Claimed', { channelId, sender: receiverAuthorizer.address, claimAmount: 200n, newTotalClaimed: 300n }],
    ]);
  });

  test('wrong channel config: another channel’s voucher, or a config that was never funded', async () => {
    const a = newConfig();
    const b = newConfig();
    await deposit(a, 5000n);
    await deposit(b, 5000n);
    const voucherOfA = await claimRow(a, 1000n);
    // The same voucher presented with B's config: B's channel id is in the digest, so the signature fails.
    await expectRevert('claimWithSignature', await claimArgs([{ ...voucherOfA, voucher: { ...voucherOfA.voucher, channel: b } }]), 'InvalidSignature');
    // A's config with another withdrawDelay is another (empty) channel.
    const changed = { ...a, withdrawDelay: 901 };
    await expectRevert('claimWithSignature', await claimArgs([{ ...voucherOfA, voucher: { ...voucherOfA.voucher, channel: changed } }]), 'ClaimExceedsBalance');
    assert.equal((await channelState(a)).totalClaimed, 0n);
    assert.equal((await channelState(b)).totalClaimed, 0n);
  });

  test('payerAuthorizer 0: the payer’s own signature (checked without reverting on malformed ones)', async () => {
    const config = newConfig({ payerAuthorizer: zeroAddress });
    await deposit(config, 5000n);
    const bySelf = await claimRow(config, 1000n, 1000n, { key: payer });
    await expectRevert('claimWithSignature', await claimArgs([await claimRow(config, 1000n)]), 'InvalidSignature'); // voucherKey
    await expectRevert('claimWithSignature', await claimArgs([{ ...bySelf, signature: highS(bySelf.signature) }]), 'InvalidSignature');
    await expectRevert('claimWithSignature', await claimArgs([{ ...bySelf, signature: bySelf.signature.slice(0, -2) }]), 'InvalidSignature');
    await expectOk('claimWithSignature', await claimArgs([bySelf]));
    assert.equal((await channelState(config)).totalClaimed, 1000n);
  });

  test('an ERC-1271 payer (smart wallet, payerAuthorizer 0): deposit and voucher checked by isValidSignature', async () => {
    const owner = voucherKey;
    const { address: wallet } = await deploySmartWallet(chain.rpcUrl, owner);
    await mint(wallet, 10_000n);
    const config = newConfig({ payer: wallet, payerAuthorizer: zeroAddress });
    await deposit(config, 4000n, { signer: owner });
    assert.equal(await tokenBalance(wallet), 6000n);
    await expectRevert('claimWithSignature', await claimArgs([await claimRow(config, 1000n, 1000n, { key: stranger })]), 'InvalidSignature');
    await expectOk('claimWithSignature', await claimArgs([await claimRow(config, 1000n, 1000n, { key: owner })]));
    assert.deepEqual(await channelState(config), { balance: 4000n, totalClaimed: 1000n });
  });
});

// ------------------------------------------------------------------------------------------- settle

describe('settle', () => {
  test('pays the receiver what was claimed and not yet settled; Settled; gas well under 120000', async () => {
    const who = privateKeyToAccount(generatePrivateKey()).address;
    const a = newConfig({ receiver: who });
    const b = newConfig({ receiver: who, payer: payer2.address });
    await deposit(a, 5000n);
    await deposit(b, 5000n);
    await expectOk('claimWithSignature', await claimArgs([await claimRow(a, 1200n), await claimRow(b, 800n)]));
    const bsBefore = await tokenBalance(BS);

    const receipt = await expectOk('settle', [who, TOKEN_ADDRESS], { from: stranger });
    assert.deepEqual(events(receipt), [
      [TOKEN_ADDRESS, 'Transfer', { from: BS, to: who, value: 2000n }],
      [BS, 'Settled', { receiver: who, token: TOKEN_ADDRESS, sender: stranger.address, amount: 2000n }],
    ]);
    assert.equal(await tokenBalance(who), 2000n);
    assert.equal(await tokenBalance(BS), bsBefore - 2000n);
    assert.deepEqual(await receiverTotals(who), { totalClaimed: 2000n, totalSettled: 2000n });
    // settle leaves the channels' balances alone (balance counts deposits; totalClaimed what is owed)
    assert.deepEqual(await channelState(a), { balance: 5000n, totalClaimed: 1200n });
    assert.ok(receipt.gasUsed < 80_000n, `settle used ${receipt.gasUsed} gas`);

    // Nothing more to pay: a silent no-op.
    const again = await expectOk('settle', [who, TOKEN_ADDRESS]);
    assert.deepEqual(events(again), []);
    assert.equal(await tokenBalance(who), 2000n);

    // A later claim: only the new part is paid.
    await expectOk('claimWithSignature', await claimArgs([await claimRow(a, 1500n)]));
    const third = await expectOk('settle', [who, TOKEN_ADDRESS]);
    assert.deepEqual(events(third).at(-1), [BS, 'Settled', { receiver: who, token: TOKEN_ADDRESS, sender: relayer.address, amount: 300n }]);
    assert.equal(await tokenBalance(who), 2300n);
    assert.deepEqual(await receiverTotals(who), { totalClaimed: 2300n, totalSettled: 2300n });
  });

  test('a receiver or token with nothing claimed: no event, no transfer', async () => {
    const nobody = privateKeyToAccount(generatePrivateKey()).address;
    assert.deepEqual(events(await expectOk('settle', [nobody, TOKEN_ADDRESS])), []);
    assert.deepEqual(events(await expectOk('settle', [receiver.address, zeroAddress])), []);
    assert.deepEqual(await receiverTotals(nobody), { totalClaimed: 0n, totalSettled: 0n });
  });
});

// ------------------------------------------------------------------------------------------- refunds

describe('cooperative refund', () => {
  test('refundWithSignature returns unclaimed escrow to the payer and bumps the nonce', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    const payerBefore = await tokenBalance(payer.address);
    assert.equal(await refundNonceOf(config), 0n);
    const args = await refundArgs(config, 1500n);
    const receipt = await expectOk('refundWithSignature', args, { from: stranger });
    assert.deepEqual(events(receipt), [
      [BS, 'Refunded', { channelId, sender: stranger.address, amount: 1500n }],
      [TOKEN_ADDRESS, 'Transfer', { from: BS, to: payer.address, value: 1500n }],
    ]);
    assert.equal(await tokenBalance(payer.address), payerBefore + 1500n);
    assert.deepEqual(await channelState(config), { balance: 3500n, totalClaimed: 0n });
    assert.equal(await refundNonceOf(config), 1n);

    // InvalidRefundNonce: the same signature again, or one for a future nonce.
    await expectRevert('refundWithSignature', args, 'InvalidRefundNonce');
    await expectRevert('refundWithSignature', await refundArgs(config, 100n, 2n), 'InvalidRefundNonce');
    assert.equal(await refundNonceOf(config), 1n);
    assert.equal((await channelState(config)).balance, 3500n);
  });

  test('InvalidSignature: another signer, another amount, a high-s or short signature', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    await expectRevert('refundWithSignature', await refundArgs(config, 100n, 0n, { key: receiver }), 'InvalidSignature');
    const [c, , n, sig] = await refundArgs(config, 100n, 0n);
    await expectRevert('refundWithSignature', [c, 101n, n, sig], 'InvalidSignature');
    await expectRevert('refundWithSignature', [c, 100n, n, highS(sig)], 'InvalidSignature');
    await expectRevert('refundWithSignature', [c, 100n, n, sig.slice(0, -2)], 'InvalidSignature');
    assert.equal(await refundNonceOf(config), 0n);
    assert.equal((await channelState(config)).balance, 5000n);
  });

  test('ZeroRefund for amount 0, and the nonce does not move', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    await expectRevert('refundWithSignature', await refundArgs(config, 0n), 'ZeroRefund');
    await expectRevert('refund', [config, 0n], 'ZeroRefund', { from: receiver });
    assert.equal(await refundNonceOf(config), 0n);
  });

  test('capped at the unclaimed escrow; ChannelClosed when emptied; a refund of nothing still bumps the nonce', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    const receipt = await expectOk('refundWithSignature', await refundArgs(config, 9000n));
    assert.deepEqual(events(receipt).filter(([a]) => a === BS), [
      [BS, 'Refunded', { channelId, sender: relayer.address, amount: 5000n }],
      [BS, 'ChannelClosed', { channelId, config }],
    ]);
    assert.deepEqual(await channelState(config), { balance: 0n, totalClaimed: 0n });
    const empty = await expectOk('refundWithSignature', await refundArgs(config, 1n));
    assert.deepEqual(events(empty), []);
    assert.equal(await refundNonceOf(config), 2n);

    // With claims the refund stops at balance - totalClaimed, and the channel is not closed.
    const claimed = newConfig();
    await deposit(claimed, 5000n);
    await expectOk('claimWithSignature', await claimArgs([await claimRow(claimed, 2000n)]));
    const r2 = await expectOk('refundWithSignature', await refundArgs(claimed, 9000n));
    assert.deepEqual(events(r2).filter(([a]) => a === BS).map(([, n, x]) => [n, x.amount]), [['Refunded', 3000n]]);
    assert.deepEqual(await channelState(claimed), { balance: 2000n, totalClaimed: 2000n });
  });

  test('refund by the receiver side only (NotAuthorizedToRefund); it invalidates a signature for the old nonce', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    const presigned = await refundArgs(config, 100n);
    await expectRevert('refund', [config, 100n], 'NotAuthorizedToRefund', { from: payer });
    await expectRevert('refund', [config, 100n], 'NotAuthorizedToRefund', { from: stranger });
    const receipt = await expectOk('refund', [config, 250n], { from: receiver });
    assert.deepEqual(events(receipt)[0], [BS, 'Refunded', { channelId, sender: receiver.address, amount: 250n }]);
    await expectOk('refund', [config, 250n], { from: receiverAuthorizer });
    assert.equal(await refundNonceOf(config), 2n);
    await expectRevert('refundWithSignature', presigned, 'InvalidRefundNonce');
    assert.equal((await channelState(config)).balance, 4500n);
  });

  test('multicall([claimWithSignature, refundWithSignature]) in one transaction, as the reference facilitator sends it', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    const payerBefore = await tokenBalance(payer.address);
    const claim = encodeFunctionData({
      abi: BATCH_SETTLEMENT_ABI,
      functionName: 'claimWithSignature',
      args: await claimArgs([await claimRow(config, 1800n)]),
    });
    const refund = encodeFunctionData({ abi: BATCH_SETTLEMENT_ABI, functionName: 'refundWithSignature', args: await refundArgs(config, 5000n) });
    const receipt = await expectOk('multicall', [[claim, refund]]);
    assert.deepEqual(
      events(receipt).filter(([a]) => a === BS).map(([, n, x]) => [n, x.channelId, x.claimAmount ?? x.amount]),
      [
        ['Claimed', channelId, 1800n],
        ['Refunded', channelId, 3200n],
      ],
    );
    assert.deepEqual(await channelState(config), { balance: 1800n, totalClaimed: 1800n });
    assert.equal(await tokenBalance(payer.address), payerBefore + 3200n);
    assert.equal(await refundNonceOf(config), 1n);
  });

  test('multicall is atomic and bubbles the failing call’s error; it returns each call’s result', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    const claim = encodeFunctionData({
      abi: BATCH_SETTLEMENT_ABI,
      functionName: 'claimWithSignature',
      args: await claimArgs([await claimRow(config, 1000n)]),
    });
    const staleRefund = encodeFunctionData({
      abi: BATCH_SETTLEMENT_ABI,
      functionName: 'refundWithSignature',
      args: await refundArgs(config, 100n, 7n),
    });
    await expectRevert('multicall', [[claim, staleRefund]], 'InvalidRefundNonce');
    await expectRevert('multicall', [[claim, '0xdeadbeef']], 'FailedCall');
    assert.deepEqual(await channelState(config), { balance: 5000n, totalClaimed: 0n });

    const calls = [
      encodeFunctionData({ abi: BATCH_SETTLEMENT_ABI, functionName: 'getChannelId', args: [config] }),
      encodeFunctionData({ abi: BATCH_SETTLEMENT_ABI, functionName: 'channels', args: [channelIdOf(config)] }),
    ];
    const [id, state] = await read('multicall', [calls]);
    assert.equal(decodeFunctionResult({ abi: BATCH_SETTLEMENT_ABI, functionName: 'getChannelId', data: id }), channelIdOf(config));
    assert.deepEqual(decodeFunctionResult({ abi: BATCH_SETTLEMENT_ABI, functionName: 'channels', data: state }), [5000n, 0n]);
  });
});

// ------------------------------------------------------------------------------------------- timed withdrawal

describe('timed withdrawal', () => {
  /** Mines the next transaction at chain time `t`. */
  const at = (t) => rpc(chain.rpcUrl, 'evm_setNextBlockTimestamp', [Number(t)]);

  test('initiateWithdraw: by the payer or its authorizer only, within the unclaimed escrow, one at a time', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 5000n);
    await expectOk('claimWithSignature', await claimArgs([await claimRow(config, 1000n)]));
    await expectRevert('initiateWithdraw', [config, 100n], 'InvalidChannel', { from: stranger });
    await expectRevert('initiateWithdraw', [config, 100n], 'InvalidChannel', { from: receiver });
    await expectRevert('initiateWithdraw', [config, 0n], 'NothingToWithdraw', { from: payer });
    await expectRevert('initiateWithdraw', [config, 4001n], 'WithdrawAmountExceedsAvailable', { from: payer });
    const t = (await chainNow()) + 10n;
    await at(t);
    const receipt = await expectOk('initiateWithdraw', [config, 4000n], { from: voucherKey });
    assert.deepEqual(events(receipt), [[BS, 'WithdrawInitiated', { channelId, amount: 4000n, finalizeAfter: Number(t) + 900 }]]);
    assert.deepEqual(await pendingOf(config), { amount: 4000n, initiatedAt: Number(t) });
    await expectRevert('initiateWithdraw', [config, 1n], 'WithdrawalAlreadyPending', { from: payer });
  });

  test('finalizeWithdraw after the delay, capped by claims made meanwhile, paid to the payer', async () => {
    const config = newConfig({ receiver: privateKeyToAccount(generatePrivateKey()).address });
    const { channelId } = await deposit(config, 1000n);
    await expectOk('claimWithSignature', await claimArgs([await claimRow(config, 300n)]));
    const t = (await chainNow()) + 10n;
    await at(t);
    await expectOk('initiateWithdraw', [config, 700n], { from: payer });

    await expectRevert('finalizeWithdraw', [config], 'NotAuthorizedToFinalizeWithdraw', { from: stranger });
    await expectRevert('finalizeWithdraw', [newConfig()], 'WithdrawalNotPending', { from: payer });
    await at(t + 899n);
    await expectRevert('finalizeWithdraw', [config], 'WithdrawDelayNotElapsed', { from: payer });

    // The receiver side claims before the withdrawal completes: that part is no longer withdrawable.
    await expectOk('claimWithSignature', await claimArgs([await claimRow(config, 500n)]));
    const [payerBefore, keyBefore] = [await tokenBalance(payer.address), await tokenBalance(voucherKey.address)];
    await at(t + 900n);
    const receipt = await expectOk('finalizeWithdraw', [config], { from: voucherKey });
    assert.deepEqual(events(receipt), [
      [BS, 'WithdrawFinalized', { channelId, sender: voucherKey.address, amount: 500n }],
      [TOKEN_ADDRESS, 'Transfer', { from: BS, to: payer.address, value: 500n }],
    ]);
    assert.equal(await tokenBalance(payer.address), payerBefore + 500n);
    assert.equal(await tokenBalance(voucherKey.address), keyBefore);
    assert.deepEqual(await channelState(config), { balance: 500n, totalClaimed: 500n });
    assert.deepEqual(await pendingOf(config), { amount: 0n, initiatedAt: 0 });
    await expectRevert('finalizeWithdraw', [config], 'WithdrawalNotPending', { from: payer });

    // A voucher left unclaimed past the withdrawal is lost: the escrow is gone.
    await expectRevert('claimWithSignature', await claimArgs([await claimRow(config, 600n)]), 'ClaimExceedsBalance');
    // The claimed part is still owed and settles.
    await expectOk('settle', [config.receiver, TOKEN_ADDRESS]);
    assert.equal(await tokenBalance(config.receiver), 500n);
  });

  test('a full withdrawal of an unclaimed channel closes it; the payer can start another one', async () => {
    const config = newConfig();
    const { channelId } = await deposit(config, 2000n);
    const t = (await chainNow()) + 10n;
    await at(t);
    await expectOk('initiateWithdraw', [config, 2000n], { from: payer });
    await at(t + 900n);
    const receipt = await expectOk('finalizeWithdraw', [config], { from: payer });
    assert.deepEqual(events(receipt).map(([, n]) => n), ['WithdrawFinalized', 'ChannelClosed', 'Transfer']);
    assert.deepEqual(events(receipt)[1], [BS, 'ChannelClosed', { channelId, config }]);
    assert.deepEqual(await channelState(config), { balance: 0n, totalClaimed: 0n });
    // Re-funded, the same channel id is created again.
    const again = await deposit(config, 100n);
    assert.deepEqual(events(again.receipt).filter(([a]) => a === BS).map(([, n]) => n), ['ChannelCreated', 'Deposited']);
    await expectOk('initiateWithdraw', [config, 100n], { from: payer });
    assert.equal((await pendingOf(config)).amount, 100n);
  });

  test('a cooperative refund shrinks a pending withdrawal, or cancels it when it covers it', async () => {
    const config = newConfig();
    await deposit(config, 5000n);
    await expectOk('initiateWithdraw', [config, 3000n], { from: payer });
    const initiatedAt = (await pendingOf(config)).initiatedAt;
    await expectOk('refundWithSignature', await refundArgs(config, 1000n));
    assert.deepEqual(await pendingOf(config), { amount: 2000n, initiatedAt });
    await expectOk('refund', [config, 2500n], { from: receiver });
    assert.deepEqual(await pendingOf(config), { amount: 0n, initiatedAt: 0 });
    assert.deepEqual(await channelState(config), { balance: 1500n, totalClaimed: 0n });
    await expectRevert('finalizeWithdraw', [config], 'WithdrawalNotPending', { from: payer });
  });
});
