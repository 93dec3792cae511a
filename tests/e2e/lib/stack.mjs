// The demo stack for the Chromium end-to-end tests: anvil + TestUSDC on a free port, the Worker
// under `wrangler dev` (workerd) on a free port with a copy of wrangler.toml pointed at that anvil
// (a test may edit the copy), and an RPC pass-through for the page's demo wallet that counts the
// JSON-RPC methods it forwards (so a test knows how many signatures reached the wallet).
// Needs: scripts/build-browser and scripts/build-worker run first (the Worker serves
// www/x402/ and runs build/worker/). X402_DROPIN_DIR=<dir> serves another build of the drop-in
// (to see a test fail on an older one).
import { spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ART = path.join(ROOT, 'tests', 'artifacts');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => (port === 8545 || port === 8787 ? resolve(freePort()) : resolve(port)));
    });
  });
}

export function checkBuilt() {
  for (const f of ['www/x402/x402.js', 'build/worker/shim.mjs']) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} missing: run scripts/build-browser and scripts/build-worker`);
  }
}

let seq = 0;

/**
 * Starts `wrangler dev` on the repository's wrangler.toml with its RPC URL replaced by `rpcUrl`
 * and `edit(text, { base })` applied to the copy (`base`: the URL it will listen on), `secrets`
 * added to the secrets of .dev.vars. Returns { base, log, stop }.
 */
export async function startWorker(rpcUrl, edit = (t) => t, { secrets = {} } = {}) {
  mkdirSync(ART, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const stateDir = path.join(ART, `e2e-${process.pid}-${++seq}`);
  mkdirSync(stateDir, { recursive: true });
  // Private copies of the built Worker and of the site: another build of either while this runs
  // (a test run next door) would otherwise make wrangler reload it mid-test.
  cpSync(path.join(ROOT, 'build', 'worker'), path.join(stateDir, 'worker'), { recursive: true });
  cpSync(path.join(ROOT, 'www'), path.join(stateDir, 'www'), { recursive: true });
  // X402_DROPIN_DIR: another build of the drop-in (x402.js + x402_bg.wasm), e.g. an older one.
  if (process.env.X402_DROPIN_DIR) cpSync(process.env.X402_DROPIN_DIR, path.join(stateDir, 'www', 'x402'), { recursive: true });
  const config = edit(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
    .replaceAll('http://127.0.0.1:8545', rpcUrl)
    .replaceAll('"http://127.0.0.1:8787"', JSON.stringify(base)) // publicOrigin: where this one listens
    .replace(/^main = "(.*)"/m, () => `main = "${path.join(stateDir, 'worker', 'shim.mjs')}"`)
    .replace(/^directory = "(.*)"/m, () => `directory = "${path.join(stateDir, 'www')}"`)
    .replace(/^\[build\][\s\S]*?(?=^\[)/m, ''), { base });
  const configPath = path.join(stateDir, 'wrangler.toml');
  writeFileSync(configPath, config);
  const vars = ['.dev.vars', '.dev.vars.example'].map((f) => path.join(ROOT, f)).find(existsSync);
  // `secrets` replace the file's lines of the same names (a .dev.vars of the demo may have them).
  const lines = (vars ? readFileSync(vars, 'utf8') : '').split('\n').filter((l) => !Object.keys(secrets).some((k) => l.startsWith(`${k}=`)));
  writeFileSync(path.join(stateDir, '.dev.vars'), [...lines, ...Object.entries(secrets).map(([k, v]) => `${k}=${v}`), ''].join('\n'));
  const log = path.join(ART, `e2e-wrangler-${process.pid}-${seq}.log`);
  const out = openSync(log, 'w');
  const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['dev', '-c', configPath, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', path.join(stateDir, 'state'), '--inspector-port', String(await freePort())],
    { cwd: ROOT, stdio: ['ignore', out, out], detached: true, env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_HIDE_BANNER: 'true' } });
  closeSync(out);
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      await exited;
    }
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('exit', () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } });
  for (let i = 0; i < 300; i++) {
    try { const r = await fetch(`${base}/index.html`); await r.arrayBuffer(); return { base, log, stop }; } catch { /* not up yet */ }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`wrangler dev did not come up on ${base}; see ${log}`);
}

/**
 * A pass-through to `rpcUrl` (CORS and all, as anvil answers) that counts the methods it
 * forwards: { url, count(method), close }.
 */
export async function rpcCounter(rpcUrl) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      try {
        for (const call of [JSON.parse(body.toString('utf8'))].flat()) seen.push(call?.method);
      } catch { /* not JSON (a preflight): forwarded as is */ }
      try {
        const headers = { ...req.headers };
        delete headers.host;
        delete headers['content-length'];
        const up = await fetch(rpcUrl, { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
        const out = {};
        up.headers.forEach((v, k) => { if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding') out[k] = v; });
        res.writeHead(up.status, out);
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
    count: (method) => seen.filter((m) => m === method).length,
    close: () => new Promise((r) => server.close(r)),
  };
}

export function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A browser context whose demo wallet talks to `rpcUrl`. */
export async function readerContext(browser, rpcUrl) {
  const context = await browser.newContext();
  await context.addInitScript((rpc) => localStorage.setItem('x402-demo:rpc', rpc), rpcUrl);
  return context;
}

/**
 * A wrangler.toml edit for `startWorker`: the demo configuration without batch-settlement
 * channels (its 402s offer `exact` only), for the tests of the exact path's pay box.
 */
export function withoutChannels(toml) {
  const out = toml.replace(/^\[vars\.X402\.batchSettlement\]\n(?:[^[\n].*\n|\n)*/m, '');
  if (out === toml) throw new Error('wrangler.toml has no [vars.X402.batchSettlement] table to remove');
  return out;
}
