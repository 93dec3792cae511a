//! The optional top-level `batchSettlement` table: the terms of the `batch-settlement` offers
//! (x402 `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "PaymentRequirements")
//! every route makes beside its `exact` ones, and when the Worker claims what it charged.
//!
//! ```toml
//! batchSettlement = { receiverAuthorizer = "0x…", withdrawDelay = 900, minDeposit = "$0.10",
//!   claim = { threshold = "$1.00", maxAgeSeconds = 3600, withdrawalMarginSeconds = 300,
//!             checkIntervalSeconds = 300 } }
//! ```
//!
//! Its presence turns batch-settlement on for every route unless the route says
//! `batchSettlement = false`. Amounts are a price (`"$0.10"`, converted per payment option with
//! its asset's decimals) or an atomic amount (`"100000"`). Parsing is strict: an unknown key or a
//! value out of range is `invalid_config` naming the key (`batchSettlement.claim.threshold: …`).

use super::field::{address, invalid, typed};
use crate::encoding::decimal_u256;
use crate::error::{Reason, Result};
use crate::evm::money::parse_price;
use crate::scheme::batch::channel::mirror_ttl;
use crate::scheme::batch::types::{MAX_WITHDRAW_DELAY, MIN_WITHDRAW_DELAY};
use crate::scheme::batch::wire::{check_withdraw_delay, BatchExtra};
use crate::wire::JsonMap;
use alloc::{format, string::String};
use alloy_primitives::{Address, U256};
use serde::Deserialize;
use serde_json::Value;

/// Default `batchSettlement.withdrawDelay`: the contract's minimum, 15 minutes.
pub const DEFAULT_WITHDRAW_DELAY: u64 = MIN_WITHDRAW_DELAY;
/// Default `batchSettlement.claim.threshold`.
pub const DEFAULT_CLAIM_THRESHOLD: &str = "$1.00";
/// Default `batchSettlement.claim.maxAgeSeconds`.
pub const DEFAULT_CLAIM_MAX_AGE_SECONDS: u64 = 3600;
/// Default `batchSettlement.claim.withdrawalMarginSeconds`.
pub const DEFAULT_WITHDRAWAL_MARGIN_SECONDS: u64 = 300;
/// `minDeposit` without a configured one: this many times the option's amount (the reference
/// server's default).
pub const DEFAULT_MIN_DEPOSIT_MULTIPLE: u64 = 10;

/// An amount as configured: a price converted with each option's decimals, or atomic units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceSpec {
    /// `"$0.10"`: converted with the option's asset decimals (as a route's `price`).
    Price(String),
    /// `"100000"`: atomic units of whatever asset the option uses.
    Atomic(U256),
}

impl PriceSpec {
    /// Parses `"$…"` (a price) or a decimal integer (atomic units).
    fn parse(s: &str, field: &str) -> Result<Self> {
        if s.starts_with('$') {
            // Syntax only: whether it is representable depends on each option's decimals.
            match parse_price(s, 18) {
                Err(e) if e.reason() != Reason::PriceTooSmall => Err(invalid(field, e.message())),
                _ => Ok(Self::Price(s.into())),
            }
        } else {
            decimal_u256::parse(s).map(Self::Atomic).map_err(|_| {
                invalid(
                    field,
                    format!(
                        "{s:?} is neither a price such as \"$0.10\" nor an atomic amount (digits)"
                    ),
                )
            })
        }
    }

    /// The atomic amount for an asset with `decimals` (`None`: unknown, so only an atomic
    /// amount resolves). `field` names the key, `option` the payment option, for the error.
    pub fn resolve(&self, decimals: Option<u8>, field: &str, option: &str) -> Result<U256> {
        match self {
            Self::Atomic(a) => Ok(*a),
            Self::Price(p) => {
                let d = decimals.ok_or_else(|| {
                    invalid(
                        field,
                        format!(
                            "the price {p:?} cannot be converted for {option}: give its decimals, \
                             or an atomic amount here"
                        ),
                    )
                })?;
                parse_price(p, d).map_err(|e| invalid(field, format!("{option}: {}", e.message())))
            }
        }
    }
}

/// When the Worker claims a channel's charges (`batchSettlement.claim`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimConfig {
    /// Claim once this much is charged and unclaimed (default `"$1.00"`).
    pub threshold: PriceSpec,
    /// Claim once the oldest unclaimed charge is this old (default 3600).
    pub max_age_seconds: u64,
    /// Claim at the latest this long before a pending withdrawal can complete (default 300).
    pub withdrawal_margin_seconds: u64,
    /// How often a channel holding unclaimed charges re-reads the chain (default
    /// [`mirror_ttl`] of the withdrawal delay: 300 s for 900).
    pub check_interval_seconds: u64,
}

/// The `batchSettlement` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// `ChannelConfig.receiverAuthorizer` of every offer. When configured, the Worker checks it
    /// against its `X402_RECEIVER_AUTHORIZER_KEY`; else it is set from that key
    /// (`Config::set_receiver_authorizer`). Batch offers are left out while it is `None`.
    pub receiver_authorizer: Option<Address>,
    /// `ChannelConfig.withdrawDelay` of every offer, seconds (900..=2592000; default 900).
    pub withdraw_delay: u64,
    /// `extra.minDeposit`; `None`: 10 × the option's amount. Never below the amount.
    pub min_deposit: Option<PriceSpec>,
    /// The claim policy.
    pub claim: ClaimConfig,
}

/// One payment option's batch-settlement terms, resolved with its asset's decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionBatch {
    /// [`BatchConfig::receiver_authorizer`] (kept in step by `Config::set_receiver_authorizer`).
    pub receiver_authorizer: Option<Address>,
    /// [`BatchConfig::withdraw_delay`].
    pub withdraw_delay: u64,
    /// `extra.minDeposit`, atomic: at least the option's amount.
    pub min_deposit: U256,
    /// The claim threshold in this asset's atomic units.
    pub claim_threshold: U256,
}

impl OptionBatch {
    /// The offer's `extra` for the token's EIP-712 domain, or `None` while the receiver
    /// authorizer is unknown.
    pub fn extra(&self, name: &str, version: &str) -> Option<JsonMap> {
        Some(
            BatchExtra {
                name: name.into(),
                version: version.into(),
                receiver_authorizer: self.receiver_authorizer?,
                withdraw_delay: self.withdraw_delay,
                asset_transfer_method: None,
                min_deposit: Some(self.min_deposit),
            }
            .to_json(),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBatch {
    #[serde(default)]
    receiver_authorizer: Option<String>,
    #[serde(default)]
    withdraw_delay: Option<u64>,
    #[serde(default)]
    min_deposit: Option<String>,
    #[serde(default)]
    claim: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawClaim {
    #[serde(default)]
    threshold: Option<String>,
    #[serde(default)]
    max_age_seconds: Option<u64>,
    #[serde(default)]
    withdrawal_margin_seconds: Option<u64>,
    #[serde(default)]
    check_interval_seconds: Option<u64>,
}

/// The address must not be zero (the contract refuses a zero `receiverAuthorizer`).
pub(super) fn receiver_authorizer(a: Address, field: &str) -> Result<Address> {
    if a == Address::ZERO {
        return Err(invalid(field, "must not be the zero address"));
    }
    Ok(a)
}

/// Parses the `batchSettlement` table.
pub(super) fn batch(v: &Value) -> Result<BatchConfig> {
    const F: &str = "batchSettlement";
    let raw: RawBatch = typed(v, F)?;
    let receiver_authorizer = raw
        .receiver_authorizer
        .map(|s| {
            let field = format!("{F}.receiverAuthorizer");
            receiver_authorizer(address(&s, &field)?, &field)
        })
        .transpose()?;
    let withdraw_delay = raw.withdraw_delay.unwrap_or(DEFAULT_WITHDRAW_DELAY);
    check_withdraw_delay(withdraw_delay).map_err(|_| {
        invalid(
            &format!("{F}.withdrawDelay"),
            format!("{withdraw_delay} is outside {MIN_WITHDRAW_DELAY}..={MAX_WITHDRAW_DELAY} seconds (the contract's bounds)"),
        )
    })?;
    let min_deposit = raw
        .min_deposit
        .map(|s| PriceSpec::parse(&s, &format!("{F}.minDeposit")))
        .transpose()?;
    let claim: RawClaim = match &raw.claim {
        Some(c) => typed(c, &format!("{F}.claim"))?,
        None => RawClaim {
            threshold: None,
            max_age_seconds: None,
            withdrawal_margin_seconds: None,
            check_interval_seconds: None,
        },
    };
    let threshold_field = format!("{F}.claim.threshold");
    let threshold = PriceSpec::parse(
        claim
            .threshold
            .as_deref()
            .unwrap_or(DEFAULT_CLAIM_THRESHOLD),
        &threshold_field,
    )?;
    if threshold == PriceSpec::Atomic(U256::ZERO)
        || matches!(&threshold, PriceSpec::Price(p) if parse_price(p, 18).is_ok_and(|a| a.is_zero()))
    {
        return Err(invalid(&threshold_field, "must be above zero"));
    }
    let max_age_seconds = claim
        .max_age_seconds
        .unwrap_or(DEFAULT_CLAIM_MAX_AGE_SECONDS);
    if max_age_seconds == 0 {
        return Err(invalid(
            &format!("{F}.claim.maxAgeSeconds"),
            "must be at least 1",
        ));
    }
    let withdrawal_margin_seconds = claim
        .withdrawal_margin_seconds
        .unwrap_or(DEFAULT_WITHDRAWAL_MARGIN_SECONDS);
    if withdrawal_margin_seconds == 0 {
        return Err(invalid(
            &format!("{F}.claim.withdrawalMarginSeconds"),
            "must be at least 1",
        ));
    }
    let check_interval_seconds = claim
        .check_interval_seconds
        .unwrap_or(mirror_ttl(withdraw_delay));
    if check_interval_seconds == 0 {
        return Err(invalid(
            &format!("{F}.claim.checkIntervalSeconds"),
            "must be at least 1",
        ));
    }
    // A withdrawal requested just after a chain read is seen up to one interval later; the claim
    // must still fit before the withdrawal can complete, with the margin to spare.
    if check_interval_seconds.saturating_add(withdrawal_margin_seconds) > withdraw_delay {
        return Err(invalid(
            &format!("{F}.claim"),
            format!(
                "checkIntervalSeconds ({check_interval_seconds}) + withdrawalMarginSeconds \
                 ({withdrawal_margin_seconds}) must not exceed withdrawDelay ({withdraw_delay}): \
                 a withdrawal could complete before its claim"
            ),
        ));
    }
    Ok(BatchConfig {
        receiver_authorizer,
        withdraw_delay,
        min_deposit,
        claim: ClaimConfig {
            threshold,
            max_age_seconds,
            withdrawal_margin_seconds,
            check_interval_seconds,
        },
    })
}

/// One payment option's terms: `amount` its price, `decimals` its asset's (if known), `option`
/// its field (`routes[0].networks[1]`) for errors.
pub(super) fn option_terms(
    c: &BatchConfig,
    amount: U256,
    decimals: Option<u8>,
    option: &str,
) -> Result<OptionBatch> {
    let min_deposit = match &c.min_deposit {
        None => amount.saturating_mul(U256::from(DEFAULT_MIN_DEPOSIT_MULTIPLE)),
        Some(spec) => spec.resolve(decimals, "batchSettlement.minDeposit", option)?,
    };
    let claim_threshold =
        c.claim
            .threshold
            .resolve(decimals, "batchSettlement.claim.threshold", option)?;
    Ok(OptionBatch {
        receiver_authorizer: c.receiver_authorizer,
        withdraw_delay: c.withdraw_delay,
        min_deposit: min_deposit.max(amount),
        claim_threshold,
    })
}

/// Whether `accepted`'s `extra` carries every field of `offered` with the same value (it may
/// carry more, such as a corrective 402's `channelState`).
pub(super) fn extra_covers(offered: Option<&JsonMap>, accepted: Option<&JsonMap>) -> bool {
    match (offered, accepted) {
        (None, _) => true,
        (Some(o), None) => o.is_empty(),
        (Some(o), Some(a)) => o.iter().all(|(k, v)| a.get(k) == Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn price_specs() {
        let f = "x";
        assert_eq!(
            PriceSpec::parse("$0.10", f).unwrap(),
            PriceSpec::Price("$0.10".into())
        );
        assert_eq!(
            PriceSpec::parse("100000", f).unwrap(),
            PriceSpec::Atomic(U256::from(100_000))
        );
        for bad in ["0.10", "$1.2.3", "$", "abc", "-5", "1e6", ""] {
            let e = PriceSpec::parse(bad, f).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidConfig, "{bad}");
            assert!(e.message().starts_with("x: "), "{bad}: {e}");
        }
        let p = PriceSpec::Price("$0.10".into());
        assert_eq!(p.resolve(Some(6), f, "o").unwrap(), U256::from(100_000));
        assert_eq!(
            p.resolve(Some(18), f, "o").unwrap(),
            U256::from(100_000_000_000_000_000u64)
        );
        assert!(p.resolve(None, f, "o").unwrap_err().message().contains("o"));
        assert!(PriceSpec::Price("$0.0000001".into())
            .resolve(Some(6), f, "o")
            .is_err());
        assert_eq!(
            PriceSpec::Atomic(U256::from(7))
                .resolve(None, f, "o")
                .unwrap(),
            U256::from(7)
        );
    }

    #[test]
    fn option_terms_floor_and_default() {
        let c = batch(&json!({"receiverAuthorizer": "0x00000000000000000000000000000000000000a1"}))
            .unwrap();
        let t = option_terms(&c, U256::from(1000), Some(6), "o").unwrap();
        assert_eq!(t.min_deposit, U256::from(10_000), "10 × the amount");
        assert_eq!(
            t.claim_threshold,
            U256::from(1_000_000),
            "$1.00 at 6 decimals"
        );
        let c = batch(&json!({"minDeposit": "5"})).unwrap();
        let t = option_terms(&c, U256::from(1000), None, "o");
        assert!(t.is_err(), "the default threshold needs decimals");
        let c = batch(&json!({"minDeposit": "5", "claim": {"threshold": "9"}})).unwrap();
        let t = option_terms(&c, U256::from(1000), None, "o").unwrap();
        assert_eq!(t.min_deposit, U256::from(1000), "floored at the amount");
        assert_eq!(t.claim_threshold, U256::from(9));
        assert!(t.extra("USDC", "2").is_none(), "no authorizer, no offer");
    }

    #[test]
    fn extra_superset() {
        let o = json!({"a": 1, "b": "x"});
        let o = o.as_object().unwrap();
        let more = json!({"a": 1, "b": "x", "c": true});
        assert!(extra_covers(Some(o), more.as_object()));
        let changed = json!({"a": 2, "b": "x"});
        assert!(!extra_covers(Some(o), changed.as_object()));
        let missing = json!({"a": 1});
        assert!(!extra_covers(Some(o), missing.as_object()));
        assert!(!extra_covers(Some(o), None));
    }
}
