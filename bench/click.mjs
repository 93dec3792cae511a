// Benchmark (not a test: nothing is asserted, no timed assertion): what a reader of the demo site
// waits for in Chromium, and how often the wallet asks.
//
// The demo stack of the end-to-end tests (tests/e2e/lib/stack.mjs): anvil + TestUSDC + the
// batch-settlement stand-in contracts, the built Worker (a copy of build/worker) under
// `wrangler dev` with the demo configuration (batch-settlement channels on), and Debian's
// Chromium through playwright-core; the wallet is the demo wallet (www/demo-wallet.js: an EIP-6963
// provider in the page that logs every request in localStorage 'x402-demo:log' and signs with an
// anvil dev account). Nothing is rebuilt: scripts/build-browser and scripts/build-worker must
// have run.
//
// In rounds, interleaved (each round's order rotated) so that a busy moment of the machine falls
// on every kind alike:
//   - free page load: a reader who does not pay (anvil account #5) loads an article page
//     (/articles/<one|two|three>.html?free=<i>, cookies cleared). Time from the navigation's start
//     (performance.timeOrigin) to the first contentful paint (the teaser, Chromium's paint timing),
//     and to the pay box showing its offer (the drop-in and its wasm loaded, the 402 fetched).
//   - exact: a reader with no credit (account #2) clicks "Unlock this article for <price>" (the
//     exact offer next to the credit offer: an EIP-3009 signature, settled on anvil before the
//     content is served).
//   - exact without channels: the same on a second Worker started with the demo configuration
//     minus its batch-settlement table (tests/e2e/lib/stack.mjs withoutChannels: the 402 offers
//     `exact` only, the drop-in's plain pay box "Unlock for <price>", no channel module), on its
//     own anvil (so the two Workers' relayers do not share an account's nonces); account #3.
//   - voucher: a reader who added credit once (account #1: "Add 0.50 USDC of credit" on the first
//     article, the deposit, not timed) clicks "Unlock for <price>" (a voucher signed by the
//     channel's key in the page: no wallet request).
// Each paid article is a fresh article URL (?n=<i>) with the context's cookies cleared first, so
// the access pass (an HttpOnly cookie) does not serve it; localStorage (the channel state, the
// wallet log) stays. Articles cycle one, two, three ($0.01, $0.02, $0.05).
//
// Click-to-content is measured in the page: performance.now() in a capture-phase click listener
// on window (the first script to see the click) to performance.now() in a MutationObserver
// callback seeing the article's element get data-x402-state="unlocked" (set right after the
// paid content is inserted). The same interval seen from outside (playwright: click() called →
// waitFor of [data-x402-state=unlocked] returned, CDP round trips included) is given too.
//
// Wallet requests: the demo wallet's log after 10 paid articles per reader (with channels: the
// credit article + 9 vouchers; exact: 10 articles), eth_signTypedData_v4 counted and all requests.
//
// A warm-up before the rounds (not counted): one free page load, one exact payment by account #4
// on each Worker, and the voucher reader's credit article.
//
// Writes bench/click-results.md.
//   node bench/click.mjs [rounds, default 10]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAnvil, deployToken, deployBatchSettlement } from '../tests/js/lib/chain.mjs';
import { ROOT, checkBuilt, launchChromium, startWorker, withoutChannels } from '../tests/e2e/lib/stack.mjs';

const ROUNDS = Number(process.argv[2] ?? 10);
const ARTICLES = [['one', '0.01'], ['two', '0.02'], ['three', '0.05']];
const started = Date.now();

// Installed in every page before its scripts: the click and unlock instants, and the instant the
// pay box first shows an offer, each in performance.now() (ms since the navigation's start).
function probe() {
  window.__x402bench = { click: null, unlocked: null, offer: null };
  const b = window.__x402bench;
  addEventListener('click', () => { b.click ??= performance.now(); }, true);
  new MutationObserver(() => {
    if (b.unlocked === null && document.querySelector('[data-x402-state=unlocked]')) b.unlocked = performance.now();
    if (b.offer === null && document.querySelector('.x402-box[data-state=offer]')) b.offer = performance.now();
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-x402-state', 'data-state'] });
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; // nearest rank
  return { n: s.length, p50: q(0.5), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0], max: s[s.length - 1] };
}

// What was measured: the build's files (stack.mjs copies them when each Worker starts).
const BUILT = ['www/x402/x402.js', 'www/x402/x402_bg.wasm', 'www/x402/x402-channel.js', 'www/x402/x402_channel_bg.wasm', 'build/worker/x402_worker_bg.wasm'];
const built = () => BUILT.map((f) => {
  try { return `\`${f}\` ${createHash('sha256').update(readFileSync(path.join(ROOT, f))).digest('hex').slice(0, 12)}`; } catch { return `\`${f}\` missing`; }
}).join(', ');
let head = 'unknown';
try { head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }

const anvil = await startAnvil();
let anvil2, worker, worker2, browser, files;
try {
  checkBuilt();
  await deployToken(anvil.rpcUrl);
  await deployBatchSettlement(anvil.rpcUrl);
  anvil2 = await startAnvil();
  await deployToken(anvil2.rpcUrl);
  files = built();
  worker = await startWorker(anvil.rpcUrl); // the demo configuration: exact + batch-settlement offers
  worker2 = await startWorker(anvil2.rpcUrl, withoutChannels); // exact offers only
  const base = worker.base;
  browser = await launchChromium();

  const reader = async (account, rpcUrl = anvil.rpcUrl, site = base) => {
    const context = await browser.newContext();
    await context.addInitScript(([rpc, index]) => {
      localStorage.setItem('x402-demo:rpc', rpc);
      localStorage.setItem('x402-demo:account', String(index));
    }, [rpcUrl, account]);
    await context.addInitScript(probe);
    return { context, page: await context.newPage(), base: site };
  };
  const walletLog = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('x402-demo:log') ?? '[]'));
  const article = (i) => ARTICLES[((i % 3) + 3) % 3];

  async function freeLoad(r, i) {
    const [name] = article(i);
    await r.context.clearCookies();
    await r.page.goto(`${r.base}/articles/${name}.html?free=${i}`);
    await r.page.locator('.x402-box[data-state=offer]').waitFor();
    return r.page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      offer: window.__x402bench.offer,
      load: performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? NaN,
    }));
  }

  // Loads article i, waits for `label(price)`, clicks it, waits for the content: the two intervals.
  async function paidClick(r, i, label) {
    const [name, price] = article(i);
    await r.context.clearCookies();
    await r.page.goto(`${r.base}/articles/${name}.html?n=${i}`);
    const button = r.page.getByRole('button', { name: label(price), exact: true });
    await button.waitFor();
    const t0 = performance.now();
    await button.click();
    await r.page.locator('[data-x402-state=unlocked]').waitFor();
    const outside = performance.now() - t0;
    // Where the time went, from Resource Timing: the requests started after the click.
    const { inPage, requests } = await r.page.evaluate(() => {
      const b = window.__x402bench;
      const after = performance.getEntriesByType('resource').filter((e) => e.startTime >= b.click && e.startTime <= b.unlocked);
      return {
        inPage: b.unlocked - b.click,
        requests: after.map((e) => ({ url: e.name, start: e.startTime - b.click, ms: e.responseEnd - e.startTime })),
      };
    });
    const text = await r.page.locator('.x402-box').innerText();
    const paid = requests.filter((q) => new URL(q.url).pathname.startsWith('/paid/'));
    const wallet = requests.filter((q) => !q.url.startsWith(r.base));
    return { inPage, outside, text, paidMs: paid.reduce((a, q) => a + q.ms, 0), paidN: paid.length, walletMs: wallet.reduce((a, q) => a + q.ms, 0), walletN: wallet.length };
  }

  const exactLabel = (p) => `Unlock this article for ${p} USDC`;
  const voucherLabel = (p) => `Unlock for ${p} USDC`;

  // Warm-up (not counted).
  const free = await reader(5);
  await freeLoad(free, -1);
  const warm = await reader(4);
  await paidClick(warm, 0, exactLabel);
  await warm.context.close();
  const warm2 = await reader(4, anvil2.rpcUrl, worker2.base);
  await paidClick(warm2, 0, voucherLabel);
  await warm2.context.close();
  const voucher = await reader(1);
  const deposit = await paidClick(voucher, 0, () => 'Add 0.50 USDC of credit');
  if (!/^Unlocked\. You added 0\.50 USDC of credit/.test(deposit.text)) throw new Error(`the credit article did not add credit: ${deposit.text}`);
  const exact = await reader(2);
  const plain = await reader(3, anvil2.rpcUrl, worker2.base);

  const rows = { free: [], exact: [], plain: [], voucher: [] };
  let voucherLogAt10, exactLogAt10, plainLogAt10;
  const kinds = [
    async (i) => rows.free.push(await freeLoad(free, i)),
    async (i) => {
      const e = await paidClick(exact, i, exactLabel);
      if (!/^Unlocked\. You paid /.test(e.text)) throw new Error(`exact article ${i}: ${e.text}`);
      rows.exact.push(e);
    },
    async (i) => {
      const p = await paidClick(plain, i, voucherLabel); // the plain box's button: "Unlock for <price>"
      if (!/^Unlocked\. You paid /.test(p.text)) throw new Error(`exact article ${i} without channels: ${p.text}`);
      rows.plain.push(p);
    },
    async (i) => {
      const v = await paidClick(voucher, i, voucherLabel);
      if (!/^Unlocked\. Paid .* from your credit/.test(v.text)) throw new Error(`voucher article ${i}: ${v.text}`);
      rows.voucher.push(v);
    },
  ];
  for (let i = 1; i <= ROUNDS; i++) {
    // Each round in another order (rotated), so that no kind always follows the same one.
    for (let k = 0; k < kinds.length; k++) await kinds[(k + i) % kinds.length](i);
    if (i === 9) voucherLogAt10 = await walletLog(voucher.page); // the credit article + 9 vouchers
    if (i === 10) exactLogAt10 = await walletLog(exact.page);
    if (i === 10) plainLogAt10 = await walletLog(plain.page);
  }
  const voucherLogAll = await walletLog(voucher.page);
  const exactLogAll = await walletLog(exact.page);
  const plainLogAll = await walletLog(plain.page);
  const freeLog = await walletLog(free.page);

  const f = (x) => x.toFixed(1);
  const line = (what, xs, how) => { const s = stats(xs); return `| ${what} | ${s.n} | **${f(s.p50)}** | ${f(s.p90)} | ${f(s.mean)} | ${f(s.min)}–${f(s.max)} | ${how} |`; };
  const counts = (log) => {
    const by = {};
    for (const m of log) by[m] = (by[m] ?? 0) + 1;
    return Object.entries(by).map(([m, n]) => `${m} ${n}`).join(', ') || '—';
  };
  const sign = (log) => log.filter((m) => m === 'eth_signTypedData_v4').length;
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const breakdown = (what, rs) => {
    const total = mean(rs.map((r) => r.inPage)), paid = mean(rs.map((r) => r.paidMs)), wallet = mean(rs.map((r) => r.walletMs));
    return `| ${what} | ${f(total)} ms | ${f(paid)} ms (${f(mean(rs.map((r) => r.paidN)))} requests) | ${f(wallet)} ms (${f(mean(rs.map((r) => r.walletN)))} requests) | ${f(total - paid - wallet)} ms |`;
  };
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const secs = (Date.now() - started) / 1000;
  const tenth = ROUNDS >= 10;
  const prompts = (name, log10, logAll, goal, articles) => tenth
    ? `| ${name} | **${sign(log10)}** (goal ${goal}) | ${log10.length}: ${counts(log10)} | ${sign(logAll)} / ${logAll.length} over ${articles} |`
    : `| ${name} | — (fewer than 10 rounds) | — | ${sign(logAll)} / ${logAll.length} over ${articles} |`;

  const md = `# Click-to-content in Chromium (demo stack)

Generated by \`node bench/click.mjs ${ROUNDS}\` on ${new Date().toISOString()} (node ${process.version}, ${os.cpus().length} cores, ${cpu}, Debian's Chromium headless via playwright-core) in ${secs.toFixed(0)} s.
Not a test: nothing is asserted. A shared machine: Chromium, \`wrangler dev\` (workerd) and anvil
run on the same cores as the other engineers' work, so the figures move from run to run.

The stack of the end-to-end tests (\`tests/e2e/lib/stack.mjs\`): anvil + TestUSDC + the
batch-settlement stand-ins, a copy of \`build/worker\` under \`wrangler dev\` with the demo
\`wrangler.toml\` (each 402 offers \`exact\` and \`batch-settlement\`), the drop-in from \`www/x402/\`,
the demo wallet (\`www/demo-wallet.js\`: anvil signs); next to it a second Worker of the same build
with the demo configuration minus \`batchSettlement\` (\`withoutChannels\`: \`exact\` only, the
plain pay box) on its own anvil. ${ROUNDS} rounds, each one free page load, one exact-paid article
on each Worker and one voucher-paid article, interleaved (each round's order rotated); articles cycle one, two, three
($0.01, $0.02, $0.05), each a fresh URL (\`?n=<i>\`) with the cookies cleared first (the access
pass is a cookie; localStorage with the channel state stays). Warm-up not counted: one free load,
one exact payment by another reader on each Worker, the voucher reader's credit article (the
deposit). Measured: HEAD ${head} (working tree as built); ${files} (sha-256, first 12 hex).

**How measured.** Click-to-content, in the page: \`performance.now()\` in a capture-phase
\`click\` listener on \`window\` → \`performance.now()\` in a \`MutationObserver\` callback that sees
\`[data-x402-state=unlocked]\` (the drop-in sets it right after inserting the paid content). The
"outside" column: playwright's \`click()\` called → \`waitFor('[data-x402-state=unlocked]')\`
returned, in node (CDP round trips included). Free page load: navigation start
(\`performance.timeOrigin\`) → \`first-contentful-paint\` (the teaser visible), and → the pay box
showing its offer (drop-in + wasm loaded, the 402 fetched; a \`MutationObserver\`), in the page;
warm HTTP cache (one context for all free loads). p50 and p90 by nearest rank
(of 10 samples: the 5th and the 9th).

| what | n | p50 ms | p90 ms | mean ms | min–max ms | measured |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
${line('voucher-paid article: click "Unlock for <price>" → content (credit already added)', rows.voucher.map((r) => r.inPage), 'in page')}
${line('exact-paid article: click "Unlock this article for <price>" → content (EIP-3009 signed by the wallet, settled on anvil before the answer)', rows.exact.map((r) => r.inPage), 'in page')}
${line('exact-paid article, Worker without channels: click "Unlock for <price>" → content (the plain pay box, no channel module)', rows.plain.map((r) => r.inPage), 'in page')}
${line('free page load: navigation → first contentful paint (teaser visible)', rows.free.map((r) => r.fcp), 'in page')}
${line('free page load: navigation → pay box offer shown', rows.free.map((r) => r.offer), 'in page')}
${line('voucher-paid, same clicks seen from outside', rows.voucher.map((r) => r.outside), 'playwright')}
${line('exact-paid, same clicks seen from outside', rows.exact.map((r) => r.outside), 'playwright')}
${line('exact-paid without channels, same clicks seen from outside', rows.plain.map((r) => r.outside), 'playwright')}

Where a click's time went (means over the same clicks, from Resource Timing of the requests the
page started between the click and the content: \`startTime\` → \`responseEnd\`; the rest is the
page's own work — wasm, the wallet's JS, DOM — and waits between requests):

| click | in page | requests to the Worker (/paid/…) | wallet JSON-RPC requests (to anvil) | rest |
| --- | ---: | ---: | ---: | ---: |
${breakdown('voucher-paid', rows.voucher)}
${breakdown('exact-paid (with channels offered)', rows.exact)}
${breakdown('exact-paid (Worker without channels)', rows.plain)}

Exact ÷ voucher click-to-content: p50 ${(stats(rows.exact.map((r) => r.inPage)).p50 / stats(rows.voucher.map((r) => r.inPage)).p50).toFixed(2)}×, mean ${(stats(rows.exact.map((r) => r.inPage)).mean / stats(rows.voucher.map((r) => r.inPage)).mean).toFixed(2)}×.
The credit article (deposit + first charge, warm-up, one sample): ${f(deposit.inPage)} ms in page.

## Wallet requests per 10 articles

From the demo wallet's log (\`localStorage['x402-demo:log']\`, every request a page made to the
wallet). With channels the 10 articles are the credit article and the next 9 voucher articles; with
exact, 10 articles paid one by one.

| reader | signing requests (eth_signTypedData_v4) per 10 articles | all wallet requests per 10 articles | signing / all over the whole run |
| --- | --- | --- | --- |
${prompts('with channels (credit once, then vouchers)', voucherLogAt10, voucherLogAll, 1, `${ROUNDS + 1} articles`)}
${prompts('exact (each article alone, "Unlock this article for <price>")', exactLogAt10, exactLogAll, 10, `${ROUNDS} articles`)}
${prompts('exact, Worker without channels', plainLogAt10, plainLogAll, 10, `${ROUNDS} articles`)}
| free pages only (no click) | 0 | ${freeLog.length}${freeLog.length ? `: ${counts(freeLog)}` : ''} | ${sign(freeLog)} / ${freeLog.length} over ${ROUNDS + 1} loads |
`;
  writeFileSync(path.join(ROOT, 'bench', 'click-results.md'), md);
  process.stdout.write(md);
} finally {
  await browser?.close();
  await worker?.stop();
  await worker2?.stop();
  await anvil2?.stop();
  await anvil.stop();
}
