#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

pub mod challenge;
pub mod client;
pub mod config;
pub mod encoding;
pub mod error;
pub mod evm;
pub mod path;
pub mod relayer;
pub mod replay;
pub mod scheme;
pub mod wire;

#[cfg(feature = "pass")]
pub mod pass;

pub use alloy_primitives::{Address, Bytes, B256, U256};
pub use error::{Error, Reason, Result};
