//! Network identifiers: CAIP-2 (`eip155:8453`) for x402 v2 and the short names of v1
//! (`base-sepolia`), with the mapping between them (x402-foundation/x402
//! `specs/x402-specification-v2.md` §11.1 "Network Identifiers"; CAIP-2; `docs/protocol.md`,
//! "Networks and assets").

use crate::encoding::text::{cat, dec, parse_u64};
use crate::error::{Error, Reason, Result};
use alloc::string::String;
use core::{fmt, str::FromStr};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The local development chain (anvil / hardhat) on which this project's test token lives.
pub const LOCAL_CHAIN_ID: u64 = 31337;

/// A CAIP-2 chain id such as `eip155:84532` (`namespace:reference`).
///
/// Parsing enforces the CAIP-2 grammar: namespace `[-a-z0-9]{3,8}`, reference
/// `[-_a-zA-Z0-9]{1,32}`. For `eip155` the reference must be a decimal chain id without
/// leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network(String);

impl Network {
    /// `eip155:<chain_id>`.
    pub fn eip155(chain_id: u64) -> Self {
        Network(cat(&["eip155:", &dec(chain_id)]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace (`eip155`, `solana`, ...).
    pub fn namespace(&self) -> &str {
        self.0.split_once(':').map_or("", |(ns, _)| ns)
    }

    /// The EVM chain id of an `eip155:N` network, `None` for other namespaces.
    pub fn chain_id(&self) -> Option<u64> {
        parse_u64(self.0.strip_prefix("eip155:")?.as_bytes())
    }

    /// The v1 short name of this network, if x402 v1 has one.
    pub fn v1_name(&self) -> Option<&'static str> {
        V1_NAMES
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(name, _)| *name)
    }

    /// The CAIP-2 network of a v1 short name (`base-sepolia` → `eip155:84532`).
    pub fn from_v1_name(name: &str) -> Result<Self> {
        V1_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| Network((*id).into()))
            .ok_or_else(|| {
                Error::new(
                    Reason::InvalidNetwork,
                    cat(&["unknown x402 v1 network name \"", name, "\""]),
                )
            })
    }
}

/// v1 name → CAIP-2 id (reference `EVM_NETWORK_CHAIN_ID_MAP` and SVM `V1_TO_V2_NETWORK_MAP`).
const V1_NAMES: &[(&str, &str)] = &[
    ("ethereum", "eip155:1"),
    ("sepolia", "eip155:11155111"),
    ("base", "eip155:8453"),
    ("base-sepolia", "eip155:84532"),
    ("avalanche", "eip155:43114"),
    ("avalanche-fuji", "eip155:43113"),
    ("abstract", "eip155:2741"),
    ("abstract-testnet", "eip155:11124"),
    ("iotex", "eip155:4689"),
    ("monad", "eip155:143"),
    ("sei", "eip155:1329"),
    ("sei-testnet", "eip155:1328"),
    ("polygon", "eip155:137"),
    ("polygon-amoy", "eip155:80002"),
    ("peaq", "eip155:3338"),
    ("story", "eip155:1514"),
    ("educhain", "eip155:41923"),
    ("skale-base-sepolia", "eip155:324705682"),
    ("megaeth", "eip155:4326"),
    ("stable", "eip155:988"),
    ("stable-testnet", "eip155:2201"),
    ("solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    ("solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ("solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
];

impl FromStr for Network {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad =
            |why: &str| Error::new(Reason::InvalidNetwork, cat(&["network \"", s, "\": ", why]));
        let (ns, reference) = s
            .bytes()
            .position(|b| b == b':')
            .and_then(|i| s.as_bytes().split_at_checked(i))
            .ok_or_else(|| bad("not a CAIP-2 id (namespace:reference)"))?;
        let reference = reference.get(1..).unwrap_or_default();
        if !(3..=8).contains(&ns.len())
            || !ns
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("invalid CAIP-2 namespace"));
        }
        if !(1..=32).contains(&reference.len())
            || !reference
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("invalid CAIP-2 reference"));
        }
        if ns == b"eip155" && (parse_u64(reference).is_none() || matches!(reference, [b'0', _, ..]))
        {
            return Err(bad("eip155 reference must be a decimal chain id"));
        }
        Ok(Network(s.into()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caip2_parsing() {
        let n: Network = "eip155:84532".parse().unwrap();
        assert_eq!(n.chain_id(), Some(84532));
        assert_eq!(n.namespace(), "eip155");
        assert_eq!(n.v1_name(), Some("base-sepolia"));
        let sol: Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".parse().unwrap();
        assert_eq!(sol.chain_id(), None);
        assert_eq!(sol.v1_name(), Some("solana"));
        for bad in [
            "base",
            "eip155:",
            ":1",
            "EIP155:1",
            "eip155:0x2105",
            "eip155:01",
            "ab:1",
            "eip155:1:2",
            "toolongnamespace:1",
            "eip155:-1",
        ] {
            let e = bad.parse::<Network>().unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidNetwork, "{bad}");
        }
    }

    #[test]
    fn v1_names_round_trip() {
        for (name, id) in V1_NAMES {
            let n = Network::from_v1_name(name).unwrap();
            assert_eq!(n.as_str(), *id);
            assert_eq!(n.v1_name(), Some(*name));
            assert_eq!(id.parse::<Network>().unwrap(), n);
        }
        assert_eq!(
            Network::from_v1_name("base").unwrap().chain_id(),
            Some(8453)
        );
        assert_eq!(
            Network::from_v1_name("mainnet").unwrap_err().code(),
            "invalid_network"
        );
        assert_eq!(Network::eip155(LOCAL_CHAIN_ID).v1_name(), None);
    }
}
