//! Prices and atomic amounts.
//!
//! A route priced `"$0.01"` is paid in a stablecoin's atomic units: `"$0.01"` with 6 decimals
//! is `10000`. The conversion follows the reference (`convertToTokenAmount` in
//! x402-foundation/x402 `typescript/packages/core/src/utils/index.ts`; `docs/protocol.md`,
//! "Prices"): an optional leading `$`, a plain decimal number, digits beyond the asset's
//! precision **truncated** (not rounded), and a non-zero price that truncates to zero is an
//! error. Unlike the reference's `parseFloat`, the text is parsed exactly (no binary
//! floating point, so `"$4.02"` is `4020000`), and trailing garbage, signs and exponents are
//! rejected instead of silently ignored.

use crate::error::{Error, Reason, Result};
use alloc::{format, string::String};
use alloy_primitives::U256;

/// Converts a price such as `"$0.01"`, `"0.5"` or `"$1"` to atomic units of an asset with
/// `decimals` decimals.
pub fn parse_price(price: &str, decimals: u8) -> Result<U256> {
    let bad = |why: &str| Error::new(Reason::InvalidPrice, format!("price {price:?}: {why}"));
    let number = price.strip_prefix('$').unwrap_or(price);
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return Err(bad("expected a plain decimal number such as \"$0.01\""));
    }
    if int.is_empty() && frac.is_none_or(str::is_empty) || frac == Some("") {
        return Err(bad("expected digits"));
    }
    let frac = frac.unwrap_or("");
    let scale = usize::from(decimals);
    let kept = &frac[..frac.len().min(scale)];
    let ten = U256::from(10u8);
    let mut atomic = U256::ZERO;
    let digits = int
        .bytes()
        .chain(kept.bytes())
        .chain(core::iter::repeat_n(b'0', scale - kept.len()));
    for d in digits {
        atomic = atomic
            .checked_mul(ten)
            .and_then(|a| a.checked_add(U256::from(d - b'0')))
            .ok_or_else(|| bad("too large"))?;
    }
    let nonzero_input = int.bytes().chain(frac.bytes()).any(|b| b != b'0');
    if atomic.is_zero() && nonzero_input {
        return Err(Error::new(
            Reason::PriceTooSmall,
            format!("price {price:?} is too small to represent with {decimals} decimals"),
        ));
    }
    Ok(atomic)
}

/// Formats an atomic amount as a decimal number without trailing zeros
/// (`10000` with 6 decimals → `"0.01"`).
pub fn format_amount(atomic: U256, decimals: u8) -> String {
    let digits = crate::encoding::decimal_u256::format(&atomic);
    let scale = usize::from(decimals);
    if scale == 0 {
        return digits;
    }
    // At least one integer digit: zeros in front, then the point `scale` digits from the end;
    // the fraction without its trailing zeros (and without the point when nothing is left).
    let digits = digits.as_bytes();
    let width = digits.len().max(scale + 1);
    let pad = width - digits.len();
    let digit = |k: usize| if k < pad { b'0' } else { digits[k - pad] };
    let mut end = width;
    while end > width - scale && digit(end - 1) == b'0' {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 1);
    for k in 0..end {
        if k + scale == width {
            out.push('.');
        }
        out.push(char::from(digit(k)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        let p = |s, d| parse_price(s, d).map(|v| v.to_string());
        assert_eq!(p("$0.01", 6).unwrap(), "10000");
        assert_eq!(p("$4.02", 6).unwrap(), "4020000");
        assert_eq!(p(".5", 6).unwrap(), "500000");
        assert_eq!(p("$0", 6).unwrap(), "0");
        assert_eq!(p("$1.2345679", 6).unwrap(), "1234567");
        assert_eq!(p("7", 0).unwrap(), "7");
        assert_eq!(
            parse_price("$0.0000001", 6).unwrap_err().reason(),
            Reason::PriceTooSmall
        );
        for bad in [
            "", "$", ".", "1.", "$$1", "-1", "+1", "1e3", "1,5", " 1", "1 ", "0x10", "$1.2.3",
        ] {
            assert_eq!(
                parse_price(bad, 6).unwrap_err().reason(),
                Reason::InvalidPrice,
                "{bad:?}"
            );
        }
        let huge = "1".repeat(80);
        assert_eq!(
            parse_price(&huge, 0).unwrap_err().reason(),
            Reason::InvalidPrice
        );
    }

    #[test]
    fn formatting() {
        let f = |v: u64, d| format_amount(U256::from(v), d);
        assert_eq!(f(10000, 6), "0.01");
        assert_eq!(f(1_000_000, 6), "1");
        assert_eq!(f(4_020_000, 6), "4.02");
        assert_eq!(f(0, 6), "0");
        assert_eq!(f(1, 6), "0.000001");
        assert_eq!(f(123, 0), "123");
        for v in [0u64, 1, 10, 999_999, 1_000_001, 123_456_789] {
            assert_eq!(parse_price(&f(v, 6), 6).unwrap(), U256::from(v));
        }
    }
}
