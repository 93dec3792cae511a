// The I/O of `batch-settlement` channels in the local-key build (crates/browser/src/channel.rs;
// x402 specs/schemes/batch-settlement/scheme_batch_settlement_evm.md, "Client behavior"):
// sending, the wallet (one signature per deposit), the channel storage, the per-channel queue and
// the bounded retries. Every decision — which offer, deposit or voucher, how much, whether an
// answer is acceptable, what state follows — is the wasm `Channels` / `ChannelQuote`'s. Only the
// local build (pkg/local) links this file; the browser bundle and the drop-in never load it.
import { payingFetch } from './flow.js';

const fail = (code, message) => Object.assign(new Error(message), { code });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// `channel_busy`: a few short, growing waits, then the 402 is returned.
const BUSY_RETRIES = 5;
const BUSY_WAIT_MS = 50;

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

/**
 * `fetch(input, init)` paying x402 challenges: `batch-settlement` offers through a channel (the
 * wasm `channels` chooses), anything else through the exact path (`payingFetch` over `payer`),
 * which gets the 402 already received instead of asking again.
 *
 * On a channel: the wallet signs a deposit's `ReceiveWithAuthorization` only when the channel's
 * credit does not cover the price (then the budget counts the deposit); every other request
 * carries a voucher the voucher key signs here, with no wallet. Requests on one channel are sent
 * one at a time (vouchers are cumulative). A corrective 402 is adopted once and the request
 * retried; `channel_busy` is retried a few times after a short wait. A success whose charge breaks
 * the agreed count throws (its `response` attached) and blocks the channel.
 */
export function channelFetch(fetch, wallet, options, payer, key, channels) {
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

  // 402s already received, by request (method and URL), for the exact path's first send.
  const held = new Map();
  const slotOf = (r) => r.method + ' ' + r.url;
  const exact = payingFetch((req) => {
    const q = held.get(slotOf(req));
    if (q?.length && !req.headers.has('PAYMENT-SIGNATURE') && !req.headers.has('X-PAYMENT')) return Promise.resolve(q.shift());
    return send.call(globalThis, req);
  }, wallet, options, payer, key);

  // The budget's text, where the exact path keeps it (options.storage, else localStorage).
  const budgetStore = () => { try { return options?.storage ?? globalThis.localStorage; } catch { return undefined; } };
  const loadBudget = () => {
    try {
      const t = key === undefined ? undefined : budgetStore()?.getItem(key);
      return typeof t === 'string' ? t : undefined;
    } catch { return undefined; }
  };
  const saveBudget = (t) => { try { if (t !== undefined) budgetStore()?.setItem(key, t); } catch { /* kept in memory */ } };

  const provider = typeof wallet?.request === 'function';
  async function payerAddress() {
    let accounts;
    try {
      accounts = provider ? await wallet.request({ method: 'eth_requestAccounts', params: [] }) : [wallet?.address];
    } catch (e) {
      throw typeof e?.code === 'string' ? e : fail([4001, 4100].includes(e?.code) ? 'user_rejected' : 'wallet_error', `connecting the wallet: ${e?.message ?? e}`);
    }
    const from = Array.isArray(accounts) ? accounts[0] : undefined;
    if (typeof from !== 'string') throw fail('no_wallet', 'no wallet: pass an EIP-1193 provider or a signer { address, signTypedData }');
    return from;
  }
  async function walletSign(from, typed) {
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
  // payer's own key is never used silently.
  async function voucherKey(from) {
    if (cfg.voucherKey !== undefined) return cfg.voucherKey;
    const k = 'x402:voucher-key:' + from.toLowerCase();
    const kept = await read(k);
    if (kept !== undefined) return kept;
    const fresh = channels.newVoucherKey(crypto.getRandomValues(new Uint8Array(32)));
    await write(k, fresh);
    return fresh;
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
    const from = await payerAddress();
    const storageKey = quote.open(from, await voucherKey(from));
    return serialized(storageKey, async () => {
      quote.load(await read(storageKey));
      const origin = new URL(request.url).origin;
      for (let busy = 0; ;) {
        if (quote.next() === 'deposit') {
          payer.budgetDeposit(quote.depositUnits(), origin, now, loadBudget(), false);
          if (typeof options.confirm === 'function' && !(await options.confirm(quote.offer()))) {
            throw fail('user_rejected', 'the deposit was declined');
          }
          const typed = quote.depositTypedData(crypto.getRandomValues(new Uint8Array(32)));
          quote.depositSigned(await walletSign(from, typed));
          saveBudget(payer.budgetDeposit(quote.depositUnits(), origin, now, loadBudget(), true));
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

  return async (input, init) => {
    const request = new Request(input, init);
    if (request.headers.has('PAYMENT-SIGNATURE') || request.headers.has('X-PAYMENT')) return exact(request);
    const retry = request.clone();
    const response = await send.call(globalThis, request);
    if (response.status !== 402) return response;
    const header = response.headers.get('PAYMENT-REQUIRED');
    const now = Math.floor(Date.now() / 1000);
    const quote = header === null ? undefined : channels.choose(header, now);
    if (quote) return payOnChannel(quote, retry, now);
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
}
