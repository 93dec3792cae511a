//! Golden vectors from `tests/vectors/*.json` (each file names its source). The same driver
//! runs natively (`cargo test`) and in Node under wasm-bindgen-test
//! (`cargo test --target wasm32-unknown-unknown`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_sol_types::SolStruct;
use serde_json::Value;
use x402_core::evm::eip712::{
    permit2, signing_hash, token_domain, Eip712Domain, TransferWithAuthorization,
};
use x402_core::evm::money;
use x402_core::evm::signature::Signature;
use x402_core::scheme::exact::Authorization;
use x402_core::wire::header;
use x402_core::wire::{v1, v2, SettleResponse};
use x402_core::{Address, Reason, B256, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn load(json: &str) -> Value {
    serde_json::from_str(json).expect("vector file is JSON")
}

const HEADERS: &str = include_str!("../../../tests/vectors/headers.json");
const EIP712: &str = include_str!("../../../tests/vectors/eip712.json");
const SIGNATURES: &str = include_str!("../../../tests/vectors/signatures.json");
const PERMIT2: &str = include_str!("../../../tests/vectors/permit2.json");
const MONEY: &str = include_str!("../../../tests/vectors/money.json");

fn s(v: &Value) -> &str {
    v.as_str().expect("string field")
}

fn b256(v: &Value) -> B256 {
    s(v).parse().expect("32-byte hex")
}

fn domain(v: &Value) -> Eip712Domain {
    let contract: Address = s(&v["verifyingContract"]).parse().expect("address");
    let chain_id = v["chainId"].as_u64().expect("chainId");
    match v.get("version") {
        Some(version) => token_domain(s(&v["name"]), s(version), chain_id, contract),
        None => Eip712Domain::new(
            Some(s(&v["name"]).to_owned().into()),
            None,
            Some(U256::from(chain_id)),
            Some(contract),
            None,
        ),
    }
}

fn authorization(v: &Value) -> Authorization {
    serde_json::from_value(v.clone()).expect("authorization parses")
}

/// Decodes a header with the decoder for its name, re-encodes the typed value and returns the
/// re-encoded base64 plus the decoded JSON text.
fn decode_reencode(name: &str, b64: &str) -> (String, Value) {
    match name {
        "PAYMENT-REQUIRED" => {
            let m: v2::PaymentRequired = header::decode_payment_required(b64).expect("decodes");
            (
                header::encode(&m).unwrap(),
                serde_json::to_value(&m).unwrap(),
            )
        }
        "PAYMENT-SIGNATURE" => {
            let m: v2::PaymentPayload = header::decode_payment_signature(b64).expect("decodes");
            (
                header::encode(&m).unwrap(),
                serde_json::to_value(&m).unwrap(),
            )
        }
        "X-PAYMENT" => {
            let m: v1::PaymentPayload = header::decode_x_payment(b64).expect("decodes");
            (
                header::encode(&m).unwrap(),
                serde_json::to_value(&m).unwrap(),
            )
        }
        "PAYMENT-RESPONSE" | "X-PAYMENT-RESPONSE" => {
            let m: SettleResponse = header::decode_payment_response(b64).expect("decodes");
            (
                header::encode(&m).unwrap(),
                serde_json::to_value(&m).unwrap(),
            )
        }
        other => panic!("unknown header {other}"),
    }
}

#[test]
fn header_vectors_decode_and_reencode_byte_for_byte() {
    let file = load(HEADERS);
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 7);
    for v in vectors {
        let (name, b64, json) = (s(&v["header"]), s(&v["base64"]), s(&v["json"]));
        let (reencoded, decoded) = decode_reencode(name, b64);
        assert_eq!(reencoded, b64, "{}", v["name"]);
        assert_eq!(decoded, load(json), "{}", v["name"]);
        assert_eq!(
            serde_json::to_string(&decoded).unwrap(),
            json,
            "{}",
            v["name"]
        );
    }
}

#[test]
fn header_vectors_reject_url_safe_and_unpadded_forms() {
    for v in load(HEADERS)["vectors"].as_array().unwrap() {
        let b64 = s(&v["base64"]);
        let url_safe = b64.replace('+', "-").replace('/', "_");
        let unpadded = b64.trim_end_matches('=');
        for bad in [url_safe.as_str(), unpadded] {
            if bad == b64 {
                continue;
            }
            let err = match s(&v["header"]) {
                "PAYMENT-REQUIRED" => header::decode_payment_required(bad).map(|_| ()),
                "PAYMENT-SIGNATURE" => header::decode_payment_signature(bad).map(|_| ()),
                "X-PAYMENT" => header::decode_x_payment(bad).map(|_| ()),
                _ => header::decode_payment_response(bad).map(|_| ()),
            }
            .unwrap_err();
            assert!(
                matches!(
                    err.reason(),
                    Reason::InvalidPayload | Reason::MalformedChallenge
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn eip712_typehashes_and_domain_separators() {
    let file = load(EIP712);
    let msg = TransferWithAuthorization {
        from: Address::ZERO,
        to: Address::ZERO,
        value: U256::ZERO,
        validAfter: U256::ZERO,
        validBefore: U256::ZERO,
        nonce: B256::ZERO,
    };
    assert_eq!(
        msg.eip712_type_hash(),
        b256(&file["typehashes"]["TransferWithAuthorization"])
    );
    assert_eq!(
        TransferWithAuthorization::eip712_encode_type(),
        s(&file["typeStrings"]["TransferWithAuthorization"])
    );
    let separators = file["domainSeparators"].as_array().unwrap();
    assert_eq!(separators.len(), 7);
    for v in separators {
        let d = domain(&v["domain"]);
        assert_eq!(d.encode_type(), s(&file["typeStrings"]["EIP712Domain"]));
        assert_eq!(d.type_hash(), b256(&file["typehashes"]["EIP712Domain"]));
        assert_eq!(d.separator(), b256(&v["separator"]), "{}", v["name"]);
    }
}

#[test]
fn spec_signature_recovers_to_its_payer_and_not_under_the_wrong_domain() {
    let file = load(SIGNATURES);
    let cases = file["recovery"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for v in cases {
        let auth = authorization(&v["authorization"]);
        let d = domain(&v["domain"]);
        if !v["structHash"].is_null() {
            assert_eq!(auth.message().eip712_hash_struct(), b256(&v["structHash"]));
        }
        let digest = signing_hash(&d, &auth.message());
        if !v["digest"].is_null() {
            assert_eq!(digest, b256(&v["digest"]));
        }
        let sig_bytes = alloy_primitives::hex::decode(s(&v["signature"])).unwrap();
        let sig = Signature::from_bytes(&sig_bytes).expect("low-s, v 27/28");
        let recovered = sig.recover(&digest).unwrap();
        assert_eq!(
            recovered,
            s(&v["recoversTo"]).parse::<Address>().unwrap(),
            "{}",
            v["name"]
        );
    }
    // The two cases recover to different addresses: the domain name matters.
    assert_ne!(cases[0]["recoversTo"], cases[1]["recoversTo"]);
}

#[test]
fn deterministic_signature_digests() {
    let file = load(SIGNATURES);
    for v in file["deterministic"]["cases"].as_array().unwrap() {
        let auth = authorization(&v["authorization"]);
        assert_eq!(auth.message().eip712_hash_struct(), b256(&v["structHash"]));
        let digest = signing_hash(&domain(&v["domain"]), &auth.message());
        assert_eq!(digest, b256(&v["digest"]), "{}", v["name"]);
        let sig_bytes = alloy_primitives::hex::decode(s(&v["signature"])).unwrap();
        let recovered = Signature::from_bytes(&sig_bytes)
            .unwrap()
            .recover(&digest)
            .unwrap();
        assert_eq!(
            recovered,
            s(&file["deterministic"]["address"])
                .parse::<Address>()
                .unwrap()
        );
    }
}

#[cfg(feature = "local-signer")]
#[test]
fn deterministic_signatures_byte_for_byte() {
    use x402_core::evm::signer::LocalSigner;
    let file = load(SIGNATURES);
    let det = &file["deterministic"];
    let signer = LocalSigner::from_hex(s(&det["privateKey"])).unwrap();
    assert_eq!(
        signer.address(),
        s(&det["address"]).parse::<Address>().unwrap()
    );
    for v in det["cases"].as_array().unwrap() {
        let sig = signer.sign_hash(&b256(&v["digest"])).unwrap();
        assert_eq!(
            format!("0x{}", alloy_primitives::hex::encode(sig.to_bytes())),
            s(&v["signature"])
        );
    }
    let p = load(PERMIT2);
    let sig = LocalSigner::from_hex(s(&p["privateKey"]))
        .unwrap()
        .sign_hash(&b256(&p["digest"]))
        .unwrap();
    assert_eq!(
        format!("0x{}", alloy_primitives::hex::encode(sig.to_bytes())),
        s(&p["signature"])
    );
}

#[test]
fn permit2_constants() {
    use permit2::{PermitWitnessTransferFrom, TokenPermissions, Witness};
    let p = load(PERMIT2);
    let d = domain(&p["domain"]);
    assert_eq!(d.encode_type(), s(&p["domainTypeString"]));
    assert_eq!(d.type_hash(), b256(&p["domainTypehash"]));
    assert_eq!(d.separator(), b256(&p["domainSeparator"]));
    assert_eq!(
        s(&p["domain"]["verifyingContract"])
            .parse::<Address>()
            .unwrap(),
        permit2::PERMIT2
    );
    let m = &p["message"];
    let u = |v: &Value| U256::from_str_radix(s(v), 10).unwrap();
    let a = |v: &Value| s(v).parse::<Address>().unwrap();
    let msg = PermitWitnessTransferFrom {
        permitted: TokenPermissions {
            token: a(&m["permitted"]["token"]),
            amount: u(&m["permitted"]["amount"]),
        },
        spender: a(&m["spender"]),
        nonce: u(&m["nonce"]),
        deadline: u(&m["deadline"]),
        witness: Witness {
            to: a(&m["witness"]["to"]),
            validAfter: u(&m["witness"]["validAfter"]),
        },
    };
    assert_eq!(msg.spender, permit2::EXACT_PROXY);
    assert_eq!(
        PermitWitnessTransferFrom::eip712_encode_type(),
        s(&p["fullTypeString"])
    );
    assert_eq!(msg.eip712_type_hash(), b256(&p["fullTypehash"]));
    assert_eq!(
        msg.permitted.eip712_type_hash(),
        b256(&p["tokenPermissionsTypehash"])
    );
    assert_eq!(Witness::eip712_encode_type(), s(&p["witnessTypeString"]));
    assert_eq!(msg.witness.eip712_type_hash(), b256(&p["witnessTypehash"]));
    assert!(s(&p["fullTypeString"]).ends_with(s(&p["proxyWitnessTypeString"])));
    assert_eq!(msg.eip712_signing_hash(&d), b256(&p["digest"]));
    let sig_bytes = alloy_primitives::hex::decode(s(&p["signature"])).unwrap();
    let recovered = Signature::from_bytes(&sig_bytes)
        .unwrap()
        .recover(&b256(&p["digest"]))
        .unwrap();
    assert_eq!(recovered, a(&p["address"]));

    let upto = permit2::upto::PermitWitnessTransferFrom {
        permitted: msg.permitted.clone(),
        spender: msg.spender,
        nonce: msg.nonce,
        deadline: msg.deadline,
        witness: permit2::upto::Witness {
            to: msg.witness.to,
            facilitator: Address::ZERO,
            validAfter: U256::ZERO,
        },
    };
    assert_eq!(
        permit2::upto::PermitWitnessTransferFrom::eip712_encode_type(),
        s(&p["upto"]["fullTypeString"])
    );
    assert_eq!(upto.eip712_type_hash(), b256(&p["upto"]["fullTypehash"]));
    assert_eq!(
        permit2::upto::Witness::eip712_encode_type(),
        s(&p["upto"]["witnessTypeString"])
    );
    assert_eq!(
        upto.witness.eip712_type_hash(),
        b256(&p["upto"]["witnessTypehash"])
    );
}

#[test]
fn money_vectors() {
    let file = load(MONEY);
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 20);
    for v in vectors {
        let decimals = u8::try_from(v["decimals"].as_u64().unwrap()).unwrap();
        let got = money::parse_price(s(&v["price"]), decimals);
        match (v.get("atomic"), v.get("error").map(s)) {
            (Some(atomic), None) => {
                let got = got.unwrap_or_else(|e| panic!("{}: {e}", v["price"]));
                assert_eq!(got.to_string(), s(atomic), "{}", v["price"]);
            }
            (None, Some("too_small")) => {
                assert_eq!(
                    got.unwrap_err().reason(),
                    Reason::PriceTooSmall,
                    "{}",
                    v["price"]
                );
            }
            (None, Some("invalid")) => {
                assert_eq!(
                    got.unwrap_err().reason(),
                    Reason::InvalidPrice,
                    "{}",
                    v["price"]
                );
            }
            _ => panic!("bad vector {v}"),
        }
    }
}
