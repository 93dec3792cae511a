//! The v1 402 JSON body (server → client): parse, round-trip, and run the client's choice of
//! an offer over whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::wire::header;
use x402_core::wire::AnyPaymentRequired;
use x402_core_fuzz::{check_json, exercise_client};

fuzz_target!(|data: &[u8]| {
    let Ok(challenge) = header::parse_v1_challenge_body(data) else {
        return;
    };
    assert!(!challenge.accepts.is_empty());
    check_json(&challenge, header::parse_v1_challenge_body);
    exercise_client(&AnyPaymentRequired::V1(challenge));
});
