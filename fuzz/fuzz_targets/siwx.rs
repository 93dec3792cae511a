//! `SIGN-IN-WITH-X` (client → server): decode, round-trip through the header, build its
//! EIP-4361 message, and run every server check at a fixed time against the sign-in's own
//! domain and origin (so the fuzzer reaches the time rules and the signature): a failure carries
//! a known reason; a pass names a signer whose signature re-verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::wire::siwx::{self, Expected};
use x402_core_fuzz::{check_error, header_value};

/// 2026-12-06T04:06:40Z: the seeds are issued a few seconds before it.
const NOW_MS: u64 = 1_796_530_000_000;

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let sign_in = match siwx::decode(&value) {
        Ok(s) => s,
        Err(e) => {
            check_error(&e);
            assert_eq!(e.reason(), x402_core::Reason::InvalidSiwxPayload);
            return;
        }
    };
    assert_eq!(siwx::decode(&siwx::encode(&sign_in)).ok().as_ref(), Some(&sign_in));
    if let Ok(m) = siwx::message(&sign_in) {
        assert!(m.contains(&format!("\nNonce: {}\n", sign_in.nonce)));
    }
    let origin = siwx::uri_origin(&sign_in.uri).unwrap_or("https://paper.example");
    let expected = Expected {
        host: &sign_in.domain,
        origin,
        now_ms: NOW_MS,
    };
    match siwx::check(&sign_in, &expected) {
        Ok(signed) => {
            assert_eq!(siwx::verify_signature(&sign_in).ok().as_ref(), Some(&signed));
            let claimed = siwx::address(&sign_in).ok();
            match signed {
                siwx::SignedBy::Key(signer) => assert_eq!(claimed, Some(signer)),
                siwx::SignedBy::Contract(c) => {
                    // Left to the wallet on chain: never a signer without it.
                    assert_eq!(claimed, Some(c.wallet));
                    match c.signature_for_deployed_wallet() {
                        Ok(sig) => assert!(c.is_erc6492() || sig == c.signature),
                        Err(e) => {
                            check_error(&e);
                            assert!(c.is_erc6492());
                        }
                    }
                    let by = siwx::SignedBy::Contract(c);
                    assert!(by.clone().key_only().is_err());
                    assert!(by.confirmed(false).is_err());
                }
            }
        }
        Err(e) => check_error(&e),
    }
});
