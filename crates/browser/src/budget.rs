//! A [`Budget`] per origin per period, kept in `localStorage` in browsers (shared by the tabs of
//! an origin, re-read before each check) and in memory where there is none (Node, workers).

use crate::error::reason;
use crate::js::{amount_text, get, method};
use wasm_bindgen::prelude::*;
use x402_core::{client::Budget, wire::decimal_u256, Reason, U256};

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
    pub(crate) fn open(cfg: &JsValue, explicit_storage: JsValue) -> Result<Self, JsValue> {
        let key = get(cfg, "storageKey")
            .as_string()
            .unwrap_or_else(|| DEFAULT_KEY.into());
        let mut store = Self {
            budget: Budget::new(U256::from(DEFAULT_LIMIT), DAY),
            storage: storage(explicit_storage),
            key,
        };
        let stored = store.load();
        if let Some(s) = &stored {
            store.budget = s.clone();
        }
        if let Some(text) = amount_text(&get(cfg, "limit")) {
            store.budget.limit = decimal_u256::parse(&text).map_err(|e| {
                reason(
                    Reason::InvalidConfig,
                    &format!("budget.limit \"{text}\": {e} (atomic units)"),
                )
            })?;
        }
        if let Some(p) = get(cfg, "periodSeconds").as_f64() {
            store.budget.period_seconds = (p as u64).max(1);
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
