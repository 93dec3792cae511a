// Types of `x402-wasm/lazy`: the exports of the main entry, usable in service workers. The wasm
// module loads in the background: `wrapFetch` may be called at once; the synchronous functions
// (`paymentReceipt`, `decodePaymentRequired`, `decodePaymentResponse`) need `await ready` first.
export * from './index.js';
