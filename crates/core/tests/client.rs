//! The paying side: requirement selection under a policy, authorization and payload building,
//! budgets.
#![cfg(feature = "local-signer")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use serde_json::json;
use x402_core::client::{rescale, AllowedAsset, Budget, Policy, DEFAULT_MAX_TIMEOUT_SECONDS};
use x402_core::evm::asset::default_asset;
use x402_core::evm::network::Network;
use x402_core::scheme::exact::{build_authorization, build_payment, typed_data};
use x402_core::wire::header;
use x402_core::wire::{v1, v2, AnyPaymentPayload, AnyPaymentRequired};
use x402_core::{Address, Reason, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The requirement in the default stablecoin of `network` (from the known table).
fn on(network: &str, amount: u64) -> v2::PaymentRequirements {
    let mut r = requirement();
    r.network = network.parse().unwrap();
    r.amount = U256::from(amount);
    let asset = default_asset(&r.network).unwrap();
    r.asset = asset.address.to_checksum(None);
    r.extra.as_mut().unwrap()["name"] = asset.eip712_name.into();
    r
}

/// A requirement in a token that is not in the known table.
fn unknown_token(amount: U256) -> v2::PaymentRequirements {
    let mut r = requirement();
    r.asset = Address::repeat_byte(0x11).to_checksum(None);
    r.amount = amount;
    r
}

fn allow(asset: &str, decimals: Option<u8>, max_amount: Option<U256>) -> Policy {
    Policy {
        allowed_assets: Some(vec![AllowedAsset {
            network: Network::eip155(31337),
            asset: asset.to_lowercase(),
            max_amount,
            decimals,
        }]),
        ..Policy::default()
    }
}

fn solana_option() -> v2::PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "amount": "10000",
        "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", "payTo": "merchant",
        "maxTimeoutSeconds": 60, "extra": {"feePayer": "x"}
    }))
    .unwrap()
}

fn challenge(accepts: Vec<v2::PaymentRequirements>) -> AnyPaymentRequired {
    AnyPaymentRequired::V2(challenge_with(accepts))
}

#[test]
fn default_policy_takes_the_first_acceptable_offer_and_skips_other_chains_families() {
    let c = challenge(vec![
        solana_option(),
        on("eip155:31337", 10000),
        on("eip155:84532", 10000),
    ]);
    let offer = Policy::default().select(&c).unwrap();
    assert_eq!(offer.index, 1);
    assert_eq!(offer.resource, "http://127.0.0.1:8787/articles/one");
    assert_eq!(offer.description, "Article one");
}

#[test]
fn preferred_network_wins() {
    let c = challenge(vec![on("eip155:31337", 10000), on("eip155:84532", 10000)]);
    let policy = Policy {
        preferred_networks: vec!["eip155:84532".parse().unwrap()],
        ..Policy::default()
    };
    assert_eq!(policy.select(&c).unwrap().index, 1);
}

#[test]
fn allowed_networks_filter() {
    let c = challenge(vec![on("eip155:31337", 10000)]);
    let policy = Policy {
        allowed_networks: Some(vec![Network::eip155(8453)]),
        ..Policy::default()
    };
    let err = policy.select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
    assert!(
        err.message().contains("eip155:31337 is not allowed"),
        "{err}"
    );
}

#[test]
fn max_amount_per_payment() {
    // Default: $0.10 of a 6-decimal stablecoin.
    let c = challenge(vec![on("eip155:31337", 100_001)]);
    let err = Policy::default().select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::OverMax);
    assert!(Policy::default()
        .select(&challenge(vec![on("eip155:31337", 100_000)]))
        .is_ok());
    // A cheaper option on another network is taken instead of refusing.
    let c = challenge(vec![
        on("eip155:31337", 500_000),
        on("eip155:84532", 50_000),
    ]);
    assert_eq!(Policy::default().select(&c).unwrap().index, 1);
    // Mixed refusals are reported as no acceptable requirement, listing each.
    let c = challenge(vec![solana_option(), on("eip155:31337", 500_000)]);
    let err = Policy::default().select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
    assert!(
        err.message().contains("over_max") && err.message().contains("invalid_network"),
        "{err}"
    );
}

#[test]
fn an_offer_in_another_scheme_does_not_spoil_the_reason() {
    // The Worker lists `exact` then `batch-settlement` for the same price: over the cap, the
    // reason is still over_max (the channel offer is not this path's to pay), and it is listed.
    let mut batch = on("eip155:31337", 500_000);
    batch.scheme = "batch-settlement".into();
    let c = challenge(vec![on("eip155:31337", 500_000), batch.clone()]);
    let err = Policy::default().select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::OverMax, "{err}");
    // Only foreign offers: nothing acceptable, each listed.
    let err = Policy::default()
        .select(&challenge(vec![batch]))
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
    assert!(err.message().contains("batch-settlement"), "{err}");
}

#[test]
fn allowed_assets_with_their_own_cap() {
    let asset = requirement().asset;
    let c = challenge(vec![on("eip155:31337", 500_000)]);
    let allow = |cap: Option<u64>| allow(&asset, None, cap.map(U256::from));
    assert!(allow(Some(1_000_000)).select(&c).is_ok());
    assert_eq!(
        allow(Some(1)).select(&c).unwrap_err().reason(),
        Reason::OverMax
    );
    assert_eq!(
        allow(None).select(&c).unwrap_err().reason(),
        Reason::OverMax
    ); // falls back to maxAmount
    let other = Policy {
        allowed_assets: Some(vec![AllowedAsset {
            network: Network::eip155(31337),
            asset: format!("{}", Address::ZERO),
            max_amount: None,
            decimals: Some(6),
        }]),
        ..Policy::default()
    };
    assert_eq!(
        other
            .select(&challenge(vec![requirement()]))
            .unwrap_err()
            .reason(),
        Reason::NoAcceptableRequirement
    );
}

#[test]
fn policy_is_serializable() {
    let policy = Policy::default();
    let json = serde_json::to_value(&policy).unwrap();
    assert_eq!(json["maxAmount"], "100000");
    assert_eq!(json["maxTimeoutSeconds"], 3600);
    let back: Policy =
        serde_json::from_value(json!({"maxAmount": "5", "preferredNetworks": ["eip155:8453"]}))
            .unwrap();
    assert_eq!(back.max_amount, Some(U256::from(5)));
    assert_eq!(back.max_timeout_seconds, DEFAULT_MAX_TIMEOUT_SECONDS);
    assert!(serde_json::from_value::<Policy>(json!({"maxAmount": "-5"})).is_err());
    let with_decimals = allow(&requirement().asset, Some(0), Some(U256::from(5)));
    let json = serde_json::to_value(&with_decimals).unwrap();
    assert_eq!(json["allowedAssets"][0]["decimals"], 0);
    assert_eq!(
        serde_json::from_value::<Policy>(json).unwrap(),
        with_decimals
    );
}

#[test]
fn unknown_assets_are_refused_unless_allowed_with_their_decimals() {
    let r = unknown_token(U256::from(3));
    let c = challenge(vec![r.clone()]);
    let err = Policy::default().select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
    assert!(err.message().contains("not a known stablecoin"), "{err}");
    // Allowed, but without its decimals: still refused (its price cannot be shown).
    let err = allow(&r.asset, None, None).select(&c).unwrap_err();
    assert!(err.message().contains("not a known stablecoin"), "{err}");
    // A 0-decimal token: the default cap (0.10 of a token) is none of it; its own cap is in
    // its own units.
    let zero = allow(&r.asset, Some(0), None);
    assert_eq!(zero.select(&c).unwrap_err().reason(), Reason::OverMax);
    let zero = allow(&r.asset, Some(0), Some(U256::from(5)));
    let offer = zero.select(&c).unwrap();
    assert_eq!(zero.decimals(&offer.requirement), Some(0));
    assert_eq!(
        allow(&r.asset, Some(0), Some(U256::from(2)))
            .select(&c)
            .unwrap_err()
            .reason(),
        Reason::OverMax
    );
    // For a known asset the table's decimals win over the option's.
    let usdc = allow(&requirement().asset, Some(18), None);
    let offer = usdc.select(&challenge(vec![requirement()])).unwrap();
    assert_eq!(usdc.decimals(&offer.requirement), Some(6));
}

#[test]
fn the_cap_is_in_the_assets_own_units() {
    // $0.10 of an 18-decimal token is 10^17 atomic units, not 100000.
    let tenth = U256::from(10u8).pow(U256::from(17u8));
    let r = unknown_token(tenth);
    let p = allow(&r.asset, Some(18), None);
    assert!(p.select(&challenge(vec![r.clone()])).is_ok());
    let err = p
        .select(&challenge(vec![unknown_token(tenth + U256::from(1u8))]))
        .unwrap_err();
    assert_eq!(err.reason(), Reason::OverMax);
    assert!(
        err.message()
            .contains("maximum per payment 100000000000000000 "),
        "{err}"
    );
    // A 2-decimal token: 0.10 is 10 units.
    let p = allow(&r.asset, Some(2), None);
    assert!(p
        .select(&challenge(vec![unknown_token(U256::from(10u8))]))
        .is_ok());
    assert!(p
        .select(&challenge(vec![unknown_token(U256::from(11u8))]))
        .is_err());
}

#[test]
fn max_timeout_seconds_is_bounded() {
    let with_timeout = |t: u64| {
        let mut r = requirement();
        r.max_timeout_seconds = t;
        r
    };
    let err = Policy::default()
        .select(&challenge(vec![with_timeout(1_000_000_000_000)]))
        .unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidPaymentRequirements);
    assert!(
        err.message()
            .contains("maxTimeoutSeconds 1000000000000 is above the limit 3600"),
        "{err}"
    );
    assert!(Policy::default()
        .select(&challenge(vec![with_timeout(3600)]))
        .is_ok());
    assert!(Policy::default()
        .select(&challenge(vec![with_timeout(3601)]))
        .is_err());
    // An acceptable offer next to the unbounded one is taken.
    let c = challenge(vec![with_timeout(u64::MAX), with_timeout(60)]);
    assert_eq!(Policy::default().select(&c).unwrap().index, 1);
    // The bound is an option.
    let short = Policy {
        max_timeout_seconds: 30,
        ..Policy::default()
    };
    assert_eq!(
        short
            .select(&challenge(vec![with_timeout(60)]))
            .unwrap_err()
            .reason(),
        Reason::InvalidPaymentRequirements
    );
    // Mixed with another refusal: no acceptable requirement, listing both.
    let c = challenge(vec![with_timeout(u64::MAX), on("eip155:31337", 500_000)]);
    let err = Policy::default().select(&c).unwrap_err();
    assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
    assert!(
        err.message().contains("over_max") && err.message().contains("maxTimeoutSeconds"),
        "{err}"
    );
}

#[test]
fn rescaling_amounts_between_decimals() {
    let r = |v: u64, from, to, up| rescale(U256::from(v), from, to, up);
    assert_eq!(r(123_456_789, 6, 3, false), U256::from(123_456u64));
    assert_eq!(r(123_456_789, 6, 3, true), U256::from(123_457u64));
    assert_eq!(r(123_456_000, 6, 3, true), U256::from(123_456u64));
    assert_eq!(r(5, 0, 6, false), U256::from(5_000_000u64));
    assert_eq!(r(100_000, 6, 0, false), U256::ZERO);
    assert_eq!(r(100_000, 6, 0, true), U256::from(1u8));
    assert_eq!(r(0, 0, 18, true), U256::ZERO);
    assert_eq!(r(7, 6, 6, true), U256::from(7u8));
    assert_eq!(rescale(U256::MAX, 0, 1, false), U256::MAX);
    assert_eq!(
        rescale(U256::MAX, 77, 0, false),
        U256::from(1u8),
        "78 digits, 77 dropped"
    );
}

#[test]
fn authorization_follows_the_reference_client() {
    let c = challenge(vec![requirement()]);
    let offer = Policy::default().select(&c).unwrap();
    let from = Address::repeat_byte(0x42);
    let auth = build_authorization(&offer.requirement, from, NOW, nonce(9));
    assert_eq!(auth.from, from);
    assert_eq!(auth.to, PAY_TO.parse::<Address>().unwrap());
    assert_eq!(auth.value, U256::from(10000));
    assert_eq!(auth.valid_after, U256::from(NOW - 600));
    assert_eq!(auth.valid_before, U256::from(NOW + 60));
    assert_eq!(auth.nonce, nonce(9));
    let td = typed_data(&offer.requirement, &auth).unwrap();
    assert_eq!(
        td["domain"],
        json!({"name": "USD Coin", "version": "2", "chainId": 31337, "verifyingContract": requirement().asset})
    );
    assert_eq!(td["message"]["validAfter"], (NOW - 600).to_string());
}

#[test]
fn v2_payment_copies_accepted_resource_and_extensions_verbatim() {
    let mut req = requirement();
    req.other
        .insert("futureField".into(), json!({"kept": true}));
    let c = challenge_with(vec![req.clone()]);
    let p = pay(&AnyPaymentRequired::V2(c.clone()), PAYER_KEY, |_, _| {});
    let AnyPaymentPayload::V2(p) = p else {
        panic!("v2 expected")
    };
    assert_eq!(p.accepted, req);
    assert_eq!(p.resource.as_ref(), Some(&c.resource));
    assert_eq!(p.extensions, c.extensions);
    // Through the header and back, unchanged.
    let encoded = header::encode(&p).unwrap();
    assert_eq!(header::decode_payment_signature(&encoded).unwrap(), p);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["accepted"]["futureField"], json!({"kept": true}));
    assert_eq!(json["payload"]["authorization"]["value"], "10000");
}

#[test]
fn v1_payment_shape() {
    let c = AnyPaymentRequired::V1(v1::PaymentRequired {
        x402_version: x402_core::wire::V1,
        error: None,
        accepts: vec![v1_requirement()],
    });
    assert_eq!(c.version(), 1);
    let p = pay(&c, PAYER_KEY, |_, _| {});
    let AnyPaymentPayload::V1(p) = p else {
        panic!("v1 expected")
    };
    assert_eq!(
        (p.scheme.as_str(), p.network.as_str()),
        ("exact", "base-sepolia")
    );
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["x402Version"], 1);
    assert_eq!(json["payload"]["authorization"]["to"], PAY_TO);
    assert!(header::decode_x_payment(&header::encode(&p).unwrap()).is_ok());
    assert!(build_payment(&c, 3, p_auth(), vec![0u8; 65].into()).is_err());
}

fn p_auth() -> x402_core::scheme::exact::Authorization {
    serde_json::from_value(json!({"from": PAY_TO, "to": PAY_TO, "value": "1", "validAfter": "0", "validBefore": "1", "nonce": format!("{}", nonce(1))})).unwrap()
}

#[test]
fn budget_per_origin_per_period() {
    let day = 86_400;
    let mut b = Budget::new(U256::from(25_000), day);
    let o = "http://127.0.0.1:8787";
    b.record(o, U256::from(10_000), NOW, 6).unwrap();
    b.record(o, U256::from(10_000), NOW + 1, 6).unwrap();
    assert_eq!(b.remaining(o, NOW), U256::from(5_000));
    let before = b.clone();
    let err = b.record(o, U256::from(10_000), NOW + 2, 6).unwrap_err();
    assert_eq!(err.reason(), Reason::OverBudget);
    assert!(err.message().contains("0.005 of 0.025 left"), "{err}");
    assert_eq!(b, before, "a refused payment changes nothing");
    // Another origin has its own budget; the next period starts afresh.
    assert!(b
        .check("https://other.example", U256::from(20_000), NOW, 6)
        .is_ok());
    let next_day = NOW - NOW % day + day;
    assert_eq!(b.remaining(o, next_day), U256::from(25_000));
    b.record(o, U256::from(25_000), next_day, 6).unwrap();
    assert_eq!(b.remaining(o, next_day), U256::ZERO);
    // Plain JSON for storage.
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(serde_json::from_str::<Budget>(&json).unwrap(), b);
}

/// `extra.paymentFlow` (x402 v2): the payer signs the same authorization for `authorization`
/// (the default), `upfront` and `escrow`; an `authorization` offer is preferred when both remain,
/// and any other value is refused. The serde path and the browser's serde-free path agree.
#[test]
fn payment_flows_are_ranked_and_unknown_ones_refused() {
    use x402_core::client::challenge::Challenge;
    let with_flow = |flow: &str| {
        let mut r = on("eip155:31337", 10000);
        r.extra
            .as_mut()
            .unwrap()
            .insert("paymentFlow".into(), flow.into());
        r
    };
    let both = |c: &AnyPaymentRequired| {
        let serde = Policy::default().select(c);
        let AnyPaymentRequired::V2(v2c) = c else {
            unreachable!()
        };
        let text = Challenge::from_header(&header::encode(v2c).unwrap())
            .unwrap()
            .select(&Policy::default());
        (serde, text)
    };
    // `upfront` listed first, `authorization` (absent) second: the second is taken.
    let c = challenge(vec![with_flow("upfront"), on("eip155:31337", 10000)]);
    let (serde, text) = both(&c);
    assert_eq!(serde.unwrap().index, 1);
    assert_eq!(text.unwrap().index, 1);
    // Named `authorization` counts as the default.
    let c = challenge(vec![with_flow("escrow"), with_flow("authorization")]);
    assert_eq!(both(&c).0.unwrap().index, 1);
    assert_eq!(both(&c).1.unwrap().index, 1);
    // Alone, `upfront` and `escrow` are paid.
    for flow in ["upfront", "escrow"] {
        let c = challenge(vec![with_flow(flow)]);
        let (serde, text) = both(&c);
        assert!(!serde.unwrap().authorization_flow);
        assert!(!text.unwrap().authorization_flow);
    }
    // Unknown: refused, with what and why in the message.
    let c = challenge(vec![with_flow("later")]);
    for err in [both(&c).0.unwrap_err(), both(&c).1.unwrap_err()] {
        assert_eq!(err.reason(), Reason::NoAcceptableRequirement);
        assert!(
            err.message().contains(
                "unsupported_scheme: paymentFlow \"later\" is not authorization, upfront or escrow"
            ),
            "{err}"
        );
    }
}

#[test]
fn a_declared_payment_identifier_gets_one_id_per_purchase() {
    use x402_core::client::challenge::Challenge;
    use x402_core::wire::payment_identifier::{self, declaration, id_for_nonce};
    let mut c = challenge_with(vec![on("eip155:31337", 10000)]);
    let mut ext = x402_core::wire::JsonMap::new();
    ext.insert("bazaar".into(), json!({"info": {"x": [1, 2]}}));
    ext.insert(payment_identifier::KEY.into(), declaration(true));
    c.extensions = Some(ext);
    let any = AnyPaymentRequired::V2(c.clone());
    let lite = Challenge::from_header(&header::encode(&c).unwrap()).unwrap();
    let auth = |n: u8| {
        let mut a = p_auth();
        a.nonce = nonce(n);
        a
    };
    let sig = [1u8; 65];
    let ids = |n: u8| {
        let serde =
            serde_json::to_value(build_payment(&any, 0, auth(n), sig.to_vec().into()).unwrap())
                .unwrap();
        let text: serde_json::Value =
            serde_json::from_str(&lite.payment_json(0, &auth(n), &sig).unwrap()).unwrap();
        assert_eq!(serde, text, "both paths write the same payment");
        let pi = &serde["extensions"][payment_identifier::KEY];
        assert_eq!(pi["info"]["required"], true);
        assert_eq!(
            pi["schema"],
            declaration(true)["schema"],
            "the schema is kept"
        );
        assert_eq!(
            serde["extensions"]["bazaar"],
            json!({"info": {"x": [1, 2]}}),
            "other extensions echoed"
        );
        // The Worker's reader takes it.
        let p: v2::PaymentPayload = serde_json::from_value(serde.clone()).unwrap();
        let id = payment_identifier::id_of(p.extensions.as_ref())
            .unwrap()
            .unwrap();
        assert_eq!(id, id_for_nonce(&nonce(n).0));
        id
    };
    assert_eq!(ids(1), ids(1), "a resend of one payment carries its id");
    assert_ne!(ids(1), ids(2), "another purchase, another id");
    // An empty info gets the id alone; an info that already names one is echoed unchanged.
    for (info, want) in [
        (json!({}), Some(id_for_nonce(&nonce(3).0))),
        (
            json!({"required": false, "id": "pay_fromtheserver00"}),
            Some("pay_fromtheserver00".to_string()),
        ),
    ] {
        let mut c2 = c.clone();
        c2.extensions.as_mut().unwrap()[payment_identifier::KEY] = json!({"info": info});
        let lite = Challenge::from_header(&header::encode(&c2).unwrap()).unwrap();
        let serde = serde_json::to_value(
            build_payment(&AnyPaymentRequired::V2(c2), 0, auth(3), sig.to_vec().into()).unwrap(),
        )
        .unwrap();
        let text: serde_json::Value =
            serde_json::from_str(&lite.payment_json(0, &auth(3), &sig).unwrap()).unwrap();
        assert_eq!(serde, text);
        assert_eq!(
            serde["extensions"][payment_identifier::KEY]["info"]["id"].as_str(),
            want.as_deref()
        );
    }
    // Without the declaration nothing is added.
    c.extensions = None;
    let p = build_payment(&AnyPaymentRequired::V2(c), 0, auth(1), sig.to_vec().into()).unwrap();
    assert!(serde_json::to_value(p).unwrap().get("extensions").is_none());
}
