// The publisher drop-in: <script type="module" src="/x402/x402.js"></script> and
//   <div data-x402-src="/paid/one.html">free teaser…</div>
// Each marked element gets a pay box. The price, the network and the payee come from the 402
// challenge, never from the page. Content is inserted in place, without its scripts, styles,
// forms or unsafe URLs. Receipts, and a payment whose settlement is still pending, are kept in
// localStorage.
//
// A reader's receipts are listed in any element marked <div data-x402-receipts></div>, each with
// who signed it when the seller signs receipts (offer-receipt), and a link to export them as JSON.
//
// When a 402 also offers a batch-settlement channel, the box hands over to the channel part
// (x402-channel.js and its wasm, loaded then and only then): add credit once, then unlock
// articles with one click and no wallet prompt.
//
// When a 402 offers Sign-In-With-X, the box also offers "Already bought it? Restore with your
// wallet": the reader signs a message with the wallet that paid (no money moves) and the article
// comes again, on a new device or after cookies were cleared (the part that signs in is the
// channel part, loaded on that click).
//
// Options on the script tag, each the drop-in's value of a wrapFetch option:
//   data-max-amount      the most one unlock may cost, in millionths of a token (scaled to the
//                        token's decimals; default 100000: $0.10 of a stablecoin)
//   data-networks        comma-separated CAIP-2 networks to pay on (default: any EVM network)
//   data-budget          what a reader may spend on this site per day, millionths of a token
//                        (default 1000000)
//   data-allowed-assets  JSON list of the tokens to pay with, [{"network", "asset", "decimals",
//                        "maxAmount"?}] (default: the known stablecoins)
import { initSync, wrapFetch } from '../pkg/dropin/x402.js';
import { receiptOf } from '../crates/browser/js/flow.js';
import { listWallets, requestWallets } from './wallets.js';

// The wasm next to this file, compiled while it downloads (the glue's async loader, with its
// fallbacks for servers without the wasm MIME type, is left out of the bundle).
initSync({ module: await WebAssembly.compileStreaming(fetch(new URL('x402_bg.wasm', import.meta.url))) });

const RECEIPTS = 'x402:receipts';
// Thrown by the box's fetch when a 402 offers a channel: the channel part takes over.
const CHANNEL = {};
const CSS = `.x402-box{border:1px solid #8886;border-radius:8px;padding:12px 14px;margin:12px 0;font:15px/1.4 system-ui,sans-serif}
.x402-box button{font:inherit;padding:6px 12px;margin:6px 8px 0 0;border-radius:6px;border:1px solid #446;background:#225;color:#fff;cursor:pointer}
.x402-box button:focus-visible{outline:3px solid #48f;outline-offset:2px}.x402-box[data-state=failed]{border-color:#c33}
.x402-box[data-state=unlocked]{border-color:#393}.x402-status{margin:0}.x402-receipts li{overflow-wrap:anywhere}`;

// Wallet parameters for wallet_addEthereumChain, for chains a wallet may not know.
const nativeCurrency = { name: 'Ether', symbol: 'ETH', decimals: 18 };
const CHAINS = {
  'eip155:31337': { chainId: '0x7a69', chainName: 'Local test chain (anvil)', rpcUrls: ['http://127.0.0.1:8545'], nativeCurrency },
  'eip155:84532': { chainId: '0x14a34', chainName: 'Base Sepolia', rpcUrls: ['https://sepolia.base.org'], nativeCurrency },
};
// Networks by chain id, as the pay box names them (others: "chain 137").
const NETS = { 8453: 'Base', 84532: 'Base Sepolia', 31337: 'local test chain' };

const WORDS = {
  connect: 'Connecting to your wallet…',
  switch: 'Asking your wallet to switch network…',
  sign: 'Approve the payment in your wallet…',
  settling: 'Signed. Settling the payment…',
  pending: 'Payment sent; waiting for the network to confirm it…',
};

function storage() {
  try { return globalThis.localStorage ?? null; } catch { return null; }
}

/**
 * Every receipt kept on this device, oldest first: `{ transaction, network, payer, price, symbol,
 * amount, resource, time, signed? }` (`signed`: the seller's signed receipt, when it gave one).
 */
export function listReceipts() {
  try { return JSON.parse(storage()?.getItem(RECEIPTS) ?? '[]'); } catch { return []; }
}

function keepReceipt(receipt) {
  const all = listReceipts();
  all.push(receipt);
  try { storage()?.setItem(RECEIPTS, JSON.stringify(all)); } catch { /* storage full or blocked */ }
  showReceipts();
}

/**
 * Lists this device's receipts in the marked elements: the list is drawn by the second part
 * (x402-channel.js, which also checks the sellers' signatures), loaded only when a page has one.
 */
function showReceipts(targets = document.querySelectorAll('[data-x402-receipts]')) {
  if (targets.length) import(new URL('x402-channel.js', import.meta.url)).then((m) => targets.forEach((t) => m.showReceipts(t, listReceipts())));
}

// Elements dropped with their content: scripts, frames, plugins, styles, forms, SVG animations
// (they can set an href to javascript:).
const DROP = /^(script|i?frame(set)?|object|embed|link|meta|base|style|template|form|animate\w*|set)$/i;
// Attributes dropped: handlers, inline styles (an overlay over the page), frames' documents,
// form targets (a button may name a form of the page), and URL lists not worth parsing.
const BAD = /^(on|style$|srcdoc$|form|srcset$|ping$)/i;
// Attributes holding a URL: kept only when it is http(s) or mailto, as the browser reads it.
const URLS = /^((xlink:)?href|src|action|poster|background|cite|data)$/i;
const safe = (url) => {
  try { return /^(https?|mailto):$/.test(new URL(url, document.baseURI).protocol); } catch { return false; }
};

/**
 * Parses HTML into inert nodes: no scripts, frames, forms, styles, SVG animations or event
 * handlers, and no URL other than http(s) and mailto (each parsed as the browser parses it, so
 * `java&#9;script:` is seen as `javascript:`).
 */
export function sanitize(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  for (const node of doc.body.querySelectorAll('*')) {
    if (DROP.test(node.localName)) node.remove();
    else {
      for (const { name, value } of [...node.attributes]) {
        if (BAD.test(name) || (URLS.test(name) && !safe(value))) node.removeAttribute(name);
      }
    }
  }
  const fragment = document.createDocumentFragment();
  for (const node of [...doc.body.childNodes]) fragment.append(document.importNode(node, true));
  return fragment;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The options set on this script's tag (see the top of this file). */
function tagOptions() {
  const tag = [...document.querySelectorAll('script[src]')].find((s) => s.src === import.meta.url);
  const get = (name) => tag?.getAttribute('data-' + name)?.trim() || undefined;
  let allowedAssets = get('allowed-assets');
  // Not JSON: passed on as text, which the payer refuses as invalid_config.
  try { allowedAssets &&= JSON.parse(allowedAssets); } catch { /* kept as text */ }
  return {
    maxAmount: get('max-amount'),
    allowedNetworks: get('networks')?.split(/\s*,\s*/).filter(Boolean),
    allowedAssets,
    budget: { limit: get('budget') },
  };
}

function mount(target, options) {
  const src = target.getAttribute('data-x402-src');
  const box = el('div', { class: 'x402-box', role: 'group', 'aria-label': 'Paid content' });
  const status = el('p', { class: 'x402-status', 'aria-live': 'polite', role: 'status' });
  const actions = el('div', { class: 'x402-actions' });
  box.append(status, actions);
  target.append(box);
  let chosen = null;
  let offer = null;
  const set = (state, words) => { box.dataset.state = state; status.textContent = words; };
  const button = (label, onClick) => {
    const b = el('button', { type: 'button' }, label);
    b.addEventListener('click', onClick);
    actions.append(b);
  };

  let paying = null;
  // The last 402 offered Sign-In-With-X (a reader who bought it may restore it).
  let restorable = false;
  // The channel part's module while it loads; `direct`: the reader chose a single payment in
  // its offer (with a wallet), so the exact offer that follows is not asked again.
  let channel;
  let direct;
  // A payment is pending (its settlement not confirmed yet): it is re-sent, never signed anew,
  // every `delay` ms (1 s, 2 s, 4 s… at most 10 s) until the content comes or it expires.
  let pending = false;
  let waiting = false;
  let delay = 1000;
  // The wallet the reader picks in the pay box; the paying fetch talks to it through this.
  const wallet = { request: (args) => chosen.request(args) };
  // Shows the offer: price, who is paid (the site, the payee shortened, the network by name),
  // and a button per wallet; with no wallet, says one is needed (after a moment for wallets to
  // announce themselves; a wallet that announces later brings the offer).
  const terms = (o) => `${o.price} ${o.symbol || 'tokens'} to ${new URL(src, location).host} (${o.payTo.slice(0, 6)}…${o.payTo.slice(-4)}) on ${NETS[o.chainId] ?? 'chain ' + o.chainId}`;
  const confirm = (o) => direct ? !(direct = 0) : new Promise((resolve) => {
    offer = o;
    waiting = false;
    const price = `${o.price} ${o.symbol || 'tokens'}`;
    const show = () => {
      if (offer !== o) return;
      const wallets = listWallets();
      actions.replaceChildren();
      if (!wallets.length) {
        set('needs-wallet', `Unlocking costs ${terms(o)}. To pay, you need a browser wallet that supports EIP-6963 (most wallet extensions do).`);
        return;
      }
      set('offer', `Unlock for ${terms(o)}${o.description ? ` — ${o.description}` : ''}.`);
      for (const w of wallets) {
        const label = wallets.length === 1 ? `Unlock for ${price}` : `Pay ${price} with ${w.info.name}`;
        button(label, () => { chosen = w.provider; actions.replaceChildren(); resolve(true); });
      }
      if (restorable) button('Already bought it? Restore with your wallet', async () => (await restore(wallets[0].provider, show)) && resolve(false));
      actions.querySelector('button')?.focus();
    };
    addEventListener('eip6963:announceProvider', () => box.dataset.state === 'needs-wallet' && setTimeout(show));
    setTimeout(show, listWallets().length ? 0 : 400);
  });
  // Sign-In-With-X: the wallet that bought the article signs a message, no payment (the part that
  // does it is the second part, loaded now). True when the article came; else the offer again
  // (`again`), saying so.
  const restore = async (provider, again) => {
    actions.replaceChildren();
    set('restoring', 'Sign the message in your wallet to restore your purchase (no payment)…');
    try {
      const res = await (await import(new URL('x402-channel.js', import.meta.url))).restore(provider, src);
      if (!res.ok) throw 0;
      target.append(sanitize(await res.text()));
      set('unlocked', 'Restored: this wallet bought it before. Nothing was paid.');
      return target.dataset.x402State = 'unlocked';
    } catch {
      again();
      status.textContent = `Not restored: this wallet has not bought it. ${status.textContent}`;
    }
  };
  const wait = () => {
    waiting = true;
    set('pending', WORDS.pending);
    setTimeout(run, delay);
    delay = Math.min(2 * delay, 10000);
  };

  const opts = {
    ...options,
    confirm,
    chains: CHAINS,
    pendingStorage: storage(),
    onStatus: (state, o) => {
      offer = o ?? offer;
      pending = state === 'pending';
      if (!waiting) set(state, WORDS[state]);
    },
  };

  async function run() {
    actions.replaceChildren();
    if (!waiting) set('loading', 'Checking access…');
    pending = false;
    try {
      if (channel) {
        paying = (await channel).pay(wallet, opts, wrapFetch, {
          set, button, actions, terms, src, listWallets, keep: keepReceipt, pick: (w, d) => { chosen = w; direct = d; }, restore, offered: () => restorable,
        });
        channel = 0;
      }
      // Built here so that a bad option on the script tag shows in the box (invalid_config).
      paying ??= wrapFetch(async (r) => {
        const res = await fetch(r);
        let h = '';
        try { h = atob(!r.headers.has('payment-signature') && res.headers.get('payment-required') || ''); } catch { /* not one */ }
        restorable = h.includes('"sign-in-with-x"');
        if (h.includes('"batch-settlement"')) throw CHANNEL;
        return res;
      }, wallet, opts);
      const res = await paying(src, { credentials: 'same-origin' });
      if (pending) return wait();
      const receipt = receiptOf(res);
      if (!res.ok) {
        const why = receipt?.errorReason ?? (await res.text().catch(() => '')).slice(0, 200);
        throw Object.assign(new Error(`the server answered ${res.status}${why ? `: ${why}` : ''}`), { code: 'http_' + res.status });
      }
      target.append(sanitize(await res.text()));
      if (paying.done?.(receipt)) { /* the channel part said it */ } else if (typeof receipt?.transaction === 'string' && offer) {
        keepReceipt({ transaction: receipt.transaction, network: receipt.network, payer: receipt.payer, price: offer.price, symbol: offer.symbol, amount: offer.amount, resource: src, time: new Date().toISOString(), signed: receipt.extensions?.['offer-receipt']?.info?.receipt });
        set('unlocked', `Unlocked. You paid ${offer.price} ${offer.symbol}; receipt ${receipt.transaction.slice(0, 10)}… kept on this device.`);
      } else {
        set('unlocked', 'Unlocked (already paid).');
      }
      target.dataset.x402State = 'unlocked';
    } catch (e) {
      // Restored while the payment waited: nothing to say.
      if (target.dataset.x402State === 'unlocked') return;
      if (e === CHANNEL) {
        channel = import(new URL('x402-channel.js', import.meta.url));
        return run();
      }
      if (pending) return wait();
      waiting = false;
      const words = e?.code === 'user_rejected' ? 'You declined the payment. Nothing was paid.' : `Payment failed: ${e?.message ?? e}`;
      set('failed', words);
      box.dataset.code = e?.code ?? 'error';
      // A refusal by the reader's own rules (or a server's unacceptable terms) is not retried.
      if (!/^(over_|no_acceptable|invalid_(config|payment_req))/.test(e?.code)) button('Try again', run);
    }
  }
  run();
}

function start() {
  const style = el('style', {}, CSS);
  document.head.append(style);
  requestWallets();
  const options = tagOptions();
  document.querySelectorAll('[data-x402-src]').forEach((target) => mount(target, options));
  showReceipts();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
