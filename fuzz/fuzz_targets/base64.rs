//! Strict standard base64, the outer layer of every header: decoding accepts only canonical
//! input (`encode(decode(s)) == s`), and encoding round-trips any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::encoding::base64;

fuzz_target!(|data: &[u8]| {
    let encoded = base64::encode(data);
    assert_eq!(encoded.len(), data.len().div_ceil(3) * 4);
    assert_eq!(base64::decode(&encoded).as_deref(), Ok(data));

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = base64::decode(text) {
        assert_eq!(
            base64::encode(&bytes),
            text,
            "decoding accepted a non-canonical form"
        );
    }
});
