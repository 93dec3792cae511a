// Benchmark (not a test): the batch-settlement scheme end to end, on one local anvil.
//
// Latency (p50/p99) and throughput of paid requests through the edge Worker (build/worker under
// workerd via `wrangler dev`): unpaid (402), voucher-paid (batch-settlement, channel already
// funded, the Worker's mirrored channel state fresh: no RPC on the voucher path) and exact-paid
// (EIP-3009, settled on chain before the response: the default route), next to the reference
// batch-settlement server (@x402/hono paymentMiddleware + @x402/core x402ResourceServer +
// @x402/evm BatchSettlementEvmScheme server, with an in-process x402Facilitator + @x402/evm
// batch-settlement facilitator on the same anvil, served by tests/npm/ref-server.mjs serveHono in a
// child node process so it does not share the load generator's event loop).
//
// Load: a closed loop of C connections (C = 1 and 4), each sequential on keep-alive node:http. For
// vouchers each connection has its own channel (one channel serializes its requests), and every
// voucher (cumulative) and exact authorization is signed before the phase starts, so signing is
// not measured. The first (deposit) request of each channel and a warm-up are not measured.
//
// On-chain transactions per 100 paid requests: the reference client (@x402/fetch +
// @x402/evm BatchSettlementEvmScheme client) pays 100 requests to each server with its default
// deposit sizing (the servers' minDeposit = 10 × the price: a top-up every 10 requests) and with a
// deposit sized for all 100 (depositStrategy), and ours (x402-wasm/local wrapFetch + localWallet,
// channels allowed, its default channel options: credit $0.50 = 50 requests, maxDeposit $1.00) pays
// 100 requests to the Worker; then the charges are claimed and settled (the Worker:
// its Channel Durable Object's alarm, claim.threshold "$1.00" = 100 requests, checked every second;
// the reference: BatchSettlementChannelManager.claimAndSettle()); exact: the 100 requests of the
// exact C = 1 phase. Transactions are counted from the blocks (anvil mines one per transaction).
//
// Writes bench/batch-results.md.
//   node bench/batch.mjs [requests per phase, default 1000]
import { fork, spawn } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFunctionData, getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');
const NETWORK = 'eip155:31337';
const PRICE = 10_000n; // GET /paid/one.html on the Worker ($0.01), GET /paid on the reference server
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------- reference server (child)

/**
 * The reference batch-settlement server (the wiring of tests/js/batch-interop.test.mjs): GET /paid at
 * PRICE. Tells the parent its URL; answers {op: 'claimAndSettle'} with the channel manager's result.
 */
async function referenceServerChild({ rpcUrl, receiver, relayerKey, authorizerKey, token }) {
  const { Hono } = await import('hono');
  const { x402Facilitator } = await import('@x402/core/facilitator');
  const { x402ResourceServer } = await import('@x402/core/server');
  const { toFacilitatorEvmSigner } = await import('@x402/evm');
  const { BatchSettlementEvmScheme: FacilitatorScheme } = await import('@x402/evm/batch-settlement/facilitator');
  const { BatchSettlementEvmScheme: ServerScheme } = await import('@x402/evm/batch-settlement/server');
  const { paymentMiddleware } = await import('@x402/hono');
  const { createWalletClient, defineChain, http: viemHttp, publicActions } = await import('viem');
  const { serveHono } = await import('../tests/npm/ref-server.mjs');

  const chain = defineChain({
    id: 31337,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const relayer = privateKeyToAccount(relayerKey);
  const wallet = createWalletClient({ account: relayer, chain, transport: viemHttp(rpcUrl), pollingInterval: 50 }).extend(publicActions);
  const signer = toFacilitatorEvmSigner(Object.assign(wallet, { address: relayer.address }), { confirmationTimeoutMs: 20_000 });
  const facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(signer));
  const facilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported(),
  };
  const serverScheme = new ServerScheme(receiver, { receiverAuthorizerSigner: privateKeyToAccount(authorizerKey), withdrawDelay: 900 });
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
            price: { amount: String(PRICE), asset: token, extra: { name: 'USD Coin', version: '2' } },
            maxTimeoutSeconds: 300,
          },
          description: 'one paid thing',
        },
      },
      resourceServer,
    ),
  );
  app.get('/paid', (c) => c.text('paid content'));
  const server = await serveHono(app);
  const manager = serverScheme.createChannelManager(facilitatorClient, NETWORK, token);
  process.on('message', async (m) => {
    if (m?.op === 'claimAndSettle') {
      try {
        const { claims, settle } = await manager.claimAndSettle();
        process.send({ op: m.op, result: JSON.parse(show({ claims: claims.length, settle })) });
      } catch (e) {
        process.send({ op: m.op, error: String(e?.stack ?? e) });
      }
    } else if (m?.op === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
  process.once('disconnect', () => process.exit(0)); // the parent is gone
  process.send({ op: 'ready', url: server.url });
}

/** Starts the reference server child; returns { url, call(op), stop() }. */
async function startReferenceChild(options) {
  const child = fork(HERE, ['--ref-server', JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting = new Map();
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`reference server exited (${code})`)));
  });
  child.on('message', (m) => {
    if (m.op === 'ready') ready(m.url);
    else {
      const w = waiting.get(m.op);
      waiting.delete(m.op);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m.result);
    }
  });
  const url = await readyP;
  return {
    url,
    call: (op) => new Promise((resolve, reject) => {
      waiting.set(op, { resolve, reject });
      child.send({ op });
    }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.send({ op: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(t);
    },
  };
}

// ------------------------------------------------------------------------------------------- Worker

/**
 * A copy of build/worker/ for this run (made once), so a rebuild during the run (wrangler dev
 * watches its entry's files) neither reloads the measured Workers nor hands them a half-written
 * module. Returns the copy's shim.mjs.
 */
async function snapshotWorker(artifacts) {
  snapshotWorker.done ??= (async () => {
    const dir = path.join(artifacts, `bench-batch-${process.pid}-worker`);
    for (let attempt = 1; ; attempt++) {
      rmSync(dir, { recursive: true, force: true });
      cpSync(path.join(ROOT, 'build', 'worker'), dir, { recursive: true });
      try {
        await WebAssembly.compile(readFileSync(path.join(dir, 'x402_worker_bg.wasm')));
        return path.join(dir, 'shim.mjs');
      } catch (e) {
        if (attempt === 10) throw new Error(`build/worker/x402_worker_bg.wasm does not compile: ${e}`);
        await sleep(3_000); // being rebuilt right now
      }
    }
  })();
  return snapshotWorker.done;
}

/**
 * tests/js/lib/worker.mjs startWorker on a snapshot of the Worker already built in build/worker/
 * (scripts/bench builds it before; built here only when missing), without its build step.
 * Returns { url, logFile, stop }.
 */
async function startBuiltWorker({ config, secrets = {} }) {
  const { ARTIFACTS_DIR } = await import('../tests/js/lib/chain.mjs');
  const { buildWorker, startWorker } = await import('../tests/js/lib/worker.mjs');
  if (!existsSync(path.join(ROOT, 'build', 'worker', 'x402_worker_bg.wasm'))) buildWorker();
  return startWorker({ config, secrets, main: await snapshotWorker(ARTIFACTS_DIR) });
}

// ------------------------------------------------------------------------------------------- load generator

/** Per-target request options from a URL (no URL parsing per request). */
function target(url, agent) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), path: u.pathname, agent };
}

/** One GET; resolves { ms, status, headers, body } (ms: from send to the body's last byte). */
function get(t, headers = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ ...t, method: 'GET', headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({
          ms: Number(process.hrtime.bigint() - t0) / 1e6,
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const decode = (v) => (v ? JSON.parse(Buffer.from(v, 'base64').toString('utf8')) : null);

/**
 * A closed-loop phase: connection i sends its requests `lists[i]` ({ headers, check(res) → error
 * string or null }) one after the other, all connections at once. Returns the latencies (ms), the
 * wall time and the failures (request and answer kept for the report).
 */
async function phase(url, lists) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: lists.length });
  const t = target(url, agent);
  const latencies = [];
  const failures = [];
  const start = process.hrtime.bigint();
  await Promise.all(
    lists.map(async (list) => {
      for (const { headers, check } of list) {
        let res;
        try {
          res = await get(t, headers);
        } catch (e) {
          failures.push({ headers, error: String(e) });
          continue;
        }
        latencies.push(res.ms);
        const why = check(res);
        if (why) failures.push({ headers, why, status: res.status, responseHeaders: res.headers, body: res.body.slice(0, 2000) });
      }
    }),
  );
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  agent.destroy();
  return { latencies, wallMs, failures, n: latencies.length, conns: lists.length };
}

function summary(r) {
  const s = [...r.latencies].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { ...r, p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, rps: (r.n / r.wallMs) * 1000 };
}

// ------------------------------------------------------------------------------------------- checks

const isUnpaid = (res) => {
  if (res.status !== 402) return `status ${res.status}, expected 402`;
  const required = decode(res.headers['payment-required']);
  if (!required?.accepts?.some((a) => a.scheme === 'batch-settlement')) return 'no batch-settlement offer in PAYMENT-REQUIRED';
  return null;
};

/** A served voucher: 200, PAYMENT-RESPONSE success, one price charged, the expected cumulative. */
const isVoucherServed = (charged, body) => (res) => {
  if (res.status !== 200) return `status ${res.status}, expected 200`;
  const r = decode(res.headers['payment-response']);
  if (!r?.success) return 'PAYMENT-RESPONSE not success';
  if (r.extra?.chargedAmount !== String(PRICE)) return `chargedAmount ${r.extra?.chargedAmount}`;
  if (r.extra?.channelState?.chargedCumulativeAmount !== String(charged)) return `chargedCumulativeAmount ${r.extra?.channelState?.chargedCumulativeAmount}, expected ${charged}`;
  if (r.transaction !== '') return `transaction ${r.transaction} on a voucher`;
  if (body !== undefined && res.body !== body) return 'wrong body';
  return null;
};

/** A served exact payment: 200 and a successful PAYMENT-RESPONSE naming its transaction. */
const isExactServed = (body) => (res) => {
  if (res.status !== 200) return `status ${res.status}, expected 200`;
  const r = decode(res.headers['payment-response']);
  if (!r?.success || !/^0x[0-9a-f]{64}$/.test(r.transaction ?? '')) return `PAYMENT-RESPONSE ${show(r)}`;
  if (res.body !== body) return 'wrong body';
  return null;
};

// ------------------------------------------------------------------------------------------- main

async function main() {
  const N = Number(process.argv[2] ?? 1000); // requests of an unpaid or voucher phase (C=4: N/4 per connection)
  const C = 4;
  const EXACT_N = 100; // exact-paid requests per phase (each is a transaction)
  const began = Date.now();
  const log = (m) => process.stderr.write(`[batch ${((Date.now() - began) / 1000).toFixed(1)}s] ${m}\n`);

  const chainLib = await import('../tests/js/lib/chain.mjs');
  const { ANVIL_ACCOUNTS, BATCH_SETTLEMENT_ABI, BATCH_SETTLEMENT_ADDRESS, ROLES, TOKEN_ABI, TOKEN_ADDRESS } = chainLib;
  const { deployBatchSettlement, deployToken, publicClient, rpc, startAnvil } = chainLib;
  const { defaultConfig, paymentHeader } = await import('../tests/js/lib/worker.mjs');
  const { batchHeader, channelConfigFor, channelOnChain, depositPayload, receiverOnChain, voucherPayload } = await import('../tests/js/lib/batch.mjs');
  const { x402Client } = await import('@x402/core/client');
  const { toClientEvmSigner } = await import('@x402/evm');
  const { BatchSettlementEvmScheme: ClientScheme } = await import('@x402/evm/batch-settlement/client');
  const { wrapFetchWithPayment } = await import('@x402/fetch');

  const ONE_HTML = readFileSync(path.join(ROOT, 'www', 'paid', 'one.html'), 'utf8');
  const PAY_TO = ROLES.payTo.address;
  const WORKER_AUTHORIZER = ANVIL_ACCOUNTS[7]; // X402_RECEIVER_AUTHORIZER_KEY: no ROLES entry uses #7
  const REF_AUTHORIZER = ANVIL_ACCOUNTS[6]; // the reference server's receiverAuthorizerSigner
  const REF_RECEIVER = privateKeyToAccount(generatePrivateKey()).address; // its payTo: kept apart from the Worker's

  const chain = await startAnvil();
  const stops = [];
  const cleanup = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await chain.stop();
  };
  process.once('SIGINT', () => cleanup().finally(() => process.exit(130)));
  try {
    const client = publicClient(chain.rpcUrl);
    await deployToken(chain.rpcUrl);
    await deployBatchSettlement(chain.rpcUrl);
    const fundedKey = async () => {
      const key = generatePrivateKey();
      await rpc(chain.rpcUrl, 'anvil_setBalance', [privateKeyToAccount(key).address, '0x56bc75e2d63100000']);
      return key;
    };
    const [claimsRelayerKey, refRelayerKey] = [await fundedKey(), await fundedKey()];
    const blockNumber = () => client.getBlockNumber({ cacheTime: 0 });

    // `fast`: the Worker measured for latency. Charges are never claimed during the run (threshold
    // far above anything charged, age rule at an hour, default check interval of 300 s).
    // `claims`: the same Worker with the default claim threshold ($1.00 = 100 requests here)
    // checked every second, for the transaction counts.
    const batchConfig = (claim) => defaultConfig(chain.rpcUrl, { batchSettlement: { withdrawDelay: 900, claim } });
    const fastConfig = batchConfig({ threshold: '1000000000000', maxAgeSeconds: 3600 });
    const claimsConfig = batchConfig({ threshold: '$1.00', maxAgeSeconds: 3600, checkIntervalSeconds: 1 });
    const authorizer = { X402_RECEIVER_AUTHORIZER_KEY: WORKER_AUTHORIZER.privateKey };
    log('starting two Workers (wrangler dev) and the reference server');
    const started = (p) => p.then((s) => (stops.push(s.stop), s));
    const [fast, claims, ref] = await Promise.all([
      started(startBuiltWorker({ config: fastConfig, secrets: authorizer })),
      started(startBuiltWorker({ config: claimsConfig, secrets: { ...authorizer, X402_RELAYER_KEY: claimsRelayerKey } })),
      started(startReferenceChild({
        rpcUrl: chain.rpcUrl,
        receiver: REF_RECEIVER,
        relayerKey: refRelayerKey,
        authorizerKey: REF_AUTHORIZER.privateKey,
        token: TOKEN_ADDRESS,
      })),
    ]).catch(async (e) => {
      await sleep(1_000); // let the others finish starting, so cleanup stops them
      throw e;
    });
    const workerUrl = `${fast.url}/paid/one.html`;
    const refUrl = `${ref.url}/paid`;
    log(`ready: fast ${fast.url}, claims ${claims.url}, reference ${ref.url}`);

    const offer = async (url) => {
      const res = await fetch(url);
      await res.text();
      if (res.status !== 402) throw new Error(`${url} unpaid: ${res.status}`);
      return decode(res.headers.get('payment-required')).accepts;
    };
    const workerAccepts = await offer(workerUrl);
    const workerBatch = workerAccepts.find((a) => a.scheme === 'batch-settlement');
    const workerExact = workerAccepts.find((a) => a.scheme === 'exact');
    const refBatch = (await offer(refUrl)).find((a) => a.scheme === 'batch-settlement');
    if (!workerBatch || !workerExact || !refBatch) throw new Error(`offers: ${show({ workerAccepts, refBatch })}`);

    // ----------------------------------------------------------------------------- channels
    // C channels per server, each funded by one deposit request (not measured) that covers every
    // voucher the phases send on it; payer i % 5, a fresh voucher key (payerAuthorizer) each.
    const perChannel = BigInt(2 * N + 200); // requests a channel serves at most
    async function openChannels(url, accepted, body) {
      const channels = [];
      for (let i = 0; i < C; i++) {
        const payer = ROLES.payers[i % ROLES.payers.length];
        const voucherKey = generatePrivateKey();
        const config = channelConfigFor(accepted, { payer: payer.address, payerAuthorizer: privateKeyToAccount(voucherKey).address });
        const header = batchHeader(accepted, await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount: perChannel * PRICE, max: PRICE }));
        const res = await get(target(url), { 'PAYMENT-SIGNATURE': header });
        const receipt = decode(res.headers['payment-response']);
        if (res.status !== 200 || !receipt?.success || !receipt.transaction) {
          throw new Error(`deposit on ${url}: ${res.status} ${show(receipt)} ${res.body.slice(0, 500)}`);
        }
        channels.push({ accepted, config, voucherKey, charged: PRICE, body });
      }
      return channels;
    }
    /** The next `n` vouchers of a channel, signed now (cumulative: charged + k × price). */
    async function vouchers(ch, n) {
      const list = [];
      for (let k = 0; k < n; k++) {
        ch.charged += PRICE;
        const header = batchHeader(ch.accepted, await voucherPayload({ config: ch.config, voucherKey: ch.voucherKey, max: ch.charged }));
        list.push({ headers: { 'PAYMENT-SIGNATURE': header }, check: isVoucherServed(ch.charged, ch.body) });
      }
      return list;
    }
    /** `n` exact payments of the Worker's exact offer, signed now, from payer `i`. */
    async function exacts(i, n) {
      const payer = ROLES.payers[i % ROLES.payers.length];
      const list = [];
      for (let k = 0; k < n; k++) {
        const header = await paymentHeader(workerExact, payer);
        list.push({ headers: { 'PAYMENT-SIGNATURE': header }, check: isExactServed(ONE_HTML) });
      }
      return list;
    }
    const unpaid = (n) => Array.from({ length: n }, () => ({ headers: {}, check: isUnpaid }));
    const split = (n, c) => Array.from({ length: c }, (_, i) => Math.floor(n / c) + (i < n % c ? 1 : 0));

    log('opening channels (deposits)');
    const workerChannels = await openChannels(workerUrl, workerBatch, ONE_HTML);
    const refChannels = await openChannels(refUrl, refBatch, 'paid content');

    // ----------------------------------------------------------------------------- latency phases
    const results = [];
    const failures = [];
    // RPC calls anvil answered during a phase: anvil logs each request's method on a line of its own.
    const rpcLines = () => readFileSync(chain.logFile, 'utf8').split('\n').filter((l) => /^[a-z0-9]+_[A-Za-z0-9]+$/.test(l)).length;
    async function run(label, server, kind, url, lists) {
      const rpcBefore = rpcLines();
      const raw = await phase(url, lists);
      await sleep(200);
      raw.rpc = rpcLines() - rpcBefore;
      if (!raw.n) throw new Error(`${label}: no answer at all: ${show(raw.failures[0])}`);
      const r = summary(raw);
      results.push({ label, server, kind, ...r });
      if (r.failures.length) failures.push({ label, failures: r.failures });
      log(`${label}: n=${r.n} c=${r.conns} p50=${r.p50.toFixed(2)} p99=${r.p99.toFixed(2)} ms, ${r.rps.toFixed(0)} req/s, ${r.rpc} RPC calls, ${r.failures.length} failed`);
      return r;
    }
    // Warm-up (not reported): isolates, wasm instantiation, Durable Objects, keep-alive paths.
    log('warm-up');
    await phase(workerUrl, [unpaid(50)]);
    await phase(workerUrl, [await vouchers(workerChannels[0], 30)]);
    await phase(workerUrl, [await exacts(0, 5)]);
    await phase(refUrl, [unpaid(50)]);
    await phase(refUrl, [await vouchers(refChannels[0], 30)]);

    const exactTxWindow = {};
    for (const c of [1, C]) {
      const counts = split(N, c);
      await run(`Worker unpaid (402), C=${c}`, 'worker', 'unpaid', workerUrl, counts.map(unpaid));
      const vl = [];
      for (let i = 0; i < c; i++) vl.push(await vouchers(workerChannels[i], counts[i]));
      await run(`Worker voucher-paid, C=${c}`, 'worker', 'voucher', workerUrl, vl);
      const el = [];
      const ec = split(EXACT_N, c);
      for (let i = 0; i < c; i++) el.push(await exacts(i, ec[i]));
      const from = await blockNumber();
      await run(`Worker exact-paid (settled before the response), C=${c}`, 'worker', 'exact', workerUrl, el);
      if (c === 1) Object.assign(exactTxWindow, { from, to: await blockNumber() });
      await run(`reference unpaid (402), C=${c}`, 'reference', 'unpaid', refUrl, counts.map(unpaid));
      const rl = [];
      for (let i = 0; i < c; i++) rl.push(await vouchers(refChannels[i], counts[i]));
      await run(`reference voucher-paid, C=${c}`, 'reference', 'voucher', refUrl, rl);
    }

    // ----------------------------------------------------------------------------- transactions per 100
    /** The transactions mined in blocks (from, to], by sender and function. */
    async function transactions(from, to) {
      const txs = [];
      for (let b = from + 1n; b <= to; b++) {
        const block = await client.getBlock({ blockNumber: b, includeTransactions: true });
        for (const tx of block.transactions) {
          let fn = tx.input.slice(0, 10);
          for (const [addr, abi] of [[BATCH_SETTLEMENT_ADDRESS, BATCH_SETTLEMENT_ABI], [TOKEN_ADDRESS, TOKEN_ABI]]) {
            if (tx.to && getAddress(tx.to) === getAddress(addr)) {
              try { fn = decodeFunctionData({ abi, data: tx.input }).functionName; } catch { /* selector kept */ }
            }
          }
          txs.push({ from: getAddress(tx.from), fn });
        }
      }
      return txs;
    }
    const tally = (txs) => {
      const by = {};
      for (const t of txs) by[t.fn] = (by[t.fn] ?? 0) + 1;
      return by;
    };

    /** A fetch counting every HTTP exchange a client makes in `exchanges`: status, and the error a 402 names. */
    const recordingFetch = (exchanges) => async (input, init) => {
      const res = await fetch(input, init);
      const error = res.status === 402 ? decode(res.headers.get('payment-required'))?.error : undefined;
      const k = `${res.status}${error && error !== 'Payment required' ? ` ${error}` : ''}`;
      exchanges[k] = (exchanges[k] ?? 0) + 1;
      return res;
    };
    /** A reference client paying with its default deposit sizing, or with `deposit` for every deposit. */
    function referenceClient(payer, deposit, exchanges) {
      const voucherKey = generatePrivateKey(); // a fresh channel (payerAuthorizer) per scenario
      const signer = toClientEvmSigner(privateKeyToAccount(payer.privateKey), client);
      const scheme = new ClientScheme(signer, {
        voucherSigner: toClientEvmSigner(privateKeyToAccount(voucherKey), client),
        ...(deposit ? { depositStrategy: () => String(deposit) } : {}),
      });
      const x402 = new x402Client().register(NETWORK, scheme).setSpendControls({ allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS }] });
      return wrapFetchWithPayment(recordingFetch(exchanges), x402);
    }
    /**
     * Our client: x402-wasm/local wrapFetch + localWallet with channels allowed and its default
     * channel options (credit $0.50, maxDeposit $1.00); the voucher key it generates itself, kept
     * in its default in-memory storage (a fresh channel).
     */
    async function ourClient(payer, exchanges) {
      const { localWallet, wrapFetch } = await import('x402-wasm/local');
      return wrapFetch(recordingFetch(exchanges), localWallet(payer.privateKey), {
        channels: { allowed: true },
        allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS }],
      });
    }

    const txCounts = [];
    async function count100({ label, server, url, payer, deposit, sizing, ours = false, body }) {
      const exchanges = {};
      const pay = ours ? await ourClient(payer, exchanges) : referenceClient(payer, deposit, exchanges);
      const receiver = server === 'worker' ? PAY_TO : REF_RECEIVER;
      const settledBefore = (await receiverOnChain(chain.rpcUrl, receiver, TOKEN_ADDRESS)).totalSettled;
      const from = await blockNumber();
      const t0 = Date.now();
      let channelId;
      for (let i = 1; i <= 100; i++) {
        const res = await pay(url);
        const text = await res.text();
        const r = decode(res.headers.get('payment-response'));
        if (res.status !== 200 || !r?.success || text !== body) {
          throw new Error(`${label}, request ${i}: ${res.status} ${show(r)} ${text.slice(0, 300)}`);
        }
        channelId ??= r.extra?.channelState?.channelId;
      }
      const payMs = Date.now() - t0;
      const total = 100n * PRICE;
      if (server === 'reference') {
        await ref.call('claimAndSettle');
      } else {
        // The Worker's alarm claims (threshold reached) and settles to payTo by itself.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const settled = (await receiverOnChain(chain.rpcUrl, receiver, TOKEN_ADDRESS)).totalSettled - settledBefore;
          if (settled >= total) break;
          if (Date.now() > deadline) throw new Error(`${label}: settled ${settled} of ${total} after 30 s`);
          await sleep(200);
        }
        await sleep(2_000); // anything more the Worker would send (a second claim, another settle)
      }
      const to = await blockNumber();
      const channel = await channelOnChain(chain.rpcUrl, channelId);
      const settled = (await receiverOnChain(chain.rpcUrl, receiver, TOKEN_ADDRESS)).totalSettled - settledBefore;
      const txs = await transactions(from, to);
      const entry = { label, server, deposit, sizing, n: txs.length, by: tally(txs), claimed: channel.totalClaimed, balance: channel.balance, settled, payMs, exchanges };
      if (channel.totalClaimed !== total || settled !== total) throw new Error(`${label}: ${show(entry)}`);
      txCounts.push(entry);
      log(`${label}, ${sizing ?? (deposit ? `deposit ${deposit}` : 'default sizing')}: ${txs.length} transactions ${show(entry.by)} (100 requests paid in ${payMs} ms; HTTP ${show(exchanges)})`);
    }
    // The reference manager claims every channel with unclaimed charges: flush the latency phases' first.
    await ref.call('claimAndSettle');
    const claimsUrl = `${claims.url}/paid/one.html`;
    // Warm the claims Worker's paid path (its Channel and Relayer objects) outside the counted
    // blocks: 5 charges on a channel of their own, far below the claim threshold.
    const warm = referenceClient(ROLES.payers[4], undefined, {});
    for (let i = 0; i < 5; i++) await (await warm(claimsUrl)).text();
    await count100({ label: 'Worker', server: 'worker', url: claimsUrl, payer: ROLES.payers[0], deposit: 100n * PRICE, body: ONE_HTML });
    await count100({ label: 'Worker', server: 'worker', url: claimsUrl, payer: ROLES.payers[1], body: ONE_HTML });
    // Ours on the same claims Worker: payer #4 (the warm-up's payer; a new channel: its own voucher key).
    await count100({
      label: 'Worker, paid by x402-wasm/local (ours)',
      server: 'worker',
      url: claimsUrl,
      payer: ROLES.payers[4],
      ours: true,
      sizing: 'x402-wasm/local default: credit $0.50 = 50 requests',
      body: ONE_HTML,
    });
    await count100({ label: 'reference server', server: 'reference', url: refUrl, payer: ROLES.payers[2], deposit: 100n * PRICE, body: 'paid content' });
    await count100({ label: 'reference server', server: 'reference', url: refUrl, payer: ROLES.payers[3], body: 'paid content' });
    const exactTxs = await transactions(exactTxWindow.from, exactTxWindow.to);
    txCounts.push({ label: `Worker, exact (the ${EXACT_N} requests of the exact-paid C=1 phase)`, server: 'worker', n: exactTxs.length, by: tally(exactTxs), requests: EXACT_N });

    const workerLog = readFileSync(fast.logFile, 'utf8');
    writeResults({ N, C, EXACT_N, results, failures, txCounts, workerLog, secs: (Date.now() - began) / 1000 });
  } finally {
    await cleanup();
  }
}

// ------------------------------------------------------------------------------------------- report

function writeResults({ N, C, EXACT_N, results, failures, txCounts, workerLog, secs }) {
  const pkg = (name) => JSON.parse(readFileSync(path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version;
  const find = (server, kind, c) => results.find((r) => r.server === server && r.kind === kind && r.conns === c);
  const f = (x, d = 2) => x.toFixed(d);
  const row = (r) => `| ${r.label} | ${r.n} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.mean)} | ${f(r.rps, 0)} | ${r.rpc} | ${r.failures.length} |`;
  const x = (a, b) => `${(a / b).toFixed(2)}×`;
  const goals = [];
  for (const c of [1, C]) {
    const u = find('worker', 'unpaid', c);
    const v = find('worker', 'voucher', c);
    const e = find('worker', 'exact', c);
    const rv = find('reference', 'voucher', c);
    goals.push(
      `| C=${c} | ${x(v.p50, u.p50)} / ${x(v.p99, u.p99)} — ${v.p50 <= 1.5 * u.p50 ? 'met' : '**not met**'} | ` +
        `${x(e.p50, v.p50)} / ${x(e.p99, v.p99)} — ${e.p50 >= 10 * v.p50 ? 'met' : '**not met**'} | ` +
        `${x(v.p50, rv.p50)} / ${x(v.rps, rv.rps)} |`,
    );
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const describeDeposit = (t) => t.sizing ?? (t.deposit ? `one of 100 × price (${t.deposit})` : 'the client default: minDeposit = 10 × price each');
  const ours = txCounts.find((t) => t.sizing);
  const errorLines = workerLog.split('\n').filter((l) => /error|panic|exception/i.test(l)).slice(0, 20);
  const failureBlock = failures.length
    ? `\n**Failures** (the first three of each phase, request as sent and answer as received):\n\n\`\`\`\n${failures
        .map((p) => `${p.label}:\n${p.failures.slice(0, 3).map((y) => show({ ...y, headers: undefined, request: y.headers?.['PAYMENT-SIGNATURE'] ? decode(y.headers['PAYMENT-SIGNATURE']) : y.headers })).join('\n')}`)
        .join('\n')}\n\`\`\`\n\nWorker log lines naming an error:\n\n\`\`\`\n${errorLines.join('\n') || '(none)'}\n\`\`\`\n`
    : '';
  const md = `# Batch-settlement benchmark

Generated by \`node bench/batch.mjs ${N}\` on ${new Date().toISOString()} (node ${process.version}, ${process.arch}, ${os.cpus().length} × ${cpu}) in ${secs.toFixed(0)} s.
Not a test: nothing is asserted. The numbers vary from run to run and with the machine: the load
generator, two \`wrangler dev\` Workers, the reference server and anvil all share these cores.

## Latency and throughput

Closed loop: C connections at once, each sending its requests one after the other over keep-alive
\`node:http\` (a small load generator in the script; autocannon is not installed and no dependency was
added). Latency runs from sending the request to the last byte of the answer; throughput is the
phase's requests ÷ its wall time. Every answer is checked (status, \`PAYMENT-RESPONSE\`, the charged
cumulative, the body); *failed* counts answers that are not what the scheme says. *RPC* counts the
JSON-RPC calls anvil answered during the phase (from anvil's log; nothing else uses the chain then).
Warm-up requests before the phases are not counted.

- **Worker**: \`build/worker\` (a copy taken at start) under workerd via \`wrangler dev\` (local Durable
  Objects, SQLite storage), \`GET /paid/one.html\` at $0.01, batch-settlement on with a claim threshold
  far above the run's charges (nothing is claimed during the run).
  - *unpaid*: no \`PAYMENT-SIGNATURE\`: the 402 listing the exact and batch-settlement offers.
  - *voucher-paid*: one channel per connection, funded beforehand by one deposit request (not
    measured); each request carries the next cumulative voucher, signed before the phase with
    \`tests/js/lib/chain.mjs\` signVoucher by a delegated voucher key. The Worker checks it locally
    against the channel's Durable Object (its mirror of the chain is fresh), serves the page and
    commits the charge in the object's storage before answering.
  - *exact-paid*: EIP-3009 authorizations signed before the phase, each settled on anvil (relayer
    transaction and receipt) before the page is served: the route's default order.
- **reference**: \`@x402/hono\` ${pkg('@x402/hono')} \`paymentMiddleware\` + \`@x402/core\` ${pkg('@x402/core')} \`x402ResourceServer\` +
  \`@x402/evm\` ${pkg('@x402/evm')} batch-settlement server scheme (its default in-memory channel storage), with an
  in-process \`x402Facilitator\` + \`@x402/evm\` batch-settlement facilitator on the same anvil; served by
  \`tests/npm/ref-server.mjs\` serveHono (node:http) in a child node process; \`GET /paid\` at the same
  price. Its voucher path is local too (fresh record, delegated voucher key).

Requests per phase: ${N} (C=${C}: ${N / C} per connection); exact-paid: ${EXACT_N}.

| phase | requests | p50 ms | p99 ms | mean ms | req/s | RPC | failed |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${results.map(row).join('\n')}

Goals (reported, not asserted): a voucher-paid request costs at most 1.5× an unpaid 402 on the same
Worker, and at least 10× less than an exact-paid request settled before the response.

| | voucher ÷ unpaid, p50 / p99 (goal ≤ 1.5×) | exact ÷ voucher, p50 / p99 (goal ≥ 10×) | Worker ÷ reference voucher-paid: p50 / req/s |
| --- | --- | --- | --- |
${goals.join('\n')}

Not like for like: every Worker request crosses \`wrangler dev\`'s local proxy into workerd, and
the Worker's channel record is durable (Durable Object storage: the answer waits for the write),
while the reference keeps its records in process memory. anvil mines each transaction at once, so an
exact payment settled before the response is as cheap here as it gets (${Math.round(results.find((r) => r.server === 'worker' && r.kind === 'exact' && r.conns === 1).rpc / EXACT_N)} JSON-RPC calls each, no
block to wait for); on a real chain it also waits for a block.
${failureBlock}
## On-chain transactions per 100 paid requests

The reference client (\`@x402/fetch\` \`wrapFetchWithPayment\` + \`@x402/evm\` batch-settlement client, a delegated
voucher key, a new channel each time) pays 100 requests, and so does ours on the Worker
(\`x402-wasm/local\` \`wrapFetch\` + \`localWallet\`, channels allowed, its default channel options:
credit $0.50, maxDeposit $1.00, a voucher key it generates; a new channel); then the charges are claimed and settled,
and the blocks from the first request to the settle are read (anvil mines one block per
transaction). The Worker here is a second instance of the same build (its paid path warmed first
by 5 payments on a channel of their own, outside the counted blocks) with the default claim
threshold ($1.00 = 100 requests) checked every second (\`checkIntervalSeconds\` 1): its Channel
object's alarm claims, then settles to payTo. The reference server's charges are claimed by its
\`BatchSettlementChannelManager.claimAndSettle()\`. Each batch row checked on chain that exactly
100 × price was claimed and settled to the receiver. Goal: ≤ 3 when the deposit covers the 100
requests (exact: 100).

| server | deposit sizing | transactions | by function | 100 requests paid in | the client's HTTP exchanges (status: count) |
| --- | --- | ---: | --- | ---: | --- |
${txCounts.map((t) => `| ${t.label} | ${t.requests ? '—' : describeDeposit(t)} | **${t.n}** | ${Object.entries(t.by).map(([k, v]) => `${k} ${v}`).join(', ')} | ${t.payMs ? `${t.payMs} ms` : '—'} | ${t.exchanges ? Object.entries(t.exchanges).map(([k, v]) => `${k}: ${v}`).join(', ') : '—'} |`).join('\n')}

With its default sizing the reference client deposits the server's \`minDeposit\` hint (10 × the
price) whenever the next voucher would exceed the balance: a deposit every 10 requests. A deposit
sized for all 100 (the client's \`depositStrategy\`) leaves one deposit, one claim, one settle.
${ours ? `Ours, with its default options, deposits its credit ($0.50: 50 requests here, above the Worker's
minDeposit of 10 × price) when it opens the channel and again when the next voucher would exceed the
balance: ${Object.entries(ours.by).map(([k, v]) => `${k} ${v}`).join(', ')} for the 100 requests (${ours.n} transactions); a credit
of $1.00 (its maxDeposit) would leave one deposit. Without a stored channel state its first paid
request is a voucher for one price (a server that knows the channel answers with its state), which
a new channel meets with \`invalid_batch_settlement_evm_channel_not_found\`, before the deposit.
` : ''}`;
  writeFileSync(path.join(ROOT, 'bench', 'batch-results.md'), md);
  process.stdout.write(md);
}

// Last, so every module-level constant above is initialized.
if (process.argv[2] === '--ref-server') await referenceServerChild(JSON.parse(process.argv[3]));
else await main();
