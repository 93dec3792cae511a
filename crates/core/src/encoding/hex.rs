//! `0x` hex as the wire and wallets write it (signatures, nonces), decoded and written without
//! `core::fmt` or the `hex` crate, which the browser bundle would otherwise link.

use alloc::{string::String, vec::Vec};

/// Lower-case hex digits.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex digits of `bytes`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// `0x` and the lower-case hex digits of `bytes` (for 32 bytes, what `B256`'s `Display` writes),
/// without `core::fmt`.
pub fn prefixed(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    push_hex(&mut out, bytes);
    out
}

/// The value of a hex digit.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes pairs of hex digits into `out` (zeroed, half as long as `hex`), a byte a pair;
/// `None` at a digit that is not hex.
pub(crate) fn unhex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    for (i, &c) in hex.iter().enumerate() {
        let byte = out.get_mut(i / 2)?;
        *byte = (*byte << 4) | hex_val(c)?;
    }
    Some(())
}

/// Parses `0x`-prefixed hex of at least one byte (a signature as the wire and wallets write it).
/// A `Vec`, not `Bytes`: the browser bundle would otherwise link the `bytes` crate for it.
pub fn parse_hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s
        .strip_prefix("0x")
        .filter(|h| !h.is_empty() && h.len() % 2 == 0)?;
    // As `hex::decode` (which this replaces in the browser bundle), a second `0x`/`0X` is
    // skipped.
    let h = match h.as_bytes() {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        h => h,
    };
    let mut out = alloc::vec![0; h.len() / 2];
    unhex(h, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        for b in 0..=255u8 {
            let want = char::from(b).to_digit(16).map(|d| d as u8);
            assert_eq!(hex_val(b), want);
        }
    }
}
