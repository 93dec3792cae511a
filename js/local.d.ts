// x402-wasm/local: the main entry plus a local-key wallet (Node, agents).
export * from './index.js';
import type { Signer } from './index.js';

/** A wallet signing with a private key (`0x` + 64 hex); signs only EIP-3009 transfer authorizations. */
export function localWallet(privateKey: string): Signer;
