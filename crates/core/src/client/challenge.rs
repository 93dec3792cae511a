//! The paying side without serde: what the browser bundle links.
//!
//! [`Challenge`] reads a 402 challenge (the v2 `PAYMENT-REQUIRED` header or the v1 JSON body)
//! with the small reader of [`crate::encoding::json`], applies the same rules as the serde wire
//! types ([`crate::wire`]) and the same exact-scheme parsing ([`ExactEvmRequirement`]), and
//! keeps the source text of every requirement, so the payment it writes echoes `accepted` (and
//! the challenge's `resource` and `extensions`) byte for byte. [`typed_data_text`] writes the
//! `eth_signTypedData_v4` JSON the wallet signs, and [`decode_receipt`] checks a
//! `PAYMENT-RESPONSE`. The tests in `crates/core/tests/roundtrip.rs` (and the
//! `challenge_reader` fuzz target) hold every function here to its serde twin, so the two paths
//! cannot drift apart.

use super::offer::Offer;
use super::policy::Policy;
use crate::encoding::base64;
use crate::encoding::decimal_u256;
use crate::encoding::json::{self, write_key, write_str, Kind, Value};
use crate::encoding::text::{cat, dec};
use crate::error::{Code, Error, Reason, Result};
use crate::evm::address::checksummed;
use crate::evm::network::Network;
use crate::scheme::exact::types::{Authorization, ExactEvmRequirement};
use crate::wire::header::{header_text, PAYMENT_REQUIRED, PAYMENT_RESPONSE};
use crate::wire::payment_identifier;
use alloc::{borrow::ToOwned, string::String, vec::Vec};
use core::{cell::Cell, ops::Range};

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
    /// Where a payment writes its `payment-identifier` id ([`id_slot`]).
    id_slot: Option<(usize, bool)>,
    offers: Vec<Result<Offer>>,
}

const MALFORMED: &Code = Reason::MalformedChallenge.code();
const INVALID_PAYLOAD: &Code = Reason::InvalidPayload.code();

/// Where the reader leaves the error that stopped it. The reader's steps return `Option`, so
/// each step that can fail costs a null check rather than the copy of an `Error` out of every
/// frame (most of the reader's size in the browser bundle).
type Sink = Cell<Option<Error>>;

/// Records the error of `reason` whose message is the concatenation of `parts`. One function
/// for every failure of the reader, so the message building is not repeated at each.
#[inline(never)]
fn fail(sink: &Sink, reason: &'static Code, parts: &[&str]) {
    sink.set(Some(Error::coded(reason, cat(parts))));
}

/// The result of a reader step: its value, or the error it recorded.
fn finish<T>(value: Option<T>, sink: Sink, reason: &'static Code) -> Result<T> {
    match (value, sink.into_inner()) {
        (Some(v), _) => Ok(v),
        (None, Some(e)) => Err(e),
        (None, None) => Err(Error::coded(reason, "")),
    }
}

/// Reads the fields of one JSON object, naming the object in every error.
struct Fields<'v, 'a, 's> {
    obj: &'v Value<'a>,
    what: &'static str,
    reason: &'static Code,
    sink: &'s Sink,
}

impl<'v, 'a, 's> Fields<'v, 'a, 's> {
    fn new(
        obj: &'v Value<'a>,
        what: &'static str,
        reason: &'static Code,
        sink: &'s Sink,
    ) -> Option<Self> {
        if !obj.is_object() {
            fail(sink, reason, &[what, ": expected a JSON object"]);
            return None;
        }
        Some(Self {
            obj,
            what,
            reason,
            sink,
        })
    }

    /// Records an error about member `key`.
    fn bad(&self, key: &str, why: &str) {
        fail(self.sink, self.reason, &[self.what, ": ", key, ": ", why])
    }

    /// A member, `Some(None)` when absent.
    fn get(&self, key: &str) -> Option<Option<&'v Value<'a>>> {
        match self.obj.get(key) {
            Ok(v) => Some(v),
            Err(_) => {
                self.bad(key, "duplicate field");
                None
            }
        }
    }

    /// A member that may be absent; `null` counts as absent.
    fn opt(&self, key: &str) -> Option<Option<&'v Value<'a>>> {
        Some(self.get(key)?.filter(|v| !v.is_null()))
    }

    fn req(&self, key: &str) -> Option<&'v Value<'a>> {
        // `null` for a required field is a type error, as in serde.
        match self.get(key)? {
            Some(v) => Some(v),
            None => {
                self.bad(key, "missing field");
                None
            }
        }
    }

    fn str_of(&self, key: &str, v: &'v Value<'a>) -> Option<&'v str> {
        match v.as_str() {
            Some(s) => Some(s),
            None => {
                self.bad(key, "expected a string");
                None
            }
        }
    }

    fn string(&self, key: &str) -> Option<&'v str> {
        self.str_of(key, self.req(key)?)
    }

    fn opt_string(&self, key: &str) -> Option<Option<&'v str>> {
        match self.opt(key)? {
            Some(v) => self.str_of(key, v).map(Some),
            None => Some(None),
        }
    }

    fn u64(&self, key: &str) -> Option<u64> {
        match self.req(key)?.as_u64() {
            Some(n) => Some(n),
            None => {
                self.bad(key, "expected a non-negative integer (u64)");
                None
            }
        }
    }

    fn u256(&self, key: &str) -> Option<alloy_primitives::U256> {
        match decimal_u256::parse(self.string(key)?) {
            Ok(v) => Some(v),
            Err(e) => {
                self.bad(key, e);
                None
            }
        }
    }

    fn opt_object(&self, key: &str) -> Option<Option<&'v Value<'a>>> {
        match self.opt(key)? {
            Some(v) if !v.is_object() => {
                self.bad(key, "expected a JSON object");
                None
            }
            other => Some(other),
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

/// Parses a JSON text, naming it in the error.
fn parse_json<'a>(
    text: &'a str,
    what: &str,
    reason: &'static Code,
    sink: &Sink,
) -> Option<Value<'a>> {
    match json::parse(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let offset = dec(e.offset as u64);
            fail(
                sink,
                reason,
                &[what, ": invalid JSON: ", e.what, " at byte ", &offset],
            );
            None
        }
    }
}

/// The `x402Version` check of [`crate::wire::header`]: the number first, before any other field.
fn check_version(root: &Value<'_>, what: &str, expected: u64, sink: &Sink) -> Option<()> {
    let code = Reason::InvalidX402Version.code();
    let found = match root.get("x402Version") {
        Ok(Some(v)) if v.as_u64() == Some(expected) => return Some(()),
        Ok(found) => found,
        Err(_) => {
            fail(sink, code, &[what, ": duplicate x402Version"]);
            return None;
        }
    };
    let expected = dec(expected);
    match found {
        Some(v) => fail(
            sink,
            code,
            &[what, ": x402Version ", v.raw, ", expected ", &expected],
        ),
        None => fail(
            sink,
            code,
            &[what, ": missing x402Version (expected ", &expected, ")"],
        ),
    }
    None
}

fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

/// Where a payment writes its `payment-identifier` id: the offset of the closing brace of the
/// declared extension's `info` object, and whether a comma goes first. `None` when the
/// challenge declares no such extension, or when its `info` already names an id (echoed then).
fn id_slot(text: &str, extensions: &Value<'_>) -> Option<(usize, bool)> {
    let info = extensions
        .get(payment_identifier::KEY)
        .ok()??
        .get("info")
        .ok()??;
    let Kind::Object(members) = &info.kind else {
        return None;
    };
    if members.iter().any(|(k, _)| k == "id") {
        return None;
    }
    Some((span(text, info.raw).end - 1, !members.is_empty()))
}

impl Challenge {
    /// Appends `,"extensions":…` (v2, when the challenge has extensions): echoed verbatim, but a
    /// declared `payment-identifier` gets this purchase's id ([`payment_identifier::push_id`]
    /// of `seed`, which is the same for every resend of one payment) at the end of its `info`
    /// (as `build_payment` writes it).
    pub(crate) fn write_extensions(&self, out: &mut String, seed: &[u8; 32]) {
        let Some(e) = &self.extensions else {
            return;
        };
        out.push_str(",\"extensions\":");
        match self.id_slot {
            Some((at, comma)) => {
                out.push_str(&self.text[e.start..at]);
                out.push_str(if comma { ",\"id\":\"" } else { "\"id\":\"" });
                payment_identifier::push_id(out, seed);
                out.push('"');
                out.push_str(&self.text[at..e.end]);
            }
            None => out.push_str(&self.text[e.clone()]),
        }
    }

    /// Reads a `PAYMENT-REQUIRED` header value (v2). Errors: `malformed_challenge`, or
    /// `invalid_x402_version` when it is not v2.
    pub fn from_header(value: &str) -> Result<Self> {
        let text = header_text(value, PAYMENT_REQUIRED, MALFORMED)?;
        Self::parse(text, 2, PAYMENT_REQUIRED)
    }

    /// Reads the JSON body of a v1 402 response. Errors as [`Challenge::from_header`].
    pub fn from_v1_body(body: &str) -> Result<Self> {
        Self::parse(body.to_owned(), 1, "402 body")
    }

    fn parse(text: String, version: u8, what: &'static str) -> Result<Self> {
        let sink = Sink::new(None);
        let challenge = Self::read(text, version, what, &sink);
        finish(challenge, sink, MALFORMED)
    }

    fn read(text: String, version: u8, what: &'static str, sink: &Sink) -> Option<Self> {
        let reason = MALFORMED;
        let root = parse_json(&text, what, reason, sink)?;
        check_version(&root, what, version.into(), sink)?;
        let f = Fields::new(&root, what, reason, sink)?;
        f.opt_string("error")?;
        let mut resource_url = String::new();
        let mut description = String::new();
        let mut resource = None;
        let mut extensions = None;
        let mut id_slot = None;
        if version == 2 {
            let r = f.req("resource")?;
            let rf = Fields::new(r, "resource", reason, sink)?;
            resource_url = rf.string("url")?.to_owned();
            if resource_url.is_empty() {
                rf.bad("url", "must not be empty");
                return None;
            }
            description = rf.opt_string("description")?.unwrap_or("").to_owned();
            rf.opt_string("mimeType")?;
            resource = Some(span(&text, r.raw));
            let e = f.opt_object("extensions")?;
            extensions = e.map(|e| span(&text, e.raw));
            id_slot = e.and_then(|e| self::id_slot(&text, e));
        }
        let Some(entries) = f.req("accepts")?.as_array() else {
            f.bad("accepts", "expected an array");
            return None;
        };
        if entries.is_empty() {
            f.bad(
                "accepts",
                "accepts must list at least one payment requirement",
            );
            return None;
        }
        let mut accepts = Vec::with_capacity(entries.len());
        let mut v1_names = Vec::new();
        let mut offers = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let e = Fields::new(entry, "accepts entry", reason, sink)?;
            let scheme = e.string("scheme")?;
            let asset = e.string("asset")?;
            let pay_to = e.string("payTo")?;
            let max_timeout = e.u64("maxTimeoutSeconds")?;
            let extra = e.opt_object("extra")?;
            let extra_of = |key: &str| extra_text(extra, key);
            // The wire-level fields of each version, then the scheme's own parsing (shared with
            // the serde path), whose failure makes this entry unpayable, not the challenge invalid.
            let (network, amount, resource, description) = if version == 2 {
                let network = match e.string("network")?.parse::<Network>() {
                    Ok(n) => n,
                    Err(x) => {
                        fail(sink, reason, &["accepts entry: network: ", x.message()]);
                        return None;
                    }
                };
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
                let desc = match e.get("description")? {
                    Some(v) => e.str_of("description", v)?.to_owned(),
                    None => String::new(),
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
                    authorization_flow: crate::client::offer::authorization_flow(&extra_of),
                });
            accepts.push(span(&text, entry.raw));
            offers.push(offer);
        }
        drop(root);
        Some(Self {
            version,
            text,
            accepts,
            v1_names,
            resource,
            extensions,
            id_slot,
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
        policy.select_in(&self.offers)
    }

    /// The JSON of the payment for entry `index`, as [`crate::scheme::exact::build_payment`] builds
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
                cat(&["no requirement #", &dec(index as u64)]),
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
            self.write_extensions(&mut out, &authorization.nonce.0);
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

/// `"0x…"`: lower-case hex needs no escaping.
fn hex_str(out: &mut String, bytes: &[u8]) {
    out.push_str("\"0x");
    crate::encoding::hex::push_hex(out, bytes);
    out.push('"');
}

fn member(out: &mut String, key: &str, value: &str) {
    write_key(out, key);
    write_str(out, value);
}

/// `{"from":…,"to":…,"value":…,"validAfter":…,"validBefore":…,"nonce":…}`.
fn write_authorization(out: &mut String, a: &Authorization) {
    out.push('{');
    member(out, "from", &checksummed(&a.from));
    out.push(',');
    member(out, "to", &checksummed(&a.to));
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
/// [`crate::scheme::exact::typed_data`], written without serde.
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
    out.push_str(&dec(offer.chain_id));
    out.push(',');
    member(&mut out, "verifyingContract", &checksummed(&offer.asset));
    out.push_str("},\"message\":");
    write_authorization(&mut out, a);
    out.push('}');
    out
}

/// Checks a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` value and returns its JSON text: an
/// object with a boolean `success` and a string `network`; `transaction`, `errorReason`,
/// `payer` strings when present; `amount` a decimal integer string or `""` (error:
/// `invalid_payload`).
pub fn decode_receipt(value: &str) -> Result<String> {
    let reason = INVALID_PAYLOAD;
    let text = header_text(value, PAYMENT_RESPONSE, reason)?;
    let sink = Sink::new(None);
    let checked = check_receipt(&text, &sink);
    finish(checked, sink, reason).map(|()| text)
}

fn check_receipt(text: &str, sink: &Sink) -> Option<()> {
    let reason = INVALID_PAYLOAD;
    let root = parse_json(text, PAYMENT_RESPONSE, reason, sink)?;
    let f = Fields::new(&root, PAYMENT_RESPONSE, reason, sink)?;
    if !matches!(f.req("success")?.kind, Kind::Bool(_)) {
        f.bad("success", "expected a boolean");
        return None;
    }
    f.string("network")?;
    for key in ["transaction", "errorReason", "errorMessage", "payer"] {
        f.opt_string(key)?;
    }
    // `""`: a batch-settlement voucher answer, which moves no tokens (x402
    // `scheme_batch_settlement_evm.md`, the resource server's voucher response).
    if f.opt("amount")?.is_some_and(|v| v.as_str() != Some("")) {
        f.u256("amount")?;
    }
    Some(())
}
