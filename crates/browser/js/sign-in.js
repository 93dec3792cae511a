// Restoring a purchase by signing in (Sign-In-With-X), for crates/browser/src/sign_in.rs: the
// wallet's account and chain, its `personal_sign`, and the one repeated request. The message and
// the header are the wasm's (`builder.request`); this file only moves them.
//
// A reader who bought an article with wallet W, then cleared cookies or moved to another device,
// signs a message with W (no money moves) and gets the article again. Used by `wrapFetch` with
// `restore: true` (before paying, when the 402 offers a sign-in) and by the drop-in's "Restore
// with your wallet".

/** UTF-8 text as 0x-hex, the form `personal_sign` takes. */
const hexOf = (text) => '0x' + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * `fetch(input, init)` that, when the answer is a 402 offering `sign-in-with-x` (and the request
 * carried no payment or sign-in), signs in once with `wallet` (an EIP-1193 provider:
 * `eth_requestAccounts`, `eth_chainId`, `personal_sign`; or a signer `{ address, signMessage }`)
 * and sends the request again with `SIGN-IN-WITH-X`, returning that second answer. When the 402
 * offers no sign-in, or its challenge is for another origin, or the reader declines to sign, the
 * 402 is returned as it came (a paying fetch then pays it). `options.onStatus` hears
 * `sign-in` (the wallet is asked), `restored`, `not-restored` (the server answered the sign-in
 * with anything but content: this wallet did not buy it), `sign-in-failed` (with the error).
 */
export function signingIn(fetch, wallet, options, builder) {
  const send = typeof fetch === 'function' ? fetch : globalThis.fetch;
  const provider = typeof wallet?.request === 'function';
  const status = (s, detail) => {
    try { options?.onStatus?.(s, detail); } catch { /* a status display cannot stop a request */ }
  };
  return async (input, init) => {
    const request = new Request(input, init);
    const again = request.clone();
    const res = await send.call(globalThis, request);
    const h = (name) => request.headers.has(name);
    const header = res.status === 402 && !h('SIGN-IN-WITH-X') && !h('PAYMENT-SIGNATURE') && !h('X-PAYMENT')
      && res.headers.get('PAYMENT-REQUIRED');
    let offered = false;
    try { offered = atob(header).includes('"sign-in-with-x"'); } catch { /* no v2 challenge */ }
    if (!offered || (!provider && typeof wallet?.signMessage !== 'function')) return res;
    let signIn;
    try {
      status('sign-in');
      const accounts = provider ? await wallet.request({ method: 'eth_requestAccounts', params: [] }) : [wallet.address];
      const from = accounts?.[0];
      const chain = provider ? Number(await wallet.request({ method: 'eth_chainId', params: [] }).catch(() => NaN)) : NaN;
      const req = builder.request(header, new URL(res.url || request.url).origin, from, Number.isSafeInteger(chain) ? chain : undefined);
      if (!req) return res;
      const message = req.message;
      const signature = provider
        ? await wallet.request({ method: 'personal_sign', params: [hexOf(message), from] })
        : await wallet.signMessage(message);
      signIn = req.header(signature);
    } catch (e) {
      // Not restored (declined, or a challenge this client will not sign): the 402 stands.
      status('sign-in-failed', e);
      return res;
    }
    again.headers.set('SIGN-IN-WITH-X', signIn);
    const restored = await send.call(globalThis, again);
    status(restored.ok ? 'restored' : 'not-restored');
    return restored;
  };
}
