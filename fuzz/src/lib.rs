//! Shared pieces of the fuzz targets: how raw fuzzer bytes become a header value, the
//! round-trip invariants every decoded message must keep, and the checks a verdict must pass.
#![forbid(unsafe_code)]

use serde::Serialize;
use std::fmt::Debug;
use x402_core::client::Policy;
use x402_core::evm::address::parse_address;
use x402_core::evm::signature::Signature;
use x402_core::scheme::exact::verify::Verdict;
use x402_core::scheme::exact::{self, ExactEvmPayload};
use x402_core::wire::{v1, AnyPaymentRequired, JsonMap, VerifyResponse};
use x402_core::wire::header;
use x402_core::{Error, Reason, B256, U256};

/// The fixed clock of every verification: inside the window of the x402 specification's
/// sample authorization (`validAfter` 1740672089, `validBefore` 1740672154), so the spec
/// payment and the seeds signed for it verify.
pub const NOW: u64 = 1_740_672_100;

/// The Base Sepolia USDC contract of the specification's examples.
pub const USDC_BASE_SEPOLIA: &str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
/// The recipient of the specification's examples.
pub const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
/// The amount of the specification's examples.
pub const AMOUNT: u64 = 10_000;

/// Turns fuzzer bytes into a header value.
///
/// Input that starts with `{` is taken as the JSON the header carries and base64-encoded
/// first, so the fuzzer mutates JSON rather than base64 (a `{` can never start a valid header,
/// which is standard base64). Anything else must be UTF-8 and is the header value itself.
pub fn header_value(data: &[u8]) -> Option<String> {
    if data.first() == Some(&b'{') {
        Some(x402_core::encoding::base64::encode(data))
    } else {
        std::str::from_utf8(data).ok().map(String::from)
    }
}

/// Asserts two messages are equal.
pub fn assert_same<T: PartialEq + Debug>(a: &T, b: &T, what: &str) {
    assert!(a == b, "{what}:\n  {a:?}\n  {b:?}");
}

/// Asserts two serializations are the same bytes.
pub fn assert_same_json(a: &[u8], b: &[u8], what: &str) {
    assert!(
        a == b,
        "{what}:\n  {}\n  {}",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    );
}

/// A decoded header re-encodes to a value that decodes to an equal message, and encoding is
/// canonical: the second encoding is the same string as the first.
pub fn check_header<T: Serialize + PartialEq + Debug>(
    message: &T,
    decode: fn(&str) -> x402_core::error::Result<T>,
) {
    let encoded = header::encode(message).expect("a decoded message encodes");
    if encoded.len() > header::MAX_HEADER_LEN {
        // Re-encoding may be longer than the input (escapes written differently): it is then
        // refused for its size, and nothing else can be checked.
        assert!(decode(&encoded).is_err());
        return;
    }
    let again = decode(&encoded).unwrap_or_else(|e| panic!("re-encoded message fails: {e}"));
    assert_same(&again, message, "decode(encode(m)) != m");
    let twice = header::encode(&again).expect("encodes");
    if twice != encoded {
        let json = |s: &str| x402_core::encoding::base64::decode(s).expect("base64");
        assert_same_json(&json(&twice), &json(&encoded), "encoding is not canonical");
    }
}

/// A JSON message round-trips through `serde_json` and re-serializes to the same bytes.
pub fn check_json<T>(message: &T, parse: impl Fn(&[u8]) -> x402_core::error::Result<T>)
where
    T: Serialize + PartialEq + Debug,
{
    let text = serde_json::to_vec(message).expect("a parsed message serializes");
    let again = parse(&text).unwrap_or_else(|e| panic!("re-serialized message fails: {e}"));
    assert_same(&again, message, "parse(serialize(m)) != m");
    let twice = serde_json::to_vec(&again).expect("serializes");
    assert_same_json(&twice, &text, "serialization is not canonical");
}

/// The v1 requirement `X-PAYMENT` payments are verified against: the specification's example
/// (Base Sepolia USDC, 0.01 USDC to [`PAY_TO`]).
pub fn fixed_v1_requirement() -> v1::PaymentRequirements {
    let mut extra = JsonMap::new();
    extra.insert("name".into(), "USDC".into());
    extra.insert("version".into(), "2".into());
    v1::PaymentRequirements {
        scheme: "exact".into(),
        network: "base-sepolia".into(),
        max_amount_required: U256::from(AMOUNT),
        resource: "https://api.example.com/premium-data".into(),
        description: "Access to premium market data".into(),
        mime_type: Some("application/json".into()),
        pay_to: PAY_TO.into(),
        max_timeout_seconds: 60,
        asset: USDC_BASE_SEPOLIA.into(),
        output_schema: None,
        extra: Some(extra),
        other: JsonMap::new(),
    }
}

/// What must hold of any verdict the verifier gives at [`NOW`] for `payload`.
pub fn check_verdict(verdict: &Verdict, payload: &serde_json::Value, version: u8) {
    let p = verdict.payment();
    let parsed = ExactEvmPayload::from_json(payload).expect("a verified payload parses");
    assert_eq!(p.authorization, parsed.authorization);
    assert_eq!(p.signature, parsed.signature);
    assert_eq!(p.payer, p.authorization.from);
    assert_eq!(p.authorization.to, p.requirement.pay_to);
    if version == 1 {
        assert!(p.authorization.value >= p.requirement.amount);
    } else {
        assert_eq!(p.authorization.value, p.requirement.amount);
    }
    assert!(p.authorization.valid_after <= U256::from(NOW));
    assert!(p.authorization.valid_before >= U256::from(NOW + 6));
    assert!(p.requirement.max_timeout_seconds > 0);
    match verdict {
        Verdict::Valid(_) => {
            assert_eq!(p.signature.len(), 65);
            let sig = Signature::from_bytes(&p.signature).expect("a valid signature parses");
            assert_eq!(p.eoa_signature(), Some(sig));
            assert_eq!(sig.recover(&p.digest).expect("recovers"), p.payer);
            assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig));
            assert_eq!(
                exact::authorization_digest(&p.requirement, &p.authorization),
                p.digest
            );
        }
        Verdict::NeedsOnChainCheck(_) => {
            assert!(p.signature.len() > 65);
            assert!(verdict.clone().confirm_smart_wallet(false).is_err());
            assert!(verdict.clone().confirm_smart_wallet(true).is_ok());
        }
    }
    // The facilitator's answer round-trips.
    let answer = VerifyResponse::valid(p.payer.to_checksum(None));
    check_verify_response(&answer);
}

/// What must hold of any verification error: a known reason, and an answer that round-trips.
pub fn check_error(err: &Error) {
    assert!(Reason::ALL.contains(&err.reason()));
    assert_eq!(Reason::from_code(err.code()), Some(err.reason()));
    let answer = VerifyResponse::invalid(err, None);
    assert!(!answer.is_valid);
    check_verify_response(&answer);
}

fn check_verify_response(answer: &VerifyResponse) {
    let text = serde_json::to_string(answer).expect("serializes");
    let back: VerifyResponse = serde_json::from_str(&text).expect("parses");
    assert_eq!(&back, answer);
}

/// Runs the paying side over an untrusted challenge: parsing its offers, choosing one under
/// the default and an unlimited policy, and building what the wallet would sign.
pub fn exercise_client(challenge: &AnyPaymentRequired) {
    for offer in challenge.offers().into_iter().flatten() {
        let r = &offer.requirement;
        assert!(r.max_timeout_seconds > 0);
        assert_eq!(r.network.chain_id(), Some(r.chain_id));
        assert_eq!(parse_address(&r.asset.to_checksum(None)), Ok(r.asset));
        let auth = exact::build_authorization(r, r.pay_to, NOW, B256::repeat_byte(7));
        assert_eq!(auth.value, r.amount);
        let _ = exact::typed_data(r, &auth);
        let _ = exact::authorization_digest(r, &auth);
    }
    for policy in [
        Policy::default(),
        Policy {
            max_amount: None,
            ..Policy::default()
        },
    ] {
        match policy.select(challenge) {
            Ok(offer) => {
                assert!(policy.refusal(&offer.requirement).is_none());
                let auth = exact::build_authorization(
                    &offer.requirement,
                    offer.requirement.pay_to,
                    NOW,
                    B256::ZERO,
                );
                let payment = exact::build_payment(
                    challenge,
                    offer.index,
                    auth,
                    x402_core::Bytes::from(vec![0u8; 65]),
                )
                .expect("the chosen offer exists");
                assert_eq!(payment.version(), challenge.version());
            }
            Err(e) => assert!(matches!(
                e.reason(),
                Reason::OverMax | Reason::NoAcceptableRequirement
            )),
        }
    }
}
