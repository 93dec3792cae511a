//! Facilitator messages (x402-foundation/x402 `specs/x402-specification-v2.md` §5.3, §5.4, §7
//! "Facilitator Interface" and §8 "Discovery API"): `/verify`, `/settle`, `/supported`,
//! `/discovery/resources`, and the settlement receipt carried in `PAYMENT-RESPONSE`.

use super::fields::JsonMap;
use super::{v1, v2};
use crate::encoding::decimal_u256;
use crate::error::{Error, Reason, Result};
use alloc::{collections::BTreeMap, format, string::String, vec::Vec};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// Answer of `POST /verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment is valid.
    pub is_valid: bool,
    /// Reason code when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// Human message when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The paying address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonMap>,
}

impl VerifyResponse {
    /// A valid answer.
    pub fn valid(payer: impl Into<String>) -> Self {
        Self {
            is_valid: true,
            invalid_reason: None,
            invalid_message: None,
            payer: Some(payer.into()),
            extensions: None,
        }
    }

    /// An invalid answer carrying the error's reason code and message.
    pub fn invalid(err: &Error, payer: Option<String>) -> Self {
        Self {
            is_valid: false,
            invalid_reason: Some(err.code().into()),
            invalid_message: Some(err.message().into()),
            payer,
            extensions: None,
        }
    }
}

/// Answer of `POST /settle`, and the receipt in `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the transfer happened.
    pub success: bool,
    /// Reason code on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Human message on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Transaction hash (`""` when nothing was sent).
    #[serde(default)]
    pub transaction: String,
    /// Network (CAIP-2 for v2, the short name for v1).
    pub network: String,
    /// The paying address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Settled atomic amount (`upto`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_decimal_u256"
    )]
    pub amount: Option<U256>,
    /// Extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonMap>,
}

impl SettleResponse {
    /// A successful settlement.
    pub fn success(transaction: String, network: String, payer: String) -> Self {
        Self {
            success: true,
            error_reason: None,
            error_message: None,
            transaction,
            network,
            payer: Some(payer),
            amount: None,
            extensions: None,
        }
    }

    /// A failed settlement; `transaction` is the hash if one was broadcast
    /// (`settlement_pending`), else empty.
    pub fn failure(
        err: &Error,
        transaction: String,
        network: String,
        payer: Option<String>,
    ) -> Self {
        Self {
            success: false,
            error_reason: Some(err.code().into()),
            error_message: Some(err.message().into()),
            transaction,
            network,
            payer,
            amount: None,
            extensions: None,
        }
    }
}

mod option_decimal_u256 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<U256>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => decimal_u256::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
        decimal_u256::deserialize(d).map(Some)
    }
}

/// One (version, scheme, network) a facilitator supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// Protocol version.
    pub x402_version: u8,
    /// Scheme.
    pub scheme: String,
    /// Network (CAIP-2 for v2, short name for v1).
    pub network: String,
    /// Scheme data (`feePayer`, `facilitatorAddress`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonMap>,
}

/// Answer of `GET /supported`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    /// Supported kinds.
    pub kinds: Vec<SupportedKind>,
    /// Supported extension keys.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Signer addresses per CAIP family pattern (`"eip155:*"`).
    #[serde(default)]
    pub signers: BTreeMap<String, Vec<String>>,
}

/// The body of `POST /verify` and `POST /settle`:
/// `{x402Version, paymentPayload, paymentRequirements}`.
// One value per request, never stored in bulk: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FacilitatorRequest {
    /// A v1 payment and requirement.
    V1 {
        /// The payment.
        payment_payload: v1::PaymentPayload,
        /// The requirement it pays.
        payment_requirements: v1::PaymentRequirements,
    },
    /// A v2 payment and requirement.
    V2 {
        /// The payment.
        payment_payload: v2::PaymentPayload,
        /// The requirement it pays.
        payment_requirements: v2::PaymentRequirements,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFacilitatorRequest<P, R> {
    x402_version: u8,
    payment_payload: P,
    payment_requirements: R,
}

impl FacilitatorRequest {
    /// Parses a request body, dispatching on its `x402Version`.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let bad = |e: serde_json::Error| {
            Error::new(Reason::InvalidPayload, format!("facilitator request: {e}"))
        };
        let value: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
        match value.get("x402Version").and_then(serde_json::Value::as_u64) {
            Some(1) => {
                let r: RawFacilitatorRequest<v1::PaymentPayload, v1::PaymentRequirements> =
                    serde_json::from_value(value).map_err(bad)?;
                Ok(Self::V1 {
                    payment_payload: r.payment_payload,
                    payment_requirements: r.payment_requirements,
                })
            }
            Some(2) => {
                let r: RawFacilitatorRequest<v2::PaymentPayload, v2::PaymentRequirements> =
                    serde_json::from_value(value).map_err(bad)?;
                Ok(Self::V2 {
                    payment_payload: r.payment_payload,
                    payment_requirements: r.payment_requirements,
                })
            }
            other => Err(Error::new(
                Reason::InvalidX402Version,
                format!("facilitator request: unsupported x402Version {other:?}"),
            )),
        }
    }

    /// Serializes the request body.
    pub fn to_json(&self) -> Result<String> {
        let out = match self {
            Self::V1 {
                payment_payload,
                payment_requirements,
            } => serde_json::to_string(&RawFacilitatorRequest {
                x402_version: 1,
                payment_payload,
                payment_requirements,
            }),
            Self::V2 {
                payment_payload,
                payment_requirements,
            } => serde_json::to_string(&RawFacilitatorRequest {
                x402_version: 2,
                payment_payload,
                payment_requirements,
            }),
        };
        out.map_err(|e| Error::new(Reason::UnexpectedVerifyError, format!("encode: {e}")))
    }
}

/// Answer of `GET /discovery/resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryResponse {
    /// Protocol version of the listing.
    pub x402_version: u8,
    /// Paid resources.
    pub items: Vec<DiscoveryItem>,
    /// Page position.
    pub pagination: Pagination,
}

/// One discovered paid resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryItem {
    /// Resource URL.
    pub resource: String,
    /// Resource type (`"http"`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Protocol version of `accepts`.
    pub x402_version: u8,
    /// Ways to pay.
    pub accepts: Vec<v2::PaymentRequirements>,
    /// Unix time of the last change.
    pub last_updated: u64,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

/// Page position in a discovery listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// Page size.
    pub limit: u32,
    /// Items skipped.
    pub offset: u32,
    /// Items in all.
    pub total: u32,
}
