// x402-wasm for Node: the same wasm build as browsers, loaded from disk.
import { readFile } from 'node:fs/promises';
import init, { wrapFetch as wrap, paymentReceipt, decodePaymentRequired, decodePaymentResponse } from '../pkg/web/x402.js';

await init({ module_or_path: await readFile(new URL('../pkg/web/x402_bg.wasm', import.meta.url)) });

/** Already resolved in Node (the module is loaded before this entry finishes evaluating). */
export const ready = Promise.resolve();

// wrapFetch(fetch, wallet, options): the wasm function itself (same shape as @x402/fetch's
// wrapFetchWithPayment); it reads absent options as none.
export { wrap as wrapFetch, wrap as wrapFetchWithPayment, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
