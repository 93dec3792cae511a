//! Message text without `core::fmt`: the paying path (which the browser bundle links) builds
//! its error messages by concatenation, so `format!` and its machinery stay out of the bundle.

use alloc::string::String;

/// The parts, concatenated.
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// The decimal digits of an integer.
pub(crate) fn dec(n: u64) -> String {
    crate::wire::decimal_u256::format(&alloy_primitives::U256::from(n))
}

/// Decimal digits only (no sign, at least one digit) as a `u64`; `None` when not, or too large.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // n × 10 + d ≤ u64::MAX, decided without a widening multiplication.
        const MAX_TENTH: u64 = u64::MAX / 10;
        if n > MAX_TENTH || (n == MAX_TENTH && d > (u64::MAX % 10) as u8) {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// Lower-case hex digits.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex digits of `bytes`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(cat(&["a", "", "bc"]), "abc");
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            assert_eq!(dec(n), alloc::format!("{n}"));
            assert_eq!(parse_u64(dec(n).as_bytes()), Some(n));
        }
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_u64(b"007"), Some(7));
        for b in 0..=255u8 {
            let want = char::from(b).to_digit(16).map(|d| d as u8);
            assert_eq!(hex_val(b), want);
        }
    }
}
