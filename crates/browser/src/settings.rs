//! The options of a paying fetch read once, for the exact path's `Payer` and for `Channels`:
//! the policy ([`crate::options`]) and the budget ([`crate::budget`]).

use crate::budget::BudgetStore;
use crate::options::{invalid_option, member, policy_from};
use wasm_bindgen::prelude::*;
use x402_core::{
    client::Policy,
    encoding::json::{self, Value},
};

#[wasm_bindgen(module = "/js/flow.js")]
extern "C" {
    /// The policy and budget options as JSON text.
    #[wasm_bindgen(js_name = optionsText, catch)]
    fn options_text(options: &JsValue) -> Result<String, JsValue>;
}

/// The policy and the budget (when `options.budget` is an object) of a paying fetch's options.
pub(crate) fn read_options(options: &JsValue) -> Result<(Policy, Option<BudgetStore>), JsValue> {
    let text = options_text(options)
        .map_err(|_| invalid_option("options", "not representable as JSON"))?;
    let root = json::parse(&text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| invalid_option("options", "expected an object"))?;
    let policy = policy_from(&root)?;
    let budget = match member(&root, "budget") {
        Some(cfg) if cfg.is_object() => Some(BudgetStore::open(cfg)?),
        _ => None,
    };
    Ok((policy, budget))
}
