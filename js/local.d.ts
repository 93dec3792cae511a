// x402-wasm/local: the main entry plus a local-key wallet (Node, agents) and batch-settlement
// channels in wrapFetch.
export * from './index.js';
import type { FetchLike, Offer, Signer, Wallet, WrapFetchOptions } from './index.js';

/**
 * A wallet signing with a private key (`0x` + 64 hex); signs only EIP-3009 transfer
 * authorizations (exact payments) and receive authorizations (channel deposits).
 */
export function localWallet(privateKey: string): Signer;

/** Where channel states (and a generated voucher key) are kept; may be async. */
export interface ChannelStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
}

/**
 * `batch-settlement` channels (x402 specs/schemes/batch-settlement): one wallet signature per
 * deposit, then a voucher per request signed by the voucher key, with no wallet.
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
  /** Channel states under `x402:channel:<channelId>` (default: in memory). */
  storage?: ChannelStorage;
}

/** What `confirm` receives before a deposit (vouchers ask nothing). */
export interface ChannelOffer extends Omit<Offer, 'scheme' | 'x402Version' | 'symbol' | 'description'> {
  x402Version: 2;
  scheme: 'batch-settlement';
  /** The deposit, atomic units. */
  deposit: string;
  /** The deposit in the asset, e.g. `0.50`. */
  depositPrice: string;
  channelId: string;
  /** Known deposited total and charged total before this deposit, atomic units. */
  balance: string;
  charged: string;
}

export interface LocalWrapFetchOptions extends Omit<WrapFetchOptions, 'confirm'> {
  /** Called before an exact payment or a channel deposit; return false to decline (`user_rejected`). */
  confirm?: (offer: Offer | ChannelOffer) => boolean | Promise<boolean>;
  /** `batch-settlement` channels (off unless `allowed`). */
  channels?: ChannelOptions;
}

/** `wrapFetch` of the local build: as the main entry's, with `channels`. */
export function wrapFetch(fetch: FetchLike | typeof globalThis.fetch, wallet: Wallet | null | undefined, options?: LocalWrapFetchOptions): FetchLike;
export { wrapFetch as wrapFetchWithPayment };
