// Interop: the reference x402 clients from npm pay this Worker (under workerd, self-settling on
// anvil). v2: @x402/fetch + @x402/evm 2.27.0 with a viem local account. v1: x402-fetch 1.2.0, which
// only knows named networks, so its chain is an anvil started with chain id 84532 ("base-sepolia")
// carrying the same test token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { baseSepolia } from 'viem/chains';
import { wrapFetchWithPaymentFromConfig } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm';
import { wrapFetchWithPayment as wrapFetchV1 } from 'x402-fetch';
import { ROLES, TOKEN_ADDRESS, balanceOf, deployToken, rpc, startAnvil, transferCount } from './lib/chain.mjs';
import { decodeHeader, defaultConfig, startWorker } from './lib/worker.mjs';

describe('reference v2 client (@x402/fetch + @x402/evm)', () => {
  let chain;
  let worker;
  before(async () => {
    chain = await startAnvil();
    await deployToken(chain.rpcUrl);
    worker = await startWorker({ config: defaultConfig(chain.rpcUrl) });
  });
  after(async () => {
    await worker?.stop();
    await chain?.stop();
  });

  test('pays /paid/two.html', async () => {
    const payer = ROLES.payers[0];
    const account = privateKeyToAccount(payer.privateKey);
    const pay = wrapFetchWithPaymentFromConfig(fetch, {
      schemes: [{ network: 'eip155:31337', client: new ExactEvmScheme(account) }],
      spendControls: { allowedAssets: [{ network: 'eip155:31337', asset: TOKEN_ADDRESS, maxAmountPerPayment: '100000' }] },
    });
    const before = await balanceOf(chain.rpcUrl, payer.address);
    const transfers = await transferCount(chain.rpcUrl);
    const res = await pay(`${worker.url}/paid/two.html`);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.match(body, /paid-content:two/);
    const receipt = decodeHeader(res.headers.get('payment-response'));
    assert.equal(receipt.success, true);
    assert.equal((await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [receipt.transaction])).status, '0x1');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before - 20_000n);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
  });
});

describe('reference v1 client (x402-fetch) on base-sepolia (anvil, chain 84532)', () => {
  let chain;
  let worker;
  before(async () => {
    chain = await startAnvil({ chainId: 84532 });
    await deployToken(chain.rpcUrl);
    const network = { network: 'eip155:84532', asset: TOKEN_ADDRESS, name: 'USD Coin', version: '2', decimals: 6 };
    worker = await startWorker({ config: defaultConfig(chain.rpcUrl, { networks: [network] }) });
  });
  after(async () => {
    await worker?.stop();
    await chain?.stop();
  });

  test('the 402 body carries the v1 requirements', async () => {
    const res = await fetch(`${worker.url}/paid/one.html`);
    assert.equal(res.status, 402);
    const body = await res.json();
    assert.equal(body.x402Version, 1);
    assert.equal(body.accepts[0].network, 'base-sepolia');
    assert.equal(body.accepts[0].maxAmountRequired, '10000');
    assert.equal(body.accepts[0].resource, `${worker.url}/paid/one.html`);
  });

  test('pays /paid/one.html with X-PAYMENT', async () => {
    const payer = ROLES.payers[1];
    const wallet = createWalletClient({
      account: privateKeyToAccount(payer.privateKey),
      chain: baseSepolia,
      transport: http(chain.rpcUrl),
    });
    const pay = wrapFetchV1(fetch, wallet);
    const before = await balanceOf(chain.rpcUrl, payer.address);
    const res = await pay(`${worker.url}/paid/one.html`);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.match(body, /paid-content:one/);
    const receipt = decodeHeader(res.headers.get('x-payment-response'));
    assert.equal(receipt.success, true);
    assert.equal(receipt.network, 'base-sepolia');
    assert.equal((await rpc(chain.rpcUrl, 'eth_getTransactionReceipt', [receipt.transaction])).status, '0x1');
    assert.equal(await balanceOf(chain.rpcUrl, payer.address), before - 10_000n);
  });
});
