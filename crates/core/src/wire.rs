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

use alloc::{borrow::Cow, format};
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

/// Serde for a uint256 as a decimal string (`"10000"`), strictly: digits only, no sign, no
/// leading zeros, at most 78 digits, no JSON number.
pub mod decimal_u256 {
    use super::*;
    use alloy_primitives::U256;

    /// Parses a strict decimal uint256.
    pub fn parse(s: &str) -> Result<U256, &'static str> {
        let digits = s.as_bytes();
        if digits.is_empty() || digits.len() > 78 || !digits.iter().all(u8::is_ascii_digit) {
            return Err("expected a decimal integer string");
        }
        if matches!(digits, [b'0', _, ..]) {
            return Err("leading zeros in a decimal integer string");
        }
        // limbs = limbs × 10 + digit, in 32-bit halves (no 128-bit arithmetic in wasm).
        let mut limbs = [0u64; 4];
        for &d in digits {
            let mut carry = u64::from(d - b'0');
            for limb in &mut limbs {
                let lo = (*limb & 0xffff_ffff) * 10 + carry;
                let hi = (*limb >> 32) * 10 + (lo >> 32);
                *limb = (hi << 32) | (lo & 0xffff_ffff);
                carry = hi >> 32;
            }
            if carry != 0 {
                return Err("integer out of uint256 range");
            }
        }
        Ok(U256::from_limbs(limbs))
    }

    /// The decimal digits of a uint256, without `core::fmt` (which the browser bundle would
    /// otherwise link for ruint's `Display`): repeated division of the limbs by ten, in 32-bit
    /// halves (no 128-bit arithmetic).
    pub fn format(v: &U256) -> alloc::string::String {
        let mut limbs = *v.as_limbs();
        // 78 digits hold every uint256; they are written from the end.
        let mut digits = [0u8; 78];
        let mut start = digits.len();
        loop {
            let mut rem = 0u64;
            for limb in limbs.iter_mut().rev() {
                let hi = (rem << 32) | (*limb >> 32);
                let lo = ((hi % 10) << 32) | (*limb & 0xffff_ffff);
                *limb = ((hi / 10) << 32) | (lo / 10);
                rem = lo % 10;
            }
            start -= 1;
            digits[start] = b'0' + rem as u8;
            if limbs == [0; 4] {
                break;
            }
        }
        digits[start..].iter().map(|&d| char::from(d)).collect()
    }

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Deserializes a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        parse(&s).map_err(|e| de::Error::custom(format!("{e}: {s:?}")))
    }
}

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
