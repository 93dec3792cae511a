//! The paying client's rules: which offer of a challenge to pay under a policy (caps,
//! allow-lists, preferred networks), spending budgets, `batch-settlement` channels ([`channel`]), and the serde-free challenge reader the
//! browser bundle links. Imports the scheme, wire, EVM and encoding layers and [`crate::error`].

pub mod budget;
pub mod challenge;
pub mod channel;
mod fields;
pub mod offer;
pub mod policy;
#[cfg(feature = "verify")]
pub mod receipt;
pub mod sign_in;
pub mod withdraw;

pub use budget::{Budget, Spent};
pub use offer::Offer;
pub use policy::{
    rescale, AllowedAsset, Policy, CAP_DECIMALS, DEFAULT_MAX_AMOUNT, DEFAULT_MAX_TIMEOUT_SECONDS,
};
