// The drop-in's second part (www/x402/x402-channel.js), loaded by js/dropin.js only when needed:
// when a 402 offers a `batch-settlement` channel, when the reader restores a purchase
// (Sign-In-With-X), and where a page lists the reader's receipts (their signatures are checked
// here). For channels: the channel module (pkg/channel: the voucher key and the
// vouchers, secp256k1) and the pay box's credit offer. The reader adds credit once (one wallet
// signature: the deposit), then unlocks articles with one click each and no wallet prompt; the
// credit left is shown, and "Withdraw remaining credit" asks the site to return it (a cooperative
// refund; when the site does not answer, the contract's timed withdrawal through the reader's
// wallet). Every amount shown comes from the challenge and the channel state, never from the page.
// The voucher key and the channel states stay in this site's localStorage.
import { checkReceipt, formatAmount, initSync, signInFetch, wrapChannelFetch } from '../pkg/channel/x402.js';

initSync({ module: await WebAssembly.compileStreaming(fetch(new URL('x402_channel_bg.wasm', import.meta.url))) });

/**
 * Restores a purchase of `src` with `wallet` (an EIP-1193 provider): asks for a fresh 402, signs
 * in (Sign-In-With-X, one `personal_sign`, no payment) and returns the answer: the content (with
 * a new pass) when this wallet bought it, else a 402.
 */
export const restore = (wallet, src) => signInFetch(fetch, wallet, {})(src, { credentials: 'same-origin' });

/**
 * Draws the reader's `receipts` (oldest first, as the drop-in keeps them) in `target`, newest
 * first, as text: what was paid, for what, when, the transaction; for a receipt the seller signed
 * (offer-receipt), who signed it, or that its signature does not match what it says; and a link
 * that saves them all as JSON.
 */
export function showReceipts(target, receipts) {
  if (receipts.length === 0) {
    target.replaceChildren(Object.assign(document.createElement('p'), { className: 'x402-status', textContent: 'No payments on this device yet.' }));
    return;
  }
  const list = document.createElement('ul');
  list.className = 'x402-receipts';
  list.setAttribute('aria-label', 'Your payments');
  for (const r of [...receipts].reverse()) {
    let signed = '';
    if (r.signed) {
      try {
        const c = checkReceipt(JSON.stringify(r.signed));
        const same = c.resourceUrl === new URL(r.resource, location).href && c.payer.toLowerCase() === String(r.payer).toLowerCase();
        signed = same ? `; receipt signed by ${c.signer}` : `; signed receipt for another purchase (by ${c.signer})`;
      } catch (e) {
        signed = `; the signed receipt does not verify (${e.code ?? e.message})`;
      }
    }
    const li = document.createElement('li');
    li.textContent = (r.text ?? `${r.price} ${r.symbol} for ${r.resource} on ${new Date(r.time).toLocaleString()} (transaction ${r.transaction})`) + signed;
    list.append(li);
  }
  const save = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(new Blob([JSON.stringify(receipts, null, 2)], { type: 'application/json' })),
    download: `x402-receipts-${location.host}.json`,
    textContent: 'Export your receipts (JSON)',
  });
  target.replaceChildren(list, save);
}

const storage = () => { try { return globalThis.localStorage ?? undefined; } catch { return undefined; } };
// A price as the pay box shows it: at least two decimals (`0.50 USDC`).
const amount = (price, o) => `${price.includes('.') ? price.padEnd(price.indexOf('.') + 3, '0') : price + '.00'} ${o.symbol || 'tokens'}`;
// Atomic units (a decimal string) of the offer's asset, shown.
const units = (n, o) => amount(formatAmount(String(n ?? '0'), o.decimals), o);
const short = (tx) => `${tx.slice(0, 10)}…`;

/**
 * The box's paying fetch with channels. `ui`: the box (`set`, `button`, `actions`, `terms`,
 * `src`, `listWallets`, `keep` a receipt, `pick(wallet, direct)` the wallet the reader chose).
 * Returns the paying fetch, with `done(receipt)`: after content came, says what was paid (true),
 * or leaves it to the drop-in (false: not a channel payment).
 */
export function pay(wallet, options, wrapFetch, ui) {
  const host = new URL(ui.src, location).host;
  const resource = new URL(ui.src, location).pathname;
  let last; // the channel after the last payment on it (its credit left)
  let withdrawing = false;

  const keep = (text, r) => ui.keep({ ...r, text: `${text} on ${new Date().toLocaleString()}`, time: new Date().toISOString() });

  async function withdraw() {
    if (withdrawing) return;
    withdrawing = true;
    ui.actions.replaceChildren();
    ui.set('withdrawing', `Asking ${host} to return your credit…`);
    try {
      const { refunded, offer: o, transaction } = await paying.refund(ui.src);
      last = o;
      const back = units(refunded, o);
      keep(`${back} of credit returned by ${host}${transaction ? ` (transaction ${transaction})` : ''}`, { transaction, network: o.network, amount: refunded, symbol: o.symbol });
      ui.set('withdrawn', `${back} of credit returned to your wallet${transaction ? ` (transaction ${short(transaction)})` : ''}.`);
    } catch (e) {
      ui.set('failed', `${host} did not return your credit (${e?.code ?? e?.message ?? e}). It stays in the channel: try again later, or withdraw it yourself on chain (your wallet sends two transactions, at least 15 minutes apart; the network fee is yours).`);
      ui.button('Withdraw remaining credit', withdraw);
      ui.button('Withdraw it myself on chain', timed);
    } finally {
      withdrawing = false;
    }
  }

  // The contract's timed withdrawal, through the reader's wallet: start, then collect.
  async function timed() {
    if (withdrawing) return;
    withdrawing = true;
    ui.actions.replaceChildren();
    ui.set('withdrawing', 'Your wallet sends the withdrawal…');
    try {
      const r = await paying.withdraw(ui.src);
      if (r.step === 'initiated') {
        keep(`Withdrawal of ${units(r.amount, r.offer)} of credit started (transaction ${r.transaction})`, { transaction: r.transaction, network: r.offer.network, amount: r.amount, symbol: r.offer.symbol });
        ui.set('withdrawing', `Withdrawal of ${units(r.amount, r.offer)} started (transaction ${short(r.transaction)}). Collect it after ${new Date(r.after * 1000).toLocaleTimeString()}.`);
      } else {
        keep(`${units(r.amount, r.offer)} of credit withdrawn (transaction ${r.transaction})`, { transaction: r.transaction, network: r.offer.network, amount: r.amount, symbol: r.offer.symbol });
        ui.set('withdrawn', `${units(r.amount, r.offer)} of credit returned to your wallet (transaction ${short(r.transaction)}).`);
        return;
      }
    } catch (e) {
      ui.set('failed', e?.code === 'withdrawal_pending' && e.after
        ? `Your withdrawal can be collected after ${new Date(e.after * 1000).toLocaleTimeString()}.`
        : `The withdrawal did not go through (${e?.code ?? e?.message ?? e}).`);
    } finally {
      withdrawing = false;
    }
    ui.button('Collect withdrawn credit', timed);
  }

  // A withdrawal this reader started on the offer's channel and has not collected yet.
  const started = (o) => {
    try { const w = JSON.parse(storage()?.getItem('x402:withdrawal:' + o.channelId)); return w && !w.finalized ? w : undefined; } catch { return undefined; }
  };

  // The box for a channel offer `o`: with credit that covers the article, one button; else the
  // choice between adding credit (one signature) and paying for this article alone.
  const confirm = (o) => new Promise((resolve) => {
    const show = () => {
      ui.actions.replaceChildren();
      const out = started(o);
      const collect = () => {
        if (out) ui.button('Collect withdrawn credit', () => { away = true; resolve(false); timed(); });
      };
      const note = out ? ` A withdrawal of ${units(out.amount, o)} is under way: collect it after ${new Date(out.after * 1000).toLocaleTimeString()}.` : '';
      if (o.step === 'voucher') {
        const left = Number(o.credit) > 0 ? ` (${amount(o.creditPrice, o)} left)` : '';
        ui.set('offer', `Unlock for ${amount(o.price, o)} from your credit with ${host}${left}. No wallet prompt.${note}`);
        ui.button(`Unlock for ${amount(o.price, o)}`, () => { ui.actions.replaceChildren(); resolve(true); });
        if (Number(o.credit) > 0) ui.button('Withdraw remaining credit', () => { away = true; resolve(false); withdraw(); });
        collect();
        ui.actions.querySelector('button')?.focus();
        return;
      }
      const wallets = ui.listWallets();
      const credit = amount(o.depositPrice, o);
      const top = Number(o.credit) > 0 ? `Your credit with ${host} (${amount(o.creditPrice, o)} left) does not cover this article. ` : '';
      if (!wallets.length) {
        ui.set('needs-wallet', `${top}Unlocking costs ${ui.terms(o)}; credit can be added too. To pay, you need a browser wallet that supports EIP-6963 (most wallet extensions do).`);
        return;
      }
      ui.set('offer', `${top}Add ${credit} of credit to ${host} (one signature), then unlock articles without asking; or unlock this article alone for ${ui.terms(o)}.${note}`);
      for (const w of wallets) {
        const by = wallets.length === 1 ? '' : ` with ${w.info.name}`;
        ui.button(`Add ${credit} of credit${by}`, () => { ui.pick(w.provider, 0); ui.actions.replaceChildren(); resolve(true); });
        ui.button(`Unlock this article for ${amount(o.price, o)}${by}`, () => { ui.pick(w.provider, 1); ui.actions.replaceChildren(); resolve('exact'); });
      }
      // The 402 offers Sign-In-With-X: a reader who bought this article restores it, no payment.
      if (ui.offered()) {
        ui.button('Already bought it? Restore with your wallet', async () => {
          if (await ui.restore(wallets[0].provider, show)) { away = true; resolve(false); }
        });
      }
      collect();
      ui.actions.querySelector('button')?.focus();
    };
    addEventListener('eip6963:announceProvider', () => setTimeout(show));
    show();
  });

  const paying = wrapChannelFetch(fetch, wallet, {
    ...options,
    confirm: (o) => (o.scheme === 'batch-settlement' ? confirm(o) : options.confirm(o)),
    onChannel: (o) => { last = o; },
    // Without storage the voucher key would be lost with the page, and the credit with it
    // until a timed withdrawal: then the box pays exact only.
    channels: { allowed: storage() !== undefined, confirmEach: true, storage: storage() },
  }, wrapFetch);

  // The box went to a withdrawal from an offer: the declined payment's error is not shown (the
  // withdrawal's words are); that call never settles.
  let away = false;
  const send = async (input, init) => {
    last = undefined;
    away = false;
    try {
      return await paying(input, init);
    } catch (e) {
      if (away) return new Promise(() => {});
      throw e;
    }
  };
  send.refund = paying.refund;
  send.done = (receipt) => {
    const o = last;
    if (!o || receipt?.extra?.channelState?.channelId !== o.channelId) return false;
    const charge = receipt.extra.chargedAmount;
    const deposited = receipt.transaction || undefined;
    if (deposited) {
      keep(`${units(receipt.amount, o)} of credit added to ${host} (transaction ${deposited})`, { transaction: deposited, network: o.network, amount: receipt.amount, symbol: o.symbol });
    }
    keep(`${units(charge, o)} for ${resource}, from your credit`, {
      network: o.network, amount: charge, symbol: o.symbol, resource, payer: receipt.payer, signed: receipt.extensions?.['offer-receipt']?.info?.receipt,
    });
    const added = deposited ? `You added ${units(receipt.amount, o)} of credit (transaction ${short(deposited)}) and paid` : 'Paid';
    ui.set('unlocked', `Unlocked. ${added} ${units(charge, o)} from your credit; ${amount(o.creditPrice, o)} left.`);
    if (Number(o.credit) > 0) ui.button('Withdraw remaining credit', withdraw);
    return true;
  };
  return send;
}
