//! Verification of `batch-settlement` payments (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Verification"), each rule
//! with its reason code (prefix `invalid_batch_settlement_evm_` omitted below):
//!
//! | rule | code |
//! | --- | --- |
//! | the config hashes to `voucher.channelId` | `channel_id_mismatch` |
//! | `receiver == payTo` | `receiver_mismatch` |
//! | `receiverAuthorizer == extra.receiverAuthorizer` (non-zero) | `receiver_authorizer_mismatch` |
//! | `token == asset` | `token_mismatch` |
//! | `withdrawDelay == extra.withdrawDelay` | `withdraw_delay_mismatch` |
//! | `900 ≤ withdrawDelay ≤ 2592000` | `withdraw_delay_out_of_range` |
//! | the voucher recovers to `payerAuthorizer` (65 bytes, low `s`, `v` 27 or 28) | `voucher_signature` |
//! | `maxClaimableAmount == charged + price` (refund: `== charged`) | `cumulative_amount_mismatch` |
//! | the channel has a balance (voucher, refund) | `channel_not_found` |
//! | `maxClaimableAmount ≤ balance` (deposit: `+ amount`) | `cumulative_exceeds_balance` |
//! | `maxClaimableAmount > totalClaimed` (refund: `≥`) | `cumulative_below_claimed` |
//! | the payer's token balance covers the deposit | `insufficient_balance` |
//! | deposit: the offer's method has its authorization | `erc3009_authorization_required`, `permit2_authorization_required` |
//! | deposit: `validBefore ≥ now + 6`, `validAfter ≤ now` | `payload_authorization_valid_before`, `…_valid_after` |
//! | deposit: `ReceiveWithAuthorization` recovers to the payer | `receive_authorization_signature` |
//! | Permit2 deposit: from, spender, token, amount, witness, deadline, signature | `permit2_invalid_signature`, `permit2_invalid_spender`, `token_mismatch`, `permit2_amount_mismatch`, `channel_id_mismatch`, `permit2_deadline_expired` |
//! | refund: `amount > 0`; something left to refund | `refund_amount_invalid`, `refund_no_balance` |
//!
//! With `payerAuthorizer = 0` (or a signature that is not 65 bytes from a smart-wallet payer)
//! a signature can only be judged on chain (ERC-1271): the verdict says so
//! ([`SignatureCheck::NeedsChain`]) with the digest and signer to ask about.

use super::digest::{channel_id, erc3009_deposit_nonce, voucher_digest};
use super::types::{
    DepositWitness, PermitWitnessTransferFrom, ReceiveWithAuthorization, TokenPermissions,
    ERC3009_DEPOSIT_COLLECTOR, PERMIT2, PERMIT2_DEPOSIT_COLLECTOR,
};
use super::wire::{
    check_withdraw_delay, AssetTransferMethod, BatchRequirement, ChannelConfigJson, DepositPayload,
    RefundPayload, VoucherJson,
};
use crate::error::{Error, Reason, Result};
use crate::evm::eip712::{token_domain, Eip712Domain};
use crate::evm::signature::Signature;
use crate::scheme::exact::verify::SETTLEMENT_MARGIN_SECONDS;
use alloc::{borrow::Cow, format};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolStruct;

/// The outcome of a signature check that passed off chain, or could not be decided there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum SignatureCheck {
    /// An ECDSA signature recovered to the expected signer.
    Valid,
    /// Only the chain can tell: ask `signer`'s ERC-1271 `isValidSignature(digest, signature)`
    /// (or `SignatureChecker`) and refuse with `reason` if it says no.
    NeedsChain {
        /// The contract account whose signature it must be.
        signer: Address,
        /// The EIP-712 digest signed.
        digest: B256,
        /// The signature as sent.
        signature: Bytes,
        /// The code to refuse with.
        reason: Reason,
    },
}

fn fail(reason: Reason, message: impl Into<alloc::string::String>) -> Error {
    Error::new(reason, message)
}

/// Rules 1–5 and the delay range: the config is the channel `voucher.channelId` names and its
/// terms are the offer's, in the reference facilitator's order.
pub fn check_config(
    req: &BatchRequirement,
    config: &ChannelConfigJson,
    claimed_id: B256,
) -> Result<()> {
    if channel_id(&config.to_sol(), req.chain_id) != claimed_id {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmChannelIdMismatch,
            "channelConfig does not hash to voucher.channelId",
        ));
    }
    if config.receiver != req.pay_to {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmReceiverMismatch,
            "channelConfig.receiver is not payTo",
        ));
    }
    if config.receiver_authorizer != req.extra.receiver_authorizer {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmReceiverAuthorizerMismatch,
            "channelConfig.receiverAuthorizer is not extra.receiverAuthorizer",
        ));
    }
    if config.token != req.asset {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmTokenMismatch,
            "channelConfig.token is not the asset",
        ));
    }
    if config.withdraw_delay != req.extra.withdraw_delay {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmWithdrawDelayMismatch,
            format!(
                "channelConfig.withdrawDelay {} is not extra.withdrawDelay {}",
                config.withdraw_delay, req.extra.withdraw_delay
            ),
        ));
    }
    check_withdraw_delay(config.withdraw_delay)
}

/// Rule 6: the voucher is signed by `payerAuthorizer` (65-byte ECDSA, low `s`, `v` ∈ {27,
/// 28}, as the contract's `ecrecover` needs). With `payerAuthorizer = 0` the payer signs: an ECDSA signature recovering to it
/// passes; anything else needs the chain (ERC-1271).
pub fn check_voucher_signature(
    config: &ChannelConfigJson,
    voucher: &VoucherJson,
    chain_id: u64,
) -> Result<SignatureCheck> {
    let digest = voucher_digest(voucher.channel_id, voucher.max_claimable_amount, chain_id);
    let reason = Reason::InvalidBatchSettlementEvmVoucherSignature;
    if config.payer_authorizer == Address::ZERO {
        return Ok(ecdsa_or_chain(
            config.payer,
            &digest,
            &voucher.signature,
            reason,
        ));
    }
    let signer = recover(&voucher.signature, &digest, reason)?;
    if signer != config.payer_authorizer {
        return Err(fail(
            reason,
            "the voucher is not signed by channelConfig.payerAuthorizer",
        ));
    }
    Ok(SignatureCheck::Valid)
}

/// Recovers a 65-byte `r ‖ s ‖ v` signature with low `s` and `v` ∈ {27, 28}. The contracts
/// pass signature bytes unchanged to `ecrecover` (OpenZeppelin `ECDSA`, USDC's `ECRecover`),
/// which yields no signer for `v` ∈ {0, 1}: such a voucher would pass an off-chain check that
/// normalises `v` and then fail its claim, so it is refused here.
fn recover(signature: &[u8], digest: &B256, reason: Reason) -> Result<Address> {
    if !matches!(signature.get(64), Some(27 | 28)) || signature.len() != 65 {
        return Err(fail(
            reason,
            "an ECDSA signature here is 65 bytes with v 27 or 28",
        ));
    }
    Signature::from_bytes(signature)
        .and_then(|s| s.recover(digest))
        .map_err(|e| fail(reason, e.message()))
}

/// A signature by `signer`, who may be a contract: ECDSA when it recovers to `signer`, else a
/// question for the chain.
fn ecdsa_or_chain(
    signer: Address,
    digest: &B256,
    signature: &Bytes,
    reason: Reason,
) -> SignatureCheck {
    if recover(signature, digest, reason).is_ok_and(|a| a == signer) {
        return SignatureCheck::Valid;
    }
    SignatureCheck::NeedsChain {
        signer,
        digest: *digest,
        signature: signature.clone(),
        reason,
    }
}

/// The server's expected-cumulative rule: a paid voucher signs exactly the charged total plus
/// this request's price, a refund's voucher exactly the charged total
/// (`cumulative_amount_mismatch`: answer with a corrective 402).
pub fn check_expected_cumulative(
    max: u128,
    charged: U256,
    price: U256,
    refund: bool,
) -> Result<()> {
    let expected = if refund {
        Some(charged)
    } else {
        charged.checked_add(price)
    };
    if expected == Some(U256::from(max)) {
        return Ok(());
    }
    Err(fail(
        Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch,
        format!("voucher signs {max}, the server expects charged {charged} + price"),
    ))
}

/// What a payload asks of the channel's on-chain state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A deposit of this amount, then the voucher.
    Deposit(U256),
    /// A paid voucher.
    Voucher,
    /// A refund's zero-charge voucher.
    Refund,
}

/// Rules 7, 9, 10 against the channel's on-chain `balance` and `totalClaimed`.
pub fn check_cumulative(kind: Use, max: u128, balance: U256, total_claimed: U256) -> Result<()> {
    let max = U256::from(max);
    let ceiling = match kind {
        Use::Deposit(amount) => balance.saturating_add(amount),
        Use::Voucher | Use::Refund if balance.is_zero() => {
            return Err(fail(
                Reason::InvalidBatchSettlementEvmChannelNotFound,
                "the channel has no balance",
            ))
        }
        Use::Voucher | Use::Refund => balance,
    };
    if max > ceiling {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmCumulativeExceedsBalance,
            format!("voucher ceiling {max} is above the channel balance {ceiling}"),
        ));
    }
    let below = if kind == Use::Refund {
        max < total_claimed
    } else {
        max <= total_claimed
    };
    if below {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmCumulativeBelowClaimed,
            format!("voucher ceiling {max} is not above the claimed {total_claimed}"),
        ));
    }
    Ok(())
}

/// Rule 8: the payer's token balance covers the deposit.
pub fn check_payer_balance(token_balance: U256, deposit: U256) -> Result<()> {
    if token_balance < deposit {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmInsufficientBalance,
            format!("payer holds {token_balance}, deposit is {deposit}"),
        ));
    }
    Ok(())
}

/// The deposit's own rules at `now` (seconds): a positive amount, the authorization the offer's
/// method asks for, its time window and its signature by the payer (EIP-3009
/// `ReceiveWithAuthorization` to the ERC-3009 collector, nonce bound to the channel; or Permit2
/// with the channel as witness). Config and voucher are checked by [`check_config`] and
/// [`check_voucher_signature`].
pub fn check_deposit(
    req: &BatchRequirement,
    p: &DepositPayload,
    now: u64,
) -> Result<SignatureCheck> {
    let payer = p.channel_config.payer;
    let amount = p.deposit.amount;
    if amount.is_zero() || amount > U256::from(u128::MAX) {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmDepositPayload,
            "deposit.amount must be in 1..2^128",
        ));
    }
    let auth = &p.deposit.authorization;
    let soon = U256::from(now.saturating_add(SETTLEMENT_MARGIN_SECONDS));
    match (
        req.extra.method(),
        &auth.erc3009_authorization,
        &auth.permit2_authorization,
    ) {
        (AssetTransferMethod::Eip3009, Some(a), _) => {
            if a.valid_before < soon {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmPayloadAuthorizationValidBefore,
                    "validBefore is past or within 6 s",
                ));
            }
            if a.valid_after > U256::from(now) {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmPayloadAuthorizationValidAfter,
                    "validAfter is in the future",
                ));
            }
            let message = ReceiveWithAuthorization {
                from: payer,
                to: ERC3009_DEPOSIT_COLLECTOR,
                value: amount,
                validAfter: a.valid_after,
                validBefore: a.valid_before,
                nonce: erc3009_deposit_nonce(p.voucher.channel_id, a.salt.into()),
            };
            let domain = token_domain(&req.extra.name, &req.extra.version, req.chain_id, req.asset);
            let digest = message.eip712_signing_hash(&domain);
            let reason = Reason::InvalidBatchSettlementEvmReceiveAuthorizationSignature;
            Ok(ecdsa_or_chain(payer, &digest, &a.signature, reason))
        }
        (AssetTransferMethod::Eip3009, None, _) => Err(fail(
            Reason::InvalidBatchSettlementEvmErc3009AuthorizationRequired,
            "the offer takes EIP-3009 deposits",
        )),
        (AssetTransferMethod::Permit2, _, Some(a)) => {
            let bad_sig = Reason::InvalidBatchSettlementEvmPermit2InvalidSignature;
            if a.from != payer {
                return Err(fail(bad_sig, "permit2Authorization.from is not the payer"));
            }
            if a.spender != PERMIT2_DEPOSIT_COLLECTOR {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmPermit2InvalidSpender,
                    "the spender is not the Permit2 deposit collector",
                ));
            }
            if a.permitted.token != req.asset {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmTokenMismatch,
                    "permitted.token is not the asset",
                ));
            }
            if a.permitted.amount != amount {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmPermit2AmountMismatch,
                    "permitted.amount is not deposit.amount",
                ));
            }
            if a.witness.channel_id != p.voucher.channel_id {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmChannelIdMismatch,
                    "witness.channelId is not voucher.channelId",
                ));
            }
            if a.deadline < soon {
                return Err(fail(
                    Reason::InvalidBatchSettlementEvmPermit2DeadlineExpired,
                    "the Permit2 deadline is past or within 6 s",
                ));
            }
            let message = PermitWitnessTransferFrom {
                permitted: TokenPermissions {
                    token: a.permitted.token,
                    amount: a.permitted.amount,
                },
                spender: a.spender,
                nonce: a.nonce,
                deadline: a.deadline,
                witness: DepositWitness {
                    channelId: a.witness.channel_id,
                },
            };
            let digest = message.eip712_signing_hash(&permit2_domain(req.chain_id));
            Ok(ecdsa_or_chain(payer, &digest, &a.signature, bad_sig))
        }
        (AssetTransferMethod::Permit2, _, None) => Err(fail(
            Reason::InvalidBatchSettlementEvmPermit2AuthorizationRequired,
            "the offer takes Permit2 deposits",
        )),
    }
}

/// `{name: "Permit2", chainId, verifyingContract: Permit2}` (no version).
pub fn permit2_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed("Permit2")),
        None,
        Some(U256::from(chain_id)),
        Some(PERMIT2),
        None,
    )
}

/// The offer's `minDeposit`, when the server enforces it (the reference server does only when
/// configured to): `deposit_below_min_deposit`.
pub fn check_min_deposit(req: &BatchRequirement, deposit: U256) -> Result<()> {
    match req.extra.min_deposit {
        Some(min) if deposit < min => Err(fail(
            Reason::InvalidBatchSettlementEvmDepositBelowMinDeposit,
            format!("deposit {deposit} is below minDeposit {min}"),
        )),
        _ => Ok(()),
    }
}

/// A client refund against the server's record: the requested amount (absent: everything not
/// charged) must be positive, and something must be left (`balance > charged`). Returns the
/// amount to request from the contract (which caps it at `balance − totalClaimed`).
pub fn check_refund(p: &RefundPayload, charged: U256, balance: U256) -> Result<U256> {
    let remainder = balance.saturating_sub(charged);
    if remainder.is_zero() {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmRefundNoBalance,
            "nothing left to refund",
        ));
    }
    match p.amount {
        Some(a) if a.is_zero() || a > U256::from(u128::MAX) => Err(fail(
            Reason::InvalidBatchSettlementEvmRefundAmountInvalid,
            "refund amount must be in 1..2^128",
        )),
        Some(a) => Ok(a),
        None => Ok(remainder),
    }
}

/// A client payload that passed every rule verifiable without chain state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The parsed payload (`deposit`, `voucher` or `refund`).
    pub payload: super::wire::BatchPayload,
    /// The parsed requirement it pays.
    pub requirement: BatchRequirement,
    /// `channelConfig.payer`.
    pub payer: Address,
    /// The channel.
    pub channel_id: B256,
    /// The voucher signature's outcome.
    pub voucher: SignatureCheck,
    /// The deposit authorization's outcome (deposits only).
    pub deposit: Option<SignatureCheck>,
}

/// Every stateless rule for a client payment against the requirement the server issued, at
/// `now`: `accepted` matches it (scheme, network, every other field, and `extra` a superset of
/// the issued one), the payload parses, rules 1–6, and the deposit's own rules. Chain-state
/// rules ([`check_cumulative`], [`check_payer_balance`]) and the server's expected cumulative
/// ([`check_expected_cumulative`]) come after, with the state they need.
pub fn verify_payload(
    payment: &crate::wire::v2::PaymentPayload,
    issued: &crate::wire::v2::PaymentRequirements,
    now: u64,
) -> Result<Checked> {
    use super::wire::BatchPayload;
    let accepted = &payment.accepted;
    if accepted.scheme != super::SCHEME || issued.scheme != super::SCHEME {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmScheme,
            "scheme is not batch-settlement",
        ));
    }
    if accepted.network != issued.network {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmNetworkMismatch,
            "accepted.network is not the offer's",
        ));
    }
    let extra_ok = match (&issued.extra, &accepted.extra) {
        (None, _) => true,
        (Some(want), Some(got)) => want.iter().all(|(k, v)| got.get(k) == Some(v)),
        (Some(want), None) => want.is_empty(),
    };
    if accepted.amount != issued.amount
        || accepted.asset != issued.asset
        || accepted.pay_to != issued.pay_to
        || accepted.max_timeout_seconds != issued.max_timeout_seconds
        || !extra_ok
    {
        return Err(fail(
            Reason::InvalidPaymentRequirements,
            "accepted is not the offer issued",
        ));
    }
    let requirement = BatchRequirement::from_v2(issued)?;
    let payload = BatchPayload::from_json(&payment.payload)?;
    let Some((config, voucher)) = payload.channel() else {
        return Err(fail(
            Reason::InvalidBatchSettlementEvmPayloadType,
            "claim and settle payloads come from servers, not clients",
        ));
    };
    check_config(&requirement, config, voucher.channel_id)?;
    let voucher_check = check_voucher_signature(config, voucher, requirement.chain_id)?;
    let deposit = match &payload {
        BatchPayload::Deposit(d) => Some(check_deposit(&requirement, d, now)?),
        _ => None,
    };
    Ok(Checked {
        payer: config.payer,
        channel_id: voucher.channel_id,
        voucher: voucher_check,
        deposit,
        payload,
        requirement,
    })
}
