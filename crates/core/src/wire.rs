//! x402 messages, v1 and v2, every field of `x402-protocol.md` §1.
//!
//! Parsing is strict where the protocol is precise: `x402Version` accepts only its number,
//! networks are CAIP-2 (v2), amounts are decimal uint256 strings without sign or leading zeros.
//! Where a field is scheme-specific (`asset`, `payTo`, `payload`, `extra`) it is kept general
//! here and parsed strictly by the scheme ([`crate::exact`]), so that a challenge offering a
//! Solana option next to an EVM one still parses. Unknown fields of requirements and resource
//! descriptions are kept, so an `accepted` copy round-trips exactly. Serialization writes the
//! fields in the order of the reference, so encoded headers match its bytes.

pub mod facilitator;
pub mod v1;
pub mod v2;

pub use facilitator::{
    DiscoveryItem, DiscoveryResponse, Pagination, SettleResponse, SupportedKind, SupportedResponse,
    VerifyResponse,
};
pub use v2::{PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo};

use alloc::format;
use core::fmt;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// JSON object map (insertion-ordered), used for `extra`, `extensions` and opaque payloads.
pub type JsonMap = serde_json::Map<alloc::string::String, serde_json::Value>;

macro_rules! version {
    ($name:ident, $n:literal) => {
        #[doc = concat!("`x402Version: ", stringify!($n), "`: (de)serializes only as the JSON number ", stringify!($n), ".")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl $name {
            /// The version number.
            pub const NUMBER: u8 = $n;
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u8($n)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "x402Version {}", $n)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        if v == $n {
                            Ok($name)
                        } else {
                            Err(E::custom(format!("x402Version {v}, expected {}", $n)))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        u64::try_from(v)
                            .map_err(|_| E::custom(format!("x402Version {v}, expected {}", $n)))
                            .and_then(|v| self.visit_u64(v))
                    }
                }
                d.deserialize_u64(V)
            }
        }
    };
}

version!(V1, 1);
version!(V2, 2);

/// Deserializes a list that must not be empty (`accepts`).
pub(crate) fn non_empty<'de, D, T>(d: D) -> Result<alloc::vec::Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = alloc::vec::Vec::<T>::deserialize(d)?;
    if v.is_empty() {
        return Err(de::Error::custom(
            "accepts must list at least one payment requirement",
        ));
    }
    Ok(v)
}

/// Deserializes a non-empty string.
pub(crate) fn non_empty_str<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<alloc::string::String, D::Error> {
    let s = alloc::string::String::deserialize(d)?;
    if s.is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

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
