//! What the facilitator and discovery endpoints answer from the configuration: which offers
//! are this Worker's own (the only ones a closed facilitator settles), `GET /supported` and
//! `GET /discovery/resources` (x402-foundation/x402 `specs/x402-specification-v2.md` §7.3
//! "GET /supported" and §8 "Discovery API").

use super::batch::extra_covers;
use super::routes::Route;
use super::Config;
use crate::evm::address::checksummed;
use crate::scheme::batch::SCHEME as BATCH_SCHEME;
use crate::scheme::exact::types::SCHEME;
use crate::wire::{
    v1, v2, DiscoveryItem, DiscoveryResponse, JsonMap, Pagination, SupportedKind, SupportedResponse,
};
use alloc::{
    collections::BTreeMap,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};
use alloy_primitives::Address;
use serde_json::Value;

impl Config {
    /// The offer of one of this Worker's routes that equals `r` (scheme, network, asset, payTo,
    /// amount and `maxTimeoutSeconds`; `extra`'s EIP-712 name and version when given; for a
    /// `batch-settlement` offer every field of its `extra`, as [`Config::batch_offer`] matches):
    /// the requirements the facilitator endpoints accept unless [`Config::open_facilitator`].
    pub fn own_offer_v2(&self, r: &v2::PaymentRequirements) -> Option<&Route> {
        self.routes.iter().find(|route| {
            route.requirements_v2().iter().any(|o| {
                o.scheme == r.scheme
                    && o.network == r.network
                    && o.amount == r.amount
                    && o.asset.eq_ignore_ascii_case(&r.asset)
                    && o.pay_to.eq_ignore_ascii_case(&r.pay_to)
                    && o.max_timeout_seconds == r.max_timeout_seconds
                    && if o.scheme == BATCH_SCHEME {
                        extra_covers(o.extra.as_ref(), r.extra.as_ref())
                    } else {
                        same_domain(o.extra.as_ref(), r.extra.as_ref())
                    }
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

    /// `GET /supported`: every (version, scheme, network) the routes accept: `exact` in v2 and
    /// (with a v1 network name) v1, and `batch-settlement` (v2, `extra.receiverAuthorizer`) on the
    /// networks of batch routes once the receiver authorizer is known.
    pub fn supported(&self, signer: Option<Address>) -> SupportedResponse {
        let mut kinds: Vec<SupportedKind> = Vec::new();
        let mut push = |version: u8, scheme: &str, network: String, extra: Option<JsonMap>| {
            if !kinds
                .iter()
                .any(|k| k.x402_version == version && k.scheme == scheme && k.network == network)
            {
                kinds.push(SupportedKind {
                    x402_version: version,
                    scheme: scheme.into(),
                    network,
                    extra,
                });
            }
        };
        for route in &self.routes {
            for o in &route.options {
                push(2, SCHEME, o.network.to_string(), None);
                if let Some(name) = o.network.v1_name() {
                    push(1, SCHEME, name.into(), None);
                }
                let authorizer = o
                    .batch
                    .as_ref()
                    .filter(|_| route.batch)
                    .and_then(|b| b.receiver_authorizer);
                if let Some(a) = authorizer {
                    let mut extra = JsonMap::new();
                    extra.insert("receiverAuthorizer".into(), checksummed(&a).into());
                    push(2, BATCH_SCHEME, o.network.to_string(), Some(extra));
                }
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
