// The reference x402 gate as its documentation shows it (https://github.com/coinbase/x402,
// typescript/packages/http/hono README): @x402/hono `paymentMiddleware` + @x402/core
// `x402ResourceServer` with the @x402/evm exact server scheme, and as its facilitator an
// in-process @x402/core `x402Facilitator` + @x402/evm exact facilitator scheme settling through a
// viem wallet client (the wiring of tests/npm/ref-server.mjs). One app, two runtimes:
// bench/gates.mjs serves it from Node (node:http) and bundles `worker` below (esbuild) to run it
// as a Worker on the same workerd as ours (nodejs_compat).
//
// GET /paid/one.html at $0.01 (10000 atomic TestUSDC), answered with the same page the Worker
// serves (passed in as `page`); GET /free.html is free.
import { Hono } from 'hono';
import { paymentMiddleware } from '@x402/hono';
import { x402ResourceServer } from '@x402/core/server';
import { x402Facilitator } from '@x402/core/facilitator';
import { ExactEvmScheme as ServerScheme } from '@x402/evm/exact/server';
import { ExactEvmScheme as FacilitatorScheme } from '@x402/evm/exact/facilitator';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { createWalletClient, defineChain, http, nonceManager, publicActions } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

export const NETWORK = 'eip155:31337';

/** The reference gate's Hono app: { rpcUrl, relayerKey, payTo, token, page }. */
export function referenceApp({ rpcUrl, relayerKey, payTo, token, page }) {
  const chain = defineChain({
    id: 31337,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  // viem's nonce manager: without it, concurrent settlements from the one facilitator key collide
  // ("nonce too low": about a quarter of the payments at concurrency 4 failed in a trial run).
  const account = privateKeyToAccount(relayerKey, { nonceManager });
  const client = createWalletClient({ account, chain, transport: http(rpcUrl), pollingInterval: 50 }).extend(publicActions);
  const signer = toFacilitatorEvmSigner(Object.assign(client, { address: account.address }));
  const facilitator = new x402Facilitator().register(NETWORK, new FacilitatorScheme(signer));
  const facilitatorClient = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported(),
  };
  const resourceServer = new x402ResourceServer(facilitatorClient).register(NETWORK, new ServerScheme());
  const app = new Hono();
  app.use(
    paymentMiddleware(
      {
        'GET /paid/one.html': {
          accepts: {
            scheme: 'exact',
            network: NETWORK,
            payTo,
            maxTimeoutSeconds: 300,
            price: { asset: token, amount: '10000', extra: { name: 'USD Coin', version: '2' } },
          },
          description: 'The edge is where the web runs',
          mimeType: 'text/html',
        },
      },
      resourceServer,
    ),
  );
  app.get('/paid/one.html', (c) => c.html(page));
  app.get('/free.html', (c) => c.html(page));
  return app;
}

/** The same app as a Worker module (env: RPC_URL, RELAYER_KEY, PAY_TO, TOKEN, PAGE), built once per isolate. */
let app;
export const worker = {
  fetch(request, env, ctx) {
    app ??= referenceApp({ rpcUrl: env.RPC_URL, relayerKey: env.RELAYER_KEY, payTo: env.PAY_TO, token: env.TOKEN, page: env.PAGE });
    return app.fetch(request, env, ctx);
  },
};
