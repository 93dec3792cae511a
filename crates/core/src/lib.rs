//! # x402-core
//!
//! Pure Rust implementation of the [x402 payment protocol](https://x402.org): HTTP 402 answered
//! with what a server accepts, paid with a signed EIP-3009 stablecoin transfer authorization.
//!
//! The crate has no JavaScript or platform dependency: it builds natively, for
//! `wasm32-unknown-unknown`, and without `std` (with `alloc`). Time, randomness and signing keys
//! are always parameters, never read from the environment.
//!
//! | module | what it implements |
//! | --- | --- |
//! | [`wire`] | every x402 message, v1 and v2, with strict parsing |
//! | [`header`] | the `PAYMENT-*` / `X-PAYMENT*` HTTP header codecs (padded base64 of JSON) |
//! | [`network`] | CAIP-2 network ids and the v1 network names |
//! | [`asset`] | known USDC deployments and their EIP-712 domains |
//! | [`money`] | `"$0.01"` prices to atomic amounts and back |
//! | [`eip712`] | the EIP-3009 `TransferWithAuthorization` typed data, hashes and wallet JSON |
//! | [`exact`] | the `exact` EVM scheme: typed views of requirements and payloads |
//! | [`client`] | choosing a requirement under a policy, building the payload, budgets |
//! | [`verify`] | every check a careful facilitator makes, with x402 reason codes (feature `verify`) |
//! | [`signer`] | RFC 6979 signing with a local key (feature `local-signer`) |
//! | [`error`] | the error type and its stable x402 reason codes |
//!
//! ```
//! use x402_core::{header, wire::PaymentRequired};
//!
//! let b64 = "eyJ4NDAyVmVyc2lvbiI6MiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9hIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjo2MCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";
//! let challenge: PaymentRequired = header::decode_payment_required(b64)?;
//! assert_eq!(challenge.accepts[0].amount.to_string(), "10000");
//! assert_eq!(header::encode(&challenge)?, b64);
//! # Ok::<(), x402_core::Error>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

pub mod asset;
pub mod base64;
pub mod client;
pub mod eip712;
pub mod error;
pub mod exact;
pub mod header;
pub mod money;
pub mod network;
pub mod wire;

#[cfg(feature = "local-signer")]
pub mod signer;
#[cfg(feature = "verify")]
pub mod verify;

pub use alloy_primitives::{Address, Bytes, B256, U256};
pub use error::{Error, Reason};
