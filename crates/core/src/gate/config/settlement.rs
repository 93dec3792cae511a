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
/// Default bound on one relayer key's transactions sent and not yet mined: common clients keep
/// at most 16 pending transactions per sender in their pool (go-ethereum's
/// `txpool.accountslots` default).
pub const DEFAULT_MAX_IN_FLIGHT_PER_KEY: u32 = 16;
/// Default age after which a sent, unmined settlement transaction is replaced by the same
/// transaction (same nonce) with higher fees.
pub const DEFAULT_REPLACE_AFTER_SECONDS: u64 = 60;
/// The most relayer keys one configuration may name.
pub const MAX_RELAYER_KEYS: u32 = 64;
/// When a paid request is settled relative to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementOrder {
    /// Fetch the content, settle if the origin answered < 400, then respond (default).
    BeforeResponse,
    /// Respond after verification, replay reservation and on-chain checks; settle afterwards.
    Background,
    /// Settle first, then fetch the content (for origins with side effects): the x402
    /// `upfront` payment flow, advertised as `extra.paymentFlow = "upfront"` on the route's
    /// `exact` offers. Set by the route's `paymentFlow = "upfront"`.
    Upfront,
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
        /// How many relayer keys settle (secrets `X402_RELAYER_KEY`, `X402_RELAYER_KEY_2`, …):
        /// one relayer Durable Object each, a payer's settlements on one of them.
        relayer_keys: u32,
        /// Bound on one key's transactions sent and not yet mined; a full key passes the
        /// payment to another.
        max_in_flight_per_key: u32,
        /// A transaction still unmined this long after it was sent is replaced (same nonce,
        /// fees raised by an eighth).
        replace_after_seconds: u64,
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
    /// How long after its authorization's `validBefore` a replay-guard entry is kept: the
    /// bound on a settlement's outcome (the receipt wait, or the facilitator's answer).
    pub fn bound_seconds(&self) -> u64 {
        match self {
            Settlement::SelfSettle {
                receipt_timeout_seconds,
                ..
            } => *receipt_timeout_seconds,
            Settlement::Facilitator {
                timeout_seconds, ..
            } => *timeout_seconds,
        }
    }

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
    #[serde(default)]
    relayer_keys: Option<u32>,
    #[serde(default)]
    max_in_flight_per_key: Option<u32>,
    #[serde(default)]
    replace_after_seconds: Option<u64>,
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
            let relayer_keys = raw.relayer_keys.unwrap_or(1);
            if !(1..=MAX_RELAYER_KEYS).contains(&relayer_keys) {
                return Err(invalid(
                    "settlement.relayerKeys",
                    format!("must be 1..={MAX_RELAYER_KEYS}"),
                ));
            }
            let max_in_flight_per_key = raw
                .max_in_flight_per_key
                .unwrap_or(DEFAULT_MAX_IN_FLIGHT_PER_KEY);
            if !(1..=1024).contains(&max_in_flight_per_key) {
                return Err(invalid("settlement.maxInFlightPerKey", "must be 1..=1024"));
            }
            let replace_after_seconds = raw
                .replace_after_seconds
                .unwrap_or(DEFAULT_REPLACE_AFTER_SECONDS);
            if !(1..=86_400).contains(&replace_after_seconds) {
                return Err(invalid(
                    "settlement.replaceAfterSeconds",
                    "must be 1..=86400",
                ));
            }
            Ok(Settlement::SelfSettle {
                rpc_url,
                receipt_timeout_seconds,
                gas_limit,
                relayer_keys,
                max_in_flight_per_key,
                replace_after_seconds,
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
