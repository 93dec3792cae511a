//! The two Durable Objects: the replay guard, one per payer and token (one authorization
//! honoured once, one balance promised once), and the relayer (one place assigns the relayer's
//! account nonces and broadcasts).
//!
//! A Durable Object runs one event at a time, but events interleave at `await` points; both
//! objects therefore decide in memory, synchronously, after their last `await`, and persist
//! afterwards.

mod guard;
mod relayer;

pub use guard::ReplayGuard;
pub use relayer::Relayer;

pub(crate) use guard::GuardOp;
pub(crate) use relayer::{SendResult, SendTx, RELAYER_KEY};
