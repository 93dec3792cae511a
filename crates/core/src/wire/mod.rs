//! The wire: every x402 message, v1 and v2 and the facilitator's, and the HTTP header codecs.
//! Imports [`crate::evm`] (CAIP-2 networks), [`crate::encoding`] and [`crate::error`]; the
//! schemes, the client and the paywall build on it.
//!
//! The messages are those of x402-foundation/x402 `specs/x402-specification-v2.md` §5 "Types"
//! and `specs/x402-specification-v1.md` §5; the headers those of `specs/transports-v2/http.md`
//! and `specs/transports-v1/http.md`. Parsing is strict where the protocol is precise:
//! `x402Version` accepts only its number, networks are CAIP-2 (v2), amounts are decimal uint256
//! strings without sign or leading zeros. Where a field is scheme-specific (`asset`, `payTo`,
//! `payload`, `extra`) it is kept general here and parsed strictly by the scheme
//! ([`crate::scheme::exact`]), so that a challenge offering a Solana option next to an EVM one
//! still parses. Unknown fields of requirements and resource descriptions are kept, so an
//! `accepted` copy round-trips exactly. Serialization writes the fields in the order of the
//! reference, so encoded headers match its bytes.

pub mod facilitator;
pub(crate) mod fields;
pub mod header;
pub mod offer_receipt;
pub mod payment_identifier;
pub mod siwx;
pub mod v1;
pub mod v2;

pub use facilitator::{
    DiscoveryItem, DiscoveryResponse, Pagination, SettleResponse, SupportedKind, SupportedResponse,
    VerifyResponse,
};
pub use fields::{JsonMap, V1, V2};
pub use v2::{PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo};

use serde::{Serialize, Serializer};

/// A payment requirement of either version, normalised for the client (see
/// [`crate::client`]).
// One value per request, never stored in bulk: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AnyPaymentRequired {
    /// A v1 challenge (JSON body).
    V1(v1::PaymentRequired),
    /// A v2 challenge (`PAYMENT-REQUIRED` header).
    V2(v2::PaymentRequired),
}

/// A payment payload of either version.
// One value per request, never stored in bulk: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AnyPaymentPayload {
    /// From `X-PAYMENT`.
    V1(v1::PaymentPayload),
    /// From `PAYMENT-SIGNATURE`.
    V2(v2::PaymentPayload),
}

impl AnyPaymentRequired {
    /// The protocol version number.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1(_) => V1::NUMBER,
            Self::V2(_) => V2::NUMBER,
        }
    }
}

impl AnyPaymentPayload {
    /// The protocol version number.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1(_) => V1::NUMBER,
            Self::V2(_) => V2::NUMBER,
        }
    }

    /// The JSON `payload` object.
    pub fn payload(&self) -> &serde_json::Value {
        match self {
            Self::V1(p) => &p.payload,
            Self::V2(p) => &p.payload,
        }
    }
}

impl Serialize for AnyPaymentPayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::V1(p) => p.serialize(s),
            Self::V2(p) => p.serialize(s),
        }
    }
}

impl Serialize for AnyPaymentRequired {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::V1(p) => p.serialize(s),
            Self::V2(p) => p.serialize(s),
        }
    }
}
