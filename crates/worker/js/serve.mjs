// Serves an already built Worker (build/worker/, from scripts/build-worker) on plain workerd
// (`workerd serve CONFIG --experimental`, the binary of the npm `workerd` package), without
// `wrangler dev`'s development layers (its proxy Worker and inspector in front of the Worker):
// the closest thing to a deployment on one machine. `bash scripts/serve` is the command line;
// bench/gates.mjs imports `serveWorker` to measure the Worker the same way.
//
// The workerd configuration is generated from wrangler.toml (read by wrangler's own
// `unstable_readConfig`): compatibility date and flags, `[vars]` (a table becomes a JSON
// binding, as in a deployment), the Durable Object bindings with their classes (SQLite-backed
// when a migration lists them in `new_sqlite_classes`), the `[assets]` directory, and the
// secrets from `.dev.vars` next to the configuration file. The workerd config format is
// workerd's `workerd.capnp` (https://github.com/cloudflare/workerd/blob/main/src/workerd/server/workerd.capnp).
//
// Outbound requests (the JSON-RPC node, a facilitator, an origin) go through a service named
// `internet` allowing public, private and local addresses: workerd's default refuses loopback
// and private networks, which would make a local anvil (127.0.0.1:8545) unreachable.

import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The workerd binary of the npm `workerd` package. */
export const WORKERD_BIN = path.join(ROOT, 'node_modules', '.bin', 'workerd');

// The asset server in front of the static directory: what `[assets]` gives a deployed Worker
// (a Content-Type by extension, 404 for a missing file, GET and HEAD only), over a workerd disk
// service. The Worker itself maps `/dir/` to `/dir/index.html` (html_handling = "none").
const ASSETS_WORKER = `
const TYPES = {
  html: 'text/html; charset=utf-8', htm: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8', json: 'application/json',
  wasm: 'application/wasm', svg: 'image/svg+xml', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg',
  gif: 'image/gif', webp: 'image/webp', ico: 'image/x-icon', txt: 'text/plain; charset=utf-8',
  xml: 'application/xml', pdf: 'application/pdf', woff2: 'font/woff2', map: 'application/json',
};
export default {
  async fetch(request, env) {
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
    const url = new URL(request.url);
    const res = await env.DISK.fetch(new Request(url, { method: request.method }));
    if (res.status !== 200) return new Response(res.status === 404 ? 'Not Found' : null, { status: res.status === 404 ? 404 : res.status });
    const ext = url.pathname.slice(url.pathname.lastIndexOf('.') + 1).toLowerCase();
    const headers = new Headers(res.headers);
    headers.set('content-type', TYPES[ext] ?? 'application/octet-stream');
    return new Response(request.method === 'HEAD' ? null : res.body, { status: 200, headers });
  },
};
`;

/** A capnp text literal (JSON string escapes are capnp's: \\", \\\\, \\n, \\t, \\uXXXX not used here). */
function capText(s) {
  if (/[\u0000-\u001f\u007f]/.test(s.replace(/[\n\t]/g, ''))) throw new Error(`control character in ${JSON.stringify(s)}`);
  return JSON.stringify(s);
}

/** Every module file of a built Worker directory (wasm-bindgen output and its snippets). */
function workerModules(workerDir, mainName) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(path.join(workerDir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (/\.(m?js)$/.test(e.name)) out.push({ name: r, kind: 'esModule' });
      else if (e.name.endsWith('.wasm')) out.push({ name: r, kind: 'wasm' });
    }
  };
  walk('');
  // The main module comes first: workerd takes the first module as the Worker's entry.
  out.sort((a, b) => (a.name === mainName ? -1 : b.name === mainName ? 1 : a.name.localeCompare(b.name)));
  return out;
}

/** Parses a `.dev.vars` file (dotenv syntax: NAME=value, # comments, optional quotes). */
export function parseDevVars(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2];
    if (/^"(.*)"$/.test(v)) v = v.slice(1, -1).replace(/\\n/g, '\n').replace(/\\"/g, '"');
    else if (/^'(.*)'$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    out[m[1]] = v;
  }
  return out;
}

/** The Worker's settings from a wrangler config file (and `[env.<name>]` when `env` is given). */
export async function fromWranglerConfig(configPath, env) {
  const { unstable_readConfig } = await import('wrangler');
  const c = unstable_readConfig({ config: configPath, env }, { hideWarnings: true });
  const base = path.dirname(path.resolve(configPath));
  const sqlite = new Set((c.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  const devVarsFile = [env && path.join(base, `.dev.vars.${env}`), path.join(base, '.dev.vars')].find((f) => f && existsSync(f));
  return {
    name: c.name ?? 'worker',
    main: path.resolve(base, c.main),
    compatibilityDate: c.compatibility_date,
    compatibilityFlags: c.compatibility_flags ?? [],
    vars: c.vars ?? {},
    secrets: devVarsFile ? parseDevVars(readFileSync(devVarsFile, 'utf8')) : {},
    secretsFile: devVarsFile,
    durableObjects: (c.durable_objects?.bindings ?? []).map((b) => ({ name: b.name, className: b.class_name, sql: sqlite.has(b.class_name) })),
    assets: c.assets?.directory ? { dir: path.resolve(base, c.assets.directory), binding: c.assets.binding ?? 'ASSETS' } : null,
  };
}

/**
 * Writes a workerd configuration for a Worker into `dir` (with the texts it embeds: the vars as
 * JSON, each secret in a file of its own, readable by the owner only) and returns its path.
 * `settings`: what fromWranglerConfig returns (or the same shape built by hand).
 */
export function writeWorkerdConfig(settings, { dir, port, ip = '127.0.0.1', stateDir }) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const workerDir = path.dirname(settings.main);
  const mainName = path.basename(settings.main);
  const rel = (p) => path.relative(dir, p).split(path.sep).join('/');
  const modules = workerModules(workerDir, mainName).map(
    (m) => `(name = ${capText(m.name)}, ${m.kind} = embed ${capText(rel(path.join(workerDir, m.name)))})`,
  );
  const bindings = [];
  let n = 0;
  const embedText = (kind, name, value) => {
    const file = path.join(dir, `binding-${++n}.txt`);
    writeFileSync(file, value, { mode: 0o600 });
    bindings.push(`(name = ${capText(name)}, ${kind} = embed ${capText(rel(file))})`);
  };
  for (const [name, value] of Object.entries(settings.vars ?? {})) {
    // A string var is text; a table is JSON (what a deployed Worker sees as an object).
    if (typeof value === 'string') embedText('text', name, value);
    else embedText('json', name, JSON.stringify(value));
  }
  for (const [name, value] of Object.entries(settings.secrets ?? {})) {
    if (value !== undefined && value !== null) embedText('text', name, String(value));
  }
  const services = [
    `(name = "main", worker = .worker)`,
    `(name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true)))`,
  ];
  if (settings.assets) {
    bindings.push(`(name = ${capText(settings.assets.binding)}, service = "assets")`);
    services.push(`(name = "assets", worker = .assets)`);
    services.push(`(name = "assets-disk", disk = (path = ${capText(settings.assets.dir)}, writable = false))`);
    writeFileSync(path.join(dir, 'assets.mjs'), ASSETS_WORKER);
  }
  const dos = settings.durableObjects ?? [];
  for (const d of dos) bindings.push(`(name = ${capText(d.name)}, durableObjectNamespace = ${capText(d.className)})`);
  const classes = [...new Map(dos.map((d) => [d.className, d])).values()];
  let storage = '';
  if (classes.length) {
    mkdirSync(stateDir, { recursive: true });
    services.push(`(name = "do-storage", disk = (path = ${capText(path.resolve(stateDir))}, writable = true))`);
    storage = `,
  durableObjectNamespaces = [
    ${classes.map((d) => `(className = ${capText(d.className)}, uniqueKey = ${capText(`${settings.name}-${d.className}`)}${d.sql ? ', enableSql = true' : ''})`).join(',\n    ')}
  ],
  durableObjectStorage = (localDisk = "do-storage")`;
  }
  const flags = settings.compatibilityFlags ?? [];
  const text = `# Generated by crates/worker/js/serve.mjs for ${settings.name}: do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')}
  ],
  sockets = [ (name = "http", address = ${capText(`${ip}:${port}`)}, http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = ${capText(settings.compatibilityDate)},
  compatibilityFlags = [${flags.map(capText).join(', ')}],
  bindings = [
    ${bindings.join(',\n    ')}
  ]${storage},
);
${settings.assets ? `
const assets :Workerd.Worker = (
  modules = [ (name = "assets.mjs", esModule = embed "assets.mjs") ],
  compatibilityDate = ${capText(settings.compatibilityDate)},
  bindings = [ (name = "DISK", service = "assets-disk") ],
);
` : ''}`;
  const file = path.join(dir, 'config.capnp');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** Resolves once something accepts TCP connections on ip:port (or rejects after timeoutMs). */
export async function waitForPort(port, ip = '127.0.0.1', timeoutMs = 30_000, exited = () => false) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: ip });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (exited() || Date.now() > deadline) throw new Error(`nothing listening on ${ip}:${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts workerd with `settings` on ip:port; resolves once it accepts connections (no request
 * is sent, so the first request is the caller's to time). Returns { url, logFile, pid, stop }.
 * workerd runs in its own process group; stop() ends that group.
 */
export async function serveWorker(settings, { dir, port, ip = '127.0.0.1', stateDir = path.join(dir, 'state'), stdio, verbose = false, readyTimeoutMs = 60_000 } = {}) {
  const config = writeWorkerdConfig(settings, { dir, port, ip, stateDir });
  const logFile = path.join(dir, 'workerd.log');
  const out = stdio ? null : openSync(logFile, 'w');
  const child = spawn(WORKERD_BIN, ['serve', config, '--experimental', ...(verbose ? ['--verbose'] : [])], {
    cwd: dir,
    detached: true,
    stdio: stdio ?? ['ignore', out, out],
  });
  if (out !== null) closeSync(out);
  let exited = false;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => { exited = true; resolve({ code, signal }); }));
  const stop = async () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3_000);
    await exit;
    clearTimeout(t);
  };
  process.once('exit', () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } });
  try {
    await waitForPort(port, ip, readyTimeoutMs, () => exited);
  } catch (e) {
    await stop();
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
    throw new Error(`workerd did not start (${config}): ${e.message}\n${tail}`);
  }
  return { url: `http://${ip}:${port}`, logFile, config, pid: child.pid, stop, exit };
}

// ------------------------------------------------------------------------------------------- command line

async function cli(argv) {
  const opts = { port: 8787, ip: '127.0.0.1', config: 'wrangler.toml', env: undefined, persistTo: undefined, dir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(val());
    else if (a === '--ip') opts.ip = val();
    else if (a === '--config' || a === '-c') opts.config = val();
    else if (a === '--env' || a === '-e') opts.env = val();
    else if (a === '--persist-to') opts.persistTo = val();
    else if (a === '--config-dir') opts.dir = val();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`usage: bash scripts/serve [--port 8787] [--ip 127.0.0.1] [--config wrangler.toml] [--env NAME]
                         [--persist-to .wrangler/serve-state] [--config-dir .wrangler/serve]
Serves the Worker already built in wrangler.toml's \`main\` directory (bash scripts/build-worker) on plain
workerd: [vars], Durable Objects, [assets] and .dev.vars secrets as wrangler.toml says, no wrangler dev.
`);
      return;
    } else throw new Error(`unknown argument ${a} (--help)`);
  }
  const settings = await fromWranglerConfig(opts.config, opts.env);
  if (!existsSync(settings.main)) throw new Error(`${settings.main} is missing: build it first (bash scripts/build-worker)`);
  const base = path.dirname(path.resolve(opts.config));
  const dir = path.resolve(opts.dir ?? path.join(base, '.wrangler', 'serve'));
  const stateDir = path.resolve(opts.persistTo ?? path.join(base, '.wrangler', 'serve-state'));
  const s = await serveWorker(settings, { dir, port: opts.port, ip: opts.ip, stateDir, stdio: ['ignore', 'inherit', 'inherit'] });
  process.stderr.write(
    `serve: ${settings.name} (${path.relative(process.cwd(), settings.main) || settings.main}) on ${s.url} — plain workerd, ` +
      `secrets from ${settings.secretsFile ? path.relative(process.cwd(), settings.secretsFile) : '(no .dev.vars)'}, ` +
      `Durable Objects in ${path.relative(process.cwd(), stateDir)}; Ctrl-C stops it\n`,
  );
  const onSignal = () => s.stop().then(() => process.exit(0));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const { code, signal } = await s.exit;
  process.exit(code ?? (signal ? 1 : 0));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`serve: ${e.message}\n`);
    process.exit(1);
  });
}
