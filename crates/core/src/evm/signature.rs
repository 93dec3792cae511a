//! An EOA signature as Ethereum writes it, 65 bytes `r ‖ s ‖ v`, read with the rules of USDC's
//! `ECRecover` (low `s`, `v` in {27, 28} after mapping 0 and 1), and the signer's address
//! recovered from it and a digest (`Q = r⁻¹(s·R − z·G)`, the curve arithmetic in `recover`).

use super::recover::lincomb_vartime;
use crate::error::{Error, Reason, Result};
use alloc::format;
use alloy_primitives::{keccak256, Address, B256};
use k256::elliptic_curve::ops::{Invert, Reduce};
use k256::elliptic_curve::point::DecompressPoint;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::subtle::Choice;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

/// The 32-byte suffix of an ERC-6492 wrapped signature (a contract wallet not deployed yet).
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

#[cfg(test)]
mod tests {
    use super::*;

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
