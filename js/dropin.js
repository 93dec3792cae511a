// The publisher drop-in: <script type="module" src="/x402/x402.js"></script> and
//   <div data-x402-src="/paid/one.html">free teaser…</div>
// Each marked element gets a pay box. The price comes from the 402 challenge, never from the
// page. Content is inserted in place, without its scripts. Receipts are kept in localStorage.
//
// A reader's receipts are listed in any element marked <div data-x402-receipts></div>.
//
// Options on the script tag, each the drop-in's value of a wrapFetch option:
//   data-max-amount  the most one unlock may cost, in the token's atomic units
//                    (default 100000: $0.10 of a 6-decimal stablecoin)
//   data-networks    comma-separated CAIP-2 networks to pay on (default: any EVM network)
//   data-budget      what a reader may spend on this site per day, atomic units (default 1000000)
import { wrapFetch, paymentReceipt } from './web.js';
import { listWallets, requestWallets } from './wallets.js';

const RECEIPTS = 'x402:receipts';
const CSS = `.x402-box{border:1px solid #8886;border-radius:8px;padding:12px 14px;margin:12px 0;font:15px/1.4 system-ui,sans-serif}
.x402-box button{font:inherit;padding:6px 12px;margin:6px 8px 0 0;border-radius:6px;border:1px solid #446;background:#225;color:#fff;cursor:pointer}
.x402-box button:focus-visible{outline:3px solid #48f;outline-offset:2px}.x402-box[data-state=failed]{border-color:#c33}
.x402-box[data-state=unlocked]{border-color:#393}.x402-status{margin:0}.x402-receipts li{overflow-wrap:anywhere}`;

// Wallet parameters for wallet_addEthereumChain, for chains a wallet may not know.
const CHAINS = {
  'eip155:31337': { chainId: '0x7a69', chainName: 'Local test chain (anvil)', rpcUrls: ['http://127.0.0.1:8545'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
  'eip155:84532': { chainId: '0x14a34', chainName: 'Base Sepolia', rpcUrls: ['https://sepolia.base.org'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
};

const WORDS = {
  connect: 'Connecting to your wallet…',
  switch: 'Asking your wallet to switch network…',
  sign: 'Approve the payment in your wallet…',
  settling: 'Signed. Settling the payment…',
};

function storage() {
  try { return globalThis.localStorage ?? null; } catch { return null; }
}

/** Every receipt kept on this device, oldest first: `{ transaction, network, payer, price, symbol, amount, resource, time }`. */
export function listReceipts() {
  try { return JSON.parse(storage()?.getItem(RECEIPTS) ?? '[]'); } catch { return []; }
}

function keepReceipt(receipt) {
  const all = listReceipts();
  all.push(receipt);
  try { storage()?.setItem(RECEIPTS, JSON.stringify(all)); } catch { /* storage full or blocked */ }
  document.querySelectorAll('[data-x402-receipts]').forEach(showReceipts);
}

/** Lists this device's receipts, newest first, in a marked element (text only, no markup from storage). */
function showReceipts(target) {
  const receipts = listReceipts().reverse();
  if (receipts.length === 0) {
    target.replaceChildren(el('p', { class: 'x402-status' }, 'No payments on this device yet.'));
    return;
  }
  const list = el('ul', { class: 'x402-receipts', 'aria-label': 'Your payments' });
  for (const r of receipts) {
    const when = new Date(r.time);
    list.append(el('li', {}, `${r.price} ${r.symbol} for ${r.resource} on ${Number.isNaN(when.getTime()) ? r.time : when.toLocaleString()} (transaction ${r.transaction})`));
  }
  target.replaceChildren(list);
}

/** Parses HTML into inert nodes: no scripts, frames, event handlers or javascript: URLs. */
export function sanitize(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  doc.querySelectorAll('script,iframe,frame,object,embed,link,meta,base,style,template').forEach((n) => n.remove());
  for (const el of doc.body.querySelectorAll('*')) {
    for (const { name, value } of [...el.attributes]) {
      if (/^on/i.test(name) || (/^(href|src|action|formaction|xlink:href|srcdoc)$/i.test(name) && /^\s*(javascript|data|vbscript):/i.test(value) && name !== 'src')) {
        el.removeAttribute(name);
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
export function tagOptions(doc = document, url = import.meta.url) {
  const tag = [...doc.querySelectorAll('script[src]')].find((s) => s.src === url);
  const get = (name) => tag?.getAttribute(name)?.trim() || undefined;
  const options = { budget: {} };
  const max = get('data-max-amount');
  if (max !== undefined) options.maxAmount = max;
  const networks = get('data-networks');
  if (networks !== undefined) options.allowedNetworks = networks.split(',').map((n) => n.trim()).filter(Boolean);
  const budget = get('data-budget');
  if (budget !== undefined) options.budget.limit = budget;
  return options;
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
    return b;
  };

  // The wallet the reader picks in the pay box; the paying fetch talks to it through this.
  const wallet = { request: (args) => chosen.request(args) };
  const confirm = (o) => new Promise((resolve, reject) => {
    offer = o;
    const price = `${o.price} ${o.symbol || 'tokens'}`;
    const wallets = listWallets();
    actions.replaceChildren();
    if (wallets.length === 0) {
      reject(Object.assign(new Error(`unlocking costs ${price}, but no wallet was found: install a browser wallet to pay`), { code: 'no_wallet' }));
      return;
    }
    set('offer', `Unlock for ${price}${o.description ? ` — ${o.description}` : ''}.`);
    for (const w of wallets) {
      const label = wallets.length === 1 ? `Unlock for ${price}` : `Pay ${price} with ${w.info.name}`;
      button(label, () => { chosen = w.provider; actions.replaceChildren(); resolve(true); });
    }
    actions.querySelector('button')?.focus();
  });
  let paying = null;

  async function run() {
    actions.replaceChildren();
    set('loading', 'Checking access…');
    try {
      // Built here so that a bad option on the script tag shows in the box (invalid_config).
      paying ??= wrapFetch(fetch, wallet, {
        ...options,
        confirm,
        chains: CHAINS,
        onStatus: (state) => set(state, WORDS[state] ?? state),
      });
      const res = await paying(src, { credentials: 'same-origin' });
      if (!res.ok) {
        const receipt = paymentReceipt(res);
        const why = receipt?.errorReason ?? (await res.text().catch(() => '')).slice(0, 200);
        throw Object.assign(new Error(`the server answered ${res.status}${why ? `: ${why}` : ''}`), { code: 'http_' + res.status });
      }
      const receipt = paymentReceipt(res);
      target.append(sanitize(await res.text()));
      if (receipt && offer) {
        keepReceipt({ transaction: receipt.transaction, network: receipt.network, payer: receipt.payer ?? null, price: offer.price, symbol: offer.symbol, amount: offer.amount, resource: src, time: new Date().toISOString() });
        set('unlocked', `Unlocked. You paid ${offer.price} ${offer.symbol}; receipt ${receipt.transaction.slice(0, 10)}… kept on this device.`);
      } else {
        set('unlocked', 'Unlocked (already paid).');
      }
      target.dataset.x402State = 'unlocked';
    } catch (e) {
      const words = e?.code === 'user_rejected' ? 'You declined the payment. Nothing was paid.' : `Payment failed: ${e?.message ?? e}`;
      set('failed', words);
      box.dataset.code = e?.code ?? 'error';
      if (!['over_budget', 'over_max', 'no_acceptable_requirement', 'invalid_config'].includes(e?.code)) button('Try again', run);
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
  document.querySelectorAll('[data-x402-receipts]').forEach(showReceipts);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
