//! `checkReceipt`: the seller's signed receipt (the `offer-receipt` extension) checked, in the
//! builds that carry secp256k1 (pkg/channel, pkg/local): core's serde-free
//! [`x402_core::client::receipt::check_receipt`] recovers who signed it. `js/receipts.js` finds
//! the receipt in a response or a settlement and keeps the reader's list.

use crate::error::from_core;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use x402_core::client::receipt::check_receipt;
use x402_core::evm::address::checksummed;

/// Checks a signed receipt (its JSON text): `{ signer, payer, resourceUrl, network, issuedAt,
/// transaction }` (`signer`: the EIP-55 address that signed it). Throws with a code
/// (`invalid_signed_receipt`, `unsupported_offer_receipt_format`,
/// `invalid_offer_receipt_signature`).
#[wasm_bindgen(js_name = checkReceipt)]
pub fn check_receipt_js(artifact: &str) -> Result<JsValue, JsValue> {
    let checked = check_receipt(artifact).map_err(from_core)?;
    let p = &checked.payload;
    let o = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&o, &k.into(), &v);
    set("signer", checksummed(&checked.signer).into())?;
    set("payer", p.payer.as_str().into())?;
    set("resourceUrl", p.resource_url.as_str().into())?;
    set("network", p.network.as_str().into())?;
    set("issuedAt", (p.issued_at as f64).into())?;
    set("transaction", p.transaction.as_str().into())?;
    Ok(o.into())
}
