// A consumer of the packed package, imported by name: pays URL (argv[2]) with a local key.
import { wrapFetch, localWallet, paymentReceipt, receiptBook } from 'x402-wasm/local';
import * as browserEntry from 'x402-wasm';

const receipts = receiptBook();
const pay = wrapFetch(fetch, localWallet(process.env.PAYER_KEY), { maxAmount: '50000', receipts });
const res = await pay(process.argv[2]);
console.log(JSON.stringify({
  status: res.status,
  body: await res.text(),
  receipt: paymentReceipt(res),
  kept: receipts.list(),
  mainEntry: typeof browserEntry.wrapFetch === 'function' && typeof browserEntry.discoverWallets === 'function',
}));
