//! `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` (server → client): decode and round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::wire::header;
use x402_core_fuzz::{check_header, header_value};

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let Ok(receipt) = header::decode_payment_response(&value) else {
        return;
    };
    check_header(&receipt, header::decode_payment_response);
    if let Some(code) = &receipt.error_reason {
        // Any text is carried; known codes map back to themselves.
        if let Some(reason) = x402_core::Reason::from_code(code) {
            assert_eq!(reason.as_str(), code);
        }
    }
});
