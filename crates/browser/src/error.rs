//! JS errors with a stable `code` (core's reason codes; `js/flow.js` adds `wallet_error` for a
//! wallet that failed for a reason other than the user's refusal).

use wasm_bindgen::JsValue;
use x402_core::Reason;

/// A JS `Error` with `message` and a `code` property.
pub(crate) fn coded(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

/// A JS `Error` for a core reason. Inlined, so that a constant reason links only its own code
/// string (`Reason::as_str` folds), not the table of every code.
#[inline(always)]
pub(crate) fn reason(reason: Reason, message: &str) -> JsValue {
    coded(reason.as_str(), message)
}

/// Converts a core error.
pub(crate) fn from_core(err: x402_core::Error) -> JsValue {
    coded(err.code(), err.message())
}
