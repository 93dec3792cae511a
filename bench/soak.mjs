// Soak, load and faults (issue 15). The Worker (build/worker on plain workerd, as `bash scripts/serve`
// runs it: crates/worker/js/serve.mjs, Durable Objects on local SQLite in a persist directory)
// self-settles on one anvil with the TestUSDC contract (tests/contracts/TestUSDC.sol, EIP-3009),
// under mixed closed-loop traffic (bench/load.mjs) bounded in time and in count, while faults are
// injected:
//   1. the chain stops answering for a while (first refusing every call, then holding every call
//      until it comes back) and comes back with its state;
//   2. one relayer key is drained of gas (anvil_setBalance to 0);
//   3. the origin answers 500 for a while;
//   4. the Worker is killed (SIGKILL) and started again on the same persisted Durable Object state.
// Traffic classes: unpaid requests; exact payments (x402 v2 PAYMENT-SIGNATURE, an EIP-3009
// TransferWithAuthorization signed by viem) on before-response routes (assets and origin) and on a
// background route; pass holders (the pass of a paid 200, as header and as cookie); replays of
// settled payments (same resource, and another one); copies of one payment sent at once (in
// flight); hostile headers; bypass spellings of paid paths (those of tests/js/worker.test.mjs and more).
//
// Afterwards, payment by payment (by EIP-3009 nonce, https://eips.ethereum.org/EIPS/eip-3009), from
// the chain (the token's AuthorizationUsed and Transfer events, the relayers' nonces) and from every
// answer the Worker gave, checkSoak() judges: nothing served unpaid; no authorization settled twice;
// transfers to payTo == payments served + those answered pending (or not answered) that later
// mined; every pending settlement resolved (mined, or its validBefore passed unused); no 5xx but
// the declared ones (503 while the chain is down, the origin's own 500 while it fails, crates/worker/README.md
// "Behaviour"); every answer one the README declares for its class.
//
// The two stand-ins, both on 127.0.0.1, for faults real components cannot be made to produce on
// demand: a JSON-RPC proxy in front of anvil (tests/js/lib/chain.mjs startFaultyRpcProxy: anvil
// cannot stop answering for ten seconds and then answer again with its state), and the origin (a
// node:http server the soak makes fail). Everything else is real.
//
//   node bench/soak.mjs [--seconds 300] [--requests N] [--concurrency 16] [--payers 8] [--out bench/soak.md]
// `bash scripts/soak` builds the Worker first; tests/js/soak.test.mjs runs runSoak() short.
import http from 'node:http';
import os from 'node:os';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { get, quantile, target } from './load.mjs';
import {
  ANVIL_ACCOUNTS, ARTIFACTS_DIR, ROLES, TOKEN_ABI, TOKEN_ADDRESS, authorizationUsedEvents, deployToken,
  publicClient, randomNonce, rpc, signTransferAuthorization, startAnvil, startFaultyRpcProxy, transferEvents,
  walletClient,
} from '../tests/js/lib/chain.mjs';
import { TEST_PASS_SECRET, decodeHeader, encodeHeader, freePort, makePass } from '../tests/js/lib/worker.mjs';
import { serveWorker } from '../crates/worker/js/serve.mjs';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');
const NETWORK = 'eip155:31337';
const PAY_TO = ROLES.payTo.address;
const STATUS_TOKEN = 'soak-status-token-0123456789abcdef';
/** Relayer keys: anvil #9 (the demo's relayer), #6 and #7; none pays, none is payTo (ROLES). */
export const RELAYERS = Object.freeze([ANVIL_ACCOUNTS[9], ANVIL_ACCOUNTS[6], ANVIL_ACCOUNTS[7]]);

export const DEFAULTS = Object.freeze({
  seconds: 300, // load duration (the faults are placed at fractions of it)
  requests: Infinity, // and at most this many requests
  concurrency: 16,
  payers: 8,
  relayerKeys: 3, // used when the Worker knows settlement.relayerKeys, else 1
  chainDownSeconds: 10,
  originDownSeconds: 10,
  drainSeconds: 10, // with one relayer key only: refilled after this long (else nothing could settle)
  restartGapSeconds: 1,
  receiptTimeoutSeconds: 3,
  maxTimeoutSeconds: 60, // of every route: a payment never mined is provably never mined 60 s later
  seed: 15,
  log: (m) => process.stderr.write(`${m}\n`),
});

/** When each fault starts, as a fraction of the load's duration. */
const AT = { chain: 0.12, drain: 0.4, origin: 0.55, restart: 0.75 };

const BEFORE = ['/paid/one.html', '/paid/two.html', '/paid/three.html', '/origin/article', '/origin/news?id=7'];
const BACKGROUND = ['/api/quote.json', '/api/quote.json?pair=BTC'];
/** Spellings of paid paths that must all be refused unpaid (tests/js/worker.test.mjs, and more). */
export const BYPASS = [
  '/PAID/one.html', '/paid/ONE.HTML', '//paid/one.html', '/paid//one.html', '/paid/./one.html', '/x/../paid/one.html',
  '/paid%2fone.html', '/paid%2Fone.html', '/%70aid/one.html', '/paid/%6fne.html', '/paid%252fone.html', '/paid/one.html/',
  '/paid%5cone.html', '/api/..%2fpaid/one.html', '/paid/%2e/one.html', '/paid/x/%2e%2e/one.html', '/paid/one.html;',
  '/paid/one.html;x=1', '/paid/one.html?', '/API/quote.json', '/api//quote.json', '/api/%71uote.json', '/origin//article',
  '/ORIGIN/article', '/%6frigin/article', '/origin/./article',
];
const MIX = [['unpaid', 20], ['paid', 20], ['background', 10], ['pass', 14], ['replay', 8], ['inflight', 4], ['hostile', 14], ['bypass', 10]];
const PAID_CLASSES = new Set(['paid', 'background', 'replay', 'inflight', 'resend']);
const isContent = (body) => /paid-content:|origin-content/.test(body);
/** An answer that leaves a payment's outcome unknown to the client: none, a 5xx (not the origin's), or settlement_pending. */
const unknownAnswer = (a) => a.status === 0 || (a.status >= 500 && !a.origin500) || a.reason === 'settlement_pending';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);
const decode = (v) => {
  try {
    return v ? decodeHeader(v) : null;
  } catch {
    return null;
  }
};

/** A small seeded PRNG (mulberry32), so a run's mix can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------------------------------- the stand-in origin

/** The origin of /origin/* and /api/*: content with a marker, or 500 while `failing`. */
async function startOrigin() {
  const state = { failing: false, seen: 0, failed: 0 };
  const server = http.createServer((req, res) => {
    state.seen++;
    if (state.failing) {
      state.failed++;
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('origin failed (soak fault)');
    } else if (req.url.startsWith('/api/')) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60' });
      res.end(JSON.stringify({ pair: 'ETH/USD', price: '3000.00', marker: 'origin-content' }));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' });
      res.end(`origin-content ${req.url}`);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

// ------------------------------------------------------------------------------------------- the Worker

/** The soak's X402 configuration: the tests' routes plus an origin route, a background route on the origin. */
export function soakConfig({ rpcUrl, originUrl, keys, maxTimeoutSeconds, receiptTimeoutSeconds }) {
  const origin = { source: 'origin', url: originUrl };
  const settlement = { mode: 'self', rpcUrl, receiptTimeoutSeconds };
  if (keys > 1) Object.assign(settlement, { relayerKeys: keys, maxInFlightPerKey: 16 });
  return {
    payTo: PAY_TO,
    networks: [NETWORK],
    content: { source: 'assets' },
    maxTimeoutSeconds,
    settlement,
    routes: [
      { pattern: 'GET /paid/one.html', price: '$0.01', description: 'One', mimeType: 'text/html' },
      { pattern: 'GET /paid/two.html', price: '$0.02', description: 'Two', mimeType: 'text/html' },
      { pattern: 'GET /paid/three.html', price: '$0.05', description: 'Three', mimeType: 'text/html' },
      { pattern: 'GET /paid/*', price: '$0.01', description: 'Paid', mimeType: 'text/html' },
      { pattern: 'GET /origin/*', price: '$0.01', description: 'Origin', content: origin },
      { pattern: 'GET /api/*', price: '$0.001', description: 'Quote', settlementOrder: 'background', passLifetimeSeconds: 0, content: origin },
    ],
  };
}

function workerSettings(workerDir, config, keys) {
  const secrets = { X402_PASS_SECRET: TEST_PASS_SECRET, X402_STATUS_TOKEN: STATUS_TOKEN };
  RELAYERS.slice(0, keys).forEach((k, i) => { secrets[i === 0 ? 'X402_RELAYER_KEY' : `X402_RELAYER_KEY_${i + 1}`] = k.privateKey; });
  return {
    name: 'x402-soak',
    main: path.join(workerDir, 'shim.mjs'),
    compatibilityDate: '2026-11-01',
    compatibilityFlags: [],
    vars: { X402: config },
    secrets,
    durableObjects: [
      { name: 'X402_REPLAY_GUARD', className: 'ReplayGuard', sql: true },
      { name: 'X402_RELAYER', className: 'Relayer', sql: true },
      { name: 'X402_CHANNEL', className: 'Channel', sql: true },
    ],
    assets: { dir: path.join(ROOT, 'www'), binding: 'ASSETS' },
  };
}

/** Starts workerd and waits for /x402/health to answer; on a taken port, tries a new one. */
async function startWorkerd(settings, { dir, stateDir, port }) {
  for (let attempt = 0; ; attempt++) {
    try {
      const w = await serveWorker(settings, { dir, port, stateDir, readyTimeoutMs: 30_000, verbose: true });
      for (let i = 0; i < 300; i++) {
        try {
          const res = await fetch(`${w.url}/x402/health`);
          await res.text();
          return { ...w, port };
        } catch {
          await sleep(50);
        }
      }
      throw new Error('workerd accepts connections but /x402/health never answered');
    } catch (e) {
      if (attempt >= 2) throw e;
      port = await freePort();
    }
  }
}

// ------------------------------------------------------------------------------------------- the run

/**
 * Runs the soak and returns everything checkSoak() and report() need. `opts`: DEFAULTS' keys;
 * `workerDir` (default build/worker, copied first so a rebuild during the run changes nothing).
 */
export async function runSoak(options = {}) {
  const o = { ...DEFAULTS, ...options };
  const log = o.log;
  const began = Date.now();
  const work = path.join(ARTIFACTS_DIR, `soak-${process.pid}-${began}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const built = path.resolve(o.workerDir ?? path.join(ROOT, 'build', 'worker'));
  if (!existsSync(path.join(built, 'shim.mjs'))) throw new Error(`${built} is missing: bash scripts/build-worker`);
  const workerDir = path.join(work, 'worker');
  cpSync(built, workerDir, { recursive: true });

  const stops = [];
  const cleanup = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    // ---------------------------------------------------------------- chain, payers, origin, proxy
    const chain = await startAnvil({ logFile: path.join(work, 'anvil.log') });
    stops.push(chain.stop);
    await deployToken(chain.rpcUrl);
    const payers = ROLES.payers.slice(0, o.payers).map((a) => ({ address: a.address, privateKey: a.privateKey }));
    const minter = walletClient(chain.rpcUrl, ROLES.deployer);
    const client = publicClient(chain.rpcUrl);
    const mint = async (address, amount) => {
      const hash = await minter.writeContract({ address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'mint', args: [address, amount], chain: null });
      await client.waitForTransactionReceipt({ hash });
    };
    while (payers.length < o.payers) {
      const key = generatePrivateKey();
      const payer = { address: privateKeyToAccount(key).address, privateKey: key };
      await mint(payer.address, 1_000_000_000n);
      payers.push(payer);
    }
    // A payer of its own for the replay-guard expiry probe (short validBefore), outside the load.
    const probeKey = generatePrivateKey();
    const probePayer = { address: privateKeyToAccount(probeKey).address, privateKey: probeKey };
    await mint(probePayer.address, 1_000_000n);

    const proxy = await startFaultyRpcProxy(chain.rpcUrl);
    stops.push(proxy.close);
    const origin = await startOrigin();
    stops.push(origin.close);

    // ---------------------------------------------------------------- the Worker (pool if it has one)
    const stateDir = path.join(work, 'state');
    const wdir = path.join(work, 'workerd');
    let keys = o.relayerKeys;
    const configFor = (k) => soakConfig({ rpcUrl: proxy.url, originUrl: origin.url, keys: k, maxTimeoutSeconds: o.maxTimeoutSeconds, receiptTimeoutSeconds: o.receiptTimeoutSeconds });
    let settings = workerSettings(workerDir, configFor(keys), keys);
    let worker = await startWorkerd(settings, { dir: wdir, stateDir, port: await freePort() });
    const probe = await fetch(`${worker.url}/paid/one.html`);
    const probeBody = await probe.text();
    let poolNote = `${keys} relayer keys (settlement.relayerKeys = ${keys}, maxInFlightPerKey = 16)`;
    if (probe.status === 500 && /invalid_config/.test(probeBody) && keys > 1) {
      // This Worker does not know settlement.relayerKeys yet: one relayer key (X402_RELAYER_KEY).
      poolNote = `1 relayer key: this Worker refused settlement.relayerKeys (${JSON.parse(probeBody).message.slice(0, 160)})`;
      await worker.stop();
      keys = 1;
      settings = workerSettings(workerDir, configFor(1), 1);
      worker = await startWorkerd(settings, { dir: wdir, stateDir, port: worker.port });
    } else if (probe.status !== 402) {
      throw new Error(`the Worker answered ${probe.status} to an unpaid request: ${probeBody.slice(0, 300)}`);
    }
    stops.push(() => worker.stop());
    const relayers = RELAYERS.slice(0, keys);
    log(`soak: ${poolNote}; Worker on ${worker.url}, anvil ${chain.rpcUrl} behind ${proxy.url}, origin ${origin.url}`);

    const status = async (payer) => {
      try {
        const res = await fetch(`${worker.url}/.well-known/x402/status${payer ? `?payer=${payer}` : ''}`, {
          headers: { authorization: `Bearer ${STATUS_TOKEN}` },
          signal: AbortSignal.timeout(5_000),
        });
        const body = await res.text();
        return res.status === 200 ? JSON.parse(body) : null;
      } catch {
        return null;
      }
    };
    const statusAtStart = await status();

    // The offers, as a client reads them from each path's 402.
    const offers = new Map();
    for (const p of [...BEFORE, ...BACKGROUND, '/paid/elsewhere.html']) {
      const res = await fetch(worker.url + p);
      await res.text();
      if (res.status !== 402) throw new Error(`${p}: ${res.status}`);
      offers.set(p, decodeHeader(res.headers.get('payment-required')).accepts[0]);
    }

    const fromBlock = (await client.getBlockNumber({ cacheTime: 0 })) + 1n;
    const relayerNoncesStart = await Promise.all(RELAYERS.map((r) => client.getTransactionCount({ address: r.address, blockTag: 'latest' })));

    // ---------------------------------------------------------------- ledger and requests
    const records = [];
    /** nonce (lower case) → { nonce, payer, path, amount, validBefore, order, kind, header, answers } */
    const payments = new Map();
    const settled = []; // { header, path, nonce } of payments answered 200
    const passes = []; // { path, pass, cookie, tx }
    const retries = []; // { entry, due }: payments whose outcome the client does not know, to send again
    const windows = {};
    const timeline = [];
    const rnd = prng(o.seed);
    const pick = (a) => a[Math.floor(rnd() * a.length)];
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency * 4 });
    const base = target(worker.url, agent);
    let t0 = performance.now();
    const t = () => (performance.now() - t0) / 1000;
    const mark = (what) => {
      timeline.push({ t: t(), what });
      log(`soak ${t().toFixed(1)} s: ${what}`);
    };

    async function send(cls, kind, p, headers, extra = {}) {
      const rec = { cls, kind, path: p, start: t(), ...extra };
      try {
        const res = await get({ ...base, path: p }, headers);
        rec.status = res.status;
        rec.ms = res.ms;
        rec.content = isContent(res.body);
        rec.origin500 = res.status === 500 && res.body.startsWith('origin failed');
        const pr = decode(res.headers['payment-required']);
        let reason = pr?.error ?? null;
        if (!reason && res.status !== 200) {
          try { reason = JSON.parse(res.body).error ?? null; } catch { /* not JSON */ }
        }
        rec.reason = reason;
        rec.challenge = !!pr?.accepts?.length;
        const receipt = decode(res.headers['payment-response']);
        if (receipt) {
          rec.tx = receipt.transaction || null;
          rec.settleReason = receipt.errorReason ?? null;
          if (receipt.success === false && receipt.errorReason) rec.reason = receipt.errorReason;
        }
        rec.background = res.headers['x-payment-settlement'] === 'background';
        rec.pass = res.headers['x-payment-pass'] ?? null;
        rec.cookie = res.headers['set-cookie']?.[0]?.split(';')[0] ?? null;
        if (res.status >= 500 && !rec.origin500) rec.body = res.body.slice(0, 300);
      } catch (e) {
        rec.status = 0;
        rec.error = String(e.message ?? e);
      }
      rec.end = t();
      records.push(rec);
      return rec;
    }

    async function sign(payer, p, { validBefore, mutate } = {}) {
      const acc = offers.get(p);
      const now = nowSec();
      const c = {
        privateKey: payer.privateKey,
        accepted: structuredClone(acc),
        auth: { from: payer.address, to: acc.payTo, value: acc.amount, validAfter: String(now - 600), validBefore: String(validBefore ?? now + acc.maxTimeoutSeconds), nonce: randomNonce() },
      };
      mutate?.(c);
      const signature = await signTransferAuthorization({ privateKey: c.privateKey, ...c.auth, chainId: 31337, token: acc.asset, name: acc.extra.name, version: acc.extra.version });
      return { header: encodeHeader({ x402Version: 2, accepted: c.accepted, payload: { signature, authorization: c.auth } }), auth: c.auth };
    }

    function register(payer, p, auth, header, kind) {
      const entry = { nonce: auth.nonce, payer: payer.address, path: p, amount: String(auth.value), validBefore: Number(auth.validBefore), order: BACKGROUND.includes(p) ? 'background' : 'before-response', kind, header, answers: [] };
      payments.set(auth.nonce.toLowerCase(), entry);
      return entry;
    }

    function answered(entry, rec, otherResource = false) {
      rec.nonce = entry.nonce;
      if (otherResource) rec.otherResource = true;
      entry.answers.push({ status: rec.status, reason: rec.reason ?? null, tx: rec.tx ?? null, error: rec.error ?? null, origin500: !!rec.origin500, start: rec.start, t: rec.end, cls: rec.cls, otherResource });
      if (!otherResource && entry.kind === 'fresh' && unknownAnswer(rec) && (entry.resends ?? 0) < 3) retries.push({ entry, due: rec.end + 2 });
      if (rec.status === 200 && !otherResource) {
        settled.push({ header: entry.header, path: entry.path, nonce: entry.nonce });
        if (rec.pass) passes.push({ path: entry.path, pass: rec.pass, cookie: rec.cookie, tx: rec.tx });
      }
    }

    async function pay(cls, paths, copies = 1) {
      const payer = pick(payers);
      const p = pick(paths);
      const { header, auth } = await sign(payer, p);
      const entry = register(payer, p, auth, header, 'fresh');
      const recs = await Promise.all(Array.from({ length: copies }, () => send(cls, copies > 1 ? 'copy' : 'fresh', p, { 'PAYMENT-SIGNATURE': header })));
      for (const r of recs) answered(entry, r);
      return recs;
    }

    const hostile = {
      garbage: () => send('hostile', 'garbage', pick(BEFORE), { 'PAYMENT-SIGNATURE': pick(['not base64!!', Buffer.from('{"x402Version":2,"payload":').toString('base64'), 'e30=']) }),
      huge: () => send('hostile', 'huge', pick(BEFORE), { 'PAYMENT-SIGNATURE': 'A'.repeat(40_000) }),
      v1garbage: () => send('hostile', 'v1-garbage', pick(BEFORE), { 'X-PAYMENT': Buffer.from('{"x402Version":1,"scheme":"exact"}').toString('base64') }),
      async wrongNetwork() {
        const payer = pick(payers);
        const p = pick(BEFORE);
        const { header, auth } = await sign(payer, p, { mutate: (c) => { c.accepted.network = 'eip155:84532'; } });
        const entry = register(payer, p, auth, header, 'hostile');
        answered(entry, await send('hostile', 'wrong-network', p, { 'PAYMENT-SIGNATURE': header }), true);
      },
      async expired() {
        const payer = pick(payers);
        const p = pick(BEFORE);
        const { header, auth } = await sign(payer, p, { validBefore: nowSec() - 10 });
        const entry = register(payer, p, auth, header, 'hostile');
        answered(entry, await send('hostile', 'expired', p, { 'PAYMENT-SIGNATURE': header }), true);
      },
      async badSignature() {
        const payer = pick(payers);
        const p = pick(BEFORE);
        const { header, auth } = await sign(payer, p, { mutate: (c) => { c.privateKey = ANVIL_ACCOUNTS[6].privateKey; } });
        const entry = register(payer, p, auth, header, 'hostile');
        answered(entry, await send('hostile', 'bad-signature', p, { 'PAYMENT-SIGNATURE': header }), true);
      },
      async underpaid() {
        const payer = pick(payers);
        const p = '/paid/three.html';
        const { header, auth } = await sign(payer, p, { mutate: (c) => { c.accepted.amount = '10000'; c.auth.value = '10000'; } });
        const entry = register(payer, p, auth, header, 'hostile');
        answered(entry, await send('hostile', 'underpaid', p, { 'PAYMENT-SIGNATURE': header }), true);
      },
      forgedPass: () => send('hostile', 'forged-pass', '/paid/one.html', { 'X-PAYMENT-PASS': makePass({ secret: 'not-the-soak-secret-0123456789', path: '/paid/one.html', payer: payers[0].address, transaction: `0x${'ab'.repeat(32)}`, expires: nowSec() + 600 }) }),
      async passElsewhere() {
        if (!passes.length) return hostile.forgedPass();
        const ps = pick(passes);
        const other = ps.path === '/paid/two.html' ? '/paid/three.html' : '/paid/two.html';
        return send('hostile', 'pass-elsewhere', other, { 'X-PAYMENT-PASS': ps.pass });
      },
    };
    const hostileKinds = Object.keys(hostile);

    const actions = {
      unpaid: () => send('unpaid', 'none', pick([...BEFORE, ...BACKGROUND]), {}),
      paid: () => pay('paid', BEFORE),
      background: () => pay('background', BACKGROUND),
      pass: () => {
        if (!passes.length) return actions.unpaid();
        const ps = pick(passes);
        const byCookie = rnd() < 0.5 && ps.cookie;
        return send('pass', byCookie ? 'cookie' : 'header', ps.path, byCookie ? { Cookie: ps.cookie } : { 'X-PAYMENT-PASS': ps.pass }, { passTx: ps.tx });
      },
      replay: async () => {
        if (!settled.length) return actions.paid();
        const s = pick(settled);
        const entry = payments.get(s.nonce.toLowerCase());
        const elsewhere = rnd() < 0.25;
        const p = elsewhere ? '/paid/elsewhere.html' : s.path;
        answered(entry, await send('replay', elsewhere ? 'other-resource' : 'same-resource', p, { 'PAYMENT-SIGNATURE': s.header }), elsewhere);
      },
      inflight: () => pay('inflight', rnd() < 0.75 ? BEFORE : BACKGROUND, 3),
      hostile: () => hostile[pick(hostileKinds)](),
      bypass: () => send('bypass', 'spelling', pick(BYPASS), {}),
    };
    // A client that got no answer, a 503, or settlement_pending sends the same payment again
    // (crates/browser keeps such a payment and re-sends it instead of signing again).
    async function resend(item, kind) {
      item.entry.resends = (item.entry.resends ?? 0) + 1;
      answered(item.entry, await send('resend', kind, item.entry.path, { 'PAYMENT-SIGNATURE': item.entry.header }));
    }
    const dueRetry = () => {
      const i = retries.findIndex((x) => x.due <= t());
      return i < 0 ? null : retries.splice(i, 1)[0];
    };
    const total = MIX.reduce((a, [, w]) => a + w, 0);
    const pickClass = () => {
      let x = rnd() * total;
      for (const [c, w] of MIX) if ((x -= w) < 0) return c;
      return MIX[0][0];
    };

    // ---------------------------------------------------------------- faults
    let loadOver = false;
    const until = async (sec) => {
      while (!loadOver && t() < sec) await sleep(Math.min(200, (sec - t()) * 1000));
      return !loadOver;
    };
    const setRelayerBalance = (r, wei) => rpc(chain.rpcUrl, 'anvil_setBalance', [r.address, `0x${wei.toString(16)}`]);
    const drained = keys > 1 ? relayers[1] : relayers[0];
    const drainedBalance = await client.getBalance({ address: drained.address });
    async function faults() {
      const T = o.seconds;
      if (await until(AT.chain * T)) {
        windows.chain = [t(), null];
        proxy.set('refuse');
        mark('chain down: the RPC proxy refuses every call');
        const stallAt = AT.chain * T + o.chainDownSeconds / 2;
        if (await until(stallAt)) {
          proxy.set('stall');
          windows.stall = [t(), null];
          mark('chain stalled: the RPC proxy holds every call');
        }
        await until(AT.chain * T + o.chainDownSeconds);
        proxy.set('up');
        windows.chain[1] = t();
        if (windows.stall) windows.stall[1] = t();
        mark(`chain back: held calls forwarded (proxy so far: ${JSON.stringify(proxy.counts)})`);
      }
      if (await until(AT.drain * T)) {
        await setRelayerBalance(drained, 0n);
        // With several keys it stays drained; its window is the time the Worker may take to notice.
        windows.drain = [t(), keys > 1 ? t() + o.drainSeconds : null];
        mark(`relayer key ${relayers.indexOf(drained) + 1} (${drained.address}) drained: balance 0${keys > 1 ? ' (stays drained)' : ''}`);
        if (keys > 1 && statusAtStart) {
          // When does the operator's status endpoint show it (lowGas)?
          for (let i = 0; i < o.drainSeconds * 2 && !loadOver; i++) {
            const st = (await status())?.relayers?.find((r) => r.address?.toLowerCase() === drained.address.toLowerCase());
            if (st?.lowGas) {
              mark(`status endpoint: relayer key ${st.index} lowGas (balance ${st.balance})`);
              break;
            }
            await sleep(500);
          }
        }
        if (keys === 1) {
          await until(AT.drain * T + o.drainSeconds);
          await setRelayerBalance(drained, drainedBalance);
          windows.drain[1] = t();
          mark('relayer key 1 refilled (the only key)');
        }
      }
      if (await until(AT.origin * T)) {
        origin.state.failing = true;
        windows.origin = [t(), null];
        mark('origin answers 500');
        await until(AT.origin * T + o.originDownSeconds);
        origin.state.failing = false;
        windows.origin[1] = t();
        mark('origin answers again');
      }
      if (await until(AT.restart * T)) {
        windows.restart = [t(), null];
        try { process.kill(-worker.pid, 'SIGKILL'); } catch { /* gone */ }
        await worker.exit;
        mark(`Worker killed (SIGKILL to workerd, pid ${worker.pid})`);
        await sleep(o.restartGapSeconds * 1000);
        worker = await startWorkerd(settings, { dir: `${wdir}-restarted`, stateDir, port: worker.port });
        base.port = worker.port;
        windows.restart[1] = t();
        mark(`Worker started again on the same Durable Object state (${worker.url})`);
      }
    }

    // ---------------------------------------------------------------- the replay-guard expiry probe
    // Three payments with validBefore = now + 20 s from a payer of its own; the status endpoint's
    // guard count for that payer must fall back once they have expired (the guard's alarm evicts them).
    const guardProbe = { available: !!statusAtStart };
    async function guardProbeStart() {
      if (!guardProbe.available) return;
      guardProbe.before = (await status(probePayer.address))?.guard?.entries ?? null;
      const validBefore = nowSec() + 20;
      guardProbe.validBefore = validBefore;
      guardProbe.answers = [];
      for (let i = 0; i < 3; i++) {
        const { header, auth } = await sign(probePayer, '/paid/one.html', { validBefore });
        const entry = register(probePayer, '/paid/one.html', auth, header, 'fresh');
        const rec = await send('paid', 'guard-probe', '/paid/one.html', { 'PAYMENT-SIGNATURE': header });
        answered(entry, rec);
        guardProbe.answers.push(rec.status);
      }
      guardProbe.during = (await status(probePayer.address))?.guard?.entries ?? null;
      // Then, from validBefore on, when the count falls back to 0 (the README's bound: validBefore
      // plus receiptTimeoutSeconds, then the guard's alarm).
      while (nowSec() < validBefore) await sleep(250);
      for (let i = 0; i < 120; i++) {
        guardProbe.after = (await status(probePayer.address))?.guard?.entries ?? null;
        if (guardProbe.after === 0) break;
        await sleep(500);
      }
      guardProbe.afterSeconds = Date.now() / 1000 - validBefore;
    }

    // ---------------------------------------------------------------- load
    t0 = performance.now();
    const startedAt = Date.now() / 1000;
    mark(`load starts: ${o.seconds} s, at most ${o.requests} requests, concurrency ${o.concurrency}, ${payers.length} payers`);
    let issued = 0;
    const faultRun = faults();
    const probeRun = guardProbeStart();
    const deadline = o.seconds;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (t() < deadline && issued < o.requests) {
          issued++;
          const before = records.length;
          const retry = t() < deadline - 11 ? dueRetry() : null; // a retry may wait 10 s for its first copy
          if (retry) await resend(retry, 'during-load');
          else await actions[pickClass()]();
          // A Worker that is down answers at once: do not spin (and sign) meanwhile.
          if (records.slice(before).some((r) => r.status === 0)) await sleep(100);
        }
      }),
    );
    const loadSeconds = t();
    loadOver = true;
    mark(`load ends: ${records.length} requests`);
    await faultRun;
    const skipped = ['chain', 'drain', 'origin', 'restart'].filter((w) => !windows[w]);
    if (skipped.length) mark(`faults not reached (the load ended first): ${skipped.join(', ')}`);
    proxy.set('up');
    origin.state.failing = false;

    // ---------------------------------------------------------------- recovery
    // Every payment whose outcome the client does not know (settlement_pending, no answer, a 503 or a
    // 5xx) is sent again once, as a client would; then the chain is polled until each such payment,
    // and each one served on a background route, is used on chain or provably never will be (its
    // validBefore passed unused); then those mined and never served are sent once more.
    const recoveryStart = t();
    await sleep((o.receiptTimeoutSeconds + 1) * 1000);
    const served = (e) => e.answers.some((a) => a.status === 200 && !a.otherResource);
    const runRetries = async (list, kind) => {
      for (let i = 0; i < list.length; i += o.concurrency) await Promise.all(list.slice(i, i + o.concurrency).map((x) => resend(x, kind)));
    };
    const queued = retries.splice(0).filter((x) => !served(x.entry));
    await runRetries(queued, 'after-load');
    mark(`recovery: ${queued.length} payments of unknown outcome sent again`);
    const usedNow = async () => new Set((await authorizationUsedEvents(chain.rpcUrl, fromBlock)).map((u) => `${u.authorizer.toLowerCase()}:${u.nonce.toLowerCase()}`));
    const keyOf = (e) => `${e.payer.toLowerCase()}:${e.nonce.toLowerCase()}`;
    const watch = [...payments.values()].filter((e) => e.kind === 'fresh' && (e.answers.some((a) => !a.otherResource && unknownAnswer(a)) || (e.order === 'background' && served(e))));
    // A payment of unknown outcome may still mine until its validBefore; a background settlement
    // runs right after its answer, so it is given the receipt timeout and a few seconds.
    const watchFrom = nowSec();
    const watchUntil = (e) => (e.answers.some((a) => !a.otherResource && unknownAnswer(a)) ? e.validBefore : Math.min(e.validBefore, watchFrom + o.receiptTimeoutSeconds + 5));
    let used = await usedNow();
    while (watch.some((e) => !used.has(keyOf(e)) && nowSec() <= watchUntil(e))) {
      await sleep(1000);
      used = await usedNow();
    }
    const minedUnserved = watch.filter((e) => used.has(keyOf(e)) && !served(e) && nowSec() + 6 < e.validBefore);
    await runRetries(minedUnserved.map((entry) => ({ entry })), 'after-mined');
    mark(`recovery: ${watch.length} payments of unknown outcome or served in the background: ${watch.filter((e) => used.has(keyOf(e))).length} mined, the rest not; ${minedUnserved.length} mined and not served sent again`);

    await probeRun;
    const statusAtEnd = await status();
    const recoverySeconds = t() - recoveryStart;

    // ---------------------------------------------------------------- the chain's side
    const usedEvents = await authorizationUsedEvents(chain.rpcUrl, fromBlock);
    const transfers = (await transferEvents(chain.rpcUrl, fromBlock)).filter((x) => x.to.toLowerCase() === PAY_TO.toLowerCase());
    const relayerNoncesEnd = await Promise.all(RELAYERS.map((r) => client.getTransactionCount({ address: r.address, blockTag: 'latest' })));
    const relayerBalances = await Promise.all(RELAYERS.map((r) => client.getBalance({ address: r.address })));
    agent.destroy();

    const result = {
      options: { ...o, log: undefined, requests: Number.isFinite(o.requests) ? o.requests : null },
      keys,
      poolNote,
      startedAt,
      loadSeconds,
      recoverySeconds,
      records,
      payments: [...payments.values()].map(({ header, ...e }) => e),
      windows,
      timeline,
      proxyCounts: { ...proxy.counts },
      origin: { ...origin.state },
      chain: {
        used: usedEvents.map((u) => ({ authorizer: u.authorizer, nonce: u.nonce, tx: u.transactionHash })),
        transfers: transfers.map((x) => ({ from: x.from, to: x.to, value: String(x.value), tx: x.transactionHash })),
        relayers: RELAYERS.map((r, i) => ({ address: r.address, inUse: i < keys, txs: relayerNoncesEnd[i] - relayerNoncesStart[i], balance: String(relayerBalances[i]) })),
      },
      payers: payers.map((p) => p.address).concat(probePayer.address),
      drained: drained.address,
      status: { start: statusAtStart, end: statusAtEnd },
      guardProbe,
      checkedAt: nowSec(),
      finishedAt: new Date().toISOString(),
      secs: (Date.now() - began) / 1000,
    };
    writeFileSync(path.join(work, 'soak-result.json'), JSON.stringify(result, null, 1));
    result.resultFile = path.join(work, 'soak-result.json');
    return result;
  } finally {
    await cleanup();
    rmSync(path.join(work, 'worker'), { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- the checks

/** Whether record `r` (start..end, seconds) overlaps `w` ([from, to], to null: still on), widened by `grace`. */
const overlaps = (r, w, grace = 0) => !!w && r.start <= (w[1] ?? Infinity) + grace && r.end >= w[0];

/**
 * Why an answer is not one crates/worker/README.md declares for its class at that moment (null if
 * it is). `windows`: when each fault was on; `o`: the run's options (grace after a fault).
 */
export function undeclared(r, windows, o) {
  const chainGrace = o.receiptTimeoutSeconds + 2;
  const inChain = overlaps(r, windows.chain, chainGrace);
  const inRestart = overlaps(r, windows.restart, 2);
  const inOrigin = overlaps(r, windows.origin, 1) && (r.path.startsWith('/origin/') || r.path.startsWith('/api/'));
  const inDrain = overlaps(r, windows.drain, 10);
  if (r.status === 0) return inRestart ? null : `no answer (${r.error}) outside the Worker restart`;
  if (r.status === 200 && !r.content) return 'a 200 without the content';
  if (r.status !== 200 && r.content) return `content in a ${r.status}`;
  if (r.origin500) return inOrigin ? null : "the origin's 500 outside the origin fault";
  if (r.status === 503) {
    // A signature that does not recover to `from` is judged as a contract signer's, on chain (README
    // "Behaviour", smart wallets): it too needs the node.
    if (inChain || inRestart) return PAID_CLASSES.has(r.cls) || r.kind === 'bad-signature' ? null : `503 for ${r.cls} ${r.kind}`;
    return `503 ${r.reason} outside the chain and restart faults`;
  }
  if (r.status >= 500) return `${r.status} ${r.reason ?? ''} ${r.body ?? ''}`.trim();
  switch (r.cls) {
    case 'unpaid':
    case 'bypass':
      return r.status === 402 && r.challenge ? null : `${r.status} ${r.reason ?? ''} (expected a 402 challenge)`;
    case 'hostile':
      return [402, 400, 431].includes(r.status) ? null : `${r.status} (expected a refusal)`;
    case 'pass':
      return r.status === 200 ? null : `${r.status} ${r.reason ?? ''} for a valid pass`;
    default: {
      // A payment: served, or refused with a reason that fits the moment.
      if (r.status === 200) return r.otherResource ? 'a payment served for another resource' : null;
      if (r.status !== 402) return `${r.status} ${r.reason ?? ''}`;
      const ok = new Set(['settlement_pending']);
      if (r.otherResource || r.cls === 'replay' || r.cls === 'resend') {
        for (const x of ['invalid_exact_evm_nonce_already_used', 'invalid_exact_evm_payload_authorization_valid_before', 'duplicate_settlement']) ok.add(x);
      }
      // Another resource at another price: the offer does not match.
      if (r.otherResource) ok.add('invalid_exact_evm_authorization_value');
      if (r.cls === 'inflight') ok.add('duplicate_settlement');
      if (inDrain || inChain || inRestart) ok.add('unexpected_settle_error');
      if (inChain) ok.add('invalid_exact_evm_transaction_failed');
      return ok.has(r.reason) ? null : `402 ${r.reason}`;
    }
  }
}

/**
 * The soak's invariants, from runSoak()'s result (pure: a test can feed it a doctored result).
 * Returns [{ id, name, ok, detail, items, reported }]: `reported` checks are findings shown in the
 * report, not asserted (a Worker behaviour this soak exposes, not an invariant it guarantees).
 */
export function checkSoak(result) {
  const { records, payments, chain, windows, options } = result;
  const checks = [];
  const add = (id, name, items, detail) => checks.push({ id, name, ok: items.length === 0, detail, items: items.slice(0, 10) });
  const low = (s) => String(s).toLowerCase();
  const payerSet = new Set(result.payers.map(low));
  const byNonce = new Map(payments.map((p) => [low(p.nonce), p]));
  const usedCount = new Map();
  for (const u of chain.used) usedCount.set(`${low(u.authorizer)}:${low(u.nonce)}`, (usedCount.get(`${low(u.authorizer)}:${low(u.nonce)}`) ?? 0) + 1);
  const usedTx = new Map(chain.used.map((u) => [`${low(u.authorizer)}:${low(u.nonce)}`, low(u.tx)]));
  const keyOf = (p) => `${low(p.payer)}:${low(p.nonce)}`;
  const served = (p) => p.answers.some((a) => a.status === 200 && !a.otherResource);
  const settledTxs = new Set(chain.used.map((u) => low(u.tx)));

  // 1. Nothing served unpaid. A background route serves before it settles (README "Behaviour"): a
  // payment served there whose settlement was refused or lost while a fault refused or lost
  // settlements (the chain down, a relayer without gas, the Worker killed with its waitUntil work) is
  // reported on its own (1b); anywhere else it fails this check.
  const leaks = records.filter((r) => ['unpaid', 'bypass', 'hostile'].includes(r.cls) && (r.status === 200 || r.content));
  const unsettled = payments.filter((p) => served(p) && !usedCount.has(keyOf(p)));
  // (Its first admission is where the settlement was tried: any of its requests overlapping the fault,
  // or answered up to 2 s before it: the settlement runs after the answer.)
  const early = (w) => w && [w[0] - 2, w[1]];
  const settleFault = (p) => p.order === 'background' && p.answers.some((a) => !a.otherResource
    && (overlaps({ start: a.start, end: a.t }, early(windows.chain), options.receiptTimeoutSeconds + 2) || overlaps({ start: a.start, end: a.t }, early(windows.drain), 2)
      || overlaps({ start: a.start, end: a.t }, early(windows.restart))));
  const elsewhere = records.filter((r) => r.otherResource && r.status === 200);
  const passBad = records.filter((r) => r.cls === 'pass' && r.status === 200 && !settledTxs.has(low(r.passTx)));
  const wrongTx = records.filter((r) => r.status === 200 && r.tx && r.nonce && usedTx.get(keyOf(byNonce.get(low(r.nonce)))) !== low(r.tx));
  add(
    'unpaid',
    'nothing served unpaid',
    [...leaks.map((r) => `${r.cls} ${r.kind} ${r.path} → ${r.status}`), ...unsettled.filter((p) => !settleFault(p)).map((p) => `${p.order} ${p.path} nonce ${p.nonce} served, never settled`),
      ...elsewhere.map((r) => `${r.path} served with another resource's payment`), ...passBad.map((r) => `pass of ${r.passTx} (not a settlement) served ${r.path}`),
      ...wrongTx.map((r) => `${r.path} 200 names tx ${r.tx}, the chain settled nonce ${r.nonce} in another`)],
    `${records.filter((r) => r.status === 200).length} answers 200: each a payment settled on chain for that resource, or a pass of one; unpaid, bypass and hostile requests: none served`,
  );
  const lost = unsettled.filter(settleFault);
  checks.push({
    id: 'backgroundLost',
    name: 'background payments served, then their settlement refused or lost (chain down, relayer drained, Worker killed)',
    ok: lost.length === 0,
    reported: true,
    detail: `${lost.length} of ${payments.filter((p) => p.order === 'background' && served(p)).length} background payments served were never settled: content given for nothing${lost.length ? ` (${lost.reduce((a, p) => a + BigInt(p.amount), 0n)} atomic units)` : ''}`,
    items: lost.slice(0, 5).map((p) => `${p.path} nonce ${p.nonce}: ${p.answers.map((a) => `${a.cls} ${a.status || 'no answer'} at ${a.start.toFixed(1)} s`).join('; ')}`),
  });

  // 2. No authorization settled twice.
  const twice = [...usedCount].filter(([, n]) => n > 1).map(([k, n]) => `${k} used ${n} times`);
  const relayerTxs = chain.relayers.reduce((a, r) => a + r.txs, 0);
  const extraTxs = relayerTxs !== chain.used.length ? [`relayers mined ${relayerTxs} transactions for ${chain.used.length} settlements (a reverted second send?)`] : [];
  const perTx = new Map();
  for (const x of chain.transfers) perTx.set(low(x.tx), (perTx.get(low(x.tx)) ?? 0) + 1);
  const multi = [...perTx].filter(([, n]) => n > 1).map(([tx, n]) => `tx ${tx}: ${n} transfers to payTo`);
  add('twice', 'no authorization settled twice', [...twice, ...multi], `${chain.used.length} authorizations used, each once; relayer transactions mined: ${relayerTxs}`);
  // 2b. Relayer transactions beyond the settlements: a second send of one authorization, which
  // the token reverts (it honours an authorization once). No money moves; its gas is wasted.
  // Reported: the Worker avoids them (one queued settlement per key, recognised when queued again)
  // but a retry racing the first send across a restart can still make one.
  checks.push({
    id: 'secondSends',
    name: 'no second send of a settled authorization (reverted, gas only)',
    ok: extraTxs.length === 0,
    reported: true,
    detail: `relayer transactions mined: ${relayerTxs}, authorizations used: ${chain.used.length}`,
    items: extraTxs,
  });

  // 3. Every transfer to payTo accounted, by nonce: a payment served, or answered pending / not answered.
  const unaccounted = [];
  let value = 0n;
  let expected = 0n;
  const usedByTx = new Map(chain.used.map((u) => [low(u.tx), u]));
  for (const x of chain.transfers) {
    value += BigInt(x.value);
    const u = usedByTx.get(low(x.tx));
    if (!u) { unaccounted.push(`transfer ${x.value} in ${x.tx} without an authorization`); continue; }
    const p = byNonce.get(low(u.nonce));
    if (!p || !payerSet.has(low(u.authorizer))) { unaccounted.push(`nonce ${u.nonce} of ${u.authorizer}: not a payment of this run`); continue; }
    expected += BigInt(p.amount);
    if (BigInt(x.value) !== BigInt(p.amount)) unaccounted.push(`nonce ${u.nonce}: ${x.value} moved for a price of ${p.amount}`);
    if (p.kind !== 'fresh') { unaccounted.push(`hostile payment ${u.nonce} (${p.path}) settled`); continue; }
    const told = p.answers.some((a) => !a.otherResource && (a.status === 200 || a.status === 0 || a.reason === 'settlement_pending'));
    if (!told) unaccounted.push(`nonce ${u.nonce} (${p.path}) settled, but every answer refused it: ${p.answers.map((a) => `${a.status} ${a.reason}`).join(', ')}`);
  }
  const servedCount = payments.filter(served).length;
  add(
    'accounted',
    'transfers to payTo == paid 200s + pending (or unanswered) that mined',
    unaccounted,
    `${chain.transfers.length} transfers (${value} atomic units, prices of their nonces ${expected}) = ${payments.filter((p) => served(p) && usedCount.has(keyOf(p))).length} payments served + ${payments.filter((p) => !served(p) && usedCount.has(keyOf(p))).length} mined without a 200; ${servedCount} payments served`,
  );

  // 4. Every pending settlement resolved: mined, or its validBefore passed unused.
  const pendingish = payments.filter((p) => p.kind === 'fresh' && p.answers.some((a) => !a.otherResource && (a.reason === 'settlement_pending' || a.status === 0)));
  const unresolved = pendingish.filter((p) => !usedCount.has(keyOf(p)) && result.checkedAt <= p.validBefore).map((p) => `${p.nonce} (${p.path}) neither mined nor expired`);
  add('pending', 'every pending settlement resolved', unresolved, `${pendingish.length} payments answered settlement_pending or not answered: ${pendingish.filter((p) => usedCount.has(keyOf(p))).length} mined, ${pendingish.filter((p) => !usedCount.has(keyOf(p)) && result.checkedAt > p.validBefore).length} expired unused`);

  // 4b. A payment whose transfer mined is served when the client sends it again (asserted since
  // the relayer tells the payer's guard about every transaction it concludes: a request cut off
  // after its broadcast left the payment in flight, charged and never served).
  // (A resend while the chain is down cannot be served: the transfer is not known yet. Only resends
  // after the chain is back count.)
  const chainBack = windows.chain?.[1] ?? -Infinity;
  const retried = payments.filter((p) => p.kind === 'fresh' && usedCount.has(keyOf(p)) && !served(p)
    && p.answers.some((a) => a.cls === 'resend' && a.start > chainBack && result.startedAt + a.start + 6 < p.validBefore));
  checks.push({
    id: 'retryServed',
    name: 'a payment that mined is served when sent again',
    ok: retried.length === 0,
    detail: `${payments.filter((p) => p.kind === 'fresh' && usedCount.has(keyOf(p)) && !served(p)).length} payments mined without ever being answered 200; ${retried.length} of them were sent again within their validity and still refused: charged, never served`,
    items: retried.slice(0, 5).map((p) => `${p.path} nonce ${p.nonce}: ${p.answers.map((a) => `${a.cls} ${a.status || 'no answer'} ${a.reason ?? ''} at ${a.start.toFixed(1)} s`).join('; ')}`),
  });

  // 4c. Payments whose request the Worker restart cut: what their retries got (reported). A retry
  // waits for the cut request's guard entry (README "Retries": up to 10 s, then settlement_pending);
  // when the authorization expires during that wait the Worker answers 503 "the replay guard
  // restarted during this request", which is the restart's doing: excluded from check 5, shown here.
  const cutByRestart = (p) => p.kind === 'fresh' && p.answers.some((a) => a.status === 0 && !a.otherResource && overlaps({ start: a.start, end: a.t }, windows.restart, 2));
  const cut = payments.filter(cutByRestart);
  const cutNonces = new Set(cut.map((p) => low(p.nonce)));
  const retriesOfCut = records.filter((r) => r.nonce && cutNonces.has(low(r.nonce)) && r.start > (windows.restart?.[1] ?? Infinity) && !r.otherResource);
  const tally = {};
  for (const r of retriesOfCut) {
    const k = r.status === 503 && /replay guard restarted/.test(r.body ?? '') ? '503 "the replay guard restarted during this request"' : `${r.status || 'no answer'}${r.reason ? ` ${r.reason}` : ''}`;
    tally[k] = (tally[k] ?? 0) + 1;
  }
  const guard503 = retriesOfCut.filter((r) => r.status === 503 && /replay guard restarted/.test(r.body ?? ''));
  checks.push({
    id: 'restartRetries',
    name: 'payments cut by the Worker restart are served or refused cleanly when sent again',
    ok: guard503.length === 0 && retried.length === 0,
    reported: true,
    detail: `${cut.length} payments had a request cut by the restart (${cut.filter((p) => usedCount.has(keyOf(p))).length} of them mined); their ${retriesOfCut.length} later requests: ${Object.entries(tally).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}`,
    items: guard503.slice(0, 5).map((r) => `${r.path} nonce ${r.nonce}: 503 at ${r.start.toFixed(1)}–${r.end.toFixed(1)} s (validBefore at ${(byNonce.get(low(r.nonce)).validBefore - result.startedAt).toFixed(1)} s)`),
  });

  // 5 and 6. Answers as declared.
  const odd = records.map((r) => [r, undeclared(r, windows, options)]).filter(([, why]) => why)
    .filter(([r]) => !(r.status === 503 && r.nonce && cutNonces.has(low(r.nonce)) && /replay guard restarted/.test(r.body ?? '')));
  const fives = odd.filter(([r]) => r.status >= 500 || r.status === 0);
  add('fivexx', 'no 5xx but the declared ones', fives.map(([r, why]) => `${r.cls} ${r.path} at ${r.start.toFixed(1)} s: ${why}`), `declared: 503 while the chain is down (or the Worker restarting), the origin's own 500 while it fails; ${records.filter((r) => r.status >= 500).length} 5xx in all`);
  add('declared', 'every answer declared for its class', odd.filter(([r]) => !(r.status >= 500 || r.status === 0)).map(([r, why]) => `${r.cls} ${r.kind} ${r.path} at ${r.start.toFixed(1)} s: ${why}`), 'unpaid and bypass: 402 with a challenge; hostile: 400/402/431; passes: 200; payments: 200, or 402 with a reason that fits the moment');
  return checks;
}

// ------------------------------------------------------------------------------------------- figures and report

/** Figures of a run: per class (count, statuses, p50, p99), totals, payments. */
export function figures(result) {
  const { records, payments } = result;
  const classes = [...new Set(records.map((r) => r.cls))];
  const per = classes.map((cls) => {
    const rs = records.filter((r) => r.cls === cls);
    const ms = rs.filter((r) => r.ms !== undefined).map((r) => r.ms).sort((a, b) => a - b);
    const statuses = {};
    for (const r of rs) {
      const k = r.status === 0 ? 'no answer' : `${r.status}${r.status === 402 && r.reason && PAID_CLASSES.has(cls) ? ` ${r.reason}` : ''}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    }
    return { cls, n: rs.length, statuses, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
  });
  const loadRecords = records.filter((r) => r.cls !== 'resend');
  const usedSet = new Set(result.chain.used.map((u) => `${u.authorizer.toLowerCase()}:${u.nonce.toLowerCase()}`));
  const fresh = payments.filter((p) => p.kind === 'fresh');
  const key = (p) => `${p.payer.toLowerCase()}:${p.nonce.toLowerCase()}`;
  const pending = fresh.filter((p) => p.answers.some((a) => a.reason === 'settlement_pending'));
  const unanswered = fresh.filter((p) => p.answers.some((a) => a.status === 0));
  const served = (p) => p.answers.some((a) => a.status === 200 && !a.otherResource);
  return {
    per,
    requests: loadRecords.length,
    rps: loadRecords.length / result.loadSeconds,
    paymentsSigned: fresh.length,
    paymentsServed: fresh.filter(served).length,
    settled: result.chain.used.length,
    pending: pending.length,
    pendingMined: pending.filter((p) => usedSet.has(key(p))).length,
    pendingServedLater: pending.filter((p) => served(p)).length,
    unanswered: unanswered.length,
    unansweredMined: unanswered.filter((p) => usedSet.has(key(p))).length,
    minedUnserved: fresh.filter((p) => usedSet.has(key(p)) && !served(p)).length,
    paid503: records.filter((r) => r.status === 503).length,
  };
}

const f1 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(1));

/** The run as markdown: machine, set-up, fault timeline, figures, invariants. */
export function report(result, checks, { command = 'node bench/soak.mjs' } = {}) {
  const fg = figures(result);
  const o = result.options;
  const pkg = (name) => JSON.parse(readFileSync(path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version;
  const rows = fg.per.map((c) => `| ${c.cls} | ${c.n} | ${Object.entries(c.statuses).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join('<br>')} | ${f1(c.p50)} | ${f1(c.p99)} |`);
  const relayerRows = result.chain.relayers.filter((r) => r.inUse).map((r, i) => {
    const s = result.status.end?.relayers?.find((x) => x.address?.toLowerCase() === r.address.toLowerCase());
    return `| ${i + 1} | ${r.address}${r.address === result.drained ? ' (drained)' : ''} | ${r.txs} | ${(Number(BigInt(r.balance) / 10n ** 12n) / 1e6).toFixed(4)} ETH | ${s ? Object.entries(s).filter(([k]) => !['index', 'address', 'balance'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ') : 'no status endpoint'} |`;
  });
  const g = result.guardProbe;
  const guard = g.available
    ? `Replay-guard expiry probe (a payer of its own, 3 payments with validBefore = now + 20 s, answers ${g.answers?.join(', ')}): guard entries ${g.before} before, ${g.during} after paying, ${g.after} ${f1(g.afterSeconds)} s after validBefore (README "Retries": an entry ends at validBefore + receiptTimeoutSeconds = ${o.receiptTimeoutSeconds} s, deleted by the guard's alarm).`
    : 'Replay-guard expiry probe: not run (this Worker has no `/.well-known/x402/status` endpoint).';
  return `# Soak, load and faults

Generated by \`${command}\` on ${result.finishedAt ?? new Date().toISOString()} (node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, workerd ${pkg('workerd')}, anvil from npm) in ${result.secs.toFixed(0)} s.
The Worker is \`build/worker\` on plain workerd (crates/worker/js/serve.mjs, Durable Objects on local SQLite in a
persist directory), settling itself on one anvil with TestUSDC; ${result.poolNote}. Load: ${f1(result.loadSeconds)} s,
closed loop at concurrency ${o.concurrency}, ${result.payers.length - 1} payers, routes priced $0.001–$0.05, \`maxTimeoutSeconds\` ${o.maxTimeoutSeconds},
\`receiptTimeoutSeconds\` ${o.receiptTimeoutSeconds}. Not a benchmark: load generator, anvil, proxy, origin and workerd share the machine.

Stand-ins (both on 127.0.0.1): a JSON-RPC proxy in front of anvil (\`tests/js/lib/chain.mjs\` \`startFaultyRpcProxy\`),
because anvil cannot be made to stop answering for a while and then answer again with its state, nor to refuse a call on
demand; and the origin of \`/origin/*\` and \`/api/*\`, a node:http server the soak makes answer 500. Everything else is real.

## Faults

| t (s) | event |
| ---: | --- |
${result.timeline.map((e) => `| ${e.t.toFixed(1)} | ${e.what} |`).join('\n')}

## Requests

${fg.requests} requests in ${f1(result.loadSeconds)} s: **${f1(fg.rps)} req/s** (recovery after the load: ${f1(result.recoverySeconds)} s, class *resend*).
Latency in ms, from send to the last byte.

| class | requests | statuses | p50 | p99 |
| --- | ---: | --- | ---: | ---: |
${rows.join('\n')}

Payments: ${fg.paymentsSigned} signed (not counting hostile ones), ${fg.paymentsServed} served, **${fg.settled} settled on chain**;
${fg.pending} answered \`settlement_pending\` (${fg.pendingMined} later mined, ${fg.pendingServedLater} served on a later request);
${fg.unanswered} not answered (the Worker killed; ${fg.unansweredMined} mined); ${fg.minedUnserved} mined and never answered 200.

## Invariants

From the chain (the token's AuthorizationUsed and Transfer events, the relayers' nonces) and every answer, payment by
payment (EIP-3009 nonce). Checks marked *reported, not asserted* are Worker behaviours the soak exposes; the test
(\`tests/js/soak.test.mjs\`) prints them and fails only on the others.

| check | result | detail |
| --- | --- | --- |
${checks.map((c) => `| ${c.name}${c.reported ? ' (reported, not asserted)' : ''} | ${c.ok ? 'holds' : '**fails**'} | ${c.detail}${c.ok ? '' : `<br>${c.items.map((x) => x.replace(/\|/g, '/')).join('<br>')}`} |`).join('\n')}

## Relayers at the end

| key | address | transactions mined | balance | status endpoint |
| ---: | --- | ---: | ---: | --- |
${relayerRows.join('\n')}

${guard}

RPC proxy: ${JSON.stringify(result.proxyCounts)}. Origin: ${result.origin.seen} requests, ${result.origin.failed} answered 500.
`;
}

// ------------------------------------------------------------------------------------------- command line

function parseArgs(argv) {
  const o = {};
  let out = path.join(ROOT, 'bench', 'soak.md');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--requests') o.requests = Number(val());
    else if (a === '--concurrency') o.concurrency = Number(val());
    else if (a === '--payers') o.payers = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--out') out = path.resolve(val());
    else if (a === '-h' || a === '--help') return { help: true };
    else throw new Error(`unknown argument ${a} (--help)`);
  }
  for (const [k, v] of Object.entries(o)) if (!(v > 0)) throw new Error(`--${k} must be a positive number`);
  if (o.payers > 5 + 64) throw new Error('--payers: at most 69');
  return { o, out };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`usage: bash scripts/soak [--seconds 300] [--requests N] [--concurrency 16] [--payers 8] [--seed 15] [--out bench/soak.md]
Mixed paid/unpaid/hostile traffic on the Worker (plain workerd) settling on anvil, with the chain stopped, a relayer
key drained, the origin failing and the Worker restarted during the run; then checks every payment against the chain.
Writes the report to --out and prints it. Exit status 1 if an invariant fails.
`);
    return;
  }
  const result = await runSoak(args.o);
  const checks = checkSoak(result);
  // The command as a user types it (where the report goes is not part of it).
  const argv = process.argv.slice(2).join(' ').replace(/--out \S+\s*/, '').trim();
  const md = report(result, checks, { command: `bash scripts/soak${argv ? ` ${argv}` : ''}` });
  writeFileSync(args.out, md);
  process.stdout.write(md);
  process.stderr.write(`soak: wrote ${path.relative(process.cwd(), args.out)}; records in ${result.resultFile}\n`);
  if (checks.some((c) => !c.ok && !c.reported)) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === HERE) {
  main().catch((e) => {
    process.stderr.write(`soak: ${e.stack ?? e}\n`);
    process.exit(2);
  });
}
