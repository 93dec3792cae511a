// x402-wasm for pages, Web Workers and bundlers: the wasm build without secp256k1 (the wallet
// signs), fetched next to pkg/web/x402.js. This entry waits for the wasm module with a top-level
// await, so every export is usable once the import resolves. Service workers refuse module graphs
// with top-level await: they import `x402-wasm/lazy` (js/lazy.js), the same exports without it.
export * from './lazy.js';
import { ready } from './lazy.js';

await ready;
