//! The `exact` scheme on EVM chains with EIP-3009 `transferWithAuthorization`: one signed
//! transfer of exactly the price per payment (x402-foundation/x402
//! `specs/schemes/exact/scheme_exact_evm.md`, "1. AssetTransferMethod: EIP-3009").
//!
//! [`types`] reads requirements and payloads strictly; [`client`] builds what the wallet signs
//! and the payment; [`verify`] applies every rule with its reason code; [`settle`] writes the
//! settlement call (both with feature `verify`).

pub mod client;
#[cfg(feature = "verify")]
pub mod settle;
pub mod types;
#[cfg(feature = "verify")]
pub mod verify;

pub use client::{
    authorization_digest, build_authorization, build_payment, typed_data, VALID_AFTER_SKEW_SECONDS,
};
pub use types::{Authorization, ExactEvmPayload, ExactEvmRequirement, SCHEME};
