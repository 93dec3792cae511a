// x402-wasm for browsers without top-level await: the same wasm build as js/web.js, loaded in the
// background instead of before the module finishes evaluating. For service workers, whose module
// graphs may not contain top-level await (Chromium refuses to register one that imports js/web.js:
// "ServiceWorker cannot be started"), and for anything else that cannot take an async module.
//   import { wrapFetch, paymentReceipt, ready } from '.../js/lazy.js';
// `wrapFetch` can be called at once: its fetch waits for the wasm module. The synchronous exports
// (`paymentReceipt`, `decodePaymentRequired`, `decodePaymentResponse`) need it
// loaded: `await ready` first (a response from the wrapped fetch means it is loaded).
import init, {
  wrapFetch as wrap, paymentReceipt as receipt, decodePaymentRequired as decodeRequired, decodePaymentResponse as decodeResponse,
} from '../pkg/web/x402.js';
import { lazyChannels } from './channels.js';
import { keepingReceipts, receiptBooks, receiptVerifier } from './receipts.js';

let loaded = false;

/** Resolves once the wasm module is instantiated; rejects if it could not be loaded. */
export const ready = init().then(() => { loaded = true; });
// Whoever awaits `ready` (or calls a wrapped fetch) sees the failure; do not report it unhandled.
ready.catch(() => {});

let channelModule;
// The channel module (pkg/channel, voucher signing) next to pkg/web: fetched only when a paying
// fetch with `options.channels` sends its first request. A failed load is tried again next time.
// Service workers may not import() (HTML's rule): there it fails with that said.
const loadChannels = () => (channelModule ??= import('../pkg/channel/x402.js')
  .then(async (m) => { await m.default(); return m; })
  .catch((e) => {
    channelModule = undefined;
    if (typeof ServiceWorkerGlobalScope === 'function' && globalThis instanceof ServiceWorkerGlobalScope) {
      throw Object.assign(new Error('channels need the channel module, which a service worker cannot import() (pay channels from a page or a Web Worker)'), { code: 'invalid_config', cause: e });
    }
    throw e;
  }));

/**
 * Wraps `fetch` so that HTTP 402 x402 challenges are paid once with `wallet` (as js/web.js).
 * Before the wasm module is loaded, the payer is made on the first call, after `ready`. With
 * `options.channels`, `batch-settlement` offers are paid through a channel (the channel module is
 * loaded on the first request).
 */
export function wrapFetch(fetch, wallet, options = {}) {
  return keepingReceipts(paying(fetch, wallet, options), options?.receipts);
}

function paying(fetch, wallet, options) {
  if (options?.channels !== undefined) return lazyChannels(fetch, wallet, options, loadChannels, paying);
  if (loaded) return wrap(fetch, wallet, options);
  let exact;
  return async (input, init) => {
    await ready;
    exact ??= wrap(fetch, wallet, options);
    return exact(input, init);
  };
}

function needsWasm(name, f) {
  return (...args) => {
    if (!loaded) throw new Error(`x402-wasm: ${name}() called before the wasm module was loaded (await ready first)`);
    return f(...args);
  };
}

// Pure: a bundle that does not use one (the drop-in) leaves it and its wasm glue out.
export const paymentReceipt = /* @__PURE__ */ needsWasm('paymentReceipt', receipt);
export const decodePaymentRequired = /* @__PURE__ */ needsWasm('decodePaymentRequired', decodeRequired);
export const decodePaymentResponse = /* @__PURE__ */ needsWasm('decodePaymentResponse', decodeResponse);
export { wrapFetch as wrapFetchWithPayment };

/**
 * Checks the seller's signed receipt (offer-receipt) in a paid Response, a decoded settlement or
 * the receipt itself: `{ signer, payer, resourceUrl, network, issuedAt, transaction }`, or null
 * when there is none. Loads the channel module (secp256k1) on first use.
 */
export const verifyReceipt = /* @__PURE__ */ receiptVerifier(loadChannels);

/**
 * A list of the receipts of paid responses, for `wrapFetch(…, { receipts })`, each with its
 * signed receipt checked; kept in `storage` (localStorage, say) when given. See js/receipts.js.
 */
export const receiptBook = /* @__PURE__ */ receiptBooks(verifyReceipt);
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
