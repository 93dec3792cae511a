//! The lowest layer: bytes and text as the wire writes them, with nothing of x402 in them.
//! It imports only [`crate::error`]; every other layer may import it.
//!
//! [`base64`] is the header encoding; [`json`] the small serde-free reader and writer of the
//! browser's paying path; [`decimal_u256`] the decimal text of a uint256 (amounts, times);
//! [`hex`] `0x` hex; `text` builds messages without `core::fmt`.

pub mod base64;
pub mod decimal_u256;
pub mod hex;
pub mod json;
pub(crate) mod text;
