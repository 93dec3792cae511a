//! `a·P + b·Q` on secp256k1 in variable time, for public values only (signature recovery, never
//! signing): each scalar is split with the GLV endomorphism into two ~128-bit halves, each half
//! written in wNAF, and the four sums share one chain of ~128 doublings. The tests hold it to
//! k256's constant-time `lincomb`.

use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::scalar::IsHigh;
use k256::{FieldBytes, ProjectivePoint, Scalar};

/// `λ`, the cube root of unity mod n with `λ·(x, y) = (β·x, y)` for k256's
/// [`ProjectivePoint::endomorphism`] (checked in a test).
const LAMBDA: [u8; 32] = hex32("5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72");
/// `-b1 mod n` and `-b2 mod n` of the short lattice basis `(a1, b1), (a2, b2)` of
/// `{(x, y) : x + y·λ ≡ 0 mod n}` (extended Euclid on `(n, λ)`).
const MINUS_B1: [u8; 32] =
    hex32("00000000000000000000000000000000e4437ed6010e88286f547fa90abfe4c3");
const MINUS_B2: [u8; 32] =
    hex32("fffffffffffffffffffffffffffffffe8a280ac50774346dd765cda83db1562c");
/// `round(2^384·b2 / n)` and `round(2^384·(-b1) / n)`.
const G1: [u8; 32] = hex32("3086d221a7d46bcde86c90e49284eb153daa8a1471e8ca7fe893209a45dbb031");
const G2: [u8; 32] = hex32("e4437ed6010e88286f547fa90abfe4c4221208ac9df506c61571b4ae8ac47f71");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 64 {
        out[i / 2] = (out[i / 2] << 4) | nibble(b[i]);
        i += 1;
    }
    out
}

fn scalar_const(b: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(*b))
}

/// `round(k·g / 2^384)` for a 256-bit `g` (a value below 2^128).
fn mul_shift_384(k: &k256::U256, g: &[u8; 32]) -> Scalar {
    let (_, hi) = k.mul_wide(&k256::U256::from_be_slice(g));
    let q = hi.shr_vartime(128);
    let q = if hi.bit_vartime(127) {
        q.wrapping_add(&k256::U256::ONE)
    } else {
        q
    };
    <Scalar as Reduce<k256::U256>>::reduce(q)
}

/// Splits `k` as `k1 + k2·λ (mod n)` with `k1`, `k2` of about 128 bits (GLV). The identity holds
/// by construction whatever the rounding; the constants only make the halves short.
fn split(k: &Scalar) -> (Scalar, Scalar) {
    let k_int = k256::U256::from_be_slice(&k.to_bytes());
    let c1 = mul_shift_384(&k_int, &G1);
    let c2 = mul_shift_384(&k_int, &G2);
    let k2 = c1 * scalar_const(&MINUS_B1) + c2 * scalar_const(&MINUS_B2);
    let k1 = *k - k2 * scalar_const(&LAMBDA);
    (k1, k2)
}

/// Window of the signed digits: odd digits in `(-2^W, 2^W)`, tables of `2^(W-1)` odd multiples.
const W: u32 = 4;
const TABLE: usize = 1 << (W - 1);

/// Width-(W+1) non-adjacent form of a scalar read as a signed value in `(-n/2, n/2]`: digits
/// `d_i` (odd or zero, `|d_i| < 2^W`) with `value = Σ d_i·2^i`, least significant first. Returns
/// the digits and how many there are.
fn wnaf(k: &Scalar) -> ([i8; 258], usize) {
    let negative = bool::from(k.is_high());
    let k = if negative { -*k } else { *k };
    let bytes = k.to_bytes();
    // Little-endian 64-bit limbs, one spare for the carry of subtracting a negative digit.
    let mut limbs = [0u64; 5];
    for (i, limb) in limbs.iter_mut().take(4).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[32 - 8 * (i + 1)..32 - 8 * i]);
        *limb = u64::from_be_bytes(word);
    }
    let mut digits = [0i8; 258];
    let mut len = 0;
    while limbs.iter().any(|&l| l != 0) {
        if limbs[0] & 1 == 1 {
            let window = (limbs[0] & ((2 << W) - 1)) as i64;
            let d = if window >= 1 << W {
                window - (2 << W)
            } else {
                window
            };
            // limbs -= d (d odd, |d| < 2^W): the low W+1 bits become zero.
            let (mut carry, sub) = if d >= 0 {
                (d as u64, true)
            } else {
                ((-d) as u64, false)
            };
            for l in limbs.iter_mut() {
                if carry == 0 {
                    break;
                }
                let (v, over) = if sub {
                    l.overflowing_sub(carry)
                } else {
                    l.overflowing_add(carry)
                };
                *l = v;
                carry = u64::from(over);
            }
            digits[len] = if negative { -d as i8 } else { d as i8 };
        }
        len += 1;
        for i in 0..5 {
            let high = if i < 4 { limbs[i + 1] << 63 } else { 0 };
            limbs[i] = (limbs[i] >> 1) | high;
        }
    }
    (digits, len)
}

/// `[P, 3P, 5P, …, (2^W - 1)P]`.
fn odd_multiples(p: &ProjectivePoint) -> [ProjectivePoint; TABLE] {
    let two_p = p.double();
    let mut table = [*p; TABLE];
    for i in 1..TABLE {
        table[i] = table[i - 1] + two_p;
    }
    table
}

/// `a·P + b·Q`, in variable time: only for public values (signature verification and recovery,
/// never signing). Both scalars are split with the GLV endomorphism into four ~128-bit halves,
/// each written in wNAF, and the four sums share one chain of ~128 doublings. Agrees with
/// k256's constant-time `lincomb` (checked in tests), with about a third fewer point additions and no
/// constant-time table scans.
pub(super) fn lincomb_vartime(
    p: &ProjectivePoint,
    a: &Scalar,
    q: &ProjectivePoint,
    b: &Scalar,
) -> ProjectivePoint {
    let (a1, a2) = split(a);
    let (b1, b2) = split(b);
    let p_table = odd_multiples(p);
    let q_table = odd_multiples(q);
    let p_beta = p_table.map(|t| t.endomorphism());
    let q_beta = q_table.map(|t| t.endomorphism());
    let terms = [
        (wnaf(&a1), &p_table),
        (wnaf(&a2), &p_beta),
        (wnaf(&b1), &q_table),
        (wnaf(&b2), &q_beta),
    ];
    let top = terms.iter().map(|((_, len), _)| *len).max().unwrap_or(0);
    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..top).rev() {
        acc = acc.double();
        for ((digits, _), table) in &terms {
            let d = digits[i];
            if d > 0 {
                acc += table[(d / 2) as usize];
            } else if d < 0 {
                acc -= table[(-d / 2) as usize];
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use k256::elliptic_curve::ops::LinearCombination;

    /// Deterministic pseudo-random scalars (keccak of a counter).
    fn scalar_n(i: u64) -> Scalar {
        <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(
            keccak256(i.to_be_bytes()).0,
        ))
    }

    fn edge_scalars() -> impl Iterator<Item = Scalar> {
        let lambda = scalar_const(&LAMBDA);
        let two_128 = scalar_const(&hex32(
            "0000000000000000000000000000000100000000000000000000000000000000",
        ));
        let half = scalar_const(&hex32(
            "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
        ));
        [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(2u64),
            -Scalar::from(2u64),
            lambda,
            -lambda,
            lambda * lambda,
            two_128,
            two_128 - Scalar::ONE,
            -two_128,
            half,
            half + Scalar::ONE,
            -half,
            Scalar::from(u64::MAX),
        ]
        .into_iter()
    }

    #[test]
    fn lambda_is_the_endomorphism_of_k256() {
        let g = ProjectivePoint::GENERATOR;
        let lambda = scalar_const(&LAMBDA);
        assert_eq!(g.endomorphism(), g * lambda);
        let p = g * scalar_n(7);
        assert_eq!(p.endomorphism(), p * lambda);
        assert_eq!(lambda * lambda * lambda, Scalar::ONE);
        assert_ne!(lambda, Scalar::ONE);
    }

    #[test]
    fn split_recombines_into_short_halves() {
        let lambda = scalar_const(&LAMBDA);
        let short = |s: Scalar| {
            let abs = if bool::from(s.is_high()) { -s } else { s };
            abs.to_bytes()[..15].iter().all(|&b| b == 0) // below 2^136
        };
        for k in edge_scalars().chain((0..500).map(scalar_n)) {
            let (k1, k2) = split(&k);
            assert_eq!(k1 + k2 * lambda, k);
            assert!(short(k1) && short(k2), "{k:?} splits into long halves");
        }
    }

    #[test]
    fn wnaf_digits_sum_to_the_scalar() {
        for k in edge_scalars().chain((0..300).map(scalar_n)) {
            let (digits, len) = wnaf(&k);
            let mut sum = Scalar::ZERO;
            for &d in digits[..len].iter().rev() {
                sum = sum + sum;
                assert!(d == 0 || (d % 2 != 0 && i32::from(d).abs() < 1 << W), "{d}");
                sum += if d < 0 {
                    -Scalar::from(u64::from(d.unsigned_abs()))
                } else {
                    Scalar::from(u64::from(d.unsigned_abs()))
                };
            }
            assert_eq!(sum, k);
            assert!(digits[len..].iter().all(|&d| d == 0));
        }
    }

    #[test]
    fn vartime_lincomb_equals_k256s() {
        let g = ProjectivePoint::GENERATOR;
        let points = [
            g,
            g * scalar_n(1000),
            g * scalar_n(1001),
            -g,
            ProjectivePoint::IDENTITY,
        ];
        let scalars: alloc::vec::Vec<Scalar> =
            edge_scalars().chain((0..40).map(scalar_n)).collect();
        let mut checked = 0;
        for (i, a) in scalars.iter().enumerate() {
            for (j, b) in scalars.iter().enumerate().filter(|(j, _)| (i + j) % 5 == 0) {
                let (p, q) = (&points[i % points.len()], &points[j % points.len()]);
                let expected = ProjectivePoint::lincomb(p, a, q, b);
                assert_eq!(lincomb_vartime(p, a, q, b), expected, "{i} {j}");
                checked += 1;
            }
        }
        assert!(checked > 100);
        // Cancellation to the point at infinity, and a doubling inside the sum.
        let k = scalar_n(5);
        assert_eq!(lincomb_vartime(&g, &k, &g, &-k), ProjectivePoint::IDENTITY);
        assert_eq!(lincomb_vartime(&g, &k, &g, &k), g * (k + k));
    }
}
