//! Independent cross-check against viem (from npm): typed data built by x402-core is signed by
//! viem and recovered/verified by x402-core, and signatures made by x402-core verify in viem.
//! Needs `node_modules` (installed by `scripts/setup`); fails with a clear message without it.
#![cfg(all(feature = "local-signer", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use serde_json::{json, Value};
use x402_core::client::Policy;
use x402_core::evm::signature::Signature;
use x402_core::evm::signer::LocalSigner;
use x402_core::scheme::exact::verify::{verify_v2, Verdict};
use x402_core::scheme::exact::{build_authorization, build_payment, typed_data};
use x402_core::wire::{AnyPaymentPayload, AnyPaymentRequired};
use x402_core::{Address, U256};

fn viem(requests: &[Value]) -> Vec<Value> {
    node_oracle("viem-oracle.mjs", requests)
}

/// A spread of requirements: several domains, amounts and timeouts.
fn cases() -> Vec<(AnyPaymentRequired, u8)> {
    let mut out = Vec::new();
    for (i, (network, asset, name, amount)) in [
        (
            "eip155:31337",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "USD Coin",
            10_000u64,
        ),
        (
            "eip155:84532",
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "USDC",
            1,
        ),
        (
            "eip155:8453",
            "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "USD Coin",
            99_999,
        ),
        (
            "eip155:137",
            "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
            "USD Coin",
            123_456,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = requirement();
        r.network = network.parse().unwrap();
        r.asset = asset.into();
        r.amount = U256::from(amount);
        r.max_timeout_seconds = 30 + 100 * i as u64;
        r.extra.as_mut().unwrap().insert("name".into(), json!(name));
        out.push((AnyPaymentRequired::V2(challenge_with(vec![r])), i as u8 + 1));
    }
    out
}

#[test]
fn viem_signs_x402_core_typed_data_and_x402_core_verifies_it() {
    let payer = LocalSigner::from_hex(OTHER_KEY).unwrap();
    let mut requests = Vec::new();
    let mut built = Vec::new();
    for (challenge, n) in cases() {
        let offer = Policy {
            max_amount: None,
            ..Policy::default()
        }
        .select(&challenge)
        .unwrap();
        let auth = build_authorization(&offer.requirement, payer.address(), NOW, nonce(n));
        requests.push(json!({"op": "sign", "privateKey": OTHER_KEY, "typedData": typed_data(&offer.requirement, &auth).unwrap()}));
        built.push((challenge, offer, auth));
    }
    let answers = viem(&requests);
    for ((challenge, offer, auth), answer) in built.into_iter().zip(answers) {
        let sig = alloy_primitives::hex::decode(answer["signature"].as_str().unwrap()).unwrap();
        let payment = build_payment(&challenge, offer.index, auth, sig.into()).unwrap();
        let (AnyPaymentRequired::V2(c), AnyPaymentPayload::V2(p)) = (&challenge, &payment) else {
            unreachable!()
        };
        let verdict = verify_v2(p, &c.accepts, NOW).unwrap();
        let Verdict::Valid(paid) = verdict else {
            panic!("viem signature must verify")
        };
        assert_eq!(paid.payer, payer.address());
    }
}

#[test]
fn x402_core_signatures_verify_in_viem() {
    let signer = LocalSigner::from_hex(PAYER_KEY).unwrap();
    let stranger = LocalSigner::from_hex(OTHER_KEY).unwrap().address();
    let mut requests = Vec::new();
    for (challenge, n) in cases() {
        let offer = Policy {
            max_amount: None,
            ..Policy::default()
        }
        .select(&challenge)
        .unwrap();
        let auth = build_authorization(&offer.requirement, signer.address(), NOW, nonce(n + 100));
        let sig = signer
            .sign_authorization(&offer.requirement, &auth)
            .unwrap();
        let hex_sig = format!("0x{}", alloy_primitives::hex::encode(sig.to_bytes()));
        let td = typed_data(&offer.requirement, &auth).unwrap();
        requests.push(json!({"op": "recover", "typedData": td, "signature": hex_sig}));
        requests.push(json!({"op": "verify", "address": signer.address().to_checksum(None), "typedData": td, "signature": hex_sig}));
        requests.push(json!({"op": "verify", "address": stranger.to_checksum(None), "typedData": td, "signature": hex_sig}));
        // And our own recovery agrees with viem's.
        let digest = x402_core::scheme::exact::authorization_digest(&offer.requirement, &auth);
        assert_eq!(
            Signature::from_bytes(&sig.to_bytes())
                .unwrap()
                .recover(&digest)
                .unwrap(),
            signer.address()
        );
    }
    let answers = viem(&requests);
    assert_eq!(answers.len(), 12);
    for triple in answers.chunks(3) {
        assert_eq!(
            triple[0]["address"]
                .as_str()
                .unwrap()
                .parse::<Address>()
                .unwrap(),
            signer.address()
        );
        assert_eq!(triple[1]["valid"], json!(true));
        assert_eq!(triple[2]["valid"], json!(false));
    }
}
