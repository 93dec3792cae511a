// x402-wasm/local: the main entry plus a local-key wallet (Node, agents); `wrapFetch` (with
// batch-settlement channels) as the main entry's.
export * from './index.js';
import type { Signer } from './index.js';

/**
 * A wallet signing with a private key (`0x` + 64 hex); signs only EIP-3009 transfer
 * authorizations (exact payments), receive authorizations (channel deposits) and text messages
 * (`signMessage`, EIP-191: a restore's sign-in).
 */
export function localWallet(privateKey: string): Signer;

export type { ChannelOptions, ChannelOffer, ChannelStorage, PayingFetch } from './index.js';
