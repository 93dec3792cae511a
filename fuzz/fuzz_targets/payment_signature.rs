//! `PAYMENT-SIGNATURE` (client → server): decode, round-trip, read its `payment-identifier` id,
//! then verify the payment against its own `accepted` at a fixed time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::wire::header;
use x402_core::scheme::exact::verify;
use x402_core_fuzz::{check_error, check_header, check_verdict, header_value, NOW};

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let Ok(payment) = header::decode_payment_signature(&value) else {
        return;
    };
    check_header(&payment, header::decode_payment_signature);
    // The payment-identifier id: well formed when read, or refused as invalid_payload.
    match x402_core::wire::payment_identifier::id_of(payment.extensions.as_ref()) {
        Ok(Some(id)) => assert!(x402_core::wire::payment_identifier::valid_id(&id), "{id}"),
        Ok(None) => {}
        Err(e) => assert_eq!(e.reason(), x402_core::Reason::InvalidPayload),
    }
    // The v1 decoder refuses it for its version.
    let e = header::decode_x_payment(&value).expect_err("a v2 payment is not a v1 one");
    assert_eq!(e.reason(), x402_core::Reason::InvalidX402Version);

    let offered = [payment.accepted.clone()];
    match verify::verify_v2(&payment, &offered, NOW) {
        Ok(verdict) => {
            assert_eq!(verdict.payment().requirement_index, 0);
            check_verdict(&verdict, &payment.payload, 2);
        }
        Err(e) => check_error(&e),
    }
    // Against nothing, it never passes.
    let e = verify::verify_v2(&payment, &[], NOW).expect_err("nothing was offered");
    check_error(&e);
});
