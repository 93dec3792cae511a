// The Worker at scale (crates/worker/README.md, "Scale"), under the real workerd (wrangler dev)
// and a real anvil (and, sharing that Worker, the payment-identifier extension with the
// reference client's @x402/core + @x402/extensions): a pool of three relayer keys (a payer's settlements on its own key, a full or
// unfunded key passing payments to the others), transactions tracked by their relayer (a stuck
// one replaced with higher fees, only one version mined, the payer's guard told which), the
// replay guard's entries dropped by its alarm once they expire, and the operator's status
// endpoint. No stand-ins: a stuck transaction is made by turning anvil's automine off, a key out
// of gas by anvil_setBalance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { x402Client } from '@x402/core/client';
import { encodePaymentSignatureHeader } from '@x402/core/http';
import { ExactEvmScheme } from '@x402/evm';
import { appendPaymentIdentifierToExtensions, generatePaymentId } from '@x402/extensions';
import {
  ROLES, TOKEN_ADDRESS, authorizationState, authorizationUsedEvents, balanceOf, deployToken, rpc, startAnvil, transferCount,
} from './lib/chain.mjs';
import { decodeHeader, defaultConfig, paymentHeader, startWorker } from './lib/worker.mjs';

const STATUS_TOKEN = 'status-token-0123456789abcdef';
const KEYS = 3;
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let chain;
let worker;
let misconfigured; // relayerKeys = 2 without X402_RELAYER_KEY_2
/** The pool: key 1 is the usual relayer (X402_RELAYER_KEY), keys 2 and 3 fresh accounts. */
const relayers = [{ index: 1, address: ROLES.relayer.address, privateKey: ROLES.relayer.privateKey }];

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  // Two fresh relayer keys, funded with gas only.
  for (const index of [2, 3]) {
    const privateKey = generatePrivateKey();
    relayers.push({ index, address: privateKeyToAccount(privateKey).address, privateKey });
    await rpc(chain.rpcUrl, 'anvil_setBalance', [relayers[index - 1].address, '0x56bc75e2d63100000']); // 100 ETH
  }
  const config = defaultConfig(chain.rpcUrl, { paymentIdentifier: 'optional' });
  // /paid/two.html requires a payment-identifier id; the others declare it as optional.
  config.routes.find((r) => r.pattern === 'GET /paid/two.html').paymentIdentifier = 'required';
  config.settlement = {
    mode: 'self',
    rpcUrl: chain.rpcUrl,
    receiptTimeoutSeconds: 3,
    relayerKeys: KEYS,
    maxInFlightPerKey: 1,
    replaceAfterSeconds: 5,
  };
  const secrets = {
    X402_RELAYER_KEY_2: relayers[1].privateKey,
    X402_RELAYER_KEY_3: relayers[2].privateKey,
    X402_STATUS_TOKEN: STATUS_TOKEN,
  };
  const bad = defaultConfig(chain.rpcUrl);
  bad.settlement = { mode: 'self', rpcUrl: chain.rpcUrl, relayerKeys: 2 };
  [worker, misconfigured] = await Promise.all([
    startWorker({ config, secrets }),
    startWorker({ config: bad }),
  ]);
});

after(async () => {
  await Promise.all([worker?.stop(), misconfigured?.stop()]);
  await chain?.stop();
});

/** The key a payer's settlements go to first: the low 64 bits of its address modulo the keys. */
const preferredKey = (address) => Number(BigInt(`0x${address.slice(-16)}`) % BigInt(KEYS)) + 1;
const keyOf = (index) => relayers[index - 1];

async function accepted(p) {
  const res = await fetch(worker.url + p);
  assert.equal(res.status, 402);
  await res.text();
  return decodeHeader(res.headers.get('payment-required')).accepts.find((a) => a.scheme === 'exact');
}

async function pay(p, header) {
  const res = await fetch(worker.url + p, { headers: { 'PAYMENT-SIGNATURE': header } });
  const body = await res.text();
  const pr = res.headers.get('payment-response');
  return { res, body, receipt: pr ? decodeHeader(pr) : null };
}

async function status(query = '', token = STATUS_TOKEN) {
  const res = await fetch(`${worker.url}/.well-known/x402/status${query}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.json() };
}

const txFrom = async (hash) => (await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [hash])).from.toLowerCase();

/** Polls `check` (async, truthy when done) every 250 ms, at most `ms`. */
async function until(check, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(250);
  }
}

describe('relayer pool', () => {
  test('the status endpoint: the bearer token, every key with its gas balance', async () => {
    assert.equal((await status('', null)).status, 401);
    assert.equal((await status('', 'wrong-token-0123456789abcdef')).status, 401);
    const s = await status();
    assert.equal(s.status, 200);
    assert.deepEqual(s.body.relayers.map((r) => r.address.toLowerCase()), relayers.map((r) => r.address.toLowerCase()));
    for (const r of s.body.relayers) {
      assert.equal(r.lowGas, false);
      assert.ok(BigInt(r.balance) > 0n);
    }
    assert.equal((await status('?payer=nonsense')).status, 400);
  });

  test('a relayer key the configuration names but the secrets lack: invalid_config, nothing served', async () => {
    const res = await fetch(`${misconfigured.url}/paid/one.html`);
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.error, 'invalid_config');
    assert.match(body.message, /X402_RELAYER_KEY_2/);
  });

  test('two payers settle at the same time through their own keys', async () => {
    const [a, b] = (() => {
      for (const x of ROLES.payers) {
        for (const y of ROLES.payers) {
          if (preferredKey(x.address) !== preferredKey(y.address)) return [x, y];
        }
      }
      return assert.fail('no two payers on different keys');
    })();
    const acc = await accepted('/paid/one.html');
    const transfers = await transferCount(chain.rpcUrl);
    const [ra, rb] = await Promise.all([pay('/paid/one.html', await paymentHeader(acc, a)), pay('/paid/one.html', await paymentHeader(acc, b))]);
    assert.equal(ra.res.status, 200, ra.body);
    assert.equal(rb.res.status, 200, rb.body);
    assert.equal(await txFrom(ra.receipt.transaction), keyOf(preferredKey(a.address)).address.toLowerCase());
    assert.equal(await txFrom(rb.receipt.transaction), keyOf(preferredKey(b.address)).address.toLowerCase());
    assert.equal(await transferCount(chain.rpcUrl), transfers + 2);
  });

  test('twenty copies of one authorization at once: one transfer', async () => {
    const payer = ROLES.payers[2];
    const acc = await accepted('/paid/three.html');
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const header = await paymentHeader(acc, payer);
    const answers = await Promise.all(Array.from({ length: 20 }, () => pay('/paid/three.html', header)));
    const served = answers.filter((r) => r.res.status === 200);
    assert.ok(served.length >= 1, answers.map((r) => `${r.res.status} ${r.body.slice(0, 120)}`).join('\n'));
    assert.equal(new Set(served.map((r) => r.receipt.transaction)).size, 1, 'one transaction for every copy served');
    for (const r of answers.filter((x) => x.res.status !== 200)) assert.equal(r.res.status, 402, r.body);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 50_000n);
  });

  test('a key out of gas: the payer\'s payment goes through another key; the status says so', async () => {
    const payer = ROLES.payers[3];
    const own = keyOf(preferredKey(payer.address));
    const saved = await rpc(chain.rpcUrl, 'eth_getBalance', [own.address, 'latest']);
    await rpc(chain.rpcUrl, 'anvil_setBalance', [own.address, '0x0']);
    try {
      const acc = await accepted('/paid/one.html');
      const transfers = await transferCount(chain.rpcUrl);
      const r = await pay('/paid/one.html', await paymentHeader(acc, payer));
      assert.equal(r.res.status, 200, r.body);
      const from = await txFrom(r.receipt.transaction);
      assert.notEqual(from, own.address.toLowerCase(), 'not the drained key');
      assert.ok(relayers.some((k) => k.address.toLowerCase() === from), 'one of the pool');
      assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
      const s = await status();
      assert.equal(s.body.relayers[own.index - 1].lowGas, true);
      assert.equal(s.body.relayers.filter((k) => k.lowGas).length, 1);
    } finally {
      await rpc(chain.rpcUrl, 'anvil_setBalance', [own.address, saved]);
    }
  });

  test('a stuck transaction is replaced with higher fees; only one version is mined; a full key passes the next payment on', async () => {
    const payer = ROLES.payers[4];
    const own = keyOf(preferredKey(payer.address));
    const acc = await accepted('/paid/one.html');
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const header = await paymentHeader(acc, payer);
    await rpc(chain.rpcUrl, 'evm_setAutomine', [false]);
    let first;
    let second;
    try {
      first = await pay('/paid/one.html', header);
      assert.equal(first.res.status, 402, first.body);
      assert.equal(first.receipt.errorReason, 'settlement_pending');
      const original = first.receipt.transaction;
      const sent = await rpc(chain.rpcUrl, 'eth_getTransactionByHash', [original]);
      assert.equal(sent.from.toLowerCase(), own.address.toLowerCase());
      // The same payer again while its key holds its one unmined transaction: another key (seen
      // in the pool by sender: the relayer may have replaced it by now, under another hash).
      second = await pay('/paid/one.html', await paymentHeader(acc, payer));
      assert.equal(second.receipt.errorReason, 'settlement_pending', second.body);
      const senders = Object.keys((await rpc(chain.rpcUrl, 'txpool_content', [])).pending).map((a) => a.toLowerCase());
      assert.equal(senders.length, 2, `two keys hold one unmined transaction each: ${senders}`);
      assert.ok(senders.includes(own.address.toLowerCase()));
      // The relayer's alarm replaces the first after replaceAfterSeconds (5 s; longer than the
      // request's own wait, 3 s, so its answer still names the original).
      const replaced = await until(async () => {
        const s = await status();
        return s.body.relayers[own.index - 1].replaced >= 1 ? s : null;
      }, 20_000, 'a replacement');
      assert.ok(replaced);
      const pool = await rpc(chain.rpcUrl, 'txpool_content', []);
      const mine = Object.entries(pool.pending).find(([from]) => from.toLowerCase() === own.address.toLowerCase())?.[1] ?? {};
      const atNonce = mine[String(Number(BigInt(sent.nonce)))];
      assert.ok(atNonce, 'the nonce is still in the pool');
      assert.notEqual(atNonce.hash, original, 'by another version');
      assert.ok(BigInt(atNonce.maxFeePerGas) * 10n >= BigInt(sent.maxFeePerGas) * 11n, 'at least a tenth more');
    } finally {
      await rpc(chain.rpcUrl, 'evm_setAutomine', [true]);
      await rpc(chain.rpcUrl, 'evm_mine', []);
    }
    assert.equal(await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [first.receipt.transaction]), null, 'the original never mined');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 2, 'one transfer per payment');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 20_000n);
    // The relayer tells the payer's guard which version mined: a retry is served with it.
    const retry = await until(async () => {
      const r = await pay('/paid/one.html', header);
      return r.res.status === 200 ? r : null;
    }, 20_000, 'the retry served');
    assert.notEqual(retry.receipt.transaction, first.receipt.transaction);
    assert.equal((await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [retry.receipt.transaction])).status, '0x1');
    assert.equal(await transferCount(chain.rpcUrl), transfers + 2, 'the retry charged nothing');
    await until(async () => (await status()).body.relayers.every((k) => k.inFlight === 0), 20_000, 'every key idle');
  });
  test('a key drained while its transaction waits: the settlement goes to another key, settled once', async () => {
    // The soak's lost payment: a background payment whose transaction was pending when its key
    // was drained (neither it nor a replacement can pay for gas) must not die with it.
    const payer = ROLES.payers[1];
    const own = keyOf(preferredKey(payer.address));
    const acc = await accepted('/api/quote.json');
    const transfers = await transferCount(chain.rpcUrl);
    const saved = await rpc(chain.rpcUrl, 'eth_getBalance', [own.address, 'latest']);
    const header = await paymentHeader(acc, payer, { validFor: 60 });
    const { nonce } = decodeHeader(header).payload.authorization;
    await rpc(chain.rpcUrl, 'evm_setAutomine', [false]);
    try {
      const r = await pay('/api/quote.json', header);
      assert.equal(r.res.status, 200, r.body);
      // Sent by the payer's key (from its alarm), waiting in the pool.
      const pending = await until(async () => {
        const pool = await rpc(chain.rpcUrl, 'txpool_content', []);
        return Object.keys(pool.pending).find((a) => a.toLowerCase() === own.address.toLowerCase());
      }, 15_000, 'the transaction in the pool');
      assert.ok(pending);
      await rpc(chain.rpcUrl, 'anvil_setBalance', [own.address, '0x0']);
      await rpc(chain.rpcUrl, 'evm_setAutomine', [true]);
      await rpc(chain.rpcUrl, 'evm_mine', []);
      await until(() => authorizationState(chain.rpcUrl, payer.address, nonce), 30_000, 'settled through another key');
    } finally {
      await rpc(chain.rpcUrl, 'evm_setAutomine', [true]);
      await rpc(chain.rpcUrl, 'anvil_setBalance', [own.address, saved]);
    }
    const logs = (await authorizationUsedEvents(chain.rpcUrl)).filter((e) => e.nonce === nonce);
    assert.equal(logs.length, 1, 'used once');
    assert.notEqual(await txFrom(logs[0].transactionHash), own.address.toLowerCase(), 'by another key');
    // Refilled: its own version (if the node still holds it) may mine now and revert; the
    // payer paid once.
    await rpc(chain.rpcUrl, 'evm_mine', []);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'one transfer');
    await until(async () => (await status()).body.relayers.every((k) => k.inFlight === 0 && k.queued === 0), 30_000, 'every key idle');
  });

  test('a stream of background payments through keys that are always full: every one served is settled', async () => {
    // maxInFlightPerKey is 1, so most queued settlements find their key full and go round the
    // pool; each is queued while the others arrive (each asking its key's alarm for "now").
    // Short authorizations (25 s): a job left waiting by an alarm that never fires expires
    // unsent, and the content went out unpaid.
    const acc = await accepted('/api/quote.json');
    const transfers = await transferCount(chain.rpcUrl);
    const jobs = [];
    for (let i = 0; i < 40; i++) jobs.push(ROLES.payers[i % ROLES.payers.length]);
    const served = [];
    let next = 0;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < jobs.length) {
        const payer = jobs[next++];
        const header = await paymentHeader(acc, payer, { validFor: 25 });
        const r = await pay('/api/quote.json', header);
        assert.equal(r.res.status, 200, r.body);
        assert.equal(r.res.headers.get('x-payment-settlement'), 'background');
        served.push({ payer: payer.address, nonce: decodeHeader(header).payload.authorization.nonce });
      }
    }));
    assert.equal(served.length, 40);
    const unsettled = async () => {
      const left = [];
      for (const s of served) if (!(await authorizationState(chain.rpcUrl, s.payer, s.nonce))) left.push(s.nonce);
      return left;
    };
    // Until every authorization is used, or all have expired (then what is left never will be).
    const deadline = now() + 30;
    let left = await unsettled();
    while (left.length > 0 && now() < deadline) {
      await sleep(500);
      left = await unsettled();
    }
    assert.deepEqual(left, [], `${left.length} of 40 served background payments never settled`);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 40, 'one transfer each');
    await until(async () => (await status()).body.relayers.every((k) => k.inFlight === 0 && k.queued === 0), 20_000, 'every key idle');
  });
});

describe('replay guard storage', () => {
  test('an expired authorization leaves the guard (its alarm); a late retry is refused', async () => {
    const payer = ROLES.payers[0];
    const acc = await accepted('/paid/three.html');
    const validFor = 12;
    const header = await paymentHeader(acc, payer, { validFor });
    const before = (await status(`?payer=${payer.address}`)).body.guard.entries;
    const r = await pay('/paid/three.html', header);
    assert.equal(r.res.status, 200, r.body);
    const held = (await status(`?payer=${payer.address}`)).body.guard.entries;
    assert.equal(held, before + 1, 'the settled authorization is held');
    // validBefore (12 s) plus the settlement bound (receiptTimeoutSeconds, 3 s).
    // The count does not purge: only the guard's alarm deletes entries.
    await until(async () => (await status(`?payer=${payer.address}`)).body.guard.entries === before, 40_000, 'the entry deleted');
    const transfers = await transferCount(chain.rpcUrl);
    const late = await pay('/paid/three.html', header);
    assert.equal(late.res.status, 402, late.body);
    assert.match(late.receipt?.errorReason ?? late.body, /valid_before|expired/);
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing charged again');
  });
});

describe('payment-identifier (the reference client\'s ids)', () => {
  /** The reference client's payment for `p` with `id` put in the declared extension. */
  async function referencePayment(p, payer, id) {
    const res = await fetch(worker.url + p);
    await res.text();
    const required = decodeHeader(res.headers.get('payment-required'));
    required.accepts = required.accepts.filter((a) => a.scheme === 'exact');
    const client = x402Client.fromConfig({
      schemes: [{ network: 'eip155:31337', client: new ExactEvmScheme(privateKeyToAccount(payer.privateKey)) }],
      spendControls: { allowedAssets: [{ network: 'eip155:31337', asset: TOKEN_ADDRESS, maxAmountPerPayment: '100000' }] },
    });
    const payload = await client.createPaymentPayload(required);
    if (id !== undefined) appendPaymentIdentifierToExtensions(payload.extensions, id);
    return { required, payload, header: encodePaymentSignatureHeader(payload) };
  }

  test('declared in the 402: optional on most routes, required on one', async () => {
    const one = await referencePayment('/paid/one.html', ROLES.payers[1]);
    assert.equal(one.required.extensions['payment-identifier'].info.required, false);
    assert.equal(one.required.extensions['payment-identifier'].schema.properties.id.minLength, 16);
    const two = await referencePayment('/paid/two.html', ROLES.payers[1]);
    assert.equal(two.required.extensions['payment-identifier'].info.required, true);
  });

  test('same id, same payment: the same result, one charge; same id, another payment: 409', async () => {
    const payer = ROLES.payers[1];
    const id = generatePaymentId();
    const { header } = await referencePayment('/paid/one.html', payer, id);
    const balance = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const first = await pay('/paid/one.html', header);
    assert.equal(first.res.status, 200, first.body);
    const again = await pay('/paid/one.html', header);
    assert.equal(again.res.status, 200, again.body);
    assert.equal(again.receipt.transaction, first.receipt.transaction, 'the first result again');
    // A new payment (another authorization) under the same id.
    const other = await referencePayment('/paid/one.html', payer, id);
    const conflict = await pay('/paid/one.html', other.header);
    assert.equal(conflict.res.status, 409, conflict.body);
    assert.match(JSON.parse(conflict.body).message, /already used for a different payment/);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'one transfer');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), balance - 10_000n, 'charged once');
    // The same new payment under its own id is an ordinary purchase.
    const fresh = await referencePayment('/paid/one.html', payer, generatePaymentId());
    assert.equal((await pay('/paid/one.html', fresh.header)).res.status, 200);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 2);
  });

  test('required and missing: 400; malformed: 400; nothing charged', async () => {
    const payer = ROLES.payers[1];
    const transfers = await transferCount(chain.rpcUrl);
    const missing = await referencePayment('/paid/two.html', payer);
    const r = await pay('/paid/two.html', missing.header);
    assert.equal(r.res.status, 400, r.body);
    assert.match(JSON.parse(r.body).message, /requires a payment-identifier id/);
    const bad = await referencePayment('/paid/one.html', payer);
    bad.payload.extensions['payment-identifier'].info.id = 'short';
    const r2 = await pay('/paid/one.html', encodePaymentSignatureHeader(bad.payload));
    assert.equal(r2.res.status, 400, r2.body);
    assert.equal(JSON.parse(r2.body).error, 'invalid_payload');
    // With an id the required route is paid.
    const ok = await referencePayment('/paid/two.html', payer, generatePaymentId());
    assert.equal((await pay('/paid/two.html', ok.header)).res.status, 200);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });
});
