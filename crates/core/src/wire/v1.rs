//! x402 v1 messages (`specs/x402-specification-v1.md` §5): requirements in the 402 JSON body,
//! payment in `X-PAYMENT`, short network names.

use super::fields::{non_empty, JsonMap, V1};
use crate::encoding::decimal_u256;
use alloc::{string::String, vec::Vec};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// A v1 payment requirement (resource description inside each requirement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// Payment scheme.
    pub scheme: String,
    /// v1 short network name (`base-sepolia`).
    pub network: String,
    /// Maximum amount in atomic units.
    #[serde(with = "decimal_u256")]
    pub max_amount_required: U256,
    /// Resource URL.
    pub resource: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Recipient.
    pub pay_to: String,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// Token contract.
    pub asset: String,
    /// JSON schema of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<serde_json::Value>,
    /// Scheme data (`name`, `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<JsonMap>,
    /// Unknown fields, kept verbatim.
    #[serde(flatten)]
    pub other: JsonMap,
}

/// The v1 402 body (`PaymentRequirementsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// Always 1.
    pub x402_version: V1,
    /// Why payment is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Accepted ways to pay (at least one).
    #[serde(deserialize_with = "non_empty")]
    pub accepts: Vec<PaymentRequirements>,
}

/// A v1 payment, sent base64-encoded in `X-PAYMENT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// Always 1.
    pub x402_version: V1,
    /// Scheme of the chosen requirement.
    pub scheme: String,
    /// v1 network name of the chosen requirement.
    pub network: String,
    /// Scheme-specific payload.
    pub payload: serde_json::Value,
}
