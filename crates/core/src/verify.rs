//! Payment verification for the exact EVM scheme: every rule of `x402-protocol.md` §7, each
//! failure carrying the reference's reason code.
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

use crate::eip712::{token_domain_separator, transfer_signing_hash};
use crate::error::{Error, Reason, Result};
use crate::exact::{Authorization, ExactEvmPayload, ExactEvmRequirement, SCHEME};
use crate::wire::{v1, v2, AnyPaymentPayload};
use alloc::format;
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use k256::elliptic_curve::ops::{Invert, Reduce};
use k256::elliptic_curve::point::DecompressPoint;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::subtle::Choice;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

/// Seconds that must remain before `validBefore` for a settlement to land (the reference
/// rejects `validBefore < now + 6`).
pub const SETTLEMENT_MARGIN_SECONDS: u64 = 6;
/// Clock skew allowed between payer and verifier above the requirement's own bound: an
/// authorization may be valid until at most `now + maxTimeoutSeconds + CLOCK_SKEW_SECONDS`.
/// Without this bound a payment signed with `validBefore = 2^256 - 1` would stay valid forever.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// The 32-byte suffix of an ERC-6492 wrapped signature.
pub const ERC6492_MAGIC: [u8; 32] = [
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
];

/// An EOA signature split as USDC's `transferWithAuthorization(…, v, r, s)` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// 27 or 28.
    pub v: u8,
    /// `r`.
    pub r: B256,
    /// `s`, at most secp256k1n/2.
    pub s: B256,
}

impl Signature {
    /// Parses a 65-byte `r ‖ s ‖ v` signature, accepting `v` in {0, 1, 27, 28} (normalised to
    /// 27/28) and rejecting high `s`, zero `r`/`s`, and any other length.
    pub fn from_bytes(sig: &[u8]) -> Result<Self> {
        let bad = |m: &str| Error::new(Reason::InvalidExactEvmSignature, m);
        if sig.len() != 65 {
            return Err(bad("an EOA signature is 65 bytes"));
        }
        let v = match sig[64] {
            0 | 27 => 27,
            1 | 28 => 28,
            other => {
                return Err(Error::new(
                    Reason::InvalidExactEvmSignature,
                    format!("invalid v {other}"),
                ))
            }
        };
        let r = B256::from_slice(&sig[..32]);
        let s = B256::from_slice(&sig[32..64]);
        let s_scalar = scalar(&s).ok_or_else(|| bad("s is zero or not below the curve order"))?;
        scalar(&r).ok_or_else(|| bad("r is zero or not below the curve order"))?;
        if bool::from(s_scalar.is_high()) {
            return Err(bad(
                "high-s signature (s > secp256k1n/2) is malleable and rejected",
            ));
        }
        Ok(Self { v, r, s })
    }

    /// `r ‖ s ‖ v` bytes.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        out[64] = self.v;
        out
    }

    /// Recovers the signing address of a 32-byte digest.
    ///
    /// One multi-scalar multiplication, `Q = r⁻¹(s·R − z·G)`: unlike
    /// `VerifyingKey::recover_from_prehash`, it does not verify the signature again after
    /// recovering (recovery already proves the key signed the digest), which halves the cost.
    pub fn recover(&self, digest: &B256) -> Result<Address> {
        let bad = |m: &str| Error::new(Reason::InvalidExactEvmSignature, m);
        let r = scalar(&self.r).ok_or_else(|| bad("r out of range"))?;
        let s = scalar(&self.s).ok_or_else(|| bad("s out of range"))?;
        let x = FieldBytes::from(self.r.0);
        let big_r =
            Option::<AffinePoint>::from(AffinePoint::decompress(&x, Choice::from(self.v - 27)))
                .ok_or_else(|| bad("r is not the x coordinate of a curve point"))?;
        let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(digest.0));
        // r is public: Stein's variable-time inversion instead of the constant-time addition
        // chain (~300 scalar multiplications, the slowest part of recovery in wasm32).
        let r_inv =
            Option::<Scalar>::from(r.invert_vartime()).ok_or_else(|| bad("r not invertible"))?;
        let q = lincomb_vartime(
            &ProjectivePoint::GENERATOR,
            &(-(r_inv * z)),
            &ProjectivePoint::from(big_r),
            &(r_inv * s),
        );
        if q == ProjectivePoint::IDENTITY {
            return Err(bad("recovered the point at infinity"));
        }
        Ok(public_key_address(&q.to_affine()))
    }
}

/// `λ`, the cube root of unity mod n with `λ·(x, y) = (β·x, y)` for k256's
/// [`ProjectivePoint::endomorphism`] (checked in a test).
const LAMBDA: [u8; 32] = hex32("5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72");
/// `-b1 mod n` and `-b2 mod n` of the short lattice basis `(a1, b1), (a2, b2)` of
/// `{(x, y) : x + y·λ ≡ 0 mod n}` (extended Euclid on `(n, λ)`).
const MINUS_B1: [u8; 32] =
    hex32("00000000000000000000000000000000e4437ed6010e88286f547fa90abfe4c3");
const MINUS_B2: [u8; 32] =
    hex32("fffffffffffffffffffffffffffffffe8a280ac50774346dd765cda83db1562c");
/// `round(2^384·b2 / n)` and `round(2^384·(-b1) / n)`.
const G1: [u8; 32] = hex32("3086d221a7d46bcde86c90e49284eb153daa8a1471e8ca7fe893209a45dbb031");
const G2: [u8; 32] = hex32("e4437ed6010e88286f547fa90abfe4c4221208ac9df506c61571b4ae8ac47f71");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 64 {
        out[i / 2] = (out[i / 2] << 4) | nibble(b[i]);
        i += 1;
    }
    out
}

fn scalar_const(b: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(*b))
}

/// `round(k·g / 2^384)` for a 256-bit `g` (a value below 2^128).
fn mul_shift_384(k: &k256::U256, g: &[u8; 32]) -> Scalar {
    let (_, hi) = k.mul_wide(&k256::U256::from_be_slice(g));
    let q = hi.shr_vartime(128);
    let q = if hi.bit_vartime(127) {
        q.wrapping_add(&k256::U256::ONE)
    } else {
        q
    };
    <Scalar as Reduce<k256::U256>>::reduce(q)
}

/// Splits `k` as `k1 + k2·λ (mod n)` with `k1`, `k2` of about 128 bits (GLV). The identity holds
/// by construction whatever the rounding; the constants only make the halves short.
fn split(k: &Scalar) -> (Scalar, Scalar) {
    let k_int = k256::U256::from_be_slice(&k.to_bytes());
    let c1 = mul_shift_384(&k_int, &G1);
    let c2 = mul_shift_384(&k_int, &G2);
    let k2 = c1 * scalar_const(&MINUS_B1) + c2 * scalar_const(&MINUS_B2);
    let k1 = *k - k2 * scalar_const(&LAMBDA);
    (k1, k2)
}

/// Window of the signed digits: odd digits in `(-2^W, 2^W)`, tables of `2^(W-1)` odd multiples.
const W: u32 = 4;
const TABLE: usize = 1 << (W - 1);

/// Width-(W+1) non-adjacent form of a scalar read as a signed value in `(-n/2, n/2]`: digits
/// `d_i` (odd or zero, `|d_i| < 2^W`) with `value = Σ d_i·2^i`, least significant first. Returns
/// the digits and how many there are.
fn wnaf(k: &Scalar) -> ([i8; 258], usize) {
    let negative = bool::from(k.is_high());
    let k = if negative { -*k } else { *k };
    let bytes = k.to_bytes();
    // Little-endian 64-bit limbs, one spare for the carry of subtracting a negative digit.
    let mut limbs = [0u64; 5];
    for (i, limb) in limbs.iter_mut().take(4).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[32 - 8 * (i + 1)..32 - 8 * i]);
        *limb = u64::from_be_bytes(word);
    }
    let mut digits = [0i8; 258];
    let mut len = 0;
    while limbs.iter().any(|&l| l != 0) {
        if limbs[0] & 1 == 1 {
            let window = (limbs[0] & ((2 << W) - 1)) as i64;
            let d = if window >= 1 << W {
                window - (2 << W)
            } else {
                window
            };
            // limbs -= d (d odd, |d| < 2^W): the low W+1 bits become zero.
            let (mut carry, sub) = if d >= 0 {
                (d as u64, true)
            } else {
                ((-d) as u64, false)
            };
            for l in limbs.iter_mut() {
                if carry == 0 {
                    break;
                }
                let (v, over) = if sub {
                    l.overflowing_sub(carry)
                } else {
                    l.overflowing_add(carry)
                };
                *l = v;
                carry = u64::from(over);
            }
            digits[len] = if negative { -d as i8 } else { d as i8 };
        }
        len += 1;
        for i in 0..5 {
            let high = if i < 4 { limbs[i + 1] << 63 } else { 0 };
            limbs[i] = (limbs[i] >> 1) | high;
        }
    }
    (digits, len)
}

/// `[P, 3P, 5P, …, (2^W - 1)P]`.
fn odd_multiples(p: &ProjectivePoint) -> [ProjectivePoint; TABLE] {
    let two_p = p.double();
    let mut table = [*p; TABLE];
    for i in 1..TABLE {
        table[i] = table[i - 1] + two_p;
    }
    table
}

/// `a·P + b·Q`, in variable time: only for public values (signature verification and recovery,
/// never signing). Both scalars are split with the GLV endomorphism into four ~128-bit halves,
/// each written in wNAF, and the four sums share one chain of ~128 doublings. Agrees with
/// k256's constant-time `lincomb` (checked in tests), with about a third fewer point additions and no
/// constant-time table scans.
fn lincomb_vartime(
    p: &ProjectivePoint,
    a: &Scalar,
    q: &ProjectivePoint,
    b: &Scalar,
) -> ProjectivePoint {
    let (a1, a2) = split(a);
    let (b1, b2) = split(b);
    let p_table = odd_multiples(p);
    let q_table = odd_multiples(q);
    let p_beta = p_table.map(|t| t.endomorphism());
    let q_beta = q_table.map(|t| t.endomorphism());
    let terms = [
        (wnaf(&a1), &p_table),
        (wnaf(&a2), &p_beta),
        (wnaf(&b1), &q_table),
        (wnaf(&b2), &q_beta),
    ];
    let top = terms.iter().map(|((_, len), _)| *len).max().unwrap_or(0);
    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..top).rev() {
        acc = acc.double();
        for ((digits, _), table) in &terms {
            let d = digits[i];
            if d > 0 {
                acc += table[(d / 2) as usize];
            } else if d < 0 {
                acc -= table[(-d / 2) as usize];
            }
        }
    }
    acc
}

/// A scalar in [1, n), or `None`.
fn scalar(b: &B256) -> Option<Scalar> {
    let s = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(b.0)))?;
    (!bool::from(s.is_zero())).then_some(s)
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of its uncompressed
/// coordinates.
pub(crate) fn public_key_address(point: &AffinePoint) -> Address {
    let encoded = point.to_encoded_point(false);
    Address::from_slice(&keccak256(&encoded.as_bytes()[1..])[12..])
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::ops::LinearCombination;

    /// Deterministic pseudo-random scalars (keccak of a counter).
    fn scalar_n(i: u64) -> Scalar {
        <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(
            keccak256(i.to_be_bytes()).0,
        ))
    }

    fn edge_scalars() -> impl Iterator<Item = Scalar> {
        let lambda = scalar_const(&LAMBDA);
        let two_128 = scalar_const(&hex32(
            "0000000000000000000000000000000100000000000000000000000000000000",
        ));
        let half = scalar_const(&hex32(
            "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
        ));
        [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(2u64),
            -Scalar::from(2u64),
            lambda,
            -lambda,
            lambda * lambda,
            two_128,
            two_128 - Scalar::ONE,
            -two_128,
            half,
            half + Scalar::ONE,
            -half,
            Scalar::from(u64::MAX),
        ]
        .into_iter()
    }

    #[test]
    fn lambda_is_the_endomorphism_of_k256() {
        let g = ProjectivePoint::GENERATOR;
        let lambda = scalar_const(&LAMBDA);
        assert_eq!(g.endomorphism(), g * lambda);
        let p = g * scalar_n(7);
        assert_eq!(p.endomorphism(), p * lambda);
        assert_eq!(lambda * lambda * lambda, Scalar::ONE);
        assert_ne!(lambda, Scalar::ONE);
    }

    #[test]
    fn split_recombines_into_short_halves() {
        let lambda = scalar_const(&LAMBDA);
        let short = |s: Scalar| {
            let abs = if bool::from(s.is_high()) { -s } else { s };
            abs.to_bytes()[..15].iter().all(|&b| b == 0) // below 2^136
        };
        for k in edge_scalars().chain((0..500).map(scalar_n)) {
            let (k1, k2) = split(&k);
            assert_eq!(k1 + k2 * lambda, k);
            assert!(short(k1) && short(k2), "{k:?} splits into long halves");
        }
    }

    #[test]
    fn wnaf_digits_sum_to_the_scalar() {
        for k in edge_scalars().chain((0..300).map(scalar_n)) {
            let (digits, len) = wnaf(&k);
            let mut sum = Scalar::ZERO;
            for &d in digits[..len].iter().rev() {
                sum = sum + sum;
                assert!(d == 0 || (d % 2 != 0 && i32::from(d).abs() < 1 << W), "{d}");
                sum += if d < 0 {
                    -Scalar::from(u64::from(d.unsigned_abs()))
                } else {
                    Scalar::from(u64::from(d.unsigned_abs()))
                };
            }
            assert_eq!(sum, k);
            assert!(digits[len..].iter().all(|&d| d == 0));
        }
    }

    #[test]
    fn vartime_lincomb_equals_k256s() {
        let g = ProjectivePoint::GENERATOR;
        let points = [
            g,
            g * scalar_n(1000),
            g * scalar_n(1001),
            -g,
            ProjectivePoint::IDENTITY,
        ];
        let scalars: alloc::vec::Vec<Scalar> =
            edge_scalars().chain((0..40).map(scalar_n)).collect();
        let mut checked = 0;
        for (i, a) in scalars.iter().enumerate() {
            for (j, b) in scalars.iter().enumerate().filter(|(j, _)| (i + j) % 5 == 0) {
                let (p, q) = (&points[i % points.len()], &points[j % points.len()]);
                let expected = ProjectivePoint::lincomb(p, a, q, b);
                assert_eq!(lincomb_vartime(p, a, q, b), expected, "{i} {j}");
                checked += 1;
            }
        }
        assert!(checked > 100);
        // Cancellation to the point at infinity, and a doubling inside the sum.
        let k = scalar_n(5);
        assert_eq!(lincomb_vartime(&g, &k, &g, &-k), ProjectivePoint::IDENTITY);
        assert_eq!(lincomb_vartime(&g, &k, &g, &k), g * (k + k));
    }

    #[test]
    fn recover_agrees_with_k256_recovery() {
        use k256::ecdsa::{RecoveryId, SigningKey, VerifyingKey};
        for i in 0..20u64 {
            let key =
                SigningKey::from_bytes(&FieldBytes::from(keccak256(i.to_le_bytes()).0)).unwrap();
            let digest = keccak256([i as u8; 3]);
            let (sig, recid) = key.sign_prehash_recoverable(digest.as_slice()).unwrap();
            let (sig, recid) = match sig.normalize_s() {
                Some(low) => (
                    low,
                    RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
                ),
                None => (sig, recid),
            };
            let expected =
                VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid).unwrap();
            let mut bytes = [0u8; 65];
            bytes[..64].copy_from_slice(&sig.to_bytes());
            bytes[64] = 27 + recid.to_byte();
            let ours = Signature::from_bytes(&bytes)
                .unwrap()
                .recover(&digest)
                .unwrap();
            assert_eq!(ours, public_key_address(expected.as_affine()));
            // Another digest recovers another key.
            let other = Signature::from_bytes(&bytes)
                .unwrap()
                .recover(&keccak256([i as u8; 4]))
                .unwrap();
            assert_ne!(other, ours);
        }
    }
}
