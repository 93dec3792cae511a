#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

pub mod asset;
pub mod challenge;
pub mod client;
pub mod config;
pub mod eip712;
pub mod encoding;
pub mod error;
pub mod exact;
pub mod header;
pub mod money;
pub mod network;
pub mod path;
pub mod relayer;
pub mod replay;
pub mod scheme;
pub mod wire;

#[cfg(feature = "verify")]
pub mod evm_tx;
#[cfg(feature = "pass")]
pub mod pass;
#[cfg(feature = "local-signer")]
pub mod signer;
#[cfg(feature = "verify")]
pub mod verify;

pub use alloy_primitives::{Address, Bytes, B256, U256};
pub use error::{Error, Reason, Result};
