//! One test per verification rule, each asserting its x402 reason code. Signatures are made
//! with anvil's public dev keys through the `local-signer` feature.
#![cfg(feature = "local-signer")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use serde_json::json;
use x402_core::evm::signature::Signature;
use x402_core::scheme::exact::verify::{verify, verify_v1, verify_v2, Verdict, ERC6492_MAGIC};
use x402_core::wire::{v1, AnyPaymentPayload, AnyPaymentRequired};
use x402_core::{Address, Reason, B256, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn offered() -> Vec<x402_core::wire::v2::PaymentRequirements> {
    vec![requirement()]
}

fn v2_challenge() -> AnyPaymentRequired {
    AnyPaymentRequired::V2(challenge_with(offered()))
}

fn reason_of(payment: &AnyPaymentPayload) -> Reason {
    verify(payment, &[], &offered(), NOW).unwrap_err().reason()
}

/// Replaces the `payload.signature` of a v2 payment.
fn with_signature(
    mut p: x402_core::wire::v2::PaymentPayload,
    sig: &[u8],
) -> x402_core::wire::v2::PaymentPayload {
    p.payload["signature"] = json!(format!("0x{}", alloy_primitives::hex::encode(sig)));
    p
}

fn signature_bytes(p: &x402_core::wire::v2::PaymentPayload) -> Vec<u8> {
    alloy_primitives::hex::decode(p.payload["signature"].as_str().unwrap()).unwrap()
}

#[test]
fn valid_payment_verifies_to_its_payer() {
    let p = pay_v2(PAYER_KEY);
    let verdict = verify_v2(&p, &offered(), NOW).unwrap();
    let Verdict::Valid(paid) = verdict else {
        panic!("expected Valid")
    };
    let payer = x402_core::evm::signer::LocalSigner::from_hex(PAYER_KEY)
        .unwrap()
        .address();
    assert_eq!(paid.payer, payer);
    assert_eq!(paid.requirement_index, 0);
    assert_eq!(paid.authorization.value, U256::from(10000));
    assert_eq!(paid.eoa_signature().unwrap().v, signature_bytes(&p)[64]);
}

#[test]
fn matches_the_right_requirement_among_several() {
    let mut cheap = requirement();
    cheap.amount = U256::from(5000);
    let offered = vec![cheap, requirement()];
    let challenge = AnyPaymentRequired::V2(challenge_with(offered.clone()));
    // Pay the second entry, built by hand (a policy would pick the first).
    let signer = x402_core::evm::signer::LocalSigner::from_hex(PAYER_KEY).unwrap();
    let offer = &challenge.offers()[1].clone().unwrap();
    let auth = x402_core::scheme::exact::build_authorization(
        &offer.requirement,
        signer.address(),
        NOW,
        nonce(1),
    );
    let sig = signer
        .sign_authorization(&offer.requirement, &auth)
        .unwrap();
    let p = x402_core::scheme::exact::build_payment(
        &challenge,
        1,
        auth,
        sig.to_bytes().to_vec().into(),
    )
    .unwrap();
    let verdict = verify(&p, &[], &offered, NOW).unwrap();
    assert_eq!(verdict.payment().requirement_index, 1);
}

#[test]
fn accepted_matching_ignores_json_key_order() {
    let p = pay_v2(PAYER_KEY);
    let mut json = serde_json::to_value(&p).unwrap();
    let extra = json["accepted"]["extra"].take();
    json["accepted"]["extra"] = json!({"version": extra["version"], "name": extra["name"]});
    let reordered: x402_core::wire::v2::PaymentPayload = serde_json::from_value(json).unwrap();
    assert!(matches!(
        verify_v2(&reordered, &offered(), NOW),
        Ok(Verdict::Valid(_))
    ));
}

#[test]
fn signature_by_another_key() {
    let mut p = pay_v2(OTHER_KEY);
    // Claim to be the payer while signing with another key.
    let payer = x402_core::evm::signer::LocalSigner::from_hex(PAYER_KEY)
        .unwrap()
        .address();
    p.payload["authorization"]["from"] = json!(payer.to_checksum(None));
    let err = verify_v2(&p, &offered(), NOW).unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidExactEvmSignature);
    assert!(err.message().contains("recovers to"), "{err}");
}

#[test]
fn signature_under_the_wrong_domain_name() {
    let p = pay(&v2_challenge(), PAYER_KEY, |_, req| {
        req.eip712_name = "USDC".into()
    });
    assert_eq!(reason_of(&p), Reason::InvalidExactEvmSignature);
}

#[test]
fn signature_under_the_wrong_chain() {
    let p = pay(&v2_challenge(), PAYER_KEY, |_, req| req.chain_id = 84532);
    assert_eq!(reason_of(&p), Reason::InvalidExactEvmSignature);
}

#[test]
fn authorization_to_another_recipient() {
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.to = Address::repeat_byte(0x11)
    });
    assert_eq!(reason_of(&p), Reason::InvalidExactEvmRecipientMismatch);
}

#[test]
fn accepted_with_another_pay_to() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.pay_to = Address::repeat_byte(0x11).to_checksum(None);
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmRecipientMismatch
    );
}

#[test]
fn accepted_with_another_asset() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into();
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmAssetMismatch
    );
}

#[test]
fn accepted_on_another_network() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.network = "eip155:8453".parse().unwrap();
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmNetworkMismatch
    );
}

#[test]
fn accepted_with_a_lower_amount() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.amount = U256::from(1);
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmAuthorizationValue
    );
}

#[test]
fn accepted_differing_in_another_field() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.max_timeout_seconds = 3600;
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidPaymentRequirements
    );
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.other.insert("surprise".into(), json!(true));
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidPaymentRequirements
    );
}

#[test]
fn value_must_equal_the_amount_in_v2() {
    for value in [9999u64, 10001] {
        let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
            auth.value = U256::from(value)
        });
        assert_eq!(
            reason_of(&p),
            Reason::InvalidExactEvmAuthorizationValue,
            "value {value}"
        );
    }
}

#[test]
fn expired_authorization() {
    // validBefore must leave the settlement margin (6 s): now + 5 is too late, now + 6 is fine.
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_before = U256::from(NOW + 5)
    });
    assert_eq!(
        reason_of(&p),
        Reason::InvalidExactEvmPayloadAuthorizationValidBefore
    );
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_before = U256::from(NOW - 100)
    });
    assert_eq!(
        reason_of(&p),
        Reason::InvalidExactEvmPayloadAuthorizationValidBefore
    );
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_before = U256::from(NOW + 6)
    });
    assert!(verify(&p, &[], &offered(), NOW).is_ok());
}

#[test]
fn authorization_valid_for_too_long() {
    // validBefore is bounded by the requirement's maxTimeoutSeconds plus the clock skew: a
    // payment valid forever (2^256 - 1) would re-open the resource for ever.
    let max = offered()[0].max_timeout_seconds;
    let limit = NOW + max + x402_core::scheme::exact::verify::CLOCK_SKEW_SECONDS;
    for too_long in [
        U256::MAX,
        U256::from(limit + 1),
        U256::from(NOW + 1_000_000_000_000),
    ] {
        let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
            auth.valid_before = too_long
        });
        let e = verify(&p, &[], &offered(), NOW).unwrap_err();
        assert_eq!(
            e.reason(),
            Reason::InvalidExactEvmPayloadAuthorizationValidBefore,
            "{too_long}"
        );
        assert!(e.message().contains("too long"), "{e}");
    }
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_before = U256::from(limit)
    });
    assert!(verify(&p, &[], &offered(), NOW).is_ok());
}

#[test]
fn not_yet_valid_authorization() {
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_after = U256::from(NOW + 1)
    });
    assert_eq!(
        reason_of(&p),
        Reason::InvalidExactEvmPayloadAuthorizationValidAfter
    );
    let p = pay(&v2_challenge(), PAYER_KEY, |auth, _| {
        auth.valid_after = U256::from(NOW)
    });
    assert!(verify(&p, &[], &offered(), NOW).is_ok());
}

#[test]
fn high_s_signature_is_rejected() {
    let p = pay_v2(PAYER_KEY);
    let sig = signature_bytes(&p);
    // secp256k1 order n; s' = n - s with the other v is the malleated twin.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&sig[32..64]);
    let mut twin = sig.clone();
    twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    twin[64] = if sig[64] == 27 { 28 } else { 27 };
    let err = verify_v2(&with_signature(p, &twin), &offered(), NOW).unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidExactEvmSignature);
    assert!(err.message().contains("high-s"), "{err}");
}

#[test]
fn v_values() {
    let p = pay_v2(PAYER_KEY);
    let sig = signature_bytes(&p);
    // 0/1 are the same signature written as a y-parity: accepted and normalised.
    let mut parity = sig.clone();
    parity[64] -= 27;
    assert!(matches!(
        verify_v2(&with_signature(p.clone(), &parity), &offered(), NOW),
        Ok(Verdict::Valid(_))
    ));
    for v in [2u8, 26, 29, 255] {
        let mut bad = sig.clone();
        bad[64] = v;
        let err = verify_v2(&with_signature(p.clone(), &bad), &offered(), NOW).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidExactEvmSignature, "v {v}");
    }
    // The flipped v recovers another key.
    let mut flipped = sig.clone();
    flipped[64] = if sig[64] == 27 { 28 } else { 27 };
    assert_eq!(
        verify_v2(&with_signature(p, &flipped), &offered(), NOW)
            .unwrap_err()
            .reason(),
        Reason::InvalidExactEvmSignature
    );
}

#[test]
fn short_and_zero_signatures() {
    let p = pay_v2(PAYER_KEY);
    let sig = signature_bytes(&p);
    for bad in [&sig[..64], &sig[..1], &[0u8; 65][..]] {
        let err = verify_v2(&with_signature(p.clone(), bad), &offered(), NOW).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidExactEvmSignature);
    }
    assert!(Signature::from_bytes(&[0u8; 65]).is_err());
}

#[test]
fn smart_wallet_signatures_need_an_on_chain_check() {
    let p = pay_v2(PAYER_KEY);
    // An ERC-1271 signature of some wallet: longer than 65 bytes, meaningless to ecrecover.
    let long = vec![0xab; 130];
    let verdict = verify_v2(&with_signature(p.clone(), &long), &offered(), NOW).unwrap();
    assert!(matches!(verdict, Verdict::NeedsOnChainCheck(_)));
    assert!(!verdict.is_erc6492());
    assert_eq!(
        verdict
            .clone()
            .confirm_smart_wallet(false)
            .unwrap_err()
            .reason(),
        Reason::InvalidExactEvmSignature
    );
    let paid = verdict.confirm_smart_wallet(true).unwrap();
    assert_eq!(paid.signature.len(), 130);

    let mut wrapped = vec![0xcd; 200];
    wrapped.extend_from_slice(&ERC6492_MAGIC);
    let verdict = verify_v2(&with_signature(p.clone(), &wrapped), &offered(), NOW).unwrap();
    assert!(verdict.is_erc6492());

    // The other rules still apply to smart-wallet payments.
    let mut late = with_signature(p, &long);
    late.payload["authorization"]["validBefore"] = json!(NOW.to_string());
    assert_eq!(
        verify_v2(&late, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmPayloadAuthorizationValidBefore
    );
}

#[test]
fn scheme_other_than_exact() {
    let mut p = pay_v2(PAYER_KEY);
    p.accepted.scheme = "upto".into();
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmScheme
    );
}

#[test]
fn missing_eip712_domain() {
    let mut req = requirement();
    req.extra.as_mut().unwrap().remove("version");
    let mut p = pay_v2(PAYER_KEY);
    p.accepted = req.clone();
    assert_eq!(
        verify_v2(&p, &[req.clone()], NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmMissingEip712Domain
    );
    req.extra = None;
    p.accepted = req.clone();
    assert_eq!(
        verify_v2(&p, &[req], NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmMissingEip712Domain
    );
}

#[test]
fn malformed_payloads() {
    let base = pay_v2(PAYER_KEY);
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("/authorization/nonce", json!("0x1234")),
        ("/authorization/nonce", json!(null)),
        (
            "/authorization/from",
            json!("0x857b06519E91e3A54538791bDbb0E22373e36B66"),
        ), // bad checksum
        ("/authorization/to", json!("not an address")),
        ("/authorization/value", json!(10000)),
        ("/authorization/value", json!("0x2710")),
        ("/authorization/value", json!("010000")),
        ("/authorization/validBefore", json!("-1")),
        ("/signature", json!("2d6a")),
        ("/signature", json!("0x123")),
        ("/signature", json!("0x")),
    ];
    for (pointer, value) in cases {
        let mut p = base.clone();
        *p.payload.pointer_mut(pointer).unwrap() = value.clone();
        let err = verify_v2(&p, &offered(), NOW).unwrap_err();
        assert_eq!(
            err.reason(),
            Reason::InvalidPayload,
            "{pointer} = {value}: {err}"
        );
    }
    let mut p = base.clone();
    p.payload = json!({"permit2Authorization": {}, "signature": "0x00"});
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::UnsupportedScheme
    );
    let mut p = base;
    p.payload = json!("nope");
    assert_eq!(
        verify_v2(&p, &offered(), NOW).unwrap_err().reason(),
        Reason::InvalidPayload
    );
}

#[test]
fn v1_payments() {
    let challenge = AnyPaymentRequired::V1(v1::PaymentRequired {
        x402_version: x402_core::wire::V1,
        error: None,
        accepts: vec![v1_requirement()],
    });
    let offered_v1 = [v1_requirement()];
    let p = pay(&challenge, PAYER_KEY, |_, _| {});
    assert!(matches!(
        verify(&p, &offered_v1, &[], NOW),
        Ok(Verdict::Valid(_))
    ));
    // v1 accepts more than the maximum, not less.
    let p = pay(&challenge, PAYER_KEY, |auth, _| {
        auth.value = U256::from(20000)
    });
    assert!(verify(&p, &offered_v1, &[], NOW).is_ok());
    let p = pay(&challenge, PAYER_KEY, |auth, _| {
        auth.value = U256::from(9999)
    });
    assert_eq!(
        verify(&p, &offered_v1, &[], NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmAuthorizationValue
    );
    let AnyPaymentPayload::V1(mut p) = pay(&challenge, PAYER_KEY, |_, _| {}) else {
        unreachable!()
    };
    p.network = "base".into();
    assert_eq!(
        verify_v1(&p, &offered_v1, NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmNetworkMismatch
    );
    p.scheme = "upto".into();
    assert_eq!(
        verify_v1(&p, &offered_v1, NOW).unwrap_err().reason(),
        Reason::InvalidExactEvmScheme
    );
}

#[test]
fn non_evm_requirement_is_an_invalid_network() {
    let mut req = requirement();
    req.network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".parse().unwrap();
    let mut p = pay_v2(PAYER_KEY);
    p.accepted = req.clone();
    assert_eq!(
        verify_v2(&p, &[req], NOW).unwrap_err().reason(),
        Reason::InvalidNetwork
    );
}

#[test]
fn recovery_matches_k256_for_many_digests() {
    let signer = x402_core::evm::signer::LocalSigner::from_hex(PAYER_KEY).unwrap();
    for i in 0u8..32 {
        let digest = alloy_primitives::keccak256([i]);
        let sig = signer.sign_hash(&digest).unwrap();
        assert_eq!(sig.recover(&digest).unwrap(), signer.address());
        assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
        assert_ne!(
            sig.recover(&B256::repeat_byte(i)).unwrap(),
            signer.address()
        );
    }
}

#[test]
fn contract_signers_a_65_byte_signature_by_another_key_goes_to_the_chain() {
    use x402_core::scheme::exact::verify::{
        verify_v2_with_contract_signers, verify_with_contract_signers,
    };
    // `from` is a wallet contract; its owner's key signed (not `from`'s).
    let wallet = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let mut p = pay_v2(PAYER_KEY);
    p.payload["authorization"]["from"] = json!(wallet);
    // Without a chain: the signature does not recover to `from`.
    let err = verify_v2(&p, &offered(), NOW).unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidExactEvmSignature);
    // With one: only the wallet's ERC-1271 answer can accept it.
    let verdict = verify_v2_with_contract_signers(&p, &offered(), NOW).unwrap();
    let Verdict::NeedsOnChainCheck(paid) = &verdict else {
        panic!("expected NeedsOnChainCheck")
    };
    assert_eq!(paid.payer, wallet.parse::<Address>().unwrap());
    assert_eq!(paid.signature.len(), 65);
    assert_eq!(
        verdict
            .clone()
            .confirm_smart_wallet(false)
            .unwrap_err()
            .reason(),
        Reason::InvalidExactEvmSignature
    );
    let any = AnyPaymentPayload::V2(p.clone());
    assert_eq!(
        verify_with_contract_signers(&any, &[], &offered(), NOW).unwrap(),
        verdict
    );
    // An EOA's own signature stays Valid; malformed ones stay errors (high-s, zero).
    let own = pay_v2(PAYER_KEY);
    assert!(matches!(
        verify_v2_with_contract_signers(&own, &offered(), NOW),
        Ok(Verdict::Valid(_))
    ));
    let mut sig = signature_bytes(&own);
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&sig[32..64]);
    sig[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    sig[64] = if sig[64] == 27 { 28 } else { 27 };
    for bad in [sig, vec![0u8; 65]] {
        let err =
            verify_v2_with_contract_signers(&with_signature(p.clone(), &bad), &offered(), NOW)
                .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidExactEvmSignature);
    }
}
