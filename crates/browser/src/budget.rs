//! A [`Budget`] per origin per period, kept in `localStorage` in browsers (shared by the tabs of
//! an origin, re-read before each check) and in memory where there is none (Node, workers).

use crate::js::{get, method};
use crate::pay::{amount, invalid_option, member};
use wasm_bindgen::prelude::*;
use x402_core::{client::Budget, json::Value, U256};

/// Storage key of the budget when none is given.
pub(crate) const DEFAULT_KEY: &str = "x402:budget";
/// Limit when neither the options nor storage give one: $1.00 of a 6-decimal stablecoin.
const DEFAULT_LIMIT: u64 = 1_000_000;
const DAY: u64 = 86_400;

pub(crate) struct BudgetStore {
    budget: Budget,
    storage: JsValue,
    key: String,
}

/// `options.storage`, else `globalThis.localStorage` when it exists and is usable.
fn storage(explicit: JsValue) -> JsValue {
    if explicit.is_object() {
        return explicit;
    }
    get(&js_sys::global(), "localStorage")
}

impl BudgetStore {
    /// Opens the budget described by `options.budget` (`{ limit?, periodSeconds?, storageKey? }`).
    /// A limit in the options wins over a stored one, which wins over the default.
    pub(crate) fn open(cfg: &Value<'_>, explicit_storage: JsValue) -> Result<Self, JsValue> {
        let key = match member(cfg, "storageKey") {
            None => DEFAULT_KEY.into(),
            Some(k) => k
                .as_str()
                .ok_or_else(|| invalid_option("budget.storageKey", "expected a string"))?
                .into(),
        };
        let mut store = Self {
            budget: Budget::new(U256::from(DEFAULT_LIMIT), DAY),
            storage: storage(explicit_storage),
            key,
        };
        if let Some(stored) = store.load() {
            store.budget = stored;
        }
        if let Some(limit) = member(cfg, "limit") {
            store.budget.limit = amount(limit, "budget.limit")?;
        }
        if let Some(p) = member(cfg, "periodSeconds") {
            store.budget.period_seconds = p.as_u64().filter(|p| *p > 0).ok_or_else(|| {
                invalid_option("budget.periodSeconds", "a whole number of seconds")
            })?;
        }
        Ok(store)
    }

    fn load(&self) -> Option<Budget> {
        let get_item = method(&self.storage, "getItem")?;
        let text = get_item
            .call1(&self.storage, &self.key.as_str().into())
            .ok()?
            .as_string()?;
        Budget::from_json_text(&text)
    }

    /// Re-reads what other tabs spent.
    pub(crate) fn refresh(&mut self) {
        if let Some(stored) = self.load() {
            self.budget.spent = stored.spent;
        }
    }

    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Records a signed payment and persists the budget.
    pub(crate) fn record(
        &mut self,
        origin: &str,
        amount: U256,
        now: u64,
        decimals: u8,
    ) -> Result<(), x402_core::Error> {
        self.budget.record(origin, amount, now, decimals)?;
        if let Some(set_item) = method(&self.storage, "setItem") {
            let text = self.budget.to_json_text();
            // A full or blocked storage keeps the in-memory budget only.
            let _ = set_item.call2(&self.storage, &self.key.as_str().into(), &text.into());
        }
        Ok(())
    }
}
