//! A [`Budget`] per origin per period. Browsers keep it in `localStorage` (shared by the tabs
//! of an origin, re-read before each check); `js/flow.js` reads and writes the text, so this
//! part is plain Rust. Where there is no storage (Node, workers) it lives in memory.

use crate::options::{amount, invalid_option, member, whole};
use wasm_bindgen::prelude::*;
use x402_core::{client::Budget, encoding::json::Value, U256};

/// Storage key of the budget when none is given.
pub(crate) const DEFAULT_KEY: &str = "x402:budget";
/// Limit when neither the options nor storage give one: $1.00 of a 6-decimal stablecoin.
const DEFAULT_LIMIT: u64 = 1_000_000;
const DAY: u64 = 86_400;

pub(crate) struct BudgetStore {
    budget: Budget,
    /// `limit` and `periodSeconds` from the options: they win over stored ones.
    limit: Option<U256>,
    period_seconds: Option<u64>,
    /// Storage key.
    pub(crate) key: String,
}

impl BudgetStore {
    /// The budget described by `options.budget` (`{ limit?, periodSeconds?, storageKey? }`).
    pub(crate) fn open(cfg: &Value<'_>) -> Result<Self, JsValue> {
        let key = match member(cfg, "storageKey") {
            None => DEFAULT_KEY.into(),
            Some(k) => k
                .as_str()
                .ok_or_else(|| invalid_option("budget.storageKey", "expected a string"))?
                .into(),
        };
        let limit = member(cfg, "limit")
            .map(|l| amount(l, "budget.limit"))
            .transpose()?;
        let period_seconds = member(cfg, "periodSeconds")
            .map(|p| whole(p, "budget.periodSeconds", 1, u64::MAX))
            .transpose()?;
        let mut budget = Budget::new(U256::from(DEFAULT_LIMIT), DAY);
        budget.limit = limit.unwrap_or(budget.limit);
        budget.period_seconds = period_seconds.unwrap_or(budget.period_seconds);
        Ok(Self {
            budget,
            limit,
            period_seconds,
            key,
        })
    }

    /// Takes what storage holds now (other tabs' spending): its `spent`, and its limit and
    /// period where the options give none. Unreadable text is ignored.
    pub(crate) fn refresh(&mut self, stored: Option<&str>) {
        if let Some(s) = stored.and_then(Budget::from_json_text) {
            self.budget.spent = s.spent;
            self.budget.limit = self.limit.unwrap_or(s.limit);
            self.budget.period_seconds = self.period_seconds.unwrap_or(s.period_seconds);
        }
    }

    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Records a signed payment; returns the text to store.
    pub(crate) fn record(
        &mut self,
        origin: &str,
        amount: U256,
        now: u64,
        decimals: u8,
    ) -> Result<String, x402_core::Error> {
        self.budget.record(origin, amount, now, decimals)?;
        Ok(self.budget.to_json_text())
    }
}
