//! `batch-settlement` messages (x402 `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`,
//! "PaymentRequirements", "Payload types", "Settlement response"): the offer's `extra`, the
//! client payloads (`deposit`, `voucher`, `refund`), the server-authored ones sent to a
//! facilitator (enriched `refund`, `claim`, `settle`), and the `channelState` / `voucherState`
//! objects of corrective 402s and success responses. Parsing is strict (checksummed or
//! one-case addresses, decimal amount strings, `withdrawDelay` a JSON number, no unknown
//! fields inside a payload) and every refusal carries the scheme's reason code; serialization
//! writes the fields in the reference SDK's order.

use super::fields::{addr, b256_hex, opt_sig, opt_u256, sig_hex, u128_dec, uint40};
use super::types::{self, ChannelConfig, ChannelVoucher, VoucherClaim};
use super::SCHEME;
use crate::encoding::decimal_u256;
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
use crate::evm::network::Network;
use crate::wire::{v2::PaymentRequirements, JsonMap};
use alloc::{boxed::Box, format, string::String, vec::Vec};
use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a deposit moves the token into the channel (`extra.assetTransferMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetTransferMethod {
    /// EIP-3009 `receiveWithAuthorization` through the ERC-3009 deposit collector (default).
    Eip3009,
    /// Permit2 `permitWitnessTransferFrom` through the Permit2 deposit collector.
    Permit2,
}

/// The scheme's `extra` in an `accepts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchExtra {
    /// The token's EIP-712 domain name.
    pub name: String,
    /// The token's EIP-712 domain version.
    pub version: String,
    /// `ChannelConfig.receiverAuthorizer`: signs claims and refunds; never zero.
    pub receiver_authorizer: Address,
    /// `ChannelConfig.withdrawDelay` in seconds (a JSON number).
    pub withdraw_delay: u64,
    /// `assetTransferMethod`, when the offer names one (absent means EIP-3009).
    pub asset_transfer_method: Option<AssetTransferMethod>,
    /// `minDeposit` (reference SDK extension): the smallest deposit the server wants.
    pub min_deposit: Option<U256>,
}

impl BatchExtra {
    /// Parses an offer's `extra` (other keys, such as a corrective 402's `channelState`, are
    /// ignored here).
    pub fn from_json(extra: Option<&JsonMap>) -> Result<Self> {
        let bad = |m: String| Error::new(Reason::InvalidPaymentRequirements, m);
        let get = |k: &str| extra.and_then(|e| e.get(k));
        let text = |k: &str| get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(name), Some(version)) = (text("name"), text("version")) else {
            return Err(Error::new(
                Reason::InvalidBatchSettlementEvmMissingEip712Domain,
                "extra.name and extra.version (the token's EIP-712 domain) are required",
            ));
        };
        let receiver_authorizer = text("receiverAuthorizer")
            .ok_or_else(|| bad("extra.receiverAuthorizer is required".into()))
            .and_then(|s| {
                parse_address(s).map_err(|e| bad(format!("extra.receiverAuthorizer: {e}")))
            })?;
        if receiver_authorizer == Address::ZERO {
            return Err(bad("extra.receiverAuthorizer is the zero address".into()));
        }
        let withdraw_delay = get("withdrawDelay")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("extra.withdrawDelay must be a JSON integer".into()))?;
        check_withdraw_delay(withdraw_delay)?;
        let asset_transfer_method = match get("assetTransferMethod") {
            None => None,
            Some(v) => Some(AssetTransferMethod::deserialize(v).map_err(|_| {
                bad(format!(
                    "extra.assetTransferMethod {v} is not eip3009 or permit2"
                ))
            })?),
        };
        let min_deposit = match get("minDeposit") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or("not a string")
                    .and_then(decimal_u256::parse)
                    .map_err(|e| bad(format!("extra.minDeposit: {e}")))?,
            ),
        };
        Ok(Self {
            name: name.into(),
            version: version.into(),
            receiver_authorizer,
            withdraw_delay,
            asset_transfer_method,
            min_deposit,
        })
    }

    /// The `extra` object, in the reference server's order.
    pub fn to_json(&self) -> JsonMap {
        let mut m = JsonMap::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("version".into(), self.version.clone().into());
        if let Some(method) = self.asset_transfer_method {
            m.insert("assetTransferMethod".into(), json_of(&method));
        }
        m.insert(
            "receiverAuthorizer".into(),
            checksummed(&self.receiver_authorizer).into(),
        );
        m.insert("withdrawDelay".into(), self.withdraw_delay.into());
        if let Some(min) = &self.min_deposit {
            m.insert("minDeposit".into(), decimal_u256::format(min).into());
        }
        m
    }

    /// The transfer method in force (EIP-3009 when the offer names none).
    pub fn method(&self) -> AssetTransferMethod {
        self.asset_transfer_method
            .unwrap_or(AssetTransferMethod::Eip3009)
    }
}

/// `withdrawDelay` within the contract's 900..=2592000 seconds
/// (`invalid_batch_settlement_evm_withdraw_delay_out_of_range`).
pub fn check_withdraw_delay(delay: u64) -> Result<()> {
    if (types::MIN_WITHDRAW_DELAY..=types::MAX_WITHDRAW_DELAY).contains(&delay) {
        Ok(())
    } else {
        Err(Error::new(
            Reason::InvalidBatchSettlementEvmWithdrawDelayOutOfRange,
            // Concatenated, not `format!`: the browser's channel module links this.
            crate::encoding::text::cat(&[
                "withdrawDelay ",
                &crate::encoding::text::dec(delay),
                " is outside 900..=2592000 seconds",
            ]),
        ))
    }
}

/// A `batch-settlement` requirement, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequirement {
    /// CAIP-2 network (`eip155:<id>`).
    pub network: Network,
    /// Its chain id.
    pub chain_id: u64,
    /// The price of one request (atomic units).
    pub amount: U256,
    /// The token (`ChannelConfig.token`).
    pub asset: Address,
    /// The receiver (`ChannelConfig.receiver`).
    pub pay_to: Address,
    /// Seconds a deposit authorization may stay valid.
    pub max_timeout_seconds: u64,
    /// The scheme's `extra`.
    pub extra: BatchExtra,
}

impl BatchRequirement {
    /// Parses a v2 requirement (the scheme is v2 only).
    pub fn from_v2(r: &PaymentRequirements) -> Result<Self> {
        if r.scheme != SCHEME {
            return Err(Error::new(
                Reason::InvalidBatchSettlementEvmScheme,
                format!("scheme {:?} is not {SCHEME}", r.scheme),
            ));
        }
        let chain_id = r.network.chain_id().ok_or_else(|| {
            Error::new(
                Reason::InvalidNetwork,
                format!("{} is not an EVM network", r.network.as_str()),
            )
        })?;
        let bad = |f: &str, e: String| {
            Error::new(Reason::InvalidPaymentRequirements, format!("{f}: {e}"))
        };
        Ok(Self {
            network: r.network.clone(),
            chain_id,
            amount: r.amount,
            asset: parse_address(&r.asset).map_err(|e| bad("asset", e))?,
            pay_to: parse_address(&r.pay_to).map_err(|e| bad("payTo", e))?,
            max_timeout_seconds: r.max_timeout_seconds,
            extra: BatchExtra::from_json(r.extra.as_ref())?,
        })
    }
}

/// `channelConfig` on the wire: addresses as text, `withdrawDelay` a JSON number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelConfigJson {
    /// Depositor; refunds and withdrawals go to it.
    #[serde(with = "addr")]
    pub payer: Address,
    /// Signs vouchers (zero: the payer, ECDSA or ERC-1271).
    #[serde(with = "addr")]
    pub payer_authorizer: Address,
    /// Receives claims (`payTo`).
    #[serde(with = "addr")]
    pub receiver: Address,
    /// Signs claim batches and refunds (`extra.receiverAuthorizer`).
    #[serde(with = "addr")]
    pub receiver_authorizer: Address,
    /// The token (`asset`).
    #[serde(with = "addr")]
    pub token: Address,
    /// Seconds between a withdrawal request and its execution (`uint40`).
    #[serde(deserialize_with = "uint40")]
    pub withdraw_delay: u64,
    /// Distinguishes channels with otherwise equal terms.
    #[serde(with = "b256_hex")]
    pub salt: B256,
}

impl ChannelConfigJson {
    /// The `sol!` struct (what the channel id hashes).
    pub fn to_sol(&self) -> ChannelConfig {
        ChannelConfig {
            payer: self.payer,
            payerAuthorizer: self.payer_authorizer,
            receiver: self.receiver,
            receiverAuthorizer: self.receiver_authorizer,
            token: self.token,
            withdrawDelay: alloy_primitives::aliases::U40::saturating_from(self.withdraw_delay),
            salt: self.salt,
        }
    }

    /// From the `sol!` struct.
    pub fn from_sol(c: &ChannelConfig) -> Self {
        Self {
            payer: c.payer,
            payer_authorizer: c.payerAuthorizer,
            receiver: c.receiver,
            receiver_authorizer: c.receiverAuthorizer,
            token: c.token,
            withdraw_delay: c.withdrawDelay.to::<u64>(),
            salt: c.salt,
        }
    }
}

/// `voucher`: `{channelId, maxClaimableAmount, signature}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoucherJson {
    /// The channel (must be the config's EIP-712 hash).
    #[serde(with = "b256_hex")]
    pub channel_id: B256,
    /// The cumulative ceiling (`uint128`, a decimal string).
    #[serde(with = "u128_dec")]
    pub max_claimable_amount: u128,
    /// 65-byte ECDSA by `payerAuthorizer` (longer only for a smart-wallet payer).
    #[serde(with = "sig_hex")]
    pub signature: Bytes,
}

/// `deposit.authorization.erc3009Authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Erc3009Authorization {
    /// `validAfter` (the reference client writes `"0"`).
    #[serde(with = "decimal_u256")]
    pub valid_after: U256,
    /// `validBefore` (now + `maxTimeoutSeconds`).
    #[serde(with = "decimal_u256")]
    pub valid_before: U256,
    /// 32 random bytes; the ERC-3009 nonce is `keccak256(abi.encode(channelId, salt))`.
    #[serde(with = "b256_hex")]
    pub salt: B256,
    /// The payer's `ReceiveWithAuthorization` signature.
    #[serde(with = "sig_hex")]
    pub signature: Bytes,
}

/// `permitted` of a Permit2 deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenPermissions {
    /// The token.
    #[serde(with = "addr")]
    pub token: Address,
    /// The amount.
    #[serde(with = "decimal_u256")]
    pub amount: U256,
}

/// `witness` of a Permit2 deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepositWitness {
    /// The channel the deposit goes to.
    #[serde(with = "b256_hex")]
    pub channel_id: B256,
}

/// `deposit.authorization.permit2Authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permit2Authorization {
    /// The payer.
    #[serde(with = "addr")]
    pub from: Address,
    /// Token and amount.
    pub permitted: TokenPermissions,
    /// The Permit2 deposit collector.
    #[serde(with = "addr")]
    pub spender: Address,
    /// Permit2 nonce.
    #[serde(with = "decimal_u256")]
    pub nonce: U256,
    /// Permit2 deadline.
    #[serde(with = "decimal_u256")]
    pub deadline: U256,
    /// The channel.
    pub witness: DepositWitness,
    /// The payer's signature.
    #[serde(with = "sig_hex")]
    pub signature: Bytes,
}

/// `deposit.authorization`: exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepositAuthorization {
    /// EIP-3009.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erc3009_authorization: Option<Erc3009Authorization>,
    /// Permit2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit2_authorization: Option<Permit2Authorization>,
}

/// `deposit`: `{amount, authorization}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deposit {
    /// Tokens moved into the channel.
    #[serde(with = "decimal_u256")]
    pub amount: U256,
    /// The payer's token authorization.
    pub authorization: DepositAuthorization,
}

/// A `deposit` payload: a channel's first payment or a top-up, with the first voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepositPayload {
    /// The channel's terms.
    pub channel_config: ChannelConfigJson,
    /// The voucher for this request.
    pub voucher: VoucherJson,
    /// The deposit.
    pub deposit: Deposit,
}

/// A `voucher` payload: a request paid from the channel's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoucherPayload {
    /// The channel's terms.
    pub channel_config: ChannelConfigJson,
    /// The voucher for this request.
    pub voucher: VoucherJson,
}

/// `{voucher:{channel, maxClaimableAmount}, signature, totalClaimed}`: one claim row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoucherClaimJson {
    /// The voucher with its full config.
    pub voucher: ClaimVoucherJson,
    /// The payer's voucher signature.
    #[serde(with = "sig_hex")]
    pub signature: Bytes,
    /// The new claimed total (at most the voucher's ceiling).
    #[serde(with = "u128_dec")]
    pub total_claimed: u128,
}

/// `{channel, maxClaimableAmount}` inside a claim row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimVoucherJson {
    /// The channel's terms.
    pub channel: ChannelConfigJson,
    /// The signed ceiling.
    #[serde(with = "u128_dec")]
    pub max_claimable_amount: u128,
}

impl VoucherClaimJson {
    /// The contract's `VoucherClaim`.
    pub fn to_sol(&self) -> VoucherClaim {
        VoucherClaim {
            voucher: ChannelVoucher {
                channel: self.voucher.channel.to_sol(),
                maxClaimableAmount: self.voucher.max_claimable_amount,
            },
            signature: self.signature.clone(),
            totalClaimed: self.total_claimed,
        }
    }
}

/// A `refund` payload: from the client (a zero-charge voucher, optional `amount`), or enriched
/// by the server for the facilitator (`amount`, `refundNonce`, `claims`, signatures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundPayload {
    /// The channel's terms.
    pub channel_config: ChannelConfigJson,
    /// A voucher at exactly the charged total.
    pub voucher: VoucherJson,
    /// Tokens to refund; absent: all that is not charged.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_u256")]
    pub amount: Option<U256>,
    /// Enriched: the channel's `refundNonce`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_u256")]
    pub refund_nonce: Option<U256>,
    /// Enriched: claims to execute before the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<VoucherClaimJson>>,
    /// Enriched: the receiver authorizer's `Refund` signature.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_sig")]
    pub refund_authorizer_signature: Option<Bytes>,
    /// Enriched: the receiver authorizer's `ClaimBatch` signature.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_sig")]
    pub claim_authorizer_signature: Option<Bytes>,
}

/// A `claim` payload (server → facilitator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimPayload {
    /// The rows.
    pub claims: Vec<VoucherClaimJson>,
    /// The receiver authorizer's `ClaimBatch` signature (absent: the facilitator signs).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_sig")]
    pub claim_authorizer_signature: Option<Bytes>,
}

/// A `settle` payload (server → facilitator): pay the receiver its claimed total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettlePayload {
    /// The receiver.
    #[serde(with = "addr")]
    pub receiver: Address,
    /// The token.
    #[serde(with = "addr")]
    pub token: Address,
}

/// Every `payload` of the scheme, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchPayload {
    /// `deposit`.
    Deposit(Box<DepositPayload>),
    /// `voucher`.
    Voucher(VoucherPayload),
    /// `refund` (client or enriched).
    Refund(Box<RefundPayload>),
    /// `claim`.
    Claim(ClaimPayload),
    /// `settle`.
    Settle(SettlePayload),
}

impl BatchPayload {
    /// Parses a payment's `payload`. Refusals: `…_payload_type` (no or unknown `type`),
    /// `…_channel_id_invalid` (a `voucher.channelId` that is not 32 bytes of hex), and
    /// `…_deposit_payload` / `…_voucher_payload` / `…_refund_payload` / `…_claim_payload` /
    /// `…_settle_payload` for any other defect of that type, including a deposit with both or
    /// neither authorization.
    pub fn from_json(payload: &Value) -> Result<Self> {
        let kind = payload.get("type").and_then(Value::as_str).ok_or_else(|| {
            Error::new(
                Reason::InvalidBatchSettlementEvmPayloadType,
                "payload.type is missing or not a string",
            )
        })?;
        if let Some(id) = payload.pointer("/voucher/channelId") {
            if !id.as_str().is_some_and(is_channel_id) {
                return Err(Error::new(
                    Reason::InvalidBatchSettlementEvmChannelIdInvalid,
                    format!("voucher.channelId {id} is not 0x and 64 hex digits"),
                ));
            }
        }
        let body = strip_type(payload);
        fn parse<'a, T: Deserialize<'a>>(v: &'a Value, reason: Reason, kind: &str) -> Result<T> {
            T::deserialize(v).map_err(|e| Error::new(reason, format!("{kind} payload: {e}")))
        }
        Ok(match kind {
            "deposit" => {
                let d: DepositPayload =
                    parse(&body, Reason::InvalidBatchSettlementEvmDepositPayload, kind)?;
                let a = &d.deposit.authorization;
                if a.erc3009_authorization.is_some() == a.permit2_authorization.is_some() {
                    return Err(Error::new(
                        Reason::InvalidBatchSettlementEvmDepositPayload,
                        "deposit.authorization must hold exactly one of erc3009Authorization and permit2Authorization",
                    ));
                }
                Self::Deposit(Box::new(d))
            }
            "voucher" => Self::Voucher(parse(
                &body,
                Reason::InvalidBatchSettlementEvmVoucherPayload,
                kind,
            )?),
            "refund" => Self::Refund(Box::new(parse(
                &body,
                Reason::InvalidBatchSettlementEvmRefundPayload,
                kind,
            )?)),
            "claim" => Self::Claim(parse(
                &body,
                Reason::InvalidBatchSettlementEvmClaimPayload,
                kind,
            )?),
            "settle" => Self::Settle(parse(
                &body,
                Reason::InvalidBatchSettlementEvmSettlePayload,
                kind,
            )?),
            other => {
                return Err(Error::new(
                    Reason::InvalidBatchSettlementEvmPayloadType,
                    format!(
                        "payload.type {other:?} is not deposit, voucher, refund, claim or settle"
                    ),
                ))
            }
        })
    }

    /// The `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deposit(_) => "deposit",
            Self::Voucher(_) => "voucher",
            Self::Refund(_) => "refund",
            Self::Claim(_) => "claim",
            Self::Settle(_) => "settle",
        }
    }

    /// The payload object: `type` first, then the fields in the reference's order.
    pub fn to_json(&self) -> Value {
        let body = match self {
            Self::Deposit(p) => json_of(p),
            Self::Voucher(p) => json_of(p),
            Self::Refund(p) => json_of(p),
            Self::Claim(p) => json_of(p),
            Self::Settle(p) => json_of(p),
        };
        let mut m = JsonMap::new();
        m.insert("type".into(), self.kind().into());
        if let Value::Object(fields) = body {
            m.extend(fields);
        }
        Value::Object(m)
    }

    /// The channel config and voucher of a client payload (`deposit`, `voucher`, `refund`).
    pub fn channel(&self) -> Option<(&ChannelConfigJson, &VoucherJson)> {
        match self {
            Self::Deposit(p) => Some((&p.channel_config, &p.voucher)),
            Self::Voucher(p) => Some((&p.channel_config, &p.voucher)),
            Self::Refund(p) => Some((&p.channel_config, &p.voucher)),
            Self::Claim(_) | Self::Settle(_) => None,
        }
    }
}

fn strip_type(payload: &Value) -> Value {
    match payload {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "type")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `0x` and 64 hex digits, either case (the reference's channel id pattern).
pub fn is_channel_id(s: &str) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) fn json_of<T: Serialize>(v: &T) -> Value {
    // Every type here serializes to JSON without failure (strings, integers, objects).
    serde_json::to_value(v).unwrap_or(Value::Null)
}
