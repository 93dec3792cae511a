//! The paying client's check of a seller's signed receipt (the `offer-receipt` extension,
//! x402-foundation/x402 `specs/extensions/extension-offer-and-receipt.md`): the EIP-712 receipt
//! a settlement response carries in `extensions["offer-receipt"].info.receipt` is read without
//! serde (the browser builds link this) and its signer recovered. The signer says who made the
//! statement; whether that key speaks for the site (its did:web document, spec §4.5.1) is the
//! reader's to judge, so it is returned, never assumed.

use super::fields::{obj, string, Obj};
use crate::encoding::hex::parse_hex_bytes;
use crate::encoding::json;
use crate::encoding::text::cat;
use crate::error::{Error, Reason, Result};
use crate::evm::signature::Signature;
use crate::wire::offer_receipt::{receipt_signing_hash, ReceiptPayload, MAX_SAFE_INTEGER, VERSION};
use alloc::string::String;
use alloy_primitives::Address;

/// A receipt whose signature was checked: who signed it and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedReceipt {
    /// The address that signed it.
    pub signer: Address,
    /// What it says.
    pub payload: ReceiptPayload,
}

fn bad(message: &str) -> Error {
    Error::new(
        Reason::InvalidSignedReceipt,
        cat(&["invalid receipt: ", message]),
    )
}

/// A required string member.
fn text(o: &Obj<'_, '_>, key: &str) -> Result<String> {
    o.req(key)
        .and_then(|v| string(v, key))
        .map(String::from)
        .map_err(|m| bad(&m))
}

/// A required whole number that JavaScript holds exactly.
fn integer(o: &Obj<'_, '_>, key: &str) -> Result<u64> {
    o.req(key)
        .map_err(|m| bad(&m))?
        .as_u64()
        .filter(|n| *n <= MAX_SAFE_INTEGER)
        .ok_or_else(|| bad(&cat(&[key, " is not a whole number"])))
}

/// Reads a signed receipt (the artifact's JSON text) and recovers its signer. Errors:
/// `invalid_signed_receipt` (not an EIP-712 receipt of version 1, a missing or mistyped field),
/// `unsupported_offer_receipt_format` (a JWS receipt), `invalid_offer_receipt_signature` (not
/// 65 bytes of hex, or no signer recovers).
pub fn check_receipt(artifact: &str) -> Result<CheckedReceipt> {
    let root = json::parse(artifact).map_err(|_| bad("not JSON"))?;
    let v = obj(&root, "receipt").map_err(|m| bad(&m))?;
    match text(&v, "format")?.as_str() {
        "eip712" => {}
        "jws" => {
            return Err(Error::new(
                Reason::UnsupportedOfferReceiptFormat,
                "a JWS receipt (only EIP-712 receipts are checked here)",
            ))
        }
        _ => return Err(bad("format is neither eip712 nor jws")),
    }
    let p = match v.field("payload") {
        Ok(Some(p)) => obj(p, "payload").map_err(|m| bad(&m))?,
        _ => return Err(bad("no payload object")),
    };
    let payload = ReceiptPayload {
        version: integer(&p, "version")?,
        network: text(&p, "network")?,
        resource_url: text(&p, "resourceUrl")?,
        payer: text(&p, "payer")?,
        issued_at: integer(&p, "issuedAt")?,
        // Absent reads as "" (spec §5.3).
        transaction: match p.field("transaction").map_err(|m| bad(&m))? {
            None => String::new(),
            Some(_) => text(&p, "transaction")?,
        },
    };
    if payload.version != VERSION {
        return Err(bad("version is not 1"));
    }
    let sig = parse_hex_bytes(&text(&v, "signature")?)
        .filter(|b| b.len() == 65)
        .ok_or_else(|| {
            Error::new(
                Reason::InvalidOfferReceiptSignature,
                "the receipt's signature is not 0x and 65 bytes of hex",
            )
        })?;
    let signer = Signature::from_bytes(&sig)
        .and_then(|s| s.recover(&receipt_signing_hash(&payload)))
        .map_err(|e| Error::new(Reason::InvalidOfferReceiptSignature, e.message()))?;
    Ok(CheckedReceipt { signer, payload })
}

#[cfg(all(test, feature = "local-signer"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::evm::signer::LocalSigner;
    use crate::wire::offer_receipt::{self, sign_receipt};
    use serde_json::json;

    fn signed() -> (LocalSigner, serde_json::Value) {
        let s = LocalSigner::from_hex(
            "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        )
        .unwrap();
        let payload = ReceiptPayload {
            version: 1,
            network: "eip155:8453".into(),
            resource_url: "https://paper.example/paid/one.html".into(),
            payer: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
            issued_at: 1_796_530_000,
            transaction: String::new(),
        };
        let r = sign_receipt(&s, payload).unwrap();
        (s, r.to_value())
    }

    #[test]
    fn the_serde_path_and_this_one_agree() {
        let (s, v) = signed();
        let checked = check_receipt(&v.to_string()).unwrap();
        assert_eq!(checked.signer, s.address());
        let serde_way = offer_receipt::SignedReceipt::from_value(&v).unwrap();
        assert_eq!(
            offer_receipt::recover_receipt_signer(&serde_way).unwrap(),
            checked.signer
        );
        assert_eq!(serde_way.payload.as_ref(), Some(&checked.payload));
    }

    #[test]
    fn a_changed_receipt_names_another_signer() {
        let (s, mut v) = signed();
        v["payload"]["resourceUrl"] = json!("https://paper.example/paid/two.html");
        assert_ne!(check_receipt(&v.to_string()).unwrap().signer, s.address());
        let (s, mut v) = signed();
        v["payload"]["issuedAt"] = json!(1_796_530_001u64);
        assert_ne!(check_receipt(&v.to_string()).unwrap().signer, s.address());
    }

    #[test]
    fn malformed_receipts_are_refused_with_their_reason() {
        let (_, v) = signed();
        let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut w = v.clone();
            edit(&mut w);
            check_receipt(&w.to_string()).unwrap_err().reason()
        };
        assert_eq!(
            refused(&|w| w["format"] = json!("jws")),
            Reason::UnsupportedOfferReceiptFormat
        );
        assert_eq!(
            refused(&|w| w["format"] = json!("x")),
            Reason::InvalidSignedReceipt
        );
        assert_eq!(
            refused(&|w| w["payload"]["version"] = json!(2)),
            Reason::InvalidSignedReceipt
        );
        assert_eq!(
            refused(&|w| w["payload"]["issuedAt"] = json!("1")),
            Reason::InvalidSignedReceipt
        );
        assert_eq!(
            refused(&|w| w["payload"]["issuedAt"] = json!(MAX_SAFE_INTEGER + 1)),
            Reason::InvalidSignedReceipt
        );
        assert_eq!(
            refused(&|w| w["payload"] = json!(null)),
            Reason::InvalidSignedReceipt
        );
        assert_eq!(
            refused(&|w| w["signature"] = json!("0x1234")),
            Reason::InvalidOfferReceiptSignature
        );
        assert_eq!(
            refused(&|w| w["signature"] = json!(format!("0x{}", "00".repeat(65)))),
            Reason::InvalidOfferReceiptSignature
        );
        for text in ["", "[]", "{", "null", "{\"format\":\"eip712\"}"] {
            assert_eq!(
                check_receipt(text).unwrap_err().reason(),
                Reason::InvalidSignedReceipt
            );
        }
        // Without a transaction field it reads as "".
        let mut w = v.clone();
        w["payload"].as_object_mut().unwrap().remove("transaction");
        assert_eq!(
            check_receipt(&w.to_string()).unwrap().payload.transaction,
            ""
        );
    }
}
