//! Route prices (`"$0.01"`, configuration → atomic amounts): the first byte is the asset's
//! decimals, the rest the price text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::evm::money::{format_amount, parse_price};
use x402_core::Reason;

fuzz_target!(|data: &[u8]| {
    let Some((&decimals, rest)) = data.split_first() else {
        return;
    };
    let Ok(price) = std::str::from_utf8(rest) else {
        return;
    };
    match parse_price(price, decimals) {
        Ok(atomic) => {
            // The formatted amount is the canonical form of the (truncated) price.
            let formatted = format_amount(atomic, decimals);
            assert_eq!(parse_price(&formatted, decimals), Ok(atomic), "{formatted}");
            assert_eq!(parse_price(&format!("${formatted}"), decimals), Ok(atomic));
            let number = price.strip_prefix('$').unwrap_or(price);
            let (int, frac) = number.split_once('.').unwrap_or((number, ""));
            let (f_int, f_frac) = formatted.split_once('.').unwrap_or((&formatted, ""));
            // Same integer part up to leading zeros, and a prefix of the fractional digits.
            let int = int.trim_start_matches('0');
            assert_eq!(if int.is_empty() { "0" } else { int }, f_int);
            assert!(frac.starts_with(f_frac), "{price} -> {formatted}");
        }
        Err(e) => assert!(matches!(
            e.reason(),
            Reason::InvalidPrice | Reason::PriceTooSmall
        )),
    }
});
