//! The priced routes: a method and path pattern, the ways to pay for it (network, asset,
//! amount or `"$0.01"` price, payTo, the token's EIP-712 domain) and its terms, and the x402
//! requirements and challenges a route issues (x402-foundation/x402
//! `specs/x402-specification-v2.md` §5.1 "PaymentRequired Schema").

use super::batch::{option_terms, BatchConfig, OptionBatch};
use super::content::{content, ContentSource};
use super::field::{address, invalid, typed};
use super::settlement::{order, SettlementOrder};
use crate::encoding::decimal_u256;
use crate::error::{Error, Result};
use crate::evm::asset::default_asset;
use crate::evm::money::parse_price;
use crate::evm::network::Network;
use crate::gate::path::Pattern;
use crate::scheme::batch::SCHEME as BATCH_SCHEME;
use crate::scheme::exact::types::SCHEME;
use crate::wire::{v1, v2, JsonMap, V1, V2};
use alloc::{format, string::String, vec::Vec};
use alloy_primitives::{Address, U256};
use serde::Deserialize;
use serde_json::Value;

/// Default `maxTimeoutSeconds` (the reference server's).
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 300;
/// Default access-pass lifetime: one hour.
pub const DEFAULT_PASS_LIFETIME_SECONDS: u64 = 3600;
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
    /// The option's `batch-settlement` terms when its route offers the scheme.
    pub batch: Option<OptionBatch>,
}

/// A route's use of the `payment-identifier` extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentIdentifier {
    /// Not declared (ids sent anyway are still honoured).
    #[default]
    Off,
    /// Declared with `required: false`.
    Optional,
    /// Declared with `required: true`: a payment without an id is refused (400).
    Required,
}

impl PaymentIdentifier {
    pub(super) fn parse(v: Option<&str>, field: &str, default: Self) -> Result<Self> {
        match v {
            None => Ok(default),
            Some("off") => Ok(Self::Off),
            Some("optional") => Ok(Self::Optional),
            Some("required") => Ok(Self::Required),
            Some(o) => Err(invalid(
                field,
                format!("{o:?} is not \"off\", \"optional\" or \"required\""),
            )),
        }
    }
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
    /// Whether the route declares the `payment-identifier` extension, and whether it requires
    /// an id ([`crate::wire::payment_identifier`]).
    pub payment_identifier: PaymentIdentifier,
    /// Whether the route offers `batch-settlement` beside `exact` (the top-level
    /// `batchSettlement` table is present and the route does not say `batchSettlement = false`);
    /// every option then carries its [`PaymentOption::batch`] terms.
    pub batch: bool,
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
    #[serde(default)]
    batch_settlement: Option<bool>,
    #[serde(default)]
    payment_identifier: Option<String>,
    #[serde(default)]
    payment_flow: Option<String>,
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

pub(super) struct RouteDefaults<'a> {
    pub(super) pay_to: Option<&'a str>,
    pub(super) networks: Option<&'a Value>,
    pub(super) max_timeout_seconds: u64,
    pub(super) pass_lifetime_seconds: u64,
    pub(super) order: SettlementOrder,
    pub(super) batch: Option<&'a BatchConfig>,
    pub(super) payment_identifier: PaymentIdentifier,
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

pub(super) fn route(v: &Value, i: usize, d: &RouteDefaults<'_>) -> Result<Route> {
    let field = format!("routes[{i}]");
    let raw: RawRoute = typed(v, &field)?;
    let pattern = Pattern::parse(&raw.pattern)
        .map_err(|e| invalid(&format!("{field}.pattern"), e.message()))?;
    let batch = match (raw.batch_settlement, d.batch) {
        (Some(true), None) => {
            return Err(invalid(
                &format!("{field}.batchSettlement"),
                "true needs the top-level batchSettlement table",
            ))
        }
        (Some(false), _) | (None, None) => None,
        (_, Some(b)) => Some(b),
    };
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
        let decimals = n.decimals.or_else(|| table.map(|k| k.decimals));
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
            (Some(a), None) => {
                decimal_u256::parse(a).map_err(|e| invalid(&format!("{field}.amount"), e))?
            }
            (None, Some(p)) => {
                let decimals = decimals.ok_or_else(|| {
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
        let pay_to = address(pay_to_text, &format!("{field}.payTo"))?;
        let batch = batch
            .map(|b| option_terms(b, amount, decimals, &f))
            .transpose()?;
        options.push(PaymentOption {
            network,
            asset,
            amount,
            pay_to,
            eip712_name,
            eip712_version,
            batch,
        });
    }
    let max_timeout_seconds = raw.max_timeout_seconds.unwrap_or(d.max_timeout_seconds);
    if max_timeout_seconds == 0 || max_timeout_seconds > 86_400 {
        return Err(invalid(
            &format!("{field}.maxTimeoutSeconds"),
            "must be 1..=86400",
        ));
    }
    let settlement_order = order(
        raw.settlement_order.as_deref(),
        &format!("{field}.settlementOrder"),
        d.order,
    )?;
    // The x402 payment flow (`extra.paymentFlow`): `authorization` (the default, never
    // emitted) keeps the settlement order; `upfront` settles before the content.
    let order = match raw.payment_flow.as_deref() {
        None | Some(PAYMENT_FLOW_AUTHORIZATION) => settlement_order,
        Some(PAYMENT_FLOW_UPFRONT) if raw.settlement_order.as_deref() == Some("background") => {
            return Err(invalid(
                &format!("{field}.paymentFlow"),
                "\"upfront\" settles before the content, settlementOrder \"background\" after it: choose one",
            ))
        }
        Some(PAYMENT_FLOW_UPFRONT) => SettlementOrder::Upfront,
        Some(other) => {
            return Err(invalid(
                &format!("{field}.paymentFlow"),
                format!("{other:?} is not \"authorization\" or \"upfront\""),
            ))
        }
    };
    Ok(Route {
        pattern,
        options,
        description: raw.description.unwrap_or_default(),
        mime_type: raw.mime_type.unwrap_or_default(),
        max_timeout_seconds,
        order,
        pass_lifetime_seconds: raw.pass_lifetime_seconds.unwrap_or(d.pass_lifetime_seconds),
        content: raw
            .content
            .as_ref()
            .map(|c| content(c, &format!("{field}.content")))
            .transpose()?,
        batch: batch.is_some(),
        payment_identifier: PaymentIdentifier::parse(
            raw.payment_identifier.as_deref(),
            &format!("{field}.paymentIdentifier"),
            d.payment_identifier,
        )?,
    })
}

/// The `freeRoutes` patterns: served without payment although a priced route covers the path
/// for other methods.
pub(super) fn free_routes(patterns: Option<Vec<String>>) -> Result<Vec<Pattern>> {
    patterns
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Pattern::parse(p).map_err(|e| invalid(&format!("freeRoutes[{i}]"), e.message()))
        })
        .collect()
}

/// `extra.paymentFlow` of the default flow (verify, content, settle): never emitted.
const PAYMENT_FLOW_AUTHORIZATION: &str = "authorization";
/// `extra.paymentFlow` of a route that settles before fetching its content.
const PAYMENT_FLOW_UPFRONT: &str = "upfront";

impl Route {
    fn extra(o: &PaymentOption) -> JsonMap {
        let mut extra = JsonMap::new();
        extra.insert("name".into(), Value::String(o.eip712_name.clone()));
        extra.insert("version".into(), Value::String(o.eip712_version.clone()));
        extra
    }

    /// The `exact` offer's v2 `extra`: the token's EIP-712 domain, and `paymentFlow` when the
    /// route's flow is not the default.
    fn exact_extra_v2(&self, o: &PaymentOption) -> JsonMap {
        let mut extra = Self::extra(o);
        if self.order == SettlementOrder::Upfront {
            extra.insert(
                "paymentFlow".into(),
                Value::String(PAYMENT_FLOW_UPFRONT.into()),
            );
        }
        extra
    }

    /// The v2 `accepts` list: per option its `exact` entry, then (when the route offers it and
    /// the receiver authorizer is known) its `batch-settlement` entry with the same network,
    /// asset, amount, payTo and `maxTimeoutSeconds` and the scheme's `extra` (EIP-712 domain,
    /// `receiverAuthorizer`, `withdrawDelay`, `minDeposit`). `exact` comes first, so clients that
    /// only know it keep paying with it.
    pub fn requirements_v2(&self) -> Vec<v2::PaymentRequirements> {
        let mut out = Vec::with_capacity(self.options.len() * 2);
        for o in &self.options {
            let entry = |scheme: &str, extra: JsonMap| v2::PaymentRequirements {
                scheme: scheme.into(),
                network: o.network.clone(),
                amount: o.amount,
                asset: o.asset.to_checksum(None),
                pay_to: o.pay_to.to_checksum(None),
                max_timeout_seconds: self.max_timeout_seconds,
                extra: Some(extra),
                other: JsonMap::new(),
            };
            out.push(entry(SCHEME, self.exact_extra_v2(o)));
            let batch_extra = o
                .batch
                .as_ref()
                .filter(|_| self.batch)
                .and_then(|b| b.extra(&o.eip712_name, &o.eip712_version));
            if let Some(extra) = batch_extra {
                out.push(entry(BATCH_SCHEME, extra));
            }
        }
        out
    }

    /// The v1 `accepts` list: the options whose network has a v1 name (`exact` only:
    /// `batch-settlement` is a v2 scheme).
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

    /// The extensions the route declares in its 402.
    pub fn extensions(&self) -> Option<JsonMap> {
        let required = match self.payment_identifier {
            PaymentIdentifier::Off => return None,
            PaymentIdentifier::Optional => false,
            PaymentIdentifier::Required => true,
        };
        let mut m = JsonMap::new();
        m.insert(
            crate::wire::payment_identifier::KEY.into(),
            crate::wire::payment_identifier::declaration(required),
        );
        Some(m)
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
            x402_version: V2,
            error,
            resource,
            accepts: self.requirements_v2(),
            extensions: self.extensions(),
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
            x402_version: V1,
            error: Some(error),
            accepts,
        })
    }
}
