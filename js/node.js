// x402-wasm for Node: the same wasm build as browsers, loaded from disk.
import { readFile } from 'node:fs/promises';
import init, { wrapFetch as wrap, paymentReceipt, decodePaymentRequired, decodePaymentResponse } from '../pkg/web/x402.js';

await init({ module_or_path: await readFile(new URL('../pkg/web/x402_bg.wasm', import.meta.url)) });

/** Already resolved in Node (the module is loaded before this entry finishes evaluating). */
export const ready = Promise.resolve();

/**
 * Wraps `fetch` so that HTTP 402 x402 challenges are paid once with `wallet`.
 * Same shape as @x402/fetch's `wrapFetchWithPayment(fetch, client)`.
 */
export function wrapFetch(fetch, wallet, options = {}) {
  return wrap(fetch, wallet, options);
}
export { wrapFetch as wrapFetchWithPayment, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
