//! # x402-browser
//!
//! The browser side of x402-wasm, compiled with wasm-bindgen. This crate holds no protocol
//! logic: each export converts between JavaScript values and [`x402_core`] types.
//! The paying `fetch` wrapper, EIP-1193 / EIP-6963 wallets and the publisher drop-in are
//! built on these exports.

use wasm_bindgen::prelude::*;
use x402_core::header;

/// Converts a core error to a JS `Error` whose `code` property is the x402 reason code.
fn js_error(err: &x402_core::Error) -> JsValue {
    let e = js_sys::Error::new(err.message());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &"code".into(), &err.code().into());
    e.into()
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    value
        .serialize(&ser)
        .map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

/// Decodes a `PAYMENT-REQUIRED` header value into the challenge object.
#[wasm_bindgen(js_name = decodePaymentRequired)]
pub fn decode_payment_required(value: &str) -> Result<JsValue, JsValue> {
    let challenge = header::decode_payment_required(value).map_err(|e| js_error(&e))?;
    to_js(&challenge)
}

/// Decodes a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value into the receipt object.
#[wasm_bindgen(js_name = decodePaymentResponse)]
pub fn decode_payment_response(value: &str) -> Result<JsValue, JsValue> {
    let receipt = header::decode_payment_response(value).map_err(|e| js_error(&e))?;
    to_js(&receipt)
}
