//! x402 v2 messages (`specs/x402-specification-v2.md` §5).

use super::fields::{non_empty, non_empty_str, JsonMap, V2};
use crate::encoding::decimal_u256;
use crate::evm::network::Network;
use alloc::{string::String, vec::Vec};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// What is being paid for (`ResourceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// URL of the resource (non-empty).
    #[serde(deserialize_with = "non_empty_str")]
    pub url: String,
    /// Human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Fields added by later revisions (`serviceName`, `tags`, `iconUrl`, ...), kept verbatim.
    #[serde(flatten)]
    pub other: JsonMap,
}

impl ResourceInfo {
    /// A resource with only a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            description: None,
            mime_type: None,
            other: JsonMap::new(),
        }
    }
}

/// One way to pay (an entry of `accepts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// Payment scheme (`exact`, `upto`, ...).
    pub scheme: String,
    /// CAIP-2 network.
    pub network: Network,
    /// Amount in the asset's atomic units (decimal string on the wire).
    #[serde(with = "decimal_u256")]
    pub amount: U256,
    /// Token contract (EVM), mint (SVM), ...
    pub asset: String,
    /// Recipient.
    pub pay_to: String,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// Scheme data; for exact EVM the EIP-712 domain `name` and `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonMap>,
    /// Fields this crate does not know, kept so `accepted` round-trips exactly.
    #[serde(flatten)]
    pub other: JsonMap,
}

/// The 402 challenge, sent base64-encoded in `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// Always 2.
    pub x402_version: V2,
    /// Why payment is (still) required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource.
    pub resource: ResourceInfo,
    /// Accepted ways to pay (at least one).
    #[serde(deserialize_with = "non_empty")]
    pub accepts: Vec<PaymentRequirements>,
    /// Extensions (`bazaar`, ...), opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonMap>,
}

/// A signed payment, sent base64-encoded in `PAYMENT-SIGNATURE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// Always 2.
    pub x402_version: V2,
    /// The resource, copied from the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The chosen requirement, copied verbatim from `accepts`.
    pub accepted: PaymentRequirements,
    /// Scheme-specific payload (for exact EVM: `signature` and `authorization`).
    pub payload: serde_json::Value,
    /// Extensions echoed from the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<JsonMap>,
}
