//! The payer's own way out of a channel (feature `channel`): the contract's timed withdrawal,
//! for when the server does not answer a cooperative refund. The decisions are
//! [`x402_core::client::withdraw`]; `js/channel.js` sends the transactions through the wallet.

use crate::channel::Channels;
use crate::error::{from_core, reason};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use x402_core::{
    client::channel::ClientChannel,
    client::withdraw::{after_initiate, finalize_withdraw, initiate_withdraw},
    encoding::decimal_u256,
    evm::address::checksummed,
    Reason,
};

#[wasm_bindgen]
impl Channels {
    /// [`withdraw_call`], for `js/channel.js`.
    #[wasm_bindgen(js_name = withdrawCall)]
    pub fn withdraw_call(
        &self,
        state: &str,
        step: &str,
        amount: Option<String>,
    ) -> Result<JsValue, JsValue> {
        withdraw_call(state, step, amount)
    }
}

/// The transaction of a timed withdrawal's `step` on the channel whose stored state is `state`
/// (JSON text): `"initiate"` (everything never charged; the answer's `state` is the channel's
/// state once it is sent) or `"finalize"` (collects `amount`, atomic units). Returns
/// `{ to, data, amount, state? }`. Errors: `invalid_batch_settlement_evm_refund_no_balance`
/// (nothing to withdraw), `invalid_payload` (not a channel state, another step).
pub fn withdraw_call(state: &str, step: &str, amount: Option<String>) -> Result<JsValue, JsValue> {
    let channel = ClientChannel::from_json_text(state)
        .ok_or_else(|| reason(Reason::InvalidPayload, "not a stored channel state"))?;
    let (call, next) = match step {
        "initiate" => {
            let call = initiate_withdraw(&channel).map_err(from_core)?;
            let next = after_initiate(&channel, call.amount);
            (call, Some(next.to_json_text()))
        }
        "finalize" => {
            let amount = decimal_u256::parse(amount.as_deref().unwrap_or("0"))
                .map_err(|e| reason(Reason::InvalidPayload, e))?;
            (finalize_withdraw(&channel, amount), None)
        }
        _ => {
            return Err(reason(
                Reason::InvalidPayload,
                "the step is initiate or finalize",
            ))
        }
    };
    let o = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&o, &k.into(), &v);
    set("to", checksummed(&call.to).into())?;
    let mut data = String::from("0x");
    for b in &call.data {
        data.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        data.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    set("data", data.into())?;
    set("amount", decimal_u256::format(&call.amount).into())?;
    if let Some(next) = next {
        set("state", next.into())?;
    }
    Ok(o.into())
}
