// x402-wasm for Node: the same wasm build as browsers, loaded from disk. With `options.channels`
// the channel module (pkg/channel) is loaded from disk on the first request.
import { readFile } from 'node:fs/promises';
import init, { wrapFetch as wrapExact, paymentReceipt, decodePaymentRequired, decodePaymentResponse } from '../pkg/web/x402.js';
import { lazyChannels } from './channels.js';
import { storageAt, withFileStorage } from './file-storage.js';
import { keepingReceipts, receiptBooks, receiptVerifier } from './receipts.js';

await init({ module_or_path: await readFile(new URL('../pkg/web/x402_bg.wasm', import.meta.url)) });

/** Already resolved in Node (the module is loaded before this entry finishes evaluating). */
export const ready = Promise.resolve();

let channelModule;
const loadChannels = () => (channelModule ??= import('../pkg/channel/x402.js').then(async (m) => {
  await m.default({ module_or_path: await readFile(new URL('../pkg/channel/x402_bg.wasm', import.meta.url)) });
  return m;
}));
// A failed load is reported by the request that needed it, and tried again by the next.
const retryable = () => loadChannels().catch((e) => { channelModule = undefined; throw e; });

/**
 * wrapFetch(fetch, wallet, options): the paying fetch (same shape as @x402/fetch's
 * wrapFetchWithPayment); with `options.channels` it pays `batch-settlement` offers through a
 * channel (`channels.storage` may be a file path).
 */
export function wrapFetch(fetch, wallet, options) {
  return keepingReceipts(options?.channels === undefined
    ? wrapExact(fetch, wallet, options)
    : lazyChannels(fetch, wallet, withFileStorage(options), retryable, wrapExact), options?.receipts);
}

/**
 * Checks the seller's signed receipt (offer-receipt) in a paid Response, a decoded settlement or
 * the receipt itself: `{ signer, payer, resourceUrl, network, issuedAt, transaction }`, or null
 * when there is none. Loads the channel module (secp256k1) on first use.
 */
export const verifyReceipt = receiptVerifier(retryable);

/**
 * A list of the receipts of paid responses, for `wrapFetch(…, { receipts })`, each with its
 * signed receipt checked; `storage` may be a file path. See js/receipts.js.
 */
export const receiptBook = receiptBooks(verifyReceipt, storageAt);

export { wrapFetch as wrapFetchWithPayment, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
