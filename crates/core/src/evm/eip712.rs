//! EIP-712 typed data for EIP-3009 `TransferWithAuthorization` (EIP-712, EIP-3009; as x402's
//! `exact` scheme signs it: x402-foundation/x402 `specs/schemes/exact/scheme_exact_evm.md`,
//! "1. AssetTransferMethod: EIP-3009").
//!
//! The struct is declared once, with `sol!`; the type hash, struct hash and signing digest the
//! verifier recovers from, and the `eth_signTypedData_v4` JSON a wallet signs, are all derived
//! from that one declaration and from [`Eip712Domain`].

use crate::error::{Error, Reason, Result};
use alloc::{
    borrow::Cow,
    format,
    string::{String, ToString},
    vec::Vec,
};
use alloy_primitives::{b256, keccak256, Address, B256, U256};
pub use alloy_sol_types::Eip712Domain;
use alloy_sol_types::SolStruct;
use serde_json::{json, Value};

alloy_sol_types::sol! {
    /// EIP-3009 `TransferWithAuthorization`: the payer authorizes anyone to move `value` of the
    /// token from `from` to `to` once, between `validAfter` and `validBefore` (exclusive).
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The EIP-712 domain of an EIP-3009 token: `name` and `version` as the token declares them
/// (from `extra`), the chain, and the token contract.
pub fn token_domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Owned(name.into())),
        Some(Cow::Owned(version.into())),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

/// The digest a wallet signs: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`.
pub fn signing_hash(domain: &Eip712Domain, message: &TransferWithAuthorization) -> B256 {
    message.eip712_signing_hash(domain)
}

/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`,
/// the type hash of [`token_domain`]'s domain (checked against alloy's runtime value in a test).
pub const TOKEN_DOMAIN_TYPEHASH: B256 =
    b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");

/// `keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")`,
/// the EIP-3009 type hash (`TRANSFER_WITH_AUTHORIZATION_TYPEHASH` in USDC; checked against the
/// `sol!` declaration's runtime value in a test).
pub const TRANSFER_WITH_AUTHORIZATION_TYPEHASH: B256 =
    b256!("7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");

/// The domain separator of [`token_domain`]`(name, version, chain_id, token)`, hashed directly
/// from its ABI-encoded words: `keccak256(typeHash ‖ keccak256(name) ‖ keccak256(version) ‖
/// chainId ‖ token)`. Equal to `token_domain(..).separator()`, without building the domain.
pub fn token_domain_separator(name: &str, version: &str, chain_id: u64, token: Address) -> B256 {
    let mut words = [0u8; 5 * 32];
    words[..32].copy_from_slice(TOKEN_DOMAIN_TYPEHASH.as_slice());
    words[32..64].copy_from_slice(keccak256(name.as_bytes()).as_slice());
    words[64..96].copy_from_slice(keccak256(version.as_bytes()).as_slice());
    words[120..128].copy_from_slice(&chain_id.to_be_bytes());
    words[140..160].copy_from_slice(token.as_slice());
    keccak256(words)
}

/// `hashStruct(message)` of a `TransferWithAuthorization`, hashed directly from its seven
/// ABI-encoded words (type hash and six static fields). Equal to `message.eip712_hash_struct()`.
pub fn transfer_struct_hash(message: &TransferWithAuthorization) -> B256 {
    let mut words = [0u8; 7 * 32];
    words[..32].copy_from_slice(TRANSFER_WITH_AUTHORIZATION_TYPEHASH.as_slice());
    words[44..64].copy_from_slice(message.from.as_slice());
    words[76..96].copy_from_slice(message.to.as_slice());
    words[96..128].copy_from_slice(&message.value.to_be_bytes::<32>());
    words[128..160].copy_from_slice(&message.validAfter.to_be_bytes::<32>());
    words[160..192].copy_from_slice(&message.validBefore.to_be_bytes::<32>());
    words[192..224].copy_from_slice(message.nonce.as_slice());
    keccak256(words)
}

/// The digest a wallet signs, from a domain separator computed beforehand (e.g. by
/// [`token_domain_separator`]): `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`.
/// Equal to [`signing_hash`] for the domain whose separator it is.
pub fn transfer_signing_hash(domain_separator: &B256, message: &TransferWithAuthorization) -> B256 {
    let mut buf = [0u8; 2 + 32 + 32];
    buf[..2].copy_from_slice(&[0x19, 0x01]);
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..].copy_from_slice(transfer_struct_hash(message).as_slice());
    keccak256(buf)
}

/// Splits an EIP-712 type string `Name(type1 name1,type2 name2)` into its fields.
fn fields(encode_type: &str) -> Result<(&str, Vec<(&str, &str)>)> {
    let bad = || {
        Error::new(
            Reason::InvalidPayload,
            format!("bad EIP-712 type {encode_type:?}"),
        )
    };
    let (name, rest) = encode_type.split_once('(').ok_or_else(bad)?;
    let body = rest.strip_suffix(')').ok_or_else(bad)?;
    let fields = body
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| f.split_once(' ').ok_or_else(bad))
        .collect::<Result<Vec<_>>>()?;
    Ok((name, fields))
}

fn type_entries(fields: &[(&str, &str)]) -> Value {
    fields
        .iter()
        .map(|(ty, name)| json!({ "name": name, "type": ty }))
        .collect()
}

/// Renders one ABI-encoded 32-byte word of a static EIP-712 field as the JSON a wallet expects:
/// checksummed address, decimal string for integers, `0x` hex for fixed bytes.
fn word_json(ty: &str, word: &[u8]) -> Result<Value> {
    Ok(match ty {
        "address" => Value::String(Address::from_slice(&word[12..]).to_checksum(None)),
        t if t.starts_with("uint") => Value::String(U256::from_be_slice(word).to_string()),
        "bytes32" => Value::String(format!("{}", B256::from_slice(word))),
        "bool" => Value::Bool(word[31] == 1),
        other => {
            return Err(Error::new(
                Reason::InvalidPayload,
                format!("EIP-712 field type {other} is not supported in wallet JSON"),
            ))
        }
    })
}

/// The `eth_signTypedData_v4` JSON for a message in a domain, including the `EIP712Domain`
/// type entry (wallets hash an empty domain without it), `chainId` as a JSON number and
/// uint256 values as decimal strings.
pub fn typed_data_json<T: SolStruct>(domain: &Eip712Domain, message: &T) -> Result<Value> {
    let domain_type = domain.encode_type();
    let (_, domain_fields) = fields(&domain_type)?;
    let root = T::eip712_root_type();
    let (primary, msg_fields) = fields(&root)?;

    let mut domain_json = serde_json::Map::new();
    if let Some(name) = &domain.name {
        domain_json.insert("name".into(), Value::String(name.clone().into_owned()));
    }
    if let Some(version) = &domain.version {
        domain_json.insert(
            "version".into(),
            Value::String(version.clone().into_owned()),
        );
    }
    if let Some(chain_id) = domain.chain_id {
        let id = u64::try_from(chain_id)
            .map_err(|_| Error::new(Reason::InvalidNetwork, "chain id above 2^64"))?;
        domain_json.insert("chainId".into(), Value::from(id));
    }
    if let Some(contract) = domain.verifying_contract {
        domain_json.insert(
            "verifyingContract".into(),
            Value::String(contract.to_checksum(None)),
        );
    }
    if let Some(salt) = domain.salt {
        domain_json.insert("salt".into(), Value::String(format!("{salt}")));
    }

    let data = message.eip712_encode_data();
    if data.len() != 32 * msg_fields.len() {
        return Err(Error::new(
            Reason::InvalidPayload,
            "EIP-712 struct has non-static fields",
        ));
    }
    let mut message_json = serde_json::Map::new();
    for ((ty, name), word) in msg_fields.iter().zip(data.chunks(32)) {
        message_json.insert(String::from(*name), word_json(ty, word)?);
    }

    Ok(json!({
        "types": {
            "EIP712Domain": type_entries(&domain_fields),
            primary: type_entries(&msg_fields),
        },
        "primaryType": primary,
        "domain": domain_json,
        "message": message_json,
    }))
}

/// Reads `eth_signTypedData_v4` JSON back into the token domain and the
/// `TransferWithAuthorization` message, for a signer that signs only what it understands (the
/// local-key wallet). Only exactly what [`typed_data_json`] writes is accepted: any other
/// primary type, extra type, field or value is refused (error: `invalid_payload`).
pub fn parse_transfer_typed_data(v: &Value) -> Result<(Eip712Domain, TransferWithAuthorization)> {
    let bad = |why: &str| Error::new(Reason::InvalidPayload, format!("typed data: {why}"));
    let text = |o: &Value, k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| bad(&format!("{k} is missing or not a string")))
    };
    let addr = |o: &Value, k: &str| -> Result<Address> {
        crate::evm::address::parse_address(&text(o, k)?).map_err(|e| bad(&e))
    };
    let uint = |o: &Value, k: &str| -> Result<U256> {
        crate::encoding::decimal_u256::parse(&text(o, k)?).map_err(|e| bad(&format!("{k}: {e}")))
    };
    let empty = Value::Null;
    let domain = v.get("domain").unwrap_or(&empty);
    let message = v.get("message").unwrap_or(&empty);
    let chain_id = domain
        .get("chainId")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("domain.chainId is missing or not a number"))?;
    let nonce: B256 = text(message, "nonce")?
        .parse()
        .map_err(|_| bad("nonce is not 32 bytes of hex"))?;
    let parsed_domain = token_domain(
        &text(domain, "name")?,
        &text(domain, "version")?,
        chain_id,
        addr(domain, "verifyingContract")?,
    );
    let msg = TransferWithAuthorization {
        from: addr(message, "from")?,
        to: addr(message, "to")?,
        value: uint(message, "value")?,
        validAfter: uint(message, "validAfter")?,
        validBefore: uint(message, "validBefore")?,
        nonce,
    };
    if typed_data_json(&parsed_domain, &msg)? != *v {
        return Err(bad(
            "not the TransferWithAuthorization typed data this crate writes",
        ));
    }
    Ok((parsed_domain, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    fn sample() -> (Eip712Domain, TransferWithAuthorization) {
        let token = address!("036CbD53842c5426634e7929541eC2318f3dCF7e");
        let msg = TransferWithAuthorization {
            from: address!("857b06519E91e3A54538791bDbb0E22373e36b66"),
            to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
            value: U256::from(10000),
            validAfter: U256::from(1740672089u64),
            validBefore: U256::MAX - U256::from(7),
            nonce: b256!("f3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"),
        };
        (token_domain("USDC", "2", 84532, token), msg)
    }

    #[test]
    fn constant_type_hashes_equal_the_declared_types() {
        let (domain, _) = sample();
        assert_eq!(
            TOKEN_DOMAIN_TYPEHASH,
            keccak256(domain.encode_type().as_bytes())
        );
        assert_eq!(TOKEN_DOMAIN_TYPEHASH, domain.type_hash());
        assert_eq!(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            keccak256(TransferWithAuthorization::eip712_root_type().as_bytes())
        );
        assert_eq!(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            TransferWithAuthorization::eip712_type_hash(&sample().1)
        );
    }

    #[test]
    fn hand_hashes_equal_alloys() {
        let (domain, msg) = sample();
        let token = domain.verifying_contract.unwrap();
        let separator = token_domain_separator("USDC", "2", 84532, token);
        assert_eq!(separator, domain.separator());
        assert_eq!(transfer_struct_hash(&msg), msg.eip712_hash_struct());
        assert_eq!(
            transfer_signing_hash(&separator, &msg),
            signing_hash(&domain, &msg)
        );
        // Every field and every domain member changes the result.
        for other in [
            token_domain_separator("USDC ", "2", 84532, token),
            token_domain_separator("USDC", "3", 84532, token),
            token_domain_separator("USDC", "2", 8453, token),
            token_domain_separator("USDC", "2", 84532, Address::ZERO),
            token_domain_separator("", "", u64::MAX, token),
        ] {
            assert_ne!(other, separator);
        }
        let d = token_domain("", "", u64::MAX, token);
        assert_eq!(
            token_domain_separator("", "", u64::MAX, token),
            d.separator()
        );
        let mut m2 = msg.clone();
        m2.validBefore = U256::from(1);
        m2.nonce = B256::ZERO;
        assert_ne!(transfer_struct_hash(&m2), transfer_struct_hash(&msg));
        assert_eq!(transfer_struct_hash(&m2), m2.eip712_hash_struct());
        assert_eq!(
            transfer_signing_hash(&d.separator(), &m2),
            signing_hash(&d, &m2)
        );
    }

    #[test]
    fn wallet_json_shape() {
        let token = address!("036CbD53842c5426634e7929541eC2318f3dCF7e");
        let domain = token_domain("USDC", "2", 84532, token);
        let msg = TransferWithAuthorization {
            from: address!("857b06519E91e3A54538791bDbb0E22373e36b66"),
            to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
            value: U256::from(10000),
            validAfter: U256::from(1740672089u64),
            validBefore: U256::from(1740672154u64),
            nonce: b256!("f3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"),
        };
        let v = typed_data_json(&domain, &msg).unwrap();
        assert_eq!(v["primaryType"], "TransferWithAuthorization");
        assert_eq!(v["domain"]["chainId"], 84532);
        assert_eq!(
            v["domain"]["verifyingContract"],
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
        );
        assert_eq!(v["types"]["EIP712Domain"].as_array().unwrap().len(), 4);
        assert_eq!(
            v["types"]["EIP712Domain"][2],
            json!({"name": "chainId", "type": "uint256"})
        );
        assert_eq!(
            v["types"]["TransferWithAuthorization"][5],
            json!({"name": "nonce", "type": "bytes32"})
        );
        assert_eq!(
            v["message"]["from"],
            "0x857b06519E91e3A54538791bDbb0E22373e36b66"
        );
        assert_eq!(v["message"]["value"], "10000");
        assert_eq!(v["message"]["validBefore"], "1740672154");
        assert_eq!(
            v["message"]["nonce"],
            "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"
        );
        let (d, m) = parse_transfer_typed_data(&v).unwrap();
        assert_eq!((d, m), (domain, msg));
        let mut other = v.clone();
        other["message"]["value"] = json!("10001");
        other["types"]["TransferWithAuthorization"][2]["type"] = json!("uint128");
        assert!(parse_transfer_typed_data(&other).is_err());
        let mut other = v.clone();
        other["primaryType"] = json!("Mail");
        assert!(parse_transfer_typed_data(&other).is_err());
    }
}

/// Permit2 `PermitWitnessTransferFrom` as x402's `exact` (`assetTransferMethod: "permit2"`)
/// signs it (x402-foundation/x402 `specs/schemes/exact/scheme_exact_evm.md`, "2.
/// AssetTransferMethod: Permit2"). Declared for hashing only: this crate does not settle
/// Permit2 payments. The domain is `{name: "Permit2", chainId, verifyingContract}`, no version.
pub mod permit2 {
    use alloy_primitives::{address, Address};

    /// The canonical Permit2 contract (same address on every chain).
    pub const PERMIT2: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");
    /// x402's exact Permit2 proxy (the `spender`).
    pub const EXACT_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");

    alloy_sol_types::sol! {
        /// Token and amount the permit moves.
        #[derive(Debug, PartialEq, Eq)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }

        /// x402's witness: recipient and start of validity.
        #[derive(Debug, PartialEq, Eq)]
        struct Witness {
            address to;
            uint256 validAfter;
        }

        /// The signed Permit2 message.
        #[derive(Debug, PartialEq, Eq)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            Witness witness;
        }
    }

    /// The `upto` scheme's Permit2 message, whose witness also names the facilitator.
    pub mod upto {
        use super::TokenPermissions;

        alloy_sol_types::sol! {
            /// Recipient, the only facilitator allowed to settle, and start of validity.
            #[derive(Debug, PartialEq, Eq)]
            struct Witness {
                address to;
                address facilitator;
                uint256 validAfter;
            }

            /// The signed Permit2 message of `upto`.
            #[derive(Debug, PartialEq, Eq)]
            struct PermitWitnessTransferFrom {
                TokenPermissions permitted;
                address spender;
                uint256 nonce;
                uint256 deadline;
                Witness witness;
            }
        }
    }
}
