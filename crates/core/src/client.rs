//! The paying side: choose a requirement from a challenge under a [`Policy`], build the
//! EIP-3009 authorization and the typed data the wallet signs, and assemble the payment
//! payload (`x402-protocol.md` §6 and §10). [`Budget`] tracks spending per origin and period.
//!
//! Nothing here reads the clock or randomness: `now` and the `nonce` are parameters.

use crate::encoding::decimal_u256;
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
use crate::evm::asset::find_asset;
use crate::evm::money::format_amount;
use crate::evm::network::Network;
use crate::scheme::exact::types::ExactEvmRequirement;
use crate::wire::{AnyPaymentRequired, V1, V2};
use alloc::{string::String, vec::Vec};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// Default maximum per payment: 100000 millionths of a token, $0.10 of a stablecoin (scaled
/// to each asset's decimals, see [`Policy::max_amount`]).
pub const DEFAULT_MAX_AMOUNT: u64 = 100_000;

/// The decimals [`Policy::max_amount`] (and a budget's amounts) are written in: millionths of a
/// token, the atomic unit of USDC.
pub const CAP_DECIMALS: u8 = 6;

/// Default bound on a requirement's `maxTimeoutSeconds`: what this client signs is valid for at
/// most an hour.
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 3600;

/// An asset the client agrees to pay with, optionally with its own cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowedAsset {
    /// Network of the asset.
    pub network: Network,
    /// Token contract (string so configs stay JSON-friendly; parsed when used).
    pub asset: String,
    /// Cap per payment in the asset's own atomic units, instead of the policy's `maxAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_u256")]
    pub max_amount: Option<U256>,
    /// Decimals of the asset's atomic unit. Required for an asset that is not in
    /// [`crate::evm::asset::KNOWN_ASSETS`] (the table wins for one that is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

/// What the client is willing to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// Maximum per payment (`None`: no cap), in millionths of a token ([`CAP_DECIMALS`]) and
    /// scaled to each asset's decimals: the default, 100000, is 0.10 of any token (100000 units
    /// of USDC, 10^17 of an 18-decimal token, none of a 0-decimal one).
    #[serde(with = "opt_u256")]
    pub max_amount: Option<U256>,
    /// Networks allowed (`None`: any EVM network).
    pub allowed_networks: Option<Vec<Network>>,
    /// Assets allowed. `None`: the known stablecoins ([`crate::evm::asset::KNOWN_ASSETS`]); a list:
    /// only those, and an asset missing from the table only with its `decimals`.
    pub allowed_assets: Option<Vec<AllowedAsset>>,
    /// Networks to prefer, best first; otherwise the server's order is kept.
    pub preferred_networks: Vec<Network>,
    /// Longest `maxTimeoutSeconds` accepted (the authorization's validity window); longer offers
    /// are refused with `invalid_payment_requirements`. Default [`DEFAULT_MAX_TIMEOUT_SECONDS`].
    pub max_timeout_seconds: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_amount: Some(U256::from(DEFAULT_MAX_AMOUNT)),
            allowed_networks: None,
            allowed_assets: None,
            preferred_networks: Vec::new(),
            max_timeout_seconds: DEFAULT_MAX_TIMEOUT_SECONDS,
        }
    }
}

/// `amount` written with `from` decimals, rewritten with `to` decimals: divided by ten per
/// decimal less (rounded up when `up` and a dropped digit is not zero) or multiplied by ten per
/// decimal more (`U256::MAX` when too large). On 32-bit halves of the limbs, as
/// [`decimal_u256`] does, so the browser bundle needs no uint256 division.
pub fn rescale(amount: U256, from: u8, to: u8, up: bool) -> U256 {
    let mut limbs = *amount.as_limbs();
    let mut dropped = false;
    for _ in to..from {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let hi = (rem << 32) | (*limb >> 32);
            let lo = ((hi % 10) << 32) | (*limb & 0xffff_ffff);
            *limb = ((hi / 10) << 32) | (lo / 10);
            rem = lo % 10;
        }
        dropped |= rem != 0;
    }
    for _ in from..to {
        let mut carry = 0u64;
        for limb in &mut limbs {
            let lo = (*limb & 0xffff_ffff) * 10 + carry;
            let hi = (*limb >> 32) * 10 + (lo >> 32);
            *limb = (hi << 32) | (lo & 0xffff_ffff);
            carry = hi >> 32;
        }
        if carry != 0 {
            return U256::MAX;
        }
    }
    // After a division there is room for one more.
    if up && dropped {
        for limb in &mut limbs {
            *limb = limb.wrapping_add(1);
            if *limb != 0 {
                break;
            }
        }
    }
    U256::from_limbs(limbs)
}

mod opt_u256 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &Option<U256>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        match v {
            Some(v) => decimal_u256::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<U256>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| decimal_u256::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One payable option of a challenge, parsed for the exact EVM scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Index in the challenge's `accepts`.
    pub index: usize,
    /// The parsed requirement.
    pub requirement: ExactEvmRequirement,
    /// Resource URL.
    pub resource: String,
    /// Resource description (may be empty).
    pub description: String,
}

impl AnyPaymentRequired {
    /// The protocol version number.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1(_) => V1::NUMBER,
            Self::V2(_) => V2::NUMBER,
        }
    }

    /// Every entry of `accepts`, parsed as an exact EVM offer or with the reason it is not one.
    pub fn offers(&self) -> Vec<Result<Offer>> {
        match self {
            Self::V2(c) => c
                .accepts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    Ok(Offer {
                        index,
                        requirement: ExactEvmRequirement::from_v2(r)?,
                        resource: c.resource.url.clone(),
                        description: c.resource.description.clone().unwrap_or_default(),
                    })
                })
                .collect(),
            Self::V1(c) => c
                .accepts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    Ok(Offer {
                        index,
                        requirement: ExactEvmRequirement::from_v1(r)?,
                        resource: r.resource.clone(),
                        description: r.description.clone(),
                    })
                })
                .collect(),
        }
    }
}

impl Policy {
    /// The decimals of an offer's asset: from the known table, else from this policy's
    /// `allowedAssets` entry for it; `None` when neither knows them.
    pub fn decimals(&self, offer: &ExactEvmRequirement) -> Option<u8> {
        find_asset(&offer.network, &offer.asset)
            .map(|a| a.decimals)
            .or_else(|| self.allowed(offer).and_then(|a| a.decimals))
    }

    /// This policy's `allowedAssets` entry for an offer's asset.
    fn allowed(&self, offer: &ExactEvmRequirement) -> Option<&AllowedAsset> {
        self.allowed_assets.as_ref()?.iter().find(|a| {
            a.network == offer.network && parse_address(&a.asset).is_ok_and(|x| x == offer.asset)
        })
    }

    /// Why this policy refuses an offer, or `None` if it accepts it.
    pub fn refusal(&self, offer: &ExactEvmRequirement) -> Option<Error> {
        // Each reason is a constant at its `Error::new`: the browser bundle then links only
        // these codes, not the table of every code.
        if let Some(nets) = &self.allowed_networks {
            if !nets.contains(&offer.network) {
                return Some(Error::new(
                    Reason::NoAcceptableRequirement,
                    cat(&["network ", offer.network.as_str(), " is not allowed"]),
                ));
            }
        }
        if offer.max_timeout_seconds > self.max_timeout_seconds {
            return Some(Error::new(
                Reason::InvalidPaymentRequirements,
                cat(&[
                    "maxTimeoutSeconds ",
                    &dec(offer.max_timeout_seconds),
                    " is above the limit ",
                    &dec(self.max_timeout_seconds),
                ]),
            ));
        }
        let rule = self.allowed(offer);
        let decimals = find_asset(&offer.network, &offer.asset)
            .map(|a| a.decimals)
            .or_else(|| rule.and_then(|a| a.decimals));
        // Not in the list when there is one; not in the table nor listed with its decimals.
        let (Some(decimals), false) = (decimals, self.allowed_assets.is_some() && rule.is_none())
        else {
            return Some(Error::new(
                Reason::NoAcceptableRequirement,
                cat(&[
                    "asset ",
                    &checksummed(&offer.asset),
                    " on ",
                    offer.network.as_str(),
                    " is not allowed (not a known stablecoin, nor in allowedAssets with its decimals)",
                ]),
            ));
        };
        let cap = match rule.and_then(|r| r.max_amount) {
            Some(own) => Some(own),
            None => self
                .max_amount
                .map(|m| rescale(m, CAP_DECIMALS, decimals, false)),
        };
        match cap {
            Some(cap) if offer.amount > cap => Some(Error::new(
                Reason::OverMax,
                cat(&[
                    "price ",
                    &decimal_u256::format(&offer.amount),
                    " is above the maximum per payment ",
                    &decimal_u256::format(&cap),
                    " (atomic units of ",
                    &checksummed(&offer.asset),
                    ")",
                ]),
            )),
            _ => None,
        }
    }

    /// Chooses the offer to pay: the first acceptable one on the most preferred network, else
    /// the first acceptable one in the server's order.
    ///
    /// Errors: `over_max` when price caps alone refused every offer,
    /// `invalid_payment_requirements` when the offers' terms alone did (a `maxTimeoutSeconds`
    /// above the policy's bound, malformed addresses), `no_acceptable_requirement` otherwise (the
    /// message lists each refusal).
    pub fn select(&self, challenge: &AnyPaymentRequired) -> Result<Offer> {
        self.select_from(challenge.offers())
    }

    /// [`Policy::select`] over parsed offers (as [`crate::challenge::Challenge`] has them).
    pub fn select_from(&self, offers: impl IntoIterator<Item = Result<Offer>>) -> Result<Offer> {
        let offers: Vec<Result<Offer>> = offers.into_iter().collect();
        self.select_in(&offers)
    }

    /// [`Policy::select_from`] over a slice: clones only the chosen offer.
    pub(crate) fn select_in(&self, offers: &[Result<Offer>]) -> Result<Offer> {
        let mut best: Option<(usize, &Offer)> = None;
        // The refusals, as "code: message; code: message…" (`{e}` of each).
        let mut why = String::from("no payment requirement is acceptable: ");
        let mut refusals = 0usize;
        // The first refusal, while every refusal has its reason.
        let mut sole: Option<Error> = None;
        for offer in offers {
            let refused;
            let e = match offer {
                Ok(o) => match self.refusal(&o.requirement) {
                    None => {
                        let rank = self
                            .preferred_networks
                            .iter()
                            .position(|n| *n == o.requirement.network)
                            .unwrap_or(usize::MAX);
                        if best.is_none_or(|(r, _)| rank < r) {
                            best = Some((rank, o));
                        }
                        continue;
                    }
                    Some(e) => {
                        refused = e;
                        &refused
                    }
                },
                Err(e) => e,
            };
            if refusals > 0 {
                why.push_str("; ");
            }
            why.push_str(e.code());
            why.push_str(": ");
            why.push_str(e.message());
            if refusals == 0 {
                sole = Some(e.clone());
            } else if sole.as_ref().is_some_and(|s| s.reason() != e.reason()) {
                sole = None;
            }
            refusals += 1;
        }
        if let Some((_, best)) = best {
            return Ok(best.clone());
        }
        // Caps alone, or unacceptable terms alone (a time bound, malformed addresses), refused
        // every offer: say which, with its own code.
        Err(sole
            .filter(|e| {
                matches!(
                    e.reason(),
                    Reason::OverMax | Reason::InvalidPaymentRequirements
                )
            })
            .unwrap_or_else(|| Error::new(Reason::NoAcceptableRequirement, why)))
    }
}

/// Spending of one origin in the current period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spent {
    /// Start of the period (unix seconds, a multiple of the period length).
    pub period_start: u64,
    /// Atomic amount spent in it.
    #[serde(with = "decimal_u256")]
    pub amount: U256,
}

/// A spending limit per origin per fixed period (for example per day), as a plain value the
/// browser can persist as JSON. Time is a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Atomic amount allowed per origin per period.
    #[serde(with = "decimal_u256")]
    pub limit: U256,
    /// Period length in seconds (86400 for a day).
    pub period_seconds: u64,
    /// Spending so far, by origin: one entry per origin, sorted by origin (serialized as the
    /// JSON object `{origin: spent}`). A list, not a map: a budget holds a few origins, and the
    /// browser bundle then needs no B-tree code.
    #[serde(default, with = "spent_map")]
    pub spent: Vec<(String, Spent)>,
}

impl Budget {
    /// A budget of `limit` atomic units per origin per `period_seconds`.
    pub fn new(limit: U256, period_seconds: u64) -> Self {
        Self {
            limit,
            period_seconds: period_seconds.max(1),
            spent: Vec::new(),
        }
    }

    fn period_start(&self, now: u64) -> u64 {
        let p = self.period_seconds.max(1);
        now - now % p
    }

    /// Amount spent by an origin in the period containing `now`.
    pub fn spent(&self, origin: &str, now: u64) -> U256 {
        let start = self.period_start(now);
        self.spent
            .iter()
            .find(|(o, s)| o == origin && s.period_start == start)
            .map_or(U256::ZERO, |(_, s)| s.amount)
    }

    /// What an origin may still spend in the current period.
    pub fn remaining(&self, origin: &str, now: u64) -> U256 {
        self.limit.saturating_sub(self.spent(origin, now))
    }

    /// Checks that paying `amount` to `origin` at `now` stays within the budget
    /// (error: `over_budget`). Changes nothing.
    pub fn check(&self, origin: &str, amount: U256, now: u64, decimals: u8) -> Result<()> {
        let remaining = self.remaining(origin, now);
        if amount > remaining {
            return Err(Error::new(
                Reason::OverBudget,
                cat(&[
                    "paying ",
                    &format_amount(amount, decimals),
                    " would exceed the budget for ",
                    origin,
                    ": ",
                    &format_amount(remaining, decimals),
                    " of ",
                    &format_amount(self.limit, decimals),
                    " left this period",
                ]),
            ));
        }
        Ok(())
    }

    /// The budget as JSON text, without serde (the browser bundle): the same JSON the serde
    /// `Serialize` writes, `{"limit":"…","periodSeconds":…,"spent":{origin:{"periodStart":…,"amount":"…"}}}`.
    pub fn to_json_text(&self) -> String {
        use crate::encoding::json::{write_key, write_str};
        let mut out = String::from("{\"limit\":");
        write_str(&mut out, &decimal_u256::format(&self.limit));
        out.push_str(",\"periodSeconds\":");
        out.push_str(&dec(self.period_seconds));
        out.push_str(",\"spent\":{");
        for (i, (origin, s)) in self.spent.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_key(&mut out, origin);
            out.push_str("{\"periodStart\":");
            out.push_str(&dec(s.period_start));
            out.push_str(",\"amount\":");
            write_str(&mut out, &decimal_u256::format(&s.amount));
            out.push('}');
        }
        out.push_str("}}");
        out
    }

    /// Reads [`Budget::to_json_text`] back, without serde; `None` when the text is not a budget
    /// (a corrupted or foreign storage entry is ignored, never trusted in part).
    pub fn from_json_text(text: &str) -> Option<Self> {
        let root = crate::encoding::json::parse(text).ok()?;
        let uint = |v: &crate::encoding::json::Value<'_>| {
            v.as_str().and_then(|s| decimal_u256::parse(s).ok())
        };
        let limit = uint(root.get("limit").ok()??)?;
        let period_seconds = root.get("periodSeconds").ok()??.as_u64()?;
        let mut spent = Vec::new();
        match root.get("spent").ok()? {
            None => {}
            Some(v) => {
                let crate::encoding::json::Kind::Object(members) = &v.kind else {
                    return None;
                };
                for (origin, entry) in members {
                    let period_start = entry.get("periodStart").ok()??.as_u64()?;
                    let amount = uint(entry.get("amount").ok()??)?;
                    set_spent(
                        &mut spent,
                        origin,
                        Spent {
                            period_start,
                            amount,
                        },
                    );
                }
            }
        }
        Some(Self {
            limit,
            period_seconds,
            spent,
        })
    }

    /// Records a payment (after it was signed). Checks first, so a refused payment leaves the
    /// budget unchanged.
    pub fn record(&mut self, origin: &str, amount: U256, now: u64, decimals: u8) -> Result<()> {
        self.check(origin, amount, now, decimals)?;
        let start = self.period_start(now);
        let spent = self.spent(origin, now) + amount;
        set_spent(
            &mut self.spent,
            origin,
            Spent {
                period_start: start,
                amount: spent,
            },
        );
        Ok(())
    }
}

/// Sets the spending of an origin, keeping the list sorted by origin with one entry per origin
/// (as a map would).
fn set_spent(list: &mut Vec<(String, Spent)>, origin: &str, spent: Spent) {
    if let Some((_, s)) = list.iter_mut().find(|(o, _)| o == origin) {
        *s = spent;
        return;
    }
    let at = list
        .iter()
        .position(|(o, _)| o.as_str() > origin)
        .unwrap_or(list.len());
    list.insert(at, (origin.into(), spent));
}

/// Serde for [`Budget::spent`]: the JSON object `{origin: spent}` (as a `BTreeMap` is).
mod spent_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        list: &[(String, Spent)],
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.collect_map(list.iter().map(|(o, spent)| (o, spent)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Vec<(String, Spent)>, D::Error> {
        let map = alloc::collections::BTreeMap::<String, Spent>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}
