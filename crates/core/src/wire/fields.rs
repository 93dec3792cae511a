//! The fields every x402 message shares: the `x402Version` markers, which (de)serialize only as
//! their own number, JSON maps for scheme data and extensions, and the non-empty rules.

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
