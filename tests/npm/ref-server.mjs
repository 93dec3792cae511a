// A reference x402 server for interop tests: @x402/hono's paymentMiddleware with an
// x402ResourceServer whose facilitator is the reference x402Facilitator + @x402/evm's exact
// scheme, settling on a real anvil through a viem wallet client (docs/protocol.md, "Running the
// reference stack offline").
// Listens on 127.0.0.1 on a free port.
import http from 'node:http';
import { Hono } from 'hono';
import { paymentMiddleware } from '@x402/hono';
import { x402ResourceServer } from '@x402/core/server';
import { x402Facilitator } from '@x402/core/facilitator';
import { ExactEvmScheme as ServerScheme } from '@x402/evm/exact/server';
import { ExactEvmScheme as FacilitatorScheme } from '@x402/evm/exact/facilitator';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { createWalletClient, defineChain, http as viemHttp, publicActions } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ROLES, TOKEN_ADDRESS, TOKEN_NAME, TOKEN_VERSION } from '../js/lib/chain.mjs';

export const NETWORK = 'eip155:31337';

/** Serves a Hono app over node:http on 127.0.0.1:<free port>. */
export async function serveHono(app) {
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = chunks.length && req.method !== 'GET' && req.method !== 'HEAD' ? Buffer.concat(chunks) : undefined;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      const response = await app.fetch(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body }));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (e) {
      res.writeHead(500).end(String(e?.stack ?? e));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
}

/**
 * Starts the reference server for a chain at `rpcUrl` (token deployed). Routes:
 * GET /paid ($0.01), POST /echo ($0.02, echoes the request body), GET /dear ($0.50), GET /free.
 */
export async function startReferenceServer(rpcUrl) {
  const chain = defineChain({ id: 31337, name: 'anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const account = privateKeyToAccount(ROLES.relayer.privateKey);
  const client = createWalletClient({ account, chain, transport: viemHttp(rpcUrl), pollingInterval: 100 }).extend(publicActions);
  const signer = toFacilitatorEvmSigner(Object.assign(client, { address: account.address }));
  const facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(signer));
  const facilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported(),
  };
  const resourceServer = new x402ResourceServer(facilitatorClient).register(NETWORK, new ServerScheme());
  const price = (amount) => ({
    scheme: 'exact', network: NETWORK, payTo: ROLES.payTo.address, maxTimeoutSeconds: 300,
    price: { asset: TOKEN_ADDRESS, amount, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } },
  });
  const app = new Hono();
  app.use(paymentMiddleware({
    'GET /paid': { accepts: price('10000'), description: 'one paid thing' },
    'POST /echo': { accepts: price('20000'), description: 'echo' },
    'GET /dear': { accepts: price('500000'), description: 'too dear' },
  }, resourceServer));
  app.get('/paid', (c) => c.text('paid content'));
  app.post('/echo', async (c) => c.text(`echo:${await c.req.text()}`));
  app.get('/dear', (c) => c.text('dear content'));
  app.get('/free', (c) => c.text('free'));
  return serveHono(app);
}
