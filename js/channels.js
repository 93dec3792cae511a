// `wrapFetch` with channels (`options.channels`) for the entries whose wasm build has none
// (js/lazy.js, js/node.js): the channel module (pkg/channel: voucher signing, secp256k1) is loaded
// on the first request, never before, and never by a paying fetch without `options.channels`.

const fail = (code, message) => Object.assign(new Error(message), { code });

/**
 * The paying fetch with channels over `load()` (resolves to the initialized pkg/channel module)
 * and `exactWrap(fetch, wallet, options)` (the exact path's `wrapFetch`). Bad options reject the
 * first request (`invalid_config`), since they are read once the module is loaded.
 */
export function lazyChannels(fetch, wallet, options, load, exactWrap) {
  let paying;
  const get = async () => (paying ??= (await load()).wrapChannelFetch(fetch, wallet, options, exactWrap));
  const f = async (input, init) => (await get())(input, init);
  for (const name of ['refund', 'withdraw']) {
    f[name] = async (input, opts) => {
      const p = await get();
      if (typeof p[name] !== 'function') throw fail('invalid_config', `${name} needs options.channels.allowed`);
      return p[name](input, opts);
    };
  }
  return f;
}
