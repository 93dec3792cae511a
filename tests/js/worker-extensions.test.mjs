// The 2026 extensions at the edge, under the real workerd (wrangler dev) and a real anvil, one
// Worker for all (Sign-In-With-X, signed receipts and Server-Timing on).
//
// Sign-In-With-X (crates/worker/src/sign_in.rs): a reader pays for a page, then, with no cookie and
// no pass (another device), gets it again by signing in with the wallet that paid: no payment, no
// transfer. The reference client (`wrapFetchWithSIWx` of @x402/extensions 2.27) and our wrapFetch
// (`restore: true`) sign in to this Worker; a replayed sign-in, one for another site or resource,
// an expired one, a nonce this Worker never issued and a wallet that did not buy the page are
// refused with their reasons.
//
// Signed offers and receipts (crates/worker/src/receipts.rs, the offer-receipt extension): every
// 402 carries one EIP-712 offer per accepts entry and a paid answer a signed receipt, both
// accepted by the reference verifier (@x402/extensions/offer-receipt) as signed by the receipt
// key, which the site's did:web document names.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSIWxPayload, encodeSIWxHeader, wrapFetchWithSIWx } from '@x402/extensions';
import { findAcceptsObjectFromSignedOffer, verifyOfferSignatureEIP712, verifyReceiptSignatureEIP712 } from '@x402/extensions/offer-receipt';
import { encodeAbiParameters } from 'viem';
import { ANVIL_ACCOUNTS, ROLES, TOKEN_ABI, TOKEN_ADDRESS, deploySmartWallet, deployToken, publicClient, startAnvil, transferCount, walletClient } from './lib/chain.mjs';
import { decodeHeader, defaultConfig, paymentHeader, startWorker } from './lib/worker.mjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { localWallet, receiptBook, verifyReceipt, wrapFetch } from '../../js/local.js';
import { receiptBook as receiptBookNode, verifyReceipt as verifyReceiptNode } from '../../js/node.js';

const PAGE = '/paid/one.html';
// The key that signs offers and receipts: a key of its own, as the spec recommends.
const receiptKey = generatePrivateKey();
const RECEIPT_KEY = { privateKey: receiptKey, address: privateKeyToAccount(receiptKey).address };

let chain;
let worker;

before(async () => {
  chain = await startAnvil();
  await deployToken(chain.rpcUrl);
  const config = defaultConfig(chain.rpcUrl, { publicOrigin: 'self', receipts: { includeTransaction: true, offerValiditySeconds: 600 }, serverTiming: true });
  config.settlement.receiptTimeoutSeconds = 5;
  worker = await startWorker({ config, secrets: { X402_RECEIPT_KEY: RECEIPT_KEY.privateKey } });
});

after(async () => {
  await worker?.stop();
  await chain?.stop();
});

async function challenge(p = PAGE) {
  const res = await fetch(worker.url + p);
  await res.text();
  assert.equal(res.status, 402);
  return decodeHeader(res.headers.get('payment-required'));
}

async function pay(payer, p = PAGE) {
  const acc = (await challenge(p)).accepts.find((a) => a.scheme === 'exact');
  const res = await fetch(worker.url + p, { headers: { 'PAYMENT-SIGNATURE': await paymentHeader(acc, payer) } });
  assert.equal(res.status, 200, await res.clone().text());
  return res.text();
}

/** A sign-in for `info` (the 402's challenge, changed by `edit`), signed by `payer` as the reference client does. */
async function signIn(payer, info, edit = (i) => i) {
  const complete = edit({ ...info, chainId: 'eip155:31337', type: 'eip191' });
  const payload = await createSIWxPayload(complete, privateKeyToAccount(payer.privateKey), worker.url + PAGE);
  return encodeSIWxHeader(payload);
}

const get = async (p, headers) => {
  const res = await fetch(worker.url + p, { headers });
  return { res, body: await res.text() };
};

const reason = ({ res }) => decodeHeader(res.headers.get('payment-required')).error;

describe('Sign-In-With-X: restore a purchase with the wallet that paid', () => {
  test('the 402 offers a challenge on the configured origin, with a fresh nonce each time', async () => {
    const a = (await challenge()).extensions['sign-in-with-x'];
    const b = (await challenge()).extensions['sign-in-with-x'];
    const origin = new URL(worker.url);
    assert.equal(a.info.domain, origin.host);
    assert.equal(a.info.uri, `${origin.origin}${PAGE}`);
    assert.match(a.info.nonce, /^[0-9a-f]{32}$/);
    assert.notEqual(a.info.nonce, b.info.nonce);
    assert.deepEqual(a.supportedChains, [{ chainId: 'eip155:31337', type: 'eip191' }]);
    const ttl = Date.parse(a.info.expirationTime) - Date.parse(a.info.issuedAt);
    assert.equal(ttl, 300_000);
    // A forged Host never changes what the challenge names.
    const forged = await fetch(worker.url + PAGE, { headers: { 'X-Forwarded-Host': 'evil.example' } });
    await forged.text();
    assert.equal(decodeHeader(forged.headers.get('payment-required')).extensions['sign-in-with-x'].info.domain, origin.host);
  });

  test('paid on one device, restored on another by the reference client: content and a pass, no transfer', async () => {
    const payer = ROLES.payers[0];
    const page = await pay(payer);
    const transfers = await transferCount(chain.rpcUrl);
    const siwxFetch = wrapFetchWithSIWx(fetch, privateKeyToAccount(payer.privateKey));
    const res = await siwxFetch(worker.url + PAGE);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), page);
    assert.equal(res.headers.get('x-payment-restored'), payer.address);
    assert.ok(res.headers.get('x-payment-pass'), 'a new pass');
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing charged');
    // The pass it got opens the page again without signing.
    const again = await get(PAGE, { 'X-PAYMENT-PASS': res.headers.get('x-payment-pass') });
    assert.equal(again.res.status, 200);
  });

  test('a resource with a 3 KB query string is recorded and restored too', async () => {
    // The purchase is stored under a hash of the resource: a Durable Object storage key holds at
    // most 2 KiB, and a failed write would leave the payer's guard unable to record anything.
    const payer = ROLES.payers[2];
    const p = `${PAGE}?ref=${'x'.repeat(3000)}`;
    const page = await pay(payer, p);
    const res = await wrapFetchWithSIWx(fetch, privateKeyToAccount(payer.privateKey))(worker.url + p);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), page);
    assert.equal(res.headers.get('x-payment-restored'), payer.address);
  });

  test('a sign-in is accepted once: the same header again is refused (invalid_siwx_nonce)', async () => {
    const payer = ROLES.payers[0];
    const header = await signIn(payer, (await challenge()).extensions['sign-in-with-x'].info);
    assert.equal((await get(PAGE, { 'SIGN-IN-WITH-X': header })).res.status, 200);
    const replay = await get(PAGE, { 'SIGN-IN-WITH-X': header });
    assert.equal(replay.res.status, 402);
    assert.equal(reason(replay), 'invalid_siwx_nonce');
  });

  test('a wallet that did not buy the page gets the ordinary 402 (nothing spent, no reason)', async () => {
    const other = ROLES.payers[1];
    const r = await get(PAGE, { 'SIGN-IN-WITH-X': await signIn(other, (await challenge()).extensions['sign-in-with-x'].info) });
    assert.equal(r.res.status, 402);
    assert.equal(reason(r), 'Payment required');
  });

  test('refused with their reasons: another domain, another resource, expired, a nonce never issued, a bad signature', async () => {
    const payer = ROLES.payers[0];
    const info = async () => (await challenge()).extensions['sign-in-with-x'].info;
    const cases = [
      ['invalid_siwx_domain_mismatch', (i) => ({ ...i, domain: 'evil.example' })],
      ['invalid_siwx_uri_mismatch', (i) => ({ ...i, uri: i.uri.replace('one.html', 'two.html'), resources: undefined })],
      ['invalid_siwx_expired', (i) => ({ ...i, issuedAt: new Date(Date.now() - 60_000).toISOString(), expirationTime: new Date(Date.now() - 1_000).toISOString() })],
      ['invalid_siwx_issued_at_too_old', (i) => ({ ...i, issuedAt: new Date(Date.now() - 10 * 60_000).toISOString(), expirationTime: undefined })],
      ['invalid_siwx_nonce', (i) => ({ ...i, nonce: 'ffffffffffffffffffffffffffffffff' })],
    ];
    for (const [code, edit] of cases) {
      let header;
      try {
        header = await signIn(payer, await info(), edit);
      } catch {
        // The reference client will not sign a challenge for another origin: sign that one by hand.
        const i = edit({ ...(await info()), chainId: 'eip155:31337', type: 'eip191' });
        const { formatSIWEMessage } = await import('@x402/extensions');
        const account = privateKeyToAccount(payer.privateKey);
        const signature = await account.signMessage({ message: formatSIWEMessage(i, account.address) });
        header = encodeSIWxHeader({ ...i, address: account.address, signature });
      }
      const r = await get(PAGE, { 'SIGN-IN-WITH-X': header });
      assert.equal(r.res.status, 402, code);
      assert.equal(reason(r), code);
    }
    // Signed by one wallet, claiming another's address.
    const good = JSON.parse(Buffer.from(await signIn(payer, await info()), 'base64').toString());
    const r = await get(PAGE, { 'SIGN-IN-WITH-X': Buffer.from(JSON.stringify({ ...good, address: ROLES.payers[1].address })).toString('base64') });
    assert.equal(reason(r), 'invalid_siwx_signature');
    // Not a sign-in at all.
    assert.equal(reason(await get(PAGE, { 'SIGN-IN-WITH-X': 'not base64!' })), 'invalid_siwx_payload');
  });

  test('a contract wallet (ERC-1271) restores what it bought: its owner signs, the wallet accepts on chain; a stranger signing for it is refused', async () => {
    const owner = privateKeyToAccount(ANVIL_ACCOUNTS[7].privateKey);
    const stranger = privateKeyToAccount(ANVIL_ACCOUNTS[6].privateKey);
    const { address: wallet } = await deploySmartWallet(chain.rpcUrl, owner.address);
    const minted = await walletClient(chain.rpcUrl, ROLES.deployer).writeContract({
      address: TOKEN_ADDRESS, abi: TOKEN_ABI, functionName: 'mint', args: [wallet, 1_000_000n], chain: null,
    });
    await publicClient(chain.rpcUrl).waitForTransactionReceipt({ hash: minted });
    // Our Signer for the wallet: its address, its owner's signatures (TestSmartWallet accepts
    // its owner's 65-byte signature through isValidSignature).
    const ours = {
      address: wallet,
      signTypedData: (typedData) => owner.signTypedData(typedData),
      signMessage: (message) => owner.signMessage({ message }),
    };
    const p = '/paid/two.html?wallet=contract';
    const bought = await wrapFetch(fetch, ours, { maxAmount: null })(worker.url + p);
    assert.equal(bought.status, 200, await bought.clone().text());
    const page = await bought.text();
    assert.equal(decodeHeader(bought.headers.get('payment-response')).payer, wallet);
    const transfers = await transferCount(chain.rpcUrl);

    // Another device: the reference client, then ours, sign in for the wallet with the owner's key.
    const asWallet = (key) => ({ address: wallet, signMessage: ({ message }) => key.signMessage({ message }) });
    for (const paying of [wrapFetchWithSIWx(fetch, asWallet(owner)), wrapFetch(fetch, ours, { restore: true, maxAmount: '1' })]) {
      const res = await paying(worker.url + p);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(await res.text(), page);
      assert.equal(res.headers.get('x-payment-restored'), wallet);
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing charged');

    const info = async () => ({ ...(await challenge(p)).extensions['sign-in-with-x'].info, chainId: 'eip155:31337', type: 'eip191' });
    const signInFor = async (signer, sign = (x) => x) => {
      const payload = await createSIWxPayload(await info(), signer, worker.url + p);
      return encodeSIWxHeader({ ...payload, signature: sign(payload.signature) });
    };
    // An EIP-6492 wrapping of the owner's signature: the deployed wallet judges the inner one.
    const wrap6492 = (sig) => encodeAbiParameters([{ type: 'address' }, { type: 'bytes' }, { type: 'bytes' }], [ROLES.deployer.address, '0x1234', sig]) + '6492'.repeat(16);
    const wrapped = await get(p, { 'SIGN-IN-WITH-X': await signInFor(asWallet(owner), wrap6492) });
    assert.equal(wrapped.res.status, 200, wrapped.body);
    // Refused: a stranger's signature, a signature the wallet does not take (97 bytes), a broken
    // EIP-6492 wrapping; and for a wallet address with no code (an EOA), another key's signature.
    for (const [name, header, code] of [
      ['stranger', await signInFor(asWallet(stranger)), 'invalid_siwx_signature'],
      ['97 bytes', await signInFor(asWallet(owner), (sig) => sig + '00'.repeat(32)), 'invalid_siwx_signature'],
      ['broken 6492', await signInFor(asWallet(owner), () => '0x' + 'ff'.repeat(40) + '6492'.repeat(16)), 'invalid_siwx_malformed_signature'],
      ['no code', await signInFor({ address: ROLES.payers[0].address, signMessage: ({ message }) => owner.signMessage({ message }) }), 'invalid_siwx_signature'],
    ]) {
      const r = await get(p, { 'SIGN-IN-WITH-X': header });
      assert.equal(r.res.status, 402, name);
      assert.equal(reason(r), code, name);
    }
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing charged');
  });

  test('our wrapFetch with restore: the buyer gets the page back with no payment; another wallet signs in, is not restored, then pays', async () => {
    const buyer = ROLES.payers[3];
    const p = '/paid/two.html';
    const statuses = [];
    const onStatus = (s) => statuses.push(s);
    // Bought with our paying fetch (no restore: one wallet request).
    const bought = await wrapFetch(fetch, localWallet(buyer.privateKey), { maxAmount: null })(worker.url + p);
    assert.equal(bought.status, 200, await bought.clone().text());
    const page = await bought.text();
    let transfers = await transferCount(chain.rpcUrl);

    // Another device (no cookie, no pass): signed in, not charged.
    const restoring = wrapFetch(fetch, localWallet(buyer.privateKey), { maxAmount: null, restore: true, onStatus });
    const res = await restoring(worker.url + p);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), page);
    assert.equal(res.headers.get('x-payment-restored'), buyer.address);
    assert.ok(res.headers.get('x-payment-pass'), 'a new pass');
    assert.deepEqual(statuses, ['sign-in', 'restored']);
    assert.equal(await transferCount(chain.rpcUrl), transfers, 'nothing charged');

    // A wallet that never bought it: the sign-in is answered with a fresh 402, which is paid.
    statuses.length = 0;
    const other = ROLES.payers[4];
    const paid = await wrapFetch(fetch, localWallet(other.privateKey), { maxAmount: null, restore: true, onStatus })(worker.url + p);
    assert.equal(paid.status, 200, await paid.clone().text());
    assert.equal(await paid.text(), page);
    assert.equal(paid.headers.get('x-payment-restored'), null);
    assert.deepEqual(statuses.slice(0, 2), ['sign-in', 'not-restored']);
    assert.ok(statuses.includes('settling'), statuses.join());
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1, 'one payment');
  });

  test('our wrapFetch with restore: a wallet that cannot sign messages, or a declined sign-in, pays as usual; without restore no sign-in is asked', async () => {
    const payer = ROLES.payers[3];
    const p = '/paid/one.html';
    const key = localWallet(payer.privateKey);
    let asked = 0;
    // An EIP-1193 wallet whose reader declines the sign-in (4001) but approves the payment.
    const declining = {
      request: async ({ method, params }) => {
        if (method === 'eth_requestAccounts') return [key.address];
        if (method === 'eth_chainId') return '0x7a69';
        if (method === 'personal_sign') { asked += 1; throw Object.assign(new Error('User rejected'), { code: 4001 }); }
        if (method === 'eth_signTypedData_v4') return key.signTypedData(params[1]);
        throw new Error(`unexpected ${method}`);
      },
    };
    const statuses = [];
    let transfers = await transferCount(chain.rpcUrl);
    const res = await wrapFetch(fetch, declining, { maxAmount: null, restore: true, onStatus: (s) => statuses.push(s) })(worker.url + p);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(asked, 1);
    assert.deepEqual(statuses.slice(0, 2), ['sign-in', 'sign-in-failed']);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
    // Without `restore`, the same wallet is never asked to sign in.
    transfers += 1;
    const plain = await wrapFetch(fetch, declining, { maxAmount: null })(worker.url + p);
    assert.equal(plain.status, 200);
    assert.equal(asked, 1);
    assert.equal(await transferCount(chain.rpcUrl), transfers + 1);
    // A signer without signMessage: no sign-in, the payment goes on.
    const signer = { address: key.address, signTypedData: (t) => key.signTypedData(t) };
    const bySigner = await wrapFetch(fetch, signer, { maxAmount: null, restore: true })(worker.url + p);
    assert.equal(bySigner.status, 200);
  });

  test('our client signs in only to the origin the request went to: a challenge naming another site is not signed', async () => {
    // A site that relays another site's 402 (its sign-in challenge names the other site).
    const relayed = async (input) => {
      const res = await fetch(worker.url + PAGE);
      const body = await res.text();
      const headers = new Headers(res.headers);
      return new Response(body, { status: res.status, headers });
    };
    const payer = ROLES.payers[0];
    const statuses = [];
    const errors = [];
    const guarded = wrapFetch(relayed, localWallet(payer.privateKey), {
      maxAmount: '1', restore: true, onStatus: (s, e) => { statuses.push(s); if (s === 'sign-in-failed') errors.push(e); },
    });
    // The page is at another origin than the challenge's (the wrapper answers for https://other.example).
    await assert.rejects(guarded('https://other.example/paid/one.html'), (e) => e.code !== undefined);
    assert.deepEqual(statuses.slice(0, 2), ['sign-in', 'sign-in-failed']);
    assert.equal(errors[0].code, 'invalid_siwx_domain_mismatch');
  });
});

describe('signed offers and receipts (offer-receipt)', () => {
  test('every 402 carries one offer per accepts entry, signed by the receipt key, as the reference verifier reads it', async () => {
    const c = await challenge();
    const ext = c.extensions['offer-receipt'];
    assert.equal(ext.info.offers.length, c.accepts.length);
    const now = Math.floor(Date.now() / 1000);
    for (const [i, offer] of ext.info.offers.entries()) {
      assert.equal(offer.format, 'eip712');
      assert.equal(offer.acceptIndex, i);
      const { signer, payload } = await verifyOfferSignatureEIP712(offer);
      assert.equal(signer, RECEIPT_KEY.address);
      assert.equal(payload.resourceUrl, c.resource.url);
      assert.equal(findAcceptsObjectFromSignedOffer(offer, c.accepts), c.accepts[i]);
      // Valid for at least half of offerValiditySeconds, at most all of it.
      assert.ok(payload.validUntil - now >= 300 - 5 && payload.validUntil - now <= 600, String(payload.validUntil - now));
    }
    // Signed once per resource and epoch: the next 402 carries the same offers.
    assert.deepEqual((await challenge()).extensions['offer-receipt'], ext);
    // A browser's HTML paywall page names the same offers in its header.
    const page = await fetch(worker.url + PAGE, { headers: { accept: 'text/html', 'user-agent': 'Mozilla/5.0' } });
    await page.text();
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.deepEqual(decodeHeader(page.headers.get('payment-required')).extensions['offer-receipt'], ext);
  });

  test('a paid answer carries a receipt for this payer and page, signed by the same key', async () => {
    const payer = ROLES.payers[1];
    const acc = (await challenge('/paid/three.html')).accepts.find((a) => a.scheme === 'exact');
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(worker.url + '/paid/three.html', { headers: { 'PAYMENT-SIGNATURE': await paymentHeader(acc, payer) } });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
    const settled = decodeHeader(res.headers.get('payment-response'));
    const { receipt } = settled.extensions['offer-receipt'].info;
    const { signer, payload } = await verifyReceiptSignatureEIP712(receipt);
    assert.equal(signer, RECEIPT_KEY.address);
    assert.equal(payload.payer, payer.address);
    assert.equal(payload.resourceUrl, `${worker.url}/paid/three.html`);
    assert.equal(payload.network, 'eip155:31337');
    assert.equal(payload.transaction, settled.transaction, 'includeTransaction: the settlement transaction');
    // serverTiming: the paid answer's phases, in order, whole milliseconds.
    const phases = [...res.headers.get('server-timing').matchAll(/([a-z]+);dur=(\d+)(?:, |$)/g)].map((m) => m[1]);
    assert.deepEqual(phases, ['guard', 'admit', 'content', 'settle'], res.headers.get('server-timing'));
    assert.ok(payload.issuedAt >= before - 1 && payload.issuedAt <= Math.floor(Date.now() / 1000) + 1);
    // Changed after signing, it no longer recovers the key.
    const forged = { ...receipt, payload: { ...receipt.payload, resourceUrl: `${worker.url}/paid/one.html` } };
    assert.notEqual((await verifyReceiptSignatureEIP712(forged)).signer, RECEIPT_KEY.address);
  });

  test('our clients check the receipt: its signer and what it says; a changed one names another signer, a malformed one is refused', async () => {
    const payer = ROLES.payers[2];
    const res = await wrapFetch(fetch, localWallet(payer.privateKey), { maxAmount: null })(`${worker.url}/paid/two.html`);
    assert.equal(res.status, 200, await res.clone().text());
    for (const verify of [verifyReceipt, verifyReceiptNode]) {
      const checked = await verify(res);
      assert.equal(checked.signer, RECEIPT_KEY.address);
      assert.equal(checked.payer, payer.address);
      assert.equal(checked.resourceUrl, `${worker.url}/paid/two.html`);
      assert.equal(checked.transaction, decodeHeader(res.headers.get('payment-response')).transaction);
    }
    const settled = decodeHeader(res.headers.get('payment-response'));
    const signed = settled.extensions['offer-receipt'].info.receipt;
    const changed = { ...signed, payload: { ...signed.payload, payer: ROLES.payers[0].address } };
    assert.notEqual((await verifyReceipt(changed)).signer, RECEIPT_KEY.address);
    assert.notEqual((await verifyReceiptNode({ ...settled, extensions: { 'offer-receipt': { info: { receipt: changed } } } })).signer, RECEIPT_KEY.address);
    await assert.rejects(verifyReceipt({ ...signed, signature: '0x1234' }), (e) => e.code === 'invalid_offer_receipt_signature');
    await assert.rejects(verifyReceiptNode({ ...signed, format: 'jws' }), (e) => e.code === 'unsupported_offer_receipt_format');
    await assert.rejects(verifyReceipt({ ...signed, payload: { ...signed.payload, version: 2 } }), (e) => e.code === 'invalid_signed_receipt');
    // No receipt at all: null (an unpaid answer, a settlement without the extension).
    assert.equal(await verifyReceipt(await fetch(worker.url + PAGE)), null);
    assert.equal(await verifyReceiptNode({ success: true, transaction: '0x', network: 'eip155:31337' }), null);
  });

  test('npm callers keep their receipts: a book in a file, each receipt checked, exported as JSON; a changed one is kept with its problem', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'x402-receipts-'));
    try {
      const file = path.join(dir, 'receipts.json');
      const payer = ROLES.payers[4];
      const book = receiptBook({ storage: file });
      const paying = wrapFetch(fetch, localWallet(payer.privateKey), { maxAmount: null, receipts: book });
      const pages = ['/paid/two.html?book=a', '/paid/three.html?book=b'];
      const settled = [];
      for (const p of pages) {
        const res = await paying(worker.url + p);
        assert.equal(res.status, 200, await res.clone().text());
        await res.text();
        settled.push(decodeHeader(res.headers.get('payment-response')));
      }
      // A free answer and an unpaid 402 add nothing.
      assert.equal((await paying(worker.url + '/')).status, 200);
      assert.equal(await book.add(await fetch(worker.url + PAGE)), null);
      const entries = book.list();
      assert.deepEqual(entries.map((e) => e.resource), pages.map((p) => worker.url + p));
      for (const [i, e] of entries.entries()) {
        assert.equal(e.signer, RECEIPT_KEY.address);
        assert.equal(e.payer, payer.address);
        assert.equal(e.network, 'eip155:31337');
        assert.equal(e.transaction, settled[i].transaction);
        assert.deepEqual(e.signed, settled[i].extensions['offer-receipt'].info.receipt);
        assert.equal(e.problem, undefined);
        assert.ok(Date.parse(e.time) <= Date.now());
      }
      // Kept in the file: another book (the Node entry's, which loads the checker lazily) reads them.
      const again = receiptBookNode({ storage: file });
      assert.deepEqual(again.list(), entries);
      assert.deepEqual(JSON.parse(again.export()), entries);
      assert.deepEqual(JSON.parse(JSON.stringify(again)), entries);
      // A receipt changed on the way (another page named) is kept, with its problem and no signer.
      const [first] = settled;
      const { receipt } = first.extensions['offer-receipt'].info;
      const forged = (r) => {
        const res = new Response('x', { headers: { 'PAYMENT-RESPONSE': btoa(JSON.stringify({ ...first, extensions: { 'offer-receipt': { info: { receipt: r } } } })) } });
        Object.defineProperty(res, 'url', { value: worker.url + pages[0] });
        return res;
      };
      const moved = await again.add(forged({ ...receipt, payload: { ...receipt.payload, resourceUrl: worker.url + '/paid/one.html?book=c' } }));
      assert.equal(moved.signer, null);
      assert.notEqual(moved.problem, undefined);
      const broken = await again.add(forged({ ...receipt, signature: '0x1234' }));
      assert.equal(broken.problem, 'invalid_offer_receipt_signature');
      const elsewhere = await again.add(forged(settled[1].extensions['offer-receipt'].info.receipt));
      assert.match(elsewhere.problem, /^receipt_for_another_resource/);
      assert.equal(receiptBook({ storage: file }).list().length, 5);
      // A file that is not a list is refused and left as it is.
      writeFileSync(file, JSON.stringify({ 'x402:receipts': '{"not":"a list"}' }));
      assert.throws(() => receiptBook({ storage: file }), (e) => e.code === 'invalid_config');
      assert.equal(JSON.parse(readFileSync(file, 'utf8'))['x402:receipts'], '{"not":"a list"}');
      assert.throws(() => wrapFetch(fetch, localWallet(payer.privateKey), { receipts: {} }), (e) => e.code === 'invalid_config');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the site's did:web document names the receipt key", async () => {
    const res = await fetch(worker.url + '/.well-known/did.json');
    assert.equal(res.status, 200);
    const doc = await res.json();
    const host = new URL(worker.url).host.replace(':', '%3A');
    assert.equal(doc.id, `did:web:${host}`);
    assert.deepEqual(doc.assertionMethod, [`did:web:${host}#x402-receipts`]);
    assert.equal(doc.verificationMethod[0].blockchainAccountId, `eip155:1:${RECEIPT_KEY.address}`);
  });
});

