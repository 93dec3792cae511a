//! Differential: the serde-free paying path the browser bundle uses (`challenge::Challenge`,
//! `json::parse`) against the serde path (`header::decode_payment_required`,
//! `header::parse_v1_challenge_body`, `serde_json`), on the same input read both as a
//! `PAYMENT-REQUIRED` value and as a v1 402 body. Both must accept the same inputs (the
//! serde-free reader may refuse more only for a duplicated field), with the same reason when they
//! refuse, the same offers when they accept, and payments that mean the same JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::client::challenge::{decode_receipt, Challenge};
use x402_core::client::Budget;
use x402_core::scheme::exact::{build_authorization, build_payment};
use x402_core::wire::AnyPaymentRequired;
use x402_core::encoding::json;
use x402_core::wire::header;
use x402_core::{Address, Bytes, Error, B256};
use x402_core_fuzz::{header_value, NOW};

fn agree(lite: Result<Challenge, Error>, serde: Result<AnyPaymentRequired, Error>, input: &str) {
    match (lite, serde) {
        (Ok(lite), Ok(serde)) => {
            let offers = serde.offers();
            assert_eq!(lite.offers(), &offers[..], "offers differ: {input}");
            for offer in offers.iter().flatten() {
                let auth = build_authorization(
                    &offer.requirement,
                    Address::repeat_byte(0x11),
                    NOW,
                    B256::repeat_byte(0x22),
                );
                let sig = [0x33u8; 65];
                let text = lite.payment_json(offer.index, &auth, &sig).expect("payment text");
                let ours: serde_json::Value = serde_json::from_str(&text).expect("payment is JSON");
                let theirs = build_payment(&serde, offer.index, auth, Bytes::from(sig.to_vec()))
                    .expect("serde payment");
                assert_eq!(ours, serde_json::to_value(&theirs).expect("JSON"), "{input}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "{a} / {b}: {input}"),
        (Err(a), Ok(_)) => assert!(a.message().contains("duplicate"), "{a}: {input}"),
        (Ok(_), Err(b)) => panic!("serde-free accepted what serde refused ({b}): {input}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(value) = header_value(data) {
        agree(
            Challenge::from_header(&value),
            header::decode_payment_required(&value).map(AnyPaymentRequired::V2),
            &value,
        );
        let _ = decode_receipt(&value);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    agree(
        Challenge::from_v1_body(text),
        header::parse_v1_challenge_body(text.as_bytes()).map(AnyPaymentRequired::V1),
        text,
    );
    assert_eq!(
        json::parse(text).is_ok(),
        serde_json::from_str::<serde_json::Value>(text).is_ok(),
        "JSON acceptance differs: {text}"
    );
    if let Some(b) = Budget::from_json_text(text) {
        assert_eq!(Budget::from_json_text(&b.to_json_text()), Some(b));
    }
});
