//! The Durable Objects: the replay guard, one per payer and token (one authorization honoured
//! once, one balance promised once); the relayer (one place assigns the relayer's account
//! nonces and broadcasts); and the channel object, one per `batch-settlement` channel.
//!
//! A Durable Object runs one event at a time, but events interleave at `await` points; the
//! objects therefore decide in memory, synchronously, after their last `await`, and persist
//! afterwards.

mod channel;
mod guard;
mod relayer;

pub use channel::Channel;
pub use guard::ReplayGuard;
pub use relayer::Relayer;

pub(crate) use channel::{Began, Begin, ChannelOp, Committed, Kind, Refused, CHANNEL_BINDING};
pub(crate) use guard::GuardOp;
pub(crate) use relayer::{SendResult, SendTx, RELAYER_KEY};
