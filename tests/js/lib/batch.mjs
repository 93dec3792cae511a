// Hand-built batch-settlement client payloads (x402 specs/schemes/batch-settlement/
// scheme_batch_settlement_evm.md, "PaymentPayload"), signed by viem through chain.mjs: a channel
// config for an offered accepts entry, vouchers, and ERC-3009 deposits through the canonical
// collector — what a test needs to speak the scheme without the reference client, so it can send
// stale, forged or mismatched payloads on purpose.

import {
  BATCH_SETTLEMENT_ABI,
  BATCH_SETTLEMENT_ADDRESS,
  ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
  channelIdOf,
  depositNonce,
  publicClient,
  randomNonce,
  signReceiveAuthorization,
  signVoucher,
} from './chain.mjs';
import { encodeHeader } from './worker.mjs';

/** The reference client's default channel salt. */
export const ZERO_SALT = `0x${'00'.repeat(32)}`;

/** The chain id of a CAIP-2 `eip155:<id>` network. */
export const chainIdOf = (network) => Number(network.split(':')[1]);

/**
 * The ChannelConfig a client builds for `accepted` (a batch-settlement accepts entry):
 * receiver = payTo, token = asset, receiverAuthorizer and withdrawDelay from extra.
 */
export function channelConfigFor(accepted, { payer, payerAuthorizer = payer, salt = ZERO_SALT }) {
  return {
    payer,
    payerAuthorizer,
    receiver: accepted.payTo,
    receiverAuthorizer: accepted.extra.receiverAuthorizer,
    token: accepted.asset,
    withdrawDelay: accepted.extra.withdrawDelay,
    salt,
  };
}

/** A voucher `{channelId, maxClaimableAmount, signature}` signed with `privateKey`. */
export async function voucherOf({ privateKey, channelId, max, chainId = 31337 }) {
  const signature = await signVoucher({ privateKey, channelId, maxClaimableAmount: max, chainId });
  return { channelId, maxClaimableAmount: String(max), signature };
}

/** `{type: "voucher", channelConfig, voucher}`; the voucher signs `max` for `channelId` (default: the config's). */
export async function voucherPayload({ config, voucherKey, max, channelId = channelIdOf(config), chainId = 31337 }) {
  return { type: 'voucher', channelConfig: config, voucher: await voucherOf({ privateKey: voucherKey, channelId, max, chainId }) };
}

/**
 * `{type: "deposit", channelConfig, voucher, deposit: {amount, authorization: {erc3009Authorization}}}`:
 * the payer (`payerKey`) authorizes the ERC-3009 collector to receive `amount` (nonce =
 * keccak256(abi.encode(channelId, salt))), valid from 0 until now + `validFor` seconds (wall clock);
 * the voucher (`voucherKey`) signs `max`.
 */
export async function depositPayload({ config, payerKey, voucherKey, amount, max, validFor = 300, chainId = 31337, token, name = 'USD Coin', version = '2' }) {
  const channelId = channelIdOf(config, chainId);
  const salt = randomNonce();
  const validBefore = Math.floor(Date.now() / 1000) + validFor;
  const signature = await signReceiveAuthorization({
    privateKey: payerKey,
    from: config.payer,
    to: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
    value: amount,
    validAfter: 0,
    validBefore,
    nonce: depositNonce(channelId, salt),
    chainId,
    token: token ?? config.token,
    name,
    version,
  });
  return {
    type: 'deposit',
    channelConfig: config,
    voucher: await voucherOf({ privateKey: voucherKey, channelId, max, chainId }),
    deposit: {
      amount: String(amount),
      authorization: { erc3009Authorization: { validAfter: '0', validBefore: String(validBefore), salt, signature } },
    },
  };
}

/** The PAYMENT-SIGNATURE header value of a v2 payment of `payload` against `accepted`. */
export function batchHeader(accepted, payload) {
  return encodeHeader({ x402Version: 2, accepted, payload });
}

/** channels(channelId) on chain: { balance, totalClaimed } (bigint). */
export async function channelOnChain(rpcUrl, channelId) {
  const [balance, totalClaimed] = await publicClient(rpcUrl).readContract({
    address: BATCH_SETTLEMENT_ADDRESS,
    abi: BATCH_SETTLEMENT_ABI,
    functionName: 'channels',
    args: [channelId],
  });
  return { balance, totalClaimed };
}

/** receivers(receiver, token) on chain: { totalClaimed, totalSettled } (bigint). */
export async function receiverOnChain(rpcUrl, receiver, token) {
  const [totalClaimed, totalSettled] = await publicClient(rpcUrl).readContract({
    address: BATCH_SETTLEMENT_ADDRESS,
    abi: BATCH_SETTLEMENT_ABI,
    functionName: 'receivers',
    args: [receiver, token],
  });
  return { totalClaimed, totalSettled };
}
