//! The paying side of `batch-settlement` (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Client behavior"): the
//! channel config for an offer, the deposit size, the messages a wallet and a voucher key sign,
//! the payloads built from their signatures, and the checks on the server's answers before the
//! next voucher is signed. Signing, the clock and randomness belong to the caller.

use super::digest::{channel_id, erc3009_deposit_nonce};
use super::response::{ChannelState, SuccessExtra, VoucherState};
use super::types::{ReceiveWithAuthorization, ERC3009_DEPOSIT_COLLECTOR};
use super::wire::{
    BatchPayload, BatchRequirement, ChannelConfigJson, Deposit, DepositAuthorization,
    DepositPayload, Erc3009Authorization, RefundPayload, VoucherJson, VoucherPayload,
};
use crate::encoding::decimal_u256;
use crate::encoding::text::cat;
use crate::error::{Error, Reason, Result};
use alloc::boxed::Box;
use alloy_primitives::{Address, Bytes, B256, U256};

/// The reference client's deposit multiplier when the offer announces no `minDeposit`.
pub const DEFAULT_DEPOSIT_MULTIPLIER: u64 = 5;

/// The channel for an offer: `receiver = payTo`, `token = asset`, the offer's receiver
/// authorizer and withdrawal delay; `payer_authorizer` is the voucher key's address (the payer
/// itself, or zero for a smart-wallet payer); `salt` distinguishes channels (the reference
/// client uses zero).
pub fn channel_config(
    req: &BatchRequirement,
    payer: Address,
    payer_authorizer: Address,
    salt: B256,
) -> ChannelConfigJson {
    ChannelConfigJson {
        payer,
        payer_authorizer,
        receiver: req.pay_to,
        receiver_authorizer: req.extra.receiver_authorizer,
        token: req.asset,
        withdraw_delay: req.extra.withdraw_delay,
        salt,
    }
}

/// How much to deposit when `needed` more is required (the next ceiling minus the balance):
/// at least `needed`, and at least the offer's `minDeposit` when it is a usable amount (≥ the
/// price), else `multiplier × price`, as the reference client sizes it.
pub fn deposit_amount(req: &BatchRequirement, needed: U256, multiplier: u64) -> U256 {
    let target = req
        .extra
        .min_deposit
        .filter(|m| !m.is_zero() && *m >= req.amount)
        .unwrap_or_else(|| req.amount.saturating_mul(U256::from(multiplier)));
    needed.max(target)
}

/// The deposit's `ReceiveWithAuthorization` (to be signed by the payer in the token's domain,
/// see [`super::digest::receive_authorization_typed_data`]): valid from 0 until `now +
/// maxTimeoutSeconds`, nonce bound to the channel by the random `salt`.
pub fn receive_authorization(
    req: &BatchRequirement,
    config: &ChannelConfigJson,
    amount: U256,
    now: u64,
    salt: B256,
) -> ReceiveWithAuthorization {
    ReceiveWithAuthorization {
        from: config.payer,
        to: ERC3009_DEPOSIT_COLLECTOR,
        value: amount,
        validAfter: U256::ZERO,
        validBefore: U256::from(now.saturating_add(req.max_timeout_seconds)),
        nonce: erc3009_deposit_nonce(channel_id(&config.to_sol(), req.chain_id), salt.into()),
    }
}

/// A voucher with its signature (the voucher key signed
/// [`super::digest::voucher_typed_data`] for this ceiling).
pub fn voucher(
    req: &BatchRequirement,
    config: &ChannelConfigJson,
    max: u128,
    signature: Bytes,
) -> VoucherJson {
    VoucherJson {
        channel_id: channel_id(&config.to_sol(), req.chain_id),
        max_claimable_amount: max,
        signature,
    }
}

/// A `deposit` payload: the signed authorization (from [`receive_authorization`]) and voucher.
pub fn deposit_payload(
    config: &ChannelConfigJson,
    voucher: VoucherJson,
    auth: &ReceiveWithAuthorization,
    salt: B256,
    signature: Bytes,
) -> BatchPayload {
    BatchPayload::Deposit(Box::new(DepositPayload {
        channel_config: config.clone(),
        voucher,
        deposit: Deposit {
            amount: auth.value,
            authorization: DepositAuthorization {
                erc3009_authorization: Some(Erc3009Authorization {
                    valid_after: auth.validAfter,
                    valid_before: auth.validBefore,
                    salt,
                    signature,
                }),
                permit2_authorization: None,
            },
        },
    }))
}

/// A `voucher` payload.
pub fn voucher_payload(config: &ChannelConfigJson, voucher: VoucherJson) -> BatchPayload {
    BatchPayload::Voucher(VoucherPayload {
        channel_config: config.clone(),
        voucher,
    })
}

/// A `refund` payload: the voucher signs exactly the charged total; `amount` absent refunds
/// everything not charged.
pub fn refund_payload(
    config: &ChannelConfigJson,
    voucher: VoucherJson,
    amount: Option<U256>,
) -> BatchPayload {
    BatchPayload::Refund(Box::new(RefundPayload {
        channel_config: config.clone(),
        voucher,
        amount,
        refund_nonce: None,
        claims: None,
        refund_authorizer_signature: None,
        claim_authorizer_signature: None,
    }))
}

/// The checks on a success answer before the next voucher (the specification's four): the
/// answer is for this channel, `chargedAmount ≤ price`, and the server's charged total is the
/// previous one plus `chargedAmount`. Returns the new charged total. A failure means the server
/// is not keeping the agreed count: sign nothing more on this channel.
pub fn check_success(
    channel: B256,
    previous: U256,
    price: U256,
    extra: &SuccessExtra,
) -> Result<U256> {
    let bad = |m: &str| Error::new(Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch, m);
    if extra.channel_state.channel_id != channel {
        return Err(bad("the answer is for another channel"));
    }
    let charged = extra.charged_amount.unwrap_or_default();
    if charged > price {
        return Err(bad("chargedAmount is above the price"));
    }
    let total = previous.saturating_add(charged);
    match extra.channel_state.charged_cumulative_amount {
        // Concatenated, not `format!`: the browser's channel module links this.
        Some(c) if c != total => Err(Error::new(
            Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch,
            cat(&[
                "the server counts ",
                &decimal_u256::format(&c),
                ", the client ",
                &decimal_u256::format(&total),
            ]),
        )),
        _ => Ok(total),
    }
}

/// A corrective 402's state, checked before it is adopted: the server's charged total is
/// within what the client signed (`voucherState`, whose signature `signer_of` must attribute
/// to the client's own voucher key) and not below what the chain shows claimed. Returns the
/// charged total to build the next voucher on. Without `voucherState`, the chain's claimed
/// total is the base (the server lost its own record).
pub fn adopt_corrective(
    state: &ChannelState,
    voucher: Option<&VoucherState>,
    chain_claimed: U256,
    own_key_signed: impl Fn(&VoucherState) -> bool,
) -> Result<U256> {
    let bad = |m: &str| Error::new(Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch, m);
    let Some(v) = voucher else {
        return Ok(chain_claimed);
    };
    let charged = state
        .charged_cumulative_amount
        .ok_or_else(|| bad("no chargedCumulativeAmount"))?;
    if charged > v.signed_max_claimable {
        return Err(bad("the server claims more than the client signed"));
    }
    if charged < chain_claimed {
        return Err(bad(
            "the server's count is below what the chain shows claimed",
        ));
    }
    if !own_key_signed(v) {
        return Err(bad(
            "voucherState is not signed by this client's voucher key",
        ));
    }
    Ok(charged)
}
