//! Access passes (`X-PAYMENT-PASS` header, `x402_pass` cookie): any text a client sends is
//! refused with `invalid_pass` or, if it verifies, names exactly the resource and a time before
//! its expiry. Input starting with `P` is taken as claims text and signed with the test secret
//! first (so the fuzzer reaches the claims parser behind the MAC); other input is the pass as sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::gate::pass::{issue, verify, PassClaims};
use x402_core::{Address, Reason, B256};

const SECRET: &[u8] = b"fuzz-pass-secret-0123456789abcdef";
const OLD: &[u8] = b"fuzz-previous-secret-0123456789ab";
const PATH: &str = "/paid/one.html";
const NOW: u64 = 1_740_672_100;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pass = match text.strip_prefix('P') {
        // A well-formed pass with fuzzed claims: the path and expiry come from the input.
        Some(rest) => {
            let (path, expiry) = rest.split_once('\n').unwrap_or((rest, ""));
            let claims = PassClaims {
                path: path.into(),
                payer: Address::repeat_byte(0x11),
                transaction: B256::repeat_byte(0x22),
                expires: expiry.parse().unwrap_or(NOW + 1),
            };
            let Ok(p) = issue(SECRET, &claims) else {
                return;
            };
            p
        }
        None => text.to_string(),
    };
    match verify(&[SECRET, OLD], &pass, PATH, NOW) {
        Ok(claims) => {
            assert_eq!(claims.path, PATH);
            assert!(claims.expires > NOW);
            // Re-issued with the same secret, the claims give back the same pass.
            assert_eq!(issue(SECRET, &claims).ok().as_deref(), Some(pass.as_str()));
        }
        Err(e) => assert_eq!(e.reason(), Reason::InvalidPass, "{e}"),
    }
});
