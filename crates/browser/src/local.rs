//! The local-key wallet (feature `local-signer`, the `x402-wasm/local` build): a signer for Node
//! and agents that signs only EIP-3009 `TransferWithAuthorization` typed data (exact payments),
//! `ReceiveWithAuthorization` typed data (channel deposits), exactly as core writes them, and
//! text messages (`personal_sign`: a restore's sign-in). Not in the browser bundle.

use crate::error::from_core;
use wasm_bindgen::prelude::*;
use x402_core::{
    client::channel::receive_typed_data_digest,
    evm::eip712::{parse_transfer_typed_data, signing_hash},
    evm::signer::LocalSigner,
    Bytes,
};

/// A wallet holding a private key: `{ address, signTypedData(typedData), signMessage(text) }`.
#[wasm_bindgen]
pub struct LocalWallet {
    signer: LocalSigner,
}

#[wasm_bindgen]
impl LocalWallet {
    /// From a private key, `0x` + 64 hex digits.
    #[wasm_bindgen(constructor)]
    pub fn new(private_key: &str) -> Result<LocalWallet, JsValue> {
        Ok(LocalWallet {
            signer: LocalSigner::from_hex(private_key).map_err(from_core)?,
        })
    }

    /// The checksummed address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.signer.address().to_checksum(None)
    }

    /// Signs a text message as `personal_sign` does (EIP-191: the Sign-In-With-X message of a
    /// restore); returns the 65-byte signature as hex.
    #[wasm_bindgen(js_name = signMessage)]
    pub fn sign_message(&self, message: &str) -> Result<String, JsValue> {
        let digest = x402_core::wire::siwx::personal_sign_digest(message);
        let sig = self.signer.sign_hash(&digest).map_err(from_core)?;
        Ok(Bytes::from(sig.to_bytes().to_vec()).to_string())
    }

    /// Signs typed data (object or JSON text) of a `TransferWithAuthorization` or a channel
    /// deposit's `ReceiveWithAuthorization`; returns the
    /// 65-byte signature as hex (`v` in {27, 28}).
    #[wasm_bindgen(js_name = signTypedData)]
    pub fn sign_typed_data(&self, typed_data: JsValue) -> Result<String, JsValue> {
        let text = match typed_data.as_string() {
            Some(t) => t,
            None => js_sys::JSON::stringify(&typed_data)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default(),
        };
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            from_core(x402_core::Error::new(
                x402_core::Reason::InvalidPayload,
                "typed data is not JSON",
            ))
        })?;
        // A `batch-settlement` deposit's `ReceiveWithAuthorization`, else an exact payment's
        // `TransferWithAuthorization`: each read back exactly as core writes it.
        let digest = if json.get("primaryType").and_then(|p| p.as_str())
            == Some("ReceiveWithAuthorization")
        {
            receive_typed_data_digest(&json).map_err(from_core)?
        } else {
            let (domain, message) = parse_transfer_typed_data(&json).map_err(from_core)?;
            signing_hash(&domain, &message)
        };
        let sig = self.signer.sign_hash(&digest).map_err(from_core)?;
        Ok(Bytes::from(sig.to_bytes().to_vec()).to_string())
    }
}
