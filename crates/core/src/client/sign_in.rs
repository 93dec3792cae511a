//! Signing in with a wallet to restore a purchase (the client side of the `sign-in-with-x`
//! extension, x402-foundation/x402 `specs/extensions/sign-in-with-x.md`): from a 402 that offers
//! a challenge, the EIP-4361 message the wallet signs (`personal_sign`) and then the
//! `SIGN-IN-WITH-X` header value. Serde-free, like the rest of the paying path, so the browser
//! builds link no serde code.
//!
//! A challenge is used only when it is bound to the origin the request went to (its `domain` is
//! that origin's host and its `uri` is on that origin), as the reference client checks: a page on
//! one site cannot have the reader sign a sign-in for another.

use super::challenge::Challenge;
use super::fields::{obj, string, Obj};
use crate::encoding::base64;
use crate::encoding::json::{self, write_key, write_str};
use crate::encoding::text::cat;
use crate::error::{Error, Reason, Result};
use crate::evm::address::checksummed;
use crate::wire::siwx::{self, SignIn};
use alloc::{string::String, vec::Vec};
use alloy_primitives::Address;

/// A sign-in waiting for the wallet's signature: the message to sign and the fields the header
/// carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRequest {
    fields: SignIn,
    message: String,
}

fn invalid(reason: Reason, message: impl Into<String>) -> Error {
    Error::new(reason, message)
}

/// A malformed challenge: `invalid_siwx_payload`.
fn bad(message: &str) -> Error {
    invalid(
        Reason::InvalidSiwxPayload,
        cat(&["sign-in challenge: ", message]),
    )
}

/// A string member of a challenge object, if present (`null` counts as absent); an error when
/// it is not a string or given twice.
fn text(o: &Obj<'_, '_>, key: &str) -> Result<Option<String>> {
    o.opt(key)
        .and_then(|v| v.map(|v| string(v, key).map(String::from)).transpose())
        .map_err(|m| bad(&m))
}

fn required(o: &Obj<'_, '_>, key: &str) -> Result<String> {
    text(o, key)?.ok_or_else(|| bad(&cat(&["missing field ", key])))
}

impl SignInRequest {
    /// The sign-in a 402 offers, for `address` at `origin` (the request's origin as a URL
    /// parser writes it: `https://news.example`, `http://127.0.0.1:8787`). `chain`: the
    /// wallet's chain id, preferred when the challenge supports it; otherwise the first
    /// supported EVM chain that one of the 402's offers pays on, else the first supported EVM
    /// chain. `Ok(None)` when the 402 offers no sign-in; an error (`invalid_siwx_*`) when it
    /// offers one that cannot be used (not bound to `origin`, no EVM chain, malformed).
    pub fn from_challenge(
        challenge: &Challenge,
        origin: &str,
        address: Address,
        chain: Option<u64>,
    ) -> Result<Option<Self>> {
        let root = json::parse(challenge.json_text())
            .map_err(|_| invalid(Reason::MalformedChallenge, "the challenge is not JSON"))?;
        let Ok(Some(ext)) = root
            .get("extensions")
            .ok()
            .flatten()
            .map_or(Ok(None), |e| e.get(siwx::KEY))
        else {
            return Ok(None);
        };
        if ext.is_null() {
            return Ok(None);
        }
        let info = match ext.get("info") {
            Ok(Some(i)) => obj(i, "info").map_err(|m| bad(&m))?,
            _ => return Err(bad("no info object")),
        };
        let domain = required(&info, "domain")?;
        let uri = required(&info, "uri")?;
        // Bound to the origin the request went to (the reference client's rule).
        let host = siwx::http_scheme(origin).map_or("", |(_, h)| h);
        if domain != host {
            return Err(invalid(
                Reason::InvalidSiwxDomainMismatch,
                cat(&["the sign-in is for ", &domain, ", the page is on ", host]),
            ));
        }
        if siwx::uri_origin(&uri) != Some(origin) {
            return Err(invalid(
                Reason::InvalidSiwxUriMismatch,
                cat(&["the sign-in's uri ", &uri, " is not on ", origin]),
            ));
        }
        // The supported EVM chains that take an EIP-191 signature.
        let mut chains: Vec<(String, u64)> = Vec::new();
        if let Ok(Some(list)) = ext.get("supportedChains") {
            for c in list.as_array().unwrap_or_default() {
                // An entry that is not an object names no chain.
                let Ok(c) = obj(c, "supportedChains[]") else {
                    continue;
                };
                let (Some(id), kind) = (text(&c, "chainId")?, text(&c, "type")?) else {
                    continue;
                };
                if kind.as_deref().is_some_and(|k| k != "eip191") {
                    continue;
                }
                if let Ok(n) = siwx::evm_chain_id(&id) {
                    chains.push((id, n));
                }
            }
        }
        let paid_on = |id: &str| {
            challenge.offers().iter().any(|o| {
                o.as_ref()
                    .is_ok_and(|o| o.requirement.network.as_str() == id)
            })
        };
        let chosen = chain
            .and_then(|want| chains.iter().find(|(_, n)| *n == want))
            .or_else(|| chains.iter().find(|(id, _)| paid_on(id)))
            .or_else(|| chains.first())
            .ok_or_else(|| {
                invalid(
                    Reason::InvalidSiwxUnsupportedChain,
                    "the sign-in supports no EVM chain with EIP-191 signatures",
                )
            })?;
        let resources = match info.opt("resources").map_err(|m| bad(&m))? {
            Some(r) => {
                let items = r.as_array().ok_or_else(|| bad("resources is not a list"))?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(String::from(
                        string(item, "resources[]").map_err(|m| bad(&m))?,
                    ));
                }
                Some(out)
            }
            None => None,
        };
        let fields = SignIn {
            domain,
            address: checksummed(&address),
            statement: text(&info, "statement")?,
            uri,
            version: text(&info, "version")?.unwrap_or_else(|| "1".into()),
            chain_id: chosen.0.clone(),
            kind: "eip191".into(),
            nonce: required(&info, "nonce")?,
            issued_at: required(&info, "issuedAt")?,
            expiration_time: text(&info, "expirationTime")?,
            not_before: text(&info, "notBefore")?,
            request_id: text(&info, "requestId")?,
            resources,
            signature_scheme: text(&info, "signatureScheme")?,
            signature: String::new(),
        };
        // A line break in a field would let the challenge write other lines of the message.
        let one_line = [
            Some(&fields.domain),
            Some(&fields.uri),
            Some(&fields.version),
            Some(&fields.nonce),
            Some(&fields.issued_at),
            fields.expiration_time.as_ref(),
            fields.not_before.as_ref(),
            fields.request_id.as_ref(),
            fields.statement.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(fields.resources.iter().flatten())
        .all(|s| !s.contains(['\n', '\r']));
        if !one_line {
            return Err(invalid(
                Reason::InvalidSiwxPayload,
                "sign-in challenge: a field spans lines",
            ));
        }
        let message = siwx::message(&fields)?;
        Ok(Some(SignInRequest { fields, message }))
    }

    /// The EIP-4361 text the wallet signs with `personal_sign`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The chain the sign-in names (CAIP-2).
    pub fn chain(&self) -> &str {
        &self.fields.chain_id
    }

    /// The `SIGN-IN-WITH-X` header value with the wallet's `signature` (0x-prefixed hex): the
    /// fields as base64 JSON, written as the reference writes them (`JSON.stringify` of the
    /// payload, absent fields left out).
    pub fn header(&self, signature: &str) -> Result<String> {
        let hex_ok = signature.len() > 2
            && signature.starts_with("0x")
            && signature.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
        if !hex_ok {
            return Err(invalid(
                Reason::InvalidSiwxMalformedSignature,
                "the wallet's signature is not 0x-prefixed hex",
            ));
        }
        let f = &self.fields;
        let mut out = String::from("{");
        put(&mut out, "domain", Some(f.domain.as_str()));
        put(&mut out, "address", Some(f.address.as_str()));
        put(&mut out, "statement", f.statement.as_deref());
        put(&mut out, "uri", Some(f.uri.as_str()));
        put(&mut out, "version", Some(f.version.as_str()));
        put(&mut out, "chainId", Some(f.chain_id.as_str()));
        put(&mut out, "type", Some(f.kind.as_str()));
        put(&mut out, "nonce", Some(f.nonce.as_str()));
        put(&mut out, "issuedAt", Some(f.issued_at.as_str()));
        put(&mut out, "expirationTime", f.expiration_time.as_deref());
        put(&mut out, "notBefore", f.not_before.as_deref());
        put(&mut out, "requestId", f.request_id.as_deref());
        if let Some(resources) = &f.resources {
            out.push_str(",\"resources\":[");
            for (i, r) in resources.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(&mut out, r);
            }
            out.push(']');
        }
        put(&mut out, "signatureScheme", f.signature_scheme.as_deref());
        put(&mut out, "signature", Some(signature));
        out.push('}');
        Ok(base64::encode(out.as_bytes()))
    }
}

/// Appends `,"key":"value"` (no comma after `{`) when there is a value.
fn put(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        if out.len() > 1 {
            out.push(',');
        }
        write_key(out, key);
        write_str(out, v);
    }
}

#[cfg(all(test, feature = "local-signer"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::encoding::hex;
    use crate::evm::signer::LocalSigner;
    use serde_json::{json, Value as Json};

    const ORIGIN: &str = "https://paper.example";

    fn challenge(ext: Json) -> Challenge {
        let mut body = json!({
            "x402Version": 2,
            "resource": {"url": "https://paper.example/paid/one.html"},
            "accepts": [{
                "scheme": "exact", "network": "eip155:84532", "amount": "10000",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                "maxTimeoutSeconds": 60,
                "extra": {"name": "USDC", "version": "2"}
            }],
            "extensions": {"sign-in-with-x": ext}
        });
        if ext_absent(&body) {
            body["extensions"] = json!({"other": {}});
        }
        Challenge::from_header(&base64::encode(body.to_string().as_bytes())).unwrap()
    }

    /// `challenge(json!("absent"))`: a 402 whose extensions do not include a sign-in.
    fn ext_absent(body: &Json) -> bool {
        body["extensions"]["sign-in-with-x"] == json!("absent")
    }

    fn offered() -> Json {
        json!({
            "info": {
                "domain": "paper.example", "uri": "https://paper.example/paid/one.html",
                "version": "1", "nonce": "0123456789abcdef0123456789abcdef",
                "issuedAt": "2026-12-06T05:00:00.000Z", "expirationTime": "2026-12-06T05:05:00.000Z",
                "statement": "Restore your purchase.",
                "resources": ["https://paper.example/paid/one.html"]
            },
            "supportedChains": [
                {"chainId": "eip155:8453", "type": "eip191"},
                {"chainId": "eip155:84532", "type": "eip191"}
            ]
        })
    }

    fn signer() -> LocalSigner {
        LocalSigner::from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
            .unwrap()
    }

    fn sign(req: &SignInRequest, s: &LocalSigner) -> String {
        let sig = s
            .sign_hash(&siwx::personal_sign_digest(req.message()))
            .unwrap();
        hex::prefixed(&sig.to_bytes())
    }

    #[test]
    fn a_signed_request_passes_the_servers_checks() {
        let s = signer();
        let c = challenge(offered());
        let req = SignInRequest::from_challenge(&c, ORIGIN, s.address(), None)
            .unwrap()
            .unwrap();
        // No wallet chain: the chain the offer pays on.
        assert_eq!(req.chain(), "eip155:84532");
        let header = req.header(&sign(&req, &s)).unwrap();
        let got = siwx::decode(&header).unwrap();
        assert_eq!(siwx::message(&got).unwrap(), req.message());
        assert_eq!(
            siwx::verify_signature(&got).unwrap(),
            siwx::SignedBy::Key(s.address())
        );
        assert_eq!(got.nonce, "0123456789abcdef0123456789abcdef");
        assert_eq!(got.statement.as_deref(), Some("Restore your purchase."));
        // The same bytes as serde writes for the decoded fields (as JSON.stringify would).
        assert_eq!(header, siwx::encode(&got));
    }

    #[test]
    fn the_wallets_chain_is_preferred_when_supported() {
        let s = signer();
        let c = challenge(offered());
        let on = |chain| {
            SignInRequest::from_challenge(&c, ORIGIN, s.address(), Some(chain))
                .unwrap()
                .unwrap()
                .chain()
                .to_string()
        };
        assert_eq!(on(8453), "eip155:8453");
        assert_eq!(on(1), "eip155:84532");
        assert!(on(8453) != on(84532));
    }

    #[test]
    fn no_extension_is_none_and_bad_ones_are_refused() {
        let s = signer().address();
        // A 402 without the extension, and one whose extension is null.
        for plain in [challenge(json!("absent")), challenge(Json::Null)] {
            assert_eq!(
                SignInRequest::from_challenge(&plain, ORIGIN, s, None).unwrap(),
                None
            );
        }
        let refused = |ext: Json, origin: &str| {
            SignInRequest::from_challenge(&challenge(ext), origin, s, None)
                .unwrap_err()
                .reason()
        };
        // Another site's challenge, on this page.
        assert_eq!(
            refused(offered(), "https://evil.example"),
            Reason::InvalidSiwxDomainMismatch
        );
        let mut e = offered();
        e["info"]["uri"] = json!("https://evil.example/paid/one.html");
        assert_eq!(refused(e, ORIGIN), Reason::InvalidSiwxUriMismatch);
        let mut e = offered();
        e["supportedChains"] =
            json!([{"chainId": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "type": "ed25519"}]);
        assert_eq!(refused(e, ORIGIN), Reason::InvalidSiwxUnsupportedChain);
        let mut e = offered();
        e["info"]["nonce"] = json!(7);
        assert_eq!(refused(e, ORIGIN), Reason::InvalidSiwxPayload);
        let mut e = offered();
        e["info"]["statement"] = json!("ok\nURI: https://evil.example/");
        assert_eq!(refused(e, ORIGIN), Reason::InvalidSiwxPayload);
        let mut e = offered();
        e["info"].as_object_mut().unwrap().remove("issuedAt");
        assert_eq!(refused(e, ORIGIN), Reason::InvalidSiwxPayload);
        assert_eq!(
            refused(json!({"info": 3}), ORIGIN),
            Reason::InvalidSiwxPayload
        );
    }

    #[test]
    fn a_signature_that_is_not_hex_is_refused() {
        let s = signer();
        let req = SignInRequest::from_challenge(&challenge(offered()), ORIGIN, s.address(), None)
            .unwrap()
            .unwrap();
        for bad in ["", "0x", "abcd", "0xzz"] {
            assert_eq!(
                req.header(bad).unwrap_err().reason(),
                Reason::InvalidSiwxMalformedSignature
            );
        }
    }
}
