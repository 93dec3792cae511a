//! Property tests: every x402 wire type and header codec round-trips (`decode(encode(x)) == x`),
//! encodings are canonical (`encode(decode(s)) == s` for what the encoder writes), and no
//! decoder panics on arbitrary input.
//!
//! Strategies stay within what each type accepts on the wire: CAIP-2 networks, decimal uint256
//! amounts, unknown fields (`other`) whose keys are not the type's own field names, and
//! `Option<Value>` fields that are never `Some(null)` (which JSON cannot tell from `None`).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_primitives::hex;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt::Debug;
use std::str::FromStr;
use x402_core::client::challenge::{self, Challenge};
use x402_core::client::{AllowedAsset, Budget, Policy, Spent};
use x402_core::encoding::{base64, decimal_u256, json};
use x402_core::evm::address;
use x402_core::evm::money::{format_amount, parse_price};
use x402_core::evm::network::Network;
use x402_core::scheme::exact::verify;
use x402_core::scheme::exact::{self, build_payment, typed_data, Authorization, ExactEvmPayload};
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::header;
use x402_core::wire::AnyPaymentRequired;
use x402_core::wire::{
    v1, v2, DiscoveryItem, DiscoveryResponse, JsonMap, Pagination, SettleResponse, SupportedKind,
    SupportedResponse, VerifyResponse, V1, V2,
};
use x402_core::{Address, Bytes, Reason, B256, U256};

// ---------------------------------------------------------------------------------------------
// Strategies: JSON
// ---------------------------------------------------------------------------------------------

/// Short strings over all of Unicode (controls, quotes and backslashes included, which JSON
/// must escape), mixed with printable ASCII.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<char>(), 0..=max).prop_map(String::from_iter),
        proptest::string::string_regex(&format!("[ -~]{{0,{max}}}")).unwrap(),
    ]
}

fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_filter("non-empty", |s| !s.is_empty())
}

/// Object keys: identifiers most of the time, arbitrary text sometimes.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
        1 => text(8),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        short_float().prop_map(Value::from),
        text(12).prop_map(Value::String),
    ]
}

/// Floats with few significant digits and a moderate exponent (`-12.5`, `0.00042`, `3e14`):
/// parsed exactly by serde_json's fast path. Arbitrary floats do not all survive a JSON round trip; see
/// `opaque_json_keeps_any_float`.
fn short_float() -> impl Strategy<Value = f64> {
    (-99_999i32..100_000, -8i32..=10).prop_map(|(m, e)| {
        let text = format!("{m}e{e}");
        text.parse::<f64>().unwrap()
    })
}

fn any_finite_float() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                vec((json_key(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A JSON object in generation order (the crate keeps insertion order).
fn json_map() -> BoxedStrategy<JsonMap> {
    vec((json_key(), json_value()), 0..4)
        .prop_map(|kv| kv.into_iter().collect())
        .boxed()
}

/// Unknown fields of a type with a `#[serde(flatten)] other` map: any key but the type's own.
fn unknown_fields(known: &'static [&'static str]) -> impl Strategy<Value = JsonMap> {
    vec(
        (
            json_key().prop_filter("not a known field", move |k| !known.contains(&k.as_str())),
            json_value(),
        ),
        0..4,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

const RESOURCE_INFO_FIELDS: &[&str] = &["url", "description", "mimeType"];
const V2_REQUIREMENT_FIELDS: &[&str] = &[
    "scheme",
    "network",
    "amount",
    "asset",
    "payTo",
    "maxTimeoutSeconds",
    "extra",
];
const V1_REQUIREMENT_FIELDS: &[&str] = &[
    "scheme",
    "network",
    "maxAmountRequired",
    "resource",
    "description",
    "mimeType",
    "payTo",
    "maxTimeoutSeconds",
    "asset",
    "outputSchema",
    "extra",
];

// ---------------------------------------------------------------------------------------------
// Strategies: primitives
// ---------------------------------------------------------------------------------------------

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::MAX),
        (0u64..2_000_000).prop_map(U256::from),
        any::<u64>().prop_map(U256::from),
        any::<u128>().prop_map(U256::from),
        (0usize..256).prop_map(|b| U256::from(1u8) << b),
        (0usize..78, prop_oneof![Just(-1i8), Just(0), Just(1)]).prop_map(|(e, d)| {
            let p = U256::from(10u8).pow(U256::from(e));
            match d {
                -1 => p - U256::from(1u8),
                0 => p,
                _ => p + U256::from(1u8),
            }
        }),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(Address::from),
        // Few letters, many digits: exercises the checksum's edge cases.
        vec(
            prop_oneof![Just(0u8), Just(0x11), Just(0xa0), any::<u8>()],
            20
        )
        .prop_map(|b| Address::from_slice(&b)),
    ]
}

fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

fn lower_hex(a: &Address) -> String {
    format!("0x{}", hex::encode(a.as_slice()))
}

fn upper_hex(a: &Address) -> String {
    format!("0x{}", hex::encode_upper(a.as_slice()))
}

/// `asset` / `payTo` strings: scheme-specific on the wire, so any text, mostly addresses.
fn address_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => address().prop_map(|a| a.to_checksum(None)),
        1 => address().prop_map(|a| lower_hex(&a)),
        1 => "[1-9A-HJ-NP-Za-km-z]{32,44}",
        1 => text(20),
    ]
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("exact".to_string()),
        1 => Just("upto".to_string()),
        1 => text(10),
    ]
}

/// CAIP-2 networks: EVM chains, Solana clusters (base58 genesis hash prefix) and any other
/// namespace the grammar allows.
fn network() -> impl Strategy<Value = Network> {
    prop_oneof![
        3 => (0u64..100_000).prop_map(Network::eip155),
        2 => any::<u64>().prop_map(Network::eip155),
        2 => "[1-9A-HJ-NP-Za-km-z]{32}".prop_map(|r| format!("solana:{r}").parse().unwrap()),
        1 => ("[-a-z0-9]{3,8}", "[-_a-zA-Z0-9]{1,32}")
            .prop_filter("eip155 needs a decimal reference", |(ns, _)| ns != "eip155")
            .prop_map(|(ns, r)| format!("{ns}:{r}").parse().unwrap()),
    ]
}

/// v1 network names: known short names, CAIP-2 ids or anything.
fn v1_network() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "base",
            "base-sepolia",
            "ethereum",
            "polygon",
            "solana",
            "solana-devnet",
        ])
        .prop_map(String::from),
        network().prop_map(|n| n.to_string()),
        text(12),
    ]
}

/// `extra`: sometimes the EIP-712 domain the exact scheme needs, sometimes anything.
fn extra() -> impl Strategy<Value = Option<JsonMap>> {
    prop_oneof![
        Just(None),
        (text(8), text(4), json_map()).prop_map(|(name, version, mut rest)| {
            rest.insert("name".into(), Value::String(name));
            rest.insert("version".into(), Value::String(version));
            Some(rest)
        }),
        json_map().prop_map(Some),
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies: wire types
// ---------------------------------------------------------------------------------------------

prop_compose! {
    fn resource_info()(
        url in non_empty_text(40),
        description in prop::option::of(text(30)),
        mime_type in prop::option::of(text(20)),
        other in unknown_fields(RESOURCE_INFO_FIELDS),
    ) -> v2::ResourceInfo {
        v2::ResourceInfo { url, description, mime_type, other }
    }
}

prop_compose! {
    fn v2_requirements()(
        scheme in scheme(),
        network in network(),
        amount in u256(),
        asset in address_string(),
        pay_to in address_string(),
        max_timeout_seconds in any::<u64>(),
        extra in extra(),
        other in unknown_fields(V2_REQUIREMENT_FIELDS),
    ) -> v2::PaymentRequirements {
        v2::PaymentRequirements { scheme, network, amount, asset, pay_to, max_timeout_seconds, extra, other }
    }
}

prop_compose! {
    fn v2_payment_required()(
        error in prop::option::of(text(30)),
        resource in resource_info(),
        accepts in vec(v2_requirements(), 1..4),
        extensions in prop::option::of(json_map()),
    ) -> v2::PaymentRequired {
        v2::PaymentRequired { x402_version: V2, error, resource, accepts, extensions }
    }
}

prop_compose! {
    fn authorization()(
        from in address(),
        to in address(),
        value in u256(),
        valid_after in u256(),
        valid_before in u256(),
        nonce in b256(),
    ) -> Authorization {
        Authorization { from, to, value, valid_after, valid_before, nonce }
    }
}

prop_compose! {
    fn exact_payload()(
        signature in prop_oneof![
            vec(any::<u8>(), 65),
            vec(any::<u8>(), 1..300),
        ],
        authorization in authorization(),
    ) -> ExactEvmPayload {
        ExactEvmPayload { signature: Bytes::from(signature), authorization }
    }
}

/// A `payload` object: usually an exact EVM payload, sometimes any JSON.
fn payload_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => exact_payload().prop_map(|p| p.to_json()),
        1 => json_value(),
    ]
}

prop_compose! {
    fn v2_payment_payload()(
        resource in prop::option::of(resource_info()),
        accepted in v2_requirements(),
        payload in payload_value(),
        extensions in prop::option::of(json_map()),
    ) -> v2::PaymentPayload {
        v2::PaymentPayload { x402_version: V2, resource, accepted, payload, extensions }
    }
}

prop_compose! {
    fn v1_requirements()(
        scheme in scheme(),
        network in v1_network(),
        max_amount_required in u256(),
        resource in text(40),
        description in text(30),
        mime_type in prop::option::of(text(20)),
        pay_to in address_string(),
        max_timeout_seconds in any::<u64>(),
        asset in address_string(),
        output_schema in prop::option::of(json_value().prop_filter("null is None", |v| !v.is_null())),
        extra in extra(),
        other in unknown_fields(V1_REQUIREMENT_FIELDS),
    ) -> v1::PaymentRequirements {
        v1::PaymentRequirements {
            scheme, network, max_amount_required, resource, description, mime_type, pay_to,
            max_timeout_seconds, asset, output_schema, extra, other,
        }
    }
}

prop_compose! {
    fn v1_payment_required()(
        error in prop::option::of(text(30)),
        accepts in vec(v1_requirements(), 1..4),
    ) -> v1::PaymentRequired {
        v1::PaymentRequired { x402_version: V1, error, accepts }
    }
}

prop_compose! {
    fn v1_payment_payload()(
        scheme in scheme(),
        network in v1_network(),
        payload in payload_value(),
    ) -> v1::PaymentPayload {
        v1::PaymentPayload { x402_version: V1, scheme, network, payload }
    }
}

prop_compose! {
    fn verify_response()(
        is_valid in any::<bool>(),
        invalid_reason in prop::option::of(prop_oneof![
            prop::sample::select(Reason::ALL.to_vec()).prop_map(|r| r.as_str().to_string()),
            text(20),
        ]),
        invalid_message in prop::option::of(text(40)),
        payer in prop::option::of(address_string()),
        extensions in prop::option::of(json_map()),
    ) -> VerifyResponse {
        VerifyResponse { is_valid, invalid_reason, invalid_message, payer, extensions }
    }
}

prop_compose! {
    fn settle_response(amount: BoxedStrategy<Option<U256>>)(
        success in any::<bool>(),
        error_reason in prop::option::of(text(20)),
        error_message in prop::option::of(text(40)),
        transaction in prop_oneof![b256().prop_map(|h| h.to_string()), text(20)],
        network in prop_oneof![network().prop_map(|n| n.to_string()), v1_network()],
        payer in prop::option::of(address_string()),
        amount in amount,
        extensions in prop::option::of(json_map()),
    ) -> SettleResponse {
        SettleResponse {
            success, error_reason, error_message, transaction, network, payer, amount, extensions,
        }
    }
}

prop_compose! {
    fn supported_kind()(
        x402_version in any::<u8>(),
        scheme in scheme(),
        network in prop_oneof![network().prop_map(|n| n.to_string()), v1_network()],
        extra in prop::option::of(json_map()),
    ) -> SupportedKind {
        SupportedKind { x402_version, scheme, network, extra }
    }
}

prop_compose! {
    fn supported_response()(
        kinds in vec(supported_kind(), 0..4),
        extensions in vec(text(12), 0..3),
        signers in btree_map(text(10), vec(address_string(), 0..3), 0..3),
    ) -> SupportedResponse {
        SupportedResponse { kinds, extensions, signers }
    }
}

prop_compose! {
    fn discovery_item()(
        resource in text(40),
        kind in prop_oneof![Just("http".to_string()), text(8)],
        x402_version in any::<u8>(),
        accepts in vec(v2_requirements(), 0..3),
        last_updated in any::<u64>(),
        metadata in prop::option::of(json_map()),
    ) -> DiscoveryItem {
        DiscoveryItem { resource, kind, x402_version, accepts, last_updated, metadata }
    }
}

prop_compose! {
    fn discovery_response()(
        x402_version in any::<u8>(),
        items in vec(discovery_item(), 0..3),
        limit in any::<u32>(),
        offset in any::<u32>(),
        total in any::<u32>(),
    ) -> DiscoveryResponse {
        DiscoveryResponse { x402_version, items, pagination: Pagination { limit, offset, total } }
    }
}

prop_compose! {
    fn budget()(
        limit in u256(),
        period_seconds in any::<u64>(),
        spent in btree_map(
            text(30),
            (any::<u64>(), u256()).prop_map(|(period_start, amount)| Spent { period_start, amount }),
            0..4,
        ),
    ) -> Budget {
        // `spent` is a list sorted by origin, one entry each: what a map iterates.
        Budget { limit, period_seconds, spent: spent.into_iter().collect() }
    }
}

prop_compose! {
    fn allowed_asset()(
        network in network(),
        asset in address_string(),
        max_amount in prop::option::of(u256()),
        decimals in prop::option::of(any::<u8>()),
    ) -> AllowedAsset {
        AllowedAsset { network, asset, max_amount, decimals }
    }
}

prop_compose! {
    fn policy()(
        max_amount in prop::option::of(u256()),
        allowed_networks in prop::option::of(vec(network(), 0..4)),
        allowed_assets in prop::option::of(vec(allowed_asset(), 0..3)),
        preferred_networks in vec(network(), 0..4),
        max_timeout_seconds in any::<u64>(),
    ) -> Policy {
        Policy { max_amount, allowed_networks, allowed_assets, preferred_networks, max_timeout_seconds }
    }
}

/// An EOA-shaped (65-byte, `v` mostly valid) or smart-wallet-shaped (longer) signature.
fn signature_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (any::<[u8; 32]>(), any::<[u8; 32]>(), prop::sample::select(vec![0u8, 1, 27, 28, 29]))
            .prop_map(|(r, s, v)| [&r[..], &s[..], &[v]].concat()),
        1 => vec(any::<u8>(), 66..200),
        1 => vec(any::<u8>(), 1..65),
    ]
}

/// A payment whose every field matches a well-formed exact EVM requirement, with a time
/// window around `now`, but a random signature: `(requirement, authorization, signature, now)`.
fn coherent_payment() -> impl Strategy<Value = (v2::PaymentRequirements, Authorization, Bytes, u64)>
{
    (
        (
            1u64..100_000,
            u256(),
            address(),
            address(),
            address(),
            1u64..100_000,
        ),
        (
            "[A-Za-z ]{1,10}",
            "[0-9]{1,2}",
            1_000_000u64..2_000_000_000,
            b256(),
            signature_bytes(),
        ),
    )
        .prop_map(
            |(
                (chain_id, amount, asset, pay_to, from, max_timeout_seconds),
                (name, version, now, nonce, sig),
            )| {
                let mut extra = JsonMap::new();
                extra.insert("name".into(), Value::String(name));
                extra.insert("version".into(), Value::String(version));
                let requirement = v2::PaymentRequirements {
                    scheme: "exact".into(),
                    network: Network::eip155(chain_id),
                    amount,
                    asset: asset.to_checksum(None),
                    pay_to: pay_to.to_checksum(None),
                    max_timeout_seconds,
                    extra: Some(extra),
                    other: JsonMap::new(),
                };
                let authorization = Authorization {
                    from,
                    to: pay_to,
                    value: amount,
                    valid_after: U256::from(now - 600),
                    valid_before: U256::from(now + max_timeout_seconds + 6),
                    nonce,
                };
                (requirement, authorization, Bytes::from(sig), now)
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Strategies: hostile input
// ---------------------------------------------------------------------------------------------

/// Header-ish garbage: arbitrary text, base64-alphabet text, base64 of arbitrary bytes, and
/// base64 of arbitrary JSON (which reaches the typed decoders).
fn header_garbage() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9+/=_ \t-]{0,64}",
        vec(any::<u8>(), 0..200).prop_map(|b| base64::encode(&b)),
        json_value().prop_map(|v| base64::encode(v.to_string().as_bytes())),
        json_map().prop_map(|mut m| {
            m.insert("x402Version".into(), json!(2));
            base64::encode(Value::Object(m).to_string().as_bytes())
        }),
        mutated_message().prop_map(|s| base64::encode(s.as_bytes())),
    ]
}

/// A valid message's JSON with a few bytes overwritten by JSON-significant characters.
fn mutated_message() -> BoxedStrategy<String> {
    let base = prop_oneof![
        v2_payment_required()
            .prop_map(|m| serde_json::to_string(&m).unwrap())
            .boxed(),
        v2_payment_payload()
            .prop_map(|m| serde_json::to_string(&m).unwrap())
            .boxed(),
        v1_payment_payload()
            .prop_map(|m| serde_json::to_string(&m).unwrap())
            .boxed(),
        v1_payment_required()
            .prop_map(|m| serde_json::to_string(&m).unwrap())
            .boxed(),
        settle_response(prop::option::of(u256()).boxed())
            .prop_map(|m| serde_json::to_string(&m).unwrap())
            .boxed(),
    ]
    .boxed();
    let edits = vec(
        (
            any::<prop::sample::Index>(),
            prop::sample::select(b"{}[]\":,0123456789-.eE ntfx\\\x00\xff".to_vec()),
        ),
        1..4,
    );
    (base, edits)
        .prop_map(|(s, edits)| {
            let mut b = s.into_bytes();
            for (i, c) in edits {
                let i = i.index(b.len());
                b[i] = c;
            }
            String::from_utf8_lossy(&b).into_owned()
        })
        .boxed()
}

fn bytes_garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        mutated_message().prop_map(String::into_bytes),
        (
            prop_oneof![Just(1u8), Just(2u8)],
            json_map(),
            json_value(),
            json_value()
        )
            .prop_map(|(version, mut m, payload, requirements)| {
                m.insert("x402Version".into(), json!(version));
                m.insert("paymentPayload".into(), payload);
                m.insert("paymentRequirements".into(), requirements);
                Value::Object(m).to_string().into_bytes()
            }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// JSON text and `Value` round trips, and canonical re-serialization.
fn json_roundtrip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).map_err(fail)?;
    let back: T = serde_json::from_str(&text).map_err(|e| fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, value, "{}", text);
    prop_assert_eq!(serde_json::to_string(&back).map_err(fail)?, text.clone());
    let tree = serde_json::to_value(value).map_err(fail)?;
    let back: T = serde_json::from_value(tree).map_err(|e| fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

/// `header::encode` then `decode` gives the value back; re-encoding gives the same string;
/// surrounding spaces and tabs are tolerated; oversize values are refused.
fn header_roundtrip<T>(
    value: &T,
    decode: impl Fn(&str) -> x402_core::error::Result<T>,
) -> Result<String, TestCaseError>
where
    T: Serialize + PartialEq + Debug,
{
    let encoded = header::encode(value).map_err(fail)?;
    if encoded.len() > header::MAX_HEADER_LEN {
        prop_assert!(decode(&encoded).is_err());
        return Ok(encoded);
    }
    let decoded = decode(&encoded).map_err(fail)?;
    prop_assert_eq!(&decoded, value);
    prop_assert_eq!(header::encode(&decoded).map_err(fail)?, encoded.clone());
    let padded = format!(" \t{encoded} \t");
    prop_assert_eq!(&decode(&padded).map_err(fail)?, value);
    Ok(encoded)
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Decimal(#[serde(with = "decimal_u256")] U256);

fn flip_case(c: char) -> char {
    if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn config() -> ProptestConfig {
    ProptestConfig {
        // Relative to the package root, where `cargo test` runs integration tests.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/roundtrip.txt",
        ))),
        ..ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    // ---- v2 ----

    #[test]
    fn v2_resource_info_json(r in resource_info()) {
        json_roundtrip(&r)?;
    }

    #[test]
    fn v2_payment_requirements_json(r in v2_requirements()) {
        json_roundtrip(&r)?;
    }

    #[test]
    fn v2_payment_required_header(m in v2_payment_required()) {
        json_roundtrip(&m)?;
        let encoded = header_roundtrip(&m, header::decode_payment_required)?;
        // A challenge is not a payment.
        prop_assert!(header::decode_x_payment(&encoded).is_err());
    }

    #[test]
    fn v2_payment_payload_header(m in v2_payment_payload()) {
        json_roundtrip(&m)?;
        let encoded = header_roundtrip(&m, header::decode_payment_signature)?;
        if encoded.len() <= header::MAX_HEADER_LEN {
            // Sent in the v1 header, a v2 payment is refused for its version.
            let e = header::decode_x_payment(&encoded).unwrap_err();
            prop_assert_eq!(e.reason(), Reason::InvalidX402Version);
            let any = header::decode_payment_headers(Some(&encoded), Some("garbage")).map_err(fail)?;
            prop_assert_eq!(any.map(|p| p.version()), Some(2));
        }
    }

    /// Floats in opaque JSON (`extra`, `other`, `extensions`, `payload`) survive a trip
    /// through a header exactly (serde_json's `float_roundtrip`; without it `-4.27e25` read
    /// back as `-4.2699999999999995e25` and a verbatim `accepted` copy stopped matching).
    #[test]
    fn opaque_json_keeps_any_float(mut r in v2_requirements(), f in any_finite_float()) {
        r.extra.get_or_insert_with(JsonMap::new).insert("float".into(), Value::from(f));
        json_roundtrip(&r)?;
        let p = v2::PaymentPayload {
            x402_version: V2,
            resource: None,
            accepted: r,
            payload: json!({}),
            extensions: None,
        };
        header_roundtrip(&p, header::decode_payment_signature)?;
    }

    // ---- v1 ----

    #[test]
    fn v1_payment_requirements_json(r in v1_requirements()) {
        json_roundtrip(&r)?;
    }

    #[test]
    fn v1_payment_required_body(m in v1_payment_required()) {
        json_roundtrip(&m)?;
        let body = serde_json::to_vec(&m).unwrap();
        let back = header::parse_v1_challenge_body(&body).map_err(fail)?;
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(serde_json::to_vec(&back).unwrap(), body);
        // The v2 header decoder refuses it for its version.
        let e = header::decode_payment_required(&header::encode(&m).unwrap()).unwrap_err();
        prop_assert_eq!(e.reason(), Reason::InvalidX402Version);
    }

    #[test]
    fn v1_payment_payload_header(m in v1_payment_payload()) {
        json_roundtrip(&m)?;
        let encoded = header_roundtrip(&m, header::decode_x_payment)?;
        let e = header::decode_payment_signature(&encoded).unwrap_err();
        prop_assert_eq!(e.reason(), Reason::InvalidX402Version);
        let any = header::decode_payment_headers(None, Some(&encoded)).map_err(fail)?;
        prop_assert_eq!(any.map(|p| p.version()), Some(1));
    }

    // ---- facilitator ----

    #[test]
    fn verify_response_json(r in verify_response()) {
        json_roundtrip(&r)?;
    }

    #[test]
    fn settle_response_with_amount(r in settle_response(u256().prop_map(Some).boxed())) {
        json_roundtrip(&r)?;
        let encoded = header_roundtrip(&r, header::decode_payment_response)?;
        let json = String::from_utf8(base64::decode(&encoded).unwrap()).unwrap();
        let amount = r.amount.unwrap();
        let expected = format!("\"amount\":\"{amount}\"");
        prop_assert!(json.contains(&expected), "{}", json);
    }

    #[test]
    fn settle_response_without_amount(r in settle_response(Just(None).boxed())) {
        json_roundtrip(&r)?;
        let encoded = header_roundtrip(&r, header::decode_payment_response)?;
        let json: Value = serde_json::from_slice(&base64::decode(&encoded).unwrap()).unwrap();
        prop_assert!(json.get("amount").is_none());
    }

    #[test]
    fn supported_response_json(r in supported_response()) {
        json_roundtrip(&r)?;
    }

    #[test]
    fn facilitator_request_v1(payment_payload in v1_payment_payload(), payment_requirements in v1_requirements()) {
        let request = FacilitatorRequest::V1 { payment_payload, payment_requirements };
        let body = request.to_json().map_err(fail)?;
        let back = FacilitatorRequest::from_json(body.as_bytes()).map_err(fail)?;
        prop_assert_eq!(&back, &request);
        prop_assert_eq!(back.to_json().map_err(fail)?, body.clone());
        prop_assert!(body.starts_with("{\"x402Version\":1,"), "{}", body);
    }

    #[test]
    fn facilitator_request_v2(payment_payload in v2_payment_payload(), payment_requirements in v2_requirements()) {
        let request = FacilitatorRequest::V2 { payment_payload, payment_requirements };
        let body = request.to_json().map_err(fail)?;
        let back = FacilitatorRequest::from_json(body.as_bytes()).map_err(fail)?;
        prop_assert_eq!(&back, &request);
        prop_assert_eq!(back.to_json().map_err(fail)?, body.clone());
        prop_assert!(body.starts_with("{\"x402Version\":2,"), "{}", body);
    }

    #[test]
    fn discovery_response_json(r in discovery_response()) {
        json_roundtrip(&r)?;
    }

    // ---- exact scheme ----

    #[test]
    fn authorization_json(a in authorization()) {
        json_roundtrip(&a)?;
        let json = serde_json::to_value(a).unwrap();
        // Addresses are written with their EIP-55 checksum, numbers as decimal strings.
        let (from, to, value) = (a.from.to_checksum(None), a.to.to_checksum(None), a.value.to_string());
        prop_assert_eq!(json["from"].as_str(), Some(from.as_str()));
        prop_assert_eq!(json["to"].as_str(), Some(to.as_str()));
        prop_assert_eq!(json["value"].as_str(), Some(value.as_str()));
        prop_assert_eq!(json["nonce"].as_str().map(str::len), Some(66));
    }

    #[test]
    fn exact_evm_payload_json(p in exact_payload()) {
        json_roundtrip(&p)?;
        let value = p.to_json();
        prop_assert_eq!(&ExactEvmPayload::from_json(&value).map_err(fail)?, &p);
        prop_assert_eq!(ExactEvmPayload::from_json(&value).unwrap().to_json(), value);
    }

    #[test]
    fn addresses_parse_in_every_accepted_form(a in address()) {
        let checksummed = a.to_checksum(None);
        prop_assert_eq!(address::parse_address(&checksummed), Ok(a));
        prop_assert_eq!(address::parse_address(&lower_hex(&a)), Ok(a));
        prop_assert_eq!(address::parse_address(&upper_hex(&a)), Ok(a));
    }

    #[test]
    fn addresses_with_a_broken_checksum_are_refused(a in address(), i in any::<prop::sample::Index>()) {
        let checksummed = a.to_checksum(None);
        let letters: Vec<usize> = checksummed
            .char_indices()
            .skip(2)
            .filter(|(_, c)| c.is_ascii_alphabetic())
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!letters.is_empty());
        let at = letters[i.index(letters.len())];
        let broken: String = checksummed
            .char_indices()
            .map(|(j, c)| if j == at { flip_case(c) } else { c })
            .collect();
        let hex_part = &broken[2..];
        let mixed = hex_part.bytes().any(|b| b.is_ascii_uppercase())
            && hex_part.bytes().any(|b| b.is_ascii_lowercase());
        if mixed {
            prop_assert!(address::parse_address(&broken).is_err(), "{}", broken);
        } else {
            prop_assert_eq!(address::parse_address(&broken), Ok(a));
        }
    }

    // ---- client ----

    #[test]
    fn budget_json(b in budget()) {
        json_roundtrip(&b)?;
    }

    #[test]
    fn policy_json(p in policy()) {
        json_roundtrip(&p)?;
    }

    // ---- network ----

    #[test]
    fn network_display_from_str(n in network()) {
        let s = n.to_string();
        prop_assert_eq!(Network::from_str(&s).map_err(fail)?, n.clone());
        prop_assert_eq!(s.as_str(), n.as_str());
        json_roundtrip(&n)?;
    }

    #[test]
    fn eip155_chain_ids(id in any::<u64>()) {
        let n = Network::eip155(id);
        prop_assert_eq!(n.chain_id(), Some(id));
        prop_assert_eq!(n.namespace(), "eip155");
        prop_assert_eq!(Network::from_str(&format!("eip155:{id}")).map_err(fail)?, n);
    }

    // ---- base64 ----

    #[test]
    fn base64_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let encoded = base64::encode(&bytes);
        prop_assert_eq!(encoded.len(), bytes.len().div_ceil(3) * 4);
        prop_assert_eq!(base64::decode(&encoded).map_err(fail)?, bytes);
    }

    #[test]
    fn base64_decode_is_canonical(s in prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,24}"]) {
        if let Ok(bytes) = base64::decode(&s) {
            prop_assert_eq!(base64::encode(&bytes), s);
        }
    }

    // ---- money ----

    #[test]
    fn format_amount_then_parse_price(v in u256(), decimals in 0u8..=18) {
        let s = format_amount(v, decimals);
        prop_assert_eq!(parse_price(&s, decimals).map_err(fail)?, v, "{}", s);
        prop_assert_eq!(parse_price(&format!("${s}"), decimals).map_err(fail)?, v);
        // Canonical: no leading zeros before a digit, no trailing fractional zeros.
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        prop_assert!(int == "0" || !int.starts_with('0'), "{}", s);
        prop_assert!(!frac.ends_with('0'), "{}", s);
        prop_assert!(frac.len() <= usize::from(decimals));
    }

    #[test]
    fn parse_price_truncates_extra_digits(v in u256(), decimals in 0u8..=18, more in "[0-9]{1,6}") {
        let s = format_amount(v, decimals);
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        let full = format!("{int}.{frac:0<width$}{more}", width = usize::from(decimals));
        match parse_price(&full, decimals) {
            Ok(got) => prop_assert_eq!(got, v, "{}", full),
            Err(e) => {
                // Only a non-zero price that truncates to zero is refused.
                prop_assert!(v.is_zero() && more.bytes().any(|b| b != b'0'), "{}: {}", full, e);
                prop_assert_eq!(e.reason(), Reason::PriceTooSmall);
            }
        }
    }

    // ---- decimal uint256 ----

    #[test]
    fn decimal_u256_serde(v in u256()) {
        let text = serde_json::to_string(&Decimal(v)).unwrap();
        prop_assert_eq!(&text, &format!("\"{v}\""));
        prop_assert_eq!(serde_json::from_str::<Decimal>(&text).map_err(fail)?, Decimal(v));
        prop_assert_eq!(decimal_u256::parse(&v.to_string()), Ok(v));
        // The fmt-free formatter writes what ruint's Display writes.
        prop_assert_eq!(decimal_u256::format(&v), v.to_string());
        // Strict: no JSON number, no leading zero, no sign.
        prop_assert!(serde_json::from_str::<Decimal>(&v.to_string()).is_err());
        let leading_zero = format!("0{v}");
        let signed = format!("+{v}");
        prop_assert!(decimal_u256::parse(&leading_zero).is_err());
        prop_assert!(decimal_u256::parse(&signed).is_err());
    }

    #[test]
    fn decimal_u256_parse_is_canonical(s in prop_oneof![any::<String>(), "[0-9]{0,80}"]) {
        if let Ok(v) = decimal_u256::parse(&s) {
            prop_assert_eq!(v.to_string(), s);
        }
    }

    // ---- verification ----

    /// Every check but the signature passes; a random signature is never accepted: EOA-shaped
    /// ones fail with `invalid_exact_evm_signature`, longer ones are left to the chain.
    #[test]
    fn verify_v2_refuses_random_signatures((requirement, authorization, signature, now) in coherent_payment()) {
        let payload = ExactEvmPayload { signature: signature.clone(), authorization }.to_json();
        let payment = v2::PaymentPayload {
            x402_version: V2,
            resource: None,
            accepted: requirement.clone(),
            payload,
            extensions: None,
        };
        // Through the header and back first, as a server receives it.
        let payment = header::decode_payment_signature(&header::encode(&payment).unwrap()).map_err(fail)?;
        match verify::verify_v2(&payment, &[requirement], now) {
            Ok(verify::Verdict::NeedsOnChainCheck(p)) => {
                prop_assert!(signature.len() > 65);
                prop_assert_eq!(p.payer, authorization.from);
                prop_assert_eq!(p.authorization, authorization);
                prop_assert_eq!(p.requirement_index, 0);
            }
            Ok(v) => prop_assert!(false, "random signature accepted: {:?}", v),
            Err(e) => {
                prop_assert!(signature.len() <= 65);
                prop_assert_eq!(e.reason(), Reason::InvalidExactEvmSignature, "{}", e);
            }
        }
    }

    /// The same payment in v1 (network by short name, value at least the maximum).
    #[test]
    fn verify_v1_refuses_random_signatures(
        (requirement, authorization, signature, now) in coherent_payment(),
        name in prop::sample::select(vec!["base", "base-sepolia", "ethereum", "polygon-amoy"]),
    ) {
        let v1_requirement = v1::PaymentRequirements {
            scheme: "exact".into(),
            network: name.into(),
            max_amount_required: requirement.amount,
            resource: "https://example.com/".into(),
            description: String::new(),
            mime_type: None,
            pay_to: requirement.pay_to.clone(),
            max_timeout_seconds: requirement.max_timeout_seconds,
            asset: requirement.asset.clone(),
            output_schema: None,
            extra: requirement.extra.clone(),
            other: JsonMap::new(),
        };
        let payment = v1::PaymentPayload {
            x402_version: V1,
            scheme: "exact".into(),
            network: name.into(),
            payload: ExactEvmPayload { signature: signature.clone(), authorization }.to_json(),
        };
        let payment = header::decode_x_payment(&header::encode(&payment).unwrap()).map_err(fail)?;
        match verify::verify_v1(&payment, &[v1_requirement], now) {
            Ok(verify::Verdict::NeedsOnChainCheck(p)) => {
                prop_assert!(signature.len() > 65);
                prop_assert_eq!(p.payer, authorization.from);
            }
            Ok(v) => prop_assert!(false, "random signature accepted: {:?}", v),
            Err(e) => prop_assert_eq!(e.reason(), Reason::InvalidExactEvmSignature, "{}", e),
        }
    }

    /// With a real key the same flow round-trips end to end: challenge → policy → authorization
    /// → signature → `PAYMENT-SIGNATURE` → decode → verify gives `Valid` for the signer.
    #[cfg(feature = "local-signer")]
    #[test]
    fn signed_payment_round_trips_and_verifies(
        (requirement, _, _, now) in coherent_payment(),
        key in b256(),
        nonce in b256(),
        resource in resource_info(),
        extensions in prop::option::of(json_map()),
    ) {
        use x402_core::evm::signer::LocalSigner;
        use x402_core::wire::{AnyPaymentPayload, AnyPaymentRequired};
        let signer = LocalSigner::from_bytes(&key);
        prop_assume!(signer.is_ok());
        let signer = signer.unwrap();
        let challenge = v2::PaymentRequired {
            x402_version: V2,
            error: None,
            resource,
            accepts: vec![requirement.clone()],
            extensions,
        };
        // As the client receives it.
        let challenge = AnyPaymentRequired::V2(
            header::decode_payment_required(&header::encode(&challenge).unwrap()).map_err(fail)?,
        );
        // Any asset (with its decimals) and any time window: the payment itself is under test.
        let policy = Policy {
            max_amount: None,
            max_timeout_seconds: u64::MAX,
            allowed_assets: Some(vec![AllowedAsset {
                network: requirement.network.clone(),
                asset: requirement.asset.clone(),
                max_amount: None,
                decimals: Some(6),
            }]),
            ..Policy::default()
        };
        let offer = policy.select(&challenge).map_err(fail)?;
        let auth = exact::build_authorization(&offer.requirement, signer.address(), now, nonce);
        let sig = signer.sign_authorization(&offer.requirement, &auth).map_err(fail)?;
        let payment = exact::build_payment(&challenge, offer.index, auth, Bytes::from(sig.to_bytes()))
            .map_err(fail)?;
        let AnyPaymentPayload::V2(payment) = payment else {
            return Err(fail("expected a v2 payment"));
        };
        let decoded = header_roundtrip(&payment, header::decode_payment_signature)
            .and_then(|h| header::decode_payment_signature(&h).map_err(fail))?;
        let verdict = verify::verify_v2(&decoded, &[requirement], now);
        if offer.requirement.max_timeout_seconds < verify::SETTLEMENT_MARGIN_SECONDS {
            // validBefore = now + maxTimeoutSeconds leaves no time to settle (the reference's
            // margin): the verifier refuses such a payment, for exactly that reason.
            let e = verdict.err().ok_or_else(|| fail("a payment that cannot settle in time verified"))?;
            prop_assert_eq!(e.reason(), Reason::InvalidExactEvmPayloadAuthorizationValidBefore);
            return Ok(());
        }
        match verdict.map_err(fail)? {
            verify::Verdict::Valid(p) => {
                prop_assert_eq!(p.payer, signer.address());
                prop_assert_eq!(p.authorization, auth);
                prop_assert_eq!(p.eoa_signature(), Some(sig));
            }
            v => prop_assert!(false, "expected Valid, got {:?}", v),
        }
    }

    #[test]
    fn verify_never_panics(
        p in v2_payment_payload(),
        offered in vec(v2_requirements(), 0..3),
        q in v1_payment_payload(),
        offered_v1 in vec(v1_requirements(), 0..3),
        now in any::<u64>(),
    ) {
        let _ = verify::verify_v2(&p, std::slice::from_ref(&p.accepted), now);
        let _ = verify::verify_v2(&p, &offered, now);
        let _ = verify::verify_v1(&q, &offered_v1, now);
    }

    // ---- hostile input never panics ----

    #[test]
    fn header_decoders_never_panic(s in header_garbage()) {
        let _ = header::decode_payment_required(&s);
        let _ = header::decode_payment_signature(&s);
        let _ = header::decode_x_payment(&s);
        let _ = header::decode_payment_response(&s);
        let _ = header::decode_payment_headers(Some(&s), None);
        let _ = header::decode_payment_headers(None, Some(&s));
        let _ = base64::decode(&s);
    }

    #[test]
    fn decoded_headers_reencode_canonically(s in header_garbage()) {
        // Whatever decodes, re-encodes and decodes to an equal value.
        if let Ok(m) = header::decode_payment_required(&s) {
            header_roundtrip(&m, header::decode_payment_required)?;
        }
        if let Ok(m) = header::decode_payment_signature(&s) {
            header_roundtrip(&m, header::decode_payment_signature)?;
        }
        if let Ok(m) = header::decode_x_payment(&s) {
            header_roundtrip(&m, header::decode_x_payment)?;
        }
        if let Ok(m) = header::decode_payment_response(&s) {
            header_roundtrip(&m, header::decode_payment_response)?;
        }
    }

    #[test]
    fn body_parsers_never_panic(body in bytes_garbage()) {
        if let Ok(m) = header::parse_v1_challenge_body(&body) {
            let again = serde_json::to_vec(&m).unwrap();
            prop_assert_eq!(header::parse_v1_challenge_body(&again).map_err(fail)?, m);
        }
        if let Ok(r) = FacilitatorRequest::from_json(&body) {
            let again = r.to_json().map_err(fail)?;
            prop_assert_eq!(FacilitatorRequest::from_json(again.as_bytes()).map_err(fail)?, r);
        }
    }

    #[test]
    fn parse_price_never_panics(
        s in prop_oneof![any::<String>(), "[$0-9.]{0,90}", "\\$?[0-9]{0,3}\\.?[0-9]{0,30}"],
        decimals in any::<u8>(),
    ) {
        if let Ok(v) = parse_price(&s, decimals) {
            // What parses is the truncation of what it says, so it formats back to a prefix of it.
            let formatted = format_amount(v, decimals);
            let number = s.strip_prefix('$').unwrap_or(&s);
            prop_assert_eq!(parse_price(&formatted, decimals).map_err(fail)?, v);
            prop_assert!(!number.is_empty());
        }
    }

    #[test]
    fn network_from_str_never_panics(s in prop_oneof![any::<String>(), "[-a-zA-Z0-9:_+]{0,45}"]) {
        if let Ok(n) = Network::from_str(&s) {
            prop_assert_eq!(n.to_string(), s);
        }
    }

    #[test]
    fn parse_address_never_panics(s in prop_oneof![any::<String>(), "0x[0-9a-fA-F]{38,42}", "0x.{40}"]) {
        if let Ok(a) = address::parse_address(&s) {
            prop_assert_eq!(lower_hex(&a), s.to_ascii_lowercase());
            prop_assert_eq!(address::parse_address(&a.to_checksum(None)), Ok(a));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The serde-free paying path (`challenge`, `json`, `Budget::*_json_text`), which the browser
// bundle links instead of serde, agrees with the serde path on everything.
// ---------------------------------------------------------------------------------------------

/// The serde path's payment for entry `index`, as a JSON value.
fn serde_payment(
    challenge: &AnyPaymentRequired,
    index: usize,
    a: Authorization,
    sig: &[u8],
) -> Result<Value, TestCaseError> {
    let p = build_payment(challenge, index, a, Bytes::from(sig.to_vec())).map_err(fail)?;
    serde_json::to_value(&p).map_err(fail)
}

/// The serde-free reader gives the same offers, and writes the same payments, as the serde one.
fn reader_agrees(
    lite: &Challenge,
    serde: &AnyPaymentRequired,
    a: Authorization,
    sig: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(lite.version(), serde.version());
    prop_assert_eq!(lite.offers(), &serde.offers()[..]);
    for index in 0..lite.offers().len() {
        let text = lite.payment_json(index, &a, sig).map_err(fail)?;
        let ours: Value = serde_json::from_str(&text).map_err(|e| fail(format!("{e}: {text}")))?;
        prop_assert_eq!(ours, serde_payment(serde, index, a, sig)?);
        // The header form decodes with the serde decoders.
        let header = lite.payment_header(index, &a, sig).map_err(fail)?;
        if header.len() <= header::MAX_HEADER_LEN {
            let decoded = header::decode_payment_headers(
                (lite.version() == 2).then_some(header.as_str()),
                (lite.version() == 1).then_some(header.as_str()),
            );
            prop_assert!(decoded.is_ok(), "{:?}", decoded);
        }
    }
    prop_assert!(lite.payment_json(lite.offers().len(), &a, sig).is_err());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn challenge_reader_agrees_v2(m in v2_payment_required(), a in authorization(), sig in signature_bytes()) {
        let encoded = header::encode(&m).unwrap();
        let lite = Challenge::from_header(&encoded);
        if encoded.len() > header::MAX_HEADER_LEN {
            prop_assert!(lite.is_err());
            return Ok(());
        }
        let lite = lite.map_err(fail)?;
        reader_agrees(&lite, &AnyPaymentRequired::V2(m), a, &sig)?;
    }

    #[test]
    fn challenge_reader_agrees_v1(m in v1_payment_required(), a in authorization(), sig in signature_bytes()) {
        let body = serde_json::to_string(&m).unwrap();
        let lite = Challenge::from_v1_body(&body).map_err(fail)?;
        reader_agrees(&lite, &AnyPaymentRequired::V1(m), a, &sig)?;
    }

    /// On damaged input the two readers accept and refuse the same texts, with the same reason
    /// code; the serde-free one may refuse more only for a duplicated field (serde's `Value`
    /// keeps the last one; a payment echoing such an entry would be ambiguous).
    #[test]
    fn challenge_reader_refuses_what_serde_refuses(s in mutated_message()) {
        let header_value = base64::encode(s.as_bytes());
        let pairs = [
            (
                Challenge::from_header(&header_value).map(|c| c.offers().to_vec()),
                header::decode_payment_required(&header_value).map(|m| AnyPaymentRequired::V2(m).offers()),
            ),
            (
                Challenge::from_v1_body(&s).map(|c| c.offers().to_vec()),
                header::parse_v1_challenge_body(s.as_bytes()).map(|m| AnyPaymentRequired::V1(m).offers()),
            ),
        ];
        for (lite, serde) in pairs {
            match (lite, serde) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(a.reason(), b.reason(), "{} / {}", a, b),
                (Err(a), Ok(_)) => prop_assert!(a.message().contains("duplicate"), "{}: {}", a, s),
                (Ok(_), Err(b)) => prop_assert!(false, "serde-free accepted what serde refused ({}): {}", b, s),
            }
        }
    }

    #[test]
    fn challenge_reader_never_panics(s in header_garbage()) {
        let _ = Challenge::from_header(&s);
        let _ = Challenge::from_v1_body(&s);
        let _ = challenge::decode_receipt(&s);
        let _ = Budget::from_json_text(&s);
    }

    #[test]
    fn typed_data_text_is_the_serde_typed_data((r, a, _sig, _now) in coherent_payment()) {
        let offer = exact::ExactEvmRequirement::from_v2(&r).map_err(fail)?;
        let serde = serde_json::to_string(&typed_data(&offer, &a).map_err(fail)?).unwrap();
        prop_assert_eq!(challenge::typed_data_text(&offer, &a), serde);
    }

    #[test]
    fn budget_json_text_is_the_serde_json(b in budget()) {
        let text = b.to_json_text();
        prop_assert_eq!(&text, &serde_json::to_string(&b).unwrap());
        prop_assert_eq!(Budget::from_json_text(&text), Some(b));
    }

    #[test]
    fn receipts_decode_as_serde_decodes(r in settle_response(prop::option::of(u256()).boxed())) {
        let encoded = header::encode(&r).unwrap();
        if encoded.len() > header::MAX_HEADER_LEN {
            prop_assert!(challenge::decode_receipt(&encoded).is_err());
            return Ok(());
        }
        let text = challenge::decode_receipt(&encoded).map_err(fail)?;
        prop_assert_eq!(serde_json::from_str::<SettleResponse>(&text).map_err(fail)?, r);
    }

    /// JSON written by serde_json (all of Unicode in keys and strings, any float) reads back
    /// with the small reader, and every value's raw text is exactly what serde wrote for it.
    #[test]
    fn json_reader_reads_what_serde_writes(v in json_value()) {
        let text = v.to_string();
        let parsed = json::parse(&text).map_err(|e| fail(format!("{e:?}: {text}")))?;
        prop_assert_eq!(parsed.raw, text.as_str());
        if let (Value::Object(m), json::Kind::Object(members)) = (&v, &parsed.kind) {
            prop_assert_eq!(m.len(), members.len());
            for ((k, val), (k2, node)) in m.iter().zip(members) {
                prop_assert_eq!(k.as_str(), k2.as_ref());
                prop_assert_eq!(val.to_string(), node.raw);
            }
        }
        if let Value::String(s) = &v {
            prop_assert_eq!(parsed.as_str(), Some(s.as_str()));
            let mut out = String::new();
            json::write_str(&mut out, s);
            prop_assert_eq!(out, text);
        }
    }

    #[test]
    fn json_reader_and_serde_accept_the_same_texts(s in prop_oneof![mutated_message(), any::<String>()]) {
        prop_assert_eq!(json::parse(&s).is_ok(), serde_json::from_str::<Value>(&s).is_ok(), "{:?}", s);
    }
}

/// The reader's `x402Version` checks, size limit and receipt `amount` errors word their
/// messages as the serde path does (fixed cases of the rewritten error paths).
#[test]
fn reader_error_messages_match_serde() {
    let required = |json: &str| base64::encode(json.as_bytes());
    for json in ["{}", "{\"x402Version\":1}", "{\"x402Version\":\"2\"}"] {
        let ours = Challenge::from_header(&required(json)).unwrap_err();
        let serde = header::decode_payment_required(&required(json)).unwrap_err();
        assert_eq!(ours.reason(), Reason::InvalidX402Version, "{json}");
        assert_eq!(ours, serde, "{json}");
    }
    let ours = Challenge::from_v1_body("{\"x402Version\":2}").unwrap_err();
    let serde = header::parse_v1_challenge_body(b"{\"x402Version\":2}").unwrap_err();
    assert_eq!(ours, serde);
    let e = Challenge::from_header(&required("{\"x402Version\":2,\"x402Version\":2}")).unwrap_err();
    assert_eq!(e.message(), "PAYMENT-REQUIRED: duplicate x402Version");
    assert_eq!(e.reason(), Reason::InvalidX402Version);
    let e = Challenge::from_v1_body("{\"x402Version\":1,\"x402Version\":1}").unwrap_err();
    assert_eq!(e.message(), "402 body: duplicate x402Version");
    assert_eq!(e.reason(), Reason::InvalidX402Version);

    let big = "A".repeat(header::MAX_HEADER_LEN + 4);
    let ours = Challenge::from_header(&big).unwrap_err();
    assert_eq!(ours, header::decode_payment_required(&big).unwrap_err());
    assert_eq!(
        ours.message(),
        "PAYMENT-REQUIRED: 16388 bytes exceeds the 16384-byte limit"
    );

    let receipt = |amount: &str| {
        required(&format!(
            "{{\"success\":true,\"network\":\"eip155:8453\",\"amount\":{amount}}}"
        ))
    };
    assert!(challenge::decode_receipt(&receipt("null")).is_ok());
    assert!(challenge::decode_receipt(&receipt("\"12\"")).is_ok());
    // A batch-settlement voucher answer moves no tokens and writes `"amount": ""` (x402
    // `scheme_batch_settlement_evm.md`, the resource server's voucher response).
    assert!(challenge::decode_receipt(&receipt("\"\"")).is_ok());
    for (amount, why) in [
        ("12", "expected a string"),
        ("\"012\"", "leading zeros in a decimal integer string"),
        ("\"x\"", "expected a decimal integer string"),
    ] {
        let e = challenge::decode_receipt(&receipt(amount)).unwrap_err();
        assert_eq!(e.reason(), Reason::InvalidPayload);
        assert_eq!(e.message(), format!("PAYMENT-RESPONSE: amount: {why}"));
    }
}
