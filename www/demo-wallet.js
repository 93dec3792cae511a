// The demo wallet: an EIP-1193 provider announced through EIP-6963 that forwards signing to an
// anvil dev account over JSON-RPC (anvil signs eth_signTypedData_v4 for its unlocked accounts),
// so the demo needs no wallet extension. For the local test chain only: these are anvil's public
// development keys. Included by the demo pages, never by the drop-in.
//   localStorage['x402-demo:rpc']     JSON-RPC URL (default http://127.0.0.1:8545)
//   localStorage['x402-demo:account'] anvil account index (default 1, the first funded payer)
//   localStorage['x402-demo:log']     every request a page made to the wallet, by method (a JSON
//                                     list, kept across pages: what a reader would have been asked)
const setting = (k, d) => { try { return localStorage.getItem(k) ?? d; } catch { return d; } };
const RPC = setting('x402-demo:rpc', 'http://127.0.0.1:8545');
const INDEX = Number(setting('x402-demo:account', '1'));
let id = 0;

async function rpc(method, params = []) {
  const res = await fetch(RPC, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
  const body = await res.json();
  if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
  return body.result;
}

let account;
async function me() {
  account ??= (await rpc('eth_accounts'))[INDEX];
  return account;
}

const provider = {
  isDemoWallet: true,
  async request({ method, params = [] }) {
    try {
      localStorage.setItem('x402-demo:log', JSON.stringify([...JSON.parse(setting('x402-demo:log', '[]')), method]));
    } catch { /* storage blocked: no log */ }
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [await me()];
      case 'wallet_switchEthereumChain': {
        if (params[0]?.chainId?.toLowerCase() === (await rpc('eth_chainId')).toLowerCase()) return null;
        throw Object.assign(new Error('The demo wallet only knows the local chain'), { code: 4902 });
      }
      case 'wallet_addEthereumChain':
        throw Object.assign(new Error('The demo wallet only knows the local chain'), { code: 4200 });
      case 'eth_signTypedData_v4':
        if (params[0]?.toLowerCase() !== (await me()).toLowerCase()) throw Object.assign(new Error('unknown account'), { code: 4100 });
        return rpc('eth_signTypedData_v4', [await me(), params[1]]);
      default:
        return rpc(method, params);
    }
  },
};

const ICON = 'data:image/svg+xml,' + encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#225"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff">402</text></svg>');
const detail = Object.freeze({
  info: Object.freeze({ uuid: '6d1a4a3e-4f0b-4d55-9a4c-402402402402', name: 'Demo wallet (local anvil)', icon: ICON, rdns: 'org.x402-wasm.demo' }),
  provider,
});
const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
window.addEventListener('eip6963:requestProvider', announce);
announce();
