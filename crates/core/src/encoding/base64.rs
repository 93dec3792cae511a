//! Strict standard base64 (RFC 4648 §4: alphabet `A–Z a–z 0–9 + /`, `=` padding), the encoding
//! of every x402 header (x402-foundation/x402 `specs/transports-v2/http.md`; `docs/protocol.md`,
//! "Headers").
//!
//! Decoding accepts only canonical padded input and tells URL-safe base64 (`-`, `_`) apart from
//! other bad characters, because that is the mistake clients actually make.

use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use alloc::{string::String, vec::Vec};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes bytes as padded standard base64.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes padded standard base64, rejecting URL-safe characters, missing padding, stray
/// characters and non-canonical trailing bits. Errors carry [`Reason::InvalidPayload`].
pub fn decode(input: &str) -> Result<Vec<u8>> {
    decode_bytes(input.as_bytes())
}

/// [`decode`] of bytes.
pub(crate) fn decode_bytes(bytes: &[u8]) -> Result<Vec<u8>> {
    // Every message: `head`, then the offset `at` when there is one, then `tail`.
    let bad = |head: &[&str], at: Option<usize>, tail: &str| {
        let mut m = cat(head);
        if let Some(at) = at {
            m.push_str(&dec(at as u64));
        }
        m.push_str(tail);
        Error::new(Reason::InvalidPayload, m)
    };
    if let Some(pos) = bytes.iter().position(|&c| c == b'-' || c == b'_') {
        let c = if bytes.get(pos) == Some(&b'-') {
            "-"
        } else {
            "_"
        };
        return Err(bad(
            &["URL-safe base64 character '", c, "' at "],
            Some(pos),
            ": x402 headers use standard base64 (+ and /)",
        ));
    }
    if bytes.len() % 4 != 0 {
        return Err(bad(
            &["base64 length "],
            Some(bytes.len()),
            " is not a multiple of 4 (no padding?)",
        ));
    }
    let pad = bytes.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return Err(bad(&[], None, "too much base64 padding"));
    }
    let body = &bytes[..bytes.len() - pad];
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (i, &c) in body.iter().enumerate() {
        let Some(v) = value(c) else {
            let mut shown = String::new();
            let head = if c.is_ascii_graphic() {
                shown.push(char::from(c));
                ["invalid base64 character '", &shown, "' at "]
            } else {
                crate::encoding::hex::push_hex(&mut shown, &[c]);
                ["invalid base64 byte 0x", &shown, " at "]
            };
            return Err(bad(&head, Some(i), ""));
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err(bad(&[], None, "non-canonical base64 (trailing bits set)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn rejects_bad_input() {
        let msg = |s: &str| decode(s).unwrap_err().message().to_string();
        assert!(msg("-_8=").contains("URL-safe"));
        assert!(msg("Zm9vYg").contains("padding"));
        assert!(msg("Zm9v!g==").contains("invalid base64 character"));
        assert!(msg("Zm9vY===").contains("padding"));
        assert!(msg("Zh==").contains("non-canonical"));
        assert!(msg("Zm=v").contains("invalid base64 character"));
        assert_eq!(decode("Zm9v\n").unwrap_err().code(), "invalid_payload");
    }
}
