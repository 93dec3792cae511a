//! The number rule serde_json adds to RFC 8259: a number that rounds to infinity as an `f64`
//! is refused, anything else accepted (tiny ones become 0). Decided on the digits, so the
//! reader never parses a float.

/// The decimal digits of the smallest magnitude that rounds to infinity as an `f64`
/// (2^1024 − 2^970, halfway between `f64::MAX` and 2^1024), as 0.d₁d₂… × 10^309.
const F64_OVERFLOW_DIGITS: &str = concat!(
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664",
    "90179775872070963302864166928879109465555478519404026306574886715058206819089020007083",
    "83676273854845817711531764475730270069855571366959622842914819860834936475292719074168",
    "444365510704342711559699508093042880177904174497792"
);

/// Whether a JSON number (grammar already checked) is within `f64` range, as serde_json
/// requires: it refuses numbers that round to infinity and accepts everything else (tiny
/// ones become 0). Decided on the digits, without parsing a float.
pub(super) fn in_f64_range(raw: &[u8]) -> bool {
    let (mantissa, exp) = match raw.iter().position(|&b| b | 0x20 == b'e') {
        Some(i) => raw.split_at(i),
        None => (raw, &[][..]),
    };
    // value = 0.SIG × 10^point, SIG the digits from the first non-zero one ('.' skipped).
    let mut point: i64 = 0;
    let mut started = false;
    let mut fraction = false;
    for &b in mantissa {
        match b {
            b'.' => fraction = true,
            b'0'..=b'9' => {
                started |= b != b'0';
                if started && !fraction {
                    point += 1;
                } else if !started && fraction {
                    point -= 1;
                }
            }
            _ => {} // the sign
        }
    }
    if !started {
        return true; // zero
    }
    let mut e: i64 = 0;
    let mut negative = false;
    for &b in exp {
        match b {
            b'-' => negative = true,
            b'0'..=b'9' => {
                // A huge negative exponent only makes the number smaller: cap it (not `point`,
                // which a long mantissa makes large). A huge positive one overflows.
                e = (e * 10 + i64::from(b - b'0')).min(1 << 50);
                if !negative && e >= 1_000_000 {
                    return false;
                }
            }
            _ => {} // 'e', '+'
        }
    }
    let magnitude = if negative { point - e } else { point + e };
    match magnitude.cmp(&309) {
        core::cmp::Ordering::Less => true,
        core::cmp::Ordering::Greater => false,
        core::cmp::Ordering::Equal => {
            // Compare SIG with the overflow digits as decimal fractions.
            let sig = mantissa
                .iter()
                .filter(|b| b.is_ascii_digit())
                .skip_while(|&&b| b == b'0');
            let mut bound = F64_OVERFLOW_DIGITS.bytes();
            for &d in sig {
                match bound.next() {
                    Some(b) if d < b => return true,
                    Some(b) if d > b => return false,
                    Some(_) => {}
                    // Equal to the bound or above it: rounds to infinity.
                    None => return false,
                }
            }
            // SIG is a prefix of the bound: below it unless equal to all of it.
            bound.next().is_some()
        }
    }
}
