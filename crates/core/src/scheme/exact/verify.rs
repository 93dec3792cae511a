//! Payment verification for the exact EVM scheme: every rule of `docs/protocol.md`,
//! "Verification" (which completes x402-foundation/x402 `specs/schemes/exact/scheme_exact_evm.md`,
//! "Phase 2: Verification Logic"), each failure carrying the reference's reason code.
//!
//! Order of checks: `accepted` must equal one of the server's requirements (diagnosed field by
//! field when it does not), the requirement and payload must parse, then recipient, amount,
//! time window, and finally the signature (low-s, `v`, recovery to `from` under the domain built
//! from the *server's* requirement). Signatures longer than 65 bytes come from smart wallets
//! (ERC-1271, ERC-6492): they are neither accepted nor rejected here but returned as
//! [`Verdict::NeedsOnChainCheck`], to be confirmed with `isValidSignature` on chain.
//!
//! On-chain state (balance, `authorizationState`) is not visible here; the Worker checks it
//! over JSON-RPC after this pure verification passes.

use super::types::{Authorization, ExactEvmPayload, ExactEvmRequirement, SCHEME};
use crate::error::{Error, Reason, Result};
use crate::evm::eip712::{token_domain_separator, transfer_signing_hash};
use crate::evm::signature::Signature;
use crate::wire::{v1, v2, AnyPaymentPayload};
use alloc::format;
use alloy_primitives::{Address, Bytes, B256, U256};

/// Seconds that must remain before `validBefore` for a settlement to land (the reference
/// rejects `validBefore < now + 6`).
pub const SETTLEMENT_MARGIN_SECONDS: u64 = 6;
/// Clock skew allowed between payer and verifier above the requirement's own bound: an
/// authorization may be valid until at most `now + maxTimeoutSeconds + CLOCK_SKEW_SECONDS`.
/// Without this bound a payment signed with `validBefore = 2^256 - 1` would stay valid forever.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

pub use crate::evm::signature::ERC6492_MAGIC;

/// A payment whose every off-chain check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// The payer (`authorization.from`).
    pub payer: Address,
    /// Index of the matched requirement in the server's list.
    pub requirement_index: usize,
    /// The matched requirement.
    pub requirement: ExactEvmRequirement,
    /// The authorization to settle.
    pub authorization: Authorization,
    /// The signature as sent (65 bytes for EOAs, longer for smart wallets).
    pub signature: Bytes,
    /// The EIP-712 digest that was signed.
    pub digest: B256,
}

impl VerifiedPayment {
    /// The split EOA signature, or `None` for a smart-wallet signature.
    pub fn eoa_signature(&self) -> Option<Signature> {
        Signature::from_bytes(&self.signature).ok()
    }
}

/// The result of verifying a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Every check passed (an EOA signature recovered to the payer).
    Valid(VerifiedPayment),
    /// Every other check passed, but the signature is a smart-wallet signature
    /// (ERC-1271 or ERC-6492, or, from [`verify_with_contract_signers`], a 65-byte signature
    /// by a key other than `from`, which only a contract wallet at `from` can accept) that only
    /// the chain can judge: call
    /// [`Verdict::confirm_smart_wallet`] with the result of `isValidSignature(digest, signature)`.
    NeedsOnChainCheck(VerifiedPayment),
}

impl Verdict {
    /// Completes a smart-wallet verification with the on-chain answer; passes `Valid` through.
    pub fn confirm_smart_wallet(self, chain_says_valid: bool) -> Result<VerifiedPayment> {
        match self {
            Verdict::Valid(p) => Ok(p),
            Verdict::NeedsOnChainCheck(p) if chain_says_valid => Ok(p),
            Verdict::NeedsOnChainCheck(p) => Err(Error::new(
                Reason::InvalidExactEvmSignature,
                format!("smart-wallet signature rejected by {} on chain", p.payer),
            )),
        }
    }

    /// The payment, whichever the verdict.
    pub fn payment(&self) -> &VerifiedPayment {
        match self {
            Verdict::Valid(p) | Verdict::NeedsOnChainCheck(p) => p,
        }
    }

    /// Whether the signature is a wrapped ERC-6492 one (counterfactual wallet).
    pub fn is_erc6492(&self) -> bool {
        self.payment().signature.ends_with(&ERC6492_MAGIC)
    }
}

/// Verifies a v2 payment against the requirements the server offered, at unix time `now`.
pub fn verify_v2(
    payment: &v2::PaymentPayload,
    offered: &[v2::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    verify_v2_with(payment, offered, now, Signers::EoaOnly)
}

fn verify_v2_with(
    payment: &v2::PaymentPayload,
    offered: &[v2::PaymentRequirements],
    now: u64,
    signers: Signers,
) -> Result<Verdict> {
    let index = match offered.iter().position(|r| *r == payment.accepted) {
        Some(i) => i,
        None => return Err(diagnose_mismatch(&payment.accepted, offered)),
    };
    let requirement = ExactEvmRequirement::from_v2(&offered[index])?;
    check(index, requirement, &payment.payload, 2, now, signers)
}

/// Verifies a v1 payment: the requirement is found by scheme and network, and the value must
/// be at least `maxAmountRequired`.
pub fn verify_v1(
    payment: &v1::PaymentPayload,
    offered: &[v1::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    verify_v1_with(payment, offered, now, Signers::EoaOnly)
}

fn verify_v1_with(
    payment: &v1::PaymentPayload,
    offered: &[v1::PaymentRequirements],
    now: u64,
    signers: Signers,
) -> Result<Verdict> {
    if payment.scheme != SCHEME {
        return Err(Error::new(
            Reason::InvalidExactEvmScheme,
            format!("scheme {:?} is not \"exact\"", payment.scheme),
        ));
    }
    let index = offered
        .iter()
        .position(|r| r.scheme == payment.scheme && r.network == payment.network)
        .ok_or_else(|| {
            Error::new(
                Reason::InvalidExactEvmNetworkMismatch,
                format!("no exact requirement for network {:?}", payment.network),
            )
        })?;
    let requirement = ExactEvmRequirement::from_v1(&offered[index])?;
    check(index, requirement, &payment.payload, 1, now, signers)
}

/// Verifies a payment of either version against the server's requirements of both versions.
pub fn verify(
    payment: &AnyPaymentPayload,
    offered_v1: &[v1::PaymentRequirements],
    offered_v2: &[v2::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    match payment {
        AnyPaymentPayload::V1(p) => verify_v1(p, offered_v1, now),
        AnyPaymentPayload::V2(p) => verify_v2(p, offered_v2, now),
    }
}

/// Who may have signed a 65-byte signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signers {
    /// Only the key of `authorization.from` (an EOA): a mismatch is an error.
    EoaOnly,
    /// `authorization.from` may be a contract wallet whose owner signed.
    ContractsToo,
}

/// [`verify`] for a verifier that can ask the chain, as USDC itself judges signatures: a 65-byte
/// signature that is well formed (low-s, valid `v`) but does **not** recover to
/// `authorization.from` gives [`Verdict::NeedsOnChainCheck`] instead of an error, because `from`
/// may be a contract wallet (ERC-1271) whose owner's ECDSA signature the wallet accepts.
///
/// The caller must then accept the payment only if `from` has code **and** its
/// `isValidSignature(digest, signature)` returns the ERC-1271 magic value; with no code at
/// `from` the payment is `invalid_exact_evm_signature`. Without a chain to ask, use [`verify`].
pub fn verify_with_contract_signers(
    payment: &AnyPaymentPayload,
    offered_v1: &[v1::PaymentRequirements],
    offered_v2: &[v2::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    match payment {
        AnyPaymentPayload::V1(p) => verify_v1_with(p, offered_v1, now, Signers::ContractsToo),
        AnyPaymentPayload::V2(p) => verify_v2_with(p, offered_v2, now, Signers::ContractsToo),
    }
}

/// [`verify_with_contract_signers`] for a v2 payment alone (facilitator requests).
pub fn verify_v2_with_contract_signers(
    payment: &v2::PaymentPayload,
    offered: &[v2::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    verify_v2_with(payment, offered, now, Signers::ContractsToo)
}

/// [`verify_with_contract_signers`] for a v1 payment alone (facilitator requests).
pub fn verify_v1_with_contract_signers(
    payment: &v1::PaymentPayload,
    offered: &[v1::PaymentRequirements],
    now: u64,
) -> Result<Verdict> {
    verify_v1_with(payment, offered, now, Signers::ContractsToo)
}

/// Says which field of `accepted` differs from the closest offered requirement.
fn diagnose_mismatch(
    accepted: &v2::PaymentRequirements,
    offered: &[v2::PaymentRequirements],
) -> Error {
    let mismatch = |reason, field: &str| {
        Error::new(
            reason,
            format!("accepted.{field} matches none of the payment requirements"),
        )
    };
    if accepted.scheme != SCHEME {
        return Error::new(
            Reason::InvalidExactEvmScheme,
            format!("scheme {:?} is not \"exact\"", accepted.scheme),
        );
    }
    let same_scheme = offered.iter().filter(|r| r.scheme == accepted.scheme);
    if !same_scheme.clone().any(|r| r.network == accepted.network) {
        return mismatch(Reason::InvalidExactEvmNetworkMismatch, "network");
    }
    let same_network = same_scheme.filter(|r| r.network == accepted.network);
    if !same_network.clone().any(|r| r.asset == accepted.asset) {
        return mismatch(Reason::InvalidExactEvmAssetMismatch, "asset");
    }
    let same_asset = same_network.filter(|r| r.asset == accepted.asset);
    if !same_asset.clone().any(|r| r.pay_to == accepted.pay_to) {
        return mismatch(Reason::InvalidExactEvmRecipientMismatch, "payTo");
    }
    if !same_asset
        .filter(|r| r.pay_to == accepted.pay_to)
        .any(|r| r.amount == accepted.amount)
    {
        return mismatch(Reason::InvalidExactEvmAuthorizationValue, "amount");
    }
    Error::new(
        Reason::InvalidPaymentRequirements,
        "accepted does not equal any of the payment requirements (maxTimeoutSeconds, extra or other fields differ)",
    )
}

fn check(
    requirement_index: usize,
    requirement: ExactEvmRequirement,
    payload: &serde_json::Value,
    version: u8,
    now: u64,
    signers: Signers,
) -> Result<Verdict> {
    let ExactEvmPayload {
        signature,
        authorization: auth,
    } = ExactEvmPayload::from_json(payload)?;

    if auth.to != requirement.pay_to {
        return Err(Error::new(
            Reason::InvalidExactEvmRecipientMismatch,
            format!(
                "authorization.to {} is not payTo {}",
                auth.to, requirement.pay_to
            ),
        ));
    }
    let value_ok = if version == 1 {
        auth.value >= requirement.amount
    } else {
        auth.value == requirement.amount
    };
    if !value_ok {
        return Err(Error::new(
            Reason::InvalidExactEvmAuthorizationValue,
            format!(
                "authorization.value {} does not pay the required {}",
                auth.value, requirement.amount
            ),
        ));
    }
    let now_u = U256::from(now);
    if auth.valid_before < now_u + U256::from(SETTLEMENT_MARGIN_SECONDS) {
        return Err(Error::new(
            Reason::InvalidExactEvmPayloadAuthorizationValidBefore,
            format!(
                "authorization expired (validBefore {} < now {now} + {SETTLEMENT_MARGIN_SECONDS}s)",
                auth.valid_before
            ),
        ));
    }
    let latest =
        now_u + U256::from(requirement.max_timeout_seconds) + U256::from(CLOCK_SKEW_SECONDS);
    if auth.valid_before > latest {
        return Err(Error::new(
            Reason::InvalidExactEvmPayloadAuthorizationValidBefore,
            format!(
                "authorization valid for too long (validBefore {} > now {now} + maxTimeoutSeconds {} + {CLOCK_SKEW_SECONDS}s)",
                auth.valid_before, requirement.max_timeout_seconds
            ),
        ));
    }
    if auth.valid_after > now_u {
        return Err(Error::new(
            Reason::InvalidExactEvmPayloadAuthorizationValidAfter,
            format!(
                "authorization not yet valid (validAfter {} > now {now})",
                auth.valid_after
            ),
        ));
    }

    // By hand from the ABI words, with the type hashes as constants (no runtime type strings):
    // equal to `signing_hash(&requirement.domain(), &auth.message())`.
    let separator = token_domain_separator(
        &requirement.eip712_name,
        &requirement.eip712_version,
        requirement.chain_id,
        requirement.asset,
    );
    let digest = transfer_signing_hash(&separator, &auth.message());
    let payment = VerifiedPayment {
        payer: auth.from,
        requirement_index,
        requirement,
        authorization: auth,
        signature: signature.clone(),
        digest,
    };
    if signature.len() > 65 {
        return Ok(Verdict::NeedsOnChainCheck(payment));
    }
    let recovered = Signature::from_bytes(&signature)?.recover(&digest)?;
    if recovered != auth.from && signers == Signers::ContractsToo {
        // Only `from`'s code can accept it now (ERC-1271), as USDC's signature check does.
        return Ok(Verdict::NeedsOnChainCheck(payment));
    }
    if recovered != auth.from {
        return Err(Error::new(
            Reason::InvalidExactEvmSignature,
            format!(
                "signature recovers to {recovered}, not authorization.from {}",
                auth.from
            ),
        ));
    }
    Ok(Verdict::Valid(payment))
}
