//! `PAYMENT-REQUIRED` (server → client): decode, round-trip, and run the client's choice of an
//! offer over whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::wire::header;
use x402_core::wire::AnyPaymentRequired;
use x402_core_fuzz::{check_header, exercise_client, header_value};

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let Ok(challenge) = header::decode_payment_required(&value) else {
        return;
    };
    assert!(!challenge.accepts.is_empty());
    assert!(!challenge.resource.url.is_empty());
    check_header(&challenge, header::decode_payment_required);
    // Not a payment, whatever it contains.
    assert!(header::decode_payment_signature(&value).is_err());
    assert!(header::decode_x_payment(&value).is_err());
    exercise_client(&AnyPaymentRequired::V2(challenge));
});
