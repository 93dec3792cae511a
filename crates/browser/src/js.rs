//! The few Web APIs used, declared duck-typed (they exist in pages, workers and Node), and
//! small conversions.

use js_sys::{Function, Reflect};
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

/// `obj[key]` if it is a function.
pub(crate) fn method(obj: &JsValue, key: &str) -> Option<Function> {
    let f = get(obj, key);
    f.is_function().then(|| f.unchecked_into())
}

/// `headers` of a Request or Response.
pub(crate) fn headers_of(obj: &JsValue) -> Headers {
    get(obj, "headers").unchecked_into()
}

/// An amount option (decimal string, number or bigint) as decimal text.
pub(crate) fn amount_text(v: &JsValue) -> Option<String> {
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    if v.is_bigint() {
        return js_sys::BigInt::unchecked_from_js(v.clone())
            .to_string(10)
            .ok()
            .map(String::from);
    }
    v.as_f64()
        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
        .map(|f| alloc_u64(f as u64))
}

fn alloc_u64(n: u64) -> String {
    n.to_string()
}
