// Types of the x402-wasm package (hand-written; the wasm-bindgen classes are wrapped).

/** Stable `code` values of the errors this package throws (plus core's verifier reason codes). */
export type X402ErrorCode =
  | 'user_rejected' | 'wrong_chain' | 'no_wallet' | 'wallet_error'
  | 'over_budget' | 'over_max' | 'no_acceptable_requirement'
  | 'malformed_challenge' | 'invalid_x402_version' | 'payment_already_attempted' | 'payment_pending'
  | 'invalid_config' | 'invalid_payload' | 'invalid_payment_requirements' | 'invalid_network'
  | 'invalid_exact_evm_scheme' | 'invalid_exact_evm_missing_eip712_domain' | 'unsupported_scheme'
  // x402-wasm/local channels: a server that broke the agreed count (the channel is blocked).
  | 'invalid_batch_settlement_evm_cumulative_amount_mismatch'
  | (string & {});

/** An `Error` with a stable `code`. */
export interface X402Error extends Error { code: X402ErrorCode }

/** An EIP-1193 provider (window.ethereum, an EIP-6963 announced provider, a test provider). */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

/** EIP-712 typed data as `eth_signTypedData_v4` takes it. */
export interface TypedData {
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  domain: { name?: string; version?: string; chainId?: number; verifyingContract?: string };
  message: Record<string, unknown>;
}

/**
 * A signer: an address and a typed-data signing function (the local-key wallet is one);
 * `signMessage` (EIP-191 `personal_sign` of a text) is needed only to restore purchases.
 */
export interface Signer {
  readonly address: string;
  signTypedData(typedData: TypedData): Promise<string> | string;
  signMessage?(message: string): Promise<string> | string;
}

export type Wallet = Eip1193Provider | Signer;

/** What `confirm` receives before anything is signed. */
export interface Offer {
  x402Version: 1 | 2;
  scheme: 'exact';
  /** CAIP-2, e.g. `eip155:8453`. */
  network: string;
  chainId: number;
  asset: string;
  /** `USDC` for known stablecoins, `''` otherwise. */
  symbol: string;
  decimals: number;
  /** Atomic units, decimal string. */
  amount: string;
  /** Human amount in the asset, e.g. `0.01`. */
  price: string;
  payTo: string;
  resource: string;
  description: string;
  maxTimeoutSeconds: number;
}

/**
 * A token the client may pay with. A token outside x402-core's known table (the USDC/USDT0
 * deployments) needs its `decimals`; `maxAmount` is its own cap, in its own atomic units.
 */
export interface AllowedAsset { network: string; asset: string; decimals?: number; maxAmount?: string | number | bigint }

export interface BudgetOptions {
  /**
   * Per origin per period, in millionths of a token whatever the token's decimals (default
   * 1000000 = $1.00 of a stablecoin, or the stored limit).
   */
  limit?: string | number | bigint;
  /** Period length, default 86400 (a day). */
  periodSeconds?: number;
  /** Storage key, default `x402:budget`. */
  storageKey?: string;
}

/**
 * Status while paying: connect → switch (when needed) → sign → settling; `pending` when the
 * payment's outcome is not known yet (`settlement_pending`, a 5xx, no answer): the next call for
 * the same request re-sends the same payment (never a new signature) until it settles or expires.
 */
export type PaymentStatus = 'connect' | 'switch' | 'sign' | 'settling' | 'pending'
  // With `restore: true`: the wallet is asked to sign in; the server restored the purchase, or
  // did not (this wallet did not buy it); signing in failed (declined, or a challenge for
  // another origin), with the error in place of the offer.
  | 'sign-in' | 'restored' | 'not-restored' | 'sign-in-failed';

/** Where channel states (and a generated voucher key) are kept; may be async. */
export interface ChannelStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
}

/**
 * `batch-settlement` channels (x402 specs/schemes/batch-settlement): one wallet signature per
 * deposit, then a voucher per request signed by the voucher key, with no wallet. The channel
 * module (voucher signing) is loaded on the first request of a paying fetch that has them.
 */
export interface ChannelOptions {
  /** Pay `batch-settlement` offers at all (default false). */
  allowed?: boolean;
  /** Take a channel when the challenge also offers `exact` (default true). */
  preferred?: boolean;
  /** What a deposit adds at least, in millionths of a token (default 500000 = $0.50). */
  credit?: string | number | bigint;
  /**
   * The largest deposit, in millionths of a token (default 1000000 = $1.00): a larger deposit
   * is refused (`over_max`) before anything is signed. It bounds what the voucher key can spend.
   */
  maxDeposit?: string | number | bigint;
  /** A deposit is at least this many prices (default 5, at least 3). */
  depositMultiplier?: number;
  /**
   * The private key that signs vouchers (`0x` + 64 hex). Default: one generated with secure
   * randomness per payer and kept in `storage` under `x402:voucher-key:<payer>`. Passing the
   * payer's own key is allowed, never done silently.
   */
  voucherKey?: string;
  /**
   * Channel states under `x402:channel:<channelId>` (default: in memory). In Node, a file path:
   * a JSON file written whole (mode 0600), so an agent's channels outlive the process.
   */
  storage?: ChannelStorage | string;
  /** Ask `confirm` before every voucher too, not only before a deposit (the drop-in's click). */
  confirmEach?: boolean;
}

/** What `confirm` and `onChannel` receive for a channel offer. */
export interface ChannelOffer extends Omit<Offer, 'scheme' | 'x402Version'> {
  x402Version: 2;
  scheme: 'batch-settlement';
  /** What this request needs: a deposit (the wallet signs) or a voucher (nothing to sign). */
  step: 'deposit' | 'voucher' | '';
  /** The deposit, atomic units, and in the asset (`0.50`); `0` for a voucher. */
  deposit: string;
  depositPrice: string;
  channelId: string;
  /** Known deposited total and charged total, atomic units. */
  balance: string;
  charged: string;
  /** What is left to spend (balance less charged), atomic units and in the asset. */
  credit: string;
  creditPrice: string;
}

/** A paying fetch; with `options.channels`, also a cooperative refund of a site's channel. */
export interface PayingFetch extends FetchLike {
  /**
   * Asks the server whose 402 for `input` offers the channel to return what was not charged
   * (`amount` atomic units, default everything): resolves with the refunded amount and the
   * refund's transaction; throws the server's reason code when it refuses. Only on a paying
   * fetch made with `options.channels`. Sent without credentials unless `options` says
   * otherwise (an access-pass cookie would answer instead of the 402 naming the channel).
   */
  refund?: (input: RequestInfo | URL, options?: RequestInit & { amount?: string | bigint }) => Promise<{ refunded: string; offer: ChannelOffer; transaction?: string }>;
  /**
   * The contract's timed withdrawal of that channel, through the wallet (an EIP-1193 provider:
   * it sends the transactions), for when the server does not answer `refund`: the first call
   * sends `initiateWithdraw` for the credit never charged (from then on it is not spent); a call
   * after the channel's `withdrawDelay` (900 s at least) sends `finalizeWithdraw` and the tokens
   * go back to the payer. Earlier, it throws `withdrawal_pending` with `after` (Unix seconds).
   */
  withdraw?: (input: RequestInfo | URL, options?: RequestInit) => Promise<{
    step: 'initiated' | 'finalized'; amount: string; transaction: string; after?: number; offer: ChannelOffer;
  }>;
}

export interface WrapFetchOptions {
  /**
   * Maximum per payment in millionths of a token, scaled to each token's decimals; default
   * 100000 (0.10 of a token: $0.10 of USDC); `null`: no cap.
   */
  maxAmount?: string | number | bigint | null;
  /** CAIP-2 networks allowed (default: any EVM network). */
  allowedNetworks?: string[];
  /** Assets allowed, each with an optional own cap (default: the known stablecoins only). */
  allowedAssets?: AllowedAsset[];
  /** Longest authorization signed (a requirement's `maxTimeoutSeconds`); default 3600. */
  maxTimeoutSeconds?: number;
  /** Networks to prefer, best first. */
  preferredNetworks?: string[];
  /** A budget per origin per period; persisted in localStorage when present, else in memory. */
  budget?: BudgetOptions;
  /** Storage for the budget (`getItem`/`setItem`), instead of localStorage. */
  storage?: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  /**
   * Where a pending payment is also kept, under `x402:pending:<URL>`, so that it outlives the
   * page (the drop-in passes localStorage); without it, pending payments are kept in memory.
   */
  pendingStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
  /**
   * Called with the offer before anything is signed: an exact payment, a channel deposit (and,
   * with `channels.confirmEach`, each voucher). Return false to decline (`user_rejected`), or
   * `'exact'` for a channel offer to pay this request with the exact offer instead.
   */
  confirm?(offer: Offer | ChannelOffer): boolean | 'exact' | Promise<boolean | 'exact'>;
  /** Progress while paying; from `settling` on, with the offer being paid. */
  onStatus?: (status: PaymentStatus, offer?: Offer) => void;
  /**
   * Restore purchases (Sign-In-With-X): when a 402 offers a sign-in, first sign in with the
   * wallet (one `personal_sign`, no payment, for a challenge bound to the request's origin only)
   * and repeat the request; a wallet that bought the resource gets it again with no payment,
   * otherwise the fresh 402 is paid as usual. Default false (a new purchase would ask the
   * wallet twice).
   */
  restore?: boolean;
  /** The channel after each payment or refund on it (its credit left, for display). */
  onChannel?: (offer: ChannelOffer) => void;
  /** `batch-settlement` channels (off unless `allowed`). */
  channels?: ChannelOptions;
  /** `wallet_addEthereumChain` parameters by CAIP-2 network, used when the wallet answers 4902. */
  chains?: Record<string, object>;
  /** Keeps the receipt of every paid response (`receiptBook()`), its signature checked. */
  receipts?: ReceiptBook;
}

/** The decoded `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`. */
export interface PaymentReceipt {
  success: boolean;
  transaction: string;
  network: string;
  payer?: string;
  errorReason?: string;
  errorMessage?: string;
  amount?: string;
  extensions?: Record<string, unknown>;
}

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/**
 * Wraps `fetch` so that a 402 x402 challenge is paid once by `wallet`, under `options`.
 * Same shape as `wrapFetchWithPayment` of `@x402/fetch`.
 */
export function wrapFetch(fetch: FetchLike | typeof globalThis.fetch, wallet: Wallet | null | undefined, options?: WrapFetchOptions): PayingFetch;
export { wrapFetch as wrapFetchWithPayment };

/**
 * Resolves once the wasm module is loaded. Already resolved by the time the main entry (and
 * `x402-wasm/local`) can be imported; with `x402-wasm/lazy` (service workers) await it before the
 * synchronous functions below.
 */
export const ready: Promise<void>;

/** The receipt of a paid response, or null. */
export function paymentReceipt(response: Response): PaymentReceipt | null;
/** Decodes a `PAYMENT-REQUIRED` header value. */
export function decodePaymentRequired(value: string): unknown;
/** Decodes a `PAYMENT-RESPONSE` header value. */
export function decodePaymentResponse(value: string): PaymentReceipt;

/** A seller's signed receipt (offer-receipt) whose signature was checked. */
export interface CheckedReceipt {
  /** The EIP-55 address that signed it (the site's receipt key: its did:web document names it). */
  signer: string;
  payer: string;
  resourceUrl: string;
  /** CAIP-2. */
  network: string;
  /** Unix seconds. */
  issuedAt: number;
  /** The settlement's transaction hash, or "" when the seller leaves it out. */
  transaction: string;
}

/**
 * Checks the seller's signed receipt (the `offer-receipt` extension) in a paid Response, a decoded
 * settlement (`paymentReceipt(response)`) or the receipt itself: who signed it and what it says;
 * `null` when there is none. Rejects (`invalid_signed_receipt`, `unsupported_offer_receipt_format`,
 * `invalid_offer_receipt_signature`) when it is malformed. A receipt changed after signing names
 * another signer: compare `signer` with the key the site publishes.
 */
export function verifyReceipt(x: Response | PaymentReceipt | object): Promise<CheckedReceipt | null>;

/** One paid response in a `ReceiptBook`. */
export interface ReceiptEntry {
  /** When it was kept (ISO 8601). */
  time: string;
  /** The URL paid for (the response's). */
  resource: string;
  /** CAIP-2. */
  network: string;
  payer: string;
  /** The settlement's transaction hash; "" for a channel voucher (settled later in a batch). */
  transaction: string;
  /** A channel payment's charge, atomic units. */
  amount?: string;
  /** The seller's signed receipt (offer-receipt) as it came, or null when the seller sent none. */
  signed: object | null;
  /** Who signed `signed`, when it verifies and speaks of this purchase; else null. */
  signer: string | null;
  /** Why `signed` does not count: its check's reason code, or another resource or payer named. */
  problem?: string;
}

/** The receipts of paid responses, oldest first; `JSON.stringify(book)` is the export. */
export interface ReceiptBook {
  /** Adds the receipt of a paid response; null when it carries no successful settlement. */
  add(response: Response): Promise<ReceiptEntry | null>;
  list(): ReceiptEntry[];
  /** The entries as JSON text, to save or hand to the reader. */
  export(): string;
  toJSON(): ReceiptEntry[];
}

/**
 * A book of receipts for `wrapFetch(…, { receipts: book })`. Kept in `storage` (`getItem`/`setItem`,
 * localStorage say; in Node also a file path) under `storageKey` (default `x402:receipts`), else in
 * memory. A stored value that is not a JSON list throws `invalid_config` and is left as it is.
 */
export function receiptBook(options?: {
  storage?: string | { getItem(key: string): string | null; setItem(key: string, value: string): void };
  storageKey?: string;
}): ReceiptBook;

export interface WalletInfo { uuid: string; name: string; icon: string; rdns: string }
export interface DiscoveredWallet { info: WalletInfo; provider: Eip1193Provider }
/** EIP-6963 discovery, `window.ethereum` as fallback. */
export function discoverWallets(options?: { waitMs?: number }): Promise<DiscoveredWallet[]>;
export function listWallets(): DiscoveredWallet[];
export function requestWallets(): void;
