//! `POST /verify` and `POST /settle` bodies (server → facilitator): parse, round-trip, and
//! verify the payment against the requirement it carries at a fixed time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::scheme::exact::verify;
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::AnyPaymentPayload;
use x402_core_fuzz::{assert_same_json, check_error, check_verdict, NOW};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = FacilitatorRequest::from_json(data) else {
        return;
    };
    let body = request.to_json().expect("a parsed request serializes");
    let again = FacilitatorRequest::from_json(body.as_bytes()).expect("re-serialized parses");
    let again_body = again.to_json().expect("serializes");
    // `to_json` writes every field, so equal bodies mean equal requests.
    assert_same_json(
        again_body.as_bytes(),
        body.as_bytes(),
        "round trip or not canonical",
    );
    if again == request {
        assert_eq!(again_body, body, "not canonical");
    }

    let (payment, result) = match &request {
        FacilitatorRequest::V1 {
            payment_payload,
            payment_requirements,
        } => (
            AnyPaymentPayload::V1(payment_payload.clone()),
            verify::verify_v1(
                payment_payload,
                std::slice::from_ref(payment_requirements),
                NOW,
            ),
        ),
        FacilitatorRequest::V2 {
            payment_payload,
            payment_requirements,
        } => (
            AnyPaymentPayload::V2(payment_payload.clone()),
            verify::verify_v2(
                payment_payload,
                std::slice::from_ref(payment_requirements),
                NOW,
            ),
        ),
    };
    match &result {
        Ok(verdict) => check_verdict(verdict, payment.payload(), payment.version()),
        Err(e) => check_error(e),
    }
    // The version-dispatching entry point agrees.
    let (v1, v2) = match &request {
        FacilitatorRequest::V1 {
            payment_requirements,
            ..
        } => (vec![payment_requirements.clone()], vec![]),
        FacilitatorRequest::V2 {
            payment_requirements,
            ..
        } => (vec![], vec![payment_requirements.clone()]),
    };
    assert_eq!(verify::verify(&payment, &v1, &v2, NOW), result);
});
