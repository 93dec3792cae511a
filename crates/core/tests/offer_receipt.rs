//! The `offer-receipt` extension against the reference (`@x402/extensions` 2.27 from npm,
//! `@x402/extensions/offer-receipt`, which hashes, signs and recovers EIP-712 with viem): the
//! same payload gives the same digest; offers and receipts signed by x402-core pass the
//! reference's `verifyOfferSignatureEIP712` / `verifyReceiptSignatureEIP712` and recover the same
//! address, and ones signed by the reference (a viem local account) pass x402-core's recovery;
//! a tampered one is refused by both (it recovers another address, or none). The extension
//! values the reference server builds for a 402 and a settlement response are, byte for byte,
//! those x402-core builds (RFC 6979 signatures are deterministic on both sides), and offers are
//! matched to `accepts[]` as the reference client matches them. Needs `node_modules`
//! (installed by `scripts/setup`).
#![cfg(all(feature = "local-signer", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::node_oracle;
use serde_json::{json, Value};
use x402_core::encoding::hex;
use x402_core::evm::signer::LocalSigner;
use x402_core::wire::facilitator::SettleResponse;
use x402_core::wire::offer_receipt::{
    self as or, Format, OfferPayload, ReceiptPayload, SignedOffer, SignedReceipt,
};
use x402_core::wire::v2::PaymentRequirements;
use x402_core::Reason;

/// The server's signing key (a well-known test key, never funded).
const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const URL: &str = "https://api.example.com/premium-data";

fn signer() -> LocalSigner {
    LocalSigner::from_hex(KEY).unwrap()
}

fn same_address(a: &Value, b: &LocalSigner) -> bool {
    a.as_str().map(str::to_lowercase) == Some(b.address().to_string().to_lowercase())
}

/// Offers with edge cases: no expiry, the largest safe integer, non-ASCII and empty strings,
/// a non-EVM network, v1-style amounts.
fn offers() -> Vec<OfferPayload> {
    let base = OfferPayload {
        version: 1,
        resource_url: URL.into(),
        scheme: "exact".into(),
        network: "eip155:8453".into(),
        asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".into(),
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
        amount: "10000".into(),
        valid_until: 1_703_123_516,
    };
    let mut out = vec![base.clone()];
    let mut forever = base.clone();
    forever.valid_until = 0;
    out.push(forever);
    let mut odd = base.clone();
    odd.resource_url = "https://paper.example/articles/caf\u{e9}?q=\u{1f600}&x=\"y\"".into();
    odd.scheme = "upto".into();
    odd.amount =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935".into();
    odd.valid_until = or::MAX_SAFE_INTEGER;
    out.push(odd);
    let mut solana = base.clone();
    solana.network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into();
    solana.asset = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into();
    solana.pay_to = "".into();
    out.push(solana);
    out
}

fn receipts() -> Vec<ReceiptPayload> {
    let base = ReceiptPayload {
        version: 1,
        network: "eip155:8453".into(),
        resource_url: URL.into(),
        payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
        issued_at: 1_703_123_456,
        transaction: String::new(),
    };
    let mut with_tx = base.clone();
    with_tx.transaction =
        "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef".into();
    let mut odd = base.clone();
    odd.resource_url = "http://127.0.0.1:8787/paid/\u{e9}t\u{e9}".into();
    odd.issued_at = or::MAX_SAFE_INTEGER;
    odd.payer = "".into();
    vec![base, with_tx, odd]
}

fn requirements() -> Vec<PaymentRequirements> {
    let one: PaymentRequirements = serde_json::from_value(json!({
        "scheme": "exact",
        "network": "eip155:8453",
        "amount": "10000",
        "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2"}
    }))
    .unwrap();
    let two: PaymentRequirements = serde_json::from_value(json!({
        "scheme": "exact",
        "network": "eip155:84532",
        "amount": "2500",
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "maxTimeoutSeconds": 120,
        "extra": {"name": "USDC", "version": "2"}
    }))
    .unwrap();
    vec![one, two]
}

#[test]
fn the_digests_are_the_reference_digests() {
    let mut requests = Vec::new();
    for p in offers() {
        requests.push(json!({"op": "hash", "kind": "offer", "payload": p}));
    }
    for p in receipts() {
        requests.push(json!({"op": "hash", "kind": "receipt", "payload": p}));
    }
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    let ours: Vec<String> = offers()
        .iter()
        .map(|p| or::offer_signing_hash(p).to_string())
        .chain(
            receipts()
                .iter()
                .map(|p| or::receipt_signing_hash(p).to_string()),
        )
        .collect();
    for (answer, ours) in answers.iter().zip(&ours) {
        assert_eq!(answer["hash"].as_str(), Some(ours.as_str()), "{answer}");
    }
}

#[test]
fn our_artifacts_pass_the_reference_verifier() {
    let s = signer();
    let mut requests = Vec::new();
    for (i, p) in offers().into_iter().enumerate() {
        let offer = or::sign_offer(&s, p, Some(i as u64)).unwrap();
        requests.push(json!({"op": "verify", "kind": "offer", "artifact": offer}));
        // Tampered after signing: another amount.
        let mut t = offer.clone();
        t.payload.as_mut().unwrap().amount.push('0');
        assert_ne!(or::recover_offer_signer(&t).ok(), Some(s.address()));
        requests.push(json!({"op": "verify", "kind": "offer", "artifact": t}));
    }
    for p in receipts() {
        let receipt = or::sign_receipt(&s, p).unwrap();
        requests.push(json!({"op": "verify", "kind": "receipt", "artifact": receipt}));
        let mut t = receipt.clone();
        t.payload.as_mut().unwrap().issued_at += 1;
        assert_ne!(or::recover_receipt_signer(&t).ok(), Some(s.address()));
        requests.push(json!({"op": "verify", "kind": "receipt", "artifact": t}));
    }
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    for (req, pair) in requests.chunks(2).zip(answers.chunks(2)) {
        assert!(same_address(&pair[0]["signer"], &s), "{}", pair[0]);
        assert_eq!(pair[0]["payload"], req[0]["artifact"]["payload"]);
        // The reference recovers someone else (or nobody) from the tampered one.
        assert!(!same_address(&pair[1]["signer"], &s), "{}", pair[1]);
    }
}

#[test]
fn reference_artifacts_pass_ours() {
    let s = signer();
    let mut requests = Vec::new();
    for (i, p) in offers().into_iter().enumerate() {
        requests.push(
            json!({"op": "sign", "kind": "offer", "payload": p, "privateKey": KEY, "acceptIndex": i}),
        );
    }
    for p in receipts() {
        requests.push(json!({"op": "sign", "kind": "receipt", "payload": p, "privateKey": KEY}));
    }
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    let (offer_answers, receipt_answers) = answers.split_at(offers().len());
    for (i, answer) in offer_answers.iter().enumerate() {
        let artifact = &answer["artifact"];
        let offer = SignedOffer::from_value(artifact).unwrap();
        assert_eq!(or::recover_offer_signer(&offer).unwrap(), s.address());
        // The same JSON, and (RFC 6979) the same signature x402-core makes.
        assert_eq!(&offer.to_value(), artifact);
        let ours = or::sign_offer(&s, offer.payload.clone().unwrap(), Some(i as u64)).unwrap();
        assert_eq!(ours, offer);
        let mut t = offer.clone();
        t.payload.as_mut().unwrap().pay_to = "0x0000000000000000000000000000000000000001".into();
        assert_ne!(or::recover_offer_signer(&t).ok(), Some(s.address()));
    }
    for answer in receipt_answers {
        let artifact = &answer["artifact"];
        let receipt = SignedReceipt::from_value(artifact).unwrap();
        assert_eq!(or::recover_receipt_signer(&receipt).unwrap(), s.address());
        assert_eq!(&receipt.to_value(), artifact);
        let ours = or::sign_receipt(&s, receipt.payload.clone().unwrap()).unwrap();
        assert_eq!(ours, receipt);
        let mut t = receipt.clone();
        t.payload.as_mut().unwrap().network = "eip155:1".into();
        assert_ne!(or::recover_receipt_signer(&t).ok(), Some(s.address()));
    }
}

#[test]
fn malformed_and_malleated_signatures() {
    let s = signer();
    let offer = or::sign_offer(&s, offers().remove(0), Some(0)).unwrap();
    let mut short = offer.clone();
    short.signature = "0x1234".into();
    // The same signature with s' = n - s and v flipped: still the signer's for viem (noble
    // recovers from high s), refused here as malleable (as every signature this crate reads).
    let mut bytes = hex::parse_hex_bytes(&offer.signature).unwrap();
    let n = x402_core::U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let high = n - x402_core::U256::from_be_slice(&bytes[32..64]);
    bytes[32..64].copy_from_slice(&high.to_be_bytes::<32>());
    bytes[64] = 55 - bytes[64]; // 27 <-> 28
    let mut malleated = offer.clone();
    malleated.signature = hex::prefixed(&bytes);
    let requests = vec![
        json!({"op": "verify", "kind": "offer", "artifact": short}),
        json!({"op": "verify", "kind": "offer", "artifact": malleated}),
        json!({"op": "verify", "kind": "offer", "artifact": {"format": "eip712", "signature": offer.signature}}),
        json!({"op": "verify", "kind": "offer", "artifact": {"format": "jws", "signature": "a.b.c"}}),
    ];
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    assert!(answers[0]["error"].is_string(), "{}", answers[0]);
    assert_eq!(
        or::recover_offer_signer(&short).unwrap_err().reason(),
        Reason::InvalidOfferReceiptSignature
    );
    assert!(same_address(&answers[1]["signer"], &s), "{}", answers[1]);
    assert_eq!(
        or::recover_offer_signer(&malleated).unwrap_err().reason(),
        Reason::InvalidOfferReceiptSignature
    );
    // No payload: the reference's "Invalid offer: missing or malformed payload"; here the
    // artifact does not even decode.
    assert!(answers[2]["error"]
        .as_str()
        .unwrap()
        .contains("missing or malformed payload"));
    assert_eq!(
        SignedOffer::from_value(&requests[2]["artifact"])
            .unwrap_err()
            .reason(),
        Reason::InvalidSignedOffer
    );
    // JWS: "Expected eip712 format, got jws" there, unsupported_offer_receipt_format here.
    assert!(answers[3]["error"].as_str().unwrap().contains("eip712"));
    let jws = SignedOffer::from_value(&requests[3]["artifact"]).unwrap();
    assert_eq!(
        or::recover_offer_signer(&jws).unwrap_err().reason(),
        Reason::UnsupportedOfferReceiptFormat
    );
}

#[test]
fn the_reference_server_builds_the_same_extensions() {
    let s = signer();
    let accepts = requirements();
    let validity = 600;
    let requests = vec![
        json!({"op": "offers", "privateKey": KEY, "resourceUrl": URL, "requirements": accepts, "offerValiditySeconds": validity}),
        json!({"op": "offers", "privateKey": KEY, "resourceUrl": URL, "requirements": accepts}),
    ];
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    for (answer, validity) in answers.iter().zip([Some(validity), None]) {
        let ext = &answer["extension"];
        assert_eq!(ext["schema"], or::offer_schema());
        let offers = or::decode_offers(ext).unwrap();
        assert_eq!(offers.len(), accepts.len());
        for (i, (offer, accepted)) in offers.iter().zip(&accepts).enumerate() {
            assert_eq!(offer.format, Format::Eip712);
            assert_eq!(offer.accept_index, Some(i as u64));
            assert_eq!(or::recover_offer_signer(offer).unwrap(), s.address());
            assert_eq!(or::match_offer(&offers, accepted), Some(offer));
        }
        // The reference's `now`, read back from the first offer's expiry.
        let first = offers[0].payload.as_ref().unwrap();
        let now = first.valid_until - validity.unwrap_or(accepts[0].max_timeout_seconds);
        let ours = or::signed_offers_extension(&s, URL, &accepts, now, validity).unwrap();
        assert_eq!(&ours, ext);
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(ext).unwrap()
        );
    }

    let tx = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef";
    let settled = SettleResponse::success(
        tx.into(),
        "eip155:8453".into(),
        "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
    );
    let mut failed = settled.clone();
    failed.success = false;
    let requests: Vec<Value> = [(&settled, false), (&settled, true), (&failed, true)]
        .iter()
        .map(|(result, include)| {
            json!({"op": "receipt", "privateKey": KEY, "resourceUrl": URL, "result": result, "includeTxHash": include})
        })
        .collect();
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    for (answer, include) in answers[..2].iter().zip([false, true]) {
        let ext = &answer["extension"];
        assert_eq!(ext["schema"], or::receipt_schema());
        let receipt = or::decode_receipt(ext).unwrap();
        assert_eq!(or::recover_receipt_signer(&receipt).unwrap(), s.address());
        let payload = receipt.payload.as_ref().unwrap();
        assert_eq!(payload.transaction, if include { tx } else { "" });
        let ours =
            or::signed_receipt_extension(&s, URL, &settled, payload.issued_at, include).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(ext).unwrap()
        );
    }
    // No receipt for a failed settlement, on either side.
    assert_eq!(answers[2]["extension"], Value::Null);
    assert_eq!(
        or::signed_receipt_extension(&s, URL, &failed, 1, true)
            .unwrap_err()
            .reason(),
        Reason::InvalidSignedReceipt
    );
}

#[test]
fn offers_match_accepts_as_the_reference_client_matches_them() {
    let s = signer();
    let accepts = requirements();
    let mut payloads: Vec<OfferPayload> = accepts
        .iter()
        .map(|a| or::offer_payload(URL, a, 0))
        .collect();
    // Each term changed in turn: matches nothing.
    let base = payloads[0].clone();
    type Change = fn(&mut OfferPayload);
    let changes: [Change; 6] = [
        |p| p.scheme = "upto".into(),
        |p| p.network = "eip155:1".into(),
        |p| p.asset = p.asset.to_lowercase(),
        |p| p.pay_to = "0x0000000000000000000000000000000000000001".into(),
        |p| p.amount = "10001".into(),
        // Not a term: the resource and expiry do not decide the match.
        |p| {
            p.resource_url = "https://elsewhere.example/".into();
            p.valid_until = 1;
        },
    ];
    for change in changes {
        let mut p = base.clone();
        change(&mut p);
        payloads.push(p);
    }
    let mut requests = Vec::new();
    let mut offers = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        // acceptIndex hints at the wrong entry for some: it never decides alone.
        let offer = or::sign_offer(&s, p.clone(), Some((i % 3) as u64)).unwrap();
        requests.push(json!({"op": "matches", "offer": offer, "accepts": accepts}));
        offers.push(offer);
    }
    // JWS offers (payload inside the compact string) are matched by their payload too.
    for p in &payloads[..2] {
        requests.push(json!({"op": "jws", "kind": "offer", "payload": p, "acceptIndex": 5}));
    }
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    let (match_answers, jws_answers) = answers.split_at(offers.len());
    for (offer, answer) in offers.iter().zip(match_answers) {
        let ours = accepts
            .iter()
            .position(|a| or::match_offer(core::slice::from_ref(offer), a).is_some());
        let theirs = answer["index"].as_i64().unwrap();
        assert_eq!(ours.map_or(-1, |i| i as i64), theirs, "{offer:?}");
    }
    assert_eq!(
        match_answers
            .iter()
            .map(|a| a["index"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, -1, -1, -1, -1, -1, 0]
    );
    for (answer, (p, accepted)) in jws_answers.iter().zip(payloads.iter().zip(&accepts)) {
        let jws = SignedOffer::from_value(&answer["artifact"]).unwrap();
        assert_eq!(jws.format, Format::Jws);
        assert_eq!(&jws.payload_unverified().unwrap(), p);
        assert_eq!(
            or::match_offer(core::slice::from_ref(&jws), accepted),
            Some(&jws)
        );
    }
}

#[test]
fn reference_jws_receipts_are_read() {
    // The reference's JWS receipt leaves `transaction` out when there is none.
    let requests: Vec<Value> = receipts()
        .into_iter()
        .map(|p| {
            let mut v = serde_json::to_value(&p).unwrap();
            if p.transaction.is_empty() {
                v.as_object_mut().unwrap().remove("transaction");
            }
            json!({"op": "jws", "kind": "receipt", "payload": v})
        })
        .collect();
    let answers = node_oracle("offer-receipt-oracle.mjs", &requests);
    for (answer, p) in answers.iter().zip(receipts()) {
        let jws = SignedReceipt::from_value(&answer["artifact"]).unwrap();
        assert_eq!(jws.payload_unverified().unwrap(), p);
        assert_eq!(
            or::recover_receipt_signer(&jws).unwrap_err().reason(),
            Reason::UnsupportedOfferReceiptFormat
        );
    }
}
