// Local chain tooling shared by the JS tests and scripts/chain/start.mjs: the anvil dev accounts, an
// anvil process manager, deployment of the test stablecoin (tests/contracts/TestUSDC.sol) at a fixed
// address, and small viem-based helpers to read it and sign EIP-3009 authorizations for it; the
// stand-ins of the x402 batch-settlement contracts at their canonical addresses, and signing helpers
// for that scheme (vouchers, claim batches, refunds, deposit authorizations).
//
// Every helper takes the JSON-RPC URL explicitly, so one test process can drive several chains.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPublicClient,
  createWalletClient,
  encodeAbiParameters,
  encodeDeployData,
  getAddress,
  getContractAddress,
  hashTypedData,
  http,
  keccak256,
  parseAbiItem,
} from 'viem';
import { privateKeyToAccount, signTypedData } from 'viem/accounts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The anvil binary from the npm package @foundry-rs/anvil-linux-amd64. */
export const ANVIL_BIN = path.join(ROOT, 'node_modules', '@foundry-rs', 'anvil-linux-amd64', 'bin', 'anvil');

/** Where anvil processes write their output (git-ignored). */
export const ARTIFACTS_DIR = path.join(ROOT, 'tests', 'artifacts');

/**
 * anvil's default dev accounts #0–#9, derived from the public mnemonic
 * "test test test test test test test test test test test junk" (m/44'/60'/0'/0/i).
 * Public test keys: never use them on a real network.
 */
export const ANVIL_ACCOUNTS = Object.freeze(
  [
    ['0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'],
    ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8', '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'],
    ['0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'],
    ['0x90F79bf6EB2c4f870365E785982E1f101E93b906', '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6'],
    ['0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65', '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a'],
    ['0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba'],
    ['0x976EA74026E726554dB657fA54763abd0C3a0aa9', '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e'],
    ['0x14dC79964da2C08b23698B3D3cc7Ca32193d9955', '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356'],
    ['0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f', '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97'],
    ['0xa0Ee7A142d267C1f36714E4a8F75612F20a79720', '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6'],
  ].map(([address, privateKey], index) => Object.freeze({ index, address, privateKey })),
);

/** Who does what on the test chain. */
export const ROLES = Object.freeze({
  deployer: ANVIL_ACCOUNTS[0],
  payers: Object.freeze(ANVIL_ACCOUNTS.slice(1, 6)),
  payTo: ANVIL_ACCOUNTS[8],
  relayer: ANVIL_ACCOUNTS[9],
});

/** TestUSDC's EIP-712 domain name and version (as mainnet USDC's). */
export const TOKEN_NAME = 'USD Coin';
export const TOKEN_VERSION = '2';
export const TOKEN_DECIMALS = 6;

/** What deployToken mints to each payer: 1000 USDC in atomic units. */
export const PAYER_FUNDING = 1_000_000_000n;

/** TestUSDC's address: the deployer's first contract creation (nonce 0). */
export const TOKEN_ADDRESS = getContractAddress({ from: ROLES.deployer.address, nonce: 0n });

/** Reads a build file written by scripts/chain/compile.mjs. */
export function loadArtifact(name) {
  return JSON.parse(readFileSync(path.join(ROOT, 'tests', 'contracts', 'build', `${name}.json`), 'utf8'));
}

export const TOKEN_ABI = loadArtifact('TestUSDC').abi;

// ------------------------------------------------------------------------------------------- anvil

const running = new Set();
let logSeq = 0;

// Last resort for a test that dies without calling stop(): never leave an anvil behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Sends one JSON-RPC request and returns its result (throws on a JSON-RPC error). */
export async function rpc(rpcUrl, method, params = [], { timeoutMs = 10_000 } = {}) {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`${method} on ${rpcUrl}: HTTP ${res.status}`);
  const body = await res.json();
  if (body.error) throw new Error(`${method} on ${rpcUrl}: ${body.error.message}`);
  return body.result;
}

/** The chain id answered by `rpcUrl`, or null if nothing answers there as a chain. */
export async function probeChainId(rpcUrl, { timeoutMs = 1_000 } = {}) {
  try {
    return Number(BigInt(await rpc(rpcUrl, 'eth_chainId', [], { timeoutMs })));
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function logTail(logFile, lines = 15) {
  if (!existsSync(logFile)) return '(no output)';
  return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Starts anvil on 127.0.0.1 and waits until it answers eth_chainId.
 * port: omitted or 0 lets the OS pick a free port. blockTime: seconds between blocks (default:
 * a block per transaction). Output goes to `logFile` (default tests/artifacts/anvil-<pid>-<n>.log).
 * Returns { rpcUrl, port, chainId, logFile, stop, exited, pid }: stop() kills anvil and resolves once
 * it exited; exited is a promise of anvil's { code, signal }, however it ends.
 */
export async function startAnvil({ port = 0, chainId = 31337, blockTime, logFile, readyTimeoutMs = 20_000 } = {}) {
  if (!existsSync(ANVIL_BIN)) throw new Error(`anvil not found at ${ANVIL_BIN}: run npm install`);
  if (!logFile) {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    logFile = path.join(ARTIFACTS_DIR, `anvil-${process.pid}-${++logSeq}.log`);
  }
  // --prune-history: anvil otherwise moves every older block's state to ~/.foundry/anvil/tmp, about
  // 1.4 GB per busy test chain, and leaves it behind when killed; that filled the disk. The states of
  // the last 256 blocks stay in memory, enough to trace a transaction just mined.
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--prune-history', '256'];
  if (blockTime !== undefined) args.push('--block-time', String(blockTime));

  const out = openSync(logFile, 'w');
  const child = spawn(ANVIL_BIN, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  running.add(child);
  let exited = null;
  const exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
  });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(killTimer);
  };

  const fail = async (why) => {
    await stop();
    throw new Error(`anvil ${args.join(' ')}: ${why}\n--- ${logFile} ---\n${logTail(logFile)}`);
  };

  // anvil prints "Listening on 127.0.0.1:<port>" once bound (the way to learn the port when 0).
  const deadline = Date.now() + readyTimeoutMs;
  let rpcUrl = null;
  while (Date.now() < deadline) {
    if (exited) return fail(`exited early (code ${exited.code}, signal ${exited.signal})`);
    if (!rpcUrl) {
      const match = /Listening on ([\d.]+):(\d+)/.exec(readFileSync(logFile, 'utf8'));
      if (match) rpcUrl = `http://${match[1]}:${match[2]}`;
    }
    if (rpcUrl) {
      const answered = await probeChainId(rpcUrl);
      if (answered === chainId) {
        return { rpcUrl, port: Number(new URL(rpcUrl).port), chainId, logFile, stop, exited: exit, pid: child.pid };
      }
      if (answered !== null) return fail(`answers chain id ${answered}, expected ${chainId}`);
    }
    await sleep(50);
  }
  return fail(`not ready after ${readyTimeoutMs} ms`);
}

// ------------------------------------------------------------------------------------------- viem

/** A viem public client for `rpcUrl` (short polling interval: anvil mines instantly). */
export function publicClient(rpcUrl) {
  return createPublicClient({ transport: http(rpcUrl), pollingInterval: 50 });
}

/** A viem wallet client signing locally with `account` ({ privateKey } or a private key hex). */
export function walletClient(rpcUrl, account) {
  const privateKey = typeof account === 'string' ? account : account.privateKey;
  return createWalletClient({ account: privateKeyToAccount(privateKey), transport: http(rpcUrl), pollingInterval: 50 });
}

/**
 * The Error(string) reason of a mined, reverted transaction (null if it did not revert with one),
 * read with anvil's debug_traceTransaction call tracer.
 */
export async function revertReason(rpcUrl, hash) {
  const trace = await rpc(rpcUrl, 'debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
  return trace.revertReason ?? null;
}

async function mined(rpcUrl, hash, what) {
  const receipt = await publicClient(rpcUrl).waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`${what} reverted (tx ${hash})`);
  return receipt;
}

// ------------------------------------------------------------------------------------------- deployment

/**
 * Deploys TestUSDC at TOKEN_ADDRESS (deployer nonce 0) and mints PAYER_FUNDING to each payer.
 * Idempotent: if the token is already there, nothing is sent. Not safe to run twice concurrently
 * against the same chain (both would use the deployer's nonces).
 */
export async function deployToken(rpcUrl) {
  const client = publicClient(rpcUrl);
  const code = await client.getCode({ address: TOKEN_ADDRESS });
  if (code && code !== '0x') {
    const symbol = await client
      .readContract({ address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'symbol' })
      .catch(() => null);
    if (symbol !== 'USDC') throw new Error(`${rpcUrl}: the contract at ${TOKEN_ADDRESS} is not TestUSDC`);
    return { address: TOKEN_ADDRESS };
  }
  const nonce = await client.getTransactionCount({ address: ROLES.deployer.address });
  if (nonce !== 0) {
    throw new Error(
      `${rpcUrl}: the deployer ${ROLES.deployer.address} already used nonce 0 without creating TestUSDC ` +
        `at ${TOKEN_ADDRESS}; start from a fresh chain`,
    );
  }

  const wallet = walletClient(rpcUrl, ROLES.deployer);
  const { bytecode } = loadArtifact('TestUSDC');
  const deployHash = await wallet.deployContract({ abi: TOKEN_ABI, bytecode, nonce: 0, chain: null });
  const receipt = await mined(rpcUrl, deployHash, 'TestUSDC deployment');
  if (receipt.contractAddress?.toLowerCase() !== TOKEN_ADDRESS.toLowerCase()) {
    throw new Error(`TestUSDC deployed at ${receipt.contractAddress}, expected ${TOKEN_ADDRESS}`);
  }

  // One mint per payer, sent back to back with explicit nonces and gas (no estimation round trips;
  // a mint costs about 70k), then awaited together.
  const mintHashes = [];
  for (const [i, payer] of ROLES.payers.entries()) {
    mintHashes.push(
      await wallet.writeContract({
        address: TOKEN_ADDRESS,
        abi: TOKEN_ABI,
        functionName: 'mint',
        args: [payer.address, PAYER_FUNDING],
        nonce: i + 1,
        gas: 100_000n,
        chain: null,
      }),
    );
  }
  await Promise.all(mintHashes.map((hash) => mined(rpcUrl, hash, 'mint')));
  return { address: TOKEN_ADDRESS };
}

/**
 * Deploys a TestSmartWallet (ERC-1271) owned by `owner` (an address or an account object) and
 * returns { address }. Deploys the token first if needed, so TOKEN_ADDRESS stays the deployer's nonce 0.
 */
export async function deploySmartWallet(rpcUrl, owner) {
  await deployToken(rpcUrl);
  const ownerAddress = typeof owner === 'string' ? owner : owner.address;
  const { abi, bytecode } = loadArtifact('TestSmartWallet');
  const deployer = walletClient(rpcUrl, ROLES.deployer);
  const hash = await deployer.deployContract({ abi, bytecode, args: [ownerAddress], chain: null });
  const receipt = await mined(rpcUrl, hash, 'TestSmartWallet deployment');
  return { address: getAddress(receipt.contractAddress) };
}

// ------------------------------------------------------------------------------------------- token reads

/** Token balance of `address` in atomic units (bigint). */
export function balanceOf(rpcUrl, address, token = TOKEN_ADDRESS) {
  return publicClient(rpcUrl).readContract({ address: token, abi: TOKEN_ABI, functionName: 'balanceOf', args: [address] });
}

/** Whether the EIP-3009 nonce of `from` was used or cancelled. */
export function authorizationState(rpcUrl, from, nonce, token = TOKEN_ADDRESS) {
  return publicClient(rpcUrl).readContract({
    address: token,
    abi: TOKEN_ABI,
    functionName: 'authorizationState',
    args: [from, nonce],
  });
}

const TRANSFER_EVENT = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

/** Transfer events of the token from `fromBlock` on: [{ from, to, value, transactionHash, blockNumber }]. */
export async function transferEvents(rpcUrl, fromBlock = 0n, token = TOKEN_ADDRESS) {
  const logs = await publicClient(rpcUrl).getLogs({ address: token, event: TRANSFER_EVENT, fromBlock: BigInt(fromBlock) });
  return logs.map(({ args, transactionHash, blockNumber }) => ({ ...args, transactionHash, blockNumber }));
}

/** Number of Transfer events of the token from `fromBlock` on (mints included: they are Transfers from 0x0). */
export async function transferCount(rpcUrl, fromBlock = 0n, token = TOKEN_ADDRESS) {
  return (await transferEvents(rpcUrl, fromBlock, token)).length;
}

// ------------------------------------------------------------------------------------------- signing

/** A fresh random EIP-3009 nonce (32 bytes, lower-case 0x hex), as the x402 client makes them. */
export function randomNonce() {
  return `0x${randomBytes(32).toString('hex')}`;
}

const AUTHORIZATION_FIELDS = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'validAfter', type: 'uint256' },
  { name: 'validBefore', type: 'uint256' },
  { name: 'nonce', type: 'bytes32' },
];

/** The token's EIP-712 domain; the defaults are TestUSDC's on chain 31337. */
function tokenDomain({ chainId = 31337, token = TOKEN_ADDRESS, name = TOKEN_NAME, version = TOKEN_VERSION }) {
  return { name, version, chainId, verifyingContract: token };
}

function signAuthorization(primaryType, { privateKey, ...m }) {
  return signTypedData({
    privateKey,
    domain: tokenDomain(m),
    types: { [primaryType]: AUTHORIZATION_FIELDS },
    primaryType,
    message: {
      from: m.from,
      to: m.to,
      value: BigInt(m.value),
      validAfter: BigInt(m.validAfter),
      validBefore: BigInt(m.validBefore),
      nonce: m.nonce,
    },
  });
}

/**
 * EIP-712 signature (0x + 65 bytes r||s||v, v in {27,28}) of an EIP-3009 TransferWithAuthorization,
 * made by viem. Params: { privateKey, from, to, value, validAfter, validBefore, nonce } and the domain
 * options chainId (31337), token (TOKEN_ADDRESS), name ("USD Coin"), version ("2"). Numbers may be
 * bigint, number or decimal string.
 */
export function signTransferAuthorization(params) {
  return signAuthorization('TransferWithAuthorization', params);
}

/** Same for ReceiveWithAuthorization (the payee must submit it). */
export function signReceiveAuthorization(params) {
  return signAuthorization('ReceiveWithAuthorization', params);
}

/** EIP-712 signature of CancelAuthorization(authorizer, nonce); same domain options. */
export function signCancelAuthorization({ privateKey, authorizer, nonce, ...domain }) {
  return signTypedData({
    privateKey,
    domain: tokenDomain(domain),
    types: {
      CancelAuthorization: [
        { name: 'authorizer', type: 'address' },
        { name: 'nonce', type: 'bytes32' },
      ],
    },
    primaryType: 'CancelAuthorization',
    message: { authorizer, nonce },
  });
}

// ------------------------------------------------------------------------------------------- batch settlement

/**
 * Canonical addresses of the x402 batch-settlement contracts (the same on every chain; the reference
 * SDK hard-codes them) and of Multicall3, which the reference facilitator reads channel state through.
 */
export const BATCH_SETTLEMENT_ADDRESS = '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003';
export const ERC3009_DEPOSIT_COLLECTOR_ADDRESS = '0x4020806089470a89826cB9fB1f4059150b550004';
export const MULTICALL3_ADDRESS = '0xcA11bde05977b3631167028862bE2a173976CA11';

/** ABIs of the stand-ins (tests/contracts/TestBatchSettlement.sol, TestERC3009DepositCollector.sol). */
export const BATCH_SETTLEMENT_ABI = loadArtifact('TestBatchSettlement').abi;
export const ERC3009_DEPOSIT_COLLECTOR_ABI = loadArtifact('TestERC3009DepositCollector').abi;

/** The batch-settlement EIP-712 domain name and version. */
export const BATCH_SETTLEMENT_NAME = 'x402 Batch Settlement';
export const BATCH_SETTLEMENT_VERSION = '1';

/**
 * Runtime code of each stand-in as it must sit at its canonical address: the creation code run by an
 * eth_call on `rpcUrl` (no transaction, no nonce used), so the collector's immutable
 * x402BatchSettlement is the canonical batch-settlement address.
 */
async function batchSettlementCode(rpcUrl) {
  const runtime = async (name, args = []) => {
    const { abi, bytecode } = loadArtifact(name);
    return rpc(rpcUrl, 'eth_call', [{ data: encodeDeployData({ abi, bytecode, args }) }, 'latest']);
  };
  return [
    { name: 'TestBatchSettlement', address: BATCH_SETTLEMENT_ADDRESS, code: await runtime('TestBatchSettlement') },
    {
      name: 'TestERC3009DepositCollector',
      address: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
      code: await runtime('TestERC3009DepositCollector', [BATCH_SETTLEMENT_ADDRESS]),
    },
    { name: 'TestMulticall3', address: MULTICALL3_ADDRESS, code: await runtime('TestMulticall3'), keepOther: true },
  ];
}

/**
 * Installs the batch-settlement stand-ins at their canonical addresses with anvil_setCode:
 * TestBatchSettlement at BATCH_SETTLEMENT_ADDRESS, TestERC3009DepositCollector at
 * ERC3009_DEPOSIT_COLLECTOR_ADDRESS, and TestMulticall3 at MULTICALL3_ADDRESS unless some code is
 * already there (a real Multicall3 on a fork serves as well). The stand-ins need no storage set up.
 * Sends no transaction (the deployer's nonces, hence TOKEN_ADDRESS, are untouched) and is idempotent.
 * Throws if other code already sits at a batch-settlement address (a fork of a chain with the real
 * contracts): nothing is overwritten. Returns the three addresses.
 */
export async function deployBatchSettlement(rpcUrl) {
  const client = publicClient(rpcUrl);
  const wanted = await batchSettlementCode(rpcUrl);
  for (const { name, address, code, keepOther } of wanted) {
    const current = (await client.getCode({ address })) ?? '0x';
    if (current.toLowerCase() === code.toLowerCase()) continue;
    if (current !== '0x') {
      if (keepOther) continue;
      throw new Error(`${rpcUrl}: other code than ${name} is already at ${address}; start from a fresh chain`);
    }
    await rpc(rpcUrl, 'anvil_setCode', [address, code]);
    const placed = await client.getCode({ address });
    if (placed?.toLowerCase() !== code.toLowerCase()) {
      throw new Error(`${rpcUrl}: anvil_setCode of ${name} at ${address} did not stick`);
    }
  }
  return {
    batchSettlement: BATCH_SETTLEMENT_ADDRESS,
    erc3009DepositCollector: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
    multicall3: MULTICALL3_ADDRESS,
  };
}

/** The revert data (0x hex) of a mined, reverted transaction, or null if it did not revert. */
export async function revertData(rpcUrl, hash) {
  const trace = await rpc(rpcUrl, 'debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
  return trace.error ? (trace.output ?? '0x') : null;
}

/** The batch-settlement EIP-712 domain on `chainId` (verifyingContract: the canonical address). */
export function batchSettlementDomain(chainId = 31337) {
  return {
    name: BATCH_SETTLEMENT_NAME,
    version: BATCH_SETTLEMENT_VERSION,
    chainId,
    verifyingContract: BATCH_SETTLEMENT_ADDRESS,
  };
}

const CHANNEL_CONFIG_FIELDS = [
  { name: 'payer', type: 'address' },
  { name: 'payerAuthorizer', type: 'address' },
  { name: 'receiver', type: 'address' },
  { name: 'receiverAuthorizer', type: 'address' },
  { name: 'token', type: 'address' },
  { name: 'withdrawDelay', type: 'uint40' },
  { name: 'salt', type: 'bytes32' },
];
const VOUCHER_FIELDS = [
  { name: 'channelId', type: 'bytes32' },
  { name: 'maxClaimableAmount', type: 'uint128' },
];
const REFUND_FIELDS = [
  { name: 'channelId', type: 'bytes32' },
  { name: 'nonce', type: 'uint256' },
  { name: 'amount', type: 'uint128' },
];
const CLAIM_BATCH_TYPES = {
  ClaimBatch: [{ name: 'claims', type: 'ClaimEntry[]' }],
  ClaimEntry: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'maxClaimableAmount', type: 'uint128' },
    { name: 'totalClaimed', type: 'uint128' },
  ],
};

/**
 * The channel id of a ChannelConfig { payer, payerAuthorizer, receiver, receiverAuthorizer, token,
 * withdrawDelay, salt }: its EIP-712 hash in the batch-settlement domain of `chainId`.
 */
export function channelIdOf(config, chainId = 31337) {
  return hashTypedData({
    domain: batchSettlementDomain(chainId),
    types: { ChannelConfig: CHANNEL_CONFIG_FIELDS },
    primaryType: 'ChannelConfig',
    message: config,
  });
}

/** EIP-712 signature of Voucher{channelId, maxClaimableAmount} (the payer side's cumulative voucher). */
export function signVoucher({ privateKey, channelId, maxClaimableAmount, chainId = 31337 }) {
  return signTypedData({
    privateKey,
    domain: batchSettlementDomain(chainId),
    types: { Voucher: VOUCHER_FIELDS },
    primaryType: 'Voucher',
    message: { channelId, maxClaimableAmount: BigInt(maxClaimableAmount) },
  });
}

/** EIP-712 signature of Refund{channelId, nonce, amount} (by the receiverAuthorizer). */
export function signRefund({ privateKey, channelId, nonce, amount, chainId = 31337 }) {
  return signTypedData({
    privateKey,
    domain: batchSettlementDomain(chainId),
    types: { Refund: REFUND_FIELDS },
    primaryType: 'Refund',
    message: { channelId, nonce: BigInt(nonce), amount: BigInt(amount) },
  });
}

/**
 * EIP-712 signature (by the receiverAuthorizer) of ClaimBatch{claims} for claimWithSignature, where
 * `claims` are the contract's VoucherClaim rows { voucher: { channel, maxClaimableAmount }, signature,
 * totalClaimed }.
 */
export function signClaimBatch({ privateKey, claims, chainId = 31337 }) {
  return signTypedData({
    privateKey,
    domain: batchSettlementDomain(chainId),
    types: CLAIM_BATCH_TYPES,
    primaryType: 'ClaimBatch',
    message: {
      claims: claims.map((c) => ({
        channelId: channelIdOf(c.voucher.channel, chainId),
        maxClaimableAmount: BigInt(c.voucher.maxClaimableAmount),
        totalClaimed: BigInt(c.totalClaimed),
      })),
    },
  });
}

/** The EIP-3009 nonce of a deposit through the ERC-3009 collector: keccak256(abi.encode(channelId, salt)). */
export function depositNonce(channelId, salt) {
  return keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [channelId, BigInt(salt)]));
}

/** The ERC-3009 collector's collectorData: abi.encode(validAfter, validBefore, salt, signature). */
export function depositCollectorData({ validAfter, validBefore, salt, signature }) {
  return encodeAbiParameters(
    [{ type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }],
    [BigInt(validAfter), BigInt(validBefore), BigInt(salt), signature],
  );
}

/**
 * Whether a JSON-RPC request (its method and raw body) broadcasts a transaction:
 * `eth_sendRawTransaction`, or `eth_sendRawTransactionSync` (EIP-7966, which the Worker's relayer
 * uses when the node offers it) other than the Worker's probe of it (an undecodable `0x00`).
 */
export function isBroadcast(method, body) {
  if (method === 'eth_sendRawTransaction') return true;
  if (method !== 'eth_sendRawTransactionSync') return false;
  try {
    return JSON.parse(body.toString('utf8')).params?.[0] !== '0x00';
  } catch {
    return true;
  }
}

/**
 * A pass-through JSON-RPC proxy to `rpcUrl` on a free 127.0.0.1 port, for the faults a real node
 * cannot be made to produce on demand. `intercept(method, req, res, body)` sees each request's JSON-RPC
 * method (and its raw body) first; returning true means it answered (or dropped) the request itself,
 * anything else forwards it untouched. Returns { url, server, close }.
 */
export async function startRpcProxy(rpcUrl, intercept = () => false) {
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      let method = null;
      try { method = JSON.parse(body.toString('utf8')).method; } catch { /* forwarded as is */ }
      if (intercept(method, req, res, body)) return;
      try {
        const up = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        res.writeHead(up.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await up.arrayBuffer()));
      } catch (e) {
        res.writeHead(502);
        res.end(String(e));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    server,
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * A JSON-RPC proxy in front of `rpcUrl` (startRpcProxy) whose fault is switched while it runs, for
 * what anvil cannot be made to do on demand: stop answering for a while and then answer again with
 * its state, or refuse a call. Modes (`set(mode)`):
 * - `up`: everything is forwarded;
 * - `refuse`: every call is cut at once (the connection closed, nothing forwarded): a node that is down;
 * - `stall`: every call is held, then forwarded when the mode changes back to `up` (cut if it
 *   changes to `refuse`): a node that stopped answering for a while.
 * `counts` tells what the proxy did ({ forwarded, refused, stalled, broadcasts } so far; broadcasts:
 * transactions sent (`isBroadcast`), whatever happened to them). Returns { url, set, mode(), counts, close }.
 */
export async function startFaultyRpcProxy(rpcUrl) {
  let mode = 'up';
  const held = [];
  const counts = { forwarded: 0, refused: 0, stalled: 0, broadcasts: 0 };
  const forward = async (body, res) => {
    try {
      const up = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      res.writeHead(up.status, { 'content-type': 'application/json' });
      res.end(Buffer.from(await up.arrayBuffer()));
    } catch (e) {
      res.writeHead(502);
      res.end(String(e));
    }
  };
  const proxy = await startRpcProxy(rpcUrl, (method, req, res, body) => {
    if (isBroadcast(method, body)) counts.broadcasts++;
    if (mode === 'up') {
      counts.forwarded++;
      return false;
    }
    if (mode === 'refuse') {
      counts.refused++;
      req.socket.destroy();
      return true;
    }
    counts.stalled++;
    held.push({ req, res, body });
    return true;
  });
  const set = (next) => {
    if (!['up', 'refuse', 'stall'].includes(next)) throw new Error(`unknown proxy mode ${next}`);
    mode = next;
    if (mode === 'stall') return;
    for (const h of held.splice(0)) {
      if (mode === 'up') {
        counts.forwarded++;
        forward(h.body, h.res);
      } else {
        counts.refused++;
        h.req.socket.destroy();
      }
    }
  };
  return {
    url: proxy.url,
    set,
    mode: () => mode,
    counts,
    close: async () => {
      set('refuse');
      proxy.server.closeAllConnections?.();
      await proxy.close();
    },
  };
}

const AUTHORIZATION_USED_EVENT = parseAbiItem('event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)');

/** EIP-3009 AuthorizationUsed events of the token from `fromBlock` on: [{ authorizer, nonce, transactionHash, blockNumber }]. */
export async function authorizationUsedEvents(rpcUrl, fromBlock = 0n, token = TOKEN_ADDRESS) {
  const logs = await publicClient(rpcUrl).getLogs({ address: token, event: AUTHORIZATION_USED_EVENT, fromBlock: BigInt(fromBlock) });
  return logs.map(({ args, transactionHash, blockNumber }) => ({ ...args, transactionHash, blockNumber }));
}
