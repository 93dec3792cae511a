//! The `exact` scheme on EVM chains with EIP-3009 (x402-foundation/x402
//! `specs/schemes/exact/scheme_exact_evm.md`, "1. AssetTransferMethod: EIP-3009"): strict typed
//! views of a requirement and of a payment payload, parsed from the general wire types.

use crate::encoding::decimal_u256;
use crate::encoding::hex::parse_hex_bytes;
use crate::encoding::text::cat;
use crate::error::{Error, Reason, Result};
use crate::evm::address::parse_address;
use crate::evm::eip712::{token_domain, Eip712Domain, TransferWithAuthorization};
use crate::evm::network::Network;
use crate::wire::{v1, v2, JsonMap};
use alloc::{format, string::String};
use alloy_primitives::{hex, Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};

/// The scheme name.
pub const SCHEME: &str = "exact";

/// The `extra.paymentFlow` values of x402 v2 (the server's order of verify, settle and handler:
/// `authorization`, the default and never emitted; `upfront`; `escrow`). The payer signs the same
/// authorization for each; any other value is refused.
pub const PAYMENT_FLOWS: [&str; 3] = ["authorization", "upfront", "escrow"];

/// A requirement of the exact EVM scheme, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactEvmRequirement {
    /// CAIP-2 network.
    pub network: Network,
    /// EVM chain id (from the network, never from the payload).
    pub chain_id: u64,
    /// Atomic amount (v2: exact; v1: maximum).
    pub amount: U256,
    /// Token contract (the EIP-712 `verifyingContract`).
    pub asset: Address,
    /// Recipient.
    pub pay_to: Address,
    /// Seconds the authorization may stay valid.
    pub max_timeout_seconds: u64,
    /// EIP-712 domain name (`extra.name`).
    pub eip712_name: String,
    /// EIP-712 domain version (`extra.version`).
    pub eip712_version: String,
}

impl ExactEvmRequirement {
    /// Parses a v2 requirement.
    pub fn from_v2(r: &v2::PaymentRequirements) -> Result<Self> {
        Self::parse(
            &r.scheme,
            r.network.clone(),
            r.amount,
            &r.asset,
            &r.pay_to,
            r.max_timeout_seconds,
            &|key| extra_text(r.extra.as_ref(), key),
        )
    }

    /// Parses a v1 requirement (network by its short name).
    pub fn from_v1(r: &v1::PaymentRequirements) -> Result<Self> {
        let network = Network::from_v1_name(&r.network)?;
        Self::parse(
            &r.scheme,
            network,
            r.max_amount_required,
            &r.asset,
            &r.pay_to,
            r.max_timeout_seconds,
            &|key| extra_text(r.extra.as_ref(), key),
        )
    }

    /// Parses the fields of a requirement of either version; `extra` reads a string field of
    /// `extra` (`None` when absent, not a string, or empty). Shared by the serde wire types and
    /// the serde-free [`crate::client::challenge`] path, so both apply the same rules.
    pub(crate) fn parse(
        scheme: &str,
        network: Network,
        amount: U256,
        asset: &str,
        pay_to: &str,
        max_timeout_seconds: u64,
        extra: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        if scheme != SCHEME {
            return Err(Error::new(
                Reason::InvalidExactEvmScheme,
                cat(&["scheme \"", scheme, "\" is not \"exact\""]),
            ));
        }
        let chain_id = network.chain_id().ok_or_else(|| {
            Error::new(
                Reason::InvalidNetwork,
                cat(&[
                    "network ",
                    network.as_str(),
                    " is not an EVM (eip155) chain",
                ]),
            )
        })?;
        let invalid = |field: &str, e: String| {
            Error::new(Reason::InvalidPaymentRequirements, cat(&[field, ": ", &e]))
        };
        let asset = parse_address(asset).map_err(|e| invalid("asset", e))?;
        let pay_to = parse_address(pay_to).map_err(|e| invalid("payTo", e))?;
        if max_timeout_seconds == 0 {
            return Err(invalid("maxTimeoutSeconds", "must be positive".into()));
        }
        let text = extra;
        if let Some(flow) = text("paymentFlow") {
            if !PAYMENT_FLOWS.contains(&flow.as_str()) {
                return Err(Error::new(
                    Reason::UnsupportedScheme,
                    cat(&[
                        "paymentFlow \"",
                        &flow,
                        "\" is not authorization, upfront or escrow",
                    ]),
                ));
            }
        }
        if let Some(method) = text("assetTransferMethod") {
            if method != "eip3009" {
                return Err(Error::new(
                    Reason::UnsupportedScheme,
                    cat(&["assetTransferMethod \"", &method, "\" is not eip3009"]),
                ));
            }
        }
        let (Some(eip712_name), Some(eip712_version)) = (text("name"), text("version")) else {
            return Err(Error::new(
                Reason::InvalidExactEvmMissingEip712Domain,
                "extra lacks the token's EIP-712 name or version",
            ));
        };
        Ok(Self {
            network,
            chain_id,
            amount,
            asset,
            pay_to,
            max_timeout_seconds,
            eip712_name,
            eip712_version,
        })
    }

    /// The token's EIP-712 domain.
    pub fn domain(&self) -> Eip712Domain {
        token_domain(
            &self.eip712_name,
            &self.eip712_version,
            self.chain_id,
            self.asset,
        )
    }
}

/// A non-empty string field of a requirement's `extra`.
fn extra_text(extra: Option<&JsonMap>, key: &str) -> Option<String> {
    extra
        .and_then(|e| e.get(key))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The EIP-3009 authorization inside an exact EVM payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// Payer.
    #[serde(with = "strict_address")]
    pub from: Address,
    /// Recipient.
    #[serde(with = "strict_address")]
    pub to: Address,
    /// Atomic amount.
    #[serde(with = "decimal_u256")]
    pub value: U256,
    /// Unix time after which the authorization is valid (exclusive).
    #[serde(with = "decimal_u256")]
    pub valid_after: U256,
    /// Unix time before which the authorization is valid (exclusive).
    #[serde(with = "decimal_u256")]
    pub valid_before: U256,
    /// 32 random bytes; unique per payer.
    #[serde(with = "strict_b256")]
    pub nonce: B256,
}

impl Authorization {
    /// The EIP-712 message for this authorization.
    pub fn message(&self) -> TransferWithAuthorization {
        TransferWithAuthorization {
            from: self.from,
            to: self.to,
            value: self.value,
            validAfter: self.valid_after,
            validBefore: self.valid_before,
            nonce: self.nonce,
        }
    }
}

/// The exact EVM `payload` object: `{signature, authorization}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactEvmPayload {
    /// 65-byte `r ‖ s ‖ v` for an EOA; longer for smart wallets (ERC-1271 / ERC-6492).
    #[serde(with = "strict_bytes")]
    pub signature: Bytes,
    /// The signed authorization.
    pub authorization: Authorization,
}

impl ExactEvmPayload {
    /// Parses the `payload` object of a payment (error: `invalid_payload`).
    pub fn from_json(payload: &serde_json::Value) -> Result<Self> {
        if payload.get("permit2Authorization").is_some() {
            return Err(Error::new(
                Reason::UnsupportedScheme,
                "Permit2 payloads are not supported",
            ));
        }
        Self::deserialize(payload)
            .map_err(|e| Error::new(Reason::InvalidPayload, format!("exact EVM payload: {e}")))
    }

    /// The payload as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain strings and a struct of strings into a Value cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

mod strict_address {
    use super::*;
    use serde::{de, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        a: &Address,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_checksum(None))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Address, D::Error> {
        let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_address(&s).map_err(de::Error::custom)
    }
}

mod strict_b256 {
    use super::*;
    use serde::{de, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        b: &B256,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.collect_str(b)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<B256, D::Error> {
        let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        s.strip_prefix("0x")
            .filter(|h| h.len() == 64)
            .and_then(|h| hex::decode(h).ok())
            .map(|v| B256::from_slice(&v))
            .ok_or_else(|| {
                de::Error::custom(format!("{s:?} is not 0x and 64 hex digits (32 bytes)"))
            })
    }
}

mod strict_bytes {
    use super::*;
    use serde::{de, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        b: &Bytes,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.collect_str(b)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Bytes, D::Error> {
        let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_hex_bytes(&s).map(Bytes::from).ok_or_else(|| {
            de::Error::custom(format!("signature {s:?} is not 0x-prefixed hex bytes"))
        })
    }
}
