// A dedicated module Web Worker on js/lazy.js that wraps fetch while this module evaluates, so
// before the wasm module can have loaded: the wrapped fetch must wait for it, and the synchronous
// exports must refuse with a clear error until then.
import * as x402 from '/js/lazy.js';
import { anvilWallet, pay } from './pay.js';

let job;
const wallet = {
  get address() { return job.address; },
  signTypedData: (typedData) => anvilWallet(job.rpcUrl, job.address).signTypedData(typedData),
};
const early = x402.wrapFetch(fetch, wallet);
let beforeReady;
try {
  x402.paymentReceipt(new Response(''));
  beforeReady = 'no error';
} catch (e) {
  beforeReady = String(e?.message ?? e);
}

self.addEventListener('message', async (event) => {
  job = event.data;
  const result = await pay({ wrapFetch: () => early, paymentReceipt: x402.paymentReceipt }, job);
  self.postMessage({ type: 'result', result: { ...result, beforeReady } });
});
self.postMessage({ type: 'ready' });
