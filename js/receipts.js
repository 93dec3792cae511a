// The seller's signed receipt (the x402 `offer-receipt` extension) in what a paying fetch returns,
// for `verifyReceipt` in every entry: the check itself (secp256k1 recovery) is the wasm's
// `checkReceipt`, in the builds that carry secp256k1 (pkg/channel, pkg/local).

/**
 * The signed receipt in `x`: a Response (its `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`), a
 * decoded settlement (`paymentReceipt(response)`), or the receipt itself; `null` when none.
 */
export function signedReceipt(x) {
  if (typeof x?.headers?.get === 'function') {
    try {
      x = JSON.parse(atob(x.headers.get('PAYMENT-RESPONSE') ?? x.headers.get('X-PAYMENT-RESPONSE')));
    } catch {
      return null;
    }
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
