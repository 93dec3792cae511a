// The npm package as a consumer gets it: `npm pack`, installed into a fresh directory, imported
// by name from a Node script that pays a reference x402 server (@x402/hono + the reference
// facilitator on anvil) with the local-key wallet; its .d.ts type-checked by tsc.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAnvil, deployToken, balanceOf, ROLES } from './lib/chain.mjs';
import { startReferenceServer } from '../npm/ref-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NPM_DIR = path.join(ROOT, 'tests', 'npm');
let dir, anvil, server;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'x402-consumer-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--silent', '--offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: dir, stdio: 'inherit' });
  for (const f of ['consumer.mjs', 'consumer.ts', 'tsconfig.json']) copyFileSync(path.join(NPM_DIR, f), path.join(dir, f));
  anvil = await startAnvil();
  await deployToken(anvil.rpcUrl);
  server = await startReferenceServer(anvil.rpcUrl);
});
after(async () => {
  await server?.close();
  await anvil?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the packed package ships only its files', () => {
  const list = execFileSync('tar', ['-tzf', path.join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz')))], { encoding: 'utf8' });
  assert.match(list, /package\/pkg\/web\/x402_bg\.wasm/);
  assert.match(list, /package\/pkg\/local\/x402_bg\.wasm/);
  assert.match(list, /package\/pkg\/channel\/x402_bg\.wasm/);
  assert.match(list, /package\/js\/file-storage\.js/);
  assert.match(list, /package\/js\/index\.d\.ts/);
  assert.doesNotMatch(list, /crates\/|tests\/|node_modules\//);
});

test('imported by name, it pays a reference server with a local key', async () => {
  const payer = ROLES.payers[0];
  const before0 = await balanceOf(anvil.rpcUrl, payer.address);
  // Asynchronously: the server answering it runs in this process.
  const { stdout: out } = await promisify(execFile)(process.execPath, ['consumer.mjs', `${server.url}/paid`], {
    cwd: dir, env: { ...process.env, PAYER_KEY: payer.privateKey }, encoding: 'utf8', timeout: 60_000,
  });
  const result = JSON.parse(out.trim().split('\n').pop());
  assert.equal(result.status, 200);
  assert.equal(result.body, 'paid content');
  assert.equal(result.receipt.success, true);
  assert.equal(result.receipt.payer, payer.address);
  assert.equal(result.mainEntry, true);
  // Its receipt book kept the payment (the reference server signs no receipt).
  assert.equal(result.kept.length, 1);
  assert.deepEqual(
    { ...result.kept[0], time: undefined },
    { time: undefined, resource: `${server.url}/paid`, network: result.receipt.network, payer: payer.address, transaction: result.receipt.transaction, signed: null, signer: null },
  );
  assert.equal(await balanceOf(anvil.rpcUrl, payer.address), before0 - 10000n);
});

test('its .d.ts type-checks a consumer with tsc --noEmit', () => {
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
});
