//! The `offer-receipt` extension (x402-foundation/x402
//! `specs/extensions/extension-offer-and-receipt.md`; reference implementation
//! `@x402/extensions` 2.27, `@x402/extensions/offer-receipt`): the resource server signs the
//! terms of each `accepts[]` entry (an *offer*) and, after a successful settlement, a statement
//! that the payer paid for the resource (a *receipt*). Both are portable evidence, independent
//! of the x402 version.
//!
//! What the reference builds (`createOfferReceiptExtension(issuer)`):
//!
//! - in a 402, `extensions["offer-receipt"] = {"info": {"offers": [offer, …]}, "schema":`
//!   [`offer_schema`]`}`: one offer per `accepts[]` entry, in order, each with
//!   `acceptIndex: i` (unsigned) and `validUntil = now + (offerValiditySeconds ??
//!   maxTimeoutSeconds)`; `resourceUrl` is `resource.url`. An entry it fails to sign is left
//!   out; with no offer at all there is no extension.
//! - in the settlement response (`PAYMENT-RESPONSE`), on success only and only with a payer and
//!   a network, `extensions["offer-receipt"] = {"info": {"receipt": receipt}, "schema":`
//!   [`receipt_schema`]`}`; `transaction` is the hash only when the route declares
//!   `includeTxHash: true`, else `""` (privacy-minimal).
//! - an artifact (offer or receipt) is `{format: "eip712", acceptIndex?, payload, signature}`
//!   (EIP-712, signature `0x` and 65 bytes `r ‖ s ‖ v`) or `{format: "jws", acceptIndex?,
//!   signature}` (a JWS compact string carrying the JCS payload, no `payload` field).
//!
//! The reference verifies an EIP-712 artifact with `verifyOfferSignatureEIP712(offer)` /
//! `verifyReceiptSignatureEIP712(receipt)` (viem's `recoverTypedDataAddress` over
//! `hashOfferTypedData` / `hashReceiptTypedData`), which return `{signer, payload}`: they
//! recover the signer and do not decide whether it may sign for `resourceUrl`.
//!
//! How the signing key is published: the EIP-712 artifact names no key, the signer is recovered
//! from the signature, and spec §4.5.1 "Signer Authorization" leaves the binding to the
//! verifier: the signer is the `payTo` address (simplest; a dedicated key is recommended), or
//! a key listed in a `did:web` DID document at `https://<resourceUrl host>/.well-known/did.json`,
//! or a DNS TXT record at `_controllers.<domain>` (`v=1;controller=did:pkh:eip155:1:<address>`),
//! or an external registry. For JWS the header's `kid` is a DID URL; the reference resolves
//! `did:key`, `did:jwk` and `did:web:<host>[:path]` (fetching `https://<host>/.well-known/did.json`,
//! or `https://<host>/<path>/did.json`; `http` for `localhost`/`127.0.0.1`) and takes the
//! verification method named by the `kid` fragment (else the first `assertionMethod`,
//! `authentication`, then `verificationMethod`), as `publicKeyJwk` or `publicKeyMultibase`. The
//! reference's client helpers verify neither signatures nor authorization.
//!
//! This module: the wire shapes ([`SignedOffer`], [`SignedReceipt`], [`OffersExtension`],
//! [`ReceiptExtension`]), the EIP-712 digests ([`offer_signing_hash`],
//! [`receipt_signing_hash`]), signing with a local key (feature `local-signer`), signer recovery
//! (feature `verify`), the server's extension values ([`offers_extension`],
//! [`receipt_extension`]) and the client's matching of offers to `accepts[]` ([`match_offer`]).
//! JWS artifacts are read (their payload, unverified) but not verified here. Differences from
//! the reference, all stricter: payloads with unknown fields, integers above 2^53 − 1 (not exact
//! in JavaScript), a `version` other than 1 at verification, and high-s signatures are refused.

use super::fields::JsonMap;
use super::v2::PaymentRequirements;
#[cfg(feature = "verify")]
use crate::encoding::hex;
use crate::encoding::{base64, decimal_u256};
use crate::error::{Error, Reason, Result};
use crate::evm::network::Network;
#[cfg(feature = "verify")]
use crate::evm::signature::Signature;
#[cfg(feature = "local-signer")]
use crate::evm::signer::LocalSigner;
use alloc::{format, string::String, vec::Vec};
#[cfg(feature = "verify")]
use alloy_primitives::Address;
use alloy_primitives::{b256, B256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The extension's key in `extensions`.
pub const KEY: &str = "offer-receipt";
/// The payload `version` this module signs and verifies (spec §4.2, §5.2).
pub const VERSION: u64 = 1;
/// The largest integer a payload or `acceptIndex` may hold: `Number.MAX_SAFE_INTEGER`, so that a
/// JavaScript verifier reads the same number that was signed.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The EIP-712 domain of offers: `{name: "x402 offer", version: "1", chainId: 1}` (spec §3.2;
/// no `verifyingContract`: the signature is off-chain evidence, whatever the payment network).
pub const OFFER_DOMAIN: Eip712Domain = alloy_sol_types::eip712_domain! {
    name: "x402 offer",
    version: "1",
    chain_id: 1,
};
/// The EIP-712 domain of receipts: `{name: "x402 receipt", version: "1", chainId: 1}`.
pub const RECEIPT_DOMAIN: Eip712Domain = alloy_sol_types::eip712_domain! {
    name: "x402 receipt",
    version: "1",
    chain_id: 1,
};
/// The separator of [`OFFER_DOMAIN`] (checked against alloy's runtime value in a test).
pub const OFFER_DOMAIN_SEPARATOR: B256 =
    b256!("5dc92544087ab60aa57c539b9543f9282416b0dcf2c2ae0d4d0051052a9e61b6");
/// The separator of [`RECEIPT_DOMAIN`].
pub const RECEIPT_DOMAIN_SEPARATOR: B256 =
    b256!("fd7f8c81cdd24b25c99ba22e191cee41d8809abbc12e8fdbd42fddfa5bb9e406");
/// `keccak256("Offer(uint256 version,string resourceUrl,string scheme,string network,string asset,string payTo,string amount,uint256 validUntil)")`.
pub const OFFER_TYPEHASH: B256 =
    b256!("85143d3249b5e62ed5edd3d59a352d4e1181c775ff4f762f9c8a617f6bf1e97d");
/// `keccak256("Receipt(uint256 version,string network,string resourceUrl,string payer,uint256 issuedAt,string transaction)")`.
pub const RECEIPT_TYPEHASH: B256 =
    b256!("616944bc4bb51b3d5fcbba8c559f76d57a93ac1e0d6659f1abbe95f92300c06f");

alloy_sol_types::sol! {
    /// The EIP-712 `Offer` type (spec §4.3, normative; never sent on the wire).
    #[derive(Debug, PartialEq, Eq)]
    struct Offer {
        uint256 version;
        string resourceUrl;
        string scheme;
        string network;
        string asset;
        string payTo;
        string amount;
        uint256 validUntil;
    }

    /// The EIP-712 `Receipt` type (spec §5.3, normative; never sent on the wire).
    #[derive(Debug, PartialEq, Eq)]
    struct Receipt {
        uint256 version;
        string network;
        string resourceUrl;
        string payer;
        uint256 issuedAt;
        string transaction;
    }
}

/// An integer a JavaScript number holds exactly.
fn safe_integer<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v > MAX_SAFE_INTEGER {
        return Err(de::Error::custom(
            "integer above 2^53 - 1 (not exact in JavaScript)",
        ));
    }
    Ok(v)
}

/// [`safe_integer`], or `null`.
fn optional_safe_integer<'de, D: Deserializer<'de>>(
    d: D,
) -> core::result::Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        Some(v) if v > MAX_SAFE_INTEGER => Err(de::Error::custom(
            "integer above 2^53 - 1 (not exact in JavaScript)",
        )),
        v => Ok(v),
    }
}

/// The signed terms of one `accepts[]` entry (spec §4.2), fields in the reference's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferPayload {
    /// Payload schema version, [`VERSION`].
    #[serde(deserialize_with = "safe_integer")]
    pub version: u64,
    /// The paid resource's URL.
    pub resource_url: String,
    /// Payment scheme (`exact`, …).
    pub scheme: String,
    /// CAIP-2 network (`eip155:8453`), also for x402 v1.
    pub network: String,
    /// Token contract address (or `native`), as in `accepts[]`.
    pub asset: String,
    /// Recipient, as in `accepts[]`.
    pub pay_to: String,
    /// Atomic amount, a decimal string as in `accepts[]` (v1: `maxAmountRequired`).
    pub amount: String,
    /// Unix seconds after which the server may refuse the offer; 0 for none (an absent field
    /// reads as 0, spec §4.3).
    #[serde(default, deserialize_with = "safe_integer")]
    pub valid_until: u64,
}

/// The signed statement of a settled payment (spec §5.2), fields in the reference's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptPayload {
    /// Payload schema version, [`VERSION`].
    #[serde(deserialize_with = "safe_integer")]
    pub version: u64,
    /// CAIP-2 network of the payment.
    pub network: String,
    /// The paid resource's URL.
    pub resource_url: String,
    /// The payer (an address).
    pub payer: String,
    /// Unix seconds the receipt was issued.
    #[serde(deserialize_with = "safe_integer")]
    pub issued_at: u64,
    /// The settlement's transaction hash, or `""` (the default; an absent field reads as `""`,
    /// spec §5.3).
    #[serde(default)]
    pub transaction: String,
}

impl OfferPayload {
    /// Whether the offer has expired at `now` (unix seconds): `validUntil` is set and past.
    pub fn is_expired(&self, now: u64) -> bool {
        self.valid_until != 0 && now > self.valid_until
    }

    /// The `sol!` struct hashed for EIP-712.
    pub fn typed(&self) -> Offer {
        Offer {
            version: U256::from(self.version),
            resourceUrl: self.resource_url.clone(),
            scheme: self.scheme.clone(),
            network: self.network.clone(),
            asset: self.asset.clone(),
            payTo: self.pay_to.clone(),
            amount: self.amount.clone(),
            validUntil: U256::from(self.valid_until),
        }
    }
}

impl ReceiptPayload {
    /// The `sol!` struct hashed for EIP-712.
    pub fn typed(&self) -> Receipt {
        Receipt {
            version: U256::from(self.version),
            network: self.network.clone(),
            resourceUrl: self.resource_url.clone(),
            payer: self.payer.clone(),
            issuedAt: U256::from(self.issued_at),
            transaction: self.transaction.clone(),
        }
    }
}

/// The digest an offer's EIP-712 signature signs: `keccak256(0x1901 ‖ separator(OFFER_DOMAIN) ‖
/// hashStruct(Offer))` (the reference's `hashOfferTypedData`).
pub fn offer_signing_hash(payload: &OfferPayload) -> B256 {
    payload.typed().eip712_signing_hash(&OFFER_DOMAIN)
}

/// The digest a receipt's EIP-712 signature signs (the reference's `hashReceiptTypedData`).
pub fn receipt_signing_hash(payload: &ReceiptPayload) -> B256 {
    payload.typed().eip712_signing_hash(&RECEIPT_DOMAIN)
}

/// What an artifact's payload is: [`OfferPayload`] or [`ReceiptPayload`].
pub trait Payload: Serialize + DeserializeOwned + Clone + PartialEq {
    /// `"offer"` or `"receipt"`, for messages.
    const KIND: &'static str;
    /// The reason of a malformed artifact of this kind.
    const REASON: Reason;
    /// Whether the artifact may carry `acceptIndex` (offers only).
    const ACCEPT_INDEX: bool;
    /// The payload's `version`.
    fn version(&self) -> u64;
    /// Its EIP-712 signing digest.
    fn signing_hash(&self) -> B256;
    /// The integers that must stay at most [`MAX_SAFE_INTEGER`].
    fn integers(&self) -> [u64; 2];
}

impl Payload for OfferPayload {
    const KIND: &'static str = "offer";
    const REASON: Reason = Reason::InvalidSignedOffer;
    const ACCEPT_INDEX: bool = true;
    fn version(&self) -> u64 {
        self.version
    }
    fn signing_hash(&self) -> B256 {
        offer_signing_hash(self)
    }
    fn integers(&self) -> [u64; 2] {
        [self.version, self.valid_until]
    }
}

impl Payload for ReceiptPayload {
    const KIND: &'static str = "receipt";
    const REASON: Reason = Reason::InvalidSignedReceipt;
    const ACCEPT_INDEX: bool = false;
    fn version(&self) -> u64 {
        self.version
    }
    fn signing_hash(&self) -> B256 {
        receipt_signing_hash(self)
    }
    fn integers(&self) -> [u64; 2] {
        [self.version, self.issued_at]
    }
}

/// How an artifact is signed (spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// EIP-712 typed data; the artifact carries the payload.
    #[serde(rename = "eip712")]
    Eip712,
    /// A JWS compact string in `signature`, which carries the payload.
    #[serde(rename = "jws")]
    Jws,
}

/// A signed offer or receipt (spec §3.1): `{format, acceptIndex?, payload?, signature}`.
///
/// Deserializing checks the shape: an `eip712` artifact has a payload, a `jws` one has none,
/// only offers carry `acceptIndex`, and no other field is present. The signature is checked
/// when it is verified ([`recover_signer`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact<P> {
    /// `eip712` or `jws`.
    pub format: Format,
    /// Index of the `accepts[]` entry (offers only; unsigned, a hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_index: Option<u64>,
    /// The signed payload (`eip712` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    /// `0x` and 65 bytes of hex (`eip712`), or the JWS compact string.
    pub signature: String,
}

/// A signed offer (an entry of `info.offers`).
pub type SignedOffer = Artifact<OfferPayload>;
/// A signed receipt (`info.receipt`).
pub type SignedReceipt = Artifact<ReceiptPayload>;

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de>")
)]
struct RawArtifact<P> {
    format: Format,
    #[serde(default, deserialize_with = "optional_safe_integer")]
    accept_index: Option<u64>,
    #[serde(default)]
    payload: Option<P>,
    signature: String,
}

impl<'de, P: Payload> Deserialize<'de> for Artifact<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let raw = RawArtifact::<P>::deserialize(d)?;
        let artifact = Artifact {
            format: raw.format,
            accept_index: raw.accept_index,
            payload: raw.payload,
            signature: raw.signature,
        };
        artifact.shape().map_err(de::Error::custom)?;
        Ok(artifact)
    }
}

impl<P: Payload> Artifact<P> {
    /// What is wrong with the artifact's shape, if anything.
    fn shape(&self) -> core::result::Result<(), &'static str> {
        match (self.format, &self.payload) {
            (Format::Eip712, None) => return Err("an eip712 artifact needs its payload"),
            (Format::Jws, Some(_)) => {
                return Err("a jws artifact carries its payload in the signature, not in payload")
            }
            _ => {}
        }
        if self.accept_index.is_some() && !P::ACCEPT_INDEX {
            return Err("acceptIndex is for offers only");
        }
        if self.accept_index.is_some_and(|i| i > MAX_SAFE_INTEGER) {
            return Err("acceptIndex above 2^53 - 1");
        }
        if let Some(p) = &self.payload {
            if p.integers().iter().any(|&i| i > MAX_SAFE_INTEGER) {
                return Err("integer above 2^53 - 1 (not exact in JavaScript)");
            }
        }
        Ok(())
    }

    fn malformed(why: impl core::fmt::Display) -> Error {
        Error::new(P::REASON, format!("not a signed {}: {why}", P::KIND))
    }

    /// Decodes an artifact from JSON text (untrusted input: a malformed one is
    /// `invalid_signed_offer` / `invalid_signed_receipt`).
    pub fn from_json(json: &[u8]) -> Result<Self> {
        serde_json::from_slice(json).map_err(Self::malformed)
    }

    /// Decodes an artifact from a JSON value.
    pub fn from_value(value: &Value) -> Result<Self> {
        Self::deserialize(value).map_err(Self::malformed)
    }

    /// The artifact as JSON (fields in the reference's order).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The payload, without verifying anything: the `payload` field of an `eip712` artifact, or
    /// the base64url JSON in the middle of a `jws` one (spec §4.1: what a client matches
    /// `accepts[]` against).
    pub fn payload_unverified(&self) -> Result<P> {
        if let Some(p) = &self.payload {
            return Ok(p.clone());
        }
        let mut parts = self.signature.split('.');
        let (Some(_), Some(body), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Self::malformed(
                "the jws signature is not header.payload.signature",
            ));
        };
        let json = base64url_decode(body)
            .ok_or_else(|| Self::malformed("the jws payload is not base64url"))?;
        let payload: P = serde_json::from_slice(&json)
            .map_err(|e| Self::malformed(format!("the jws payload: {e}")))?;
        if payload.integers().iter().any(|&i| i > MAX_SAFE_INTEGER) {
            return Err(Self::malformed("integer above 2^53 - 1"));
        }
        Ok(payload)
    }
}

/// Unpadded base64url (RFC 4648 §5, as JWS writes it), `None` if it is not.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut std = String::with_capacity(s.len() + 3);
    for c in s.chars() {
        std.push(match c {
            '-' => '+',
            '_' => '/',
            'A'..='Z' | 'a'..='z' | '0'..='9' => c,
            _ => return None,
        });
    }
    while std.len() % 4 != 0 {
        std.push('=');
    }
    base64::decode(&std).ok()
}

/// The signature bytes of an `eip712` artifact: `0x` and exactly 130 hex digits.
#[cfg(feature = "verify")]
fn signature_bytes(signature: &str) -> Result<Signature> {
    let bad = |m: &str| Error::new(Reason::InvalidOfferReceiptSignature, m);
    let bytes = signature
        .strip_prefix("0x")
        .filter(|h| h.len() == 130 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|_| hex::parse_hex_bytes(signature))
        .filter(|b| b.len() == 65)
        .ok_or_else(|| bad("the signature is not 0x and 65 bytes of hex"))?;
    Signature::from_bytes(&bytes).map_err(|e| bad(e.message()))
}

/// Recovers the signer of an `eip712` artifact (spec §4.5 / §5.5 steps 1 to 4, as the
/// reference's `verifyOfferSignatureEIP712` / `verifyReceiptSignatureEIP712`): payload `version`
/// 1, a well-formed low-s signature. Whether that address may sign for `payload.resourceUrl`
/// (spec §4.5.1) is the caller's to judge, as are `validUntil` and `issuedAt`.
#[cfg(feature = "verify")]
pub fn recover_signer<P: Payload>(artifact: &Artifact<P>) -> Result<Address> {
    let payload = match (artifact.format, &artifact.payload) {
        (Format::Eip712, Some(p)) => p,
        (Format::Eip712, None) => {
            return Err(Error::new(
                P::REASON,
                format!("invalid {}: missing or malformed payload", P::KIND),
            ))
        }
        (Format::Jws, _) => {
            return Err(Error::new(
                Reason::UnsupportedOfferReceiptFormat,
                "expected eip712 format, got jws (JWS artifacts are not verified here)",
            ))
        }
    };
    if payload.version() != VERSION {
        return Err(Error::new(
            P::REASON,
            format!(
                "{} payload version {} (only {VERSION} is defined)",
                P::KIND,
                payload.version()
            ),
        ));
    }
    let signature = signature_bytes(&artifact.signature)?;
    signature
        .recover(&payload.signing_hash())
        .map_err(|e| Error::new(Reason::InvalidOfferReceiptSignature, e.message()))
}

/// [`recover_signer`] of an offer.
#[cfg(feature = "verify")]
pub fn recover_offer_signer(offer: &SignedOffer) -> Result<Address> {
    recover_signer(offer)
}

/// [`recover_signer`] of a receipt.
#[cfg(feature = "verify")]
pub fn recover_receipt_signer(receipt: &SignedReceipt) -> Result<Address> {
    recover_signer(receipt)
}

/// Refuses a payload whose integers a JavaScript verifier would not read back exactly.
#[cfg(feature = "local-signer")]
fn check_integers<P: Payload>(payload: &P) -> Result<()> {
    if payload.integers().iter().any(|&i| i > MAX_SAFE_INTEGER) {
        return Err(Error::new(
            P::REASON,
            format!(
                "{} integer above 2^53 - 1 (not exact in JavaScript)",
                P::KIND
            ),
        ));
    }
    Ok(())
}

/// Signs an offer with a local key (EIP-712), `acceptIndex` as given.
#[cfg(feature = "local-signer")]
pub fn sign_offer(
    signer: &LocalSigner,
    payload: OfferPayload,
    accept_index: Option<u64>,
) -> Result<SignedOffer> {
    check_integers(&payload)?;
    if accept_index.is_some_and(|i| i > MAX_SAFE_INTEGER) {
        return Err(Error::new(
            Reason::InvalidSignedOffer,
            "acceptIndex above 2^53 - 1",
        ));
    }
    let signature = signer.sign_hash(&offer_signing_hash(&payload))?;
    Ok(Artifact {
        format: Format::Eip712,
        accept_index,
        payload: Some(payload),
        signature: hex::prefixed(&signature.to_bytes()),
    })
}

/// Signs a receipt with a local key (EIP-712).
#[cfg(feature = "local-signer")]
pub fn sign_receipt(signer: &LocalSigner, payload: ReceiptPayload) -> Result<SignedReceipt> {
    check_integers(&payload)?;
    let signature = signer.sign_hash(&receipt_signing_hash(&payload))?;
    Ok(Artifact {
        format: Format::Eip712,
        accept_index: None,
        payload: Some(payload),
        signature: hex::prefixed(&signature.to_bytes()),
    })
}

/// `extensions["offer-receipt"]` of a 402.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffersExtension {
    /// The offers.
    pub info: OffersInfo,
    /// The JSON Schema of `info` ([`offer_schema`]), if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// `info` of [`OffersExtension`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffersInfo {
    /// One signed offer per `accepts[]` entry.
    pub offers: Vec<SignedOffer>,
}

/// `extensions["offer-receipt"]` of a settlement response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptExtension {
    /// The receipt.
    pub info: ReceiptInfo,
    /// The JSON Schema of `info` ([`receipt_schema`]), if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// `info` of [`ReceiptExtension`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptInfo {
    /// The signed receipt.
    pub receipt: SignedReceipt,
}

/// The JSON Schema of a 402's `info` (the reference's `OFFER_SCHEMA`).
pub fn offer_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "offers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "format": {"type": "string"},
                        "acceptIndex": {"type": "integer"},
                        "payload": {
                            "type": "object",
                            "properties": {
                                "version": {"type": "integer"},
                                "resourceUrl": {"type": "string"},
                                "scheme": {"type": "string"},
                                "network": {"type": "string"},
                                "asset": {"type": "string"},
                                "payTo": {"type": "string"},
                                "amount": {"type": "string"},
                                "validUntil": {"type": "integer"}
                            },
                            "required": ["version", "resourceUrl", "scheme", "network", "asset", "payTo", "amount"]
                        },
                        "signature": {"type": "string"}
                    },
                    "required": ["format", "signature"]
                }
            }
        },
        "required": ["offers"]
    })
}

/// The JSON Schema of a settlement response's `info` (the reference's `RECEIPT_SCHEMA`).
pub fn receipt_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "receipt": {
                "type": "object",
                "properties": {
                    "format": {"type": "string"},
                    "payload": {
                        "type": "object",
                        "properties": {
                            "version": {"type": "integer"},
                            "network": {"type": "string"},
                            "resourceUrl": {"type": "string"},
                            "payer": {"type": "string"},
                            "issuedAt": {"type": "integer"},
                            "transaction": {"type": "string"}
                        },
                        "required": ["version", "network", "resourceUrl", "payer", "issuedAt"]
                    },
                    "signature": {"type": "string"}
                },
                "required": ["format", "signature"]
            }
        },
        "required": ["receipt"]
    })
}

/// The terms of one `accepts[]` entry as an offer payload for `resource_url` (spec §4.2):
/// scheme, network, asset, payTo and the amount copied from the entry; `valid_until` in unix
/// seconds, 0 for none.
pub fn offer_payload(
    resource_url: &str,
    accepted: &PaymentRequirements,
    valid_until: u64,
) -> OfferPayload {
    OfferPayload {
        version: VERSION,
        resource_url: resource_url.into(),
        scheme: accepted.scheme.clone(),
        network: accepted.network.as_str().into(),
        asset: accepted.asset.clone(),
        pay_to: accepted.pay_to.clone(),
        amount: decimal_u256::format(&accepted.amount),
        valid_until,
    }
}

/// The 402's `extensions["offer-receipt"]` for offers signed already:
/// `{"info": {"offers": […]}, "schema": offer_schema()}`.
pub fn offers_extension(offers: &[SignedOffer]) -> Value {
    json!({"info": {"offers": offers}, "schema": offer_schema()})
}

/// Signs one offer per `accepts[]` entry, `acceptIndex` its position, and returns the 402's
/// `extensions["offer-receipt"]`, as the reference server does: each offer is valid until
/// `now + validity_seconds` (unix seconds), or with `None` until `now` plus the entry's own
/// `maxTimeoutSeconds`.
#[cfg(feature = "local-signer")]
pub fn signed_offers_extension(
    signer: &LocalSigner,
    resource_url: &str,
    accepts: &[PaymentRequirements],
    now: u64,
    validity_seconds: Option<u64>,
) -> Result<Value> {
    let offers = accepts
        .iter()
        .enumerate()
        .map(|(i, accepted)| {
            let validity = validity_seconds.unwrap_or(accepted.max_timeout_seconds);
            let payload = offer_payload(resource_url, accepted, now.saturating_add(validity));
            sign_offer(signer, payload, Some(i as u64))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(offers_extension(&offers))
}

/// The receipt payload of a settlement (spec §5.2): only for a successful one with a payer;
/// the network in CAIP-2 (a v1 name such as `base-sepolia` is converted); the transaction hash
/// only when `include_transaction` (else `""`, the privacy-minimal default); `issued_at` in unix
/// seconds. Errors are `invalid_signed_receipt`.
pub fn receipt_payload(
    resource_url: &str,
    settlement: &super::facilitator::SettleResponse,
    issued_at: u64,
    include_transaction: bool,
) -> Result<ReceiptPayload> {
    let bad = |m: &str| Error::new(Reason::InvalidSignedReceipt, m);
    if !settlement.success {
        return Err(bad("a receipt is only for a successful settlement"));
    }
    let payer = settlement
        .payer
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("the settlement names no payer"))?;
    let network = if settlement.network.contains(':') {
        settlement.network.clone()
    } else {
        Network::from_v1_name(&settlement.network)
            .map_err(|e| Error::new(Reason::InvalidSignedReceipt, e.message()))?
            .as_str()
            .into()
    };
    Ok(ReceiptPayload {
        version: VERSION,
        network,
        resource_url: resource_url.into(),
        payer: payer.into(),
        issued_at,
        transaction: if include_transaction {
            settlement.transaction.clone()
        } else {
            String::new()
        },
    })
}

/// The settlement response's `extensions["offer-receipt"]` for a receipt signed already:
/// `{"info": {"receipt": …}, "schema": receipt_schema()}`.
pub fn receipt_extension(receipt: &SignedReceipt) -> Value {
    json!({"info": {"receipt": receipt}, "schema": receipt_schema()})
}

/// Signs the receipt of a settlement ([`receipt_payload`]) and returns the settlement
/// response's `extensions["offer-receipt"]`.
#[cfg(feature = "local-signer")]
pub fn signed_receipt_extension(
    signer: &LocalSigner,
    resource_url: &str,
    settlement: &super::facilitator::SettleResponse,
    issued_at: u64,
    include_transaction: bool,
) -> Result<Value> {
    let payload = receipt_payload(resource_url, settlement, issued_at, include_transaction)?;
    Ok(receipt_extension(&sign_receipt(signer, payload)?))
}

/// The offers of a 402's `extensions["offer-receipt"]` value (`info.offers`; `schema` and
/// other fields are not read). Any malformed offer makes the whole list
/// `invalid_signed_offer`.
pub fn decode_offers(extension: &Value) -> Result<Vec<SignedOffer>> {
    OffersExtension::deserialize(extension)
        .map(|e| e.info.offers)
        .map_err(|e| {
            Error::new(
                Reason::InvalidSignedOffer,
                format!("extensions.{KEY}: not a list of signed offers ({e})"),
            )
        })
}

/// The receipt of a settlement response's `extensions["offer-receipt"]` value
/// (`info.receipt`); malformed is `invalid_signed_receipt`.
pub fn decode_receipt(extension: &Value) -> Result<SignedReceipt> {
    ReceiptExtension::deserialize(extension)
        .map(|e| e.info.receipt)
        .map_err(|e| {
            Error::new(
                Reason::InvalidSignedReceipt,
                format!("extensions.{KEY}: not a signed receipt ({e})"),
            )
        })
}

/// The offers in a 402's `extensions`: none without the extension.
pub fn offers_in(extensions: Option<&JsonMap>) -> Result<Vec<SignedOffer>> {
    match extensions.and_then(|e| e.get(KEY)) {
        None => Ok(Vec::new()),
        Some(ext) => decode_offers(ext),
    }
}

/// The receipt in a settlement response's `extensions`: `None` without the extension.
pub fn receipt_in(extensions: Option<&JsonMap>) -> Result<Option<SignedReceipt>> {
    extensions
        .and_then(|e| e.get(KEY))
        .map(decode_receipt)
        .transpose()
}

/// Whether an offer's terms are those of an `accepts[]` entry: same scheme, network, asset,
/// payTo and amount (compared as the reference client does, as strings).
pub fn offer_matches(payload: &OfferPayload, accepted: &PaymentRequirements) -> bool {
    payload.scheme == accepted.scheme
        && payload.network == accepted.network.as_str()
        && payload.asset == accepted.asset
        && payload.pay_to == accepted.pay_to
        && payload.amount == decimal_u256::format(&accepted.amount)
}

/// The offer for an `accepts[]` entry (spec §4.1: matched by the signed fields, never by
/// `acceptIndex` alone): the first whose payload ([`Artifact::payload_unverified`]) has the
/// entry's terms. Neither the signature nor `validUntil` is checked here.
pub fn match_offer<'a>(
    offers: &'a [SignedOffer],
    accepted: &PaymentRequirements,
) -> Option<&'a SignedOffer> {
    offers.iter().find(|offer| {
        offer
            .payload_unverified()
            .is_ok_and(|p| offer_matches(&p, accepted))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloy_primitives::keccak256;

    fn offer() -> OfferPayload {
        OfferPayload {
            version: 1,
            resource_url: "https://api.example.com/premium-data".into(),
            scheme: "exact".into(),
            network: "eip155:8453".into(),
            asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".into(),
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
            amount: "10000".into(),
            valid_until: 1_703_123_516,
        }
    }

    fn receipt() -> ReceiptPayload {
        ReceiptPayload {
            version: 1,
            network: "eip155:8453".into(),
            resource_url: "https://api.example.com/premium-data".into(),
            payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
            issued_at: 1_703_123_456,
            transaction: String::new(),
        }
    }

    fn requirement() -> PaymentRequirements {
        serde_json::from_value(json!({
            "scheme": "exact",
            "network": "eip155:8453",
            "amount": "10000",
            "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "maxTimeoutSeconds": 60,
            "extra": {"name": "USD Coin", "version": "2"}
        }))
        .unwrap()
    }

    #[test]
    fn domains_and_type_hashes() {
        assert_eq!(OFFER_DOMAIN.separator(), OFFER_DOMAIN_SEPARATOR);
        assert_eq!(RECEIPT_DOMAIN.separator(), RECEIPT_DOMAIN_SEPARATOR);
        assert_eq!(
            OFFER_DOMAIN.encode_type(),
            "EIP712Domain(string name,string version,uint256 chainId)"
        );
        assert_eq!(
            Offer::eip712_root_type(),
            "Offer(uint256 version,string resourceUrl,string scheme,string network,string asset,string payTo,string amount,uint256 validUntil)"
        );
        assert_eq!(
            Receipt::eip712_root_type(),
            "Receipt(uint256 version,string network,string resourceUrl,string payer,uint256 issuedAt,string transaction)"
        );
        assert_eq!(offer().typed().eip712_type_hash(), OFFER_TYPEHASH);
        assert_eq!(receipt().typed().eip712_type_hash(), RECEIPT_TYPEHASH);
        assert_eq!(
            keccak256(Offer::eip712_root_type().as_bytes()),
            OFFER_TYPEHASH
        );
        assert_eq!(
            keccak256(Receipt::eip712_root_type().as_bytes()),
            RECEIPT_TYPEHASH
        );
    }

    #[test]
    fn signing_hash_is_eip712_over_the_domain_separator() {
        let p = offer();
        let mut buf = vec![0x19, 0x01];
        buf.extend_from_slice(OFFER_DOMAIN_SEPARATOR.as_slice());
        buf.extend_from_slice(p.typed().eip712_hash_struct().as_slice());
        assert_eq!(offer_signing_hash(&p), keccak256(&buf));
        let r = receipt();
        let mut buf = vec![0x19, 0x01];
        buf.extend_from_slice(RECEIPT_DOMAIN_SEPARATOR.as_slice());
        buf.extend_from_slice(r.typed().eip712_hash_struct().as_slice());
        assert_eq!(receipt_signing_hash(&r), keccak256(&buf));
        // Every field is signed.
        let mut other = p.clone();
        other.valid_until = 0;
        assert_ne!(offer_signing_hash(&other), offer_signing_hash(&p));
        let mut other = r.clone();
        other.transaction = "0x12".into();
        assert_ne!(receipt_signing_hash(&other), receipt_signing_hash(&r));
    }

    #[test]
    fn the_wire_shape_is_the_reference_order() {
        let a = Artifact {
            format: Format::Eip712,
            accept_index: Some(0),
            payload: Some(offer()),
            signature: "0x12".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"format":"eip712","acceptIndex":0,"payload":{"version":1,"resourceUrl":"https://api.example.com/premium-data","scheme":"exact","network":"eip155:8453","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","amount":"10000","validUntil":1703123516},"signature":"0x12"}"#
        );
        let r = Artifact {
            format: Format::Eip712,
            accept_index: None,
            payload: Some(receipt()),
            signature: "0x12".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"format":"eip712","payload":{"version":1,"network":"eip155:8453","resourceUrl":"https://api.example.com/premium-data","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","issuedAt":1703123456,"transaction":""},"signature":"0x12"}"#
        );
        assert_eq!(SignedOffer::from_value(&a.to_value()).unwrap(), a);
        assert_eq!(SignedReceipt::from_value(&r.to_value()).unwrap(), r);
        // Absent optional fields read as their zero values (spec §4.3, §5.3).
        let bare = json!({"format": "eip712", "payload": {"version": 1, "network": "n", "resourceUrl": "u", "payer": "p", "issuedAt": 5}, "signature": "0x"});
        assert_eq!(
            SignedReceipt::from_value(&bare)
                .unwrap()
                .payload
                .unwrap()
                .transaction,
            ""
        );
    }

    #[test]
    fn malformed_artifacts_are_errors() {
        let good =
            json!({"format": "eip712", "acceptIndex": 1, "payload": offer(), "signature": "0x00"});
        assert!(SignedOffer::from_value(&good).is_ok());
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            v
        };
        let cases = [
            json!(null),
            json!([]),
            json!("eip712"),
            with(&|v| v["format"] = json!("EIP712")),
            with(&|v| v["format"] = json!("jws")),
            with(&|v| v["format"] = json!(1)),
            with(&|v| {
                v.as_object_mut().unwrap().remove("payload");
            }),
            with(&|v| v["payload"] = json!(null)),
            with(&|v| {
                v.as_object_mut().unwrap().remove("signature");
            }),
            with(&|v| v["signature"] = json!(65)),
            with(&|v| v["acceptIndex"] = json!(-1)),
            with(&|v| v["acceptIndex"] = json!(1.5)),
            with(&|v| v["acceptIndex"] = json!(MAX_SAFE_INTEGER + 1)),
            with(&|v| v["extra"] = json!(true)),
            with(&|v| v["payload"]["version"] = json!("1")),
            with(&|v| v["payload"]["validUntil"] = json!(1e3)),
            with(&|v| v["payload"]["validUntil"] = json!(u64::MAX)),
            with(&|v| v["payload"]["amount"] = json!(10000)),
            with(&|v| v["payload"]["note"] = json!("unsigned")),
            with(&|v| {
                v["payload"].as_object_mut().unwrap().remove("payTo");
            }),
        ];
        for case in cases {
            let e = SignedOffer::from_value(&case).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidSignedOffer, "{case}: {e}");
            let e = SignedOffer::from_json(case.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.reason(), Reason::InvalidSignedOffer, "{case}: {e}");
        }
        // acceptIndex is for offers; a receipt with one is refused.
        let r =
            json!({"format": "eip712", "acceptIndex": 0, "payload": receipt(), "signature": "0x"});
        assert_eq!(
            SignedReceipt::from_value(&r).unwrap_err().reason(),
            Reason::InvalidSignedReceipt
        );
        for bytes in [&b""[..], b"{", b"\xff", b"{\"format\":\"jws\"}", b"1e999"] {
            assert!(SignedOffer::from_json(bytes).is_err());
            assert!(SignedReceipt::from_json(bytes).is_err());
        }
    }

    #[test]
    fn jws_payloads_are_read_unverified() {
        let body = "eyJ2ZXJzaW9uIjoxLCJyZXNvdXJjZVVybCI6Imh0dHBzOi8vYXBpLmV4YW1wbGUuY29tL3ByZW1pdW0tZGF0YSIsInNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzIiwiYXNzZXQiOiIweDgzMzU4OWZDRDZlRGI2RTA4ZjRjN0MzMkQ0ZjcxYjU0YmRBMDI5MTMiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsImFtb3VudCI6IjEwMDAwIiwidmFsaWRVbnRpbCI6MTcwMzEyMzUxNn0";
        // The spec's §4.4 JWS example.
        let jws: SignedOffer = serde_json::from_value(json!({
            "format": "jws",
            "acceptIndex": 0,
            "signature": format!("eyJhbGciOiJFUzI1NksiLCJraWQiOiJkaWQ6d2ViOmFwaS5leGFtcGxlLmNvbSNrZXktMSJ9.{body}.sig"),
        }))
        .unwrap();
        assert_eq!(jws.payload_unverified().unwrap(), offer());
        assert_eq!(
            match_offer(core::slice::from_ref(&jws), &requirement()),
            Some(&jws)
        );
        // A jws artifact with a payload field is malformed.
        let mut v = jws.to_value();
        v["payload"] = serde_json::to_value(offer()).unwrap();
        assert!(SignedOffer::from_value(&v).is_err());
        for bad in ["a.b", "a.b.c.d", "x.!!!.y", "x.e.y", "x.eyJ9.y"] {
            let a = SignedOffer {
                format: Format::Jws,
                accept_index: None,
                payload: None,
                signature: bad.into(),
            };
            assert_eq!(
                a.payload_unverified().unwrap_err().reason(),
                Reason::InvalidSignedOffer
            );
        }
        assert_eq!(base64url_decode("eyJ9"), Some(b"{\"}".to_vec()));
        assert_eq!(base64url_decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(base64url_decode("a"), None);
        assert_eq!(base64url_decode("ab=="), None);
    }

    #[test]
    fn matching_an_offer_to_accepts() {
        let sig = "0x00".to_string();
        let mk = |p: OfferPayload, i| SignedOffer {
            format: Format::Eip712,
            accept_index: Some(i),
            payload: Some(p),
            signature: sig.clone(),
        };
        let mut cheaper = offer();
        cheaper.amount = "5000".into();
        let mut elsewhere = offer();
        elsewhere.network = "eip155:84532".into();
        // Order and acceptIndex do not matter, the signed terms do.
        let offers = vec![mk(cheaper, 0), mk(elsewhere, 0), mk(offer(), 7)];
        assert_eq!(match_offer(&offers, &requirement()), Some(&offers[2]));
        let mut r = requirement();
        r.pay_to = "0x0000000000000000000000000000000000000001".into();
        assert_eq!(match_offer(&offers, &r), None);
        assert_eq!(match_offer(&[], &requirement()), None);
        assert!(offer_matches(
            &offer_payload("u", &requirement(), 0),
            &requirement()
        ));
        assert!(!offer().is_expired(1_703_123_516));
        assert!(offer().is_expired(1_703_123_517));
        let mut forever = offer();
        forever.valid_until = 0;
        assert!(!forever.is_expired(u64::MAX));
    }

    #[test]
    fn extension_values() {
        let a = SignedOffer {
            format: Format::Eip712,
            accept_index: Some(0),
            payload: Some(offer()),
            signature: "0x00".into(),
        };
        let ext = offers_extension(core::slice::from_ref(&a));
        assert_eq!(ext["info"]["offers"][0], a.to_value());
        assert_eq!(ext["schema"], offer_schema());
        assert_eq!(decode_offers(&ext).unwrap(), vec![a.clone()]);
        let mut map = JsonMap::new();
        assert_eq!(offers_in(Some(&map)).unwrap(), vec![]);
        assert_eq!(offers_in(None).unwrap(), vec![]);
        map.insert(KEY.into(), ext);
        assert_eq!(offers_in(Some(&map)).unwrap(), vec![a]);
        for bad in [
            json!(null),
            json!({}),
            json!({"info": {}}),
            json!({"info": {"offers": {}}}),
            json!({"info": {"offers": [1]}}),
        ] {
            assert_eq!(
                decode_offers(&bad).unwrap_err().reason(),
                Reason::InvalidSignedOffer
            );
            assert_eq!(
                decode_receipt(&bad).unwrap_err().reason(),
                Reason::InvalidSignedReceipt
            );
        }
        let r = SignedReceipt {
            format: Format::Eip712,
            accept_index: None,
            payload: Some(receipt()),
            signature: "0x00".into(),
        };
        let ext = receipt_extension(&r);
        assert_eq!(ext["schema"], receipt_schema());
        assert_eq!(decode_receipt(&ext).unwrap(), r);
        let mut map = JsonMap::new();
        assert_eq!(receipt_in(Some(&map)).unwrap(), None);
        map.insert(KEY.into(), ext);
        assert_eq!(receipt_in(Some(&map)).unwrap(), Some(r));
    }

    #[test]
    fn receipt_payload_of_a_settlement() {
        use super::super::facilitator::SettleResponse;
        let tx = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef";
        let ok = SettleResponse::success(
            tx.into(),
            "eip155:8453".into(),
            "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
        );
        let url = "https://api.example.com/premium-data";
        assert_eq!(
            receipt_payload(url, &ok, 1_703_123_456, false).unwrap(),
            receipt()
        );
        assert_eq!(
            receipt_payload(url, &ok, 1_703_123_456, true)
                .unwrap()
                .transaction,
            tx
        );
        let mut v1 = ok.clone();
        v1.network = "base-sepolia".into();
        assert_eq!(
            receipt_payload(url, &v1, 1, false).unwrap().network,
            "eip155:84532"
        );
        let mut unknown = ok.clone();
        unknown.network = "nowhere".into();
        let mut failed = ok.clone();
        failed.success = false;
        let mut anonymous = ok;
        anonymous.payer = None;
        for s in [unknown, failed, anonymous] {
            assert_eq!(
                receipt_payload(url, &s, 1, false).unwrap_err().reason(),
                Reason::InvalidSignedReceipt
            );
        }
    }

    #[cfg(feature = "local-signer")]
    mod signed {
        use super::*;
        use crate::evm::signer::LocalSigner;

        fn signer() -> LocalSigner {
            LocalSigner::from_hex(
                "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
            )
            .unwrap()
        }

        #[test]
        fn sign_then_recover() {
            let s = signer();
            let o = sign_offer(&s, offer(), Some(0)).unwrap();
            assert_eq!(o.signature.len(), 132);
            assert_eq!(recover_offer_signer(&o).unwrap(), s.address());
            let back = SignedOffer::from_json(&serde_json::to_vec(&o).unwrap()).unwrap();
            assert_eq!(back, o);
            assert_eq!(recover_offer_signer(&back).unwrap(), s.address());
            let r = sign_receipt(&s, receipt()).unwrap();
            assert_eq!(recover_receipt_signer(&r).unwrap(), s.address());
            // Upper-case hex and v in {0, 1} are read too.
            let mut upper = r.clone();
            upper.signature = format!("0x{}", r.signature[2..].to_uppercase());
            assert_eq!(recover_receipt_signer(&upper).unwrap(), s.address());
            let mut bytes = hex::parse_hex_bytes(&r.signature).unwrap();
            bytes[64] -= 27;
            let mut low_v = r.clone();
            low_v.signature = hex::prefixed(&bytes);
            assert_eq!(recover_receipt_signer(&low_v).unwrap(), s.address());
        }

        #[test]
        fn a_tampered_payload_recovers_someone_else() {
            let s = signer();
            let o = sign_offer(&s, offer(), Some(0)).unwrap();
            type Change = fn(&mut OfferPayload);
            let changes: [Change; 7] = [
                |p| p.resource_url.push('x'),
                |p| p.scheme = "upto".into(),
                |p| p.network = "eip155:84532".into(),
                |p| p.asset = p.asset.to_lowercase(),
                |p| p.pay_to = "0x0000000000000000000000000000000000000001".into(),
                |p| p.amount = "1".into(),
                |p| p.valid_until += 1,
            ];
            for change in changes {
                let mut t = o.clone();
                change(t.payload.as_mut().unwrap());
                // Another address, or no address at all (a digest with no point for this r).
                assert_ne!(recover_offer_signer(&t).ok(), Some(s.address()));
            }
            // acceptIndex is not signed.
            let mut moved = o.clone();
            moved.accept_index = Some(3);
            assert_eq!(recover_offer_signer(&moved).unwrap(), s.address());
            let r = sign_receipt(&s, receipt()).unwrap();
            let mut t = r.clone();
            t.payload.as_mut().unwrap().payer = s.address().to_string();
            assert_ne!(recover_receipt_signer(&t).ok(), Some(s.address()));
            // An offer's signature does not make a receipt, nor the other way round.
            let swapped = SignedReceipt {
                signature: o.signature.clone(),
                ..r
            };
            assert_ne!(recover_receipt_signer(&swapped).ok(), Some(s.address()));
        }

        #[test]
        fn unverifiable_artifacts_have_their_reasons() {
            let s = signer();
            let o = sign_offer(&s, offer(), None).unwrap();
            let with = |f: &dyn Fn(&mut SignedOffer)| {
                let mut a = o.clone();
                f(&mut a);
                recover_offer_signer(&a).unwrap_err().reason()
            };
            for sig in [
                "",
                "0x",
                "0x1234",
                &o.signature[2..],
                &format!("{}00", o.signature),
                &format!("0x0x{}", &o.signature[4..]),
                &format!("0x{}zz", &o.signature[2..130]),
                &format!("0x{}1d", &o.signature[2..130]),
                &format!("0x{}{}", "00".repeat(32), &o.signature[66..]),
            ] {
                assert_eq!(
                    with(&|a| a.signature = sig.into()),
                    Reason::InvalidOfferReceiptSignature,
                    "{sig}"
                );
            }
            // High s (the same signature, malleated): refused, unlike viem.
            let mut bytes = hex::parse_hex_bytes(&o.signature).unwrap();
            let n = U256::from_str_radix(
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
                16,
            )
            .unwrap();
            let s_val = U256::from_be_slice(&bytes[32..64]);
            bytes[32..64].copy_from_slice(&(n - s_val).to_be_bytes::<32>());
            bytes[64] = 55 - bytes[64]; // 27 <-> 28
            assert_eq!(
                with(&|a| a.signature = hex::prefixed(&bytes)),
                Reason::InvalidOfferReceiptSignature
            );
            assert_eq!(
                with(&|a| a.payload.as_mut().unwrap().version = 2),
                Reason::InvalidSignedOffer
            );
            assert_eq!(with(&|a| a.payload = None), Reason::InvalidSignedOffer);
            assert_eq!(
                with(&|a| {
                    a.format = Format::Jws;
                    a.payload = None;
                }),
                Reason::UnsupportedOfferReceiptFormat
            );
            // Integers a JavaScript verifier could not read back are not signed.
            let mut big = offer();
            big.valid_until = MAX_SAFE_INTEGER + 1;
            assert_eq!(
                sign_offer(&s, big, None).unwrap_err().reason(),
                Reason::InvalidSignedOffer
            );
            assert!(sign_offer(&s, offer(), Some(MAX_SAFE_INTEGER + 1)).is_err());
            let mut big = receipt();
            big.issued_at = u64::MAX;
            assert_eq!(
                sign_receipt(&s, big).unwrap_err().reason(),
                Reason::InvalidSignedReceipt
            );
        }

        #[test]
        fn signed_extensions() {
            use super::super::super::facilitator::SettleResponse;
            let s = signer();
            let mut second = requirement();
            second.network = Network::eip155(84532);
            second.max_timeout_seconds = 120;
            let accepts = vec![requirement(), second];
            let url = "https://api.example.com/premium-data";
            let ext = signed_offers_extension(&s, url, &accepts, 1_000, None).unwrap();
            let offers = decode_offers(&ext).unwrap();
            assert_eq!(offers.len(), 2);
            for (i, (o, a)) in offers.iter().zip(&accepts).enumerate() {
                assert_eq!(o.accept_index, Some(i as u64));
                assert_eq!(recover_offer_signer(o).unwrap(), s.address());
                assert_eq!(match_offer(&offers, a), Some(o));
                let p = o.payload.as_ref().unwrap();
                assert_eq!(p.valid_until, 1_000 + a.max_timeout_seconds);
                assert_eq!(p.resource_url, url);
            }
            let ext = signed_offers_extension(&s, url, &accepts, 1_000, Some(5)).unwrap();
            assert_eq!(ext["info"]["offers"][1]["payload"]["validUntil"], 1_005);
            let settled = SettleResponse::success(
                "0xabc".into(),
                "eip155:8453".into(),
                "0x857b06519E91e3A54538791bDbb0E22373e36b66".into(),
            );
            let ext = signed_receipt_extension(&s, url, &settled, 1_703_123_456, false).unwrap();
            let r = decode_receipt(&ext).unwrap();
            assert_eq!(r.payload.as_ref().unwrap(), &receipt());
            assert_eq!(recover_receipt_signer(&r).unwrap(), s.address());
        }
    }
}
