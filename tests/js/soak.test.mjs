// The soak of bench/soak.mjs, short (issue 15): about 25 s of mixed traffic (unpaid, paid on both
// settlement orders, pass holders, replays, copies in flight, hostile headers, bypass spellings) on
// the Worker on plain workerd, settling on one anvil with TestUSDC, while the chain stops, a relayer
// key is drained, the origin answers 500 and the Worker is killed and started again on its persisted
// state; then the invariants of checkSoak(), payment by payment against the chain. The stand-ins
// (the JSON-RPC proxy and the origin) are described in bench/soak.mjs.
//
// The checks are also run on doctored copies of the run (a transfer no answer accounts for, an
// authorization used twice, an unpaid request served, a 5xx outside the faults, a pending payment
// never resolved), so a check that holds on the real run is one that could have failed.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorker } from './lib/worker.mjs';
import { checkSoak, figures, report, runSoak } from '../../bench/soak.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let result;
let checks;

/** The newest modification time (ms) under `dir` of files whose name matches `re`. */
function newest(dir, re) {
  let m = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) m = Math.max(m, newest(p, re));
    else if (re.test(e.name)) m = Math.max(m, statSync(p).mtimeMs);
  }
  return m;
}

before(async () => {
  // build/worker as scripts/test has just built it (bash scripts/build), else built now: the
  // build's wasm-opt pass costs about 25 s, which this short soak does not spend twice.
  const wasm = path.join(ROOT, 'build', 'worker', 'x402_worker_bg.wasm');
  const sources = Math.max(newest(path.join(ROOT, 'crates'), /\.(rs|toml|mjs|js)$/), statSync(path.join(ROOT, 'Cargo.lock')).mtimeMs);
  if (!existsSync(wasm) || statSync(wasm).mtimeMs < sources) buildWorker();
  result = await runSoak({
    seconds: 25,
    chainDownSeconds: 6,
    originDownSeconds: 4,
    drainSeconds: 4,
    maxTimeoutSeconds: 20,
    log: () => {},
  });
  checks = checkSoak(result);
});

const check = (id) => {
  const c = checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id}`);
  return c;
};
const holds = (id) => {
  const c = check(id);
  assert.ok(c.ok, `${c.name}: ${c.detail}\n${c.items.join('\n')}\n(records: ${result.resultFile})`);
};

describe('the short soak', () => {
  test('every traffic class ran and every fault took effect', (t) => {
    for (const line of report(result, checks, { command: 'node --test tests/js/soak.test.mjs' }).split('## Invariants')[0].split('\n')) t.diagnostic(line);
    const fg = figures(result);
    const classes = new Set(fg.per.map((c) => c.cls));
    for (const c of ['unpaid', 'paid', 'background', 'pass', 'replay', 'inflight', 'hostile', 'bypass']) assert.ok(classes.has(c), `no ${c} request`);
    const seen = (pred) => result.records.some(pred);
    assert.ok(fg.settled > 0, 'payments settled');
    assert.ok(seen((r) => r.status === 200 && r.cls === 'pass'), 'a pass holder served');
    assert.ok(seen((r) => r.status === 200 && r.cls === 'background' && r.background), 'a background route served');
    assert.ok(seen((r) => r.status === 503), 'the chain fault gave 503s');
    assert.ok(seen((r) => r.origin500), "the origin's 500 passed through");
    assert.ok(seen((r) => r.status === 0), 'the Worker restart cut requests');
    assert.ok(seen((r) => r.status === 200 && r.start > result.windows.restart[1]), 'served after the restart');
    assert.ok(result.proxyCounts.refused > 0, 'the RPC proxy refused calls');
    for (const w of ['chain', 'drain', 'origin', 'restart']) assert.ok(result.windows[w], `fault ${w}`);
  });

  test('nothing served unpaid', () => holds('unpaid'));
  test('no authorization settled twice', () => holds('twice'));
  test('transfers to payTo == paid 200s + pending (or unanswered) payments that mined, by nonce', () => holds('accounted'));
  test('every pending settlement resolved (mined, or expired unused)', () => holds('pending'));
  test('a payment that mined is served when sent again (charged and never served: none)', () => holds('retryServed'));
  test('no 5xx but the declared ones', () => holds('fivexx'));
  test('every answer one the README declares for its class', () => holds('declared'));

  test('findings are reported, not asserted', (t) => {
    for (const c of checks.filter((x) => x.reported)) t.diagnostic(`${c.ok ? 'holds' : 'FAILS'}: ${c.name}: ${c.detail}`);
    assert.ok(checks.some((x) => x.reported));
  });

  test('the status endpoint (when the Worker has one): relayers and the replay guard emptied after expiry', (t) => {
    if (!result.status.start) {
      t.skip('this Worker has no /.well-known/x402/status');
      return;
    }
    const drained = result.status.end.relayers.find((r) => r.address.toLowerCase() === result.drained.toLowerCase());
    assert.ok(drained, 'the drained relayer is listed');
    assert.equal(drained.balance, '0');
    assert.equal(drained.lowGas, true);
    assert.ok(result.guardProbe.during >= 1, `guard entries while valid: ${result.guardProbe.during}`);
    assert.equal(result.guardProbe.after, 0, 'guard entries after validBefore');
  });
});

describe('the checks fail on a doctored run', () => {
  const doctor = (edit) => {
    const r = structuredClone(result);
    edit(r);
    return checkSoak(r);
  };
  const fails = (cs, id) => assert.equal(cs.find((c) => c.id === id).ok, false, `${id} should fail`);
  const settledServed = () => result.payments.find((p) => p.kind === 'fresh' && p.order === 'before-response' && p.answers.some((a) => a.status === 200)
    && result.chain.used.some((u) => u.nonce.toLowerCase() === p.nonce.toLowerCase()));

  test('a transfer to payTo for a payment every answer refused', () => {
    fails(doctor((r) => {
      const p = r.payments.find((x) => x.kind === 'fresh' && x.answers.every((a) => a.status === 402 && a.reason !== 'settlement_pending'))
        ?? r.payments.find((x) => x.kind === 'hostile');
      const tx = `0x${'77'.repeat(32)}`;
      r.chain.used.push({ authorizer: p.payer, nonce: p.nonce, tx });
      r.chain.transfers.push({ from: p.payer, to: r.chain.transfers[0].to, value: p.amount, tx });
      r.chain.relayers[0].txs++;
    }), 'accounted');
  });

  test('a mined payment refused on a resend within its validity', () => {
    fails(doctor((r) => {
      const p = r.payments.find((x) => x.kind === 'fresh' && x.answers.some((a) => a.status === 200)
        && r.chain.used.some((u) => u.nonce.toLowerCase() === x.nonce.toLowerCase()));
      p.validBefore = r.startedAt + 10_000;
      p.answers = [{ ...p.answers[0], status: 402, reason: 'settlement_pending', cls: 'resend', start: (r.windows.chain?.[1] ?? 0) + 1 }];
    }), 'retryServed');
  });

  test('a transfer without any authorization of the run', () => {
    fails(doctor((r) => r.chain.transfers.push({ ...r.chain.transfers[0], tx: `0x${'66'.repeat(32)}` })), 'accounted');
  });

  test('one authorization used twice', () => {
    fails(doctor((r) => {
      r.chain.used.push({ ...r.chain.used[0], tx: `0x${'55'.repeat(32)}` });
      r.chain.relayers[0].txs++;
    }), 'twice');
  });

  test('a relayer transaction more than the settlements (a second send that reverted)', () => {
    fails(doctor((r) => { r.chain.relayers[0].txs++; }), 'secondSends');
  });

  test('an unpaid request served, and a served payment never settled', () => {
    fails(doctor((r) => Object.assign(r.records.find((x) => x.cls === 'bypass'), { status: 200, content: true })), 'unpaid');
    const p = settledServed();
    fails(doctor((r) => { r.chain.used = r.chain.used.filter((u) => u.nonce.toLowerCase() !== p.nonce.toLowerCase()); }), 'unpaid');
  });

  test('a 5xx outside the faults, and a refusal the README does not declare', () => {
    const quiet = result.records.find((x) => x.cls === 'unpaid' && x.status === 402 && x.start > 0 && x.start < result.windows.chain[0] - 3) ?? result.records.find((x) => x.cls === 'unpaid' && x.status === 402);
    fails(doctor((r) => Object.assign(r.records[result.records.indexOf(quiet)], { status: 502, reason: 'invalid_request' })), 'fivexx');
    fails(doctor((r) => Object.assign(r.records[result.records.indexOf(quiet)], { status: 404 })), 'declared');
  });

  test('a pending payment neither mined nor expired', () => {
    fails(doctor((r) => {
      const p = r.payments.find((x) => x.kind === 'fresh' && x.answers.some((a) => !a.otherResource && (a.reason === 'settlement_pending' || a.status === 0)));
      p.validBefore = r.checkedAt + 600;
      r.chain.used = r.chain.used.filter((u) => u.nonce.toLowerCase() !== p.nonce.toLowerCase());
    }), 'pending');
  });
});
