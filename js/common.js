// Shared by the package entries: wrapFetch over the wasm PayingFetch class.

/** Builds `wrapFetch` for one wasm build. */
export function makeWrapFetch(PayingFetch) {
  /**
   * Wraps `fetch` so that HTTP 402 x402 challenges are paid once with `wallet`.
   * Same shape as @x402/fetch's `wrapFetchWithPayment(fetch, client)`.
   */
  return function wrapFetch(fetch, wallet, options = {}) {
    const payer = new PayingFetch(fetch ?? globalThis.fetch, wallet, options);
    return (input, init) => payer.fetch(input, init);
  };
}
