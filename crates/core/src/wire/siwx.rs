//! The `sign-in-with-x` extension (x402-foundation/x402 `specs/extensions/sign-in-with-x.md`,
//! `@x402/extensions` 2.27): a reader proves with a wallet signature, and no payment, that they
//! are the address that paid for a resource before. The server offers a challenge in the 402's
//! `extensions["sign-in-with-x"]` (`info`: domain, uri, nonce, issuedAt, …; `supportedChains`);
//! the client signs the EIP-4361 (Sign-In with Ethereum) message built from it and sends the
//! fields and the signature, base64 JSON, in the `SIGN-IN-WITH-X` header.
//!
//! This module holds the wire shapes, the EIP-4361 message ([`message`]), the checks a server
//! makes in the reference's order with its reason codes ([`check`]) and the challenge a server
//! offers ([`declaration`]). EVM (`eip155:*`) only. An EOA's EIP-191 `personal_sign` is judged
//! here; any other signature can only be a contract wallet's (EIP-1271, or EIP-6492 wrapped),
//! which needs the chain: [`check`] returns it as [`SignedBy::Contract`] for the caller to ask.

use crate::encoding::base64;
#[cfg(feature = "verify")]
use crate::encoding::hex;
use crate::encoding::text::{cat, dec, parse_u64};
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
#[cfg(feature = "verify")]
use crate::evm::signature::Signature;
use alloc::{format, string::String, vec::Vec};
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The extension's key in `extensions`.
pub const KEY: &str = "sign-in-with-x";
/// The request header carrying a sign-in (HTTP header names are case-insensitive; the
/// reference client writes it in lower case).
pub const HEADER: &str = "SIGN-IN-WITH-X";
/// The longest header accepted: a sign-in is a few hundred bytes plus its uri twice (`uri` and
/// `resources`), base64-encoded; a paywall's own cap on all request headers (32 KiB by
/// default) applies first.
pub const MAX_HEADER_LEN: usize = 32 * 1024;
/// How old `issuedAt` may be (the reference's default `maxAge`).
pub const MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// The challenge's lifetime (`expirationTime` = `issuedAt` + this), as the spec suggests.
pub const CHALLENGE_LIFETIME_MS: u64 = 5 * 60 * 1000;

/// A sign-in as the client sends it (the `SIGN-IN-WITH-X` header, decoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    /// The server's host (`example.com`, `example.com:8443`).
    pub domain: String,
    /// The signer (0x + 40 hex).
    pub address: String,
    /// A human-readable statement, if the challenge had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The resource signed in to.
    pub uri: String,
    /// EIP-4361 version, `"1"`.
    pub version: String,
    /// CAIP-2 chain (`eip155:8453`).
    pub chain_id: String,
    /// Signature type (`eip191` for EVM).
    #[serde(rename = "type")]
    pub kind: String,
    /// The server's nonce.
    pub nonce: String,
    /// RFC 3339 time the challenge was issued.
    pub issued_at: String,
    /// RFC 3339 end of validity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// RFC 3339 start of validity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// A request id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Resources named in the message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// `eip191`, `eip1271`, `eip6492` or `siws`, if the client says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_scheme: Option<String>,
    /// The signature (0x hex).
    pub signature: String,
}

fn invalid(reason: Reason, message: impl Into<String>) -> Error {
    Error::new(reason, message)
}

/// Decodes a `SIGN-IN-WITH-X` header value: base64 of the JSON object above (every required
/// field a string). Anything else is `invalid_siwx_payload`.
pub fn decode(header: &str) -> Result<SignIn> {
    let header = header.trim();
    if header.len() > MAX_HEADER_LEN {
        return Err(invalid(
            Reason::InvalidSiwxPayload,
            format!("SIGN-IN-WITH-X: longer than {MAX_HEADER_LEN} bytes"),
        ));
    }
    let bytes = base64::decode(header)
        .map_err(|_| invalid(Reason::InvalidSiwxPayload, "SIGN-IN-WITH-X: not base64"))?;
    serde_json::from_slice::<SignIn>(&bytes).map_err(|e| {
        invalid(
            Reason::InvalidSiwxPayload,
            format!("SIGN-IN-WITH-X: not a sign-in ({e})"),
        )
    })
}

/// Encodes a sign-in as the header value (what a client sends).
pub fn encode(sign_in: &SignIn) -> String {
    base64::encode(
        serde_json::to_string(sign_in)
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// The EVM chain id of a CAIP-2 `eip155:<decimal>` chain.
pub fn evm_chain_id(chain: &str) -> Result<u64> {
    // Messages by concatenation, not `format!`: the browser builds link this (the client's
    // sign-in) and keep `core::fmt` out.
    let Some(rest) = chain.strip_prefix("eip155:") else {
        return Err(invalid(
            Reason::InvalidSiwxUnsupportedChain,
            cat(&["chain \"", chain, "\" is not an EVM (eip155) chain"]),
        ));
    };
    parse_u64(rest.as_bytes())
        .filter(|_| rest.len() <= 19)
        .ok_or_else(|| {
            invalid(
                Reason::InvalidSiwxChainId,
                cat(&["chain \"", chain, "\" is not eip155:<number>"]),
            )
        })
}

/// The signer's address: 0x and 40 hex digits, in any case (the message carries its EIP-55
/// form).
pub fn address(sign_in: &SignIn) -> Result<Address> {
    parse_address(&sign_in.address.to_ascii_lowercase())
        .map_err(|why| invalid(Reason::InvalidSiwxPayload, cat(&["address ", &why])))
}

/// The EIP-4361 message the signer signed (https://eips.ethereum.org/EIPS/eip-4361): lines
/// joined by `\n`, no trailing newline; the address in its EIP-55 form; the chain id in decimal.
pub fn message(sign_in: &SignIn) -> Result<String> {
    let chain_id = dec(evm_chain_id(&sign_in.chain_id)?);
    let address = checksummed(&address(sign_in)?);
    let mut m = cat(&[
        &sign_in.domain,
        " wants you to sign in with your Ethereum account:\n",
        &address,
        "\n\n",
    ]);
    if let Some(s) = &sign_in.statement {
        m.push_str(s);
        m.push('\n');
    }
    for (label, value) in [
        ("\nURI: ", Some(&sign_in.uri)),
        ("\nVersion: ", Some(&sign_in.version)),
        ("\nChain ID: ", Some(&chain_id)),
        ("\nNonce: ", Some(&sign_in.nonce)),
        ("\nIssued At: ", Some(&sign_in.issued_at)),
        ("\nExpiration Time: ", sign_in.expiration_time.as_ref()),
        ("\nNot Before: ", sign_in.not_before.as_ref()),
        ("\nRequest ID: ", sign_in.request_id.as_ref()),
    ] {
        if let Some(v) = value {
            m.push_str(label);
            m.push_str(v);
        }
    }
    if let Some(resources) = &sign_in.resources {
        m.push_str("\nResources:");
        for r in resources {
            m.push_str("\n- ");
            m.push_str(r);
        }
    }
    Ok(m)
}

/// The EIP-191 `personal_sign` digest of `message`
/// (`keccak256("\x19Ethereum Signed Message:\n" ++ len ++ message)`).
pub fn personal_sign_digest(message: &str) -> B256 {
    let mut data = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    data.extend_from_slice(message.as_bytes());
    alloy_primitives::keccak256(&data)
}

/// What a server checks a sign-in against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The configured public origin's host (`domain` must equal it).
    pub host: &'a str,
    /// The configured public origin, `scheme://host[:port]` (`uri`'s origin must equal it).
    pub origin: &'a str,
    /// Now, unix milliseconds.
    pub now_ms: u64,
}

#[cfg(feature = "verify")]
/// Checks a sign-in in the reference server's order (domain, uri, issuedAt, expirationTime,
/// notBefore, then the signature), each failure with its reason code; returns who signed it
/// (a contract wallet's signature is the caller's to confirm on chain). The nonce (fresh,
/// unused) and what the signer bought are the caller's to judge too.
pub fn check(sign_in: &SignIn, expected: &Expected<'_>) -> Result<SignedBy> {
    if sign_in.domain != expected.host {
        return Err(invalid(
            Reason::InvalidSiwxDomainMismatch,
            format!(
                "domain {:?} is not this site's {:?}",
                sign_in.domain, expected.host
            ),
        ));
    }
    if uri_origin(&sign_in.uri) != Some(expected.origin) {
        return Err(invalid(
            Reason::InvalidSiwxUriMismatch,
            format!(
                "uri {:?} is not on this site's origin {:?}",
                sign_in.uri, expected.origin
            ),
        ));
    }
    let issued = timestamp_ms(&sign_in.issued_at).ok_or_else(|| {
        invalid(
            Reason::InvalidSiwxIssuedAt,
            "issuedAt is not an RFC 3339 time",
        )
    })?;
    if expected.now_ms > issued && expected.now_ms - issued > MAX_AGE_MS {
        return Err(invalid(
            Reason::InvalidSiwxIssuedAtTooOld,
            format!(
                "issued {} s ago; a sign-in is good for {} s",
                (expected.now_ms - issued) / 1000,
                MAX_AGE_MS / 1000
            ),
        ));
    }
    if issued > expected.now_ms {
        return Err(invalid(
            Reason::InvalidSiwxIssuedAtInFuture,
            "issuedAt is in the future",
        ));
    }
    if let Some(t) = &sign_in.expiration_time {
        let end = timestamp_ms(t).ok_or_else(|| {
            invalid(
                Reason::InvalidSiwxExpirationTime,
                "expirationTime is not an RFC 3339 time",
            )
        })?;
        if end < expected.now_ms {
            return Err(invalid(
                Reason::InvalidSiwxExpired,
                "the sign-in has expired",
            ));
        }
    }
    if let Some(t) = &sign_in.not_before {
        let start = timestamp_ms(t).ok_or_else(|| {
            invalid(
                Reason::InvalidSiwxNotBefore,
                "notBefore is not an RFC 3339 time",
            )
        })?;
        if expected.now_ms < start {
            return Err(invalid(
                Reason::InvalidSiwxNotYetValid,
                "the sign-in is not valid yet (notBefore)",
            ));
        }
    }
    verify_signature(sign_in)
}

#[cfg(feature = "verify")]
/// Who signed a sign-in, as far as it can be told without a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// An EOA: the 65-byte EIP-191 signature recovers to the sign-in's address.
    Key(Address),
    /// Any other signature: only a contract wallet deployed at the sign-in's address can accept
    /// it, through EIP-1271 `isValidSignature` on the sign-in's chain.
    Contract(ContractSignIn),
}

#[cfg(feature = "verify")]
/// A sign-in that only a contract wallet can have signed: what to ask the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSignIn {
    /// The sign-in's address: the wallet.
    pub wallet: Address,
    /// The chain the sign-in names (its `chainId`).
    pub chain_id: u64,
    /// The EIP-191 digest of the EIP-4361 message: `isValidSignature`'s hash.
    pub digest: B256,
    /// The signature as sent.
    pub signature: Vec<u8>,
}

#[cfg(feature = "verify")]
impl ContractSignIn {
    /// Whether the signature is EIP-6492 wrapped (by a wallet that was not deployed when it
    /// signed).
    pub fn is_erc6492(&self) -> bool {
        self.signature
            .ends_with(&crate::evm::signature::ERC6492_MAGIC)
    }

    /// The signature to give a deployed wallet's `isValidSignature`: as sent, or the inner one
    /// of an EIP-6492 wrapping (`abi.encode(factory, factoryCalldata, signature) ‖ magic`).
    pub fn signature_for_deployed_wallet(&self) -> Result<Vec<u8>> {
        use alloy_sol_types::SolValue;
        if !self.is_erc6492() {
            return Ok(self.signature.clone());
        }
        let wrapped = &self.signature[..self.signature.len() - 32];
        <(Address, alloy_primitives::Bytes, alloy_primitives::Bytes)>::abi_decode_params(wrapped)
            .map(|(_, _, inner)| inner.to_vec())
            .map_err(|_| {
                invalid(
                    Reason::InvalidSiwxMalformedSignature,
                    "an EIP-6492 signature whose wrapping does not decode",
                )
            })
    }
}

#[cfg(feature = "verify")]
impl SignedBy {
    /// The signer when no chain is asked: an EOA's, else `invalid_siwx_signature`.
    pub fn key_only(self) -> Result<Address> {
        match self {
            SignedBy::Key(a) => Ok(a),
            SignedBy::Contract(c) => Err(invalid(
                Reason::InvalidSiwxSignature,
                format!("the signature is not by {}", c.wallet.to_checksum(None)),
            )),
        }
    }

    /// The signer, with the chain's answer for a contract wallet (`isValidSignature` returned
    /// the EIP-1271 magic value).
    pub fn confirmed(self, chain_says_valid: bool) -> Result<Address> {
        match self {
            SignedBy::Contract(c) if chain_says_valid => Ok(c.wallet),
            SignedBy::Contract(c) => Err(invalid(
                Reason::InvalidSiwxSignature,
                format!(
                    "the signature is not by {}: its isValidSignature refused it",
                    c.wallet.to_checksum(None)
                ),
            )),
            key => key.key_only(),
        }
    }
}

#[cfg(feature = "verify")]
/// The signature check alone: a 65-byte EIP-191 signature over [`message`] that recovers to
/// `address` is the key's; any other well-formed signature is left to the chain
/// ([`SignedBy::Contract`]). Not hex, or empty: `invalid_siwx_malformed_signature`.
pub fn verify_signature(sign_in: &SignIn) -> Result<SignedBy> {
    let text = message(sign_in)?;
    let claimed = address(sign_in)?;
    let bytes = hex::parse_hex_bytes(&sign_in.signature)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            invalid(
                Reason::InvalidSiwxMalformedSignature,
                "signature is not 0x and hex bytes",
            )
        })?;
    let digest = personal_sign_digest(&text);
    let recovered = (bytes.len() == 65)
        .then(|| Signature::from_bytes(&bytes).ok()?.recover(&digest).ok())
        .flatten();
    if recovered == Some(claimed) {
        return Ok(SignedBy::Key(claimed));
    }
    Ok(SignedBy::Contract(ContractSignIn {
        wallet: claimed,
        chain_id: evm_chain_id(&sign_in.chain_id)?,
        digest,
        signature: bytes,
    }))
}

/// The origin (`scheme://host[:port]`) of an absolute `http`/`https` URI, lower-cased scheme
/// and host, the default port left out; `None` for anything else.
pub fn uri_origin(uri: &str) -> Option<&str> {
    let (scheme, rest) = http_scheme(uri)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty()
        || authority.contains('@')
        || authority.bytes().any(|b| b.is_ascii_uppercase())
        || (scheme == "https" && authority.ends_with(":443"))
        || (scheme == "http" && authority.ends_with(":80"))
    {
        // Userinfo, upper case or a spelled-out default port: not the canonical origin (a
        // server compares the string).
        return None;
    }
    Some(&uri[..scheme.len() + 3 + end])
}

/// `("https", rest)` or `("http", rest)` of a URI starting `https://` or `http://`.
pub fn http_scheme(uri: &str) -> Option<(&str, &str)> {
    let https = uri.strip_prefix("https://").map(|rest| ("https", rest));
    https.or_else(|| uri.strip_prefix("http://").map(|rest| ("http", rest)))
}

/// Unix milliseconds of an RFC 3339 time (`2026-12-06T03:50:00.000Z`, `…+02:00`); `None` if it
/// is not one.
pub fn timestamp_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0u64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
        let frac = &s[start..i];
        let digits = frac.len().min(3);
        millis = frac[..digits].parse::<u64>().ok()? * 10u64.pow(3 - digits as u32);
    }
    let offset_min: i64 = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let h = num(i + 1..i + 3)? as i64;
            let m = num(i + 4..i + 6)? as i64;
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if tz.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_min * 60;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(millis)
}

/// RFC 3339 in UTC with milliseconds (JavaScript's `toISOString`): `2026-12-06T03:50:00.000Z`.
pub fn iso_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// A challenge a server offers (the `info` of its declaration).
#[derive(Debug, Clone)]
pub struct Challenge<'a> {
    /// The configured public origin's host.
    pub domain: &'a str,
    /// The resource's URL on the configured public origin.
    pub uri: &'a str,
    /// A nonce the server accepts once (32 lower-case hex digits).
    pub nonce: &'a str,
    /// Unix milliseconds.
    pub issued_at_ms: u64,
    /// The chains a sign-in may name (CAIP-2).
    pub chains: &'a [String],
    /// A statement shown to the signer, if any.
    pub statement: Option<&'a str>,
}

/// The extension as a server offers it in a 402: `info` (domain, uri, version, nonce,
/// issuedAt, expirationTime, resources), `supportedChains` (EIP-191 on each chain) and the
/// JSON Schema of the payload the client sends.
pub fn declaration(c: &Challenge<'_>) -> Value {
    let mut info = json!({
        "domain": c.domain,
        "uri": c.uri,
        "version": "1",
        "nonce": c.nonce,
        "issuedAt": iso_time(c.issued_at_ms),
        "expirationTime": iso_time(c.issued_at_ms + CHALLENGE_LIFETIME_MS),
        "resources": [c.uri],
    });
    if let (Some(s), Some(obj)) = (c.statement, info.as_object_mut()) {
        obj.insert("statement".into(), Value::String(s.into()));
    }
    let chains: Vec<Value> = c
        .chains
        .iter()
        .map(|chain| json!({"chainId": chain, "type": "eip191"}))
        .collect();
    json!({"info": info, "supportedChains": chains, "schema": schema()})
}

/// The JSON Schema of the `SIGN-IN-WITH-X` payload (as the reference declares it).
pub fn schema() -> Value {
    let s = json!({"type": "string"});
    let uri = json!({"type": "string", "format": "uri"});
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "domain": s, "address": s, "statement": s, "uri": uri, "version": s, "chainId": s,
            "type": s, "nonce": s, "issuedAt": time, "expirationTime": time, "notBefore": time,
            "requestId": s, "resources": {"type": "array", "items": uri}, "signature": s
        },
        "required": ["domain", "address", "uri", "version", "chainId", "type", "nonce", "issuedAt", "signature"]
    })
}

#[cfg(all(test, feature = "local-signer"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::evm::signer::LocalSigner;
    use alloc::{string::ToString, vec};

    const NOW: u64 = 1_796_530_000_000; // 2026-12-06T04:06:40.000Z

    fn sign_in(signer: &LocalSigner) -> SignIn {
        let mut s = SignIn {
            domain: "paper.example".into(),
            address: signer.address().to_string().to_lowercase(),
            statement: None,
            uri: "https://paper.example/paid/one.html".into(),
            version: "1".into(),
            chain_id: "eip155:8453".into(),
            kind: "eip191".into(),
            nonce: "0123456789abcdef0123456789abcdef".into(),
            issued_at: iso_time(NOW - 10_000),
            expiration_time: Some(iso_time(NOW + 290_000)),
            not_before: None,
            request_id: None,
            resources: Some(vec!["https://paper.example/paid/one.html".into()]),
            signature_scheme: None,
            signature: String::new(),
        };
        let digest = personal_sign_digest(&message(&s).unwrap());
        s.signature = hex::prefixed(&signer.sign_hash(&digest).unwrap().to_bytes());
        s
    }

    fn signer() -> LocalSigner {
        LocalSigner::from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
            .unwrap()
    }

    const EXPECTED: Expected<'static> = Expected {
        host: "paper.example",
        origin: "https://paper.example",
        now_ms: NOW,
    };

    #[test]
    fn times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(NOW), "2026-12-06T04:06:40.000Z");
        assert_eq!(timestamp_ms("2026-12-06T04:06:40.000Z"), Some(NOW));
        assert_eq!(timestamp_ms("2026-12-06T04:06:40Z"), Some(NOW));
        assert_eq!(timestamp_ms("2026-12-06T06:06:40.000+02:00"), Some(NOW));
        assert_eq!(
            timestamp_ms("2024-02-29T00:00:00.5Z"),
            Some(1_709_164_800_500)
        );
        for bad in [
            "",
            "2026-12-06",
            "2026-13-06T04:46:40Z",
            "2025-02-29T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T04:06:40",
            "2026-12-06T04:06:40.Z",
            "2026-12-06 04:46:40Z",
            "2026-12-06T04:06:40+0200",
            "+026-12-06T04:46:40Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(timestamp_ms(bad), None, "{bad}");
        }
        for ms in [0, 1, 951_782_400_000, NOW, 4_102_444_800_999] {
            assert_eq!(timestamp_ms(&iso_time(ms)), Some(ms));
        }
    }

    #[test]
    fn the_message_is_eip_4361() {
        let s = sign_in(&signer());
        let text = message(&s).unwrap();
        let checksummed = signer().address().to_checksum(None);
        assert_eq!(
            text,
            format!(
                "paper.example wants you to sign in with your Ethereum account:\n{checksummed}\n\n\nURI: https://paper.example/paid/one.html\nVersion: 1\nChain ID: 8453\nNonce: 0123456789abcdef0123456789abcdef\nIssued At: 2026-12-06T04:06:30.000Z\nExpiration Time: 2026-12-06T04:11:30.000Z\nResources:\n- https://paper.example/paid/one.html"
            )
        );
        let mut with = s.clone();
        with.statement = Some("Restore your purchase".into());
        assert!(message(&with)
            .unwrap()
            .contains(&format!("{checksummed}\n\nRestore your purchase\n\nURI: ")));
    }

    #[test]
    fn a_good_sign_in_names_its_signer() {
        let s = sign_in(&signer());
        assert_eq!(
            check(&s, &EXPECTED).unwrap(),
            SignedBy::Key(signer().address())
        );
        // Through the header.
        let back = decode(&encode(&s)).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            check(&back, &EXPECTED).unwrap().key_only().unwrap(),
            signer().address()
        );
    }

    #[test]
    fn a_signature_not_by_the_key_is_left_to_a_contract_wallet() {
        let wallet: Address = "0x00000000000000000000000000000000000000aa"
            .parse()
            .unwrap();
        let mut good = sign_in(&signer());
        good.address = wallet.to_string();
        let digest = personal_sign_digest(&message(&good).unwrap());
        let ours = signer().sign_hash(&digest).unwrap().to_bytes().to_vec();
        // The owner's key signing the message that names the wallet, a 2-byte and a 97-byte
        // signature.
        for sig in [
            ours.clone(),
            vec![0x12, 0x34],
            [ours.clone(), vec![7; 32]].concat(),
        ] {
            let mut s = good.clone();
            s.signature = hex::prefixed(&sig);
            let SignedBy::Contract(c) = check(&s, &EXPECTED).unwrap() else {
                panic!("not left to the chain: {sig:?}");
            };
            assert_eq!((c.wallet, c.chain_id, c.digest), (wallet, 8453, digest));
            assert_eq!(c.signature, sig);
            assert!(!c.is_erc6492());
            assert_eq!(c.signature_for_deployed_wallet().unwrap(), sig);
            let by = SignedBy::Contract(c);
            assert_eq!(by.clone().confirmed(true).unwrap(), wallet);
            for e in [by.clone().confirmed(false), by.key_only()] {
                assert_eq!(e.unwrap_err().reason(), Reason::InvalidSiwxSignature);
            }
        }
        // EIP-6492: abi.encode(factory, calldata, inner) ‖ magic; the inner signature is the one
        // a deployed wallet judges.
        use alloy_sol_types::SolValue;
        let inner = vec![0xab; 65];
        let factory: Address = "0x00000000000000000000000000000000000000fa"
            .parse()
            .unwrap();
        let mut wrapped = (
            factory,
            alloy_primitives::Bytes::from(vec![1, 2, 3]),
            alloy_primitives::Bytes::from(inner.clone()),
        )
            .abi_encode_params();
        wrapped.extend_from_slice(&crate::evm::signature::ERC6492_MAGIC);
        let mut s = good.clone();
        s.signature = hex::prefixed(&wrapped);
        let SignedBy::Contract(c) = check(&s, &EXPECTED).unwrap() else {
            panic!("a wrapped signature is a contract wallet's");
        };
        assert!(c.is_erc6492());
        assert_eq!(c.signature_for_deployed_wallet().unwrap(), inner);
        // A wrapping that does not decode.
        let mut bad = vec![0xff; 40];
        bad.extend_from_slice(&crate::evm::signature::ERC6492_MAGIC);
        s.signature = hex::prefixed(&bad);
        let SignedBy::Contract(c) = check(&s, &EXPECTED).unwrap() else {
            panic!("a wrapped signature is a contract wallet's");
        };
        assert_eq!(
            c.signature_for_deployed_wallet().unwrap_err().reason(),
            Reason::InvalidSiwxMalformedSignature
        );
    }

    #[test]
    fn each_rule_with_its_reason() {
        let good = sign_in(&signer());
        type Case = (fn(&mut SignIn), Reason);
        let cases: Vec<Case> = vec![
            (
                |s| s.domain = "evil.example".into(),
                Reason::InvalidSiwxDomainMismatch,
            ),
            (
                |s| s.uri = "https://evil.example/paid/one.html".into(),
                Reason::InvalidSiwxUriMismatch,
            ),
            (
                |s| s.uri = "not a url".into(),
                Reason::InvalidSiwxUriMismatch,
            ),
            (
                |s| s.uri = "https://paper.example:443/x".into(),
                Reason::InvalidSiwxUriMismatch,
            ),
            (
                |s| s.issued_at = "yesterday".into(),
                Reason::InvalidSiwxIssuedAt,
            ),
            (
                |s| s.issued_at = iso_time(NOW - MAX_AGE_MS - 1),
                Reason::InvalidSiwxIssuedAtTooOld,
            ),
            (
                |s| s.issued_at = iso_time(NOW + 1_000),
                Reason::InvalidSiwxIssuedAtInFuture,
            ),
            (
                |s| s.expiration_time = Some("soon".into()),
                Reason::InvalidSiwxExpirationTime,
            ),
            (
                |s| s.expiration_time = Some(iso_time(NOW - 1)),
                Reason::InvalidSiwxExpired,
            ),
            (
                |s| s.not_before = Some("later".into()),
                Reason::InvalidSiwxNotBefore,
            ),
            (
                |s| s.not_before = Some(iso_time(NOW + 1)),
                Reason::InvalidSiwxNotYetValid,
            ),
            (
                |s| s.chain_id = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into(),
                Reason::InvalidSiwxUnsupportedChain,
            ),
            (
                |s| s.chain_id = "eip155:base".into(),
                Reason::InvalidSiwxChainId,
            ),
            (
                |s| s.signature = "0x12zz".into(),
                Reason::InvalidSiwxMalformedSignature,
            ),
            (
                |s| s.signature = "0x".into(),
                Reason::InvalidSiwxMalformedSignature,
            ),
            // Not the key's signature: only a contract wallet could accept it, and with no chain
            // asked, it does not count.
            (
                |s| s.signature = "0x1234".into(),
                Reason::InvalidSiwxSignature,
            ),
            // Signed for another chain, nonce, or by someone else: the signature does not match.
            (
                |s| s.chain_id = "eip155:1".into(),
                Reason::InvalidSiwxSignature,
            ),
            (
                |s| s.nonce = "ffffffffffffffffffffffffffffffff".into(),
                Reason::InvalidSiwxSignature,
            ),
            (
                |s| s.address = "0x0000000000000000000000000000000000000001".into(),
                Reason::InvalidSiwxSignature,
            ),
            (|s| s.address = "0x12".into(), Reason::InvalidSiwxPayload),
        ];
        for (i, (change, reason)) in cases.into_iter().enumerate() {
            let mut s = good.clone();
            change(&mut s);
            let e = check(&s, &EXPECTED)
                .and_then(SignedBy::key_only)
                .unwrap_err();
            assert_eq!(e.reason(), reason, "case {i}: {e}");
        }
    }

    #[test]
    fn headers_that_are_not_sign_ins() {
        for bad in [
            "",
            "!!!",
            &base64::encode(b"[]"),
            &base64::encode(b"{\"domain\":\"x\"}"),
            &base64::encode(b"{\"domain\":1,\"address\":\"0x\",\"uri\":\"u\",\"version\":\"1\",\"chainId\":\"eip155:1\",\"type\":\"eip191\",\"nonce\":\"n\",\"issuedAt\":\"t\",\"signature\":\"0x\"}"),
            &"A".repeat(MAX_HEADER_LEN + 4),
        ] {
            assert_eq!(decode(bad).unwrap_err().reason(), Reason::InvalidSiwxPayload, "{bad:.40}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            uri_origin("https://paper.example/a?b#c"),
            Some("https://paper.example")
        );
        assert_eq!(
            uri_origin("http://127.0.0.1:8787"),
            Some("http://127.0.0.1:8787")
        );
        for bad in [
            "ftp://x/",
            "https://",
            "https://u@paper.example/",
            "https://Paper.example/",
            "paper.example/x",
        ] {
            assert_eq!(uri_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_declaration() {
        let chains = ["eip155:8453".to_string()];
        let d = declaration(&Challenge {
            domain: "paper.example",
            uri: "https://paper.example/paid/one.html",
            nonce: "0123456789abcdef0123456789abcdef",
            issued_at_ms: NOW,
            chains: &chains,
            statement: None,
        });
        assert_eq!(d["info"]["issuedAt"], "2026-12-06T04:06:40.000Z");
        assert_eq!(d["info"]["expirationTime"], "2026-12-06T04:11:40.000Z");
        assert_eq!(
            d["supportedChains"][0],
            json!({"chainId": "eip155:8453", "type": "eip191"})
        );
        assert_eq!(d["schema"]["required"].as_array().unwrap().len(), 9);
    }
}
