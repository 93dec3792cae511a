//! HTTP header codecs (x402-foundation/x402 `specs/transports-v2/http.md` and
//! `specs/transports-v1/http.md`; `docs/protocol.md`, "Headers").
//!
//! Every x402 header value is standard padded base64 of the UTF-8 bytes of compact JSON. The
//! decoders cap the size, reject URL-safe base64, and check `x402Version` before anything else
//! so a v1 payload sent in a v2 header gets `invalid_x402_version`, not a confusing field error.

use super::facilitator::SettleResponse;
use super::{v1, v2, AnyPaymentPayload};
use crate::encoding::base64;
use crate::encoding::text::{cat, dec};
use crate::error::{Code, Error, Reason, Result};
use alloc::{format, string::String};
use serde::{de::DeserializeOwned, Serialize};

/// v2 challenge header (server → client, on 402).
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// v2 payment header (client → server).
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// v2 receipt header (server → client).
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
/// v1 payment header (client → server).
pub const X_PAYMENT: &str = "X-PAYMENT";
/// v1 receipt header (server → client).
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";

/// Largest header value accepted by the decoders (16 KiB of base64). Typical values are
/// 0.5–2 KiB; smart-wallet signatures make payloads a few KiB.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// The tail of the message for a header over [`MAX_HEADER_LEN`] (its digits written out, so
/// the reader does not format the constant at run time).
const LIMIT_TEXT: &str = " bytes exceeds the 16384-byte limit";

/// Encodes a message as a header value: padded standard base64 of compact JSON.
pub fn encode<T: Serialize>(message: &T) -> Result<String> {
    let json = serde_json::to_vec(message)
        .map_err(|e| Error::new(Reason::InvalidPayload, format!("cannot encode JSON: {e}")))?;
    Ok(base64::encode(&json))
}

/// The text a header value carries: spaces and tabs around it trimmed, its size capped, then
/// base64 and UTF-8 checked. `reason` is what any failure is reported as. Shared with the
/// serde-free reader (`crate::client::challenge`).
pub(crate) fn header_text(value: &str, header: &str, reason: &'static Code) -> Result<String> {
    let mut value = value.as_bytes();
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    let bad = |why: &str| Error::coded(reason, cat(&[header, ": ", why]));
    if value.len() > MAX_HEADER_LEN {
        return Err(Error::coded(
            reason,
            cat(&[header, ": ", &dec(value.len() as u64), LIMIT_TEXT]),
        ));
    }
    let bytes = base64::decode_bytes(value).map_err(|e| bad(e.message()))?;
    String::from_utf8(bytes).map_err(|_| bad("decoded bytes are not UTF-8"))
}

/// Decodes a header value to JSON ([`header_text`], then JSON).
fn decode_json(value: &str, header: &str, reason: Reason) -> Result<serde_json::Value> {
    let text = header_text(value, header, reason.code())?;
    serde_json::from_str(&text)
        .map_err(|e| Error::new(reason, format!("{header}: invalid JSON: {e}")))
}

fn check_version(json: &serde_json::Value, header: &str, expected: u8) -> Result<()> {
    match json.get("x402Version") {
        Some(v) if v.as_u64() == Some(u64::from(expected)) => Ok(()),
        Some(v) => Err(Error::new(
            Reason::InvalidX402Version,
            format!("{header}: x402Version {v}, expected {expected}"),
        )),
        None => Err(Error::new(
            Reason::InvalidX402Version,
            format!("{header}: missing x402Version (expected {expected})"),
        )),
    }
}

fn typed<T: DeserializeOwned>(json: serde_json::Value, header: &str, reason: Reason) -> Result<T> {
    serde_json::from_value(json).map_err(|e| Error::new(reason, format!("{header}: {e}")))
}

/// Decodes `PAYMENT-REQUIRED` (errors: `malformed_challenge`, `invalid_x402_version`).
pub fn decode_payment_required(value: &str) -> Result<v2::PaymentRequired> {
    let json = decode_json(value, PAYMENT_REQUIRED, Reason::MalformedChallenge)?;
    check_version(&json, PAYMENT_REQUIRED, 2)?;
    typed(json, PAYMENT_REQUIRED, Reason::MalformedChallenge)
}

/// Parses a v1 402 JSON body (errors: `malformed_challenge`, `invalid_x402_version`).
pub fn parse_v1_challenge_body(body: &[u8]) -> Result<v1::PaymentRequired> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            Reason::MalformedChallenge,
            format!("402 body: invalid JSON: {e}"),
        )
    })?;
    check_version(&json, "402 body", 1)?;
    typed(json, "402 body", Reason::MalformedChallenge)
}

/// Decodes `PAYMENT-SIGNATURE` (errors: `invalid_payload`, `invalid_x402_version`).
pub fn decode_payment_signature(value: &str) -> Result<v2::PaymentPayload> {
    let json = decode_json(value, PAYMENT_SIGNATURE, Reason::InvalidPayload)?;
    check_version(&json, PAYMENT_SIGNATURE, 2)?;
    typed(json, PAYMENT_SIGNATURE, Reason::InvalidPayload)
}

/// Decodes `X-PAYMENT` (errors: `invalid_payload`, `invalid_x402_version`).
pub fn decode_x_payment(value: &str) -> Result<v1::PaymentPayload> {
    let json = decode_json(value, X_PAYMENT, Reason::InvalidPayload)?;
    check_version(&json, X_PAYMENT, 1)?;
    typed(json, X_PAYMENT, Reason::InvalidPayload)
}

/// Decodes whichever payment header a request carries, `PAYMENT-SIGNATURE` first. Returns
/// `Ok(None)` when there is neither.
pub fn decode_payment_headers(
    payment_signature: Option<&str>,
    x_payment: Option<&str>,
) -> Result<Option<AnyPaymentPayload>> {
    if let Some(v) = payment_signature {
        return decode_payment_signature(v).map(|p| Some(AnyPaymentPayload::V2(p)));
    }
    if let Some(v) = x_payment {
        return decode_x_payment(v).map(|p| Some(AnyPaymentPayload::V1(p)));
    }
    Ok(None)
}

/// Decodes `PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE` (error: `invalid_payload`).
pub fn decode_payment_response(value: &str) -> Result<SettleResponse> {
    let json = decode_json(value, PAYMENT_RESPONSE, Reason::InvalidPayload)?;
    typed(json, PAYMENT_RESPONSE, Reason::InvalidPayload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn limit_text_names_the_limit() {
        assert_eq!(
            LIMIT_TEXT,
            format!(" bytes exceeds the {MAX_HEADER_LEN}-byte limit")
        );
    }

    #[test]
    fn header_errors_are_clear() {
        let e = decode_payment_signature("eyJ4NDAyVmVyc2lvbiI6MX0=").unwrap_err(); // {"x402Version":1}
        assert_eq!(e.reason(), Reason::InvalidX402Version);
        let e = decode_x_payment("eyJ4NDAyVmVyc2lvbiI6Mn0=").unwrap_err(); // {"x402Version":2}
        assert_eq!(e.reason(), Reason::InvalidX402Version);
        let e = decode_payment_signature("e30=").unwrap_err(); // {}
        assert!(e.message().contains("missing x402Version"));
        let e = decode_payment_signature("eyJ4NDAyVmVyc2lvbiI6Mn0").unwrap_err();
        assert!(e.message().contains("padding"), "{e}");
        let e = decode_payment_signature("eyJ4NDAyVmVyc2lvbiI6Mn0-").unwrap_err();
        assert!(e.message().contains("URL-safe"), "{e}");
        let e = decode_payment_signature(&base64::encode(b"{not json")).unwrap_err();
        assert!(e.message().contains("invalid JSON"), "{e}");
        let e = decode_payment_signature(&base64::encode(&[0xff, 0xfe])).unwrap_err();
        assert!(e.message().contains("UTF-8"), "{e}");
        let big = "A".repeat(MAX_HEADER_LEN + 4);
        assert!(decode_payment_signature(&big)
            .unwrap_err()
            .message()
            .contains("limit"));
        let e = decode_payment_required(&base64::encode(b"{\"x402Version\":2}")).unwrap_err();
        assert_eq!(e.reason(), Reason::MalformedChallenge);
        assert!(e.message().contains("resource"), "{e}");
        let e = decode_payment_required(&base64::encode(b"{\"x402Version\":\"2\"}")).unwrap_err();
        assert_eq!(e.reason(), Reason::InvalidX402Version, "{e}");
        assert!(decode_payment_headers(None, None).unwrap().is_none());
        let e = parse_v1_challenge_body(b"<html>").unwrap_err();
        assert_eq!(e.code(), "malformed_challenge");
        assert!(e.to_string().contains("402 body"));
    }
}
