//! EVM addresses as text: parsed strictly (`0x` and 40 hex digits, a mixed-case spelling must
//! carry a valid EIP-55 checksum) and written in their EIP-55 checksummed form
//! (<https://eips.ethereum.org/EIPS/eip-55>).

use crate::encoding::hex::{unhex, HEX};
use crate::encoding::text::cat;
use alloc::string::String;
use alloy_primitives::Address;

/// Parses an EVM address strictly: `0x` and 40 hex digits; mixed case must be a valid EIP-55
/// checksum (all-lowercase and all-uppercase are accepted unchecked).
pub fn parse_address(s: &str) -> core::result::Result<Address, String> {
    let bad = |why: &str| cat(&["\"", s, "\"", why]);
    let hex_part = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40)
        .map(str::as_bytes)
        .unwrap_or_default();
    let mut bytes = [0u8; 20];
    if hex_part.is_empty() || unhex(hex_part, &mut bytes).is_none() {
        return Err(bad(" is not a 0x-prefixed 20-byte hex address"));
    }
    let addr = Address::from(bytes);
    let lower = hex_part.iter().all(|b| !b.is_ascii_uppercase());
    let upper = hex_part.iter().all(|b| !b.is_ascii_lowercase());
    if !lower && !upper && checksummed(&addr) != s {
        return Err(bad(" has an invalid EIP-55 checksum"));
    }
    Ok(addr)
}

/// The EIP-55 checksummed form of an address (`0x` and 40 hex digits, a letter upper-case
/// where the matching nibble of the keccak-256 of the lower-case digits is 8 or more): the same
/// text as alloy's `Address::to_checksum(None)`, with less code in a wasm bundle.
pub fn checksummed(address: &Address) -> String {
    let mut lower = [0u8; 40];
    for (i, digit) in lower.iter_mut().enumerate() {
        let b = address[i / 2];
        *digit = HEX[usize::from(if i % 2 == 0 { b >> 4 } else { b & 15 })];
    }
    let hash = alloy_primitives::keccak256(lower);
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, &c) in lower.iter().enumerate() {
        let bit = if i % 2 == 0 { 0x80 } else { 0x08 };
        let upper = c > b'9' && hash[i / 2] & bit != 0;
        out.push(char::from(if upper { c - 32 } else { c }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn addresses_strict() {
        let ok = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
        assert!(parse_address(ok).is_ok());
        assert!(parse_address(&ok.to_lowercase()).is_ok());
        assert!(parse_address(&format!("0x{}", ok[2..].to_uppercase())).is_ok());
        assert!(parse_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287c")
            .unwrap_err()
            .contains("checksum"));
        for bad in [
            "209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "0x1234",
            "0xzz9693Bc6afc0C5328bA36FaF03C514EF312287C",
            "",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
