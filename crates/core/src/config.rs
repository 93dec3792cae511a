//! Paywall configuration: priced routes, content source and settlement, parsed from the JSON a
//! Worker gets from `wrangler.toml` `[vars]` (TOML tables arrive as JSON objects).
//!
//! Parsing is strict and loud: an unknown key, a bad address, a price the asset cannot
//! represent, a network without a known asset and no explicit one, ... each fails with
//! `invalid_config` and a message naming the field (`routes[1].networks[0].asset: ...`).
//! The shape is documented with an example in `crates/worker/README.md`.

use crate::error::{Error, Reason, Result};
use crate::evm::address::parse_address;
use crate::evm::asset::default_asset;
use crate::evm::money::parse_price;
use crate::evm::network::Network;
use crate::path::Pattern;
use crate::scheme::exact::types::SCHEME;
use crate::wire::{v1, v2, DiscoveryItem, DiscoveryResponse, JsonMap, Pagination};
use crate::wire::{SupportedKind, SupportedResponse};
use alloc::{
    collections::BTreeMap,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};
use alloy_primitives::{Address, U256};
use serde::Deserialize;
use serde_json::Value;

/// Default `maxTimeoutSeconds` (the reference server's).
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 300;
/// Default access-pass lifetime: one hour.
pub const DEFAULT_PASS_LIFETIME_SECONDS: u64 = 3600;
/// Default bound on the wait for a settlement receipt.
pub const DEFAULT_RECEIPT_TIMEOUT_SECONDS: u64 = 30;
/// Default bound on the wait for a facilitator's `/settle` answer.
pub const DEFAULT_FACILITATOR_TIMEOUT_SECONDS: u64 = 30;
/// Default gas limit of a settlement transaction (`transferWithAuthorization` uses ~80k).
pub const DEFAULT_GAS_LIMIT: u64 = 200_000;
/// Default cap on the total size of request headers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default `Cache-Control` of every response that carries paid content: no shared cache may
/// store it, and the browser keeps no copy either.
pub const DEFAULT_PAID_CACHE_CONTROL: &str = "private, no-store";

/// When a paid request is settled relative to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementOrder {
    /// Fetch the content, settle if the origin answered < 400, then respond (default).
    BeforeResponse,
    /// Respond after verification, replay reservation and on-chain checks; settle afterwards.
    Background,
}

/// Where paid (and free) content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// The Workers static-assets binding of that name.
    Assets {
        /// Binding name (`ASSETS`).
        binding: String,
    },
    /// An origin server; the normalised path and the query are appended to this URL.
    Origin {
        /// Base URL, without trailing slash.
        url: String,
    },
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

/// One accepted way to pay for a route (an entry of `accepts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOption {
    /// CAIP-2 network.
    pub network: Network,
    /// Token contract.
    pub asset: Address,
    /// Atomic amount.
    pub amount: U256,
    /// Recipient.
    pub pay_to: Address,
    /// EIP-712 domain name of the token.
    pub eip712_name: String,
    /// EIP-712 domain version of the token.
    pub eip712_version: String,
}

/// A priced route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Method and path pattern.
    pub pattern: Pattern,
    /// Ways to pay (at least one).
    pub options: Vec<PaymentOption>,
    /// Resource description.
    pub description: String,
    /// MIME type of the resource.
    pub mime_type: String,
    /// `maxTimeoutSeconds` of the requirements.
    pub max_timeout_seconds: u64,
    /// Settlement order.
    pub order: SettlementOrder,
    /// Access-pass lifetime in seconds (0: no pass).
    pub pass_lifetime_seconds: u64,
    /// Content source override for this route.
    pub content: Option<ContentSource>,
}

/// The whole paywall configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Priced routes; the first match wins.
    pub routes: Vec<Route>,
    /// Default content source.
    pub content: ContentSource,
    /// Settlement.
    pub settlement: Settlement,
    /// Whether `/verify`, `/settle`, `/supported` are served (default: not).
    pub facilitator_endpoints: bool,
    /// Whether the facilitator endpoints judge any requirements a caller sends (an open,
    /// public facilitator) instead of only the offers of this Worker's own routes.
    pub open_facilitator: bool,
    /// Path prefix of the facilitator endpoints (`""`: at the root).
    pub facilitator_prefix: String,
    /// Whether `GET /discovery/resources` is served.
    pub discovery: bool,
    /// Cap on the total size of request headers, in bytes.
    pub max_header_bytes: usize,
    /// `Access-Control-Allow-Origin` value.
    pub cors_allow_origin: String,
    /// `Cache-Control` of every response carrying paid content (it always holds `private` or
    /// `no-store`).
    pub paid_cache_control: String,
    /// Extra module scripts the HTML paywall page loads before the drop-in (an analytics tag,
    /// a wallet connector): site paths (`/…`) or `https://` URLs.
    pub paywall_scripts: Vec<String>,
    /// Method and path patterns served without payment although a priced route covers the path
    /// for other methods (without one, such a request is answered 405).
    pub free_routes: Vec<Pattern>,
}

fn invalid(field: &str, msg: impl core::fmt::Display) -> Error {
    Error::new(Reason::InvalidConfig, format!("{field}: {msg}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    routes: Vec<Value>,
    #[serde(default)]
    pay_to: Option<String>,
    #[serde(default)]
    networks: Option<Value>,
    #[serde(default)]
    max_timeout_seconds: Option<u64>,
    #[serde(default)]
    pass_lifetime_seconds: Option<u64>,
    #[serde(default)]
    settlement_order: Option<String>,
    content: Value,
    settlement: Value,
    #[serde(default)]
    facilitator_endpoints: Option<bool>,
    #[serde(default)]
    facilitator_prefix: Option<String>,
    #[serde(default)]
    discovery: Option<bool>,
    #[serde(default)]
    max_request_header_bytes: Option<usize>,
    #[serde(default)]
    cors_allow_origin: Option<String>,
    #[serde(default)]
    open_facilitator: Option<bool>,
    #[serde(default)]
    paid_cache_control: Option<String>,
    #[serde(default)]
    paywall_scripts: Option<Vec<String>>,
    #[serde(default)]
    free_routes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRoute {
    pattern: String,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    asset: Option<String>,
    #[serde(default)]
    networks: Option<Value>,
    #[serde(default)]
    pay_to: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    max_timeout_seconds: Option<u64>,
    #[serde(default)]
    settlement_order: Option<String>,
    #[serde(default)]
    pass_lifetime_seconds: Option<u64>,
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNetwork {
    network: String,
    #[serde(default)]
    asset: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    decimals: Option<u8>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    pay_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawContent {
    source: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    binding: Option<String>,
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

fn typed<T: serde::de::DeserializeOwned>(v: &Value, field: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(field, e))
}

fn http_url(s: &str, field: &str) -> Result<String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(invalid(field, format!("{s:?} is not an http(s) URL")));
    }
    Ok(s.trim_end_matches('/').into())
}

fn order(s: Option<&str>, field: &str, default: SettlementOrder) -> Result<SettlementOrder> {
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

fn address(s: &str, field: &str) -> Result<Address> {
    parse_address(s).map_err(|e| invalid(field, e))
}

fn content(v: &Value, field: &str) -> Result<ContentSource> {
    let raw: RawContent = typed(v, field)?;
    match raw.source.as_str() {
        "assets" => Ok(ContentSource::Assets {
            binding: raw.binding.unwrap_or_else(|| "ASSETS".into()),
        }),
        "origin" => {
            let url = raw.url.ok_or_else(|| {
                invalid(&format!("{field}.url"), "required for source \"origin\"")
            })?;
            Ok(ContentSource::Origin {
                url: http_url(&url, &format!("{field}.url"))?,
            })
        }
        s => Err(invalid(
            &format!("{field}.source"),
            format!("{s:?} is not \"assets\" or \"origin\""),
        )),
    }
}

fn settlement(v: &Value) -> Result<Settlement> {
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

struct RouteDefaults<'a> {
    pay_to: Option<&'a str>,
    networks: Option<&'a Value>,
    max_timeout_seconds: u64,
    pass_lifetime_seconds: u64,
    order: SettlementOrder,
}

fn network_list(v: &Value, field: &str) -> Result<Vec<RawNetwork>> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid(field, "must be a list of networks"))?;
    if items.is_empty() {
        return Err(invalid(field, "must name at least one network"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let f = format!("{field}[{i}]");
            match item {
                Value::String(s) => Ok(RawNetwork {
                    network: s.clone(),
                    asset: None,
                    name: None,
                    version: None,
                    decimals: None,
                    amount: None,
                    price: None,
                    pay_to: None,
                }),
                Value::Object(_) => typed(item, &f),
                _ => Err(invalid(&f, "must be a CAIP-2 string or a table")),
            }
        })
        .collect()
}

fn route(v: &Value, i: usize, d: &RouteDefaults<'_>) -> Result<Route> {
    let field = format!("routes[{i}]");
    let raw: RawRoute = typed(v, &field)?;
    let pattern = Pattern::parse(&raw.pattern)
        .map_err(|e| invalid(&format!("{field}.pattern"), e.message()))?;
    let networks_field = format!("{field}.networks");
    let networks_value = raw
        .networks
        .as_ref()
        .or(d.networks)
        .ok_or_else(|| invalid(&networks_field, "required (here or at the top level)"))?;
    let mut options = Vec::new();
    for (j, n) in network_list(networks_value, &networks_field)?
        .into_iter()
        .enumerate()
    {
        let f = format!("{networks_field}[{j}]");
        let network: Network = n
            .network
            .parse()
            .map_err(|e: Error| invalid(&format!("{f}.network"), e.message()))?;
        if network.chain_id().is_none() {
            return Err(invalid(
                &format!("{f}.network"),
                "only eip155 networks are supported",
            ));
        }
        let asset_text = n.asset.as_deref().or(raw.asset.as_deref());
        let known = default_asset(&network);
        let asset = match asset_text {
            Some(a) => address(a, &format!("{f}.asset"))?,
            None => known.map(|k| k.address).ok_or_else(|| {
                invalid(
                    &format!("{f}.asset"),
                    format!("no known asset on {network}: give asset, name, version and decimals"),
                )
            })?,
        };
        let table = known.filter(|k| k.address == asset);
        let eip712_name = n
            .name
            .or_else(|| table.map(|k| k.eip712_name.into()))
            .ok_or_else(|| {
                invalid(
                    &format!("{f}.name"),
                    "EIP-712 domain name required for an unknown asset",
                )
            })?;
        let eip712_version = n
            .version
            .or_else(|| table.map(|k| k.eip712_version.into()))
            .ok_or_else(|| {
                invalid(
                    &format!("{f}.version"),
                    "EIP-712 domain version required for an unknown asset",
                )
            })?;
        let (amount_text, price_text) = if n.amount.is_some() || n.price.is_some() {
            (n.amount.as_deref(), n.price.as_deref())
        } else {
            (raw.amount.as_deref(), raw.price.as_deref())
        };
        let amount = match (amount_text, price_text) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &format!("{f}.amount"),
                    "give either price or amount, not both",
                ))
            }
            (Some(a), None) => crate::encoding::decimal_u256::parse(a)
                .map_err(|e| invalid(&format!("{field}.amount"), e))?,
            (None, Some(p)) => {
                let decimals = n
                    .decimals
                    .or_else(|| table.map(|k| k.decimals))
                    .ok_or_else(|| {
                        invalid(
                            &format!("{f}.decimals"),
                            "required to convert a price for an unknown asset",
                        )
                    })?;
                parse_price(p, decimals)
                    .map_err(|e| invalid(&format!("{field}.price"), e.message()))?
            }
            (None, None) => {
                return Err(invalid(
                    &format!("{field}.price"),
                    "required (a price such as \"$0.01\" or an atomic amount)",
                ))
            }
        };
        if amount.is_zero() {
            return Err(invalid(&format!("{field}.price"), "must be above zero"));
        }
        let pay_to_text = n
            .pay_to
            .as_deref()
            .or(raw.pay_to.as_deref())
            .or(d.pay_to)
            .ok_or_else(|| {
                invalid(
                    &format!("{field}.payTo"),
                    "required (here or at the top level)",
                )
            })?;
        options.push(PaymentOption {
            network,
            asset,
            amount,
            pay_to: address(pay_to_text, &format!("{field}.payTo"))?,
            eip712_name,
            eip712_version,
        });
    }
    let max_timeout_seconds = raw.max_timeout_seconds.unwrap_or(d.max_timeout_seconds);
    if max_timeout_seconds == 0 || max_timeout_seconds > 86_400 {
        return Err(invalid(
            &format!("{field}.maxTimeoutSeconds"),
            "must be 1..=86400",
        ));
    }
    Ok(Route {
        pattern,
        options,
        description: raw.description.unwrap_or_default(),
        mime_type: raw.mime_type.unwrap_or_default(),
        max_timeout_seconds,
        order: order(
            raw.settlement_order.as_deref(),
            &format!("{field}.settlementOrder"),
            d.order,
        )?,
        pass_lifetime_seconds: raw.pass_lifetime_seconds.unwrap_or(d.pass_lifetime_seconds),
        content: raw
            .content
            .as_ref()
            .map(|c| content(c, &format!("{field}.content")))
            .transpose()?,
    })
}

impl Config {
    /// Parses and validates the configuration object.
    pub fn from_json(v: &Value) -> Result<Self> {
        let raw: RawConfig = typed(v, "X402")?;
        let defaults = RouteDefaults {
            pay_to: raw.pay_to.as_deref(),
            networks: raw.networks.as_ref(),
            max_timeout_seconds: raw
                .max_timeout_seconds
                .unwrap_or(DEFAULT_MAX_TIMEOUT_SECONDS),
            pass_lifetime_seconds: raw
                .pass_lifetime_seconds
                .unwrap_or(DEFAULT_PASS_LIFETIME_SECONDS),
            order: order(
                raw.settlement_order.as_deref(),
                "settlementOrder",
                SettlementOrder::BeforeResponse,
            )?,
        };
        if let Some(p) = defaults.pay_to {
            address(p, "payTo")?;
        }
        let routes = raw
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| route(r, i, &defaults))
            .collect::<Result<Vec<_>>>()?;
        let facilitator_prefix = raw.facilitator_prefix.unwrap_or_default();
        if !(facilitator_prefix.is_empty()
            || facilitator_prefix.starts_with('/') && !facilitator_prefix.ends_with('/'))
        {
            return Err(invalid("facilitatorPrefix", "must be empty or /like/this"));
        }
        let max_header_bytes = raw
            .max_request_header_bytes
            .unwrap_or(DEFAULT_MAX_HEADER_BYTES);
        if !(4096..=1 << 20).contains(&max_header_bytes) {
            return Err(invalid("maxRequestHeaderBytes", "must be 4096..=1048576"));
        }
        let paid_cache_control = raw
            .paid_cache_control
            .unwrap_or_else(|| DEFAULT_PAID_CACHE_CONTROL.into());
        let directives = paid_cache_control.to_ascii_lowercase();
        let shareable = !directives
            .split(',')
            .any(|d| matches!(d.trim(), "private" | "no-store"))
            || directives.contains("public")
            || directives.contains("s-maxage");
        if shareable
            || !paid_cache_control
                .bytes()
                .all(|b| b == b' ' || b.is_ascii_graphic())
        {
            return Err(invalid(
                "paidCacheControl",
                "must contain \"private\" or \"no-store\" and no \"public\" or \"s-maxage\": paid content is never stored by a shared cache",
            ));
        }
        let paywall_scripts = raw.paywall_scripts.unwrap_or_default();
        for (i, src) in paywall_scripts.iter().enumerate() {
            let ok = (src.starts_with('/') && !src.starts_with("//")
                || src.starts_with("https://"))
                && src
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"\"'<>`\\".contains(&b));
            if !ok {
                return Err(invalid(
                    &format!("paywallScripts[{i}]"),
                    "must be a site path (/...) or an https:// URL, without quotes or angle brackets",
                ));
            }
        }
        let free_routes = raw
            .free_routes
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Pattern::parse(p).map_err(|e| invalid(&format!("freeRoutes[{i}]"), e.message()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            routes,
            content: content(&raw.content, "content")?,
            settlement: settlement(&raw.settlement)?,
            facilitator_endpoints: raw.facilitator_endpoints.unwrap_or(false),
            open_facilitator: raw.open_facilitator.unwrap_or(false),
            facilitator_prefix,
            discovery: raw.discovery.unwrap_or(true),
            max_header_bytes,
            cors_allow_origin: raw.cors_allow_origin.unwrap_or_else(|| "*".into()),
            paid_cache_control,
            paywall_scripts,
            free_routes,
        })
    }

    /// The first route matching a request (`path` normalised).
    pub fn route_for(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.pattern.matches(method, path))
    }

    /// What to do with a request that no priced route matches (`path` normalised): a path that
    /// a priced route covers for other methods is not proxied unpaid (a POST to a GET-priced
    /// path), unless a `freeRoutes` pattern names it. Returns the methods the priced routes
    /// allow there (for a 405's `Allow`), or `None` when the request may be served free.
    pub fn refused_methods(&self, method: &str, path: &str) -> Option<Vec<&'static str>> {
        const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
        if method.eq_ignore_ascii_case("OPTIONS")
            || self.free_routes.iter().any(|p| p.matches(method, path))
        {
            return None;
        }
        let allowed: Vec<&'static str> = METHODS
            .into_iter()
            .filter(|m| self.route_for(m, path).is_some())
            .collect();
        (!allowed.is_empty()).then_some(allowed)
    }

    /// Where a request no priced route matches is fetched from: the content source of a priced
    /// route covering the same path for other methods (so a `freeRoutes` entry reaches the
    /// same origin as the paid ones), else the default.
    pub fn free_content(&self, path: &str) -> &ContentSource {
        self.routes
            .iter()
            .filter(|r| {
                ["GET", "POST", "PUT", "PATCH", "DELETE"]
                    .iter()
                    .any(|m| r.pattern.matches(m, path))
            })
            .find_map(|r| r.content.as_ref())
            .unwrap_or(&self.content)
    }

    /// The offer of one of this Worker's routes that equals `r` (scheme, network, asset, payTo,
    /// amount and `maxTimeoutSeconds`; `extra`'s EIP-712 name and version when given): the
    /// requirements the facilitator endpoints accept unless [`Config::open_facilitator`].
    pub fn own_offer_v2(&self, r: &v2::PaymentRequirements) -> Option<&Route> {
        self.routes.iter().find(|route| {
            route.requirements_v2().iter().any(|o| {
                o.scheme == r.scheme
                    && o.network == r.network
                    && o.amount == r.amount
                    && o.asset.eq_ignore_ascii_case(&r.asset)
                    && o.pay_to.eq_ignore_ascii_case(&r.pay_to)
                    && o.max_timeout_seconds == r.max_timeout_seconds
                    && same_domain(o.extra.as_ref(), r.extra.as_ref())
            })
        })
    }

    /// [`Config::own_offer_v2`] for a v1 requirement (`maxAmountRequired`, v1 network name).
    pub fn own_offer_v1(&self, r: &v1::PaymentRequirements) -> Option<&Route> {
        self.routes.iter().find(|route| {
            route.requirements_v1(&r.resource).iter().any(|o| {
                o.scheme == r.scheme
                    && o.network == r.network
                    && o.max_amount_required == r.max_amount_required
                    && o.asset.eq_ignore_ascii_case(&r.asset)
                    && o.pay_to.eq_ignore_ascii_case(&r.pay_to)
                    && o.max_timeout_seconds == r.max_timeout_seconds
                    && same_domain(o.extra.as_ref(), r.extra.as_ref())
            })
        })
    }

    /// `GET /supported`: every (version, network) the routes accept.
    pub fn supported(&self, signer: Option<Address>) -> SupportedResponse {
        let mut kinds: Vec<SupportedKind> = Vec::new();
        for o in self.routes.iter().flat_map(|r| &r.options) {
            let mut push = |version: u8, network: String| {
                if !kinds
                    .iter()
                    .any(|k| k.x402_version == version && k.network == network)
                {
                    kinds.push(SupportedKind {
                        x402_version: version,
                        scheme: SCHEME.into(),
                        network,
                        extra: None,
                    });
                }
            };
            push(2, o.network.to_string());
            if let Some(name) = o.network.v1_name() {
                push(1, name.into());
            }
        }
        let mut signers = BTreeMap::new();
        if let Some(s) = signer {
            signers.insert("eip155:*".into(), vec![s.to_checksum(None)]);
        }
        SupportedResponse {
            kinds,
            extensions: Vec::new(),
            signers,
        }
    }

    /// `GET /discovery/resources` for the routes whose pattern names a concrete resource
    /// (wildcard routes are listed by their literal prefix).
    pub fn discovery(
        &self,
        base_url: &str,
        limit: u32,
        offset: u32,
        now: u64,
    ) -> DiscoveryResponse {
        let all: Vec<DiscoveryItem> = self
            .routes
            .iter()
            .map(|r| {
                let url = format!(
                    "{}{}",
                    base_url.trim_end_matches('/'),
                    r.pattern.literal_prefix()
                );
                let mut metadata = JsonMap::new();
                metadata.insert("pattern".into(), Value::String(r.pattern.as_str().into()));
                metadata.insert("description".into(), Value::String(r.description.clone()));
                DiscoveryItem {
                    resource: url,
                    kind: "http".into(),
                    x402_version: 2,
                    accepts: r.requirements_v2(),
                    last_updated: now,
                    metadata: Some(metadata),
                }
            })
            .collect();
        let limit = limit.clamp(1, 100);
        let total = all.len() as u32;
        DiscoveryResponse {
            x402_version: 2,
            items: all
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect(),
            pagination: Pagination {
                limit,
                offset,
                total,
            },
        }
    }
}

/// Whether a caller's `extra` names the same EIP-712 domain as ours (absent fields are ours).
fn same_domain(ours: Option<&JsonMap>, theirs: Option<&JsonMap>) -> bool {
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return true;
    };
    ["name", "version"]
        .iter()
        .all(|k| theirs.get(*k).is_none_or(|v| Some(v) == ours.get(*k)))
}

impl Route {
    fn extra(o: &PaymentOption) -> JsonMap {
        let mut extra = JsonMap::new();
        extra.insert("name".into(), Value::String(o.eip712_name.clone()));
        extra.insert("version".into(), Value::String(o.eip712_version.clone()));
        extra
    }

    /// The v2 `accepts` list.
    pub fn requirements_v2(&self) -> Vec<v2::PaymentRequirements> {
        self.options
            .iter()
            .map(|o| v2::PaymentRequirements {
                scheme: SCHEME.into(),
                network: o.network.clone(),
                amount: o.amount,
                asset: o.asset.to_checksum(None),
                pay_to: o.pay_to.to_checksum(None),
                max_timeout_seconds: self.max_timeout_seconds,
                extra: Some(Self::extra(o)),
                other: JsonMap::new(),
            })
            .collect()
    }

    /// The v1 `accepts` list: the options whose network has a v1 name.
    pub fn requirements_v1(&self, resource_url: &str) -> Vec<v1::PaymentRequirements> {
        self.options
            .iter()
            .filter_map(|o| {
                Some(v1::PaymentRequirements {
                    scheme: SCHEME.into(),
                    network: o.network.v1_name()?.into(),
                    max_amount_required: o.amount,
                    resource: resource_url.into(),
                    description: self.description.clone(),
                    mime_type: Some(self.mime_type.clone()),
                    pay_to: o.pay_to.to_checksum(None),
                    max_timeout_seconds: self.max_timeout_seconds,
                    asset: o.asset.to_checksum(None),
                    output_schema: None,
                    extra: Some(Self::extra(o)),
                    other: JsonMap::new(),
                })
            })
            .collect()
    }

    /// The v2 challenge for this route at `resource_url`.
    pub fn payment_required(
        &self,
        resource_url: &str,
        error: Option<String>,
    ) -> v2::PaymentRequired {
        let mut resource = v2::ResourceInfo::new(resource_url);
        resource.description = Some(self.description.clone());
        resource.mime_type = Some(self.mime_type.clone());
        v2::PaymentRequired {
            x402_version: crate::wire::V2,
            error,
            resource,
            accepts: self.requirements_v2(),
            extensions: None,
        }
    }

    /// The v1 challenge body, if any option has a v1 network name.
    pub fn payment_required_v1(
        &self,
        resource_url: &str,
        error: String,
    ) -> Option<v1::PaymentRequired> {
        let accepts = self.requirements_v1(resource_url);
        (!accepts.is_empty()).then(|| v1::PaymentRequired {
            x402_version: crate::wire::V1,
            error: Some(error),
            accepts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evm::asset::LOCAL_TEST_USDC;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "payTo": "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
            "networks": ["eip155:31337"],
            "content": {"source": "assets"},
            "settlement": {"mode": "self", "rpcUrl": "http://127.0.0.1:8545"},
            "routes": [
                {"pattern": "GET /paid/one.html", "price": "$0.01", "description": "One", "mimeType": "text/html"},
                {"pattern": "GET /paid/*", "price": "$0.02"},
                {"pattern": "/api/*", "price": "$0.001", "settlementOrder": "background",
                 "networks": ["eip155:31337", {"network": "eip155:84532"},
                              {"network": "eip155:1", "asset": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "name": "T", "version": "1", "amount": "5"}]}
            ]
        })
    }

    #[test]
    fn parses_the_default_shape() {
        let c = Config::from_json(&base()).unwrap();
        assert_eq!(c.routes.len(), 3);
        let one = c.route_for("GET", "/paid/one.html").unwrap();
        assert_eq!(one.options[0].amount, U256::from(10_000));
        assert_eq!(one.options[0].asset, LOCAL_TEST_USDC.address);
        assert_eq!(one.options[0].eip712_name, "USD Coin");
        assert_eq!(one.order, SettlementOrder::BeforeResponse);
        assert_eq!(one.pass_lifetime_seconds, DEFAULT_PASS_LIFETIME_SECONDS);
        let two = c.route_for("HEAD", "/paid/two.html").unwrap();
        assert_eq!(two.options[0].amount, U256::from(20_000));
        let api = c.route_for("POST", "/api/quote").unwrap();
        assert_eq!(api.order, SettlementOrder::Background);
        assert_eq!(api.options.len(), 3);
        assert_eq!(api.options[1].eip712_name, "USDC");
        assert_eq!(api.options[2].amount, U256::from(5));
        assert!(c.route_for("GET", "/index.html").is_none());
        assert!(c.route_for("OPTIONS", "/api/quote").is_none());
        let reqs = one.requirements_v2();
        assert_eq!(reqs[0].network.as_str(), "eip155:31337");
        assert_eq!(reqs[0].max_timeout_seconds, 300);
        assert!(one
            .payment_required_v1("http://x/paid/one.html", "e".into())
            .is_none());
        let v1 = api
            .payment_required_v1("http://x/api/quote", "e".into())
            .unwrap();
        assert_eq!(v1.accepts.len(), 2);
        assert_eq!(v1.accepts[0].network, "base-sepolia");
        let sup = c.supported(None);
        assert!(sup
            .kinds
            .iter()
            .any(|k| k.x402_version == 1 && k.network == "base-sepolia"));
        assert_eq!(
            sup.kinds.len(),
            5,
            "31337, 84532 + base-sepolia, 1 + ethereum"
        );
        let d = c.discovery("http://h/", 2, 1, 7);
        assert_eq!((d.items.len(), d.pagination.total), (2, 3));
        assert_eq!(d.items[0].resource, "http://h/paid/");
    }

    #[test]
    fn facilitator_mode() {
        let mut v = base();
        v["settlement"] = json!({"mode": "facilitator", "url": "https://x402.org/facilitator/", "authHeader": "Authorization"});
        let c = Config::from_json(&v).unwrap();
        assert_eq!(
            c.settlement,
            Settlement::Facilitator {
                url: "https://x402.org/facilitator".into(),
                auth_header: Some("Authorization".into()),
                rpc_url: None,
                timeout_seconds: DEFAULT_FACILITATOR_TIMEOUT_SECONDS,
            }
        );
        v["settlement"]["timeoutSeconds"] = json!(0);
        let e = Config::from_json(&v).unwrap_err();
        assert!(e.to_string().contains("settlement.timeoutSeconds"), "{e}");
        v["settlement"]["timeoutSeconds"] = json!(5);
        assert!(matches!(
            Config::from_json(&v).unwrap().settlement,
            Settlement::Facilitator {
                timeout_seconds: 5,
                ..
            }
        ));
        v["content"] = json!({"source": "origin", "url": "https://example.com"});
        assert!(matches!(
            Config::from_json(&v).unwrap().content,
            ContentSource::Origin { .. }
        ));
    }

    #[test]
    fn invalid_config_names_the_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/routes/0/price", json!("1.2.3"), "routes[0].price"),
            ("/routes/0/price", json!("$0.0000001"), "routes[0].price"),
            ("/routes/0/pattern", json!("paid/*"), "routes[0].pattern"),
            ("/routes/1/payTo", json!("0x1234"), "routes[1].payTo"),
            (
                "/routes/0/settlementOrder",
                json!("later"),
                "routes[0].settlementOrder",
            ),
            ("/routes/0/prise", json!("$1"), "unknown field `prise`"),
            (
                "/routes/2/networks/1",
                json!({"network": "eip155:999999"}),
                "routes[2].networks[1].asset",
            ),
            (
                "/routes/2/networks/1",
                json!("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
                "routes[2].networks[1].network",
            ),
            (
                "/routes/2/networks/1",
                json!({"network": "eip155:1", "asset": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}),
                "routes[2].networks[1].name",
            ),
            ("/routes/2/networks", json!([]), "routes[2].networks"),
            ("/settlement/mode", json!("magic"), "settlement.mode"),
            ("/settlement/rpcUrl", json!("ftp://x"), "settlement.rpcUrl"),
            ("/content/source", json!("s3"), "content.source"),
            ("/maxRequestHeaderBytes", json!(10), "maxRequestHeaderBytes"),
            (
                "/paidCacheControl",
                json!("public, max-age=60"),
                "paidCacheControl",
            ),
            ("/paidCacheControl", json!("max-age=60"), "paidCacheControl"),
            (
                "/paidCacheControl",
                json!("private, s-maxage=60"),
                "paidCacheControl",
            ),
            (
                "/paywallScripts",
                json!(["//evil.example/x.js"]),
                "paywallScripts[0]",
            ),
            (
                "/paywallScripts",
                json!(["/ok.js", "http://plain.example/x.js"]),
                "paywallScripts[1]",
            ),
            (
                "/paywallScripts",
                json!(["/x.js\"><script>"]),
                "paywallScripts[0]",
            ),
            ("/freeRoutes", json!(["FETCH /x"]), "freeRoutes[0]"),
        ];
        for (pointer, value, needle) in cases {
            let mut v = base();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = v.pointer_mut(parent).unwrap();
            match target {
                Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
                Value::Object(o) => {
                    o.insert(key.into(), value);
                }
                _ => unreachable!(),
            }
            let e = Config::from_json(&v).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig, "{pointer}");
            assert!(e.message().contains(needle), "{pointer}: {e}");
        }
        let mut v = base();
        v.as_object_mut().unwrap().remove("payTo");
        let e = Config::from_json(&v).unwrap_err();
        assert!(e.message().contains("routes[0].payTo"), "{e}");
        let mut v = base();
        v["settlement"] = json!({"mode": "self"});
        assert!(Config::from_json(&v)
            .unwrap_err()
            .message()
            .contains("settlement.rpcUrl"));
        assert!(Config::from_json(&json!("nope")).is_err());
    }

    #[test]
    fn safety_defaults() {
        let c = Config::from_json(&base()).unwrap();
        assert!(
            !c.facilitator_endpoints,
            "facilitator endpoints are off by default"
        );
        assert!(!c.open_facilitator);
        assert_eq!(c.paid_cache_control, DEFAULT_PAID_CACHE_CONTROL);
        assert!(c.paywall_scripts.is_empty());
        let mut v = base();
        v["paidCacheControl"] = json!("private, max-age=0");
        v["paywallScripts"] = json!(["/demo-wallet.js", "https://cdn.example/w.js"]);
        v["freeRoutes"] = json!(["POST /paid/comments"]);
        let c = Config::from_json(&v).unwrap();
        assert_eq!(c.paid_cache_control, "private, max-age=0");
        assert_eq!(c.paywall_scripts.len(), 2);
        // A POST to a GET-priced path is refused with the methods the routes price there...
        assert_eq!(
            c.refused_methods("POST", "/paid/one.html"),
            Some(vec!["GET", "HEAD"])
        );
        assert_eq!(
            c.refused_methods("DELETE", "/paid/x"),
            Some(vec!["GET", "HEAD"])
        );
        // ...unless routed explicitly; unpriced paths and preflights are served.
        assert_eq!(c.refused_methods("POST", "/paid/comments"), None);
        assert_eq!(c.refused_methods("POST", "/free.html"), None);
        assert_eq!(c.refused_methods("OPTIONS", "/paid/one.html"), None);
        assert_eq!(c.free_content("/paid/comments"), &c.content);
        // The facilitator endpoints' own offers: equal in every term, not another payTo.
        let one = c.route_for("GET", "/paid/one.html").unwrap();
        let mut r = one.requirements_v2()[0].clone();
        assert!(c.own_offer_v2(&r).is_some());
        r.extra = None;
        assert!(c.own_offer_v2(&r).is_some(), "absent extra is ours");
        for edit in [
            (|r: &mut v2::PaymentRequirements| {
                r.pay_to = "0x0000000000000000000000000000000000000007".into()
            }) as fn(&mut v2::PaymentRequirements),
            |r| r.amount = U256::from(1),
            |r| r.asset = "0x0000000000000000000000000000000000000001".into(),
            |r| r.max_timeout_seconds = 1_000_000_000_000,
            |r| r.scheme = "upto".into(),
        ] {
            let mut x = one.requirements_v2()[0].clone();
            edit(&mut x);
            assert!(c.own_offer_v2(&x).is_none(), "{x:?}");
        }
        let mut x = one.requirements_v2()[0].clone();
        x.extra
            .as_mut()
            .unwrap()
            .insert("name".into(), json!("Evil Coin"));
        assert!(c.own_offer_v2(&x).is_none());
        let v1r = c.routes[2].requirements_v1("http://h/api/x");
        assert!(c.own_offer_v1(&v1r[0]).is_some());
        let mut bad = v1r[0].clone();
        bad.pay_to = "0x0000000000000000000000000000000000000007".into();
        assert!(c.own_offer_v1(&bad).is_none());
    }
}
