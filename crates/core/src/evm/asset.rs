//! Known stablecoin deployments with their EIP-712 domain (the reference's default assets,
//! x402-foundation/x402 `typescript/packages/mechanisms/evm/src/defaultAssets.ts`;
//! `docs/protocol.md`, "Networks and assets").
//!
//! The domain `name` differs between chains for the same token (`"USD Coin"` on Base mainnet,
//! `"USDC"` on Base Sepolia and Monad): a wrong name yields a well-formed signature that
//! recovers to a random address. Requirements built from this table carry the right `name`
//! and `version` in `extra`; verification always takes them from `extra`.

use super::network::{Network, LOCAL_CHAIN_ID};
use alloy_primitives::{address, Address};

/// A token a price can be paid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// EVM chain id of the deployment.
    pub chain_id: u64,
    /// Token contract.
    pub address: Address,
    /// Ticker shown to readers.
    pub symbol: &'static str,
    /// EIP-712 domain `name`.
    pub eip712_name: &'static str,
    /// EIP-712 domain `version`.
    pub eip712_version: &'static str,
    /// Decimals of the atomic unit.
    pub decimals: u8,
}

const fn usdc(chain_id: u64, address: Address, eip712_name: &'static str) -> Asset {
    Asset {
        chain_id,
        address,
        symbol: "USDC",
        eip712_name,
        eip712_version: "2",
        decimals: 6,
    }
}

/// The test stablecoin of the embedded default: `tests/contracts/TestUSDC.sol`, deployed by
/// anvil dev account #0 at its nonce 0 on chain 31337.
pub const LOCAL_TEST_USDC: Asset = usdc(
    LOCAL_CHAIN_ID,
    address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
    "USD Coin",
);

/// Every known deployment. The first entry for a chain is that chain's default asset.
pub const KNOWN_ASSETS: &[Asset] = &[
    usdc(
        8453,
        address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
        "USD Coin",
    ),
    usdc(
        84532,
        address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
        "USDC",
    ),
    // The reference's defaultAssets.ts says "USD Coin"; x402-rs says "USDC". Compatibility with
    // the reference is the bar here; a server can always override `extra.name`.
    usdc(
        137,
        address!("3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
        "USD Coin",
    ),
    usdc(
        80002,
        address!("41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582"),
        "USDC",
    ),
    usdc(
        43114,
        address!("B97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"),
        "USD Coin",
    ),
    usdc(
        43113,
        address!("5425890298aed601595a70AB815c96711a31Bc65"),
        "USD Coin",
    ),
    usdc(
        42161,
        address!("af88d065e77c8cC2239327C5EDb3A432268e5831"),
        "USD Coin",
    ),
    usdc(
        421614,
        address!("75faf114eafb1BDbe2F0316DF893fd58CE46AA4d"),
        "USD Coin",
    ),
    // Monad: the on-chain name() is "USDC" (x402 issue #3102).
    usdc(
        143,
        address!("754704Bc059F8C67012fEd69BC8A327a5aafb603"),
        "USDC",
    ),
    usdc(
        3338,
        address!("bbA60da06c2c5424f03f7434542280FCAd453d10"),
        "USDC",
    ),
    Asset {
        chain_id: 988,
        address: address!("779Ded0c9e1022225f8E0630b35a9b54bE713736"),
        symbol: "USDT0",
        eip712_name: "USDT0",
        eip712_version: "1",
        decimals: 6,
    },
    Asset {
        chain_id: 2201,
        address: address!("78Cf24370174180738C5B8E352B6D14c83a6c9A9"),
        symbol: "USDT0",
        eip712_name: "USDT0",
        eip712_version: "1",
        decimals: 6,
    },
    LOCAL_TEST_USDC,
];

impl Asset {
    /// The CAIP-2 network of this deployment.
    pub fn network(&self) -> Network {
        Network::eip155(self.chain_id)
    }
}

/// The default stablecoin of a network (what a `"$0.01"` price is paid in).
pub fn default_asset(network: &Network) -> Option<&'static Asset> {
    let id = network.chain_id()?;
    KNOWN_ASSETS.iter().find(|a| a.chain_id == id)
}

/// A known deployment by network and contract address.
pub fn find_asset(network: &Network, address: &Address) -> Option<&'static Asset> {
    let id = network.chain_id()?;
    KNOWN_ASSETS
        .iter()
        .find(|a| a.chain_id == id && a.address == *address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_network() {
        let base: Network = "eip155:8453".parse().unwrap();
        let a = default_asset(&base).unwrap();
        assert_eq!(
            (a.eip712_name, a.eip712_version, a.decimals),
            ("USD Coin", "2", 6)
        );
        let sepolia: Network = "eip155:84532".parse().unwrap();
        assert_eq!(default_asset(&sepolia).unwrap().eip712_name, "USDC");
        let local = Network::eip155(LOCAL_CHAIN_ID);
        assert_eq!(default_asset(&local), Some(&LOCAL_TEST_USDC));
        assert_eq!(
            find_asset(&local, &LOCAL_TEST_USDC.address),
            Some(&LOCAL_TEST_USDC)
        );
        assert_eq!(find_asset(&base, &LOCAL_TEST_USDC.address), None);
        let sol: Network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".parse().unwrap();
        assert_eq!(default_asset(&sol), None);
    }

    #[test]
    fn one_default_per_chain() {
        for (i, a) in KNOWN_ASSETS.iter().enumerate() {
            assert!(
                KNOWN_ASSETS[..i].iter().all(|b| b.chain_id != a.chain_id),
                "duplicate chain {}",
                a.chain_id
            );
        }
    }
}
