//! The options of `wrapFetch` as the paying fetch reads them (JSON text from `optionsText` in
//! `js/flow.js`, read with core's serde-free reader): the policy (`maxAmount`,
//! `allowedNetworks`, `allowedAssets`, `preferredNetworks`, `maxTimeoutSeconds`) and the helpers
//! the budget's options share. Each bad option is an `invalid_config` error naming it.

use crate::error::reason;
use wasm_bindgen::prelude::*;
use x402_core::{
    client::{AllowedAsset, Policy},
    encoding::decimal_u256,
    encoding::json::Value,
    evm::network::Network,
    Reason, U256,
};

/// An `invalid_config` error naming the option and what it must be.
pub(crate) fn invalid_option(what: &str, why: &str) -> JsValue {
    let mut m = String::from("invalid option ");
    m.push_str(what);
    m.push_str(": ");
    m.push_str(why);
    reason(Reason::InvalidConfig, &m)
}

/// Member `key` of an options object; `null` and absent are both `None`.
pub(crate) fn member<'v, 'a>(obj: &'v Value<'a>, key: &str) -> Option<&'v Value<'a>> {
    // `JSON.stringify` writes no duplicate keys.
    obj.get(key).ok().flatten().filter(|v| !v.is_null())
}

/// An amount option in atomic units: a decimal string, or an integer number no larger than
/// JavaScript represents exactly (bigints arrive as strings, see `optionsText`).
pub(crate) fn amount(v: &Value<'_>, what: &str) -> Result<U256, JsValue> {
    let parsed = match v.as_str() {
        Some(text) => decimal_u256::parse(text).ok(),
        None => v
            .as_u64()
            .filter(|n| *n <= MAX_SAFE_INTEGER)
            .map(U256::from),
    };
    parsed.ok_or_else(|| invalid_option(what, "atomic units as a decimal string"))
}

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A CAIP-2 network id.
fn network(v: Option<&Value<'_>>, what: &str) -> Result<Network, JsValue> {
    v.and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid_option(what, "CAIP-2 network ids (eip155:8453)"))
}

/// An optional list option.
fn list<'v, 'a>(options: &'v Value<'a>, key: &str) -> Result<Option<&'v [Value<'a>]>, JsValue> {
    member(options, key)
        .map(|v| {
            v.as_array()
                .ok_or_else(|| invalid_option(key, "expected an array"))
        })
        .transpose()
}

fn networks(options: &Value<'_>, key: &str) -> Result<Option<Vec<Network>>, JsValue> {
    let Some(items) = list(options, key)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for n in items {
        out.push(network(Some(n), key)?);
    }
    Ok(Some(out))
}

/// A whole number option in `min..=max`.
pub(crate) fn whole(v: &Value<'_>, what: &str, min: u64, max: u64) -> Result<u64, JsValue> {
    v.as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid_option(what, "out of range"))
}

/// The core [`Policy`] from the options `maxAmount` (absent: the default $0.10; `null`: no
/// cap), `allowedNetworks`, `allowedAssets` (`[{ network, asset, decimals?, maxAmount? }]`),
/// `preferredNetworks` and `maxTimeoutSeconds`.
pub(crate) fn policy_from(options: &Value<'_>) -> Result<Policy, JsValue> {
    let mut policy = Policy::default();
    match options.get("maxAmount") {
        Ok(Some(max)) if max.is_null() => policy.max_amount = None,
        Ok(Some(max)) => policy.max_amount = Some(amount(max, "maxAmount")?),
        _ => {}
    }
    if let Some(t) = member(options, "maxTimeoutSeconds") {
        policy.max_timeout_seconds = whole(t, "maxTimeoutSeconds", 1, MAX_SAFE_INTEGER)?;
    }
    policy.allowed_networks = networks(options, "allowedNetworks")?;
    policy.preferred_networks = networks(options, "preferredNetworks")?.unwrap_or_default();
    if let Some(items) = list(options, "allowedAssets")? {
        let mut assets = Vec::with_capacity(items.len());
        for a in items {
            let asset = member(a, "asset")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_option("allowedAssets[].asset", "a token address"))?;
            assets.push(AllowedAsset {
                network: network(member(a, "network"), "allowedAssets[].network")?,
                asset: asset.into(),
                max_amount: member(a, "maxAmount")
                    .map(|cap| amount(cap, "allowedAssets[].maxAmount"))
                    .transpose()?,
                decimals: member(a, "decimals")
                    .map(|d| whole(d, "allowedAssets[].decimals", 0, 77).map(|d| d as u8))
                    .transpose()?,
            });
        }
        policy.allowed_assets = Some(assets);
    }
    Ok(policy)
}
