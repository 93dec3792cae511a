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
    crate::encoding::decimal_u256::format(&alloy_primitives::U256::from(n))
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
    }
}
