//! The paying fetch (`x402-protocol.md` §6 and §10): send; on 402 read the challenge
//! (`PAYMENT-REQUIRED` first, the v1 JSON body as fallback); choose under the policy; check the
//! budget; ask `confirm`; have the wallet sign core's typed data; repeat the request once with
//! `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1). Never loops. A signed payment whose request
//! failed at the network level is kept and re-sent unchanged when the same request meets the
//! same challenge again, so a lost response cannot lead to a second signature.

use crate::budget::BudgetStore;
use crate::error::{from_core, reason};
use crate::js::{amount_text, get, get_random_values, method, settle, Request, Response};
use crate::wallet::Wallet;
use js_sys::{Array, Date, Function, Object, Reflect};
use std::{cell::RefCell, rc::Rc};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use x402_core::{
    asset::find_asset,
    challenge::{typed_data_text, Challenge},
    client::{build_authorization, AllowedAsset, Offer, Policy},
    exact::parse_hex_bytes,
    header,
    money::format_amount,
    network::Network,
    wire::decimal_u256,
    Reason, B256, U256,
};

/// A payment signed for one request and challenge, kept until a response arrives.
struct Signed {
    key: String,
    header: &'static str,
    value: String,
    valid_before: u64,
}

struct Inner {
    fetch: Function,
    wallet: JsValue,
    policy: Policy,
    budget: Option<RefCell<BudgetStore>>,
    confirm: Option<Function>,
    on_status: Option<Function>,
    chains: JsValue,
    signed: RefCell<Vec<Signed>>,
}

/// A `fetch` that pays x402 challenges. JS: `new PayingFetch(fetch, wallet, options)`, then
/// `.fetch(input, init)`; the package's `wrapFetch` returns that as a plain function.
#[wasm_bindgen]
pub struct PayingFetch {
    inner: Rc<Inner>,
}

/// `https://host:port` of a URL.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..].find('/').map_or(url, |i| &url[..start + i])
}

fn now_seconds() -> u64 {
    (Date::now() / 1000.0) as u64
}

#[wasm_bindgen]
impl PayingFetch {
    /// `fetch`: the function to send with (the global `fetch` when not a function). `wallet`:
    /// an EIP-1193 provider or a signer. `options`: `maxAmount`, `allowedNetworks`,
    /// `allowedAssets`, `preferredNetworks` (core `Policy`), `budget`, `storage`, `confirm`,
    /// `onStatus`, `chains`.
    #[wasm_bindgen(constructor)]
    pub fn new(fetch: JsValue, wallet: JsValue, options: JsValue) -> Result<PayingFetch, JsValue> {
        let fetch = if fetch.is_function() {
            fetch.unchecked_into()
        } else {
            method(&js_sys::global(), "fetch")
                .ok_or_else(|| reason(Reason::InvalidConfig, "no fetch function"))?
        };
        let policy = policy_from(&options)?;
        let budget_cfg = get(&options, "budget");
        let budget = if budget_cfg.is_object() {
            Some(RefCell::new(BudgetStore::open(
                &budget_cfg,
                get(&options, "storage"),
            )?))
        } else {
            None
        };
        Ok(PayingFetch {
            inner: Rc::new(Inner {
                fetch,
                wallet,
                policy,
                budget,
                confirm: method(&options, "confirm"),
                on_status: method(&options, "onStatus"),
                chains: get(&options, "chains"),
                signed: RefCell::new(Vec::new()),
            }),
        })
    }

    /// Sends a request, paying a 402 once. Resolves to the `Response`.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.run(input, init).await })
    }
}

impl Inner {
    fn status(&self, state: &str) {
        if let Some(f) = &self.on_status {
            let _ = f.call1(&JsValue::NULL, &state.into());
        }
    }

    async fn send(&self, request: &Request) -> Result<Response, JsValue> {
        Ok(settle(self.fetch.call1(&js_sys::global(), request)?)
            .await?
            .unchecked_into())
    }

    async fn run(&self, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
        let request = Request::new(&input, &init)?;
        let headers = crate::js::headers_of(&request);
        let already_paid = headers.has(header::PAYMENT_SIGNATURE) || headers.has(header::X_PAYMENT);
        // Cloned before sending, so a body can be sent again.
        let retry = request.duplicate();
        let response = self.send(&request).await?;
        if response.status() != 402 {
            return Ok(response.into());
        }
        if already_paid {
            return Err(reason(
                Reason::PaymentAlreadyAttempted,
                "the request already carried a payment and the server answered 402 again",
            ));
        }
        let (challenge, text) = match crate::js::headers_of(&response).get(header::PAYMENT_REQUIRED)
        {
            Some(h) => (Challenge::from_header(&h).map_err(from_core)?, h),
            None => {
                let body = settle(response.duplicate().text().into())
                    .await?
                    .as_string()
                    .unwrap_or_default();
                let v1 = Challenge::from_v1_body(&body).map_err(|e| {
                    reason(
                        Reason::MalformedChallenge,
                        &format!(
                            "402 without a PAYMENT-REQUIRED header or a v1 JSON body ({})",
                            e.message()
                        ),
                    )
                })?;
                (v1, body)
            }
        };
        let now = now_seconds();
        let url = request.url();
        let key = format!("{} {url}\n{text}", request.method());
        let kept = self
            .signed
            .borrow()
            .iter()
            .find(|s| s.key == key && s.valid_before > now + 5)
            .map(|s| (s.header, s.value.clone()));
        let (name, value) = match kept {
            Some(kept) => kept,
            None => {
                self.sign(&challenge, origin(&url), now, key.clone())
                    .await?
            }
        };
        crate::js::headers_of(&retry).set(name, &value);
        self.status("settling");
        // On a network failure the signed payment stays for the next attempt.
        let paid = self.send(&retry).await?;
        self.signed.borrow_mut().retain(|s| s.key != key);
        Ok(paid.into())
    }

    /// Chooses, checks, confirms and signs; returns the payment header.
    async fn sign(
        &self,
        challenge: &Challenge,
        origin: &str,
        now: u64,
        key: String,
    ) -> Result<(&'static str, String), JsValue> {
        let offer = challenge.select(&self.policy).map_err(from_core)?;
        let req = &offer.requirement;
        let decimals = find_asset(&req.network, &req.asset).map_or(6, |a| a.decimals);
        if let Some(b) = &self.budget {
            let mut b = b.borrow_mut();
            b.refresh();
            b.budget()
                .check(origin, req.amount, now, decimals)
                .map_err(from_core)?;
        }
        let wallet = Wallet::from_js(&self.wallet)?;
        if let Some(confirm) = &self.confirm {
            let described = describe(&offer, decimals, challenge.version())?;
            if !settle(confirm.call1(&JsValue::NULL, &described)?)
                .await?
                .is_truthy()
            {
                return Err(reason(Reason::UserRejected, "the payment was declined"));
            }
        }
        self.status("connect");
        let from = wallet.account().await?;
        let add = get(&self.chains, req.network.as_str());
        wallet
            .ensure_chain(req.chain_id, &add, || self.status("switch"))
            .await?;
        let mut nonce = [0u8; 32];
        get_random_values(&mut nonce)?;
        let auth = build_authorization(req, from, now, B256::from(nonce));
        let typed = typed_data_text(req, &auth);
        self.status("sign");
        let signature = wallet.sign(from, &typed).await?;
        let signature = parse_hex_bytes(&signature).ok_or_else(|| {
            reason(
                Reason::InvalidPayload,
                "the wallet's signature is not 0x-prefixed hex",
            )
        })?;
        let value = challenge
            .payment_header(offer.index, &auth, &signature)
            .map_err(from_core)?;
        let name = if challenge.version() == 1 {
            header::X_PAYMENT
        } else {
            header::PAYMENT_SIGNATURE
        };
        if let Some(b) = &self.budget {
            b.borrow_mut()
                .record(origin, req.amount, now, decimals)
                .map_err(from_core)?;
        }
        self.signed.borrow_mut().push(Signed {
            key,
            header: name,
            value: value.clone(),
            valid_before: now.saturating_add(req.max_timeout_seconds),
        });
        Ok((name, value))
    }
}

fn invalid_option(what: &str) -> JsValue {
    reason(Reason::InvalidConfig, &format!("invalid option {what}"))
}

/// An optional list option: `undefined`/`null` → `None`; otherwise an array.
fn list(options: &JsValue, key: &str) -> Result<Option<Array>, JsValue> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if !Array::is_array(&v) {
        return Err(invalid_option(&format!("{key}: expected an array")));
    }
    Ok(Some(v.unchecked_into()))
}

fn networks(options: &JsValue, key: &str) -> Result<Option<Vec<Network>>, JsValue> {
    let Some(items) = list(options, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|n| {
            n.as_string()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid_option(&format!("{key}: CAIP-2 network ids (eip155:8453)")))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// An amount option in atomic units: decimal string, integer number or bigint.
fn amount(v: &JsValue, what: &str) -> Result<U256, JsValue> {
    amount_text(v)
        .and_then(|t| decimal_u256::parse(&t).ok())
        .ok_or_else(|| invalid_option(&format!("{what}: atomic units as a decimal string")))
}

/// The core [`Policy`] from the options `maxAmount` (absent: the default $0.10; `null`: no
/// cap), `allowedNetworks`, `allowedAssets` (`[{ network, asset, maxAmount? }]`) and
/// `preferredNetworks`.
fn policy_from(options: &JsValue) -> Result<Policy, JsValue> {
    let mut policy = Policy::default();
    let max = get(options, "maxAmount");
    if max.is_null() {
        policy.max_amount = None;
    } else if !max.is_undefined() {
        policy.max_amount = Some(amount(&max, "maxAmount")?);
    }
    policy.allowed_networks = networks(options, "allowedNetworks")?;
    policy.preferred_networks = networks(options, "preferredNetworks")?.unwrap_or_default();
    if let Some(items) = list(options, "allowedAssets")? {
        let mut assets = Vec::new();
        for a in items.iter() {
            let network = get(&a, "network")
                .as_string()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid_option("allowedAssets[].network: a CAIP-2 network id"))?;
            let asset = get(&a, "asset")
                .as_string()
                .ok_or_else(|| invalid_option("allowedAssets[].asset: a token address"))?;
            let cap = get(&a, "maxAmount");
            let max_amount = if cap.is_undefined() || cap.is_null() {
                None
            } else {
                Some(amount(&cap, "allowedAssets[].maxAmount")?)
            };
            assets.push(AllowedAsset {
                network,
                asset,
                max_amount,
            });
        }
        policy.allowed_assets = Some(assets);
    }
    Ok(policy)
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
    text("asset", &r.asset.to_checksum(None))?;
    text("symbol", symbol)?;
    number("decimals", decimals.into())?;
    text("amount", &decimal_u256::format(&r.amount))?;
    text("price", &format_amount(r.amount, decimals))?;
    text("payTo", &r.pay_to.to_checksum(None))?;
    text("resource", &offer.resource)?;
    text("description", &offer.description)?;
    number("maxTimeoutSeconds", r.max_timeout_seconds as f64)?;
    Ok(o.into())
}
