// The I/O of `batch-settlement` channels (crates/browser/src/channel.rs;
// x402 specs/schemes/batch-settlement/scheme_batch_settlement_evm.md, "Client behavior"):
// sending, the wallet (one signature per deposit), the channel storage, the per-channel queue and
// the bounded retries. Every decision — which offer, deposit or voucher, how much, whether an
// answer is acceptable, what state follows — is the wasm `Channels` / `ChannelQuote`'s. Linked
// into pkg/channel (loaded only when a channel is offered) and pkg/local; never into pkg/web.

import { ensureChain, receiptOf } from './flow.js';

const fail = (code, message) => Object.assign(new Error(message), { code });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// `channel_busy`: a few short, growing waits, then the 402 is returned.
const BUSY_RETRIES = 5;
const BUSY_WAIT_MS = 50;
// A withdrawal's receipt: polled every second, for at most two minutes.
const RECEIPT_POLL_MS = 1000;
const WAIT_MS = 120_000;

/** A `{ getItem, setItem }` in memory: the default channel storage. */
function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, String(v)) };
}

/**
 * `options.channels` as JSON text for the wasm `Channels` (without `voucherKey` and `storage`,
 * which stay here): `credit` and `maxDeposit` (millionths of a token) as decimal text, so that a
 * bigint passes and a fraction or NaN is refused.
 */
export function channelsText(options) {
  const { allowed, preferred, credit, maxDeposit, depositMultiplier } = options?.channels ?? {};
  const amount = (v) => (v === undefined || v === null ? undefined : String(v));
  return JSON.stringify({
    allowed, preferred, credit: amount(credit), maxDeposit: amount(maxDeposit),
    depositMultiplier: typeof depositMultiplier === 'bigint' ? String(depositMultiplier) : depositMultiplier,
  });
}

const EXACT = Symbol('exact');
// A provisional channel, only to say what a new one would take before the wallet is asked.
const NO_ADDRESS = '0x' + '0'.repeat(40);
const PROVISIONAL_KEY = '0x' + '0'.repeat(63) + '1';

/**
 * `fetch(input, init)` paying x402 challenges: `batch-settlement` offers through a channel (the
 * wasm `channels` chooses), anything else through the paying fetch `exactWrap(fetch, wallet,
 * options)` makes, which gets the 402 already received instead of asking again.
 *
 * On a channel: the wallet signs a deposit's `ReceiveWithAuthorization` only when the channel's
 * credit does not cover the price (then the budget counts the deposit); every other request
 * carries a voucher the voucher key signs here, with no wallet. `options.confirm(offer)` is asked
 * before a deposit (`offer.step === 'deposit'`) and, with `channels.confirmEach`, before every
 * voucher too; it may answer `'exact'` to pay this one request with the exact offer instead.
 * Requests on one channel are sent one at a time (vouchers are cumulative). A corrective 402 is
 * adopted once and the request retried; `channel_busy` is retried a few times after a short wait.
 * A success whose charge breaks the agreed count throws (its `response` attached) and blocks the
 * channel. `options.onChannel(offer)` reports the channel after each paid answer.
 *
 * The returned function has `refund(input, { amount, ...init })`: a cooperative refund of the
 * channel the 402 of `input` offers (everything not charged, or `amount` atomic units), sent
 * without credentials unless `init` says otherwise; resolves to `{ refunded, offer, transaction }`;
 * and `withdraw(input, init)`: the contract's timed withdrawal of that channel through the wallet.
 */
export function channelFetch(fetch, wallet, options, exactWrap, channels) {
  const send = typeof fetch === 'function' ? fetch : globalThis.fetch;
  if (typeof send !== 'function') throw fail('invalid_config', 'no fetch function');
  const cfg = options.channels;
  const store = cfg.storage ?? memoryStorage();
  if (typeof store?.getItem !== 'function' || typeof store?.setItem !== 'function') {
    throw fail('invalid_config', 'invalid option channels.storage: expected { getItem, setItem }');
  }
  if (cfg.voucherKey !== undefined && typeof cfg.voucherKey !== 'string') {
    throw fail('invalid_config', 'invalid option channels.voucherKey: a private key, 0x and 64 hex digits');
  }
  const read = async (k) => {
    const v = await store.getItem(k);
    return typeof v === 'string' ? v : undefined;
  };
  const write = async (k, v) => { if (v !== undefined) await store.setItem(k, v); };

  // The budget's entry, shared with the exact path: options.storage, else localStorage, else
  // one storage in memory given to both (so that deposits and exact payments count together).
  let budgetStore;
  try { budgetStore = options.storage ?? globalThis.localStorage; } catch { /* blocked */ }
  budgetStore ??= memoryStorage();
  const budgetKey = channels.budgetKey;
  const loadBudget = () => {
    try {
      const t = budgetKey === undefined ? undefined : budgetStore.getItem(budgetKey);
      return typeof t === 'string' ? t : undefined;
    } catch { return undefined; }
  };
  const saveBudget = (t) => { try { if (t !== undefined) budgetStore.setItem(budgetKey, t); } catch { /* kept in memory */ } };

  // 402s already received, by request (method and URL), for the exact path's first send.
  const held = new Map();
  const slotOf = (r) => r.method + ' ' + r.url;
  const exact = exactWrap((req) => {
    const q = held.get(slotOf(req));
    if (q?.length && !req.headers.has('PAYMENT-SIGNATURE') && !req.headers.has('X-PAYMENT')) return Promise.resolve(q.shift());
    return send.call(globalThis, req);
  }, wallet, { ...options, storage: budgetStore, channels: undefined });

  const provider = typeof wallet?.request === 'function';
  // Whether the wallet was asked for its account (a remembered payer's vouchers never ask it).
  let connected = false;
  async function payerAddress() {
    let accounts;
    try {
      accounts = provider ? await wallet.request({ method: 'eth_requestAccounts', params: [] }) : [wallet?.address];
    } catch (e) {
      throw typeof e?.code === 'string' ? e : fail([4001, 4100].includes(e?.code) ? 'user_rejected' : 'wallet_error', `connecting the wallet: ${e?.message ?? e}`);
    }
    const from = Array.isArray(accounts) ? accounts[0] : undefined;
    if (typeof from !== 'string') throw fail('no_wallet', 'no wallet: pass an EIP-1193 provider or a signer { address, signTypedData }');
    connected = true;
    return from;
  }
  async function walletSign(from, typed, offer) {
    // A remembered payer's top-up: the wallet must be connected, to that account.
    if (provider && !connected && (await payerAddress()).toLowerCase() !== from.toLowerCase()) {
      throw fail('wallet_error', `the wallet's account is not ${from}, which holds this channel`);
    }
    // A wallet signs typed data only for the chain it is on (the token's domain names it).
    if (provider) await ensureChain(wallet, offer, options.chains);
    try {
      const sig = await (provider
        ? wallet.request({ method: 'eth_signTypedData_v4', params: [from, typed] })
        : wallet.signTypedData(JSON.parse(typed)));
      if (typeof sig !== 'string') throw fail('wallet_error', 'the wallet returned no signature');
      return sig;
    } catch (e) {
      throw typeof e?.code === 'string' ? e : fail([4001, 4100].includes(e?.code) ? 'user_rejected' : 'wallet_error', `signing the deposit: ${e?.message ?? e}`);
    }
  }
  // The voucher key: given, else generated once per payer and kept in the channel storage. The
  // payer's own key is never used silently. `[key, new]`: a new key has no channel yet.
  async function voucherKey(from) {
    if (cfg.voucherKey !== undefined) return [cfg.voucherKey, false];
    const k = 'x402:voucher-key:' + from.toLowerCase();
    const kept = await read(k);
    if (kept !== undefined) return [kept, false];
    const fresh = channels.newVoucherKey(crypto.getRandomValues(new Uint8Array(32)));
    await write(k, fresh);
    return [fresh, true];
  }
  // An EIP-1193 wallet's account that paid on this offer's channel before, kept so that
  // vouchers need no request to the wallet at all.
  const payerSlot = (o) => `x402:channel-payer:${o.network}:${o.payTo}:${o.asset}`.toLowerCase();
  // The channel of the quote's offer that this wallet paid on before (an EIP-1193 wallet's
  // remembered account, with its state stored): `[payer, storage key, slot]`, else undefined.
  async function remembered(quote) {
    const slot = payerSlot(quote.offer());
    const payer = provider ? await read(slot) : undefined;
    if (payer === undefined) return undefined;
    const [key] = await voucherKey(payer);
    const k = quote.open(payer, key);
    quote.load(await read(k));
    return quote.known ? [payer, k, slot] : undefined;
  }
  // Opens the quote's channel with the wallet's account: `[payer, storage key, slot]`.
  async function connect(quote) {
    const from = await payerAddress();
    const [key, fresh] = await voucherKey(from);
    const k = quote.open(from, key);
    if (fresh) quote.fresh();
    return [from, k, payerSlot(quote.offer())];
  }

  // One request at a time per channel.
  const queues = new Map();
  async function serialized(k, fn) {
    const prev = queues.get(k) ?? Promise.resolve();
    let release;
    const mine = new Promise((r) => { release = r; });
    const tail = prev.then(() => mine);
    queues.set(k, tail);
    await prev;
    try { return await fn(); } finally {
      release();
      if (queues.get(k) === tail) queues.delete(k);
    }
  }

  async function payOnChannel(quote, request, now) {
    const origin = new URL(request.url).origin;
    let asked = false;
    let askedDeposit = false;
    // `confirm` before a deposit (once), and with `confirmEach` before the first voucher too.
    const ask = async (step) => {
      if (step === 'deposit') channels.budgetDeposit(quote.depositUnits(), origin, now, loadBudget(), false);
      if (!((step === 'deposit' && !askedDeposit) || (cfg.confirmEach && !asked))) return;
      asked = true;
      askedDeposit ||= step === 'deposit';
      if (typeof options.confirm !== 'function') return;
      const ok = await options.confirm(quote.offer());
      if (ok === 'exact') throw EXACT;
      if (!ok) throw fail('user_rejected', step === 'deposit' ? 'the deposit was declined' : 'the payment was declined');
    };
    let opened = await remembered(quote);
    if (!opened && provider && typeof options.confirm === 'function') {
      // Asked before the wallet is touched: what a new channel takes (a deposit). If the
      // wallet's account turns out to hold a channel already, a voucher asks nothing more.
      quote.open(NO_ADDRESS, PROVISIONAL_KEY);
      quote.fresh();
      await ask(quote.next());
    }
    opened ??= await connect(quote);
    const [from, storageKey, slot] = opened;
    return serialized(storageKey, async () => {
      quote.load(await read(storageKey));
      for (let busy = 0; ;) {
        const step = quote.next();
        await ask(step);
        if (step === 'deposit') {
          const typed = quote.depositTypedData(crypto.getRandomValues(new Uint8Array(32)));
          quote.depositSigned(await walletSign(from, typed, quote.offer()));
          saveBudget(channels.budgetDeposit(quote.depositUnits(), origin, now, loadBudget(), true));
        }
        const paid = request.clone();
        paid.headers.set('PAYMENT-SIGNATURE', quote.header());
        const res = await send.call(globalThis, paid);
        let action;
        try {
          action = quote.answer(res.status, res.headers.get('PAYMENT-RESPONSE'), res.headers.get('PAYMENT-REQUIRED'));
        } catch (e) {
          await write(storageKey, quote.stateText());
          throw Object.assign(e, { response: res });
        }
        await write(storageKey, quote.stateText());
        if (action === 'paid') {
          if (provider) await write(slot, from);
          options.onChannel?.(quote.offer());
        }
        if (action === 'retry') continue;
        if (action === 'busy' && busy < BUSY_RETRIES) {
          busy += 1;
          await sleep(BUSY_WAIT_MS * busy);
          continue;
        }
        return res;
      }
    });
  }

  // Without credentials by default: an access pass (a cookie) would answer the resource itself
  // instead of the 402 that names the channel.
  async function refund(input, { amount, ...init } = {}) {
    const [quote, , storageKey, request] = await channelOf(input, init);
    return serialized(storageKey, async () => {
      quote.load(await read(storageKey));
      const paid = request.clone();
      paid.headers.set('PAYMENT-SIGNATURE', quote.refundHeader(amount === undefined ? undefined : String(amount)));
      const res = await send.call(globalThis, paid);
      let refunded;
      try {
        refunded = quote.refundAnswer(res.status, res.headers.get('PAYMENT-RESPONSE'));
      } finally {
        await write(storageKey, quote.stateText());
      }
      if (refunded === undefined) {
        let why;
        try { why = JSON.parse(atob(res.headers.get('PAYMENT-RESPONSE') ?? res.headers.get('PAYMENT-REQUIRED'))); } catch { /* none */ }
        const code = why?.errorReason ?? why?.error ?? 'http_' + res.status;
        throw Object.assign(fail(code, `the refund was refused: ${code}`), { response: res });
      }
      const offer = quote.offer();
      options.onChannel?.(offer);
      return { refunded, offer, transaction: receiptOf(res)?.transaction };
    });
  }

  // The 402 of `input` (sent without credentials unless `init` says otherwise) and its channel,
  // opened and loaded: `[quote, payer, storage key]`.
  async function channelOf(input, init) {
    const request = new Request(input, { credentials: 'omit', ...init });
    const response = await send.call(globalThis, request.clone());
    const header = response.headers.get('PAYMENT-REQUIRED');
    const quote = response.status === 402 && header !== null ? channels.choose(header, Math.floor(Date.now() / 1000), true) : undefined;
    if (!quote) throw fail('invalid_payment_requirements', `${request.url} offers no channel (HTTP ${response.status})`);
    const [from, storageKey] = (await remembered(quote)) ?? (await connect(quote));
    return [quote, from, storageKey, request];
  }

  // Sends a call through the EIP-1193 wallet and waits (at most WAIT_MS) for its receipt.
  async function transact(from, { to, data }, offer) {
    await ensureChain(wallet, offer, options.chains);
    let hash;
    try {
      hash = await wallet.request({ method: 'eth_sendTransaction', params: [{ from, to, data }] });
    } catch (e) {
      throw typeof e?.code === 'string' ? e : fail([4001, 4100].includes(e?.code) ? 'user_rejected' : 'withdrawal_failed', `sending the withdrawal: ${e?.message ?? e}`);
    }
    if (typeof hash !== 'string') throw fail('withdrawal_failed', 'the wallet returned no transaction hash');
    for (const end = Date.now() + WAIT_MS; Date.now() < end; await sleep(RECEIPT_POLL_MS)) {
      const receipt = await wallet.request({ method: 'eth_getTransactionReceipt', params: [hash] }).catch(() => null);
      if (receipt?.status === '0x1') return hash;
      if (receipt?.status === '0x0') throw Object.assign(fail('withdrawal_failed', `the withdrawal transaction ${hash} reverted`), { transaction: hash });
    }
    throw Object.assign(fail('withdrawal_pending', `the withdrawal transaction ${hash} is not mined yet`), { transaction: hash });
  }

  /**
   * The contract's timed withdrawal of the channel `input`'s 402 offers, through the wallet (for
   * when the server does not answer `refund`): the first call sends `initiateWithdraw` for the
   * credit never charged (from then on it is not spent); a call after the channel's
   * `withdrawDelay` sends `finalizeWithdraw`, and the tokens go back to the payer.
   */
  async function withdraw(input, init = {}) {
    if (!provider) throw fail('invalid_config', 'a timed withdrawal needs an EIP-1193 wallet, which sends the transactions');
    const [quote, from, storageKey] = await channelOf(input, init);
    return serialized(storageKey, async () => {
      quote.load(await read(storageKey));
      const state = quote.stateText();
      if (state === undefined) throw fail('invalid_batch_settlement_evm_channel_not_found', 'no channel with this site is stored here');
      const offer = quote.offer();
      const slot = 'x402:withdrawal:' + offer.channelId;
      const kept = JSON.parse((await read(slot)) ?? 'null');
      const now = Math.floor(Date.now() / 1000);
      if (!connected) await payerAddress();
      if (kept === null || kept.finalized) {
        const call = channels.withdrawCall(state, 'initiate');
        const transaction = await transact(from, call, offer);
        const record = { amount: call.amount, initiated: transaction, after: now + JSON.parse(state).config.withdrawDelay };
        await write(slot, JSON.stringify(record));
        await write(storageKey, call.state);
        quote.load(call.state);
        options.onChannel?.(quote.offer());
        return { step: 'initiated', amount: call.amount, transaction, after: record.after, offer: quote.offer() };
      }
      if (now < kept.after) {
        throw Object.assign(fail('withdrawal_pending', `the withdrawal can be collected after ${new Date(kept.after * 1000).toISOString()}`), { after: kept.after });
      }
      const transaction = await transact(from, channels.withdrawCall(state, 'finalize', kept.amount), offer);
      await write(slot, JSON.stringify({ ...kept, finalized: transaction }));
      return { step: 'finalized', amount: kept.amount, transaction, offer };
    });
  }

  const paying = async (input, init) => {
    const request = new Request(input, init);
    if (request.headers.has('PAYMENT-SIGNATURE') || request.headers.has('X-PAYMENT')) return exact(request);
    const retry = request.clone();
    const response = await send.call(globalThis, request);
    if (response.status !== 402) return response;
    const header = response.headers.get('PAYMENT-REQUIRED');
    const now = Math.floor(Date.now() / 1000);
    const quote = header === null ? undefined : channels.choose(header, now, false);
    if (quote) {
      try {
        return await payOnChannel(quote, retry.clone(), now);
      } catch (e) {
        if (e !== EXACT) throw e;
      }
    }
    const slot = slotOf(retry);
    const q = held.get(slot) ?? [];
    q.push(response);
    held.set(slot, q);
    try {
      return await exact(retry);
    } finally {
      const i = q.indexOf(response);
      if (i >= 0) q.splice(i, 1);
      if (!q.length && held.get(slot) === q) held.delete(slot);
    }
  };
  paying.refund = refund;
  paying.withdraw = withdraw;
  return paying;
}
