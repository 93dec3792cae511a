// x402-wasm/local: everything of the main entry plus `localWallet(privateKey)`, a wallet that
// signs with a private key (Node, agents, tests). A separate wasm build (pkg/local) with
// secp256k1, so the browser bundle never carries it. Channels (`options.channels`) are in it too.
import { readFile } from 'node:fs/promises';
import init, {
  wrapFetch as wrapExact, wrapChannelFetch, LocalWallet, paymentReceipt, decodePaymentRequired, decodePaymentResponse,
  checkReceipt,
} from '../pkg/local/x402.js';
import { storageAt, withFileStorage } from './file-storage.js';
import { keepingReceipts, receiptBooks, receiptVerifier } from './receipts.js';

await init({ module_or_path: await readFile(new URL('../pkg/local/x402_bg.wasm', import.meta.url)) });

/** Already resolved (the module is loaded before this entry finishes evaluating). */
export const ready = Promise.resolve();

/** A wallet for a private key (`0x` + 64 hex digits): `{ address, signTypedData }`. */
export function localWallet(privateKey) {
  return new LocalWallet(privateKey);
}

/**
 * wrapFetch(fetch, wallet, options): the paying fetch (same shape as @x402/fetch's
 * wrapFetchWithPayment); with `options.channels` it pays `batch-settlement` offers through a
 * channel (`channels.storage` may be a file path).
 */
export function wrapFetch(fetch, wallet, options) {
  return keepingReceipts(options?.channels === undefined
    ? wrapExact(fetch, wallet, options)
    : wrapChannelFetch(fetch, wallet, withFileStorage(options), wrapExact), options?.receipts);
}

/** As the main entry's `verifyReceipt` (this build has secp256k1: nothing to load). */
export const verifyReceipt = receiptVerifier(() => ({ checkReceipt }));

/** As the main entry's `receiptBook` (`storage` may be a file path). */
export const receiptBook = receiptBooks(verifyReceipt, storageAt);

export { wrapFetch as wrapFetchWithPayment, LocalWallet, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
