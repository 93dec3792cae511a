//! A 402 offering Sign-In-With-X, as the paying client reads it (`client::sign_in`, what the
//! browser builds link): the challenge is read, a sign-in is built for a fixed address at the
//! challenge's own origin (so the binding rule passes and the rest is reached) and at another
//! origin (always refused), and its header, once "signed", decodes on the server side to the
//! same fields and the same EIP-4361 message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::client::challenge::Challenge;
use x402_core::client::sign_in::SignInRequest;
use x402_core::wire::siwx;
use x402_core::{Address, Reason};
use x402_core_fuzz::{check_error, header_value};

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let Ok(challenge) = Challenge::from_header(&value) else {
        return;
    };
    let address = Address::repeat_byte(0x5a);
    // The origin of the challenge's own uri, when it names one.
    let uri = serde_json::from_str::<serde_json::Value>(challenge.json_text())
        .ok()
        .and_then(|v| {
            v.pointer("/extensions/sign-in-with-x/info/uri")
                .and_then(|u| u.as_str())
                .map(String::from)
        });
    let origin = uri
        .as_deref()
        .and_then(siwx::uri_origin)
        .unwrap_or("https://paper.example");
    for chain in [None, Some(8453), Some(u64::MAX)] {
        match SignInRequest::from_challenge(&challenge, origin, address, chain) {
            Ok(None) => {}
            Ok(Some(req)) => {
                let sig = format!("0x{}", "ab".repeat(65));
                let header = req.header(&sig).expect("a hex signature is taken");
                let back = siwx::decode(&header).expect("the client's header decodes");
                assert_eq!(siwx::message(&back).ok().as_deref(), Some(req.message()));
                assert_eq!(back.signature, sig);
                assert_eq!(back.chain_id, req.chain());
                assert_eq!(siwx::address(&back).ok(), Some(address));
                assert_eq!(req.header("0xzz").unwrap_err().reason(), Reason::InvalidSiwxMalformedSignature);
            }
            Err(e) => check_error(&e),
        }
    }
    // Bound to the origin: never built for another one.
    let other = "https://other.invalid";
    if uri.as_deref().and_then(siwx::uri_origin) != Some(other) {
        if let Ok(Some(_)) = SignInRequest::from_challenge(&challenge, other, address, None) {
            panic!("a sign-in built for an origin the challenge does not name");
        }
    }
});
