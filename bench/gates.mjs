// Benchmark (not a test): the exact-scheme gate end to end, three gates side by side on one anvil,
// in one run, with one load generator and one paying client (issue 14).
//
//   (1) ours: build/worker (a copy taken at start) on plain workerd, configured as `bash scripts/serve`
//       does (crates/worker/js/serve.mjs: Durable Objects on local SQLite, the assets directory www/,
//       outbound to 127.0.0.1 allowed), settlement mode "self" on anvil, before the response;
//   (2) the reference gate in Node: bench/ref-gate.mjs (@x402/hono paymentMiddleware +
//       x402ResourceServer + an in-process x402Facilitator with @x402/evm exact), served over
//       node:http (tests/npm/ref-server.mjs serveHono) in a child node process;
//   (3) the same reference app bundled (esbuild) as a Worker on the same workerd (nodejs_compat);
//   and, for the unpaid 402 alone, (4) workerd's floor: a Worker that answers every request with
//   our gate's 402 as constants (no gate at all), to show how much of a 402's cost is the runtime's.
//
// Every gate prices GET /paid/one.html at $0.01 (TestUSDC) to payTo = anvil #8 and answers with
// www/paid/one.html; each settles with a relayer key of its own (funded for the run).
//
// Load: a closed loop of C connections over keep-alive node:http (bench/load.mjs; no
// load-generator dependency). Paid requests: the reference client (@x402/fetch
// wrapFetchWithPaymentFromConfig + @x402/evm ExactEvmScheme, viem local accounts) on node's fetch,
// end to end (its unpaid request, signing, the paid request); the paid leg alone is timed too.
// Checked: every answer's status and headers, and the token's Transfer events during the paid
// phases == the paid 200s.
//
// Writes bench/results-gates.tmp (git-ignored), which scripts/bench puts into bench/results.md.
//   node bench/gates.mjs [requests per unpaid / pass phase, default 2000]
import { fork } from 'node:child_process';
import os from 'node:os';
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { get, phase, stats, target } from './load.mjs';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');
const NETWORK = 'eip155:31337';
const PAGE = readFileSync(path.join(ROOT, 'www', 'paid', 'one.html'), 'utf8');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
const decode = (v) => (v ? JSON.parse(Buffer.from(v, 'base64').toString('utf8')) : null);

// ------------------------------------------------------------------------------------------- reference gate in Node (child)

async function referenceNodeChild(options) {
  const { referenceApp } = await import('./ref-gate.mjs');
  const { serveHono } = await import('../tests/npm/ref-server.mjs');
  const server = await serveHono(referenceApp({ ...options, page: PAGE }));
  process.once('disconnect', () => process.exit(0));
  process.on('message', async (m) => {
    if (m?.op === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ op: 'ready', url: server.url });
}

/** Starts the Node reference gate; resolves { url, startMs, stop } once it listens. */
async function startReferenceNode(options) {
  const t0 = performance.now();
  const child = fork(HERE, ['--ref-node', JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const url = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`reference gate exited (${code})`)));
  });
  return {
    url,
    pid: child.pid,
    startMs: performance.now() - t0,
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

/** bench/ref-gate.mjs `worker` bundled for workerd (node builtins left to nodejs_compat). Returns its path. */
async function bundleReferenceWorker(dir) {
  const { build } = await import('esbuild');
  const names = new Set(builtinModules);
  const nodeBuiltins = {
    name: 'node-builtins',
    setup(b) {
      b.onResolve({ filter: /^[a-z_/:]+$/ }, (a) => {
        const n = a.path.replace(/^node:/, '');
        if (names.has(n)) return { path: `node:${n}`, external: true };
        return undefined;
      });
    },
  };
  const outfile = path.join(dir, 'ref-worker.mjs');
  await build({
    stdin: { contents: "import { worker } from './ref-gate.mjs'; export default worker;", resolveDir: path.dirname(HERE), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    minify: true,
    outfile,
    plugins: [nodeBuiltins],
    logLevel: 'warning',
  });
  return outfile;
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    if (process.env.GATES_CPU_SPLIT) process.stderr.write(`cpu ${pid}: user ${f[11]} sys ${f[12]} ticks\n`);
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

// ------------------------------------------------------------------------------------------- main

async function main() {
  const N = Number(process.argv[2] ?? 2000);
  const C = 16;
  const PAID_N = 100;
  const PAID_C = 4;
  const began = Date.now();
  const log = (m) => process.stderr.write(`[gates ${((Date.now() - began) / 1000).toFixed(1)}s] ${m}\n`);

  const chainLib = await import('../tests/js/lib/chain.mjs');
  const { ARTIFACTS_DIR, ROLES, TOKEN_ADDRESS, deployToken, publicClient, rpc, startAnvil, transferCount } = chainLib;
  const { defaultConfig, freePort, TEST_PASS_SECRET } = await import('../tests/js/lib/worker.mjs');
  const { serveWorker } = await import('../crates/worker/js/serve.mjs');
  const { wrapFetchWithPaymentFromConfig } = await import('@x402/fetch');
  const { ExactEvmScheme } = await import('@x402/evm');

  const work = path.join(ARTIFACTS_DIR, `bench-gates-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // A copy of build/worker/ (a rebuild during the run must not change what is measured), or of
  // $X402_BENCH_WORKER_DIR (another build of the same layout).
  const built = path.resolve(process.env.X402_BENCH_WORKER_DIR ?? path.join(ROOT, 'build', 'worker'));
  const ourDir = path.join(work, 'worker');
  if (!existsSync(path.join(built, 'x402_worker_bg.wasm'))) throw new Error(`${built} is missing: bash scripts/build-worker`);
  cpSync(built, ourDir, { recursive: true });
  const wasmBytes = readFileSync(path.join(ourDir, 'x402_worker_bg.wasm'));
  await WebAssembly.compile(wasmBytes); // a half-written copy fails here, not in the middle of the run
  const refWorkerDir = path.join(work, 'ref-worker');
  mkdirSync(refWorkerDir);
  const refWorkerFile = await bundleReferenceWorker(refWorkerDir);
  const refWorkerBytes = readFileSync(refWorkerFile);

  const chain = await startAnvil();
  const stops = [];
  const cleanup = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await chain.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => cleanup().finally(() => process.exit(130)));
  try {
    await deployToken(chain.rpcUrl);
    const client = publicClient(chain.rpcUrl);
    const fundedKey = async () => {
      const key = generatePrivateKey();
      await rpc(chain.rpcUrl, 'anvil_setBalance', [privateKeyToAccount(key).address, '0x56bc75e2d63100000']);
      return key;
    };
    const rpcLines = () => readFileSync(chain.logFile, 'utf8').split('\n').filter((l) => /^[a-z0-9]+_[A-Za-z0-9]+$/.test(l)).length;

    // ----------------------------------------------------------------------------- the gates
    const gates = [];
    const wd = (name, main, extra) => ({ name, main, compatibilityDate: '2026-11-01', compatibilityFlags: [], ...extra });
    // RELAYER_KEYS=n (experiment): our Worker with a pool of n relayer keys (settlement.relayerKeys).
    const KEYS = Number(process.env.RELAYER_KEYS ?? 1);
    const ourConfig = () => {
      const c = { ...defaultConfig(chain.rpcUrl), serverTiming: true };
      if (KEYS > 1) c.settlement = { ...c.settlement, relayerKeys: KEYS };
      return c;
    };
    const moreKeys = async () => Object.fromEntries(await Promise.all(Array.from({ length: KEYS - 1 }, async (_, i) => [`X402_RELAYER_KEY_${i + 2}`, await fundedKey()])));
    const startOurs = async () => {
      const port = await freePort();
      const t0 = performance.now();
      const s = await serveWorker(
        wd('x402-worker', path.join(ourDir, 'shim.mjs'), {
          // serverTiming: each paid answer says where its time went (the report's breakdown).
          vars: { X402: ourConfig() },
          secrets: { X402_RELAYER_KEY: await fundedKey(), X402_PASS_SECRET: TEST_PASS_SECRET, ...(await moreKeys()) },
          durableObjects: [
            { name: 'X402_REPLAY_GUARD', className: 'ReplayGuard', sql: true },
            { name: 'X402_RELAYER', className: 'Relayer', sql: true },
            { name: 'X402_CHANNEL', className: 'Channel', sql: true },
          ],
          assets: { dir: path.join(ROOT, 'www'), binding: 'ASSETS' },
        }),
        { dir: path.join(work, 'ours'), port },
      );
      return { ...s, startMs: performance.now() - t0 };
    };
    const startRefWorker = async () => {
      const port = await freePort();
      const t0 = performance.now();
      const s = await serveWorker(
        wd('ref-gate', refWorkerFile, {
          compatibilityFlags: ['nodejs_compat'],
          vars: { RPC_URL: chain.rpcUrl, RELAYER_KEY: await fundedKey(), PAY_TO: ROLES.payTo.address, TOKEN: TOKEN_ADDRESS, PAGE },
        }),
        { dir: path.join(work, 'ref-worker-run'), port, verbose: true },
      );
      return { ...s, startMs: performance.now() - t0 };
    };
    const startRefNode = async () =>
      startReferenceNode({ rpcUrl: chain.rpcUrl, relayerKey: await fundedKey(), payTo: ROLES.payTo.address, token: TOKEN_ADDRESS });

    const isUnpaid = (res) => {
      if (res.status !== 402) return `status ${res.status}`;
      if (!decode(res.headers['payment-required'])?.accepts?.length) return 'no PAYMENT-REQUIRED';
      return null;
    };
    const isPage = (res) => (res.status !== 200 ? `status ${res.status}` : res.body !== PAGE ? 'wrong body' : null);

    /** Paid requests with the reference client: `total` in all over `conns` loops, payer i per loop. */
    async function paid(url, total, conns, gatePid) {
      const e2e = [];
      const leg = [];
      const phases = {}; // Server-Timing of the paid legs (ours): name -> [ms]
      const failures = [];
      let passHeader = null;
      const from = await client.getBlockNumber({ cacheTime: 0 });
      const rpcBefore = rpcLines();
      let next = 0;
      let ok = 0;
      // CPU of each party during the phase (ms): the gate's process, anvil, and this process
      // (the reference client paying: its signing and fetches).
      const cpu0 = { gate: gatePid ? cpuMs(gatePid) : NaN, anvil: cpuMs(chain.pid), client: process.cpuUsage() };
      const start = performance.now();
      await Promise.all(
        Array.from({ length: conns }, async (_, i) => {
          const account = privateKeyToAccount(ROLES.payers[i].privateKey);
          const timed = async (input, init) => {
            const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
            const t0 = performance.now();
            const res = await fetch(input, { ...init, signal: AbortSignal.timeout(10_000) });
            const body = await res.arrayBuffer();
            if (headers.has('payment-signature') || headers.has('x-payment')) {
              leg.push(performance.now() - t0);
              for (const m of (res.headers.get('server-timing') ?? '').matchAll(/([a-z]+);dur=([\d.]+)/g)) (phases[m[1]] ??= []).push(Number(m[2]));
            }
            return new Response(body, { status: res.status, headers: res.headers });
          };
          const pay = wrapFetchWithPaymentFromConfig(timed, {
            schemes: [{ network: NETWORK, client: new ExactEvmScheme(account) }],
            spendControls: { allowedAssets: [{ network: NETWORK, asset: TOKEN_ADDRESS, maxAmountPerPayment: '100000' }] },
          });
          while (next < total) {
            next++;
            const t0 = performance.now();
            try {
              const res = await pay(url);
              const body = await res.text();
              e2e.push(performance.now() - t0);
              const r = decode(res.headers.get('payment-response'));
              if (res.status === 200 && r?.success && /^0x[0-9a-f]{64}$/.test(r.transaction) && body === PAGE) {
                ok++;
                passHeader ??= res.headers.get('x-payment-pass');
              } else failures.push({ why: `status ${res.status} ${show(r)}`, body: body.slice(0, 300) });
            } catch (e) {
              failures.push({ why: String(e?.message ?? e) });
            }
          }
        }),
      );
      const wallMs = performance.now() - start;
      const clientCpu = process.cpuUsage(cpu0.client);
      const cpuPer = {
        gate: (cpuMs(gatePid) - cpu0.gate) / total,
        anvil: (cpuMs(chain.pid) - cpu0.anvil) / total,
        client: (clientCpu.user + clientCpu.system) / 1000 / total,
      };
      await sleep(300); // a background settlement would land now (none: before-response)
      const transfers = await transferCount(chain.rpcUrl, from + 1n);
      // Throughput counts the paid 200s only (a refused payment is not a sale).
      return { ...stats(e2e, wallMs, failures, conns), okRps: (ok / wallMs) * 1000, leg: stats(leg, wallMs, [], conns), legMean: mean(leg), e2eMean: mean(e2e), cpuPer, ok, transfers, rpc: (rpcLines() - rpcBefore) / total, passHeader, phases };
    }

    /**
     * anvil alone, timed from Node as the gate would use it (fetch over keep-alive): an eth_call,
     * a two-call JSON-RPC batch (the gate's nonce and balance check), a token transfer sent
     * with eth_sendRawTransaction then read back with eth_getTransactionReceipt until it is
     * mined (polled without pause), and one sent with eth_sendRawTransactionSync. Means over
     * `n`, in ms.
     */
    async function chainFloor(n) {
      const { encodeFunctionData } = await import('viem');
      const { TOKEN_ABI } = chainLib;
      const account = privateKeyToAccount(await fundedKey());
      const url = chain.rpcUrl;
      const post = async (body) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
      const call = (i) => ({ jsonrpc: '2.0', id: i, method: 'eth_call', params: [{ to: TOKEN_ADDRESS, data: encodeFunctionData({ abi: TOKEN_ABI, functionName: 'balanceOf', args: [account.address] }) }, 'latest'] });
      let nonce = Number(BigInt((await post({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: [account.address, 'latest'] })).result));
      const gasPrice = BigInt((await post({ jsonrpc: '2.0', id: 1, method: 'eth_gasPrice', params: [] })).result) * 2n;
      const t = { call: 0, batch: 0, send: 0, receipt: 0, sync: 0 };
      for (let i = 0; i < n + 10; i++) {
        const warm = i < 10;
        let t0 = performance.now();
        await post(call(1));
        if (!warm) t.call += performance.now() - t0;
        t0 = performance.now();
        await post([call(1), call(2)]);
        if (!warm) t.batch += performance.now() - t0;
        const raw = await account.signTransaction({
          chainId: 31337, nonce: nonce++, gas: 100_000n, gasPrice, to: TOKEN_ADDRESS,
          data: encodeFunctionData({ abi: TOKEN_ABI, functionName: 'transfer', args: [ROLES.payTo.address, 0n] }),
        });
        t0 = performance.now();
        const sent = await post({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] });
        if (sent.error) throw new Error(`chain floor: ${sent.error.message}`);
        const t1 = performance.now();
        // Read back until mined (anvil mines on its own task: usually the first read has it).
        for (let polls = 0; !(await post({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionReceipt', params: [sent.result] })).result; polls++) {
          if (polls > 1000) throw new Error('chain floor: no receipt');
        }
        if (!warm) {
          t.send += t1 - t0;
          t.receipt += performance.now() - t1;
        }
        // The same with eth_sendRawTransactionSync (EIP-7966), as our relayer sends: the
        // receipt comes with the answer.
        const raw2 = await account.signTransaction({
          chainId: 31337, nonce: nonce++, gas: 100_000n, gasPrice, to: TOKEN_ADDRESS,
          data: encodeFunctionData({ abi: TOKEN_ABI, functionName: 'transfer', args: [ROLES.payTo.address, 0n] }),
        });
        t0 = performance.now();
        const synced = await post({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransactionSync', params: [raw2] });
        if (synced.result?.status !== '0x1') throw new Error(`chain floor: ${JSON.stringify(synced).slice(0, 200)}`);
        if (!warm) t.sync += performance.now() - t0;
      }
      return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v / n]));
    }

    async function measure(label, key, start) {
      log(`${label}: starting`);
      const g = await start();
      stops.push(g.stop);
      const url = `${g.url}/paid/one.html`;
      // Cold: the first request after the runtime listens (workerd: isolate start and module
      // instantiation; Node: the first pass through the app).
      const cold = await get(target(url));
      if (isUnpaid(cold)) throw new Error(`${label}: first request ${cold.status} ${cold.body.slice(0, 300)}`);
      await phase(url, { n: 200, conns: C, check: isUnpaid }); // warm-up
      // The gate's own CPU per request (its process: workerd or node), steadier than wall time
      // on a shared machine.
      const cpu = async (n, fn) => {
        const c0 = cpuMs(g.pid);
        const r = await fn();
        r.cpuMs = (cpuMs(g.pid) - c0) / n;
        return r;
      };
      const unpaid = await cpu(N, () => phase(url, { n: N, conns: C, check: isUnpaid }));
      log(`${label} unpaid C=${C}: ${unpaid.rps.toFixed(0)} req/s p50 ${unpaid.p50.toFixed(2)} p99 ${unpaid.p99.toFixed(2)} failed ${unpaid.failures.length}, gate CPU ${(unpaid.cpuMs * 1000).toFixed(0)} µs/request`);
      await paid(url, 20, 1); // warm the paid path (Durable Objects, relayer nonce, viem, the engines' optimizing tiers)
      const seq = await cpu(PAID_N, () => paid(url, PAID_N, 1));
      log(`${label} paid C=1: p50 ${seq.p50.toFixed(1)} (leg ${seq.leg.p50.toFixed(1)}) p99 ${seq.p99.toFixed(1)} ms, ${seq.ok} ok, ${seq.transfers} transfers, ${seq.rpc.toFixed(1)} RPC/payment, gate CPU ${seq.cpuMs.toFixed(2)} ms/payment`);
      if (Object.keys(seq.phases).length) log(`${label} paid C=1 Server-Timing means: ${Object.entries(seq.phases).map(([k, v]) => `${k} ${mean(v).toFixed(2)}`).join(', ')} ms; leg mean ${seq.legMean.toFixed(2)} ms`);
      const conc = await paid(url, PAID_N, PAID_C, g.pid);
      log(`${label} paid C=${PAID_C} CPU per payment: gate ${conc.cpuPer.gate.toFixed(2)}, anvil ${conc.cpuPer.anvil.toFixed(2)}, client ${conc.cpuPer.client.toFixed(2)} ms`);
      if (Object.keys(conc.phases).length) log(`${label} paid C=${PAID_C} Server-Timing means: ${Object.entries(conc.phases).map(([k, v]) => `${k} ${mean(v).toFixed(2)}`).join(', ')} ms; leg mean ${conc.legMean.toFixed(2)} ms`);
      log(`${label} paid C=${PAID_C}: ${conc.okRps.toFixed(1)} paid 200/s, p50 ${conc.p50.toFixed(1)}, ${conc.ok} ok, ${conc.transfers} transfers${conc.failures.length ? `; first failure: ${show(conc.failures[0]).slice(0, 400)}` : ''}`);
      let pass = null;
      if (seq.passHeader) {
        const headers = { 'X-PAYMENT-PASS': seq.passHeader };
        await phase(url, { n: 200, conns: C, headers, check: isPage });
        pass = await cpu(N, () => phase(url, { n: N, conns: C, headers, check: isPage }));
        log(`${label} pass C=${C}: ${pass.rps.toFixed(0)} req/s p50 ${pass.p50.toFixed(2)} failed ${pass.failures.length}, gate CPU ${(pass.cpuMs * 1000).toFixed(0)} µs/request`);
      }
      await g.stop();
      gates.push({ label, key, startMs: g.startMs, coldMs: cold.ms, unpaid, seq, conc, pass, sample: cold });
    }

    /** The floor: our 402 (`sample`, its headers and body) as constants in a Worker on the same workerd. */
    async function measureFloor(sample, label) {
      log(`${label}: starting`);
      const hop = new Set(['content-length', 'connection', 'keep-alive', 'transfer-encoding', 'date']);
      const headers = Object.fromEntries(Object.entries(sample.headers).filter(([k]) => !hop.has(k)));
      const file = path.join(work, `floor-${stops.length}.mjs`);
      writeFileSync(file, `const headers = ${JSON.stringify(headers)};\nconst body = ${JSON.stringify(sample.body)};\n` +
        'export default { fetch() { return new Response(body, { status: 402, headers }); } };\n');
      const port = await freePort();
      const g = await serveWorker(wd('floor', file), { dir: path.join(work, `floor-run-${stops.length}`), port });
      stops.push(g.stop);
      const url = `${g.url}/paid/one.html`;
      await phase(url, { n: 200, conns: C, check: isUnpaid });
      const c0 = cpuMs(g.pid);
      const unpaid = await phase(url, { n: N, conns: C, check: isUnpaid });
      unpaid.cpuMs = (cpuMs(g.pid) - c0) / N;
      log(`${label} unpaid C=${C}: ${unpaid.rps.toFixed(0)} req/s p50 ${unpaid.p50.toFixed(2)} p99 ${unpaid.p99.toFixed(2)} failed ${unpaid.failures.length}, CPU ${(unpaid.cpuMs * 1000).toFixed(0)} µs/request`);
      await g.stop();
      return { label, unpaid };
    }

    // GATES=ours,refNode,refWorker,floor picks some (for a quick look; the report needs all).
    const only = process.env.GATES?.split(',');
    const want = (k) => !only || only.includes(k);
    if (want('ours')) await measure('x402-wasm Worker, plain workerd', 'ours', startOurs);
    if (want('refNode')) await measure('reference @x402/hono gate, Node', 'refNode', startRefNode);
    if (want('refWorker')) try {
      await measure('reference @x402/hono gate as a Worker, same workerd', 'refWorker', startRefWorker);
    } catch (e) {
      log(`reference Worker failed: ${e.stack ?? e}`);
      gates.push({ label: 'reference @x402/hono gate as a Worker, same workerd', key: 'refWorker', error: String(e.message ?? e).slice(0, 500) });
    }
    const chainTimes = want('ours') ? await chainFloor(100) : null;
    if (chainTimes) log(`anvil alone: eth_call ${chainTimes.call.toFixed(2)} ms, batch of 2 ${chainTimes.batch.toFixed(2)} ms, send ${chainTimes.send.toFixed(2)} ms, receipt ${chainTimes.receipt.toFixed(2)} ms, sync send ${chainTimes.sync.toFixed(2)} ms`);
    const sampled = (k) => gates.find((x) => x.key === k && !x.error)?.sample;
    const floor = want('floor') && sampled('ours') ? await measureFloor(sampled('ours'), 'workerd floor: our 402 as a constant') : null;
    const refFloor = want('floor') && sampled('refWorker')
      ? await measureFloor(sampled('refWorker'), "workerd floor: the reference's 402 as a constant") : null;
    if (!only) writeResults({ N, C, PAID_N, PAID_C, gates, floor, refFloor, chainTimes, wasmBytes, refWorkerBytes, secs: (Date.now() - began) / 1000 });
  } finally {
    await cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- report

function writeResults({ N, C, PAID_N, PAID_C, gates, floor, refFloor, chainTimes, wasmBytes, refWorkerBytes, secs }) {
  const pkg = (name) => JSON.parse(readFileSync(path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version;
  const g = Object.fromEntries(gates.map((x) => [x.key, x]));
  const f = (x, d = 1) => (x === undefined || x === null ? '—' : x.toFixed(d));
  const fails = (...rs) => rs.filter(Boolean).reduce((a, r) => a + r.failures.length, 0);
  const row = (x) =>
    x.error
      ? `| ${x.label} | failed to run: ${x.error.replace(/\|/g, '/').replace(/\n/g, ' ')} |||||||||||`
      : `| ${x.label} | ${f(x.unpaid.rps, 0)} | ${f(x.unpaid.p50, 2)} | ${f(x.unpaid.p99, 2)} | ${x.pass ? `${f(x.pass.rps, 0)} / ${f(x.pass.p50, 2)} / ${f(x.pass.p99, 2)}` : 'no pass'} | ${f(x.seq.p50)} (${f(x.seq.leg.p50)}) | ${f(x.seq.p99)} (${f(x.seq.leg.p99)}) | ${f(x.conc.okRps)} | ${f(x.coldMs)} | ${f(x.startMs, 0)} | ${x.seq.ok + x.conc.ok} / ${x.seq.transfers + x.conc.transfers} | ${f(x.seq.rpc)} | ${f(x.unpaid.cpuMs * 1000, 0)} / ${x.pass ? f(x.pass.cpuMs * 1000, 0) : '—'} / ${f(x.seq.cpuMs * 1000, 0)} | ${fails(x.unpaid, x.pass, x.seq, x.conc)} |`;
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
  const ok = (cond) => (cond ? 'met' : '**not met**');
  const o = g.ours;
  const rn = g.refNode;
  const rw = g.refWorker?.error ? null : g.refWorker;
  const goals = [
    `| unpaid 402 req/s, ours ÷ reference Worker (goal ≥ 2×) | ${rw ? `${ratio(o.unpaid.rps, rw.unpaid.rps)} — ${ok(o.unpaid.rps >= 2 * rw.unpaid.rps)}` : 'reference Worker did not run'} |`,
    `| unpaid 402 req/s, ours ÷ reference Node (goal ≥ 1×) | ${ratio(o.unpaid.rps, rn.unpaid.rps)} — ${ok(o.unpaid.rps >= rn.unpaid.rps)} |`,
    `| pass-holder req/s, ours ÷ reference (goal ≥ 2× its Worker, ≥ 1× its Node) | no reference equivalent: its gate issues no pass (a payer pays again; its sign-in-with-x extension was not measured). Ours: ${f(o.pass?.rps, 0)} req/s = ${ratio(o.pass?.rps, o.unpaid.rps)} its own unpaid 402 rate |`,
    `| paid sequential p50, ours ÷ reference Node (goal ≤ 0.5×) | end to end ${ratio(o.seq.p50, rn.seq.p50)}, paid leg ${ratio(o.seq.leg.p50, rn.seq.leg.p50)} — ${ok(o.seq.p50 <= 0.5 * rn.seq.p50)} |`,
    `| paid C=${PAID_C} req/s, ours ÷ reference Node (goal ≥ 2×) | ${ratio(o.conc.okRps, rn.conc.okRps)} — ${ok(o.conc.okRps >= 2 * rn.conc.okRps)} |`,
    (() => {
      // C=4 is bound by the machine's cores: what each party spends per payment, and what the
      // goal leaves the gate once anvil and the client have theirs.
      const cores = os.cpus().length;
      const c = (x) => x.conc.cpuPer;
      const total = (x) => c(x).gate + c(x).anvil + c(x).client;
      const budget = (cores * 1000) / (2 * rn.conc.okRps);
      return `| paid C=${PAID_C}: CPU per payment (gate / anvil / the paying client, ms) | ours ${[c(o).gate, c(o).anvil, c(o).client].map((x) => f(x, 2)).join(' / ')} (${f(total(o), 2)} in all: ${cores} cores allow ${f((cores * 1000) / total(o), 0)} payments/s); reference Node ${[c(rn).gate, c(rn).anvil, c(rn).client].map((x) => f(x, 2)).join(' / ')}. 2× the reference Node's rate needs ≤ ${f(budget, 2)} ms per payment in all, leaving the gate ${f(budget - c(o).anvil - c(o).client, 2)} ms beside anvil's and the client's ${f(c(o).anvil + c(o).client, 2)}. Our workerd process ran at ${f((c(o).gate * o.conc.okRps) / 10, 0)}% of one core: the Worker and its Durable Objects share one isolate, whose thread runs one request at a time, so ${f(c(o).gate, 2)} ms of CPU per payment caps it at ${f(1000 / c(o).gate, 0)} payments/s however many cores; its Server-Timing at C=${PAID_C} (means): ${['guard', 'admit', 'content', 'settle'].map((k) => `${k} ${o.conc.phases[k] ? f(mean(o.conc.phases[k]), 2) : '—'}`).join(', ')} ms, against ${['guard', 'admit', 'content', 'settle'].map((k) => (o.seq.phases[k] ? f(mean(o.seq.phases[k]), 2) : '—')).join(', ')} sequentially: the requests wait on each other |`;
    })(),
    rw ? `| paid sequential p50 / C=${PAID_C} req/s, ours vs reference Worker | ${ratio(o.seq.p50, rw.seq.p50)} / ${ratio(o.conc.okRps, rw.conc.okRps)} |` : null,
    floor && refFloor && rw ? `| workerd's floor: a Worker answering each gate's own 402 as a constant (same bytes, no gate) | ours' 402: ${f(floor.unpaid.rps, 0)} req/s, ${f(floor.unpaid.cpuMs * 1000, 0)} µs CPU each; the reference's: ${f(refFloor.unpaid.rps, 0)} req/s, ${f(refFloor.unpaid.cpuMs * 1000, 0)} µs. Above its floor, ours spends ${f((o.unpaid.cpuMs - floor.unpaid.cpuMs) * 1000, 0)} µs per 402, the reference Worker ${f((rw.unpaid.cpuMs - refFloor.unpaid.cpuMs) * 1000, 0)} µs; 2× the reference Worker's rate needs ${f((rw.unpaid.cpuMs * 1000) / 2, 0)} µs per 402 in all: ${rw.unpaid.cpuMs / 2 >= refFloor.unpaid.cpuMs ? `even with a 402 as small as the reference's (${f(refFloor.unpaid.cpuMs * 1000, 0)} µs as a constant), that leaves ${f((rw.unpaid.cpuMs / 2 - refFloor.unpaid.cpuMs) * 1000, 0)} µs for the gate's work, against ours' ${f((o.unpaid.cpuMs - floor.unpaid.cpuMs) * 1000, 0)} µs` : "**below** the floor of even the reference's smaller 402"} |` : null,
    `| Worker wasm ≤ 150 KiB gzip | ${(gzipSync(wasmBytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzip (${wasmBytes.length} B raw) — ${ok(gzipSync(wasmBytes, { level: 9 }).length <= 150 * 1024)}; the reference Worker bundle: ${(gzipSync(refWorkerBytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzip (${refWorkerBytes.length} B, esbuild --minify) |`,
    `| cold first request | ours ${f(o.coldMs)} ms, reference Worker ${f(rw?.coldMs)} ms, reference Node ${f(rn.coldMs)} ms |`,
    `| on-chain transfers == paid 200s, nothing served unpaid | ${gates.filter((x) => !x.error).map((x) => `${x.key}: ${x.seq.transfers + x.conc.transfers} transfers / ${x.seq.ok + x.conc.ok} paid 200s — ${ok(x.seq.transfers + x.conc.transfers === x.seq.ok + x.conc.ok && !fails(x.unpaid, x.seq, x.conc))}`).join('; ')} |`,
  ].filter(Boolean);
  // Where our paid leg's time goes: its Server-Timing phases (means over the sequential payments).
  const phaseNames = ['guard', 'chain', 'admit', 'content', 'settle'];
  const ph = o.seq.phases ?? {};
  const phaseSum = phaseNames.reduce((a, k) => a + (ph[k] ? mean(ph[k]) : 0), 0);
  const breakdown = ph.settle ? `
### Where our paid request's time goes (sequential, means in ms)

The Worker's \`Server-Timing\` on each paid answer (\`serverTiming = true\`; workerd's clock moves on I/O,
so each phase is whole milliseconds, averaged here), and anvil alone timed from Node the way the gate
calls it (keep-alive fetch), in the same run.

| part | ms |
| --- | ---: |
| end to end (the reference client: its unpaid request, signing, the paid request) | ${f(o.seq.e2eMean, 2)} |
| the client's part before the paid request (end to end − paid leg) | ${f(o.seq.e2eMean - o.seq.legMean, 2)} |
| paid leg | ${f(o.seq.legMean, 2)} |
${phaseNames.map((k) => `| — \`${k}\`: ${{ guard: "the payer's guard Durable Object reserving the authorization, with the nonce and balance read on chain alongside (one JSON-RPC batch of two eth_calls)", chain: 'the nonce and balance read again (only after waiting for another copy)', admit: "the guard admits it against the balance (a second Durable Object call)", content: 'the page (asset Worker)', settle: "the relayer Durable Object: transferWithAuthorization sent, its receipt read" }[k]} | ${ph[k] ? f(mean(ph[k]), 2) : '—'} |`).join('\n')}
| — the rest of the leg (transport, request parsing, verification, the answer) | ${f(o.seq.legMean - phaseSum, 2)} |
| anvil alone: an eth_call / a batch of two / eth_sendRawTransaction / eth_getTransactionReceipt until mined / eth_sendRawTransactionSync (what our relayer sends: the receipt comes with the answer) | ${chainTimes ? [chainTimes.call, chainTimes.batch, chainTimes.send, chainTimes.receipt, chainTimes.sync].map((x) => f(x, 2)).join(' / ') : '—'} |

Half the reference Node gate's p50 is ${f(rn.seq.p50 / 2, 2)} ms. Of a payment's time, the client's part (${f(o.seq.e2eMean - o.seq.legMean, 2)} ms) and anvil's
own work for the settlement (the broadcast answered with its receipt, ${chainTimes ? f(chainTimes.sync, 2) : '—'} ms) do not depend on the gate; the
checks (${chainTimes ? f(chainTimes.batch, 2) : '—'} ms) run alongside the guard. What does depend on the gate is the Durable Object calls
(guard ${f(ph.guard ? mean(ph.guard) : NaN, 2)}, admit ${f(ph.admit ? mean(ph.admit) : NaN, 2)} ms, the relayer's share of \`settle\`) and the rest of the leg.
` : '';
  const failureBlock = gates
    .filter((x) => !x.error && fails(x.unpaid, x.pass, x.seq, x.conc))
    .map((x) => `${x.label}:\n${[x.unpaid, x.pass, x.seq, x.conc].filter(Boolean).flatMap((r) => r.failures.slice(0, 3)).map(show).join('\n')}`)
    .join('\n');
  const md = `# The gate side by side with the reference (exact, end to end)

Generated by \`node bench/gates.mjs ${N}\` on ${new Date().toISOString()} (node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, workerd ${pkg('workerd')}) in ${secs.toFixed(0)} s.
Not a test: nothing is asserted, and the figures move from run to run (the load generator, the
client, anvil and the gate share these cores).

Three gates, one after the other, on one anvil (each transaction mined at once: a paid request
waits for no block here), each pricing \`GET /paid/one.html\` at $0.01 and answering with the same page:

- **ours**: \`build/worker\` on plain workerd as \`bash scripts/serve\` runs it (Durable Objects on local
  SQLite, the page from the assets directory through an asset Worker), settling itself with its relayer key
  before the response; the tests' configuration (\`tests/js/lib/worker.mjs\` defaultConfig: exact only).
- **reference Node**: \`bench/ref-gate.mjs\`: \`@x402/hono\` ${pkg('@x402/hono')} \`paymentMiddleware\` + \`@x402/core\` ${pkg('@x402/core')}
  \`x402ResourceServer\` + \`@x402/evm\` ${pkg('@x402/evm')} exact, with an in-process \`x402Facilitator\` (viem ${pkg('viem')} wallet
  client, polling every 50 ms), over node:http in a child node process; the page from memory.
- **reference Worker**: the same app bundled by esbuild, on the same workerd (\`nodejs_compat\`); page from a binding.

Unpaid and pass phases: ${N} requests at concurrency ${C} (closed loop over keep-alive node:http, after
200 unmeasured). Paid: ${PAID_N} payments sequentially, then ${PAID_N} over ${PAID_C} concurrent payers, each by the reference
client (\`@x402/fetch\` \`wrapFetchWithPaymentFromConfig\` + \`@x402/evm\` \`ExactEvmScheme\`): end to end = its
unpaid request, signing, the paid request; *leg* = the paid request alone. *Cold* = the first request
after the runtime accepts connections; *start* = spawn to listening. *RPC* = JSON-RPC calls anvil
answered per sequential payment (the client's and the gate's). *Gate CPU* = user + system CPU of the
gate's process (workerd, or the node child) per request during the phase, from /proc: steadier than
wall-clock figures on a shared machine (the workerd figure includes its asset Worker and Durable Objects).

| gate | unpaid req/s | unpaid p50 ms | unpaid p99 ms | pass-holder req/s / p50 / p99 | paid p50 ms (leg) | paid p99 ms (leg) | paid C=${PAID_C} paid 200s/s | cold ms | start ms | paid 200s / transfers | RPC per payment | gate CPU µs: unpaid / pass / paid | failed |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${gates.map(row).join('\n')}

### Goals of issue 14 (ratios in this run)

| goal | this run |
| --- | --- |
${goals.join('\n')}
${breakdown}${gates
  .filter((x) => !x.error && x.seq.transfers + x.conc.transfers > x.seq.ok + x.conc.ok)
  .map((x) => `\n**${x.label}**: ${x.seq.transfers + x.conc.transfers - x.seq.ok - x.conc.ok} payments were transferred on chain without a paid 200 (${[x.seq, x.conc].flatMap((r) => r.failures).filter((y) => /timeout/.test(y.why)).length} requests got no answer within 10 s): charged, not served.\n`)
  .join('')}${failureBlock ? `\n**Failures** (first three per phase):\n\n\`\`\`\n${failureBlock}\n\`\`\`\n` : ''}`;
  writeFileSync(path.join(ROOT, 'bench', 'results-gates.tmp'), md); // scripts/bench puts it into bench/results.md
  process.stdout.write(md);
}

if (process.argv[2] === '--ref-node') await referenceNodeChild(JSON.parse(process.argv[3]));
else await main();
