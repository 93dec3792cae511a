//! Paywall configuration: priced routes, content source and settlement, parsed from the JSON a
//! Worker gets from `wrangler.toml` `[vars]` (TOML tables arrive as JSON objects).
//!
//! Parsing is strict and loud: an unknown key, a bad address, a price the asset cannot
//! represent, a network without a known asset and no explicit one, ... each fails with
//! `invalid_config` and a message naming the field (`routes[1].networks[0].asset: ...`).
//! The shape is documented with an example in `crates/worker/README.md`.
//!
//! The parts: [`Route`]s and their prices (`routes`), [`Settlement`] (`settlement`),
//! [`ContentSource`] (`content`), the HTTP surface (`http`: header limit, CORS, paid
//! `Cache-Control`, paywall scripts), what the facilitator endpoints answer (`endpoints`), and
//! the `batch-settlement` offers: the `batchSettlement` table (`batch`) and what the paywall
//! asks of it (`batch_offer`: the offer a payment took, the claim policy).

mod batch;
mod batch_offer;
mod content;
mod endpoints;
mod field;
mod http;
mod routes;
mod settlement;

pub use batch::{
    BatchConfig, ClaimConfig, OptionBatch, PriceSpec, DEFAULT_CLAIM_MAX_AGE_SECONDS,
    DEFAULT_CLAIM_THRESHOLD, DEFAULT_MIN_DEPOSIT_MULTIPLE, DEFAULT_WITHDRAWAL_MARGIN_SECONDS,
    DEFAULT_WITHDRAW_DELAY,
};
pub use content::ContentSource;
pub use http::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_PAID_CACHE_CONTROL};
pub use routes::{
    PaymentIdentifier, PaymentOption, Route, DEFAULT_MAX_TIMEOUT_SECONDS,
    DEFAULT_PASS_LIFETIME_SECONDS,
};
pub use settlement::{
    Settlement, SettlementOrder, DEFAULT_FACILITATOR_TIMEOUT_SECONDS, DEFAULT_GAS_LIMIT,
    DEFAULT_MAX_IN_FLIGHT_PER_KEY, DEFAULT_RECEIPT_TIMEOUT_SECONDS, DEFAULT_REPLACE_AFTER_SECONDS,
    MAX_RELAYER_KEYS,
};

use crate::error::Result;
use crate::gate::path::Pattern;
use alloc::{format, string::String, vec::Vec};
use content::content;
use field::{address, invalid, typed};
use routes::{route, RouteDefaults};
use serde::Deserialize;
use serde_json::Value;
use settlement::{order, settlement};

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
    /// Whether a paid answer carries `Server-Timing` with its phases (default: not).
    pub server_timing: bool,
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
    /// The `batchSettlement` table: `batch-settlement` offers beside `exact` (off without it).
    pub batch: Option<BatchConfig>,
    /// The site's public origin (`https://paper.example`): what Sign-In-With-X challenges name
    /// and sign-ins must match (never the request's `Host`). Sign-In-With-X is off without it.
    pub public_origin: Option<String>,
    /// How long a purchase can be restored with Sign-In-With-X, in days (0: never).
    pub restore_days: u64,
    /// The `receipts` table: how offers and receipts are signed (the offer-receipt extension,
    /// on when the binding has a receipt key; this table only tunes it).
    pub receipts: Option<ReceiptsConfig>,
}

/// Signed offers and receipts (x402 `specs/extensions/extension-offer-and-receipt.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptsConfig {
    /// Whether a receipt names the settlement's transaction (the reference's `includeTxHash`;
    /// default false: a receipt proves the purchase without linking it to a transfer).
    pub include_transaction: bool,
    /// How long a signed offer is valid, in seconds. Offers are signed once per half of it, per
    /// resource, so a 402 carries an offer valid for at least half of it.
    pub offer_validity_seconds: u64,
}

/// Default of `receipts.offerValiditySeconds`.
pub const DEFAULT_OFFER_VALIDITY_SECONDS: u64 = 600;

impl Default for ReceiptsConfig {
    fn default() -> Self {
        Self {
            include_transaction: false,
            offer_validity_seconds: DEFAULT_OFFER_VALIDITY_SECONDS,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawReceipts {
    #[serde(default)]
    include_transaction: Option<bool>,
    #[serde(default)]
    offer_validity_seconds: Option<u64>,
}

fn receipts(v: &Value) -> Result<ReceiptsConfig> {
    let raw: RawReceipts = typed(v, "receipts")?;
    let offer_validity_seconds = raw
        .offer_validity_seconds
        .unwrap_or(DEFAULT_OFFER_VALIDITY_SECONDS);
    if !(60..=86_400).contains(&offer_validity_seconds) {
        return Err(invalid(
            "receipts.offerValiditySeconds",
            "must be 60..=86400 (seconds)",
        ));
    }
    Ok(ReceiptsConfig {
        include_transaction: raw.include_transaction.unwrap_or(false),
        offer_validity_seconds,
    })
}

/// Default of `restoreDays`: a purchase can be restored for a year.
pub const DEFAULT_RESTORE_DAYS: u64 = 365;
/// The longest `restoreDays`.
pub const MAX_RESTORE_DAYS: u64 = 3650;

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
    server_timing: Option<bool>,
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
    #[serde(default)]
    batch_settlement: Option<Value>,
    #[serde(default)]
    payment_identifier: Option<String>,
    #[serde(default)]
    public_origin: Option<String>,
    #[serde(default)]
    restore_days: Option<u64>,
    #[serde(default)]
    receipts: Option<Value>,
}

/// The methods a route can price (`OPTIONS` never is: preflights are not gated).
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

impl Config {
    /// Parses and validates the configuration object.
    pub fn from_json(v: &Value) -> Result<Self> {
        let raw: RawConfig = typed(v, "X402")?;
        let batch = raw
            .batch_settlement
            .as_ref()
            .map(batch::batch)
            .transpose()?;
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
            batch: batch.as_ref(),
            payment_identifier: routes::PaymentIdentifier::parse(
                raw.payment_identifier.as_deref(),
                "paymentIdentifier",
                routes::PaymentIdentifier::Off,
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
        let facilitator_prefix = http::facilitator_prefix(raw.facilitator_prefix)?;
        let max_header_bytes = http::max_header_bytes(raw.max_request_header_bytes)?;
        let paid_cache_control = http::paid_cache_control(raw.paid_cache_control)?;
        let paywall_scripts = http::paywall_scripts(raw.paywall_scripts)?;
        let free_routes = routes::free_routes(raw.free_routes)?;
        let settlement = settlement(&raw.settlement)?;
        // Channels are watched on chain (a payer's timed withdrawal must be claimed ahead of),
        // and a held deposit is resolved by its receipt: both need a node.
        if batch.is_some() && settlement.rpc_url().is_none() {
            return Err(invalid(
                "settlement.rpcUrl",
                "required with batchSettlement (the channels are watched on chain for withdrawals, and held deposits are resolved by their receipts)",
            ));
        }
        let public_origin = raw
            .public_origin
            .map(|o| {
                if crate::wire::siwx::uri_origin(&o) == Some(o.as_str()) {
                    Ok(o)
                } else {
                    Err(invalid(
                        "publicOrigin",
                        format!("{o:?} is not an origin: http(s)://host[:port] in lower case, no path, no default port"),
                    ))
                }
            })
            .transpose()?;
        let restore_days = raw.restore_days.unwrap_or(DEFAULT_RESTORE_DAYS);
        if restore_days > MAX_RESTORE_DAYS {
            return Err(invalid(
                "restoreDays",
                format!("must be 0..={MAX_RESTORE_DAYS}"),
            ));
        }
        Ok(Self {
            routes,
            content: content(&raw.content, "content")?,
            settlement,
            facilitator_endpoints: raw.facilitator_endpoints.unwrap_or(false),
            server_timing: raw.server_timing.unwrap_or(false),
            open_facilitator: raw.open_facilitator.unwrap_or(false),
            facilitator_prefix,
            discovery: raw.discovery.unwrap_or(true),
            max_header_bytes,
            cors_allow_origin: http::cors_allow_origin(raw.cors_allow_origin),
            paid_cache_control,
            paywall_scripts,
            free_routes,
            batch,
            public_origin,
            restore_days,
            receipts: raw.receipts.as_ref().map(receipts).transpose()?,
        })
    }

    /// Whether a route offers Sign-In-With-X (restoring a purchase with a wallet signature):
    /// the public origin is configured, purchases are kept (`restoreDays` > 0) and the route
    /// hands out passes (a restore serves the content with a new pass). Access passes need
    /// their secret too, which the binding checks.
    pub fn sign_in_with_x(&self, route: &Route) -> bool {
        self.public_origin.is_some() && self.restore_days > 0 && route.pass_lifetime_seconds > 0
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
            .filter(|r| METHODS.iter().any(|m| r.pattern.matches(m, path)))
            .find_map(|r| r.content.as_ref())
            .unwrap_or(&self.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;
    use crate::evm::asset::LOCAL_TEST_USDC;
    use crate::wire::v2;
    use alloc::vec;
    use alloy_primitives::U256;
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
    fn public_origin_and_restore_days() {
        let c = Config::from_json(&base()).unwrap();
        assert_eq!(
            (c.public_origin.as_deref(), c.restore_days),
            (None, DEFAULT_RESTORE_DAYS)
        );
        let one = c.route_for("GET", "/paid/one.html").unwrap();
        assert!(!c.sign_in_with_x(one), "off without publicOrigin");
        let mut v = base();
        v["publicOrigin"] = json!("https://paper.example");
        v["restoreDays"] = json!(30);
        v["routes"][1]["passLifetimeSeconds"] = json!(0);
        let c = Config::from_json(&v).unwrap();
        assert_eq!(c.public_origin.as_deref(), Some("https://paper.example"));
        assert_eq!(c.restore_days, 30);
        assert!(c.sign_in_with_x(c.route_for("GET", "/paid/one.html").unwrap()));
        assert!(
            !c.sign_in_with_x(c.route_for("GET", "/paid/two.html").unwrap()),
            "a route without passes offers no sign-in"
        );
        for (key, bad) in [
            ("publicOrigin", json!("https://paper.example/")),
            ("publicOrigin", json!("https://Paper.example")),
            ("publicOrigin", json!("https://paper.example:443")),
            ("publicOrigin", json!("paper.example")),
            ("restoreDays", json!(MAX_RESTORE_DAYS + 1)),
        ] {
            let mut v = base();
            v[key] = bad;
            let e = Config::from_json(&v).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig);
            assert!(e.message().contains(key), "{e}");
        }
    }

    #[test]
    fn receipts_table() {
        assert_eq!(Config::from_json(&base()).unwrap().receipts, None);
        let mut v = base();
        v["receipts"] = json!({});
        assert_eq!(
            Config::from_json(&v).unwrap().receipts,
            Some(ReceiptsConfig::default())
        );
        v["receipts"] = json!({"includeTransaction": true, "offerValiditySeconds": 3600});
        assert_eq!(
            Config::from_json(&v).unwrap().receipts,
            Some(ReceiptsConfig {
                include_transaction: true,
                offer_validity_seconds: 3600
            })
        );
        for bad in [
            json!({"offerValiditySeconds": 59}),
            json!({"offerValiditySeconds": 86_401}),
            json!({"includeTransaction": "yes"}),
            json!({"includeTxHash": true}),
            json!(true),
        ] {
            v["receipts"] = bad;
            let e = Config::from_json(&v).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig);
            assert!(e.message().contains("receipts"), "{e}");
        }
    }

    #[test]
    fn payment_flow_upfront() {
        let mut v = base();
        v["routes"][0]["paymentFlow"] = json!("upfront");
        v["routes"][1]["paymentFlow"] = json!("authorization");
        v["routes"][2]["paymentFlow"] = json!("upfront");
        v["routes"][2]
            .as_object_mut()
            .unwrap()
            .remove("settlementOrder");
        let c = Config::from_json(&v).unwrap();
        let one = c.route_for("GET", "/paid/one.html").unwrap();
        assert_eq!(one.order, SettlementOrder::Upfront);
        let flow = |r: &Route| {
            r.requirements_v2()
                .iter()
                .map(|q| q.extra.as_ref().and_then(|e| e.get("paymentFlow")).cloned())
                .collect::<Vec<_>>()
        };
        assert_eq!(flow(one), vec![Some(json!("upfront"))]);
        // The default flow is never emitted.
        let two = c.route_for("GET", "/paid/two.html").unwrap();
        assert_eq!(two.order, SettlementOrder::BeforeResponse);
        assert_eq!(flow(two), vec![None]);
        // v1 offers (which predate flows) carry none.
        let api = c.route_for("GET", "/api/q").unwrap();
        let v1 = api
            .payment_required_v1("http://x/api/q", "e".into())
            .unwrap();
        assert!(v1.accepts.iter().all(|a| a
            .extra
            .as_ref()
            .is_none_or(|e| e.get("paymentFlow").is_none())));
        for (flow, order, why) in [
            (
                json!("escrow"),
                None,
                "is not \"authorization\" or \"upfront\"",
            ),
            (json!("upfront"), Some("background"), "choose one"),
        ] {
            let mut v = base();
            v["routes"][0]["paymentFlow"] = flow;
            if let Some(o) = order {
                v["routes"][0]["settlementOrder"] = json!(o);
            }
            let e = Config::from_json(&v).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig);
            assert!(e.message().contains("routes[0].paymentFlow"), "{e}");
            assert!(e.message().contains(why), "{e}");
        }
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
    fn payment_identifier_declared_per_route() {
        let c = Config::from_json(&base()).unwrap();
        let one = c.route_for("GET", "/paid/one.html").unwrap();
        assert_eq!(one.payment_identifier, PaymentIdentifier::Off);
        assert!(one
            .payment_required("https://x/paid/one.html", None)
            .extensions
            .is_none());
        let mut v = base();
        v["paymentIdentifier"] = json!("optional");
        v["routes"][0]["paymentIdentifier"] = json!("required");
        let c = Config::from_json(&v).unwrap();
        let info = |path: &str| {
            let r = c.route_for("GET", path).unwrap();
            r.payment_required("https://x/", None).extensions.unwrap()
                [crate::wire::payment_identifier::KEY]["info"]
                .clone()
        };
        assert_eq!(info("/paid/one.html"), json!({"required": true}));
        assert_eq!(info("/paid/other.html"), json!({"required": false}));
        for bad in [json!("yes"), json!(true)] {
            let mut v = base();
            v["routes"][1]["paymentIdentifier"] = bad;
            let e = Config::from_json(&v).unwrap_err();
            assert!(e.message().contains("routes[1]"), "{e}");
        }
    }

    #[test]
    fn relayer_pool_settings() {
        let c = Config::from_json(&base()).unwrap();
        let Settlement::SelfSettle {
            relayer_keys,
            max_in_flight_per_key,
            replace_after_seconds,
            ..
        } = c.settlement
        else {
            panic!("self")
        };
        assert_eq!(
            (relayer_keys, max_in_flight_per_key, replace_after_seconds),
            (
                1,
                DEFAULT_MAX_IN_FLIGHT_PER_KEY,
                DEFAULT_REPLACE_AFTER_SECONDS
            )
        );
        assert_eq!(
            c.settlement.bound_seconds(),
            DEFAULT_RECEIPT_TIMEOUT_SECONDS
        );
        let mut v = base();
        v["settlement"]["relayerKeys"] = json!(3);
        v["settlement"]["maxInFlightPerKey"] = json!(4);
        v["settlement"]["replaceAfterSeconds"] = json!(30);
        v["settlement"]["receiptTimeoutSeconds"] = json!(7);
        let c = Config::from_json(&v).unwrap();
        assert!(matches!(
            c.settlement,
            Settlement::SelfSettle {
                relayer_keys: 3,
                max_in_flight_per_key: 4,
                replace_after_seconds: 30,
                ..
            }
        ));
        assert_eq!(c.settlement.bound_seconds(), 7);
        for (key, bad) in [
            ("relayerKeys", json!(0)),
            ("relayerKeys", json!(MAX_RELAYER_KEYS + 1)),
            ("maxInFlightPerKey", json!(0)),
            ("maxInFlightPerKey", json!(1025)),
            ("replaceAfterSeconds", json!(0)),
            ("relayerKeys", json!("3")),
        ] {
            let mut v = base();
            v["settlement"][key] = bad.clone();
            let e = Config::from_json(&v).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig, "{key} = {bad}");
            assert!(e.message().contains("settlement"), "{key} = {bad}: {e}");
        }
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
