// EIP-6963 wallet discovery (announce/request events), with window.ethereum as the fallback.
// Works wherever `addEventListener`/`dispatchEvent` exist on the global scope; in a worker or
// Node it simply finds nothing.

const found = new Map();
let listening = false;

function listen() {
  if (listening || typeof globalThis.addEventListener !== 'function') return;
  listening = true;
  globalThis.addEventListener('eip6963:announceProvider', (event) => {
    const { info, provider } = event.detail ?? {};
    if (info?.uuid && typeof provider?.request === 'function') found.set(info.uuid, { info, provider });
  });
}

/** Asks wallets to announce themselves (EIP-6963 `eip6963:requestProvider`). */
export function requestWallets() {
  listen();
  if (typeof globalThis.dispatchEvent === 'function' && typeof Event === 'function') {
    globalThis.dispatchEvent(new Event('eip6963:requestProvider'));
  }
}

/**
 * The wallets known now: every EIP-6963 announcement, or `window.ethereum` when none announced.
 * Each entry is `{ info: { uuid, name, icon, rdns }, provider }`.
 */
export function listWallets() {
  listen();
  const list = [...found.values()];
  const injected = globalThis.ethereum;
  if (list.length === 0 && typeof injected?.request === 'function') {
    list.push({ info: { uuid: 'window.ethereum', name: 'Browser wallet', icon: '', rdns: '' }, provider: injected });
  }
  return list;
}

/**
 * Requests announcements and resolves with the list once wallets had `waitMs` to answer
 * (announcements are synchronous for injected wallets; the wait covers slow ones).
 */
export function discoverWallets({ waitMs = 100 } = {}) {
  requestWallets();
  return new Promise((resolve) => setTimeout(() => resolve(listWallets()), waitMs));
}

listen();
