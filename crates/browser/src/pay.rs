//! The paying fetch (`docs/protocol.md`, "The paying client"). Its I/O — sending, the wallet,
//! `confirm`, the one retry, keeping a signed payment for a lost response — is `js/flow.js`;
//! every decision on bytes is here and synchronous: [`Payer::quote`] reads the challenge,
//! chooses under the policy and checks the budget; [`Quote::typed_data`] writes what the wallet
//! signs; [`Payer::payment`] checks the signature, writes the payment header and records the
//! spending.
//! The flow is JavaScript because every `await` of a Rust future costs the browser bundle
//! kilobytes.

use crate::budget::BudgetStore;
use crate::error::{from_core, reason};
use crate::settings::read_options;
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use x402_core::{
    client::challenge::{typed_data_text, Challenge},
    client::{rescale, Offer, Policy, CAP_DECIMALS},
    encoding::decimal_u256,
    encoding::hex::parse_hex_bytes,
    evm::address::{checksummed, parse_address},
    evm::asset::find_asset,
    evm::money::format_amount,
    scheme::exact::{build_authorization, Authorization},
    wire::header,
    Reason, B256, U256,
};

#[wasm_bindgen(module = "/js/flow.js")]
extern "C" {
    /// The paying `fetch` function over a [`Payer`] (`budget_key`: where the budget is stored).
    #[wasm_bindgen(js_name = payingFetch, catch)]
    fn paying_fetch(
        fetch: &JsValue,
        wallet: &JsValue,
        options: &JsValue,
        payer: Payer,
        budget_key: Option<String>,
    ) -> Result<Function, JsValue>;
}

/// `wrapFetch(fetch, wallet, options)`: a function with the signature of `fetch` that pays x402
/// challenges. `fetch`: the function to send with (the global `fetch` when not a function).
/// `wallet`: an EIP-1193 provider or a signer. `options`: `maxAmount`, `allowedNetworks`,
/// `allowedAssets`, `preferredNetworks`, `maxTimeoutSeconds` (core `Policy`), `budget`,
/// `storage`, `pendingStorage`, `confirm`, `onStatus`, `chains`, `restore` (sign in before
/// paying where the server offers Sign-In-With-X: `js/sign-in.js`). Errors (`invalid_config`) are
/// thrown at once.
#[wasm_bindgen(js_name = wrapFetch)]
pub fn wrap_fetch(fetch: JsValue, wallet: JsValue, options: JsValue) -> Result<Function, JsValue> {
    let payer = Payer::new(&options)?;
    let key = payer.budget_key();
    // `restore: true`: a 402 that offers Sign-In-With-X is first answered by signing in (the
    // paying fetch sees the content, or the fresh 402 it then pays).
    #[cfg(feature = "sign-in")]
    let fetch = if Reflect::get(&options, &"restore".into()).ok() == Some(JsValue::TRUE) {
        crate::sign_in::sign_in_fetch(fetch, wallet.clone(), options.clone())?.into()
    } else {
        fetch
    };
    paying_fetch(&fetch, &wallet, &options, payer, key)
}

/// The policy and budget of one paying fetch.
#[wasm_bindgen]
pub struct Payer {
    policy: Policy,
    budget: Option<BudgetStore>,
}

/// An offer chosen for one 402, until it is paid.
#[wasm_bindgen]
pub struct Quote {
    challenge: Challenge,
    offer: Offer,
    decimals: u8,
    /// The price in the budget's unit (millionths of a token, rounded up).
    units: U256,
    origin: String,
    now: u64,
    signing: Option<Authorization>,
}

impl Payer {
    /// From the options of [`wrap_fetch`] (policy and budget).
    pub fn new(options: &JsValue) -> Result<Payer, JsValue> {
        let (policy, budget) = read_options(options)?;
        Ok(Payer { policy, budget })
    }

    /// The storage key of the budget, when there is one.
    pub fn budget_key(&self) -> Option<String> {
        self.budget.as_ref().map(|b| b.key.clone())
    }
}

#[wasm_bindgen]
impl Payer {
    /// Reads a 402: `text` is the `PAYMENT-REQUIRED` header value when `from_header`, else the
    /// response body (v1). Chooses the offer under the policy and checks it against the budget
    /// of `origin` at `now` (Unix seconds), as `stored` (the budget's text in storage) has it.
    pub fn quote(
        &mut self,
        text: &str,
        from_header: bool,
        origin: String,
        now: f64,
        stored: Option<String>,
    ) -> Result<Quote, JsValue> {
        let challenge = if from_header {
            Challenge::from_header(text).map_err(from_core)?
        } else {
            Challenge::from_v1_body(text).map_err(|e| {
                let mut m =
                    String::from("402 without a PAYMENT-REQUIRED header or a v1 JSON body (");
                m.push_str(e.message());
                m.push(')');
                reason(Reason::MalformedChallenge, &m)
            })?
        };
        let offer = challenge.select(&self.policy).map_err(from_core)?;
        let req = &offer.requirement;
        // An offer the policy accepted has known decimals.
        let decimals = self.policy.decimals(req).unwrap_or(CAP_DECIMALS);
        // A budget counts millionths of a token, whatever the asset's decimals.
        let units = rescale(req.amount, decimals, CAP_DECIMALS, true);
        let now = now as u64;
        if let Some(b) = &mut self.budget {
            b.refresh(stored.as_deref());
            b.budget()
                .check(&origin, units, now, CAP_DECIMALS)
                .map_err(from_core)?;
        }
        Ok(Quote {
            challenge,
            offer,
            decimals,
            units,
            origin,
            now,
            signing: None,
        })
    }

    /// The payment header `[name, value, budget]` for a quote whose typed data the wallet signed
    /// (`signature`: 0x-prefixed hex, passed through unchanged); records the spending
    /// (`budget`: the text to store, `undefined` without a budget).
    pub fn payment(&mut self, quote: &Quote, signature: &str) -> Result<Array, JsValue> {
        let auth = quote
            .signing
            .as_ref()
            .ok_or_else(|| reason(Reason::InvalidPayload, "no typed data yet"))?;
        let signature = parse_hex_bytes(signature).ok_or_else(|| {
            reason(
                Reason::InvalidPayload,
                "the wallet's signature is not 0x-prefixed hex",
            )
        })?;
        let value = quote
            .challenge
            .payment_header(quote.offer.index, auth, &signature)
            .map_err(from_core)?;
        let name = if quote.challenge.version() == 1 {
            header::X_PAYMENT
        } else {
            header::PAYMENT_SIGNATURE
        };
        let budget = match &mut self.budget {
            Some(b) => b
                .record(&quote.origin, quote.units, quote.now, CAP_DECIMALS)
                .map_err(from_core)?
                .into(),
            None => JsValue::UNDEFINED,
        };
        Ok(Array::of3(&name.into(), &value.into(), &budget))
    }
}

#[wasm_bindgen]
impl Quote {
    /// What `confirm` receives: the offer in plain values (price in the asset's units).
    pub fn offer(&self) -> Result<JsValue, JsValue> {
        describe(&self.offer, self.decimals, self.challenge.version())
    }

    /// The `eth_signTypedData_v4` JSON of the authorization from `from` (the wallet's account)
    /// with a fresh 32-byte `nonce`.
    #[wasm_bindgen(js_name = typedData)]
    pub fn typed_data(&mut self, from: &str, nonce: &[u8]) -> Result<String, JsValue> {
        let from = parse_address(from).map_err(|e| reason(Reason::NoWallet, &e))?;
        let nonce = <[u8; 32]>::try_from(nonce)
            .map_err(|_| reason(Reason::InvalidPayload, "the nonce must be 32 bytes"))?;
        let req = &self.offer.requirement;
        let auth = build_authorization(req, from, self.now, B256::from(nonce));
        let text = typed_data_text(req, &auth);
        self.signing = Some(auth);
        Ok(text)
    }
}

/// What `confirm` receives: the offer in plain values (price in the asset's units).
fn describe(offer: &Offer, decimals: u8, version: u8) -> Result<JsValue, JsValue> {
    let r = &offer.requirement;
    let symbol = find_asset(&r.network, &r.asset).map_or("", |a| a.symbol);
    let o = Object::new();
    let text = |k: &str, v: &str| Reflect::set(&o, &k.into(), &v.into());
    let number = |k: &str, v: f64| Reflect::set(&o, &k.into(), &v.into());
    number("x402Version", version.into())?;
    text("scheme", "exact")?;
    text("network", r.network.as_str())?;
    number("chainId", r.chain_id as f64)?;
    text("asset", &checksummed(&r.asset))?;
    text("symbol", symbol)?;
    number("decimals", decimals.into())?;
    text("amount", &decimal_u256::format(&r.amount))?;
    text("price", &format_amount(r.amount, decimals))?;
    text("payTo", &checksummed(&r.pay_to))?;
    text("resource", &offer.resource)?;
    text("description", &offer.description)?;
    number("maxTimeoutSeconds", r.max_timeout_seconds as f64)?;
    Ok(o.into())
}
