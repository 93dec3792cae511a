// Vectors for the batch-settlement scheme computed by the reference SDK (@x402/evm 2.27.0) and
// viem, for crates/core/tests/batch.rs. Prints JSON on stdout; its output is committed as
// tests/vectors/batch.json (regenerate: node tests/js/batch-oracle.mjs > tests/vectors/batch.json).
// Digests of Refund, ClaimBatch and ReceiveWithAuthorization use the SDK's own type tables and
// domain helper (not exported by a public path: read from the package's chunk that defines them),
// hashed by viem. Payloads come from the SDK's client scheme (BatchSettlementEvmScheme), the 402
// `extra` from its server scheme (enhancePaymentRequirements). The SDK takes the deposit's
// authorization salt from crypto.getRandomValues and validBefore from Date.now(): both are fixed
// here (a counter-filled generator, a constant clock) so the output is reproducible. Calldata and
// return data come from the SDK's own contract ABI, encoded by viem.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { privateKeyToAccount } from "viem/accounts";
import {
  encodeAbiParameters, encodeFunctionData, encodeFunctionResult, hashDomain, hashTypedData, keccak256,
} from "viem";

// Reproducible runs: a fixed clock and a deterministic "random" source for the SDK's salts.
const FIXED_NOW_MS = 1_750_000_000_000;
Date.now = () => FIXED_NOW_MS;
let counter = 0;
Object.defineProperty(globalThis, "crypto", {
  value: { ...globalThis.crypto, getRandomValues: (a) => { for (let i = 0; i < a.length; i++) a[i] = (counter++ * 37 + 11) & 255; return a; } },
});
import {
  BatchSettlementEvmScheme as ClientScheme,
  InMemoryClientChannelStorage,
  computeChannelId,
  signVoucher,
} from "@x402/evm/batch-settlement/client";
import { BatchSettlementEvmScheme as ServerScheme } from "@x402/evm/batch-settlement/server";

const esm = join(dirname(fileURLToPath(import.meta.resolve("@x402/evm/batch-settlement/client"))), "..", "..");
const chunk = readdirSync(esm).find(
  (f) => f.endsWith(".mjs") && readFileSync(join(esm, f), "utf8").includes("var claimBatchTypes ="),
);
const K = await import(pathToFileURL(join(esm, chunk)).href);
const abiChunk = readdirSync(esm).find(
  (f) => f.endsWith(".mjs") && readFileSync(join(esm, f), "utf8").includes("var batchSettlementABI ="),
);
const { batchSettlementABI: abi } = await import(pathToFileURL(join(esm, abiChunk)).href);
const version = JSON.parse(readFileSync(join(esm, "..", "..", "package.json"), "utf8")).version;

const KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];
const acct = KEYS.map((k) => privateKeyToAccount(k));
const TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

const cases = [
  { chainId: 31337, network: "eip155:31337", payerAuthorizer: acct[0].address, salt: "0x" + "00".repeat(32), withdrawDelay: 900, token: TOKEN, tokenName: "USD Coin", tokenVersion: "2", voucherKey: 0 },
  { chainId: 31337, network: "eip155:31337", payerAuthorizer: acct[3].address, salt: "0x" + "ab".repeat(32), withdrawDelay: 2592000, token: TOKEN, tokenName: "USD Coin", tokenVersion: "2", voucherKey: 3 },
  { chainId: 8453, network: "eip155:8453", payerAuthorizer: "0x0000000000000000000000000000000000000000", salt: "0x" + "01".padStart(64, "0"), withdrawDelay: 3600, token: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", tokenName: "USD Coin", tokenVersion: "2", voucherKey: 0 },
];

const out = { source: `@x402/evm ${version} batch-settlement helpers and viem, by tests/js/batch-oracle.mjs`, cases: [] };
for (const c of cases) {
  const config = {
    payer: acct[0].address, payerAuthorizer: c.payerAuthorizer, receiver: acct[1].address,
    receiverAuthorizer: acct[2].address, token: c.token, withdrawDelay: c.withdrawDelay, salt: c.salt,
  };
  const domain = K.getBatchSettlementEip712Domain(c.chainId);
  const channelId = computeChannelId(config, c.network);
  const vouchers = [];
  for (const max of ["1", "1000", "340282366920938463463374607431768211455"]) {
    const v = await signVoucher(acct[c.voucherKey], channelId, max, c.network);
    const digest = hashTypedData({ domain, types: K.voucherTypes, primaryType: "Voucher", message: { channelId, maxClaimableAmount: BigInt(max) } });
    vouchers.push({ maxClaimableAmount: max, digest, signature: v.signature });
  }
  const refunds = [];
  for (const [nonce, amount] of [["0", "500"], ["7", "1"]]) {
    refunds.push({ nonce, amount, digest: hashTypedData({ domain, types: K.refundTypes, primaryType: "Refund", message: { channelId, nonce: BigInt(nonce), amount: BigInt(amount) } }) });
  }
  const entries = [{ channelId, maxClaimableAmount: "1000", totalClaimed: "1000" }, { channelId: keccak256("0x01"), maxClaimableAmount: "5", totalClaimed: "3" }];
  const claimBatches = [];
  for (const claims of [[], entries.slice(0, 1), entries]) {
    const message = { claims: claims.map((e) => ({ channelId: e.channelId, maxClaimableAmount: BigInt(e.maxClaimableAmount), totalClaimed: BigInt(e.totalClaimed) })) };
    const digest = hashTypedData({ domain, types: K.claimBatchTypes, primaryType: "ClaimBatch", message });
    claimBatches.push({ claims, digest, signatureByKey2: await acct[2].signTypedData({ domain, types: K.claimBatchTypes, primaryType: "ClaimBatch", message }) });
  }
  const authSalt = "0x" + "00".repeat(31) + "01";
  const nonce = (await import(pathToFileURL(join(esm, readdirSync(esm).find((f) => f.endsWith(".mjs") && readFileSync(join(esm, f), "utf8").includes("function buildErc3009DepositNonce")))).href)).buildErc3009DepositNonce(channelId, authSalt);
  const tokenDomain = { name: c.tokenName, version: c.tokenVersion, chainId: c.chainId, verifyingContract: c.token };
  const rwa = { from: acct[0].address, to: K.ERC3009_DEPOSIT_COLLECTOR_ADDRESS, value: 10000n, validAfter: 0n, validBefore: 2000000000n, nonce };
  out.cases.push({
    chainId: c.chainId, network: c.network, config, voucherKey: KEYS[c.voucherKey],
    domainSeparator: hashDomain({ domain, types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }] } }),
    channelId, vouchers, refunds, claimBatches,
    erc3009: {
      salt: authSalt, nonce, tokenName: c.tokenName, tokenVersion: c.tokenVersion,
      tokenDomainSeparator: hashDomain({ domain: tokenDomain, types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }] } }),
      value: "10000", validAfter: "0", validBefore: "2000000000",
      digest: hashTypedData({ domain: tokenDomain, types: K.receiveAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message: rwa }),
      signature: await acct[0].signTypedData({ domain: tokenDomain, types: K.receiveAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message: rwa }),
      collectorData: encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes" }], [0n, 2000000000n, 1n, "0x1234"]),
    },
  });
}

// The server's 402 entry (SDK server scheme, receiver-authorizer key #2) and the client's payloads.
const server = new ServerScheme(acct[1].address, { receiverAuthorizerSigner: acct[2], withdrawDelay: 900 });
const base = { scheme: "batch-settlement", network: "eip155:31337", amount: "1000", asset: TOKEN, payTo: acct[1].address, maxTimeoutSeconds: 300, extra: { name: "USD Coin", version: "2" } };
const requirements = await server.enhancePaymentRequirements(base, { x402Version: 2, scheme: "batch-settlement", network: "eip155:31337" }, []);
const storage = new InMemoryClientChannelStorage();
const client = new ClientScheme(acct[0], { storage, voucherSigner: acct[3] });
const deposit = await client.createPaymentPayload(2, requirements);
const config = client.buildChannelConfig(requirements);
const channelId = computeChannelId(config, "eip155:31337");
const voucher = await client.createVoucherPayload(2, channelId, "2000", "eip155:31337", config);
out.requirements = requirements;
// Calldata the facilitator sends, and return data it decodes (SDK ABI, viem encoding).
{
  const c = out.cases[0];
  const cfg = { ...c.config, withdrawDelay: c.config.withdrawDelay };
  const sig = c.vouchers[1].signature;
  const claims = [{ voucher: { channel: cfg, maxClaimableAmount: 1000n }, signature: sig, totalClaimed: 1000n }];
  const claim = encodeFunctionData({ abi, functionName: "claimWithSignature", args: [claims, c.claimBatches[1].signatureByKey2] });
  const refund = encodeFunctionData({ abi, functionName: "refundWithSignature", args: [cfg, 500n, 0n, c.claimBatches[1].signatureByKey2] });
  out.calldata = {
    config: c.config, voucherSignature: sig, authorizerSignature: c.claimBatches[1].signatureByKey2,
    deposit: encodeFunctionData({ abi, functionName: "deposit", args: [cfg, 10000n, K.ERC3009_DEPOSIT_COLLECTOR_ADDRESS, c.erc3009.collectorData] }),
    claimWithSignature: claim,
    refundWithSignature: refund,
    multicall: encodeFunctionData({ abi, functionName: "multicall", args: [[claim, refund]] }),
    settle: encodeFunctionData({ abi, functionName: "settle", args: [c.config.receiver, c.config.token] }),
    channels: encodeFunctionData({ abi, functionName: "channels", args: [c.channelId] }),
    channelsResult: encodeFunctionResult({ abi, functionName: "channels", result: [10000n, 1000n] }),
    pendingWithdrawalsResult: encodeFunctionResult({ abi, functionName: "pendingWithdrawals", result: [300n, 1750000000] }),
    refundNonceResult: encodeFunctionResult({ abi, functionName: "refundNonce", result: 3n }),
  };
}
out.payloads = { deposit: deposit.payload, voucher: voucher.payload };

// The SDK server's own answers, from its scheme hooks as x402ResourceServer calls them: a
// voucher (max 2000) verified by a facilitator whose /verify reports balance 10000, then served
// (the success `extra`); then the same voucher again (stale: the corrective 402 offer).
{
  const paid = { x402Version: 2, accepted: requirements, payload: voucher.payload };
  const hooks = server.schemeHooks;
  const before = await hooks.onBeforeVerify({ paymentPayload: paid, requirements });
  if (before) throw new Error(`onBeforeVerify: ${JSON.stringify(before)}`);
  const verifyExtra = { channelId, balance: "10000", totalClaimed: "0", withdrawRequestedAt: 0, refundNonce: "0" };
  const result = { isValid: true, payer: acct[0].address, extra: verifyExtra };
  const after = await hooks.onAfterVerify({ paymentPayload: paid, requirements, result });
  if (after) throw new Error(`onAfterVerify: ${JSON.stringify(after)}`);
  const settled = await hooks.onBeforeSettle({ paymentPayload: paid, requirements });
  const stale = { x402Version: 2, accepted: requirements, payload: voucher.payload };
  const refused = await hooks.onBeforeVerify({ paymentPayload: stale, requirements });
  const accepts = [structuredClone(requirements)];
  await server.enrichPaymentRequiredResponse({ error: refused.reason, paymentPayload: stale, requirements: accepts });
  out.server = { verifyExtra, voucherSuccess: settled.result, staleReason: refused.reason, correctiveAccept: accepts[0] };
}
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
