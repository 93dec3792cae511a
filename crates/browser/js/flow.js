// The paying fetch's I/O, for crates/browser/src/pay.rs (docs/protocol.md, the paying client): sending,
// the wallet (an EIP-1193 provider or a signer `{ address, signTypedData }`), the `confirm` and
// `onStatus` callbacks, and the one retry. Every decision on bytes — reading the challenge,
// choosing an offer, the budget, the typed data, the payment header — is the wasm `Payer`'s.
// This part is JavaScript because each await in Rust costs the browser bundle far more than it
// does here.

const fail = (code, message) => Object.assign(new Error(message), { code });
// EIP-1193 "User Rejected Request" and "Unauthorized".
const REJECTED = [4001, 4100];
// EIP-3085: the wallet does not know the chain.
const UNKNOWN_CHAIN = 4902;

// A wallet failure: 4001/4100 → user_rejected; an error that already has a string code (one of
// ours) is kept; anything else gets `fallback` with the wallet's message.
function walletError(e, doing, fallback) {
  if (typeof e?.code === 'string') return e;
  const msg = typeof e?.message === 'string' ? e.message : typeof e === 'string' ? e : '';
  return REJECTED.includes(e?.code)
    ? fail('user_rejected', `${doing}: the request was rejected in the wallet (${msg})`)
    : fail(fallback, `${doing}: ${msg}`);
}

// `fn` may throw or return a promise; either way a rejection comes back mapped by `walletError`.
const attempt = (fn, doing, fallback = 'wallet_error') =>
  Promise.resolve().then(fn).catch((e) => { throw walletError(e, doing, fallback); });

/**
 * The decoded `PAYMENT-RESPONSE` (v2) or `X-PAYMENT-RESPONSE` (v1) of a response, unchecked
 * (for display), or undefined.
 */
export function receiptOf(res) {
  try { return JSON.parse(atob(res.headers.get('PAYMENT-RESPONSE') ?? res.headers.get('X-PAYMENT-RESPONSE'))); } catch { /* none */ }
}

// A paid answer that leaves the payment's outcome unknown: the transfer was broadcast and is not
// confirmed yet (x402 `settlement_pending`, in PAYMENT-RESPONSE or the 402's `error`).
const PENDING = /"settlement_pending"/;
async function unsettled(res) {
  if (res.status > 499) return true;
  if (res.status !== 402) return false;
  let text = JSON.stringify(receiptOf(res)) + await res.clone().text().catch(() => '');
  try { text += atob(res.headers.get('PAYMENT-REQUIRED')); } catch { /* none */ }
  return PENDING.test(text);
}

/**
 * Puts an EIP-1193 `wallet` on the offer's chain: `wallet_switchEthereumChain`, and on 4902
 * `wallet_addEthereumChain` with `chains[network]` first (`status('switch')` when it must
 * switch). Signers sign for the chain in the typed data and need none of this.
 */
export async function ensureChain(wallet, { chainId: want, network }, chains, status = () => {}) {
  const rpc = (method, params, doing, fallback) =>
    attempt(() => wallet.request({ method, params }), doing, fallback);
  const chainId = async () => {
    const v = await rpc('eth_chainId', [], "reading the wallet's network");
    const id = typeof v === 'string' && /^0x[0-9a-f]{1,13}$/i.test(v) ? Number(v) : v;
    if (!Number.isSafeInteger(id)) throw fail('wallet_error', 'eth_chainId returned no chain id');
    return id;
  };
  if (await chainId() === want) return;
  status('switch');
  const doing = "switching the wallet's network";
  const params = [{ chainId: '0x' + want.toString(16) }];
  try {
    await Promise.resolve().then(() => wallet.request({ method: 'wallet_switchEthereumChain', params }));
  } catch (e) {
    if (e?.code !== UNKNOWN_CHAIN) throw walletError(e, doing, 'wrong_chain');
    const add = chains?.[network];
    if (add === null || typeof add !== 'object') {
      throw fail('wrong_chain', `the wallet does not know chain ${want} (pass its parameters in options.chains to add it)`);
    }
    await rpc('wallet_addEthereumChain', [add], doing, 'wrong_chain');
    await rpc('wallet_switchEthereumChain', params, doing, 'wrong_chain');
  }
  const now = await chainId();
  if (now !== want) throw fail('wrong_chain', `the wallet is on chain ${now}; this payment is on chain ${want}`);
}

/**
 * `fetch(input, init)` that pays one 402 with `wallet`: send; on 402 let `payer` read the
 * challenge (`PAYMENT-REQUIRED` first, the v1 JSON body as fallback) and choose; ask `confirm`;
 * connect, switch chain, sign; repeat the request once with the payment header. Never loops.
 *
 * A payment whose outcome is unknown (no answer, a 5xx, or `settlement_pending`) is kept for its
 * validity window and is the only payment sent for that request (method and URL) until an
 * answer settles it: the next call sends it at once and never asks the wallet again, so a lost
 * or slow settlement cannot cost a second payment. `onStatus('pending', offer)` reports it; the
 * pending answer is returned, and a network failure thrown. With `options.pendingStorage` (the
 * drop-in: localStorage) it is kept there too, under `x402:pending:<URL>`, across page loads.
 */
export function payingFetch(fetch, wallet, options, payer, key) {
  const send = typeof fetch === 'function' ? fetch : globalThis.fetch;
  if (typeof send !== 'function') throw fail('invalid_config', 'no fetch function');
  const { confirm, onStatus, chains, pendingStorage: kept } = options ?? {};
  const status = (state, offer) => {
    try { if (typeof onStatus === 'function') onStatus(state, offer); } catch { /* a status display cannot stop a payment */ }
  };
  const provider = typeof wallet?.request === 'function';
  const rpc = (method, params, doing, fallback) =>
    attempt(() => wallet.request({ method, params }), doing, fallback);
  // Request (method and URL) → its payment `{ name, value, until, offer }` whose outcome is not
  // known yet, or the promise of one while it is being signed.
  const signed = new Map();
  const keep = (slot, payment) => {
    if (payment) signed.set(slot, payment); else signed.delete(slot);
    try { kept?.[payment ? 'setItem' : 'removeItem']('x402:pending:' + slot, JSON.stringify(payment)); } catch { /* kept in memory */ }
  };
  // The budget's text (under `key`, when there is a budget) lives in `options.storage`, else
  // localStorage (shared by an origin's tabs); without either, in the payer's memory. Full or
  // blocked storage is skipped.
  const storage = () => {
    try { return options?.storage ?? globalThis.localStorage; } catch { return undefined; }
  };
  const load = () => {
    try {
      const text = key === undefined ? undefined : storage()?.getItem(key);
      return typeof text === 'string' ? text : undefined;
    } catch { return undefined; }
  };
  const save = (text) => {
    try { if (text !== undefined) storage()?.setItem(key, text); } catch { /* kept in memory */ }
  };

  // Confirms and signs `quote` (an offer the payer chose); returns the payment header.
  async function sign(quote, now) {
    const offer = quote.offer();
    if (!provider && typeof wallet?.signTypedData !== 'function') {
      throw fail('no_wallet', 'no wallet: pass an EIP-1193 provider or a signer { address, signTypedData }');
    }
    if (typeof confirm === 'function' && !(await confirm(offer))) {
      throw fail('user_rejected', 'the payment was declined');
    }
    status('connect');
    const accounts = provider ? await rpc('eth_requestAccounts', [], 'connecting the wallet') : [wallet.address];
    const from = Array.isArray(accounts) ? accounts[0] : undefined;
    if (typeof from !== 'string') throw fail('no_wallet', 'the wallet has no account');
    if (provider) await ensureChain(wallet, offer, chains, status);
    const typed = quote.typedData(from, crypto.getRandomValues(new Uint8Array(32)));
    status('sign');
    const signature = await attempt(
      () => (provider
        ? wallet.request({ method: 'eth_signTypedData_v4', params: [from, typed] })
        : wallet.signTypedData(JSON.parse(typed))),
      'signing the payment',
    );
    if (typeof signature !== 'string') throw fail('wallet_error', 'the wallet returned no signature');
    const [name, value, budget] = payer.payment(quote, signature);
    save(budget);
    return { name, value, until: now + offer.maxTimeoutSeconds, offer };
  }

  return async (input, init) => {
    const request = new Request(input, init);
    const alreadyPaid = request.headers.has('PAYMENT-SIGNATURE') || request.headers.has('X-PAYMENT');
    const slot = (request.method === 'GET' ? '' : request.method + ' ') + request.url;
    const now = Math.floor(Date.now() / 1000);
    let payment;
    if (!alreadyPaid) {
      try { payment = await (signed.get(slot) ?? JSON.parse(kept?.getItem('x402:pending:' + slot) ?? 'null')); } catch { /* none */ }
      // Too close to its end to be accepted, but until its validBefore (and half a minute for
      // block time) it may still be mined: no new signature before then.
      if (payment && !(payment.until > now + 5)) {
        if (payment.until + 30 > now) throw status('pending', payment.offer), fail('payment_pending', 'a payment is pending');
        keep(slot, payment = null);
      }
    }
    // Cloned before sending, so that a body can be sent again.
    const retry = request.clone();
    if (!payment) {
      const response = await send.call(globalThis, request);
      if (response.status !== 402) return response;
      if (alreadyPaid) {
        throw fail('payment_already_attempted', 'the request already carried a payment and the server answered 402 again');
      }
      const header = response.headers.get('PAYMENT-REQUIRED');
      const text = header ?? await response.text();
      // A call for the same request that is signing already: its payment is this one's too.
      payment = signed.get(slot);
      if (!payment) {
        signed.set(slot, payment = sign(payer.quote(text, header !== null, new URL(request.url).origin, now, load()), now));
        payment.catch(() => signed.delete(slot));
      }
      keep(slot, payment = await payment);
    }
    retry.headers.set(payment.name, payment.value);
    status('settling', payment.offer);
    let paid;
    try {
      paid = await send.call(globalThis, retry);
    } catch (e) {
      status('pending', payment.offer);
      throw e;
    }
    if (await unsettled(paid)) status('pending', payment.offer);
    else keep(slot);
    return paid;
  };
}

/**
 * The policy and budget options as JSON text for the wasm `Payer`: bigints as decimal strings,
 * and a number JSON cannot hold (NaN, Infinity) as text, so that it is refused instead of being
 * written as `null` (which would mean "no cap").
 */
export function optionsText(options) {
  const { maxAmount, allowedNetworks, allowedAssets, preferredNetworks, maxTimeoutSeconds, budget } = options ?? {};
  return JSON.stringify(
    { maxAmount, allowedNetworks, allowedAssets, preferredNetworks, maxTimeoutSeconds, budget },
    (_, v) => (typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v)) ? String(v) : v),
  );
}
