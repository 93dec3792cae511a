// The edge Worker's settlement edge cases, under the real workerd (wrangler dev) and a real anvil:
// settlement_pending when the receipt wait runs out (anvil automine off), a remote facilitator
// (this Worker's own POST /settle on a second instance) and an unreachable one, the relayer nonce
// gap after a broadcast that never reached the node, the facilitator endpoints' bearer token,
// smart-wallet (ERC-1271) payments, and the configuration check of scripts/build-worker.
//
// The one stand-in: the relayer Worker talks to anvil through a pass-through HTTP proxy that, when
// armed, drops one eth_sendRawTransaction by closing the connection without forwarding it. A real
// node cannot be made to lose a broadcast on demand; everything else is forwarded untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_ACCOUNTS, ROLES, TOKEN_ABI, TOKEN_ADDRESS, balanceOf, deploySmartWallet, deployToken, isBroadcast, publicClient,
  randomNonce, rpc, signTransferAuthorization, startAnvil, startRpcProxy, transferCount, walletClient,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, encodeHeader, freePort, startWorker } from './lib/worker.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAY_TO = ROLES.payTo.address;
const RELAYER = ROLES.relayer.address;
const TOKEN = 'facilitator-token-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const show = (v) => JSON.stringify(v);
const plainKey = generatePrivateKey(); // plainWorker's relayer key

let chain;
let proxy;
let proxyUrl;
let dropNextBroadcast = false;
let broadcasts = 0; // broadcasts seen by the proxy (forwarded or dropped; isBroadcast)
const calls = {}; // JSON-RPC requests seen by the proxy, by method
let plainProxy; // answers eth_sendRawTransactionSync with -32601 (a node without it)
const plainCalls = {};
let plainWorker; // self-settling through plainProxy
let relayerWorker; // self-settling, facilitator endpoints on behind TOKEN, RPC through the proxy
let viaFacilitator; // settlement mode "facilitator" → relayerWorker
let deadFacilitator; // settlement mode "facilitator" → a closed port

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  proxy = await startRpcProxy(chain.rpcUrl, (method, req, res, body) => {
    calls[method] = (calls[method] ?? 0) + 1;
    if (!isBroadcast(method, body)) return false;
    broadcasts++;
    if (!dropNextBroadcast) return false;
    dropNextBroadcast = false;
    req.socket.destroy(); // the broadcast never reaches the node; the caller sees a broken connection
    return true;
  });
  proxyUrl = proxy.url;
  await rpc(chain.rpcUrl, 'anvil_setBalance', [privateKeyToAccount(plainKey).address, '0x56bc75e2d63100000']);
  plainProxy = await startRpcProxy(chain.rpcUrl, (method, req, res) => {
    plainCalls[method] = (plainCalls[method] ?? 0) + 1;
    if (method !== 'eth_sendRawTransactionSync') return false;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'the method eth_sendRawTransactionSync does not exist/is not available' } }));
    return true;
  });

  const selfConfig = defaultConfig(proxyUrl, { facilitatorEndpoints: true });
  selfConfig.settlement.receiptTimeoutSeconds = 2;
  relayerWorker = await startWorker({ config: selfConfig, secrets: { X402_FACILITATOR_TOKEN: TOKEN } });
  const deadPort = await freePort();
  [viaFacilitator, deadFacilitator, plainWorker] = await Promise.all([
    startWorker({
      config: defaultConfig(chain.rpcUrl, {
        settlement: { mode: 'facilitator', url: relayerWorker.url, authHeader: 'Authorization', rpcUrl: chain.rpcUrl },
      }),
      secrets: { X402_RELAYER_KEY: null, X402_FACILITATOR_AUTH: `Bearer ${TOKEN}` },
    }),
    startWorker({
      config: defaultConfig(chain.rpcUrl, {
        settlement: { mode: 'facilitator', url: `http://127.0.0.1:${deadPort}`, rpcUrl: chain.rpcUrl },
      }),
      secrets: { X402_RELAYER_KEY: null },
    }),
    startWorker({ config: defaultConfig(plainProxy.url), secrets: { X402_RELAYER_KEY: plainKey } }),
  ]);
});

after(async () => {
  await Promise.all([relayerWorker?.stop(), viaFacilitator?.stop(), deadFacilitator?.stop(), plainWorker?.stop()]);
  await chain?.stop();
  await proxy?.close();
  await plainProxy?.close();
});

async function accepted(worker, p) {
  const res = await fetch(worker.url + p);
  assert.equal(res.status, 402);
  await res.text();
  return decodeHeader(res.headers.get('payment-required')).accepts[0];
}

/** A v2 payment header for `acc` from `from` (or an account's `address`), signed with `privateKey` (by viem). */
async function paymentHeader(acc, { from, address, privateKey, signature: override }) {
  from ??= address;
  const t = now();
  const auth = {
    from,
    to: acc.payTo,
    value: acc.amount,
    validAfter: String(t - 600),
    validBefore: String(t + acc.maxTimeoutSeconds),
    nonce: randomNonce(),
  };
  const signature = override ?? (await signTransferAuthorization({ privateKey, ...auth }));
  return encodeHeader({ x402Version: 2, accepted: acc, payload: { signature, authorization: auth } });
}

async function pay(worker, p, header) {
  const res = await fetch(worker.url + p, { headers: { 'PAYMENT-SIGNATURE': header } });
  const body = await res.text();
  const pr = res.headers.get('payment-response');
  return { res, body, receipt: pr ? decodeHeader(pr) : null };
}

const pendingCount = async () => Number(BigInt(await rpc(chain.rpcUrl, 'eth_getTransactionCount', [RELAYER, 'pending'])));
const latestCount = async () => Number(BigInt(await rpc(chain.rpcUrl, 'eth_getTransactionCount', [RELAYER, 'latest'])));

describe('self-settlement', () => {
  test('receipt wait runs out (automine off): settlement_pending with the real hash, never re-sent; served with that tx once mined', async () => {
    const payer = ROLES.payers[0];
    const acc = await accepted(relayerWorker, '/paid/one.html');
    const header = await paymentHeader(acc, payer);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const nonceBefore = await pendingCount();
    const sent = broadcasts;
    await rpc(chain.rpcUrl, 'evm_setAutomine', [false]);
    let tx;
    try {
      const first = await pay(relayerWorker, '/paid/one.html', header);
      assert.equal(first.res.status, 402, first.body);
      assert.equal(JSON.parse(first.body).error, 'settlement_pending');
      assert.doesNotMatch(first.body, /paid-content/);
      assert.equal(first.receipt.success, false);
      assert.equal(first.receipt.errorReason, 'settlement_pending');
      tx = first.receipt.transaction;
      assert.match(tx, /^0x[0-9a-f]{64}$/);
      const inPool = await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [tx]);
      assert.ok(inPool, 'the hash is a real transaction the node holds');
      assert.equal(inPool.blockNumber, null, 'not mined yet');
      assert.equal(inPool.from.toLowerCase(), RELAYER.toLowerCase());
      assert.equal(await pendingCount(), nonceBefore + 1);

      // A retry of the same authorization is not broadcast again.
      const retry = await pay(relayerWorker, '/paid/one.html', header);
      assert.equal(retry.res.status, 402, retry.body);
      assert.equal(retry.receipt.errorReason, 'settlement_pending');
      assert.equal(retry.receipt.transaction, tx);
      assert.equal(broadcasts, sent + 1, 'one eth_sendRawTransaction in all');
      assert.equal(await pendingCount(), nonceBefore + 1, 'one relayer transaction in the pool');
      assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance, 'nothing mined yet');
    } finally {
      await rpc(chain.rpcUrl, 'evm_setAutomine', [true]);
    }
    await rpc(chain.rpcUrl, 'evm_mine', []);
    const mined = await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [tx]);
    assert.equal(mined.status, '0x1');

    const served = await pay(relayerWorker, '/paid/one.html', header);
    assert.equal(served.res.status, 200, served.body);
    assert.match(served.body, /paid-content:one/);
    assert.equal(served.receipt.success, true);
    assert.equal(served.receipt.transaction, tx, 'the same transaction');
    assert.equal(broadcasts, sent + 1, 'still one broadcast');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 10_000n, 'charged exactly once');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });

  test('a broadcast lost before the node: settlement_pending; the relayer sends the same transaction again, no gap, no second settlement', async () => {
    const payer = ROLES.payers[1];
    const acc = await accepted(relayerWorker, '/paid/two.html');
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const nonce0 = await latestCount();
    const lostHeader = await paymentHeader(acc, payer);
    dropNextBroadcast = true;
    const lost = await pay(relayerWorker, '/paid/two.html', lostHeader);
    assert.equal(dropNextBroadcast, false, 'the proxy dropped a broadcast');
    assert.equal(lost.res.status, 402, lost.body);
    assert.equal(lost.receipt.errorReason, 'settlement_pending');
    assert.match(lost.receipt.transaction, /^0x[0-9a-f]{64}$/);
    assert.equal(await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [lost.receipt.transaction]), null, 'never reached the node');
    assert.equal(await pendingCount(), nonce0);

    // The relayer stored the signed transaction before sending it: the next settlement (or its
    // alarm, whichever comes first) gives the node the lost one again, unchanged, and the next
    // payment takes the following nonce. No gap, nothing queued behind one.
    const next = await pay(relayerWorker, '/paid/two.html', await paymentHeader(acc, payer));
    assert.equal(next.res.status, 200, next.body);
    const mined = await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [next.receipt.transaction]);
    assert.equal(Number(BigInt(mined.nonce)), nonce0 + 1, 'the next payment took the next nonce');
    const resent = await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [lost.receipt.transaction]);
    assert.ok(resent, 'the lost transaction reached the node the second time');
    assert.equal(Number(BigInt(resent.nonce)), nonce0, 'with its own nonce');
    assert.equal(await latestCount(), nonce0 + 2);
    assert.equal(await pendingCount(), nonce0 + 2, 'nothing stuck in the pool');

    // A retry of the lost payment is now served with its transaction; nothing is sent again.
    const sent = broadcasts;
    const retry = await pay(relayerWorker, '/paid/two.html', lostHeader);
    assert.equal(retry.res.status, 200, retry.body);
    assert.equal(retry.receipt.transaction, lost.receipt.transaction);
    assert.equal(broadcasts, sent, 'no broadcast for the retry');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 40_000n, 'each payment charged once');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 2);
  });
});

describe('the broadcast answered with the receipt (eth_sendRawTransactionSync, EIP-7966)', () => {
  test('a node that offers it: the payment is sent with it and served with no receipt poll', async () => {
    const payer = ROLES.payers[2];
    const acc = await accepted(relayerWorker, '/paid/one.html');
    const before = { ...calls };
    const ok = await pay(relayerWorker, '/paid/one.html', await paymentHeader(acc, payer));
    assert.equal(ok.res.status, 200, ok.body);
    const used = (m) => (calls[m] ?? 0) - (before[m] ?? 0);
    assert.equal(used('eth_sendRawTransactionSync'), 1, show(calls));
    assert.equal(used('eth_sendRawTransaction'), 0);
    assert.equal(used('eth_getTransactionReceipt'), 0, 'the receipt came with the broadcast');
    assert.equal((await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [ok.receipt.transaction])).status, '0x1');
  });

  test('a node without it (-32601): asked once, then every payment is sent with eth_sendRawTransaction and its receipt read', async () => {
    const payer = ROLES.payers[3];
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    for (const p of ['/paid/one.html', '/paid/two.html']) {
      const acc = await accepted(plainWorker, p);
      const ok = await pay(plainWorker, p, await paymentHeader(acc, payer));
      assert.equal(ok.res.status, 200, ok.body);
      assert.equal((await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [ok.receipt.transaction])).status, '0x1');
    }
    assert.equal(plainCalls.eth_sendRawTransactionSync, 1, `only the probe: ${show(plainCalls)}`);
    assert.equal(plainCalls.eth_sendRawTransaction, 2);
    assert.ok(plainCalls.eth_getTransactionReceipt >= 2);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 30_000n);
  });
});

describe('smart wallet (ERC-1271)', () => {
  test('a funded TestSmartWallet pays with its owner\'s signature; a rejected signature moves nothing', async () => {
    const owner = ANVIL_ACCOUNTS[7];
    const { address: wallet } = await deploySmartWallet(chain.rpcUrl, owner);
    const hash = await walletClient(chain.rpcUrl, ROLES.deployer).writeContract({
      address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'mint', args: [wallet, 1_000_000n], chain: null,
    });
    await publicClient(chain.rpcUrl).waitForTransactionReceipt({ hash });
    const acc = await accepted(relayerWorker, '/paid/three.html');
    const before = [await balanceOf(chain.rpcUrl, wallet), await balanceOf(chain.rpcUrl, PAY_TO)];
    const transfers = await transferCount(chain.rpcUrl);

    // Rejected: signed by a key that is not the owner (65 bytes), and a longer signature
    // (TestSmartWallet accepts only 65-byte owner signatures).
    const stranger = ANVIL_ACCOUNTS[6];
    const wrongKey = await paymentHeader(acc, { from: wallet, privateKey: stranger.privateKey });
    const longSig = `0x${'11'.repeat(65)}${'22'.repeat(32)}`;
    for (const [name, header] of [['wrong key', wrongKey], ['97-byte signature', await paymentHeader(acc, { from: wallet, signature: longSig })]]) {
      const r = await pay(relayerWorker, '/paid/three.html', header);
      assert.equal(r.res.status, 402, `${name}: ${r.body}`);
      assert.equal(JSON.parse(r.body).error, 'invalid_exact_evm_signature', name);
      assert.match(JSON.parse(r.body).message, /isValidSignature/, name);
    }
    // An EOA's 65-byte signature by another key still fails the same way (no code at `from`).
    const eoa = await pay(relayerWorker, '/paid/three.html', await paymentHeader(acc, { from: ROLES.payers[3].address, privateKey: stranger.privateKey }));
    assert.equal(eoa.res.status, 402);
    assert.equal(JSON.parse(eoa.body).error, 'invalid_exact_evm_signature');
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'no transfer');

    // Accepted: the owner's 65-byte signature, which only the wallet's isValidSignature accepts.
    const ok = await pay(relayerWorker, '/paid/three.html', await paymentHeader(acc, { from: wallet, privateKey: owner.privateKey }));
    assert.equal(ok.res.status, 200, ok.body);
    assert.match(ok.body, /paid-content:three/);
    assert.equal(ok.receipt.payer, wallet);
    const receipt = await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [ok.receipt.transaction]);
    assert.equal(receipt.status, '0x1');
    assert.equal(await balanceOf(chain.rpcUrl, wallet), before[0] - 50_000n, 'the wallet paid exactly the price');
    assert.equal(await balanceOf(chain.rpcUrl, PAY_TO), before[1] + 50_000n);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });
});

describe('facilitator', () => {
  test('endpoints behind X402_FACILITATOR_TOKEN: 401 unauthorized without or with a wrong token', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN]) {
      const headers = auth ? { Authorization: auth } : {};
      for (const [method, ep] of [['GET', '/supported'], ['POST', '/verify'], ['POST', '/settle']]) {
        const res = await fetch(relayerWorker.url + ep, { method, headers, body: method === 'POST' ? '{}' : undefined });
        assert.equal(res.status, 401, `${method} ${ep} with ${auth}`);
        assert.equal((await res.json()).error, 'unauthorized');
      }
    }
    const res = await fetch(`${relayerWorker.url}/supported`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.ok((await res.json()).kinds.some((k) => k.network === 'eip155:31337'));
    // The paywall itself needs no token.
    const paywall = await fetch(`${relayerWorker.url}/paid/one.html`);
    assert.equal(paywall.status, 402);
    await paywall.text();
  });

  test('settlement through a remote facilitator (a second Worker\'s POST /settle, with the token)', async () => {
    const payer = ROLES.payers[2];
    const acc = await accepted(viaFacilitator, '/paid/two.html');
    const header = await paymentHeader(acc, payer);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const r = await pay(viaFacilitator, '/paid/two.html', header);
    assert.equal(r.res.status, 200, r.body);
    assert.match(r.body, /paid-content:two/);
    assert.equal(r.receipt.success, true);
    const mined = await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [r.receipt.transaction]);
    assert.equal(mined.status, '0x1');
    assert.equal(mined.from.toLowerCase(), RELAYER.toLowerCase(), 'settled by the facilitator Worker\'s relayer');
    const again = await pay(viaFacilitator, '/paid/two.html', header);
    assert.equal(again.res.status, 200);
    assert.equal(again.receipt.transaction, r.receipt.transaction);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 20_000n);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });

  test('facilitator unreachable (connection refused): settlement_pending, no hash, reservation kept, no transfer', async () => {
    const payer = ROLES.payers[4];
    const acc = await accepted(deadFacilitator, '/paid/one.html');
    const header = await paymentHeader(acc, payer);
    const transfers = await transferCount(chain.rpcUrl);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const first = await pay(deadFacilitator, '/paid/one.html', header);
    assert.equal(first.res.status, 402, first.body);
    const body = JSON.parse(first.body);
    assert.equal(body.error, 'settlement_pending');
    assert.match(body.message, /no answer.*may have settled.*not be settled again/);
    assert.doesNotMatch(first.body, /paid-content/);
    assert.equal(first.receipt.success, false);
    assert.equal(first.receipt.errorReason, 'settlement_pending');
    assert.equal(first.receipt.transaction, '');
    // The authorization stays reserved: a retry is not sent to the facilitator again.
    const retry = await pay(deadFacilitator, '/paid/one.html', header);
    assert.equal(retry.res.status, 402);
    assert.equal(retry.receipt.errorReason, 'settlement_pending');
    assert.match(JSON.parse(retry.body).message, /outcome is unknown/);
    assert.equal(await transferCount(chain.rpcUrl), transfers);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance);
  });
});

describe('configuration check at build time', () => {
  test('scripts/build-worker fails on a bad field, naming it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'x402-config-'));
    try {
      const original = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
      const cases = [
        ['routes[1].price', original.replace('price = "$0.02"', 'price = "$0.0000001"')],
        ['settlement.url', original.replace('url = "https://x402.org/facilitator"', 'url = "ftp://x402.org"')],
        ['payTo', original.replace('payTo = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"   # anvil', 'payTo = "0x1234"   # anvil')],
      ];
      for (const [field, text] of cases) {
        assert.notEqual(text, original, field);
        const file = path.join(dir, 'wrangler.toml');
        writeFileSync(file, text);
        const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-worker')], {
          cwd: dir, encoding: 'utf8', env: { ...process.env, X402_WRANGLER_CONFIG: file },
        });
        assert.notEqual(r.status, 0, `${field}: the build must fail`);
        assert.ok(r.stderr.includes(field), `${field} named in: ${r.stderr}`);
        assert.match(r.stderr, /invalid configuration/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
