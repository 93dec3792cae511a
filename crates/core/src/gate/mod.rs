//! The paywall's rules, the top layer: its configuration, the canonical request path, access
//! passes, the replay guard and the relayer's nonce rule, pure and tested here so the Worker
//! only stores and performs I/O. May import every layer below.

pub mod config;
#[cfg(feature = "pass")]
pub mod pass;
pub mod path;
pub mod relayer;
pub mod replay;
