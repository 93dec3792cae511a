//! How payments are settled: by the Worker itself over JSON-RPC (a relayer key pays the gas) or
//! through an x402 facilitator, and when, relative to the response.

use super::field::{http_url, invalid, typed};
use crate::error::Result;
use alloc::{format, string::String};
use serde::Deserialize;
use serde_json::Value;

/// Default bound on the wait for a settlement receipt.
pub const DEFAULT_RECEIPT_TIMEOUT_SECONDS: u64 = 30;
/// Default bound on the wait for a facilitator's `/settle` answer.
pub const DEFAULT_FACILITATOR_TIMEOUT_SECONDS: u64 = 30;
/// Default gas limit of a settlement transaction (`transferWithAuthorization` uses ~80k).
pub const DEFAULT_GAS_LIMIT: u64 = 200_000;
/// When a paid request is settled relative to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementOrder {
    /// Fetch the content, settle if the origin answered < 400, then respond (default).
    BeforeResponse,
    /// Respond after verification, replay reservation and on-chain checks; settle afterwards.
    Background,
}

/// How payments are settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The Worker sends `transferWithAuthorization` itself, signed by a relayer key (secret).
    SelfSettle {
        /// EVM JSON-RPC URL.
        rpc_url: String,
        /// Bound on the receipt wait.
        receipt_timeout_seconds: u64,
        /// Gas limit of settlement transactions.
        gas_limit: u64,
    },
    /// A standard x402 facilitator (`POST {url}/verify`, `POST {url}/settle`).
    Facilitator {
        /// Base URL without trailing slash.
        url: String,
        /// Header carrying the auth secret, if the facilitator wants one.
        auth_header: Option<String>,
        /// Optional JSON-RPC URL for on-chain checks before settling.
        rpc_url: Option<String>,
        /// Bound on the wait for the facilitator's `/settle` answer; past it the outcome is
        /// unknown (`settlement_pending`), never a failure.
        timeout_seconds: u64,
    },
}

impl Settlement {
    /// The JSON-RPC URL used for on-chain checks, if any.
    pub fn rpc_url(&self) -> Option<&str> {
        match self {
            Settlement::SelfSettle { rpc_url, .. } => Some(rpc_url),
            Settlement::Facilitator { rpc_url, .. } => rpc_url.as_deref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSettlement {
    mode: String,
    #[serde(default)]
    rpc_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    auth_header: Option<String>,
    #[serde(default)]
    receipt_timeout_seconds: Option<u64>,
    #[serde(default)]
    gas_limit: Option<u64>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

pub(super) fn order(
    s: Option<&str>,
    field: &str,
    default: SettlementOrder,
) -> Result<SettlementOrder> {
    match s {
        None => Ok(default),
        Some("before-response") => Ok(SettlementOrder::BeforeResponse),
        Some("background") => Ok(SettlementOrder::Background),
        Some(o) => Err(invalid(
            field,
            format!("{o:?} is not \"before-response\" or \"background\""),
        )),
    }
}

pub(super) fn settlement(v: &Value) -> Result<Settlement> {
    let raw: RawSettlement = typed(v, "settlement")?;
    let rpc = |r: Option<String>| r.map(|u| http_url(&u, "settlement.rpcUrl")).transpose();
    match raw.mode.as_str() {
        "self" => {
            let rpc_url = rpc(raw.rpc_url)?
                .ok_or_else(|| invalid("settlement.rpcUrl", "required for mode \"self\""))?;
            let receipt_timeout_seconds = raw
                .receipt_timeout_seconds
                .unwrap_or(DEFAULT_RECEIPT_TIMEOUT_SECONDS);
            if receipt_timeout_seconds == 0 || receipt_timeout_seconds > 600 {
                return Err(invalid(
                    "settlement.receiptTimeoutSeconds",
                    "must be 1..=600",
                ));
            }
            let gas_limit = raw.gas_limit.unwrap_or(DEFAULT_GAS_LIMIT);
            if !(50_000..=5_000_000).contains(&gas_limit) {
                return Err(invalid("settlement.gasLimit", "must be 50000..=5000000"));
            }
            Ok(Settlement::SelfSettle {
                rpc_url,
                receipt_timeout_seconds,
                gas_limit,
            })
        }
        "facilitator" => {
            let url = raw
                .url
                .ok_or_else(|| invalid("settlement.url", "required for mode \"facilitator\""))?;
            let timeout_seconds = raw
                .timeout_seconds
                .unwrap_or(DEFAULT_FACILITATOR_TIMEOUT_SECONDS);
            if timeout_seconds == 0 || timeout_seconds > 600 {
                return Err(invalid("settlement.timeoutSeconds", "must be 1..=600"));
            }
            Ok(Settlement::Facilitator {
                url: http_url(&url, "settlement.url")?,
                auth_header: raw.auth_header,
                rpc_url: rpc(raw.rpc_url)?,
                timeout_seconds,
            })
        }
        m => Err(invalid(
            "settlement.mode",
            format!("{m:?} is not \"self\" or \"facilitator\""),
        )),
    }
}
