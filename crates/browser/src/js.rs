//! The few Web APIs used, declared duck-typed (they exist in pages, workers and Node), and
//! small conversions.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Fetch API `Headers`.
    pub(crate) type Headers;
    #[wasm_bindgen(method)]
    pub(crate) fn get(this: &Headers, name: &str) -> Option<String>;
}

/// `obj[key]`, `undefined` when absent or when `obj` is not an object.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `headers` of a Request or Response.
pub(crate) fn headers_of(obj: &JsValue) -> Headers {
    get(obj, "headers").unchecked_into()
}
