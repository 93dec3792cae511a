#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

// The layers, lowest first: each imports only from itself and the ones above it here
// (`node scripts/check-layers.mjs` checks it). `error` is used by every layer.
pub mod error;

pub mod encoding;

pub mod evm;

pub mod wire;

pub mod scheme;

pub mod client;

pub mod gate;

pub use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
pub use error::{Error, Reason, Result};
