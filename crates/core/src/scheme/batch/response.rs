//! What servers and facilitators answer in the `batch-settlement` scheme (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Verification" and
//! "Settlement response", "Cumulative amount mismatch"): the channel state a facilitator's
//! `/verify` reports, the `channelState` / `chargedAmount` of a success `PAYMENT-RESPONSE`, and the
//! `channelState` / `voucherState` a corrective 402 adds to its offer.

use super::fields::{b256_hex, lenient_u256, opt_u256, sig_hex};
use super::wire::json_of;
use super::SCHEME;
use crate::encoding::decimal_u256;
use crate::error::{Error, Reason, Result};
use crate::evm::network::Network;
use crate::wire::{v2::PaymentRequirements, JsonMap};
use alloc::{format, string::String};
use alloy_primitives::{Bytes, B256, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A channel's state: `{channelId, balance, totalClaimed, withdrawRequestedAt, refundNonce}`
/// (a facilitator's `/verify` `extra`, and `channelState` in settle results), plus
/// `chargedCumulativeAmount` when a resource server writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    /// The channel.
    #[serde(with = "b256_hex")]
    pub channel_id: B256,
    /// Deposits less withdrawals and refunds (not reduced by claims).
    #[serde(with = "decimal_u256")]
    pub balance: U256,
    /// What the receiver has claimed on chain.
    #[serde(with = "decimal_u256")]
    pub total_claimed: U256,
    /// When a timed withdrawal was requested (unix seconds; 0: none). A JSON number.
    pub withdraw_requested_at: u64,
    /// The next `refundWithSignature` nonce (a string on output; a number is read too).
    #[serde(with = "lenient_u256")]
    pub refund_nonce: U256,
    /// The server's charged total (resource-server responses only).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_u256")]
    pub charged_cumulative_amount: Option<U256>,
}

/// `voucherState`: the latest voucher the server holds, so a client that lost its state can
/// check the server's claim against its own signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherState {
    /// The voucher's ceiling.
    #[serde(with = "decimal_u256")]
    pub signed_max_claimable: U256,
    /// The payer authorizer's signature of it.
    #[serde(with = "sig_hex")]
    pub signature: Bytes,
}

/// The `extra` of a success `PAYMENT-RESPONSE` from a resource server: the channel state
/// (with `chargedCumulativeAmount`) and, for a paid request, `chargedAmount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessExtra {
    /// The channel after this request.
    pub channel_state: ChannelState,
    /// What this request cost (absent on refunds).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_u256")]
    pub charged_amount: Option<U256>,
}

impl ChannelState {
    /// Reads a facilitator's `/verify` `extra` (the fields at the top level).
    pub fn from_verify_extra(extra: &JsonMap) -> Result<Self> {
        Self::deserialize(&Value::Object(extra.clone())).map_err(|e| {
            Error::new(
                Reason::UnexpectedVerifyError,
                format!("facilitator channel state: {e}"),
            )
        })
    }

    /// The state from the contract's getters, as returned (decoded with
    /// `IX402BatchSettlement::{channelsCall, pendingWithdrawalsCall, refundNonceCall}`): what a
    /// server reads to rebuild a lost record or refresh a stale mirror itself.
    pub fn from_reads(
        channel_id: B256,
        channels: &super::types::IX402BatchSettlement::channelsReturn,
        pending: &super::types::IX402BatchSettlement::pendingWithdrawalsReturn,
        refund_nonce: U256,
    ) -> Self {
        Self {
            channel_id,
            balance: U256::from(channels.balance),
            total_claimed: U256::from(channels.totalClaimed),
            withdraw_requested_at: pending.initiatedAt.to::<u64>(),
            refund_nonce,
            charged_cumulative_amount: None,
        }
    }

    /// Reads `extra.channelState` of a settle result.
    pub fn from_settle_extra(extra: &JsonMap) -> Result<Self> {
        let state = extra.get("channelState").ok_or_else(|| {
            Error::new(
                Reason::UnexpectedSettleError,
                "settle result without extra.channelState",
            )
        })?;
        Self::deserialize(state).map_err(|e| {
            Error::new(
                Reason::UnexpectedSettleError,
                format!("settle channelState: {e}"),
            )
        })
    }

    /// As a JSON object.
    pub fn to_json(&self) -> Value {
        json_of(self)
    }
}

impl SuccessExtra {
    /// Parses a success response's `extra`.
    pub fn from_json(extra: &JsonMap) -> Result<Self> {
        Self::deserialize(&Value::Object(extra.clone())).map_err(|e| {
            Error::new(
                Reason::InvalidPayload,
                format!("batch-settlement response extra: {e}"),
            )
        })
    }

    /// As a JSON object.
    pub fn to_json(&self) -> JsonMap {
        match json_of(self) {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }
}

/// The corrective 402: the offers with the `batch-settlement` entry for `network` extended by
/// `channelState` (with `chargedCumulativeAmount`) and, when the server holds one, the latest
/// `voucherState`. Returns `false` (nothing changed) when no such entry exists.
pub fn add_corrective_state(
    accepts: &mut [PaymentRequirements],
    network: &Network,
    state: &ChannelState,
    voucher: Option<&VoucherState>,
) -> bool {
    let Some(entry) = accepts
        .iter_mut()
        .find(|r| r.scheme == SCHEME && &r.network == network)
    else {
        return false;
    };
    let extra = entry.extra.get_or_insert_with(JsonMap::new);
    extra.insert("channelState".into(), state.to_json());
    match voucher {
        Some(v) => extra.insert("voucherState".into(), json_of(v)),
        None => extra.remove("voucherState"),
    };
    true
}

/// Reads a corrective 402's state from an offer's `extra` (client side): `None` when the
/// entry carries no `channelState`; `voucherState` optional.
pub fn corrective_state(
    requirement: &PaymentRequirements,
) -> Result<Option<(ChannelState, Option<VoucherState>)>> {
    let bad = |e: serde_json::Error| {
        Error::new(Reason::MalformedChallenge, format!("corrective 402: {e}"))
    };
    let Some(extra) = requirement.extra.as_ref() else {
        return Ok(None);
    };
    let Some(state) = extra.get("channelState") else {
        return Ok(None);
    };
    let state = ChannelState::deserialize(state).map_err(bad)?;
    let voucher = match extra.get("voucherState") {
        Some(v) => Some(VoucherState::deserialize(v).map_err(bad)?),
        None => None,
    };
    Ok(Some((state, voucher)))
}

/// A settlement result of this scheme: a facilitator's `/settle` answer (deposit, claim,
/// settle, refund) and the resource server's `PAYMENT-RESPONSE`. Unlike the exact scheme's
/// receipt, `amount` may be `""` (a voucher-only request moves no tokens) and `extra` carries
/// the channel state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSettleResponse {
    /// Whether it succeeded.
    pub success: bool,
    /// Reason code on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Human message on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payer, as the reference writes it (lower case on voucher responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Transaction hash; `""` when none was sent.
    #[serde(default)]
    pub transaction: String,
    /// CAIP-2 network.
    pub network: String,
    /// Tokens moved (a deposit, a refund, a settle), `""` for a voucher-only request.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "amount_text")]
    pub amount: Option<String>,
    /// The channel state (and, from a resource server, `chargedAmount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<SuccessExtra>,
    /// Extension data a resource server adds (its signed receipt: `offer-receipt`). Written,
    /// never read here: a client takes the receipt from the header itself (`verifyReceipt`),
    /// and the serde-free channel reader stays equal to this one.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<crate::wire::fields::JsonMap>,
}

impl BatchSettleResponse {
    /// The resource server's answer to a voucher-only request (no transaction): `payer` in
    /// lower case, `transaction` and `amount` empty, as the reference server writes it.
    pub fn voucher_success(
        network: &Network,
        payer: alloy_primitives::Address,
        extra: SuccessExtra,
    ) -> Self {
        let mut hex = String::from("0x");
        crate::encoding::hex::push_hex(&mut hex, payer.as_slice());
        Self {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(hex),
            transaction: String::new(),
            network: network.as_str().into(),
            amount: Some(String::new()),
            extra: Some(extra),
            extensions: None,
        }
    }

    /// A facilitator's deposit (or refund) result with the resource server's charge merged
    /// into it: `channelState.chargedCumulativeAmount`, and `chargedAmount` for a paid request.
    #[must_use]
    pub fn with_charge(mut self, charged_cumulative: U256, charged_amount: Option<U256>) -> Self {
        if let Some(extra) = self.extra.as_mut() {
            extra.channel_state.charged_cumulative_amount = Some(charged_cumulative);
            extra.charged_amount = charged_amount;
        }
        self
    }

    /// `amount` as a number, when it is one.
    pub fn amount_value(&self) -> Option<U256> {
        self.amount
            .as_deref()
            .and_then(|a| decimal_u256::parse(a).ok())
    }
}

/// `amount`: `""` or a strict decimal string.
mod amount_text {
    use super::*;
    use serde::{de, Deserializer, Serializer};
    type R<T, E> = core::result::Result<T, E>;

    pub(super) fn serialize<S: Serializer>(v: &Option<String>, s: S) -> R<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Option<String>, D::Error> {
        let s = String::deserialize(d)?;
        if !s.is_empty() {
            decimal_u256::parse(&s).map_err(|e| de::Error::custom(format!("amount: {e}")))?;
        }
        Ok(Some(s))
    }
}
