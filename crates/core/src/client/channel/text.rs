//! The channel client without serde: what the browser's channel module (`pkg/channel`) links.
//!
//! The same rules as the serde path of [`super`] (and of [`crate::scheme::batch`]'s wire
//! types), over the small reader of [`crate::encoding::json`] and hand-written JSON writers, as
//! [`crate::client::challenge`] does for `exact` payments: [`ChannelChallenge`] reads a
//! `PAYMENT-REQUIRED` value (through [`Challenge`], then the `batch-settlement` entries and a
//! corrective 402's `channelState` / `voucherState`), [`choose_text`] picks the offer,
//! [`ChannelChallenge::payment_header`] writes the `PAYMENT-SIGNATURE` value echoing the
//! challenge's `resource`, `accepted` (less a corrective 402's additions) and `extensions`
//! verbatim, the `*_payload_text` functions write the scheme's client payloads,
//! [`read_response_text`] reads a `PAYMENT-RESPONSE`, [`receive_typed_data_text`] writes the
//! deposit's `eth_signTypedData_v4` JSON, and [`ClientChannel`]'s stored JSON and
//! [`ChannelOptions`] are read and written here. Every function is tested against its serde
//! twin (the same JSON in, the same values out; malformed input refused with the same code).

use super::{choose_among, refusal_of, ChannelOptions, ClientChannel, OfferTerms, Refusal};
use crate::client::challenge::Challenge;
use crate::client::fields::{obj, string, Obj, R};
use crate::client::policy::Policy;
use crate::encoding::base64;
use crate::encoding::decimal_u256;
use crate::encoding::hex::{parse_hex_bytes, push_hex};
use crate::encoding::json::{self, write_key, write_str, Kind, Value};
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
use crate::evm::network::Network;
use crate::scheme::batch::response::{
    BatchSettleResponse, ChannelState, SuccessExtra, VoucherState,
};
use crate::scheme::batch::types::ReceiveWithAuthorization;
use crate::scheme::batch::wire::{
    check_withdraw_delay, is_channel_id, AssetTransferMethod, BatchExtra, BatchRequirement,
    ChannelConfigJson, VoucherJson,
};
use crate::scheme::batch::SCHEME;
use alloc::{string::String, vec::Vec};
use alloy_primitives::{Address, Bytes, B256, U256};
use core::ops::Range;

fn u256_of(v: &Value<'_>, k: &str) -> R<U256> {
    decimal_u256::parse(string(v, k)?).map_err(|e| cat(&[k, ": ", e]))
}

fn u64_of(v: &Value<'_>, k: &str) -> R<u64> {
    v.as_u64()
        .ok_or_else(|| cat(&[k, ": expected a non-negative integer (u64)"]))
}

fn bool_of(v: &Value<'_>, k: &str) -> R<bool> {
    match v.kind {
        Kind::Bool(b) => Ok(b),
        _ => Err(cat(&[k, ": expected a boolean"])),
    }
}

fn addr_of(v: &Value<'_>, k: &str) -> R<Address> {
    parse_address(string(v, k)?).map_err(|e| cat(&[k, ": ", &e]))
}

/// 32 bytes as `0x` and 64 hex digits (either case).
fn b256_of(v: &Value<'_>, k: &str) -> R<B256> {
    let s = string(v, k)?;
    match parse_hex_bytes(s) {
        Some(b) if is_channel_id(s) => Ok(B256::from_slice(&b)),
        _ => Err(cat(&[k, ": expected 0x and 64 hex digits"])),
    }
}

/// A signature: `0x` and an even number of hex digits, at least one byte, no doubled `0x`.
fn sig_of(v: &Value<'_>, k: &str) -> R<Bytes> {
    let s = string(v, k)?;
    if s.get(2..4).is_some_and(|p| p.eq_ignore_ascii_case("0x")) {
        return Err(cat(&[k, ": signature has a doubled 0x prefix"]));
    }
    parse_hex_bytes(s)
        .map(Bytes::from)
        .ok_or_else(|| cat(&[k, ": signature is not 0x-prefixed hex"]))
}

/// A uint256 as a decimal string or a JSON integer (`refundNonce`).
fn lenient_u256(v: &Value<'_>, k: &str) -> R<U256> {
    match v.kind {
        Kind::Number => v
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| cat(&[k, ": not a non-negative integer"])),
        _ => u256_of(v, k),
    }
}

fn parse_text<'a>(text: &'a str, what: &str) -> R<Value<'a>> {
    json::parse(text).map_err(|e| {
        cat(&[
            what,
            ": invalid JSON: ",
            e.what,
            " at byte ",
            &dec(e.offset as u64),
        ])
    })
}

fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

// ---------------------------------------------------------------------------------------------
// The scheme's messages.

/// `channelState` ([`ChannelState`]'s serde rules).
pub fn channel_state_of(v: &Value<'_>) -> R<ChannelState> {
    let o = obj(v, "channelState")?;
    Ok(ChannelState {
        channel_id: b256_of(o.req("channelId")?, "channelId")?,
        balance: u256_of(o.req("balance")?, "balance")?,
        total_claimed: u256_of(o.req("totalClaimed")?, "totalClaimed")?,
        withdraw_requested_at: u64_of(o.req("withdrawRequestedAt")?, "withdrawRequestedAt")?,
        refund_nonce: lenient_u256(o.req("refundNonce")?, "refundNonce")?,
        charged_cumulative_amount: match o.field("chargedCumulativeAmount")? {
            Some(v) => Some(u256_of(v, "chargedCumulativeAmount")?),
            None => None,
        },
    })
}

/// `voucherState` ([`VoucherState`]'s serde rules).
pub fn voucher_state_of(v: &Value<'_>) -> R<VoucherState> {
    let o = obj(v, "voucherState")?;
    Ok(VoucherState {
        signed_max_claimable: u256_of(o.req("signedMaxClaimable")?, "signedMaxClaimable")?,
        signature: sig_of(o.req("signature")?, "signature")?,
    })
}

fn success_extra_of(v: &Value<'_>) -> R<SuccessExtra> {
    let o = obj(v, "extra")?;
    Ok(SuccessExtra {
        channel_state: channel_state_of(o.req("channelState")?)?,
        charged_amount: match o.field("chargedAmount")? {
            Some(v) => Some(u256_of(v, "chargedAmount")?),
            None => None,
        },
    })
}

fn settle_response_of(v: &Value<'_>) -> R<BatchSettleResponse> {
    let o = obj(v, "PAYMENT-RESPONSE")?;
    let opt_text = |k: &str| -> R<Option<String>> {
        o.opt(k)?
            .map(|v| string(v, k).map(String::from))
            .transpose()
    };
    let amount = match o.field("amount")? {
        None => None,
        Some(v) => {
            let s = string(v, "amount")?;
            if !s.is_empty() {
                decimal_u256::parse(s).map_err(|e| cat(&["amount: ", e]))?;
            }
            Some(String::from(s))
        }
    };
    Ok(BatchSettleResponse {
        success: bool_of(o.req("success")?, "success")?,
        error_reason: opt_text("errorReason")?,
        error_message: opt_text("errorMessage")?,
        payer: opt_text("payer")?,
        transaction: match o.field("transaction")? {
            Some(v) => String::from(string(v, "transaction")?),
            None => String::new(),
        },
        network: String::from(string(o.req("network")?, "network")?),
        amount,
        extra: o.opt("extra")?.map(success_extra_of).transpose()?,
        extensions: None,
    })
}

/// Reads a `PAYMENT-RESPONSE` value of this scheme (error: `invalid_payload`), as
/// [`super::read_response`].
pub fn read_response_text(value: &str) -> Result<BatchSettleResponse> {
    let text = crate::wire::header::header_text(
        value,
        crate::wire::header::PAYMENT_RESPONSE,
        Reason::InvalidPayload.code(),
    )?;
    parse_text(&text, "PAYMENT-RESPONSE")
        .and_then(|v| settle_response_of(&v))
        .map_err(|m| {
            Error::new(
                Reason::InvalidPayload,
                cat(&["PAYMENT-RESPONSE of a channel payment: ", &m]),
            )
        })
}

/// An offer's `extra`, as [`BatchExtra::from_json`] reads it.
fn batch_extra_of(extra: Option<&Obj<'_, '_>>) -> Result<BatchExtra> {
    let bad = |m: String| Error::new(Reason::InvalidPaymentRequirements, m);
    let get = |k: &str| extra.and_then(|e| e.last(k));
    let text = |k: &str| get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(name), Some(version)) = (text("name"), text("version")) else {
        return Err(Error::new(
            Reason::InvalidBatchSettlementEvmMissingEip712Domain,
            "extra.name and extra.version (the token's EIP-712 domain) are required",
        ));
    };
    let receiver_authorizer = text("receiverAuthorizer")
        .ok_or_else(|| bad("extra.receiverAuthorizer is required".into()))
        .and_then(|s| {
            parse_address(s).map_err(|e| bad(cat(&["extra.receiverAuthorizer: ", &e])))
        })?;
    if receiver_authorizer == Address::ZERO {
        return Err(bad("extra.receiverAuthorizer is the zero address".into()));
    }
    let withdraw_delay = get("withdrawDelay")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("extra.withdrawDelay must be a JSON integer".into()))?;
    check_withdraw_delay(withdraw_delay)?;
    let asset_transfer_method = match get("assetTransferMethod") {
        None => None,
        Some(v) => Some(match v.as_str() {
            Some("eip3009") => AssetTransferMethod::Eip3009,
            Some("permit2") => AssetTransferMethod::Permit2,
            _ => {
                return Err(bad(cat(&[
                    "extra.assetTransferMethod ",
                    v.raw,
                    " is not eip3009 or permit2",
                ])))
            }
        }),
    };
    let min_deposit = match get("minDeposit") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or("not a string")
                .and_then(decimal_u256::parse)
                .map_err(|e| bad(cat(&["extra.minDeposit: ", e])))?,
        ),
    };
    Ok(BatchExtra {
        name: name.into(),
        version: version.into(),
        receiver_authorizer,
        withdraw_delay,
        asset_transfer_method,
        min_deposit,
    })
}

/// A `batch-settlement` entry of a challenge [`Challenge`] has read, as
/// [`BatchRequirement::from_v2`] parses it.
fn batch_requirement_of(
    entry: &Obj<'_, '_>,
    extra: Option<&Obj<'_, '_>>,
) -> Result<BatchRequirement> {
    let malformed = |m: String| Error::new(Reason::MalformedChallenge, m);
    let text = |k: &str| -> Result<&str> {
        entry
            .last(k)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(cat(&["accepts entry: ", k, ": expected a string"])))
    };
    let network: Network = text("network")?.parse()?;
    let chain_id = network.chain_id().ok_or_else(|| {
        Error::new(
            Reason::InvalidNetwork,
            cat(&[network.as_str(), " is not an EVM network"]),
        )
    })?;
    let amount = decimal_u256::parse(text("amount")?)
        .map_err(|e| malformed(cat(&["accepts entry: amount: ", e])))?;
    let max_timeout_seconds = entry
        .last("maxTimeoutSeconds")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("accepts entry: maxTimeoutSeconds".into()))?;
    let bad =
        |f: &str, e: String| Error::new(Reason::InvalidPaymentRequirements, cat(&[f, ": ", &e]));
    Ok(BatchRequirement {
        chain_id,
        amount,
        asset: parse_address(text("asset")?).map_err(|e| bad("asset", e))?,
        pay_to: parse_address(text("payTo")?).map_err(|e| bad("payTo", e))?,
        max_timeout_seconds,
        extra: batch_extra_of(extra)?,
        network,
    })
}

/// A corrective 402's state in an entry's `extra`, as
/// [`crate::scheme::batch::response::corrective_state`] reads it.
type Corrective = Result<Option<(ChannelState, Option<VoucherState>)>>;

fn corrective_of(extra: Option<&Obj<'_, '_>>) -> Corrective {
    let bad = |m: String| Error::new(Reason::MalformedChallenge, cat(&["corrective 402: ", &m]));
    let Some(extra) = extra else {
        return Ok(None);
    };
    let Some(state) = extra.last("channelState") else {
        return Ok(None);
    };
    let state = channel_state_of(state).map_err(bad)?;
    let voucher = match extra.last("voucherState") {
        Some(v) => Some(voucher_state_of(v).map_err(bad)?),
        None => None,
    };
    Ok(Some((state, voucher)))
}

/// The entry as `accepted` echoes it: its source text less `extra.channelState` and
/// `extra.voucherState` (and a `null` `extra`, which serde omits).
fn write_stripped(out: &mut String, entry: &Obj<'_, '_>) {
    out.push('{');
    let mut first = true;
    for (k, v) in entry.0 {
        if k == "extra" && v.is_null() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_key(out, k);
        match &v.kind {
            Kind::Object(members) if k == "extra" => {
                out.push('{');
                let mut first = true;
                for (k, v) in members {
                    if k == "channelState" || k == "voucherState" {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_key(out, k);
                    out.push_str(v.raw);
                }
                out.push('}');
            }
            _ => out.push_str(v.raw),
        }
    }
    out.push('}');
}

// ---------------------------------------------------------------------------------------------
// The challenge and the choice.

/// One `batch-settlement` entry of a challenge.
#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    requirement: Result<BatchRequirement>,
    /// The entry as `accepted` echoes it.
    accepted: String,
    corrective: Corrective,
}

/// A v2 `PAYMENT-REQUIRED` challenge read for channels, without serde: what
/// `decode_payment_required` gives the serde path ([`super::choose`], [`super::refusal`],
/// [`super::payment_header`]).
#[derive(Debug, Clone)]
pub struct ChannelChallenge {
    challenge: Challenge,
    error: Option<String>,
    url: String,
    description: Option<String>,
    resource: Range<usize>,
    entries: Vec<Entry>,
}

/// A `batch-settlement` offer chosen to pay, as [`super::BatchOffer`] without serde: `accepted`
/// is the JSON text the payment echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOffer {
    /// Index in the challenge's `accepts`.
    pub index: usize,
    /// The parsed requirement.
    pub requirement: BatchRequirement,
    /// The entry to echo as `accepted` (JSON text, less a corrective 402's additions).
    pub accepted: String,
    /// The asset's decimals.
    pub decimals: u8,
}

impl OfferTerms for TextOffer {
    fn requirement(&self) -> &BatchRequirement {
        &self.requirement
    }
    fn decimals(&self) -> u8 {
        self.decimals
    }
}

impl ChannelChallenge {
    /// Reads a `PAYMENT-REQUIRED` value (v2). Errors as [`Challenge::from_header`]
    /// (`malformed_challenge`, `invalid_x402_version`).
    pub fn from_header(value: &str) -> Result<Self> {
        let challenge = Challenge::from_header(value)?;
        let text = challenge.json_text();
        // The reader above took this text: it parses, and `resource` is an object.
        let root = json::parse(text).map_err(|e| Error::new(Reason::MalformedChallenge, e.what))?;
        let bad = |m: String| Error::new(Reason::MalformedChallenge, m);
        let root = obj(&root, "PAYMENT-REQUIRED").map_err(bad)?;
        let error = root
            .opt("error")
            .map_err(bad)?
            .and_then(Value::as_str)
            .map(String::from);
        let r = root.req("resource").map_err(bad)?;
        let ro = obj(r, "resource").map_err(bad)?;
        let url = ro
            .req("url")
            .and_then(|v| string(v, "url"))
            .map_err(bad)?
            .into();
        let description = ro
            .opt("description")
            .map_err(bad)?
            .and_then(Value::as_str)
            .map(String::from);
        let mut entries = Vec::new();
        let accepts = root.req("accepts").map_err(bad)?.as_array().unwrap_or(&[]);
        for (index, e) in accepts.iter().enumerate() {
            let e = obj(e, "accepts entry").map_err(bad)?;
            if e.last("scheme").and_then(Value::as_str) != Some(SCHEME) {
                continue;
            }
            let extra = match e.last("extra") {
                Some(x) if x.is_object() => Some(obj(x, "extra").map_err(bad)?),
                _ => None,
            };
            let mut accepted = String::new();
            write_stripped(&mut accepted, &e);
            entries.push(Entry {
                index,
                requirement: batch_requirement_of(&e, extra.as_ref()),
                accepted,
                corrective: corrective_of(extra.as_ref()),
            });
        }
        Ok(Self {
            resource: span(text, r.raw),
            challenge,
            error,
            url,
            description,
            entries,
        })
    }

    /// `error`, the reason the server gives.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// `resource.url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `resource.description`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The `PAYMENT-SIGNATURE` value for a channel payload (JSON text, from the
    /// `*_payload_text` functions): `{x402Version: 2, resource, accepted, payload,
    /// extensions}` with the challenge's parts copied verbatim, as [`super::payment_header`];
    /// a declared `payment-identifier` gets an id derived from the payload (its keccak-256), so
    /// every resend of one payment names the same id and every other payment another.
    pub fn payment_header(&self, offer: &TextOffer, payload: &str) -> String {
        let text = self.challenge.json_text();
        let mut out = String::with_capacity(256 + text.len() + payload.len());
        out.push_str("{\"x402Version\":2,\"resource\":");
        out.push_str(&text[self.resource.clone()]);
        out.push_str(",\"accepted\":");
        out.push_str(&offer.accepted);
        out.push_str(",\"payload\":");
        out.push_str(payload);
        self.challenge
            .write_extensions(&mut out, &alloy_primitives::keccak256(payload.as_bytes()).0);
        out.push('}');
        base64::encode(out.as_bytes())
    }
}

/// [`super::choose`] over a [`ChannelChallenge`]: `Ok(None)` when the `exact` path pays it.
pub fn choose_text(
    policy: &Policy,
    options: &ChannelOptions,
    challenge: &ChannelChallenge,
) -> Result<Option<TextOffer>> {
    let offers = challenge.entries.iter().map(|e| {
        let requirement = e.requirement.clone()?;
        Ok(TextOffer {
            index: e.index,
            decimals: 0,
            requirement,
            accepted: e.accepted.clone(),
        })
    });
    choose_among(
        policy,
        options,
        offers,
        |o, decimals| o.decimals = decimals,
        || challenge.challenge.select(policy).is_ok(),
    )
}

/// [`super::refusal`] over a [`ChannelChallenge`].
pub fn refusal_text(
    channel: B256,
    payment_required: Option<&ChannelChallenge>,
    reason: Option<&str>,
) -> Refusal {
    let error = payment_required.and_then(ChannelChallenge::error);
    let correctives = payment_required
        .into_iter()
        .flat_map(|p| p.entries.iter().map(|e| e.corrective.clone()));
    refusal_of(channel, error, correctives, reason)
}

// ---------------------------------------------------------------------------------------------
// The client's payloads and the deposit's typed data.

/// `0x` and the lower-case hex of 32 bytes (what `B256`'s `Display` writes), without
/// `core::fmt`.
pub fn b256_text(b: &B256) -> String {
    crate::encoding::hex::prefixed(b.as_slice())
}

/// `"0x…"`: lower-case hex needs no escaping.
fn hex_str(out: &mut String, bytes: &[u8]) {
    out.push_str("\"0x");
    push_hex(out, bytes);
    out.push('"');
}

fn member(out: &mut String, key: &str, value: &str) {
    write_key(out, key);
    write_str(out, value);
}

fn addr_member(out: &mut String, key: &str, a: &Address) {
    member(out, key, &checksummed(a));
}

fn u256_member(out: &mut String, key: &str, v: &U256) {
    member(out, key, &decimal_u256::format(v));
}

fn hex_member(out: &mut String, key: &str, bytes: &[u8]) {
    write_key(out, key);
    hex_str(out, bytes);
}

/// `channelConfig` as [`ChannelConfigJson`] serializes.
fn write_config(out: &mut String, c: &ChannelConfigJson) {
    out.push('{');
    addr_member(out, "payer", &c.payer);
    out.push(',');
    addr_member(out, "payerAuthorizer", &c.payer_authorizer);
    out.push(',');
    addr_member(out, "receiver", &c.receiver);
    out.push(',');
    addr_member(out, "receiverAuthorizer", &c.receiver_authorizer);
    out.push(',');
    addr_member(out, "token", &c.token);
    out.push_str(",\"withdrawDelay\":");
    out.push_str(&dec(c.withdraw_delay));
    out.push(',');
    hex_member(out, "salt", c.salt.as_slice());
    out.push('}');
}

/// `{"type":…,"channelConfig":…,"voucher":…`, the start of every client payload.
fn payload_start(kind: &str, config: &ChannelConfigJson, v: &VoucherJson) -> String {
    let mut out = String::with_capacity(900);
    out.push('{');
    member(&mut out, "type", kind);
    out.push_str(",\"channelConfig\":");
    write_config(&mut out, config);
    out.push_str(",\"voucher\":{");
    hex_member(&mut out, "channelId", v.channel_id.as_slice());
    out.push(',');
    u256_member(
        &mut out,
        "maxClaimableAmount",
        &U256::from(v.max_claimable_amount),
    );
    out.push(',');
    hex_member(&mut out, "signature", &v.signature);
    out.push('}');
    out
}

/// The JSON of [`crate::scheme::batch::client::voucher_payload`]'s `to_json()`.
pub fn voucher_payload_text(config: &ChannelConfigJson, voucher: &VoucherJson) -> String {
    let mut out = payload_start("voucher", config, voucher);
    out.push('}');
    out
}

/// The JSON of [`crate::scheme::batch::client::deposit_payload`]'s `to_json()`.
pub fn deposit_payload_text(
    config: &ChannelConfigJson,
    voucher: &VoucherJson,
    auth: &ReceiveWithAuthorization,
    salt: B256,
    signature: &[u8],
) -> String {
    let mut out = payload_start("deposit", config, voucher);
    out.push_str(",\"deposit\":{");
    u256_member(&mut out, "amount", &auth.value);
    out.push_str(",\"authorization\":{\"erc3009Authorization\":{");
    u256_member(&mut out, "validAfter", &auth.validAfter);
    out.push(',');
    u256_member(&mut out, "validBefore", &auth.validBefore);
    out.push(',');
    hex_member(&mut out, "salt", salt.as_slice());
    out.push(',');
    hex_member(&mut out, "signature", signature);
    out.push_str("}}}}");
    out
}

/// The JSON of [`crate::scheme::batch::client::refund_payload`]'s `to_json()`.
pub fn refund_payload_text(
    config: &ChannelConfigJson,
    voucher: &VoucherJson,
    amount: Option<U256>,
) -> String {
    let mut out = payload_start("refund", config, voucher);
    if let Some(a) = amount {
        out.push(',');
        u256_member(&mut out, "amount", &a);
    }
    out.push('}');
    out
}

/// The `eth_signTypedData_v4` JSON text of a deposit's `ReceiveWithAuthorization`: the text of
/// [`crate::scheme::batch::digest::receive_authorization_typed_data`]'s value.
pub fn receive_typed_data_text(
    token_name: &str,
    token_version: &str,
    chain_id: u64,
    token: Address,
    m: &ReceiveWithAuthorization,
) -> String {
    let mut out = String::with_capacity(900);
    out.push_str(concat!(
        "{\"types\":{\"EIP712Domain\":[",
        "{\"name\":\"name\",\"type\":\"string\"},",
        "{\"name\":\"version\",\"type\":\"string\"},",
        "{\"name\":\"chainId\",\"type\":\"uint256\"},",
        "{\"name\":\"verifyingContract\",\"type\":\"address\"}],",
        "\"ReceiveWithAuthorization\":[",
        "{\"name\":\"from\",\"type\":\"address\"},",
        "{\"name\":\"to\",\"type\":\"address\"},",
        "{\"name\":\"value\",\"type\":\"uint256\"},",
        "{\"name\":\"validAfter\",\"type\":\"uint256\"},",
        "{\"name\":\"validBefore\",\"type\":\"uint256\"},",
        "{\"name\":\"nonce\",\"type\":\"bytes32\"}]},",
        "\"primaryType\":\"ReceiveWithAuthorization\",\"domain\":{"
    ));
    member(&mut out, "name", token_name);
    out.push(',');
    member(&mut out, "version", token_version);
    out.push_str(",\"chainId\":");
    out.push_str(&dec(chain_id));
    out.push(',');
    addr_member(&mut out, "verifyingContract", &token);
    out.push_str("},\"message\":{");
    addr_member(&mut out, "from", &m.from);
    out.push(',');
    addr_member(&mut out, "to", &m.to);
    out.push(',');
    u256_member(&mut out, "value", &m.value);
    out.push(',');
    u256_member(&mut out, "validAfter", &m.validAfter);
    out.push(',');
    u256_member(&mut out, "validBefore", &m.validBefore);
    out.push(',');
    hex_member(&mut out, "nonce", m.nonce.as_slice());
    out.push_str("}}");
    out
}

// ---------------------------------------------------------------------------------------------
// The stored state and the options.

fn config_of(v: &Value<'_>) -> R<ChannelConfigJson> {
    let o = obj(v, "config")?;
    // `deny_unknown_fields`.
    const KNOWN: [&str; 7] = [
        "payer",
        "payerAuthorizer",
        "receiver",
        "receiverAuthorizer",
        "token",
        "withdrawDelay",
        "salt",
    ];
    if let Some((k, _)) = o.0.iter().find(|(k, _)| !KNOWN.contains(&k.as_ref())) {
        return Err(cat(&["config: unknown field ", k]));
    }
    let withdraw_delay = u64_of(o.req("withdrawDelay")?, "withdrawDelay")?;
    if withdraw_delay >> 40 != 0 {
        return Err("withdrawDelay is above uint40".into());
    }
    Ok(ChannelConfigJson {
        payer: addr_of(o.req("payer")?, "payer")?,
        payer_authorizer: addr_of(o.req("payerAuthorizer")?, "payerAuthorizer")?,
        receiver: addr_of(o.req("receiver")?, "receiver")?,
        receiver_authorizer: addr_of(o.req("receiverAuthorizer")?, "receiverAuthorizer")?,
        token: addr_of(o.req("token")?, "token")?,
        withdraw_delay,
        salt: b256_of(o.req("salt")?, "salt")?,
    })
}

fn client_channel_of(v: &Value<'_>) -> R<ClientChannel> {
    let o = obj(v, "channel")?;
    Ok(ClientChannel {
        config: config_of(o.req("config")?)?,
        channel_id: b256_of(o.req("channelId")?, "channelId")?,
        chain_id: u64_of(o.req("chainId")?, "chainId")?,
        charged: u256_of(o.req("charged")?, "charged")?,
        balance: u256_of(o.req("balance")?, "balance")?,
        voucher_key: addr_of(o.req("voucherKey")?, "voucherKey")?,
        signed_max: match o.field("signedMax")? {
            Some(v) => u256_of(v, "signedMax")?,
            None => U256::ZERO,
        },
        blocked: o
            .opt("blocked")?
            .map(|v| string(v, "blocked").map(String::from))
            .transpose()?,
    })
}

impl ClientChannel {
    /// Reads a stored state (JSON text); `None` when it is not one (a corrupted or foreign
    /// entry is ignored, never trusted in part). The rules of its serde derive.
    pub fn from_json_text(text: &str) -> Option<Self> {
        parse_text(text, "channel")
            .and_then(|v| client_channel_of(&v))
            .ok()
    }

    /// The state as JSON text: the bytes serde writes for it.
    pub fn to_json_text(&self) -> String {
        let mut out = String::with_capacity(700);
        out.push_str("{\"config\":");
        write_config(&mut out, &self.config);
        out.push(',');
        hex_member(&mut out, "channelId", self.channel_id.as_slice());
        out.push_str(",\"chainId\":");
        out.push_str(&dec(self.chain_id));
        out.push(',');
        u256_member(&mut out, "charged", &self.charged);
        out.push(',');
        u256_member(&mut out, "balance", &self.balance);
        out.push(',');
        addr_member(&mut out, "voucherKey", &self.voucher_key);
        out.push(',');
        u256_member(&mut out, "signedMax", &self.signed_max);
        if let Some(b) = &self.blocked {
            out.push(',');
            member(&mut out, "blocked", b);
        }
        out.push('}');
        out
    }
}

impl ChannelOptions {
    /// Reads the options from JSON text (the rules of the serde derive: every field optional,
    /// unknown fields ignored); the error is the message (the caller reports `invalid_config`).
    pub fn from_json_text(text: &str) -> core::result::Result<Self, String> {
        let v = parse_text(text, "channels")?;
        let o = obj(&v, "channels")?;
        let mut out = Self::default();
        if let Some(v) = o.field("allowed")? {
            out.allowed = bool_of(v, "allowed")?;
        }
        if let Some(v) = o.field("preferred")? {
            out.preferred = bool_of(v, "preferred")?;
        }
        if let Some(v) = o.field("credit")? {
            out.credit = u256_of(v, "credit")?;
        }
        if let Some(v) = o.field("maxDeposit")? {
            out.max_deposit = u256_of(v, "maxDeposit")?;
        }
        if let Some(v) = o.field("depositMultiplier")? {
            out.deposit_multiplier = u64_of(v, "depositMultiplier")?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        batch_extra, both, entry, server_state, signed, state, success, voucher_signer, PAYER,
        TOKEN,
    };
    use super::super::{choose, payment_header, read_response, refusal, Choice};
    use super::*;
    use crate::scheme::batch::client::{deposit_payload, refund_payload, voucher, voucher_payload};
    use crate::scheme::batch::digest::receive_authorization_typed_data;
    use crate::wire::header::decode_payment_required;
    use crate::wire::v2::PaymentRequirements;
    use alloc::{string::ToString, vec, vec::Vec};
    use serde_json::{json, Value as J};

    fn header_of(v: &J) -> String {
        base64::encode(&serde_json::to_vec(v).unwrap())
    }

    /// Every prefix and a few byte changes of `text`: the reader must not panic on any.
    fn mangled(text: &str) -> Vec<String> {
        let mut out: Vec<String> = (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| text[..i].to_string())
            .collect();
        for (i, c) in text.char_indices().step_by(7) {
            for r in ["\"", "0", "}", "x", "null"] {
                let mut t = text.to_string();
                t.replace_range(i..i + c.len_utf8(), r);
                out.push(t);
            }
        }
        out
    }

    #[test]
    fn stored_state_is_the_serde_bytes_and_reads_alike() {
        let (_, mut s) = state(10_000, 30_000, 500_000);
        s.signed_max = U256::from(40_000);
        let serde_text = serde_json::to_string(&s).unwrap();
        assert_eq!(s.to_json_text(), serde_text);
        s.blocked = Some("invalid_batch_settlement_evm_cumulative_amount_mismatch\"\n".into());
        assert_eq!(s.to_json_text(), serde_json::to_string(&s).unwrap());
        let v: J = serde_json::from_str(&serde_text).unwrap();
        let mut cases = vec![serde_text.clone(), s.to_json_text()];
        let mut with = |f: &dyn Fn(&mut J)| {
            let mut x = v.clone();
            f(&mut x);
            cases.push(x.to_string());
        };
        with(&|x| drop(x.as_object_mut().unwrap().remove("signedMax")));
        with(&|x| x["blocked"] = J::Null);
        with(&|x| x["blocked"] = json!(1));
        with(&|x| x["signedMax"] = J::Null);
        with(&|x| x["other"] = json!({"a": [1, 2]}));
        with(&|x| x["config"]["other"] = json!(1));
        with(&|x| x["config"]["withdrawDelay"] = json!(1u64 << 40));
        with(&|x| x["config"]["withdrawDelay"] = json!((1u64 << 40) - 1));
        with(&|x| x["config"]["withdrawDelay"] = json!("900"));
        with(&|x| x["config"]["salt"] = json!("0x00"));
        with(&|x| x["config"]["payer"] = json!("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"));
        with(&|x| x["config"]["payer"] = json!("0xf39fd6e51aad88f6f4ce6ab8827279cfffB92266"));
        with(&|x| x["channelId"] = json!(format!("0x0x{}", "a".repeat(62))));
        with(&|x| x["channelId"] = json!(format!("0X{}", "a".repeat(64))));
        with(&|x| x["channelId"] = json!(format!("0x{}", "A".repeat(64))));
        with(&|x| x["chainId"] = json!(-1));
        with(&|x| x["chainId"] = json!(1.5));
        with(&|x| x["charged"] = json!(1));
        with(&|x| x["charged"] = json!("01"));
        with(&|x| drop(x.as_object_mut().unwrap().remove("balance")));
        cases.push(serde_text.replacen("\"chainId\"", "\"chainId\":1,\"chainId\"", 1));
        cases.push("[]".into());
        cases.push("not json".into());
        cases.extend(mangled(&serde_text));
        for text in &cases {
            let theirs = serde_json::from_str::<ClientChannel>(text).ok();
            assert_eq!(ClientChannel::from_json_text(text), theirs, "{text}");
        }
    }

    #[test]
    fn options_read_alike() {
        let cases = [
            "{}",
            r#"{"allowed":true}"#,
            r#"{"allowed":true,"preferred":false,"credit":"10000","maxDeposit":"20000","depositMultiplier":7}"#,
            r#"{"allowed":null}"#,
            r#"{"allowed":"yes"}"#,
            r#"{"credit":10000}"#,
            r#"{"credit":"1e4"}"#,
            r#"{"depositMultiplier":"5"}"#,
            r#"{"depositMultiplier":5.0}"#,
            r#"{"depositMultiplier":-5}"#,
            r#"{"depositMultiplier":18446744073709551616}"#,
            r#"{"allowed":true,"allowed":false}"#,
            r#"{"unknown":[1,{"x":null}]}"#,
            "null",
            "",
            "{",
        ];
        for text in cases {
            let theirs = serde_json::from_str::<ChannelOptions>(text).ok();
            assert_eq!(ChannelOptions::from_json_text(text).ok(), theirs, "{text}");
        }
        // serde's derive also takes a struct as an array of its fields; the JS side writes an
        // object, and only an object is read here.
        assert!(serde_json::from_str::<ChannelOptions>("[]").is_ok());
        assert!(ChannelOptions::from_json_text("[]").is_err());
        for text in mangled(cases[2]).iter().filter(|t| !t.starts_with('[')) {
            let theirs = serde_json::from_str::<ChannelOptions>(text).ok();
            assert_eq!(ChannelOptions::from_json_text(text).ok(), theirs, "{text}");
        }
    }

    #[test]
    fn responses_read_alike() {
        let (_, s) = state(10_000, 0, 0);
        let r = success(s.channel_id, 10_000, Some(10_000));
        let v = serde_json::to_value(&r).unwrap();
        let mut cases = vec![v.clone()];
        let mut with = |f: &dyn Fn(&mut J)| {
            let mut x = v.clone();
            f(&mut x);
            cases.push(x);
        };
        with(&|x| x["errorReason"] = json!("invalid_batch_settlement_evm_channel_busy"));
        with(&|x| x["errorReason"] = J::Null);
        with(&|x| x["errorReason"] = json!(1));
        with(&|x| x["transaction"] = J::Null);
        with(&|x| x["transaction"] = json!("0xab"));
        with(&|x| drop(x.as_object_mut().unwrap().remove("transaction")));
        with(&|x| drop(x.as_object_mut().unwrap().remove("network")));
        with(&|x| x["amount"] = J::Null);
        with(&|x| x["amount"] = json!("12"));
        with(&|x| x["amount"] = json!("x"));
        with(&|x| x["success"] = json!("true"));
        with(&|x| x["extra"] = J::Null);
        with(&|x| x["extra"] = json!([]));
        with(&|x| x["extra"]["chargedAmount"] = J::Null);
        with(&|x| drop(x["extra"].as_object_mut().unwrap().remove("chargedAmount")));
        with(&|x| x["extra"]["channelState"]["refundNonce"] = json!(7));
        with(&|x| x["extra"]["channelState"]["refundNonce"] = json!("7"));
        with(&|x| x["extra"]["channelState"]["refundNonce"] = json!(-7));
        with(&|x| x["extra"]["channelState"]["refundNonce"] = J::Null);
        with(&|x| x["extra"]["channelState"]["chargedCumulativeAmount"] = J::Null);
        with(&|x| x["extra"]["channelState"]["withdrawRequestedAt"] = json!(1.0));
        with(&|x| x["extra"]["channelState"]["channelId"] = json!("0x12"));
        with(&|x| x["extra"]["channelState"]["unknown"] = json!({}));
        let mut texts: Vec<String> = cases.iter().map(J::to_string).collect();
        let base = v.to_string();
        texts.push(base.replacen("\"success\"", "\"success\":true,\"success\"", 1));
        texts.push("[]".into());
        texts.extend(mangled(&base));
        for text in texts {
            let value = base64::encode(text.as_bytes());
            match (read_response(&value), read_response_text(&value)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{text}"),
                (a, b) => panic!("{text}: {a:?} / {b:?}"),
            }
        }
        for value in ["", "!!", "e30"] {
            assert_eq!(
                read_response(value).map_err(|e| e.code().to_string()),
                read_response_text(value).map_err(|e| e.code().to_string())
            );
        }
    }

    /// The challenges the choice and the refusal are compared on.
    fn challenges() -> Vec<J> {
        let (_, s) = state(10_000, 0, 0);
        let corrective = {
            let mut x = batch_extra();
            x["channelState"] = server_state(&s, 70_000, 0).to_json();
            x["voucherState"] =
                serde_json::to_value(signed(&voucher_signer(), &s, 70_000)).unwrap();
            x["zzz"] = json!({"kept": [1, "two"]});
            x
        };
        let exact = entry("exact", 10_000, json!({"name": "USD Coin", "version": "2"}));
        let batch = |amount: u64, f: &dyn Fn(&mut J)| {
            let mut e = entry("batch-settlement", amount, batch_extra());
            f(&mut e);
            e
        };
        let wrap = |accepts: Vec<J>| json!({"x402Version": 2, "resource": {"url": "https://example.com/a", "description": "A"}, "accepts": accepts});
        let mut out = vec![
            serde_json::to_value(both(10_000)).unwrap(),
            wrap(vec![batch(10_000, &|_| {})]),
            wrap(vec![
                exact.clone(),
                batch(10_000, &|e| e["extra"] = corrective.clone()),
            ]),
            wrap(vec![batch(10_000, &|e| e["extra"] = corrective.clone())]),
            wrap(vec![batch(200_000, &|_| {})]),
            wrap(vec![exact.clone(), batch(200_000, &|_| {})]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["assetTransferMethod"] = json!("permit2")
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["assetTransferMethod"] = json!("eip3009")
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["assetTransferMethod"] = json!(3)
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["minDeposit"] = json!("600000")
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["minDeposit"] = json!(6)
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["withdrawDelay"] = json!(10)
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["withdrawDelay"] = json!("900")
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["receiverAuthorizer"] = json!(format!("0x{}", "0".repeat(40)))
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["extra"]["receiverAuthorizer"] = json!("0x12")
            })]),
            wrap(vec![batch(10_000, &|e| {
                drop(e["extra"].as_object_mut().unwrap().remove("name"))
            })]),
            wrap(vec![batch(10_000, &|e| e["extra"] = J::Null)]),
            wrap(vec![batch(10_000, &|e| {
                e["network"] = json!("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp")
            })]),
            wrap(vec![batch(10_000, &|e| {
                e["network"] = json!("eip155:8453")
            })]),
            wrap(vec![batch(10_000, &|e| e["asset"] = json!("0x1234"))]),
            wrap(vec![batch(10_000, &|e| e["payTo"] = json!("nope"))]),
            wrap(vec![batch(10_000, &|e| {
                e["maxTimeoutSeconds"] = json!(100_000)
            })]),
            wrap(vec![batch(10_000, &|e| e["other"] = json!({"x": 1.5}))]),
            wrap(vec![
                batch(10_000, &|e| e["extra"] = corrective.clone()),
                batch(20_000, &|e| {
                    e["extra"]["channelState"] = json!({"channelId": 1})
                }),
            ]),
        ];
        let mut errored = wrap(vec![batch(10_000, &|e| e["extra"] = corrective.clone())]);
        errored["error"] = json!("invalid_batch_settlement_evm_channel_busy");
        out.push(errored);
        let mut ext = wrap(vec![exact, batch(10_000, &|_| {})]);
        ext["extensions"] = json!({"bazaar": {"info": [1, 2, {"x": "y"}]}});
        out.push(ext);
        out
    }

    #[test]
    fn challenges_are_chosen_and_paid_alike() {
        let (_, s) = state(10_000, 0, 0);
        let policy = Policy::default();
        let v = voucher(
            &state(10_000, 0, 0).0.requirement,
            &s.config,
            10_000,
            Bytes::from(vec![7u8; 65]),
        );
        for c in challenges() {
            let header = header_of(&c);
            let (theirs, ours) = (
                decode_payment_required(&header),
                ChannelChallenge::from_header(&header),
            );
            let (theirs, ours) = match (theirs, ours) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(a), Err(b)) => {
                    assert_eq!(a.code(), b.code(), "{c}");
                    continue;
                }
                (a, b) => panic!("{c}: {a:?} / {b:?}"),
            };
            assert_eq!(ours.url(), theirs.resource.url);
            assert_eq!(ours.description(), theirs.resource.description.as_deref());
            assert_eq!(ours.error(), theirs.error.as_deref());
            for preferred in [true, false] {
                let options = ChannelOptions {
                    allowed: true,
                    preferred,
                    ..ChannelOptions::default()
                };
                match (
                    choose(&policy, &options, &theirs),
                    choose_text(&policy, &options, &ours),
                ) {
                    (Ok(Choice::Exact), Ok(None)) => {}
                    (Ok(Choice::Batch(a)), Ok(Some(b))) => {
                        assert_eq!(
                            (a.index, &a.requirement, a.decimals),
                            (b.index, &b.requirement, b.decimals)
                        );
                        let accepted: PaymentRequirements =
                            serde_json::from_str(&b.accepted).unwrap();
                        assert_eq!(accepted, a.accepted, "{c}");
                        let payload = voucher_payload(&s.config, v.clone());
                        let h1 = payment_header(&theirs, &a, &payload).unwrap();
                        let h2 = ours.payment_header(&b, &voucher_payload_text(&s.config, &v));
                        let json = |h: &str| -> J {
                            serde_json::from_slice(&base64::decode_bytes(h.as_bytes()).unwrap())
                                .unwrap()
                        };
                        assert_eq!(json(&h1), json(&h2), "{c}");
                    }
                    (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{c}"),
                    (a, b) => panic!("{c}: {a:?} / {b:?}"),
                }
            }
            for reason in [
                None,
                Some("invalid_batch_settlement_evm_channel_busy"),
                Some("x"),
            ] {
                for channel in [s.channel_id, B256::repeat_byte(3)] {
                    assert_eq!(
                        refusal(channel, Some(&theirs), reason),
                        refusal_text(channel, Some(&ours), reason),
                        "{c}"
                    );
                }
            }
        }
        assert_eq!(
            refusal(s.channel_id, None, None),
            refusal_text(s.channel_id, None, None)
        );
        // Malformed challenges: the same codes, no panic.
        let base = challenges()[2].to_string();
        for text in mangled(&base) {
            let header = base64::encode(text.as_bytes());
            assert_eq!(
                decode_payment_required(&header)
                    .map(|_| ())
                    .map_err(|e| e.code().to_string()),
                ChannelChallenge::from_header(&header)
                    .map(|_| ())
                    .map_err(|e| e.code().to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn payloads_and_typed_data_are_the_serde_json() {
        let (o, s) = state(10_000, 0, 500_000);
        let v = voucher(
            &o.requirement,
            &s.config,
            u128::MAX,
            Bytes::from(vec![0xab; 65]),
        );
        let auth = crate::scheme::batch::client::receive_authorization(
            &o.requirement,
            &s.config,
            U256::from(500_000),
            1_700_000_000,
            B256::repeat_byte(5),
        );
        let sig = Bytes::from(vec![0xcd; 65]);
        let parse = |t: &str| -> J { serde_json::from_str(t).unwrap() };
        assert_eq!(
            voucher_payload_text(&s.config, &v),
            voucher_payload(&s.config, v.clone()).to_json().to_string()
        );
        assert_eq!(
            parse(&deposit_payload_text(
                &s.config,
                &v,
                &auth,
                B256::repeat_byte(5),
                &sig
            )),
            deposit_payload(
                &s.config,
                v.clone(),
                &auth,
                B256::repeat_byte(5),
                sig.clone()
            )
            .to_json()
        );
        for amount in [None, Some(U256::from(123u64))] {
            assert_eq!(
                refund_payload_text(&s.config, &v, amount),
                refund_payload(&s.config, v.clone(), amount)
                    .to_json()
                    .to_string()
            );
        }
        let token = parse_address(TOKEN).unwrap();
        for name in ["USD Coin", "Odd \"name\"\n\u{1}é"] {
            assert_eq!(
                receive_typed_data_text(name, "2", 31337, token, &auth),
                receive_authorization_typed_data(name, "2", 31337, token, &auth)
                    .unwrap()
                    .to_string()
            );
        }
        assert_eq!(auth.from, PAYER);
        for b in [B256::ZERO, B256::repeat_byte(0xab), auth.nonce] {
            assert_eq!(b256_text(&b), b.to_string());
        }
    }
}
