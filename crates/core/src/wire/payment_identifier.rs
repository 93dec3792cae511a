//! The `payment-identifier` extension (x402-foundation/x402 `specs/extensions/payment_identifier.md`,
//! `@x402/extensions` 2.27): a server declares it in the 402's `extensions` with
//! `info.required`; a client puts an id of its own in the echoed extension (`info.id`, 16 to 128
//! characters of `[A-Za-z0-9_-]`) and keeps it for every retry of that purchase, so the server
//! can answer a retry with the first result instead of charging again, and refuse one id used
//! for two different payments.

use crate::error::{Error, Reason, Result};
use crate::wire::JsonMap;
use alloc::{format, string::String};
use serde_json::{json, Value};

/// The extension's key in `extensions`.
pub const KEY: &str = "payment-identifier";
/// Shortest id.
pub const MIN_LEN: usize = 16;
/// Longest id.
pub const MAX_LEN: usize = 128;

/// The extension as a server declares it: `info.required` and the JSON Schema of `info`.
pub fn declaration(required: bool) -> Value {
    json!({
        "info": {"required": required},
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "required": {"type": "boolean"},
                "id": {"type": "string", "minLength": MIN_LEN, "maxLength": MAX_LEN, "pattern": "^[a-zA-Z0-9_-]+$"}
            },
            "required": ["required"]
        }
    })
}

/// Whether `id` is a well-formed payment id.
pub fn valid_id(id: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The id a payment's `extensions` carry: `None` without the extension or without `info.id`;
/// an error (`invalid_payload`) when the extension or its id is malformed.
pub fn id_of(extensions: Option<&JsonMap>) -> Result<Option<String>> {
    let Some(ext) = extensions.and_then(|e| e.get(KEY)) else {
        return Ok(None);
    };
    let bad = |why: &str| Error::new(Reason::InvalidPayload, format!("extensions.{KEY}: {why}"));
    let info = ext
        .get("info")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no info object"))?;
    match info.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if valid_id(id) => Ok(Some(id.clone())),
        Some(_) => Err(bad(
            "info.id must be 16 to 128 characters of letters, digits, '-' and '_'",
        )),
    }
}

/// The id a client derives for one purchase from its authorization's nonce (32 random bytes,
/// sent in the payment anyway): `pay_` and the hex of its first 16 bytes, the same for every
/// resend of that payment and different for every purchase.
pub fn id_for_nonce(nonce: &[u8; 32]) -> String {
    let mut id = String::with_capacity(36);
    push_id(&mut id, nonce);
    id
}

/// Appends [`id_for_nonce`] of `nonce` to `out`.
pub(crate) fn push_id(out: &mut String, nonce: &[u8; 32]) {
    out.push_str("pay_");
    crate::encoding::hex::push_hex(out, &nonce[..16]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("pay_0123456789abcdef"));
        assert!(valid_id(&"a".repeat(128)));
        assert!(!valid_id(&"a".repeat(129)));
        assert!(!valid_id("pay_0123456789a"));
        assert!(!valid_id("pay_0123456789abcde!"));
        assert!(!valid_id("pay_0123456789abcdé"));
        let id = id_for_nonce(&[7; 32]);
        assert!(valid_id(&id), "{id}");
        assert_eq!(id.len(), 36);
        assert_ne!(id, id_for_nonce(&[8; 32]));
    }

    #[test]
    fn reads_the_id() {
        let with = |v: Value| -> JsonMap {
            let mut m = JsonMap::new();
            m.insert(KEY.into(), v);
            m
        };
        assert_eq!(id_of(None).unwrap(), None);
        assert_eq!(id_of(Some(&JsonMap::new())).unwrap(), None);
        assert_eq!(id_of(Some(&with(declaration(true)))).unwrap(), None);
        let mut d = declaration(false);
        d["info"]["id"] = json!("pay_0123456789abcdef0123");
        assert_eq!(
            id_of(Some(&with(d))).unwrap().as_deref(),
            Some("pay_0123456789abcdef0123")
        );
        for bad in [
            json!({"info": {"required": true, "id": "short"}}),
            json!({"info": {"required": true, "id": 12345678901234567u64}}),
            json!({"info": "x"}),
            json!({}),
        ] {
            let e = id_of(Some(&with(bad.clone()))).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidPayload, "{bad}");
        }
    }
}
