// A consumer of the packed package, imported by name: pays URL (argv[2]) COUNT (argv[3]) times
// through a batch-settlement channel kept in the file STORE (argv[4]), then asks for the credit
// left back (a cooperative refund). ENTRY (argv[5]): `local` (x402-wasm/local, pkg/local) or
// `main` (x402-wasm: pkg/web, with the channel module pkg/channel loaded on first use).
import { localWallet, wrapFetch as wrapLocal } from 'x402-wasm/local';
import { wrapFetch as wrapMain } from 'x402-wasm';

const [url, count, store, entry] = process.argv.slice(2);
const key = localWallet(process.env.PAYER_KEY);
let signed = 0;
const wallet = { address: key.address, signTypedData: (t) => { signed += 1; return key.signTypedData(t); } };
const wrap = entry === 'main' ? wrapMain : wrapLocal;
const pay = wrap(fetch, wallet, { channels: { allowed: true, credit: '1500000', maxDeposit: '2000000', storage: store } });
const charged = [];
const kinds = [];
for (let i = 0; i < Number(count); i += 1) {
  const res = await pay(url);
  await res.text();
  if (res.status !== 200) throw new Error(`request ${i + 1}: HTTP ${res.status}`);
  const r = JSON.parse(atob(res.headers.get('PAYMENT-RESPONSE')));
  charged.push(r.extra.channelState.chargedCumulativeAmount);
  kinds.push(r.transaction === '' ? 'voucher' : 'deposit');
}
const refund = count === '0' || process.env.NO_REFUND ? undefined : await pay.refund(url);
console.log(JSON.stringify({ signed, charged, kinds, refunded: refund?.refunded, credit: refund?.offer.credit }));
