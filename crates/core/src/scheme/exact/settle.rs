//! Settling an `exact` payment on chain: the token's EIP-3009 `transferWithAuthorization` with
//! the payer's authorization and signature (x402-foundation/x402
//! `specs/schemes/exact/scheme_exact_evm.md`, "Phase 3: Settlement Logic").

use super::verify::VerifiedPayment;
use crate::evm::tx::transfer_with_authorization_calldata;
use alloy_primitives::Bytes;

/// Calldata settling a verified payment: the `v, r, s` overload for a 65-byte EOA signature,
/// the `bytes` overload otherwise.
pub fn settle_calldata(p: &VerifiedPayment) -> Bytes {
    transfer_with_authorization_calldata(&p.authorization.message(), &p.signature)
}
