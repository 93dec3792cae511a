// x402-wasm for Node: the same wasm build as browsers, loaded from disk.
import { readFile } from 'node:fs/promises';
import init, { PayingFetch, paymentReceipt, decodePaymentRequired, decodePaymentResponse } from '../pkg/web/x402.js';
import { makeWrapFetch } from './common.js';

await init({ module_or_path: await readFile(new URL('../pkg/web/x402_bg.wasm', import.meta.url)) });

/** Already resolved in Node (the module is loaded before this entry finishes evaluating). */
export const ready = Promise.resolve();
export const wrapFetch = makeWrapFetch(PayingFetch);
export { wrapFetch as wrapFetchWithPayment, PayingFetch, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
