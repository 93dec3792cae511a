//! The Durable Objects of the `exact` paywall: the replay guard, one per payer and token (one
//! authorization honoured once, one balance promised once), and the relayer (one place assigns
//! the relayer's account nonces and broadcasts, for every transaction the Worker sends). The
//! `batch-settlement` channel object is `crate::batch::channel`.
//!
//! A Durable Object runs one event at a time, but events interleave at `await` points; the
//! objects therefore decide in memory, synchronously, after their last `await`, and persist
//! afterwards.

mod guard;
mod relayer;

pub use guard::ReplayGuard;
pub use relayer::Relayer;

pub(crate) use guard::GuardOp;
pub(crate) use relayer::{SendResult, SendTx, RELAYER_KEY};
