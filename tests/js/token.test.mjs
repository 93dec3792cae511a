// TestUSDC against a real anvil chain: the committed build, the ERC-20 part, and every EIP-3009 rule
// that USDC (FiatToken v2.2) enforces. Failing cases are mined as real transactions (explicit gas,
// so nothing is pre-simulated) and the exact revert reason is read back from the chain.
//
//   node --test tests/js/token.test.mjs

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getContractAddress, hashDomain, keccak256, parseEventLogs, toHex, zeroAddress } from 'viem';
import { mnemonicToAccount, privateKeyToAccount, signTypedData } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS,
  PAYER_FUNDING,
  ROLES,
  TOKEN_ABI,
  TOKEN_ADDRESS,
  authorizationState,
  balanceOf,
  deploySmartWallet,
  deployToken,
  publicClient,
  randomNonce,
  revertReason,
  rpc,
  signCancelAuthorization,
  signReceiveAuthorization,
  signTransferAuthorization,
  startAnvil,
  transferCount,
  transferEvents,
  walletClient,
} from './lib/chain.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const USDC = 1_000_000n;

const { deployer, payers, payTo, relayer } = ROLES;
const walletOwner = ANVIL_ACCOUNTS[6];
const stranger = ANVIL_ACCOUNTS[7];

let chain; // { rpcUrl, chainId, stop }
let smartWallet; // address of a TestSmartWallet owned by walletOwner, funded with 100 USDC

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  smartWallet = (await deploySmartWallet(chain.rpcUrl, walletOwner)).address;
  await expectSuccess('mint', [smartWallet, 100n * USDC], deployer);
});

after(async () => {
  await chain?.stop();
});

// ------------------------------------------------------------------------------------------- helpers

/** Latest block timestamp: the chain's clock, which tests below move forward. */
async function chainNow() {
  return (await publicClient(chain.rpcUrl).getBlock()).timestamp;
}

/** Sends a token call from `account` with a fixed gas limit, so reverting calls are mined too. */
async function send(functionName, args, account = relayer) {
  const hash = await walletClient(chain.rpcUrl, account).writeContract({
    address: TOKEN_ADDRESS,
    abi: TOKEN_ABI,
    functionName,
    args,
    gas: 300_000n,
    chain: null,
  });
  return publicClient(chain.rpcUrl).waitForTransactionReceipt({ hash });
}

async function expectSuccess(functionName, args, account) {
  const receipt = await send(functionName, args, account);
  if (receipt.status !== 'success') {
    assert.fail(`${functionName} reverted: ${await revertReason(chain.rpcUrl, receipt.transactionHash)}`);
  }
  return receipt;
}

async function expectRevert(functionName, args, reason, account) {
  const receipt = await send(functionName, args, account);
  assert.equal(receipt.status, 'reverted', `${functionName} did not revert`);
  assert.equal(await revertReason(chain.rpcUrl, receipt.transactionHash), reason);
  return receipt;
}

/**
 * A signed TransferWithAuthorization (or ReceiveWithAuthorization with receive: true) from `payer`,
 * valid for an hour by default. Returns { auth, signature, v, r, s, vrsArgs, bytesArgs }.
 */
async function authorize({ payer = payers[0], signer = payer, receive = false, ...overrides } = {}) {
  const now = await chainNow();
  const auth = {
    from: payer.address,
    to: payTo.address,
    value: 1n * USDC,
    validAfter: 0n,
    validBefore: now + 3600n,
    nonce: randomNonce(),
    ...overrides,
  };
  const sign = receive ? signReceiveAuthorization : signTransferAuthorization;
  const signature = await sign({ privateKey: signer.privateKey, chainId: chain.chainId, token: TOKEN_ADDRESS, ...auth });
  return { auth, signature, ...withSignature(auth, signature) };
}

/** Splits a 65-byte signature and builds the argument lists of both overloads. */
function withSignature(auth, signature) {
  const { r, s, v } = splitSignature(signature);
  const fields = [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce];
  return { r, s, v, vrsArgs: [...fields, v, r, s], bytesArgs: [...fields, signature] };
}

function splitSignature(signature) {
  assert.equal(signature.length, 2 + 65 * 2);
  return {
    r: `0x${signature.slice(2, 66)}`,
    s: `0x${signature.slice(66, 130)}`,
    v: Number.parseInt(signature.slice(130, 132), 16),
  };
}

function joinSignature({ r, s, v }) {
  return `${r}${s.slice(2)}${v.toString(16).padStart(2, '0')}`;
}

// ------------------------------------------------------------------------------------------- tests

describe('build and deployment', () => {
  test('the committed build equals a fresh compilation (compile.mjs --check)', () => {
    const result = spawnSync(process.execPath, ['scripts/chain/compile.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  test('ANVIL_ACCOUNTS are the keys of the "test … junk" mnemonic', () => {
    assert.equal(ANVIL_ACCOUNTS.length, 10);
    const mnemonic = 'test test test test test test test test test test test junk';
    for (const [i, { address, privateKey }] of ANVIL_ACCOUNTS.entries()) {
      assert.equal(privateKeyToAccount(privateKey).address, address);
      assert.equal(mnemonicToAccount(mnemonic, { addressIndex: i }).address, address);
    }
    assert.deepEqual(payers, ANVIL_ACCOUNTS.slice(1, 6));
    assert.equal(deployer, ANVIL_ACCOUNTS[0]);
    assert.equal(payTo, ANVIL_ACCOUNTS[8]);
    assert.equal(relayer, ANVIL_ACCOUNTS[9]);
  });

  test('the token is at the deployer nonce-0 address, and deployToken is idempotent', async () => {
    assert.equal(TOKEN_ADDRESS, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
    assert.equal(getContractAddress({ from: deployer.address, nonce: 0n }), TOKEN_ADDRESS);
    const client = publicClient(chain.rpcUrl);
    const nonceBefore = await client.getTransactionCount({ address: deployer.address });
    assert.deepEqual(await deployToken(chain.rpcUrl), { address: TOKEN_ADDRESS });
    assert.equal(await client.getTransactionCount({ address: deployer.address }), nonceBefore);
  });

  test('metadata and typehashes are USDC’s', async () => {
    const read = (functionName) =>
      publicClient(chain.rpcUrl).readContract({ address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName });
    assert.equal(await read('name'), 'USD Coin');
    assert.equal(await read('symbol'), 'USDC');
    assert.equal(await read('decimals'), 6);
    assert.equal(await read('version'), '2');
    assert.equal(await read('owner'), deployer.address);
    assert.equal(
      await read('TRANSFER_WITH_AUTHORIZATION_TYPEHASH'),
      '0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267',
    );
    const typehash = (s) => keccak256(toHex(s));
    assert.equal(
      await read('RECEIVE_WITH_AUTHORIZATION_TYPEHASH'),
      typehash(
        'ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)',
      ),
    );
    assert.equal(
      await read('CANCEL_AUTHORIZATION_TYPEHASH'),
      typehash('CancelAuthorization(address authorizer,bytes32 nonce)'),
    );
  });

  test('each payer was funded with 1000 USDC', async () => {
    // Runs before any test below spends from the payers.
    for (const payer of payers) assert.equal(await balanceOf(chain.rpcUrl, payer.address), PAYER_FUNDING);
    const mints = (await transferEvents(chain.rpcUrl, 0n)).filter((t) => t.from === zeroAddress);
    assert.deepEqual(
      mints.slice(0, 5).map((t) => [t.to, t.value]),
      payers.map((p) => [p.address, PAYER_FUNDING]),
    );
  });
});

describe('EIP-712 domain', () => {
  const domainTypes = {
    EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' },
    ],
  };

  async function domainSeparator(rpcUrl) {
    return publicClient(rpcUrl).readContract({ address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'DOMAIN_SEPARATOR' });
  }

  test('DOMAIN_SEPARATOR equals viem hashDomain("USD Coin", "2", chainId, token)', async () => {
    const domain = { name: 'USD Coin', version: '2', chainId: chain.chainId, verifyingContract: TOKEN_ADDRESS };
    assert.equal(await domainSeparator(chain.rpcUrl), hashDomain({ domain, types: domainTypes }));
  });

  test('DOMAIN_SEPARATOR follows the chain id (second chain, id 84532)', async () => {
    const other = await startAnvil({ chainId: 84532 });
    try {
      await deployToken(other.rpcUrl);
      const domain = { name: 'USD Coin', version: '2', chainId: 84532, verifyingContract: TOKEN_ADDRESS };
      assert.equal(await domainSeparator(other.rpcUrl), hashDomain({ domain, types: domainTypes }));
    } finally {
      await other.stop();
    }
  });

  test('EIP-5267 eip712Domain() describes the same domain', async () => {
    const result = await publicClient(chain.rpcUrl).readContract({
      address: TOKEN_ADDRESS,
      abi: TOKEN_ABI,
      functionName: 'eip712Domain',
    });
    // fields 0x0f: name, version, chainId and verifyingContract are present; no salt, no extensions.
    assert.deepEqual(result, ['0x0f', 'USD Coin', '2', BigInt(chain.chainId), TOKEN_ADDRESS, `0x${'00'.repeat(32)}`, []]);
  });
});

describe('ERC-20', () => {
  test('transfer, approve and transferFrom move balances and respect the allowance', async () => {
    const [a, b] = [payers[1], payers[2]];
    const a0 = await balanceOf(chain.rpcUrl, a.address);
    const b0 = await balanceOf(chain.rpcUrl, b.address);
    await expectSuccess('transfer', [b.address, 3n * USDC], a);
    await expectSuccess('approve', [relayer.address, 2n * USDC], a);
    await expectSuccess('transferFrom', [a.address, b.address, 2n * USDC], relayer);
    await expectRevert('transferFrom', [a.address, b.address, 1n], 'ERC20: transfer amount exceeds allowance', relayer);
    assert.equal(await balanceOf(chain.rpcUrl, a.address), a0 - 5n * USDC);
    assert.equal(await balanceOf(chain.rpcUrl, b.address), b0 + 5n * USDC);
  });

  test('transfer beyond the balance reverts', async () => {
    const balance = await balanceOf(chain.rpcUrl, payers[1].address);
    await expectRevert('transfer', [payTo.address, balance + 1n], 'ERC20: transfer amount exceeds balance', payers[1]);
  });

  test('mint by anyone but the owner reverts', async () => {
    await expectRevert('mint', [stranger.address, 1n], 'TestUSDC: caller is not the owner', stranger);
    await expectRevert('mint', [payers[0].address, 1n], 'TestUSDC: caller is not the owner', payers[0]);
  });
});

describe('transferWithAuthorization', () => {
  test('a valid authorization moves exactly `value` and marks the nonce used', async () => {
    const { auth, vrsArgs } = await authorize({ value: 12_345n });
    const from0 = await balanceOf(chain.rpcUrl, auth.from);
    const to0 = await balanceOf(chain.rpcUrl, auth.to);
    const block0 = await publicClient(chain.rpcUrl).getBlockNumber();
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), false);

    const receipt = await expectSuccess('transferWithAuthorization', vrsArgs);

    assert.equal(await balanceOf(chain.rpcUrl, auth.from), from0 - 12_345n);
    assert.equal(await balanceOf(chain.rpcUrl, auth.to), to0 + 12_345n);
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), true);
    const events = parseEventLogs({ abi: TOKEN_ABI, logs: receipt.logs }).map((e) => [e.eventName, e.args]);
    assert.deepEqual(events, [
      ['AuthorizationUsed', { authorizer: auth.from, nonce: auth.nonce }],
      ['Transfer', { from: auth.from, to: auth.to, value: 12_345n }],
    ]);
    assert.equal(await transferCount(chain.rpcUrl, block0 + 1n), 1);
  });

  test('replaying a used authorization reverts', async () => {
    const { vrsArgs, bytesArgs } = await authorize();
    await expectSuccess('transferWithAuthorization', vrsArgs);
    await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: authorization is used or canceled');
    await expectRevert('transferWithAuthorization', bytesArgs, 'FiatTokenV2: authorization is used or canceled');
  });

  test('not yet valid (validAfter = now + 1000) reverts', async () => {
    const { vrsArgs } = await authorize({ validAfter: (await chainNow()) + 1000n });
    await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: authorization is not yet valid');
  });

  test('expired (validBefore in the past) reverts', async () => {
    const { vrsArgs } = await authorize({ validBefore: (await chainNow()) - 10n });
    await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: authorization is expired');
  });

  test('the window is strict: validBefore == block.timestamp and validAfter == block.timestamp revert', async () => {
    const client = publicClient(chain.rpcUrl);
    const atTimestamp = async (t, fn) => {
      await rpc(chain.rpcUrl, 'evm_setNextBlockTimestamp', [Number(t)]);
      const receipt = await fn();
      assert.equal((await client.getBlock({ blockNumber: receipt.blockNumber })).timestamp, t);
    };

    const t1 = (await chainNow()) + 60n;
    const expiring = await authorize({ validBefore: t1 });
    await atTimestamp(t1, () =>
      expectRevert('transferWithAuthorization', expiring.vrsArgs, 'FiatTokenV2: authorization is expired'),
    );

    const t2 = t1 + 60n;
    const starting = await authorize({ validAfter: t2 });
    await atTimestamp(t2, () =>
      expectRevert('transferWithAuthorization', starting.vrsArgs, 'FiatTokenV2: authorization is not yet valid'),
    );

    const t3 = t2 + 60n;
    const justInside = await authorize({ validAfter: t3 - 1n, validBefore: t3 + 1n });
    await atTimestamp(t3, () => expectSuccess('transferWithAuthorization', justInside.vrsArgs));
  });

  test('high-s signature (s\' = n − s, v flipped) reverts with the \'s\' message', async () => {
    const { auth, r, s, v } = await authorize();
    const highS = toHex(SECP256K1_N - BigInt(s), { size: 32 });
    const flippedV = v === 27 ? 28 : 27;
    const { vrsArgs, bytesArgs } = withSignature(auth, joinSignature({ r, s: highS, v: flippedV }));
    await expectRevert('transferWithAuthorization', vrsArgs, "ECRecover: invalid signature 's' value");
    await expectRevert('transferWithAuthorization', bytesArgs, "ECRecover: invalid signature 's' value");
  });

  test('v = 0/1 and v = 29 revert with the \'v\' message', async () => {
    const { auth, r, s, v } = await authorize();
    const fields = [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce];
    for (const badV of [v - 27, 29]) {
      await expectRevert('transferWithAuthorization', [...fields, badV, r, s], "ECRecover: invalid signature 'v' value");
      await expectRevert(
        'transferWithAuthorization',
        [...fields, joinSignature({ r, s, v: badV })],
        "ECRecover: invalid signature 'v' value",
      );
    }
  });

  test('a signature by another key reverts', async () => {
    const { vrsArgs } = await authorize({ payer: payers[0], signer: payers[1] });
    await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: invalid signature');
  });

  test('a signature for another domain (name "USDC", or chain id 1) reverts', async () => {
    const { auth } = await authorize();
    for (const domain of [{ name: 'USDC' }, { chainId: 1 }]) {
      const signature = await signTransferAuthorization({
        privateKey: payers[0].privateKey,
        chainId: chain.chainId,
        token: TOKEN_ADDRESS,
        ...auth,
        ...domain,
      });
      const { vrsArgs } = withSignature(auth, signature);
      await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: invalid signature');
    }
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), false);
  });

  test('insufficient balance reverts and leaves the nonce unused', async () => {
    const balance = await balanceOf(chain.rpcUrl, payers[0].address);
    const { auth, vrsArgs } = await authorize({ value: balance + 1n });
    await expectRevert('transferWithAuthorization', vrsArgs, 'ERC20: transfer amount exceeds balance');
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), false);
  });

  test('the bytes overload works for an EOA and rejects a signature that is not 65 bytes', async () => {
    const { auth, signature, bytesArgs } = await authorize({ value: 7n });
    const to0 = await balanceOf(chain.rpcUrl, auth.to);
    const short = [...bytesArgs.slice(0, 6), signature.slice(0, -2)];
    await expectRevert('transferWithAuthorization', short, 'ECRecover: invalid signature length');
    await expectSuccess('transferWithAuthorization', bytesArgs);
    assert.equal(await balanceOf(chain.rpcUrl, auth.to), to0 + 7n);
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), true);
  });
});

describe('ERC-1271 smart wallet (TestSmartWallet)', () => {
  const wallet = () => ({ address: smartWallet });

  test('an authorization from the wallet signed by its owner settles, through both overloads', async () => {
    const first = await authorize({ payer: wallet(), signer: walletOwner, value: 5n * USDC });
    const second = await authorize({ payer: wallet(), signer: walletOwner, value: 1n * USDC });
    const balance0 = await balanceOf(chain.rpcUrl, smartWallet);
    await expectSuccess('transferWithAuthorization', first.bytesArgs);
    // Like FiatToken v2.2, the v/r/s overload also goes through ERC-1271 for a contract signer.
    await expectSuccess('transferWithAuthorization', second.vrsArgs);
    assert.equal(await balanceOf(chain.rpcUrl, smartWallet), balance0 - 6n * USDC);
    assert.equal(await authorizationState(chain.rpcUrl, smartWallet, first.auth.nonce), true);
  });

  test('a signature by someone other than the owner, or of the wrong length, is refused', async () => {
    const forged = await authorize({ payer: wallet(), signer: stranger });
    await expectRevert('transferWithAuthorization', forged.bytesArgs, 'FiatTokenV2: invalid signature');
    const genuine = await authorize({ payer: wallet(), signer: walletOwner });
    const padded = [...genuine.bytesArgs.slice(0, 6), `${genuine.signature}00`];
    await expectRevert('transferWithAuthorization', padded, 'FiatTokenV2: invalid signature');
  });
});

describe('cancelAuthorization', () => {
  test('a cancelled nonce cannot be used, nor cancelled again', async () => {
    const { auth, vrsArgs } = await authorize();
    const cancel = await signCancelAuthorization({
      privateKey: payers[0].privateKey,
      chainId: chain.chainId,
      authorizer: auth.from,
      nonce: auth.nonce,
    });
    const { r, s, v } = splitSignature(cancel);
    const receipt = await expectSuccess('cancelAuthorization', [auth.from, auth.nonce, v, r, s]);
    assert.deepEqual(
      parseEventLogs({ abi: TOKEN_ABI, logs: receipt.logs }).map((e) => [e.eventName, e.args]),
      [['AuthorizationCanceled', { authorizer: auth.from, nonce: auth.nonce }]],
    );
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), true);
    await expectRevert('transferWithAuthorization', vrsArgs, 'FiatTokenV2: authorization is used or canceled');
    await expectRevert(
      'cancelAuthorization',
      [auth.from, auth.nonce, cancel],
      'FiatTokenV2: authorization is used or canceled',
    );
  });

  test('the bytes overload cancels; a cancellation signed by another key reverts', async () => {
    const nonce = randomNonce();
    const authorizer = payers[0].address;
    const sign = (signer) =>
      signCancelAuthorization({ privateKey: signer.privateKey, chainId: chain.chainId, authorizer, nonce });
    await expectRevert('cancelAuthorization', [authorizer, nonce, await sign(payers[1])], 'FiatTokenV2: invalid signature');
    await expectSuccess('cancelAuthorization', [authorizer, nonce, await sign(payers[0])]);
    assert.equal(await authorizationState(chain.rpcUrl, authorizer, nonce), true);
  });
});

describe('receiveWithAuthorization', () => {
  test('only the payee may submit it', async () => {
    const { auth, vrsArgs, bytesArgs } = await authorize({ receive: true, value: 2n * USDC });
    await expectRevert('receiveWithAuthorization', vrsArgs, 'FiatTokenV2: caller must be the payee', relayer);
    await expectRevert('receiveWithAuthorization', bytesArgs, 'FiatTokenV2: caller must be the payee', relayer);
    const to0 = await balanceOf(chain.rpcUrl, auth.to);
    await expectSuccess('receiveWithAuthorization', vrsArgs, payTo);
    assert.equal(await balanceOf(chain.rpcUrl, auth.to), to0 + 2n * USDC);
    assert.equal(await authorizationState(chain.rpcUrl, auth.from, auth.nonce), true);
  });

  test('the bytes overload works from the payee; a TransferWithAuthorization signature is not accepted', async () => {
    const transferSigned = await authorize();
    await expectRevert('receiveWithAuthorization', transferSigned.vrsArgs, 'FiatTokenV2: invalid signature', payTo);
    const { bytesArgs } = await authorize({ receive: true });
    await expectSuccess('receiveWithAuthorization', bytesArgs, payTo);
  });
});

test('signTransferAuthorization matches viem signTypedData with the token domain', async () => {
  const auth = {
    from: payers[0].address,
    to: payTo.address,
    value: 1n,
    validAfter: 0n,
    validBefore: 1n,
    nonce: randomNonce(),
  };
  const direct = await signTypedData({
    privateKey: payers[0].privateKey,
    domain: { name: 'USD Coin', version: '2', chainId: chain.chainId, verifyingContract: TOKEN_ADDRESS },
    types: {
      TransferWithAuthorization: [
        { name: 'from', type: 'address' },
        { name: 'to', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'validAfter', type: 'uint256' },
        { name: 'validBefore', type: 'uint256' },
        { name: 'nonce', type: 'bytes32' },
      ],
    },
    primaryType: 'TransferWithAuthorization',
    message: auth,
  });
  const helper = await signTransferAuthorization({
    privateKey: payers[0].privateKey,
    chainId: chain.chainId,
    ...auth,
    value: '1', // decimal strings are accepted, as in x402 payloads
  });
  assert.equal(helper, direct);
});
