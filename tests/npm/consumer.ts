// Type-checked with `tsc --noEmit` against the packed package's declarations.
import { wrapFetch, wrapFetchWithPayment, paymentReceipt, verifyReceipt, receiptBook, discoverWallets, type ReceiptEntry, type ChannelOffer, type CheckedReceipt, type Offer, type PaymentStatus, type X402Error, type Eip1193Provider } from 'x402-wasm';
import { localWallet, receiptBook as localBook } from 'x402-wasm/local';

const book = receiptBook({ storage: 'receipts.json', storageKey: 'mine' });
const kept: ReceiptEntry[] = localBook().list();
void kept;

const provider: Eip1193Provider = { request: async () => null };
const paying = wrapFetch(fetch, provider, {
  maxAmount: '100000',
  allowedNetworks: ['eip155:8453'],
  budget: { limit: 1_000_000n, periodSeconds: 86_400 },
  confirm: (offer: Offer) => offer.price === '0.01' && offer.symbol === 'USDC',
  allowedAssets: [{ network: 'eip155:8453', asset: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', decimals: 6, maxAmount: 50_000n }],
  maxTimeoutSeconds: 600,
  pendingStorage: globalThis.localStorage,
  onStatus: (s, offer?: Offer) => { const state: PaymentStatus = s; void state; void offer?.payTo; },
  restore: true,
  receipts: book,
});
// Every status a paying fetch reports, restore's included.
const statuses: PaymentStatus[] = ['connect', 'switch', 'sign', 'settling', 'pending', 'sign-in', 'restored', 'not-restored', 'sign-in-failed'];
void statuses;
const same: typeof paying = wrapFetchWithPayment(fetch, localWallet('0x' + '11'.repeat(32)));

export async function main(): Promise<string | undefined> {
  try {
    const res: Response = await same('https://example.test/paid', { method: 'POST', body: 'x' });
    const receipt = paymentReceipt(res);
    const signed: CheckedReceipt | null = await verifyReceipt(res);
    const entry: ReceiptEntry | null = await book.add(res);
    if (entry?.problem) return `${entry.resource} ${entry.signer ?? ''} ${book.export()}`;
    if (signed) return `${signed.signer} ${signed.payer} ${signed.resourceUrl} ${signed.issuedAt.toFixed(0)} ${signed.transaction}`;
    const wallets = await discoverWallets({ waitMs: 10 });
    return receipt?.transaction ?? wallets[0]?.info.name;
  } catch (e) {
    const code: string = (e as X402Error).code;
    return code;
  }
}

// Channels: options, the ChannelOffer in confirm / onChannel, and refund on the paying fetch.
const withChannels = wrapFetch(fetch, provider, {
  channels: { allowed: true, credit: 500_000n, maxDeposit: '1000000', depositMultiplier: 5, confirmEach: true, storage: globalThis.localStorage },
  confirm: (offer: Offer | ChannelOffer) => (offer.scheme === 'batch-settlement' && offer.step === 'voucher' ? true : 'exact'),
  onChannel: (offer: ChannelOffer) => { const left: string = offer.creditPrice; void left; },
});
export async function refundAll(): Promise<string | undefined> {
  const r = await withChannels.refund?.('https://example.test/paid', { amount: 10n });
  return r?.refunded;
}
export async function withdrawAll(): Promise<number | undefined> {
  const r = await withChannels.withdraw?.('https://example.test/paid');
  return r?.step === 'initiated' ? r.after : undefined;
}
