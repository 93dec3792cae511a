//! The `batch-settlement` scheme on EVM chains (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`): a payer deposits once into
//! a channel of `x402BatchSettlement`, then signs a cumulative voucher per request; the server
//! charges against the latest voucher and claims in batches.
//!
//! - [`types`]: the EIP-712 structs and the contract ABI, declared once with `sol!`;
//! - [`digest`]: the domain, channel id, voucher / refund / claim-batch digests, the ERC-3009
//!   deposit nonce, and the `eth_signTypedData_v4` JSON of each;
//! - [`wire`]: the offer's `extra` and every payload (client deposit / voucher / refund, the
//!   server's enriched refund, claim and settle), strictly parsed;
//! - [`response`]: channel state from a facilitator, the success and corrective-402 `extra`,
//!   and the scheme's settlement answer;
//! - [`onchain`]: the contract calls a facilitator makes (deposit, claim, settle, refund) as
//!   calldata, and the channel-state reads (one Multicall3 `tryAggregate`) decoded (feature
//!   `verify`);
//! - [`client`]: the paying side: channel config, deposit size, the messages to sign, the
//!   payloads, and the checks on the server's answers;
//! - [`rules`]: the verification rules with their reason codes (feature `verify`);
//! - [`channel`]: the server's per-channel record and its transitions, as pure functions;
//! - [`named`]: charges named by a `payment-identifier` id, answered again under that id.

pub mod channel;
pub mod client;
pub mod digest;
mod fields;
pub mod named;
#[cfg(feature = "verify")]
pub mod onchain;
pub mod response;
#[cfg(feature = "verify")]
pub mod rules;
pub mod types;
pub mod wire;

/// The scheme name.
pub const SCHEME: &str = "batch-settlement";
