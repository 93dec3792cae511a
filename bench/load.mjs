// The closed-loop load generator of the benchmarks (bench/gates.mjs) and the soak (bench/soak.mjs):
// keep-alive node:http, no load-generator dependency. A closed loop keeps C requests outstanding:
// each connection sends its next request when the previous answer's last byte arrived.
import http from 'node:http';

/** Request options for `url` over `agent` (the URL is parsed once, not per request). */
export function target(url, agent) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), path: u.pathname, agent };
}

/**
 * One GET to `t` (from target(); `t.path` may be overridden per call, raw: no normalisation, so
 * spellings such as `/paid//one.html` reach the server as written). Resolves { ms, status,
 * headers, body } (ms: from send to the body's last byte); rejects on a connection failure or
 * after `timeoutMs` without an answer.
 */
export function get(t, headers = {}, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ ...t, method: 'GET', headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.end();
  });
}

/** Closed loop: `conns` connections, `n` requests in all, each checked by `check(res)` (→ error or null). */
export async function phase(url, { n, conns, headers = {}, check }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const t = target(url, agent);
  const latencies = [];
  const failures = [];
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (next < n) {
        next++;
        try {
          const res = await get(t, headers);
          latencies.push(res.ms);
          const why = check(res);
          if (why) failures.push({ why, status: res.status, body: res.body.slice(0, 300) });
        } catch (e) {
          failures.push({ why: String(e) });
        }
      }
    }),
  );
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  agent.destroy();
  return stats(latencies, wallMs, failures, conns);
}

/** The p-quantile (0..1) of an ascending array (nearest rank); undefined when empty. */
export function quantile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Count, p50, p99, mean and rate of a phase's latencies (ms) over its wall time (ms). */
export function stats(latencies, wallMs, failures, conns) {
  const s = [...latencies].sort((a, b) => a - b);
  return { n: s.length, conns, p50: quantile(s, 0.5), p99: quantile(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1), rps: (s.length / wallMs) * 1000, wallMs, failures };
}
