//! The paying side of `exact`: the EIP-3009 authorization a wallet signs for a requirement, as
//! the reference client fills it (x402-foundation/x402
//! `typescript/packages/mechanisms/evm/src/exact/client/eip3009.ts`), its EIP-712 typed data and
//! digest, and the payment that carries it. Nothing here reads the clock or randomness: `now`
//! and the `nonce` are parameters.

use super::types::{Authorization, ExactEvmPayload, ExactEvmRequirement};
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::eip712::{signing_hash, typed_data_json};
use crate::wire::{
    payment_identifier, v1, v2, AnyPaymentPayload, AnyPaymentRequired, JsonMap, V1, V2,
};
use alloy_primitives::{Address, Bytes, B256, U256};

/// Seconds `validAfter` is back-dated to tolerate clock skew (the reference uses 600).
pub const VALID_AFTER_SKEW_SECONDS: u64 = 600;

/// Builds the authorization for an offer as the reference client does:
/// `validAfter = now − 600`, `validBefore = now + maxTimeoutSeconds`, `value = amount`.
pub fn build_authorization(
    offer: &ExactEvmRequirement,
    from: Address,
    now: u64,
    nonce: B256,
) -> Authorization {
    Authorization {
        from,
        to: offer.pay_to,
        value: offer.amount,
        valid_after: U256::from(now.saturating_sub(VALID_AFTER_SKEW_SECONDS)),
        valid_before: U256::from(now.saturating_add(offer.max_timeout_seconds)),
        nonce,
    }
}

/// The `eth_signTypedData_v4` JSON for an authorization.
pub fn typed_data(offer: &ExactEvmRequirement, auth: &Authorization) -> Result<serde_json::Value> {
    typed_data_json(&offer.domain(), &auth.message())
}

/// The digest the wallet signs for an authorization.
pub fn authorization_digest(offer: &ExactEvmRequirement, auth: &Authorization) -> B256 {
    signing_hash(&offer.domain(), &auth.message())
}

/// A challenge's `extensions` as a payment echoes them: a declared `payment-identifier` whose
/// `info` names no id yet gets this purchase's id at the end of `info`
/// ([`payment_identifier::id_for_nonce`] of the authorization's nonce, so every resend of the
/// payment carries the same id); everything else is echoed as it is.
fn with_payment_id(extensions: &JsonMap, nonce: &[u8; 32]) -> JsonMap {
    let mut out = extensions.clone();
    if let Some(info) = out
        .get_mut(payment_identifier::KEY)
        .and_then(|d| d.get_mut("info"))
        .and_then(serde_json::Value::as_object_mut)
    {
        if !info.contains_key("id") {
            info.insert("id".into(), payment_identifier::id_for_nonce(nonce).into());
        }
    }
    out
}

/// Assembles the payment for the chosen entry of a challenge: v2 copies `accepted` verbatim
/// with the challenge's `resource` and `extensions`; v1 names scheme and network.
pub fn build_payment(
    challenge: &AnyPaymentRequired,
    index: usize,
    authorization: Authorization,
    signature: Bytes,
) -> Result<AnyPaymentPayload> {
    let nonce = authorization.nonce.0;
    let payload = ExactEvmPayload {
        signature,
        authorization,
    }
    .to_json();
    let missing = || {
        Error::new(
            Reason::NoAcceptableRequirement,
            cat(&["no requirement #", &dec(index as u64)]),
        )
    };
    Ok(match challenge {
        AnyPaymentRequired::V2(c) => AnyPaymentPayload::V2(v2::PaymentPayload {
            x402_version: V2,
            resource: Some(c.resource.clone()),
            accepted: c.accepts.get(index).ok_or_else(missing)?.clone(),
            payload,
            extensions: c.extensions.as_ref().map(|e| with_payment_id(e, &nonce)),
        }),
        AnyPaymentRequired::V1(c) => {
            let r = c.accepts.get(index).ok_or_else(missing)?;
            AnyPaymentPayload::V1(v1::PaymentPayload {
                x402_version: V1,
                scheme: r.scheme.clone(),
                network: r.network.clone(),
                payload,
            })
        }
    })
}

#[cfg(feature = "local-signer")]
impl crate::evm::signer::LocalSigner {
    /// Signs an EIP-3009 authorization for a requirement (its EIP-712 domain).
    pub fn sign_authorization(
        &self,
        requirement: &ExactEvmRequirement,
        authorization: &Authorization,
    ) -> Result<crate::evm::signature::Signature> {
        self.sign_hash(&signing_hash(
            &requirement.domain(),
            &authorization.message(),
        ))
    }
}
