//! Access passes (feature `pass`): after a settled payment the paywall hands out a pass that
//! serves the same resource again without paying, until it expires.
//!
//! A pass is `<claims>.<mac>`: `claims` is URL-safe base64 (no padding) of
//! `x402pass2\n<key id>\n<path>\n<payer>\n<transaction>\n<expiry>` and `mac` is URL-safe
//! base64 of HMAC-SHA256 over the claims text with a server secret. It is bound to the
//! normalised resource path, the payer, the settlement transaction and an expiry (unix
//! seconds); a pass for another path, a changed byte, or a past expiry is refused
//! (`invalid_pass`). The key id ([`key_id`]) names the secret that signed it, so a secret can
//! be rotated: passes are checked with the current secret or a previous one kept for a while,
//! and a pass of a secret no longer configured is refused. Cookie-safe: only
//! `A–Z a–z 0–9 - _ .`.

use crate::error::{Error, Reason, Result};
use alloc::{format, string::String, vec::Vec};
use alloy_primitives::{Address, B256};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const TAG: &str = "x402pass2";

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Secrets published as examples (this repository's `.dev.vars.example`): anyone can forge a
/// pass with them, so a paywall refuses them outside the local test chain.
pub const EXAMPLE_SECRETS: [&str; 1] = ["demo-pass-secret-change-me-0123456789"];

/// The key id of a secret: 8 URL-safe base64 characters of an HMAC of a fixed label (names
/// the secret without revealing it).
pub fn key_id(secret: &[u8]) -> Result<String> {
    let tag = mac(secret, "x402pass key id")?;
    Ok(b64url(&tag[..6]))
}

/// What a valid pass says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassClaims {
    /// Normalised resource path.
    pub path: String,
    /// Who paid.
    pub payer: Address,
    /// The settlement transaction.
    pub transaction: B256,
    /// Unix time after which the pass is refused.
    pub expires: u64,
}

fn invalid(msg: &str) -> Error {
    Error::new(Reason::InvalidPass, msg)
}

fn mac(secret: &[u8], claims: &str) -> Result<[u8; 32]> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::new(
            Reason::InvalidConfig,
            format!("pass secret must be at least {MIN_SECRET_LEN} bytes"),
        ));
    }
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|_| Error::new(Reason::InvalidConfig, "pass secret"))?;
    m.update(claims.as_bytes());
    Ok(m.finalize().into_bytes().into())
}

/// URL-safe base64 without padding.
fn b64url(bytes: &[u8]) -> String {
    crate::encoding::base64::encode(bytes)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

fn unb64url(text: &str) -> Result<Vec<u8>> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid("pass is not URL-safe base64"));
    }
    let mut std: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while std.len() % 4 != 0 {
        std.push('=');
    }
    crate::encoding::base64::decode(&std).map_err(|_| invalid("pass is not URL-safe base64"))
}

/// Issues a pass signed with `secret`.
pub fn issue(secret: &[u8], claims: &PassClaims) -> Result<String> {
    let text = format!(
        "{TAG}\n{}\n{}\n{}\n{}\n{}",
        key_id(secret)?,
        claims.path,
        claims.payer,
        claims.transaction,
        claims.expires
    );
    let tag = mac(secret, &text)?;
    Ok(format!("{}.{}", b64url(text.as_bytes()), b64url(&tag)))
}

/// Checks a pass for `path` (normalised) at unix time `now` against the configured `secrets`
/// (the current one first, then previous ones kept during a rotation); returns its claims.
pub fn verify<S: AsRef<[u8]>>(
    secrets: &[S],
    pass: &str,
    path: &str,
    now: u64,
) -> Result<PassClaims> {
    if pass.len() > 1024 {
        return Err(invalid("pass too long"));
    }
    let (claims_b64, mac_b64) = pass
        .split_once('.')
        .ok_or_else(|| invalid("pass is not <claims>.<mac>"))?;
    let claims_bytes = unb64url(claims_b64)?;
    let given = unb64url(mac_b64)?;
    let text = core::str::from_utf8(&claims_bytes).map_err(|_| invalid("pass claims"))?;
    let mut parts = text.split('\n');
    let (Some(TAG), Some(kid)) = (parts.next(), parts.next()) else {
        return Err(invalid("pass claims are malformed"));
    };
    let mut secret = None;
    for s in secrets {
        if key_id(s.as_ref())? == kid {
            secret = Some(s.as_ref());
        }
    }
    let secret =
        secret.ok_or_else(|| invalid("pass signed with a key this paywall no longer uses"))?;
    let expected = mac(secret, text)?;
    // Constant-time comparison.
    let diff = given.len() ^ expected.len()
        | given
            .iter()
            .zip(expected.iter())
            .fold(0usize, |acc, (a, b)| acc | usize::from(a ^ b));
    if diff != 0 {
        return Err(invalid("pass signature does not match (forged or altered)"));
    }
    let (Some(p), Some(payer), Some(tx), Some(exp), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid("pass claims are malformed"));
    };
    let claims = PassClaims {
        path: p.into(),
        payer: payer.parse().map_err(|_| invalid("pass payer"))?,
        transaction: tx.parse().map_err(|_| invalid("pass transaction"))?,
        expires: exp.parse().map_err(|_| invalid("pass expiry"))?,
    };
    if claims.path != path {
        return Err(invalid(&format!("pass is for {}, not {path}", claims.path)));
    }
    if now >= claims.expires {
        return Err(invalid("pass expired"));
    }
    Ok(claims)
}

/// The Sign-In-With-X nonce a paywall puts in a challenge it issues at `issued_ms` (unix
/// milliseconds) for `uri`: 32 lower-case hex digits, `salt` (8 bytes, for uniqueness: two
/// challenges issued in the same millisecond still differ) then 8 bytes of an HMAC-SHA256 with
/// the pass secret over the time, the uri and the salt. The paywall keeps nothing when it offers a
/// challenge; [`sign_in_nonce_valid`] proves a sign-in's challenge came from it, and the paywall
/// then only has to remember the nonces it accepted, for the few minutes a sign-in is valid.
pub fn sign_in_nonce(secret: &[u8], issued_ms: u64, uri: &str, salt: [u8; 8]) -> Result<String> {
    let salt_hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    let tag = mac(
        secret,
        &format!("x402 sign-in-with-x\n{issued_ms}\n{uri}\n{salt_hex}"),
    )?;
    let tag_hex: String = tag[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{salt_hex}{tag_hex}"))
}

/// Whether `nonce` is one [`sign_in_nonce`] gives for `issued_ms` and `uri` with one of
/// `secrets` (the current pass secret, then the previous one).
pub fn sign_in_nonce_valid<S: AsRef<[u8]>>(
    secrets: &[S],
    issued_ms: u64,
    uri: &str,
    nonce: &str,
) -> bool {
    // The salt as written; the comparison below is on the whole text, so only the exact
    // lower-case form this paywall writes passes.
    let Some(salt) = nonce
        .get(..16)
        .filter(|_| nonce.len() == 32)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .map(u64::to_be_bytes)
    else {
        return false;
    };
    secrets.iter().any(|secret| {
        sign_in_nonce(secret.as_ref(), issued_ms, uri, salt).is_ok_and(|n| n == nonce)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn sign_in_nonces() {
        let uri = "https://paper.example/paid/one.html";
        let a = sign_in_nonce(SECRET, 1_000, uri, [1; 8]).unwrap();
        let b = sign_in_nonce(SECRET, 1_000, uri, [2; 8]).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(a.starts_with("0101010101010101"));
        assert_ne!(a, b, "same millisecond, another salt: another nonce");
        assert!(sign_in_nonce_valid(&[SECRET], 1_000, uri, &a));
        assert!(sign_in_nonce_valid(
            &[b"another-secret-0123456789".as_slice(), SECRET],
            1_000,
            uri,
            &b
        ));
        for (t, u, n) in [
            (1_001, uri, a.as_str()),
            (1_000, "https://paper.example/paid/two.html", a.as_str()),
            (1_000, uri, "0101010101010101ffffffffffffffff"),
            (1_000, uri, &a[..31]),
            (1_000, uri, "zz01010101010101ffffffffffffffff"),
            (1_000, uri, ""),
        ] {
            assert!(!sign_in_nonce_valid(&[SECRET], t, u, n), "{t} {u} {n}");
        }
        assert!(!sign_in_nonce_valid(
            &[b"another-secret-0123456789"],
            1_000,
            uri,
            &a
        ));
    }

    fn claims() -> PassClaims {
        PassClaims {
            path: "/paid/one.html".into(),
            payer: Address::repeat_byte(0x11),
            transaction: B256::repeat_byte(0x22),
            expires: 2_000,
        }
    }

    #[test]
    fn issues_and_verifies() {
        let pass = issue(SECRET, &claims()).unwrap();
        assert!(pass
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(
            verify(&[SECRET], &pass, "/paid/one.html", 1_999).unwrap(),
            claims()
        );
    }

    #[test]
    fn refuses_forged_expired_and_other_resource() {
        let pass = issue(SECRET, &claims()).unwrap();
        let code = |r: Result<PassClaims>| r.unwrap_err().reason();
        assert_eq!(
            code(verify(&[SECRET], &pass, "/paid/one.html", 2_000)),
            Reason::InvalidPass
        );
        assert_eq!(
            code(verify(&[SECRET], &pass, "/paid/two.html", 1)),
            Reason::InvalidPass
        );
        assert_eq!(
            code(verify(
                &[b"another secret of enough length"],
                &pass,
                "/paid/one.html",
                1
            )),
            Reason::InvalidPass
        );
        // Re-signed claims for another path with a guessed MAC, and a flipped MAC byte.
        let mut other = claims();
        other.path = "/paid/two.html".into();
        let forged_claims = issue(b"attacker secret 0123456789", &other).unwrap();
        assert_eq!(
            code(verify(&[SECRET], &forged_claims, "/paid/two.html", 1)),
            Reason::InvalidPass
        );
        let (c, m) = pass.split_once('.').unwrap();
        let mut m = m.to_string().into_bytes();
        m[0] = if m[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{c}.{}", String::from_utf8(m).unwrap());
        assert_eq!(
            code(verify(&[SECRET], &flipped, "/paid/one.html", 1)),
            Reason::InvalidPass
        );
        // Later expiry spliced into the claims with the old MAC.
        let mut later = claims();
        later.expires = 9_999;
        let later_pass = issue(SECRET, &later).unwrap();
        let spliced = format!(
            "{}.{}",
            later_pass.split_once('.').unwrap().0,
            pass.split_once('.').unwrap().1
        );
        assert_eq!(
            code(verify(&[SECRET], &spliced, "/paid/one.html", 1)),
            Reason::InvalidPass
        );
        for junk in ["", ".", "abc", "a.b", "%%.%%", &"A".repeat(2000)] {
            assert_eq!(
                code(verify(&[SECRET], junk, "/paid/one.html", 1)),
                Reason::InvalidPass,
                "{junk}"
            );
        }
        assert_eq!(
            issue(b"short", &claims()).unwrap_err().reason(),
            Reason::InvalidConfig
        );
    }

    #[test]
    fn key_rotation() {
        const NEW: &[u8] = b"the next secret, 32 bytes long!!";
        let old_pass = issue(SECRET, &claims()).unwrap();
        let new_pass = issue(NEW, &claims()).unwrap();
        assert_ne!(key_id(SECRET).unwrap(), key_id(NEW).unwrap());
        assert_eq!(key_id(SECRET).unwrap().len(), 8);
        // During a rotation both verify; afterwards the old secret's passes are refused.
        for p in [&old_pass, &new_pass] {
            assert!(verify(&[NEW, SECRET], p, "/paid/one.html", 1).is_ok());
        }
        let e = verify(&[NEW], &old_pass, "/paid/one.html", 1).unwrap_err();
        assert_eq!(e.reason(), Reason::InvalidPass);
        assert!(e.message().contains("no longer"), "{e}");
        // The key id is bound by the MAC: naming another key id breaks it.
        let text =
            String::from_utf8(unb64url(old_pass.split_once('.').unwrap().0).unwrap()).unwrap();
        let swapped = text.replace(&key_id(SECRET).unwrap(), &key_id(NEW).unwrap());
        let forged = format!(
            "{}.{}",
            b64url(swapped.as_bytes()),
            old_pass.split_once('.').unwrap().1
        );
        assert!(verify(&[NEW, SECRET], &forged, "/paid/one.html", 1).is_err());
        // A version-1 pass (no key id) is refused.
        let v1 = format!(
            "{}.AAAA",
            b64url(b"x402pass1\n/paid/one.html\n0x11\n0x22\n2000")
        );
        assert!(verify(&[SECRET], &v1, "/paid/one.html", 1).is_err());
    }
}
