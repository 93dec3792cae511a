// x402-wasm for browsers, Web Workers and service workers (and bundlers): the wasm build without
// secp256k1 (the wallet signs). The wasm file is fetched next to pkg/web/x402.js.
import init, { PayingFetch, paymentReceipt, decodePaymentRequired, decodePaymentResponse } from '../pkg/web/x402.js';
import { makeWrapFetch } from './common.js';

await init();

export const wrapFetch = makeWrapFetch(PayingFetch);
export { wrapFetch as wrapFetchWithPayment, PayingFetch, paymentReceipt, decodePaymentRequired, decodePaymentResponse };
export { discoverWallets, listWallets, requestWallets } from './wallets.js';
