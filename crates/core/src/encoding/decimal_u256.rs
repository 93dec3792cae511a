//! A uint256 as decimal text (`"10000"`): amounts and EIP-3009 times on the wire, strictly
//! digits only, no sign, no leading zeros, at most 78 digits, never a JSON number. Also the serde
//! `with` module for such fields (`#[serde(with = "crate::encoding::decimal_u256")]`).

use alloc::{borrow::Cow, format};
use alloy_primitives::U256;
use serde::{de, Deserialize, Deserializer, Serializer};

/// Parses a strict decimal uint256.
pub fn parse(s: &str) -> Result<U256, &'static str> {
    let digits = s.as_bytes();
    if digits.is_empty() || digits.len() > 78 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("expected a decimal integer string");
    }
    if matches!(digits, [b'0', _, ..]) {
        return Err("leading zeros in a decimal integer string");
    }
    // limbs = limbs × 10 + digit, in 32-bit halves (no 128-bit arithmetic in wasm).
    let mut limbs = [0u64; 4];
    for &d in digits {
        let mut carry = u64::from(d - b'0');
        for limb in &mut limbs {
            let lo = (*limb & 0xffff_ffff) * 10 + carry;
            let hi = (*limb >> 32) * 10 + (lo >> 32);
            *limb = (hi << 32) | (lo & 0xffff_ffff);
            carry = hi >> 32;
        }
        if carry != 0 {
            return Err("integer out of uint256 range");
        }
    }
    Ok(U256::from_limbs(limbs))
}

/// The decimal digits of a uint256, without `core::fmt` (which the browser bundle would
/// otherwise link for ruint's `Display`): repeated division of the limbs by ten, in 32-bit
/// halves (no 128-bit arithmetic).
pub fn format(v: &U256) -> alloc::string::String {
    let mut limbs = *v.as_limbs();
    // 78 digits hold every uint256; they are written from the end.
    let mut digits = [0u8; 78];
    let mut start = digits.len();
    loop {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let hi = (rem << 32) | (*limb >> 32);
            let lo = ((hi % 10) << 32) | (*limb & 0xffff_ffff);
            *limb = ((hi / 10) << 32) | (lo / 10);
            rem = lo % 10;
        }
        start -= 1;
        digits[start] = b'0' + rem as u8;
        if limbs == [0; 4] {
            break;
        }
    }
    digits[start..].iter().map(|&d| char::from(d)).collect()
}

/// Serializes as a decimal string.
pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Deserializes a decimal string.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
    let s = <Cow<'de, str>>::deserialize(d)?;
    parse(&s).map_err(|e| de::Error::custom(format!("{e}: {s:?}")))
}
