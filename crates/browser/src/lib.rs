//! # x402-browser
//!
//! The browser side of x402-wasm, compiled with wasm-bindgen: a paying `fetch`
//! ([`wrap_fetch`], `wrapFetch` in JS, with its I/O in `js/flow.js`), EIP-1193 wallets, budgets
//! in browser storage, and (feature `local-signer`, a separate build) a local-key wallet for Node
//! and agents. The protocol — challenge parsing, policy, EIP-3009 authorization, typed data,
//! payment headers, budgets — is [`x402_core`]; this crate converts values and performs the I/O
//! (fetch, the wallet, storage, clock and randomness), nothing else. It uses core's serde-free
//! paying path ([`x402_core::client::challenge`]), which keeps serde out of the bundle: JSON objects for
//! JS are built by the engine's own `JSON.parse`.
//!
//! `fetch`, `crypto`, `Request` and storage come from the global scope, so the same build runs in
//! pages, Web Workers, service workers and Node.

// With neither build's feature the crate is empty.
#[cfg(any(feature = "exact", feature = "channel"))]
mod budget;
#[cfg(any(feature = "exact", feature = "channel"))]
mod error;
#[cfg(feature = "decoders")]
mod js;
#[cfg(any(feature = "exact", feature = "channel"))]
mod options;
#[cfg(feature = "exact")]
mod pay;
#[cfg(any(feature = "exact", feature = "channel"))]
mod settings;
#[cfg(feature = "sign-in")]
mod sign_in;

#[cfg(feature = "channel")]
mod channel;
#[cfg(feature = "local-signer")]
mod local;
#[cfg(feature = "channel")]
mod receipt;
#[cfg(feature = "channel")]
mod withdraw;

#[cfg(feature = "channel")]
pub use channel::{format_amount_js, wrap_channel_fetch, ChannelQuote, Channels};
#[cfg(feature = "exact")]
pub use pay::{wrap_fetch, Payer, Quote};
#[cfg(feature = "channel")]
pub use receipt::check_receipt_js;
#[cfg(feature = "sign-in")]
pub use sign_in::{sign_in_fetch, SignInRequest, SignIns};
#[cfg(feature = "channel")]
pub use withdraw::withdraw_call;

#[cfg(feature = "decoders")]
use js_sys::JSON;
#[cfg(feature = "decoders")]
use wasm_bindgen::prelude::*;
#[cfg(feature = "decoders")]
use x402_core::{client::challenge, wire::header};

/// A small free-list allocator for the wasm builds instead of dlmalloc (see Cargo.toml).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// Decodes a `PAYMENT-REQUIRED` header value into the challenge object (checked as the paying
/// side reads it; the JS engine builds the object).
#[cfg(feature = "decoders")]
#[wasm_bindgen(js_name = decodePaymentRequired)]
pub fn decode_payment_required(value: &str) -> Result<JsValue, JsValue> {
    let challenge = challenge::Challenge::from_header(value).map_err(error::from_core)?;
    JSON::parse(challenge.json_text())
}

/// Decodes a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value into the receipt object.
#[cfg(feature = "decoders")]
#[wasm_bindgen(js_name = decodePaymentResponse)]
pub fn decode_payment_response(value: &str) -> Result<JsValue, JsValue> {
    let receipt = challenge::decode_receipt(value).map_err(error::from_core)?;
    JSON::parse(&receipt)
}

/// The settlement receipt of a paid response: its `PAYMENT-RESPONSE` (v2) or
/// `X-PAYMENT-RESPONSE` (v1) header decoded, or `null` when it has neither.
#[cfg(feature = "decoders")]
#[wasm_bindgen(js_name = paymentReceipt)]
pub fn payment_receipt(response: &JsValue) -> Result<JsValue, JsValue> {
    let headers = js::headers_of(response);
    match headers
        .get(header::PAYMENT_RESPONSE)
        .or_else(|| headers.get(header::X_PAYMENT_RESPONSE))
    {
        Some(value) => decode_payment_response(&value),
        None => Ok(JsValue::NULL),
    }
}
