// `bash scripts/serve` (crates/worker/js/serve.mjs): the built Worker on plain workerd, configured
// from the repo's wrangler.toml (its [vars], Durable Object bindings, [assets]) and the secrets of
// .dev.vars.example, settling on anvil. Checks what the generated workerd configuration must
// provide: the 402 with both offers, static assets with their type, outbound JSON-RPC to
// 127.0.0.1 (the `internet` service), the replay guard and relayer objects (an exact payment, its
// retry served again without a second transfer) and the channel object (a batch-settlement deposit).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromWranglerConfig, parseDevVars, serveWorker } from '../../crates/worker/js/serve.mjs';
import {
  ARTIFACTS_DIR,
  ROLES,
  deployBatchSettlement,
  deployToken,
  randomNonce,
  signTransferAuthorization,
  startAnvil,
  transferCount,
} from './lib/chain.mjs';
import { batchHeader, channelConfigFor, depositPayload } from './lib/batch.mjs';
import { buildWorker, decodeHeader, encodeHeader, freePort } from './lib/worker.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('scripts/serve: the Worker on plain workerd', () => {
  let chain;
  let served;
  before(async () => {
    buildWorker();
    chain = await startAnvil();
    await deployToken(chain.rpcUrl);
    await deployBatchSettlement(chain.rpcUrl);
    const settings = await fromWranglerConfig(path.join(ROOT, 'wrangler.toml'));
    settings.vars.X402.settlement.rpcUrl = chain.rpcUrl;
    settings.secrets = parseDevVars(readFileSync(path.join(ROOT, '.dev.vars.example'), 'utf8'));
    const dir = path.join(ARTIFACTS_DIR, `serve-${process.pid}`);
    served = await serveWorker(settings, { dir, port: await freePort() });
  });
  after(async () => {
    await served?.stop();
    await chain?.stop();
  });

  test('reads the Durable Objects, vars and secrets from wrangler.toml and .dev.vars', async () => {
    const settings = await fromWranglerConfig(path.join(ROOT, 'wrangler.toml'));
    assert.deepEqual(
      settings.durableObjects.map((d) => [d.name, d.className, d.sql]),
      [['X402_REPLAY_GUARD', 'ReplayGuard', true], ['X402_RELAYER', 'Relayer', true], ['X402_CHANNEL', 'Channel', true]],
    );
    assert.equal(typeof settings.vars.X402, 'object');
    assert.equal(settings.assets.binding, 'ASSETS');
    const secrets = parseDevVars('# c\nA=1\nB="two words" \nexport C=x # note\n');
    assert.deepEqual(secrets, { A: '1', B: 'two words', C: 'x' });
  });

  test('402 with both offers; assets with their content type', async () => {
    const res = await fetch(`${served.url}/paid/one.html`);
    await res.text();
    assert.equal(res.status, 402);
    const schemes = decodeHeader(res.headers.get('payment-required')).accepts.map((a) => a.scheme);
    assert.deepEqual(schemes, ['exact', 'batch-settlement']);
    const page = await fetch(`${served.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(await page.text(), /<html/i);
    const missing = await fetch(`${served.url}/no-such-file.txt`);
    await missing.text();
    assert.equal(missing.status, 404);
  });

  test('an exact payment settles on anvil; its retry is served again without a second transfer', async () => {
    const offer = decodeHeader((await fetch(`${served.url}/paid/two.html`)).headers.get('payment-required')).accepts[0];
    const payer = ROLES.payers[0];
    const t = Math.floor(Date.now() / 1000);
    const auth = { from: payer.address, to: offer.payTo, value: offer.amount, validAfter: String(t - 60), validBefore: String(t + 300), nonce: randomNonce() };
    const signature = await signTransferAuthorization({ privateKey: payer.privateKey, ...auth });
    const header = encodeHeader({ x402Version: 2, accepted: offer, payload: { signature, authorization: auth } });
    const before = await transferCount(chain.rpcUrl);
    const first = await fetch(`${served.url}/paid/two.html`, { headers: { 'PAYMENT-SIGNATURE': header } });
    assert.equal(first.status, 200, await first.clone().text());
    assert.match(await first.text(), /paid-content:two/);
    const receipt = decodeHeader(first.headers.get('payment-response'));
    assert.equal(receipt.success, true);
    const again = await fetch(`${served.url}/paid/two.html`, { headers: { 'PAYMENT-SIGNATURE': header } });
    await again.text();
    assert.equal(again.status, 200);
    assert.equal(decodeHeader(again.headers.get('payment-response')).transaction, receipt.transaction);
    assert.equal((await transferCount(chain.rpcUrl)) - before, 1);
  });

  test('a batch-settlement deposit goes through the Channel object', async () => {
    const accepts = decodeHeader((await fetch(`${served.url}/paid/one.html`)).headers.get('payment-required')).accepts;
    const batch = accepts.find((a) => a.scheme === 'batch-settlement');
    const payer = ROLES.payers[1];
    const voucherKey = ROLES.payers[2].privateKey;
    const config = channelConfigFor(batch, { payer: payer.address, payerAuthorizer: ROLES.payers[2].address });
    const payload = await depositPayload({ config, payerKey: payer.privateKey, voucherKey, amount: 100_000n, max: 10_000n });
    const res = await fetch(`${served.url}/paid/one.html`, { headers: { 'PAYMENT-SIGNATURE': batchHeader(batch, payload) } });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const r = decodeHeader(res.headers.get('payment-response'));
    assert.equal(r.success, true);
    assert.match(r.transaction, /^0x[0-9a-f]{64}$/);
    assert.equal(r.extra.channelState.chargedCumulativeAmount, '10000');
  });
});
