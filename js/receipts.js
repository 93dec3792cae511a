// The seller's signed receipt (the x402 `offer-receipt` extension) in what a paying fetch returns,
// for `verifyReceipt` in every entry: the check itself (secp256k1 recovery) is the wasm's
// `checkReceipt`, in the builds that carry secp256k1 (pkg/channel, pkg/local).

/**
 * The signed receipt in `x`: a Response (its `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`), a
 * decoded settlement (`paymentReceipt(response)`), or the receipt itself; `null` when none.
 */
export function signedReceipt(x) {
  if (typeof x?.headers?.get === 'function') {
    x = decoded(x);
    if (x === null) return null;
  }
  const inner = x?.extensions?.['offer-receipt']?.info?.receipt;
  if (inner !== undefined) return inner ?? null;
  return typeof x?.format === 'string' ? x : null;
}

/** `verifyReceipt` over `load()`: the wasm module that has `checkReceipt` (or a promise of it). */
export function receiptVerifier(load) {
  return async (x) => {
    const receipt = signedReceipt(x);
    return receipt === null ? null : (await load()).checkReceipt(JSON.stringify(receipt));
  };
}

/** The decoded `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`) of a Response, or null. */
function decoded(response) {
  try {
    return JSON.parse(atob(response.headers.get('PAYMENT-RESPONSE') ?? response.headers.get('X-PAYMENT-RESPONSE')));
  } catch {
    return null;
  }
}

// A receipt names the resource as the 402 did: the URL paid for, or (as x402-wasm's Worker, which
// prices paths) that URL without its query.
const sameResource = (signed, url) => {
  if (signed === url) return true;
  try { const u = new URL(url); return signed === u.origin + u.pathname; } catch { return false; }
};

/**
 * `receiptBook(options)` over `verify` (an entry's `verifyReceipt`) and `open` (how a string
 * `storage` is opened: a file in Node). The book keeps one entry per paid response, oldest first:
 * `{ time, resource, network, payer, transaction, amount?, signed, signer, problem? }`, where
 * `signed` is the seller's signed receipt (offer-receipt) as it came or null, `signer` the address
 * that signed it when it verifies and speaks of this purchase, and `problem` why not. Kept in
 * `storage` (`getItem`/`setItem`, under `storageKey`, default `x402:receipts`) when given, else in
 * memory; `JSON.stringify(book)` (or `book.export()`) is the export.
 */
export function receiptBooks(verify, open = (s) => s) {
  return function receiptBook({ storage, storageKey = 'x402:receipts' } = {}) {
    const store = storage === undefined ? undefined : open(storage);
    const load = () => {
      if (!store) return [];
      let all;
      try { all = JSON.parse(store.getItem(storageKey) ?? '[]'); } catch { /* reported below */ }
      if (!Array.isArray(all)) {
        throw Object.assign(new Error(`receipts in ${storageKey}: not a JSON list; left as it is`), { code: 'invalid_config' });
      }
      return all;
    };
    let memory = load();
    const book = {
      /**
       * Adds the receipt of `response` (a paid Response) and returns its entry; null when the
       * response carries no successful settlement. A signed receipt that does not verify is kept
       * with its `problem`, never dropped: it is the reader's evidence.
       */
      async add(response) {
        const settled = decoded(response);
        if (!settled?.success) return null;
        const entry = {
          time: new Date().toISOString(),
          resource: response.url,
          network: settled.network ?? '',
          payer: settled.payer ?? '',
          transaction: settled.transaction ?? '',
          ...(settled.amount === undefined ? {} : { amount: String(settled.amount) }),
          signed: signedReceipt(settled),
          signer: null,
        };
        if (entry.signed) {
          try {
            const c = await verify(entry.signed);
            if (!sameResource(c.resourceUrl, entry.resource)) entry.problem = `receipt_for_another_resource: ${c.resourceUrl}`;
            else if (entry.payer && c.payer.toLowerCase() !== entry.payer.toLowerCase()) entry.problem = `receipt_for_another_payer: ${c.payer}`;
            else entry.signer = c.signer;
          } catch (e) {
            entry.problem = e?.code ?? String(e?.message ?? e);
          }
        }
        memory = [...(store ? load() : memory), entry];
        store?.setItem(storageKey, JSON.stringify(memory));
        return entry;
      },
      /** The entries, oldest first (a copy). */
      list: () => structuredClone(store ? load() : memory),
      /** The entries as JSON text, to save. */
      export: () => JSON.stringify(book.list(), null, 2),
      toJSON: () => book.list(),
    };
    return book;
  };
}

/**
 * `fetch` whose paid responses are added to `book` (`options.receipts`) before they are returned;
 * its `refund` and `withdraw` (channels) kept. Without a book, `fetch` itself.
 */
export function keepingReceipts(fetch, book) {
  if (!book) return fetch;
  if (typeof book.add !== 'function') {
    throw Object.assign(new Error('options.receipts: expected a receiptBook()'), { code: 'invalid_config' });
  }
  const paying = async (input, init) => {
    const response = await fetch(input, init);
    // Paid for: the response goes back to the caller even if the book cannot keep its receipt.
    await book.add(response).catch((e) => console.warn(`x402-wasm: receipt not kept (${e?.code ?? e?.message ?? e})`));
    return response;
  };
  for (const name of ['refund', 'withdraw']) if (fetch[name]) paying[name] = fetch[name];
  return paying;
}
