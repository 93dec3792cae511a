//! `batch-settlement` at the edge (x402 `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`):
//! the paid flow of a channel payment ([`flow`]), the channel object, one Durable Object per
//! channel ([`channel`]), and the contract calls and chain reads, sent by the Worker itself or
//! through a facilitator ([`onchain`]).

#[allow(missing_docs)] // the #[durable_object] macro generates undocumented glue
pub(crate) mod channel;
pub(crate) mod flow;
pub(crate) mod onchain;
