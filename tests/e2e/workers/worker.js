// A dedicated module Web Worker: loads the package's browser entry js/web.js (static import; it
// finishes loading the wasm before this module runs), says "ready", then answers each job message
// with the result of pay().
import * as x402 from '/js/web.js';
import { pay } from './pay.js';

self.addEventListener('message', async (event) => {
  self.postMessage({ type: 'result', result: await pay(x402, event.data) });
});
self.postMessage({ type: 'ready' });
