//! The paying path's code written without `core::fmt` (integer text, amounts, JSON strings and
//! numbers, addresses, networks) agrees with the standard formatting and parsing it replaces.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_primitives::{Address, U256};
use proptest::prelude::*;
use x402_core::encoding::decimal_u256;
use x402_core::encoding::hex::parse_hex_bytes;
use x402_core::encoding::json;
use x402_core::evm::address::{checksummed, parse_address};
use x402_core::evm::money::format_amount;
use x402_core::evm::network::Network;

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
        (0u32..256).prop_map(|b| U256::from(1u8) << b),
        (1u32..256).prop_map(|b| (U256::from(1u8) << b) - U256::from(1u8)),
    ]
}

/// `format_amount` as it was written with `format!`.
fn format_amount_fmt(atomic: U256, decimals: u8) -> String {
    let digits = atomic.to_string();
    let scale = usize::from(decimals);
    if scale == 0 {
        return digits;
    }
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.into()
    } else {
        format!("{int}.{frac}")
    }
}

/// `parse_address` as it was written with `str::parse`.
fn parse_address_std(s: &str) -> Option<Address> {
    let hex_part = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let addr: Address = s.parse().ok()?;
    let lower = hex_part.bytes().all(|b| !b.is_ascii_uppercase());
    let upper = hex_part.bytes().all(|b| !b.is_ascii_lowercase());
    (lower || upper || addr.to_checksum(None) == s).then_some(addr)
}

/// CAIP-2 as `Network::from_str` checked it with `split_once` and `str::parse`.
fn network_std(s: &str) -> bool {
    let Some((ns, reference)) = s.split_once(':') else {
        return false;
    };
    (3..=8).contains(&ns.len())
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && (1..=32).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !(ns == "eip155"
            && (reference.parse::<u64>().is_err()
                || (reference.len() > 1 && reference.starts_with('0'))))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decimal_u256_is_ruint(v in u256()) {
        let text = decimal_u256::format(&v);
        prop_assert_eq!(&text, &v.to_string());
        prop_assert_eq!(decimal_u256::parse(&text), Ok(v));
    }

    #[test]
    fn decimal_u256_parse_is_ruint(s in "[0-9]{1,80}") {
        let ours = decimal_u256::parse(&s).ok();
        let strict = s.len() <= 78 && !(s.len() > 1 && s.starts_with('0'));
        prop_assert_eq!(ours, U256::from_str_radix(&s, 10).ok().filter(|_| strict));
    }

    #[test]
    fn amounts_format_as_before(v in u256(), decimals in 0u8..=80) {
        prop_assert_eq!(format_amount(v, decimals), format_amount_fmt(v, decimals));
    }

    #[test]
    fn json_strings_are_serde_json(s in any::<String>()) {
        let mut out = String::new();
        json::write_str(&mut out, &s);
        prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
        let v = json::parse(&out).unwrap();
        prop_assert_eq!(v.as_str(), Some(s.as_str()));
    }

    #[test]
    fn json_numbers_are_accepted_as_serde_json_accepts_them(
        s in "-?(0|[1-9][0-9]{0,3}|1797693134862315[0-9]{0,310})(\\.[0-9]{0,4})?([eE][-+]?0{0,3}[0-9]{1,4})?",
    ) {
        let serde = serde_json::from_str::<serde_json::Value>(&s).is_ok();
        prop_assert_eq!(json::parse(&s).is_ok(), serde, "{}", s);
        let int = json::parse(&s).ok().and_then(|v| v.as_u64());
        prop_assert_eq!(int, s.parse::<u64>().ok().filter(|_| !s.starts_with('+')));
    }

    #[test]
    fn addresses_parse_as_before(s in "(0x)?[0-9a-fA-F]{38,42}", bytes in any::<[u8; 20]>()) {
        prop_assert_eq!(parse_address(&s).ok(), parse_address_std(&s));
        let a = Address::from(bytes);
        for text in [a.to_checksum(None), format!("{a:#x}"), format!("0x{}", hex_upper(&bytes))] {
            prop_assert_eq!(parse_address(&text).ok(), Some(a));
        }
    }

    #[test]
    fn networks_parse_as_before(s in "[a-z0-9:_-]{0,12}|eip155:[0-9+]{0,22}") {
        prop_assert_eq!(s.parse::<Network>().is_ok(), network_std(&s), "{}", s);
        if let Ok(n) = s.parse::<Network>() {
            let (ns, reference) = s.split_once(':').unwrap();
            prop_assert_eq!(n.chain_id(), (ns == "eip155").then(|| reference.parse().unwrap()));
        }
    }
}

/// `parse_hex_bytes` as it was written with `hex::decode`.
fn parse_hex_bytes_std(s: &str) -> Option<Vec<u8>> {
    s.strip_prefix("0x")
        .filter(|h| !h.is_empty() && h.len() % 2 == 0)
        .and_then(|h| alloy_primitives::hex::decode(h).ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn checksummed_is_alloy(bytes in any::<[u8; 20]>()) {
        let a = Address::from(bytes);
        prop_assert_eq!(checksummed(&a), a.to_checksum(None));
    }

    #[test]
    fn hex_bytes_parse_as_before(
        s in "(0x|0X){0,2}[0-9a-fA-F]{0,70}|0x[0-9a-fA-FxX:g ]{0,12}|.{0,8}",
        bytes in proptest::collection::vec(any::<u8>(), 1..80),
    ) {
        prop_assert_eq!(parse_hex_bytes(&s), parse_hex_bytes_std(&s), "{}", s);
        let text = format!("0x{}", alloy_primitives::hex::encode(&bytes));
        prop_assert_eq!(parse_hex_bytes(&text), Some(bytes.clone()));
        prop_assert_eq!(parse_hex_bytes(&text.to_uppercase().replacen('X', "x", 1)), Some(bytes));
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
