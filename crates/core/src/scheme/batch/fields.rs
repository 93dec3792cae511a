//! Serde adapters for the scheme's JSON fields, over the crate's strict parsers
//! ([`parse_address`], [`parse_hex_bytes`], [`decimal_u256`]).

use crate::encoding::decimal_u256;
use crate::encoding::hex::parse_hex_bytes;
use crate::evm::address::{checksummed, parse_address};
use alloc::{borrow::Cow, format};
use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{de, Deserialize, Deserializer, Serializer};

type R<T, E> = core::result::Result<T, E>;

fn text<'de, D: Deserializer<'de>>(d: D) -> R<Cow<'de, str>, D::Error> {
    <Cow<'de, str>>::deserialize(d)
}

/// An address: strict on input, EIP-55 on output.
pub(super) mod addr {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(a: &Address, s: S) -> R<S::Ok, S::Error> {
        s.serialize_str(&checksummed(a))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Address, D::Error> {
        parse_address(&text(d)?).map_err(de::Error::custom)
    }
}

/// 32 bytes as `0x` and 64 hex digits (either case in, lower case out).
pub(super) mod b256_hex {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(b: &B256, s: S) -> R<S::Ok, S::Error> {
        s.collect_str(b)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<B256, D::Error> {
        let s = text(d)?;
        // Exactly 64 hex digits after one `0x` (a second `0x`, which `parse_hex_bytes`
        // tolerates, would leave 31 bytes).
        match s
            .strip_prefix("0x")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|_| parse_hex_bytes(&s))
        {
            Some(v) if v.len() == 32 => Ok(B256::from_slice(&v)),
            _ => Err(de::Error::custom(format!(
                "{s:?} is not 0x and 64 hex digits"
            ))),
        }
    }
}

/// An optional [`b256_hex`] (`null` or absent: `None`).
pub(super) mod opt_b256_hex {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(b: &Option<B256>, s: S) -> R<S::Ok, S::Error> {
        match b {
            Some(b) => s.collect_str(b),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Option<B256>, D::Error> {
        #[derive(Deserialize)]
        struct Hex(#[serde(with = "super::b256_hex")] B256);
        Option::<Hex>::deserialize(d).map(|h| h.map(|Hex(b)| b))
    }
}

/// A signature: `0x` and an even number of hex digits, at least one byte.
pub(super) mod sig_hex {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(b: &Bytes, s: S) -> R<S::Ok, S::Error> {
        s.collect_str(b)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Bytes, D::Error> {
        let s = text(d)?;
        // A second `0x` (which `parse_hex_bytes` tolerates, as `hex::decode` does) is refused.
        if s.get(2..4).is_some_and(|p| p.eq_ignore_ascii_case("0x")) {
            return Err(de::Error::custom("signature has a doubled 0x prefix"));
        }
        parse_hex_bytes(&s)
            .map(Bytes::from)
            .ok_or_else(|| de::Error::custom(format!("signature {s:?} is not 0x-prefixed hex")))
    }
}

/// An optional signature.
pub(super) mod opt_sig {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(b: &Option<Bytes>, s: S) -> R<S::Ok, S::Error> {
        match b {
            Some(b) => sig_hex::serialize(b, s),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Option<Bytes>, D::Error> {
        sig_hex::deserialize(d).map(Some)
    }
}

/// A `uint128` as a strict decimal string.
pub(super) mod u128_dec {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &u128, s: S) -> R<S::Ok, S::Error> {
        s.serialize_str(&decimal_u256::format(&U256::from(*v)))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<u128, D::Error> {
        let s = text(d)?;
        let v = decimal_u256::parse(&s).map_err(|e| de::Error::custom(format!("{e}: {s:?}")))?;
        u128::try_from(v).map_err(|_| de::Error::custom(format!("{s} is above uint128")))
    }
}

/// An optional uint256 as a strict decimal string.
pub(super) mod opt_u256 {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &Option<U256>, s: S) -> R<S::Ok, S::Error> {
        match v {
            Some(v) => decimal_u256::serialize(v, s),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<Option<U256>, D::Error> {
        decimal_u256::deserialize(d).map(Some)
    }
}

/// `uint40` as a JSON integer (`withdrawDelay`).
pub(super) fn uint40<'de, D: Deserializer<'de>>(d: D) -> R<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v >> 40 == 0 {
        Ok(v)
    } else {
        Err(de::Error::custom(format!("{v} is above uint40")))
    }
}

/// A uint256 written as a decimal string or a JSON integer (`refundNonce`, which the reference
/// writes as a string in some responses and reads as either); written back as a string.
pub(super) mod lenient_u256 {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &U256, s: S) -> R<S::Ok, S::Error> {
        decimal_u256::serialize(v, s)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> R<U256, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(U256::from)
                .ok_or_else(|| de::Error::custom(format!("{n} is not a non-negative integer"))),
            serde_json::Value::String(s) => {
                decimal_u256::parse(&s).map_err(|e| de::Error::custom(format!("{e}: {s:?}")))
            }
            other => Err(de::Error::custom(format!("{other} is not an integer"))),
        }
    }
}
