//! The Durable Objects of the `exact` paywall: the replay guard, one per payer and token (one
//! authorization honoured once, one balance promised once), and the relayers, one per relayer
//! key (one place assigns that key's account nonces, broadcasts, and follows its transactions
//! until they are mined). The
//! `batch-settlement` channel object is `crate::batch::channel`.
//!
//! A Durable Object runs one event at a time, but events interleave at `await` points; the
//! objects therefore decide in memory, synchronously, after their last `await`, and persist
//! afterwards.

pub(crate) mod call;
mod guard;
mod relayer;

pub use guard::ReplayGuard;
pub use relayer::Relayer;

pub(crate) use guard::{GuardOp, SignInAnswer};
pub(crate) use relayer::{
    key_secret, object_name, GuardRef, KeyStatus, RelayerOp, SendResult, SendTx, RELAYER_KEY,
};
