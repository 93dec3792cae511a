//! The paying side without serde: what the browser bundle links.
//!
//! [`Challenge`] reads a 402 challenge (the v2 `PAYMENT-REQUIRED` header or the v1 JSON body)
//! with the small reader of [`crate::json`], applies the same rules as the serde wire types
//! ([`crate::wire`]) and the same exact-scheme parsing ([`ExactEvmRequirement`]), and keeps the
//! source text of every requirement, so the payment it writes echoes `accepted` (and the
//! challenge's `resource` and `extensions`) byte for byte. [`typed_data_text`] writes the
//! `eth_signTypedData_v4` JSON the wallet signs, and [`decode_receipt`] checks a
//! `PAYMENT-RESPONSE`. The tests in `tests/challenge.rs` hold every function here to its serde
//! twin, so the two paths cannot drift apart.

use crate::base64;
use crate::client::{Offer, Policy};
use crate::error::{Error, Reason, Result};
use crate::exact::{Authorization, ExactEvmRequirement};
use crate::header::{header_text, PAYMENT_REQUIRED, PAYMENT_RESPONSE};
use crate::json::{self, write_key, write_str, Kind, Value};
use crate::network::Network;
use crate::wire::decimal_u256;
use alloc::{borrow::ToOwned, format, string::String, string::ToString, vec::Vec};
use core::ops::Range;

/// A parsed 402 challenge, v1 or v2, with the source text of the parts a payment copies.
#[derive(Debug, Clone)]
pub struct Challenge {
    version: u8,
    text: String,
    /// Source span of each `accepts` entry.
    accepts: Vec<Range<usize>>,
    /// v1: `scheme` and `network` of each entry, as written.
    v1_names: Vec<(String, String)>,
    /// v2: spans of `resource` and of `extensions` (when present and not `null`).
    resource: Option<Range<usize>>,
    extensions: Option<Range<usize>>,
    offers: Vec<Result<Offer>>,
}

/// Reads the fields of one JSON object, naming the object in every error.
struct Fields<'v, 'a> {
    obj: &'v Value<'a>,
    what: &'static str,
    reason: Reason,
}

impl<'v, 'a> Fields<'v, 'a> {
    fn new(obj: &'v Value<'a>, what: &'static str, reason: Reason) -> Result<Self> {
        if !obj.is_object() {
            return Err(Error::new(
                reason,
                format!("{what}: expected a JSON object"),
            ));
        }
        Ok(Self { obj, what, reason })
    }

    fn bad(&self, key: &str, why: &str) -> Error {
        Error::new(self.reason, format!("{}: {key}: {why}", self.what))
    }

    /// A member that may be absent; `null` counts as absent.
    fn opt(&self, key: &str) -> Result<Option<&'v Value<'a>>> {
        let v = self
            .obj
            .get(key)
            .map_err(|_| self.bad(key, "duplicate field"))?;
        Ok(v.filter(|v| !v.is_null()))
    }

    fn req(&self, key: &str) -> Result<&'v Value<'a>> {
        // `null` for a required field is a type error, as in serde.
        let v = self
            .obj
            .get(key)
            .map_err(|_| self.bad(key, "duplicate field"))?;
        v.ok_or_else(|| self.bad(key, "missing field"))
    }

    fn str_of(&self, key: &str, v: &'v Value<'a>) -> Result<&'v str> {
        v.as_str().ok_or_else(|| self.bad(key, "expected a string"))
    }

    fn string(&self, key: &str) -> Result<&'v str> {
        let v = self.req(key)?;
        self.str_of(key, v)
    }

    fn opt_string(&self, key: &str) -> Result<Option<&'v str>> {
        self.opt(key)?.map(|v| self.str_of(key, v)).transpose()
    }

    fn u64(&self, key: &str) -> Result<u64> {
        self.req(key)?
            .as_u64()
            .ok_or_else(|| self.bad(key, "expected a non-negative integer (u64)"))
    }

    fn u256(&self, key: &str) -> Result<alloy_primitives::U256> {
        decimal_u256::parse(self.string(key)?).map_err(|e| self.bad(key, e))
    }

    fn opt_object(&self, key: &str) -> Result<Option<&'v Value<'a>>> {
        match self.opt(key)? {
            Some(v) if !v.is_object() => Err(self.bad(key, "expected a JSON object")),
            other => Ok(other),
        }
    }
}

/// A non-empty string member of `extra` (`None` when absent, not a string, or empty).
fn extra_text(extra: Option<&Value<'_>>, key: &str) -> Option<String> {
    extra
        .and_then(|e| e.get(key).ok().flatten())
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(ToOwned::to_owned)
}

/// The `x402Version` check of [`crate::header`]: the number first, before any other field.
fn check_version(root: &Value<'_>, what: &str, expected: u64) -> Result<()> {
    let bad = |m: String| Error::new(Reason::InvalidX402Version, m);
    match root.get("x402Version") {
        Ok(Some(v)) if v.as_u64() == Some(expected) => Ok(()),
        Ok(Some(v)) => Err(bad(format!(
            "{what}: x402Version {}, expected {expected}",
            v.raw
        ))),
        Ok(None) => Err(bad(format!(
            "{what}: missing x402Version (expected {expected})"
        ))),
        Err(_) => Err(bad(format!("{what}: duplicate x402Version"))),
    }
}

fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

fn json_error(what: &str, reason: Reason, e: json::JsonError) -> Error {
    Error::new(
        reason,
        format!("{what}: invalid JSON: {} at byte {}", e.what, e.offset),
    )
}

impl Challenge {
    /// Reads a `PAYMENT-REQUIRED` header value (v2). Errors: `malformed_challenge`, or
    /// `invalid_x402_version` when it is not v2.
    pub fn from_header(value: &str) -> Result<Self> {
        let text = header_text(value, PAYMENT_REQUIRED, Reason::MalformedChallenge)?;
        Self::parse(text, 2, PAYMENT_REQUIRED)
    }

    /// Reads the JSON body of a v1 402 response. Errors as [`Challenge::from_header`].
    pub fn from_v1_body(body: &str) -> Result<Self> {
        Self::parse(body.to_owned(), 1, "402 body")
    }

    fn parse(text: String, version: u8, what: &'static str) -> Result<Self> {
        let reason = Reason::MalformedChallenge;
        let root = json::parse(&text).map_err(|e| json_error(what, reason, e))?;
        check_version(&root, what, version.into())?;
        let f = Fields::new(&root, what, reason)?;
        f.opt_string("error")?;
        let mut resource_url = String::new();
        let mut description = String::new();
        let mut resource = None;
        let mut extensions = None;
        if version == 2 {
            let r = f.req("resource")?;
            let rf = Fields::new(r, "resource", reason)?;
            resource_url = rf.string("url")?.to_owned();
            if resource_url.is_empty() {
                return Err(rf.bad("url", "must not be empty"));
            }
            description = rf.opt_string("description")?.unwrap_or("").to_owned();
            rf.opt_string("mimeType")?;
            resource = Some(span(&text, r.raw));
            extensions = f.opt_object("extensions")?.map(|e| span(&text, e.raw));
        }
        let entries = f
            .req("accepts")?
            .as_array()
            .ok_or_else(|| f.bad("accepts", "expected an array"))?;
        if entries.is_empty() {
            return Err(f.bad(
                "accepts",
                "accepts must list at least one payment requirement",
            ));
        }
        let mut accepts = Vec::with_capacity(entries.len());
        let mut v1_names = Vec::new();
        let mut offers = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let e = Fields::new(entry, "accepts entry", reason)?;
            let scheme = e.string("scheme")?;
            let asset = e.string("asset")?;
            let pay_to = e.string("payTo")?;
            let max_timeout = e.u64("maxTimeoutSeconds")?;
            let extra = e.opt_object("extra")?;
            let extra_of = |key: &str| extra_text(extra, key);
            // The wire-level fields of each version, then the scheme's own parsing (shared with
            // the serde path), whose failure makes this entry unpayable, not the challenge invalid.
            let (network, amount, resource, description) = if version == 2 {
                let network: Network = e.string("network")?.parse().map_err(|x: Error| {
                    Error::new(reason, format!("accepts entry: network: {}", x.message()))
                })?;
                let amount = e.u256("amount")?;
                (
                    Ok(network),
                    amount,
                    resource_url.clone(),
                    description.clone(),
                )
            } else {
                let network = e.string("network")?;
                let amount = e.u256("maxAmountRequired")?;
                let url = e.string("resource")?.to_owned();
                // `description` defaults to "" when absent, but `null` is a type error (serde).
                let desc = match e.obj.get("description") {
                    Ok(Some(v)) => e.str_of("description", v)?.to_owned(),
                    Ok(None) => String::new(),
                    Err(_) => return Err(e.bad("description", "duplicate field")),
                };
                e.opt_string("mimeType")?;
                v1_names.push((scheme.to_owned(), network.to_owned()));
                (Network::from_v1_name(network), amount, url, desc)
            };
            let offer = network
                .and_then(|network| {
                    ExactEvmRequirement::parse(
                        scheme,
                        network,
                        amount,
                        asset,
                        pay_to,
                        max_timeout,
                        &extra_of,
                    )
                })
                .map(|requirement| Offer {
                    index,
                    requirement,
                    resource,
                    description,
                });
            accepts.push(span(&text, entry.raw));
            offers.push(offer);
        }
        Ok(Self {
            version,
            text,
            accepts,
            v1_names,
            resource,
            extensions,
            offers,
        })
    }

    /// The protocol version (1 or 2).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Every entry of `accepts`, parsed as an exact EVM offer or with the reason it is not one.
    pub fn offers(&self) -> &[Result<Offer>] {
        &self.offers
    }

    /// The challenge's JSON text (for v2, the decoded header).
    pub fn json_text(&self) -> &str {
        &self.text
    }

    /// The source text of entry `index` of `accepts`.
    pub fn accepted_text(&self, index: usize) -> Option<&str> {
        self.accepts.get(index).map(|r| &self.text[r.clone()])
    }

    /// Chooses the offer to pay under a policy ([`Policy::select_from`]).
    pub fn select(&self, policy: &Policy) -> Result<Offer> {
        policy.select_from(self.offers.iter().cloned())
    }

    /// The JSON of the payment for entry `index`, as [`crate::client::build_payment`] builds
    /// it, with the challenge's parts copied verbatim.
    pub fn payment_json(
        &self,
        index: usize,
        authorization: &Authorization,
        signature: &[u8],
    ) -> Result<String> {
        let accepted = self.accepted_text(index).ok_or_else(|| {
            Error::new(
                Reason::NoAcceptableRequirement,
                format!("no requirement #{index}"),
            )
        })?;
        let mut out = String::with_capacity(512 + accepted.len());
        if self.version == 2 {
            out.push_str("{\"x402Version\":2");
            if let Some(r) = &self.resource {
                out.push_str(",\"resource\":");
                out.push_str(&self.text[r.clone()]);
            }
            out.push_str(",\"accepted\":");
            out.push_str(accepted);
            out.push_str(",\"payload\":");
            write_payload(&mut out, authorization, signature);
            if let Some(e) = &self.extensions {
                out.push_str(",\"extensions\":");
                out.push_str(&self.text[e.clone()]);
            }
        } else {
            let (scheme, network) = &self.v1_names[index];
            out.push_str("{\"x402Version\":1,");
            write_key(&mut out, "scheme");
            write_str(&mut out, scheme);
            out.push(',');
            write_key(&mut out, "network");
            write_str(&mut out, network);
            out.push_str(",\"payload\":");
            write_payload(&mut out, authorization, signature);
        }
        out.push('}');
        Ok(out)
    }

    /// The payment header value (base64 of [`Challenge::payment_json`]), for
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub fn payment_header(
        &self,
        index: usize,
        authorization: &Authorization,
        signature: &[u8],
    ) -> Result<String> {
        Ok(base64::encode(
            self.payment_json(index, authorization, signature)?
                .as_bytes(),
        ))
    }
}

fn hex_str(out: &mut String, bytes: &[u8]) {
    write_str(out, &alloy_primitives::hex::encode_prefixed(bytes));
}

fn member(out: &mut String, key: &str, value: &str) {
    write_key(out, key);
    write_str(out, value);
}

/// `{"from":…,"to":…,"value":…,"validAfter":…,"validBefore":…,"nonce":…}`.
fn write_authorization(out: &mut String, a: &Authorization) {
    out.push('{');
    member(out, "from", &a.from.to_checksum(None));
    out.push(',');
    member(out, "to", &a.to.to_checksum(None));
    out.push(',');
    member(out, "value", &decimal_u256::format(&a.value));
    out.push(',');
    member(out, "validAfter", &decimal_u256::format(&a.valid_after));
    out.push(',');
    member(out, "validBefore", &decimal_u256::format(&a.valid_before));
    out.push(',');
    write_key(out, "nonce");
    hex_str(out, a.nonce.as_slice());
    out.push('}');
}

/// The exact EVM `payload`: `{"signature":…,"authorization":{…}}`.
fn write_payload(out: &mut String, a: &Authorization, signature: &[u8]) {
    out.push('{');
    write_key(out, "signature");
    hex_str(out, signature);
    out.push_str(",\"authorization\":");
    write_authorization(out, a);
    out.push('}');
}

/// The `eth_signTypedData_v4` JSON for an authorization of an offer: the same value as
/// [`crate::client::typed_data`], written without serde.
pub fn typed_data_text(offer: &ExactEvmRequirement, a: &Authorization) -> String {
    let mut out = String::with_capacity(900);
    out.push_str(concat!(
        "{\"types\":{\"EIP712Domain\":[",
        "{\"name\":\"name\",\"type\":\"string\"},",
        "{\"name\":\"version\",\"type\":\"string\"},",
        "{\"name\":\"chainId\",\"type\":\"uint256\"},",
        "{\"name\":\"verifyingContract\",\"type\":\"address\"}],",
        "\"TransferWithAuthorization\":[",
        "{\"name\":\"from\",\"type\":\"address\"},",
        "{\"name\":\"to\",\"type\":\"address\"},",
        "{\"name\":\"value\",\"type\":\"uint256\"},",
        "{\"name\":\"validAfter\",\"type\":\"uint256\"},",
        "{\"name\":\"validBefore\",\"type\":\"uint256\"},",
        "{\"name\":\"nonce\",\"type\":\"bytes32\"}]},",
        "\"primaryType\":\"TransferWithAuthorization\",\"domain\":{"
    ));
    member(&mut out, "name", &offer.eip712_name);
    out.push(',');
    member(&mut out, "version", &offer.eip712_version);
    out.push_str(",\"chainId\":");
    out.push_str(&offer.chain_id.to_string());
    out.push(',');
    member(
        &mut out,
        "verifyingContract",
        &offer.asset.to_checksum(None),
    );
    out.push_str("},\"message\":");
    write_authorization(&mut out, a);
    out.push('}');
    out
}

/// Checks a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` value and returns its JSON text: an
/// object with a boolean `success` and a string `network`; `transaction`, `errorReason`,
/// `payer` strings when present (error: `invalid_payload`).
pub fn decode_receipt(value: &str) -> Result<String> {
    let reason = Reason::InvalidPayload;
    let text = header_text(value, PAYMENT_RESPONSE, reason)?;
    let root = json::parse(&text).map_err(|e| json_error(PAYMENT_RESPONSE, reason, e))?;
    let f = Fields::new(&root, PAYMENT_RESPONSE, reason)?;
    if !matches!(f.req("success")?.kind, Kind::Bool(_)) {
        return Err(f.bad("success", "expected a boolean"));
    }
    f.string("network")?;
    for key in ["transaction", "errorReason", "errorMessage", "payer"] {
        f.opt_string(key)?;
    }
    if let Some(amount) = f.opt_string("amount")? {
        decimal_u256::parse(amount).map_err(|e| f.bad("amount", e))?;
    }
    drop(root);
    Ok(text)
}
