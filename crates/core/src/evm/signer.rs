//! Signing with a local private key (feature `local-signer`): for Node agents, tests and the
//! Worker's relayer. RFC 6979 deterministic nonces, low-s, `v` in {27, 28}.

use super::signature::{public_key_address, Signature};
use crate::error::{Error, Reason, Result};
use alloy_primitives::{Address, B256};
use core::fmt;
use k256::ecdsa::SigningKey;

/// A secp256k1 private key and its Ethereum address.
#[derive(Clone)]
pub struct LocalSigner {
    key: SigningKey,
    address: Address,
}

impl fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// From 32 private-key bytes.
    pub fn from_bytes(key: &B256) -> Result<Self> {
        let key = SigningKey::from_slice(key.as_slice()).map_err(|_| {
            Error::new(
                Reason::InvalidConfig,
                "private key is zero or not below the curve order",
            )
        })?;
        let address = public_key_address(key.verifying_key().as_affine());
        Ok(Self { key, address })
    }

    /// From `0x` + 64 hex digits.
    pub fn from_hex(key: &str) -> Result<Self> {
        let bytes: B256 = key.strip_prefix("0x").unwrap_or(key).parse().map_err(|_| {
            Error::new(Reason::InvalidConfig, "private key must be 32 bytes of hex")
        })?;
        Self::from_bytes(&bytes)
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest.
    pub fn sign_hash(&self, digest: &B256) -> Result<Signature> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|_| Error::new(Reason::UnexpectedVerifyError, "signing failed"))?;
        // k256 normalises to low-s and adjusts the recovery id accordingly.
        let (r, s) = sig.split_bytes();
        Ok(Signature {
            v: 27 + recid.to_byte(),
            r: B256::from_slice(&r),
            s: B256::from_slice(&s),
        })
    }

    // `sign_authorization`, the exact scheme's signing of an EIP-3009 authorization, is in
    // `crate::scheme::exact::client` (it takes the scheme's types).
}
