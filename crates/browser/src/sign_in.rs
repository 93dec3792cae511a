//! Restoring a purchase with the wallet (Sign-In-With-X, x402-foundation/x402
//! `specs/extensions/sign-in-with-x.md`): `wrapFetch(…, { restore: true })` and the drop-in's
//! "Restore with your wallet". The I/O (the account, `personal_sign`, the second request) is
//! `js/sign-in.js`; the message and the header are core's [`x402_core::client::sign_in`].

use crate::error::from_core;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use x402_core::{client::challenge::Challenge, client::sign_in, evm::address::parse_address};

#[wasm_bindgen(module = "/js/sign-in.js")]
extern "C" {
    /// `fetch` that, on a 402 offering a sign-in, signs in with `wallet` once and repeats the
    /// request with `SIGN-IN-WITH-X` (see the file).
    #[wasm_bindgen(js_name = signingIn, catch)]
    fn signing_in(
        fetch: &JsValue,
        wallet: &JsValue,
        options: &JsValue,
        builder: SignIns,
    ) -> Result<Function, JsValue>;
}

/// `signInFetch(fetch, wallet, options)`: `fetch` that answers a 402 offering Sign-In-With-X
/// by signing in with `wallet` (one `personal_sign`, no payment) and sending the request again
/// with the `SIGN-IN-WITH-X` header; the second answer is returned (the content when the wallet
/// bought it, else a fresh 402). `options.onStatus('sign-in')` is told before the wallet is
/// asked.
#[wasm_bindgen(js_name = signInFetch)]
pub fn sign_in_fetch(
    fetch: JsValue,
    wallet: JsValue,
    options: JsValue,
) -> Result<Function, JsValue> {
    signing_in(&fetch, &wallet, &options, SignIns)
}

/// Builds sign-ins for `js/sign-in.js`.
#[wasm_bindgen]
pub struct SignIns;

/// A sign-in waiting for the wallet's signature.
#[wasm_bindgen]
pub struct SignInRequest(sign_in::SignInRequest);

#[wasm_bindgen]
impl SignIns {
    /// The sign-in a 402 offers (`payment_required`: its `PAYMENT-REQUIRED` header) for
    /// `address` at `origin` (`new URL(url).origin`), on the wallet's `chain` when the server
    /// supports it; `undefined` when it offers none. Errors (`invalid_siwx_*`): a challenge for
    /// another origin, no EVM chain, a malformed one.
    pub fn request(
        &self,
        payment_required: &str,
        origin: &str,
        address: &str,
        chain: Option<f64>,
    ) -> Result<Option<SignInRequest>, JsValue> {
        let challenge = Challenge::from_header(payment_required).map_err(from_core)?;
        let address = parse_address(address)
            .map_err(|e| crate::error::reason(x402_core::Reason::NoWallet, &e))?;
        let chain = chain
            .filter(|c| c.fract() == 0.0 && *c >= 0.0)
            .map(|c| c as u64);
        Ok(
            sign_in::SignInRequest::from_challenge(&challenge, origin, address, chain)
                .map_err(from_core)?
                .map(SignInRequest),
        )
    }
}

#[wasm_bindgen]
impl SignInRequest {
    /// The EIP-4361 message for `personal_sign`.
    #[wasm_bindgen(getter)]
    pub fn message(&self) -> String {
        self.0.message().into()
    }

    /// The `SIGN-IN-WITH-X` header value with the wallet's signature (0x-prefixed hex).
    pub fn header(&self, signature: &str) -> Result<String, JsValue> {
        self.0.header(signature).map_err(from_core)
    }
}
