//! Wallets: an EIP-1193 provider (`window.ethereum`, an EIP-6963 announced provider) or a
//! signer object `{ address, signTypedData(typedData) }` (the local-key wallet, or any signer).
//!
//! EIP-1193 flow (`x402-protocol.md` §6, "Direct EIP-1193 use"): `eth_requestAccounts`,
//! `eth_chainId`, `wallet_switchEthereumChain` (and `wallet_addEthereumChain` when the wallet
//! answers 4902, unknown chain), then `eth_signTypedData_v4` with the typed data JSON from core.
//! The signature is passed through unchanged (65 bytes for an EOA, longer for smart wallets).

use crate::error::{coded, reason, WALLET_ERROR};
use crate::js::{get, method, settle};
use js_sys::{Array, Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use x402_core::{exact::parse_address, Address, Reason};

/// EIP-1193 "User Rejected Request" and "Unauthorized".
const USER_REJECTED: [f64; 2] = [4001.0, 4100.0];
/// EIP-3085: the wallet does not know the chain.
const UNRECOGNIZED_CHAIN: f64 = 4902.0;

/// The wallet that signs a payment.
pub(crate) enum Wallet {
    /// An EIP-1193 provider.
    Provider(JsValue, Function),
    /// `{ address, signTypedData }`.
    Signer(JsValue, Function),
}

/// Maps a wallet failure: 4001/4100 → `user_rejected`; an error that already has a string
/// `code` (one of ours) is kept; anything else gets `fallback` with the wallet's message.
fn wallet_error(e: JsValue, doing: &str, fallback: &str) -> JsValue {
    let code = get(&e, "code");
    if code.is_string() {
        return e;
    }
    let msg = get(&e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_default();
    if code.as_f64().is_some_and(|c| USER_REJECTED.contains(&c)) {
        return reason(
            Reason::UserRejected,
            &format!("{doing}: the request was rejected in the wallet ({msg})"),
        );
    }
    coded(fallback, &format!("{doing}: {msg}"))
}

fn code_of(e: &JsValue) -> Option<f64> {
    get(e, "code").as_f64()
}

impl Wallet {
    /// Recognises a wallet value (error `no_wallet`).
    pub(crate) fn from_js(w: &JsValue) -> Result<Self, JsValue> {
        if let Some(request) = method(w, "request") {
            return Ok(Self::Provider(w.clone(), request));
        }
        if let Some(sign) = method(w, "signTypedData") {
            return Ok(Self::Signer(w.clone(), sign));
        }
        Err(reason(
            Reason::NoWallet,
            "no wallet: pass an EIP-1193 provider or a signer { address, signTypedData }",
        ))
    }

    async fn rpc(
        this: &JsValue,
        request: &Function,
        name: &str,
        params: &Array,
    ) -> Result<JsValue, JsValue> {
        let args = Object::new();
        Reflect::set(&args, &"method".into(), &name.into())?;
        Reflect::set(&args, &"params".into(), params)?;
        settle(request.call1(this, &args)?).await
    }

    /// The paying account.
    pub(crate) async fn account(&self) -> Result<Address, JsValue> {
        let raw = match self {
            Self::Provider(p, request) => {
                let accounts = Self::rpc(p, request, "eth_requestAccounts", &Array::new())
                    .await
                    .map_err(|e| wallet_error(e, "connecting the wallet", WALLET_ERROR))?;
                Array::from(&accounts).get(0)
            }
            Self::Signer(s, _) => get(s, "address"),
        };
        let text = raw
            .as_string()
            .ok_or_else(|| reason(Reason::NoWallet, "the wallet has no account"))?;
        parse_address(&text).map_err(|e| reason(Reason::NoWallet, &e))
    }

    async fn chain_id(p: &JsValue, request: &Function) -> Result<u64, JsValue> {
        let v = Self::rpc(p, request, "eth_chainId", &Array::new())
            .await
            .map_err(|e| wallet_error(e, "reading the wallet's network", WALLET_ERROR))?;
        let id = match v.as_string() {
            Some(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
            None => v.as_f64().map(|f| f as u64),
        };
        id.ok_or_else(|| coded(WALLET_ERROR, "eth_chainId returned no chain id"))
    }

    /// Makes sure the wallet is on `chain_id`, switching (or adding, with `add_params`, the
    /// EIP-3085 parameters) if needed. Signers sign for the chain in the typed data.
    pub(crate) async fn ensure_chain(
        &self,
        chain_id: u64,
        add_params: &JsValue,
        on_switch: impl Fn(),
    ) -> Result<(), JsValue> {
        let Self::Provider(p, request) = self else {
            return Ok(());
        };
        if Self::chain_id(p, request).await? == chain_id {
            return Ok(());
        }
        on_switch();
        let switch = Object::new();
        Reflect::set(
            &switch,
            &"chainId".into(),
            &format!("0x{chain_id:x}").into(),
        )?;
        let switch = Array::of1(&switch);
        let wrong = |e| {
            wallet_error(
                e,
                "switching the wallet's network",
                Reason::WrongChain.as_str(),
            )
        };
        match Self::rpc(p, request, "wallet_switchEthereumChain", &switch).await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some(UNRECOGNIZED_CHAIN) => {
                if !add_params.is_object() {
                    return Err(reason(
                        Reason::WrongChain,
                        &format!("the wallet does not know chain {chain_id} (pass its parameters in options.chains to add it)"),
                    ));
                }
                Self::rpc(
                    p,
                    request,
                    "wallet_addEthereumChain",
                    &Array::of1(add_params),
                )
                .await
                .map_err(wrong)?;
                Self::rpc(p, request, "wallet_switchEthereumChain", &switch)
                    .await
                    .map_err(wrong)?;
            }
            Err(e) => return Err(wrong(e)),
        }
        let now = Self::chain_id(p, request).await?;
        if now != chain_id {
            return Err(reason(
                Reason::WrongChain,
                &format!("the wallet is on chain {now}; this payment is on chain {chain_id}"),
            ));
        }
        Ok(())
    }

    /// Signs the typed data (JSON text from core) as `from`; returns the signature text.
    pub(crate) async fn sign(&self, from: Address, typed_data: &str) -> Result<String, JsValue> {
        let signed = match self {
            Self::Provider(p, request) => {
                let params = Array::of2(&from.to_checksum(None).into(), &typed_data.into());
                Self::rpc(p, request, "eth_signTypedData_v4", &params).await
            }
            Self::Signer(s, sign) => match sign.call1(s, &JSON::parse(typed_data)?) {
                Ok(v) => settle(v).await,
                Err(e) => Err(e),
            },
        }
        .map_err(|e| wallet_error(e, "signing the payment", WALLET_ERROR))?;
        signed
            .as_string()
            .ok_or_else(|| coded(WALLET_ERROR, "the wallet returned no signature"))
    }
}
