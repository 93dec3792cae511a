//! The EVM below the x402 messages: addresses, CAIP-2 networks, tokens and amounts, EIP-712
//! hashing, signatures, transactions and local-key signing. Imports only [`crate::encoding`] and
//! [`crate::error`]; nothing here knows an x402 message or scheme.

pub mod address;
pub mod asset;
pub mod eip712;
pub mod money;
pub mod network;
#[cfg(feature = "verify")]
mod recover;
#[cfg(feature = "verify")]
pub mod signature;
#[cfg(feature = "local-signer")]
pub mod signer;
#[cfg(feature = "verify")]
pub mod tx;
