//! A spending limit per origin and period, as a plain value the browser persists as JSON
//! (written and read without serde too, for the browser bundle). Time is a parameter.

use crate::encoding::decimal_u256;
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::money::format_amount;
use alloc::{string::String, vec::Vec};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

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
