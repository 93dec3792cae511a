//! What the client is willing to pay, and choosing the offer to pay under it: caps per payment
//! (scaled to each asset's decimals), allowed networks and assets, preferred networks, a bound
//! on the authorization's validity window. Refusals carry reason codes (`over_max`,
//! `no_acceptable_requirement`, `invalid_payment_requirements`).

use super::offer::Offer;
use crate::encoding::decimal_u256;
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
use crate::evm::asset::find_asset;
use crate::evm::network::Network;
use crate::scheme::exact::types::ExactEvmRequirement;
use crate::wire::AnyPaymentRequired;
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
                    " is not allowed (not a known stablecoin nor in allowedAssets with decimals)",
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

    /// [`Policy::select`] over parsed offers (as [`crate::client::challenge::Challenge`] has them).
    pub fn select_from(&self, offers: impl IntoIterator<Item = Result<Offer>>) -> Result<Offer> {
        let offers: Vec<Result<Offer>> = offers.into_iter().collect();
        self.select_in(&offers)
    }

    /// [`Policy::select_from`] over a slice: clones only the chosen offer.
    pub(crate) fn select_in(&self, offers: &[Result<Offer>]) -> Result<Offer> {
        let mut best: Option<((bool, usize), &Offer)> = None;
        // The refusals, as "code: message; code: message…" (`{e}` of each).
        let mut why = String::from("no payment requirement is acceptable: ");
        let mut refusals = 0usize;
        // The first refusal while every refusal has its reason (`Some(None)`: mixed reasons).
        let mut sole: Option<Option<Error>> = None;
        for offer in offers {
            let refused;
            let e = match offer {
                Ok(o) => match self.refusal(&o.requirement) {
                    None => {
                        // `authorization` flows first (x402 v2 `extra.paymentFlow`: the payer's
                        // default), then the preferred networks.
                        let rank = (
                            !o.authorization_flow,
                            self.preferred_networks
                                .iter()
                                .position(|n| *n == o.requirement.network)
                                .unwrap_or(usize::MAX),
                        );
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
            refusals += 1;
            // An offer in another scheme (a `batch-settlement` one beside `exact`) is not this
            // path's to pay: listed, but it neither makes nor spoils the single reason.
            if e.reason() != Reason::InvalidExactEvmScheme {
                sole = match sole {
                    None => Some(Some(e.clone())),
                    Some(Some(s)) if s.reason() == e.reason() => Some(Some(s)),
                    _ => Some(None),
                };
            }
        }
        if let Some((_, best)) = best {
            return Ok(best.clone());
        }
        // Caps alone, or unacceptable terms alone (a time bound, malformed addresses), refused
        // every offer: say which, with its own code.
        Err(sole
            .flatten()
            .filter(|e| {
                matches!(
                    e.reason(),
                    Reason::OverMax | Reason::InvalidPaymentRequirements
                )
            })
            .unwrap_or_else(|| Error::new(Reason::NoAcceptableRequirement, why)))
    }
}
