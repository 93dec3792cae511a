// Shared by worker.js (a dedicated module Web Worker, with js/web.js) and sw.js (a module service
// worker, with js/lazy.js): pays a route of the x402 Worker from inside that worker's scope.
// The wallet is a signer object { address, signTypedData } that forwards to anvil's
// eth_signTypedData_v4 (anvil signs for its unlocked dev accounts; public test keys only).
let rpcId = 0;

/** A signer for an anvil dev account: anvil holds the key, we forward the typed data. */
export function anvilWallet(rpcUrl, address) {
  return {
    address,
    async signTypedData(typedData) {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'eth_signTypedData_v4', params: [address, typedData] }),
      });
      const body = await res.json();
      if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code });
      return body.result;
    },
  };
}

/** A signer whose user says no (EIP-1193 4001), thrown as a plain object the way wallets do. */
export function rejectingWallet(address) {
  return {
    address,
    signTypedData() {
      throw { code: 4001, message: 'User rejected the request.' };
    },
  };
}

/** Where this code runs, so the test can check it really is a worker scope. */
function scope() {
  return {
    global: Object.prototype.toString.call(globalThis),
    hasWindow: typeof window !== 'undefined',
    hasDocument: typeof document !== 'undefined',
    hasLocalStorage: typeof localStorage !== 'undefined',
  };
}

/**
 * `x402`: the package entry's exports ({ wrapFetch, paymentReceipt }). job: { rpcUrl, address,
 * url, reject }. Resolves (never rejects) with a structured-cloneable result:
 * { ok: true, status, body, receipt, scope } or { ok: false, error, scope }.
 */
export async function pay({ wrapFetch, paymentReceipt }, { rpcUrl, address, url, reject = false, channels, count = 1 }) {
  const wallet = reject ? rejectingWallet(address) : anvilWallet(rpcUrl, address);
  // `channels`: pay batch-settlement offers through a channel, `count` times (the receipts of
  // every answer in `receipts`).
  const paying = channels ? wrapFetch(fetch, wallet, { channels }) : wrapFetch(fetch, wallet);
  try {
    const receipts = [];
    let res;
    let body;
    for (let i = 0; i < count; i += 1) {
      res = await paying(url);
      body = await res.text();
      // Round-trip through JSON so the receipt is plain data whatever the wasm glue built.
      receipts.push(JSON.parse(JSON.stringify(paymentReceipt(res))));
    }
    return { ok: true, status: res.status, body, receipt: receipts.at(-1), receipts, scope: scope() };
  } catch (e) {
    return {
      ok: false,
      error: { isError: e instanceof Error, name: e?.name, code: e?.code, message: String(e?.message ?? e) },
      scope: scope(),
    };
  }
}
