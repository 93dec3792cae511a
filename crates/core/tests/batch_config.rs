//! The paywall configuration's `batchSettlement` table (`gate::config`): parsing and its
//! defaults, every refusal naming its key, the `batch-settlement` entries of `accepts` (order and
//! shape), the offer a payment's `accepted` took, the claim policy, the route opt-out, and what
//! the facilitator endpoints report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{json, Value};
use x402_core::evm::asset::LOCAL_TEST_USDC;
use x402_core::gate::config::{Config, PriceSpec};
use x402_core::scheme::batch::channel::ClaimPolicy;
use x402_core::wire::v2;
use x402_core::{Address, Reason, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Anvil account #3, lower case in the configuration: the offers must checksum it.
const AUTHORIZER: &str = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
const AUTHORIZER_CHECKSUMMED: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const OTHER_TOKEN: &str = "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707";

fn base() -> Value {
    json!({
        "payTo": "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "networks": ["eip155:31337"],
        "content": {"source": "assets"},
        "settlement": {"mode": "self", "rpcUrl": "http://127.0.0.1:8545"},
        "batchSettlement": {"receiverAuthorizer": AUTHORIZER},
        "routes": [
            {"pattern": "GET /paid/*", "price": "$0.01"},
            {"pattern": "/api/*", "price": "$0.001",
             "networks": ["eip155:31337",
                          {"network": "eip155:31337", "asset": OTHER_TOKEN, "name": "T",
                           "version": "1", "decimals": 18, "price": "$0.002"}]},
            {"pattern": "GET /free-ish/*", "price": "$0.05", "batchSettlement": false}
        ]
    })
}

fn parse(v: &Value) -> Config {
    Config::from_json(v).unwrap()
}

fn authorizer() -> Address {
    AUTHORIZER.parse().unwrap()
}

#[test]
fn defaults() {
    let c = parse(&json!({
        "payTo": "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "networks": ["eip155:31337"],
        "content": {"source": "assets"},
        "settlement": {"mode": "self", "rpcUrl": "http://127.0.0.1:8545"},
        "batchSettlement": {},
        "routes": [{"pattern": "GET /paid/*", "price": "$0.01"}]
    }));
    let b = c.batch.as_ref().unwrap();
    assert_eq!(b.receiver_authorizer, None);
    assert_eq!(b.withdraw_delay, 900);
    assert_eq!(b.min_deposit, None);
    assert_eq!(b.claim.threshold, PriceSpec::Price("$1.00".into()));
    assert_eq!(b.claim.max_age_seconds, 3600);
    assert_eq!(b.claim.withdrawal_margin_seconds, 300);
    assert_eq!(b.claim.check_interval_seconds, 300);
    assert_eq!(c.check_interval_seconds(), 300);
    assert!(
        c.routes[0].batch,
        "the table turns batch on for every route"
    );
    // No receiver authorizer yet: no batch entries, no batch kinds.
    assert_eq!(c.routes[0].requirements_v2().len(), 1);
    assert!(c.supported(None).kinds.iter().all(|k| k.scheme == "exact"));

    // Without the table: off everywhere.
    let mut v = base();
    v.as_object_mut().unwrap().remove("batchSettlement");
    v["routes"][2]
        .as_object_mut()
        .unwrap()
        .remove("batchSettlement");
    let mut c = parse(&v);
    assert!(c.batch.is_none());
    assert!(c.routes.iter().all(|r| !r.batch));
    assert!(c.routes[0].options[0].batch.is_none());
    assert_eq!(c.check_interval_seconds(), 300);
    assert_eq!(c.claim_policy(31337, LOCAL_TEST_USDC.address), None);
    c.set_receiver_authorizer(authorizer()).unwrap();
    assert_eq!(
        c.receiver_authorizer(),
        None,
        "nothing to set without the table"
    );
    assert_eq!(c.routes[0].requirements_v2().len(), 1);

    // Configured values.
    let mut v = base();
    v["batchSettlement"] = json!({
        "receiverAuthorizer": AUTHORIZER, "withdrawDelay": 86400, "minDeposit": "$0.05",
        "claim": {"threshold": "2500000", "maxAgeSeconds": 60, "withdrawalMarginSeconds": 600,
                  "checkIntervalSeconds": 120}
    });
    let c = parse(&v);
    let b = c.batch.as_ref().unwrap();
    assert_eq!(b.receiver_authorizer, Some(authorizer()));
    assert_eq!(b.withdraw_delay, 86400);
    assert_eq!(b.min_deposit, Some(PriceSpec::Price("$0.05".into())));
    assert_eq!(b.claim.threshold, PriceSpec::Atomic(U256::from(2_500_000)));
    assert_eq!(c.check_interval_seconds(), 120);
    assert_eq!(
        c.claim_policy(31337, LOCAL_TEST_USDC.address),
        Some(ClaimPolicy {
            threshold: U256::from(2_500_000),
            max_age: 60,
            withdrawal_margin: 600
        })
    );
    let o = c.routes[0].options[0].batch.as_ref().unwrap();
    assert_eq!(o.min_deposit, U256::from(50_000), "$0.05 at 6 decimals");
    assert_eq!(o.withdraw_delay, 86400);
}

#[test]
fn every_refusal_names_its_key() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/batchSettlement", json!({"minDepositt": "1"}), "unknown field `minDepositt`"),
        ("/batchSettlement", json!("on"), "batchSettlement"),
        ("/batchSettlement/claim", json!({"every": 5}), "batchSettlement.claim: unknown field `every`"),
        ("/batchSettlement/receiverAuthorizer", json!("0x1234"), "batchSettlement.receiverAuthorizer"),
        (
            "/batchSettlement/receiverAuthorizer",
            json!("0x0000000000000000000000000000000000000000"),
            "batchSettlement.receiverAuthorizer: must not be the zero address",
        ),
        ("/batchSettlement/withdrawDelay", json!(899), "batchSettlement.withdrawDelay"),
        ("/batchSettlement/withdrawDelay", json!(2_592_001), "batchSettlement.withdrawDelay"),
        ("/batchSettlement/withdrawDelay", json!("900"), "batchSettlement"),
        ("/batchSettlement/minDeposit", json!("0.10"), "batchSettlement.minDeposit"),
        ("/batchSettlement/minDeposit", json!("$1.2.3"), "batchSettlement.minDeposit"),
        (
            "/batchSettlement/minDeposit",
            json!("$0.0000001"),
            "batchSettlement.minDeposit: routes[0].networks[0]",
        ),
        ("/batchSettlement/claim", json!({"threshold": "0"}), "batchSettlement.claim.threshold: must be above zero"),
        ("/batchSettlement/claim", json!({"threshold": "$0"}), "batchSettlement.claim.threshold: must be above zero"),
        ("/batchSettlement/claim", json!({"threshold": "lots"}), "batchSettlement.claim.threshold"),
        ("/batchSettlement/claim", json!({"maxAgeSeconds": 0}), "batchSettlement.claim.maxAgeSeconds"),
        (
            "/batchSettlement/claim",
            json!({"withdrawalMarginSeconds": 0}),
            "batchSettlement.claim.withdrawalMarginSeconds",
        ),
        (
            "/batchSettlement/claim",
            json!({"checkIntervalSeconds": 0}),
            "batchSettlement.claim.checkIntervalSeconds",
        ),
        (
            "/batchSettlement/claim",
            json!({"checkIntervalSeconds": 700}),
            "batchSettlement.claim: checkIntervalSeconds (700) + withdrawalMarginSeconds (300) must not exceed withdrawDelay (900)",
        ),
        ("/routes/0/batchSettlement", json!("yes"), "routes[0]"),
        // An asset of unknown decimals priced atomically: the default "$1.00" threshold cannot
        // be converted for it.
        (
            "/routes/1/networks/1",
            json!({"network": "eip155:31337", "asset": OTHER_TOKEN, "name": "T", "version": "1", "amount": "7"}),
            "batchSettlement.claim.threshold: the price \"$1.00\" cannot be converted for routes[1].networks[1]",
        ),
    ];
    for (pointer, value, needle) in cases {
        let mut v = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
            Value::Object(o) => {
                o.insert(key.into(), value);
            }
            _ => unreachable!(),
        }
        let e = Config::from_json(&v).unwrap_err();
        assert_eq!(e.reason(), Reason::InvalidConfig, "{pointer}: {e}");
        assert!(e.message().contains(needle), "{pointer}: {e}");
    }

    // Channels need a node: facilitator mode without settlement.rpcUrl is refused with batch.
    let mut v = base();
    v["settlement"] = json!({"mode": "facilitator", "url": "https://facilitator.example"});
    let e = Config::from_json(&v).unwrap_err();
    assert_eq!(e.reason(), Reason::InvalidConfig);
    assert!(
        e.message()
            .contains("settlement.rpcUrl: required with batchSettlement"),
        "{e}"
    );
    v["settlement"]["rpcUrl"] = json!("http://127.0.0.1:8545");
    assert!(Config::from_json(&v).is_ok());
    v.as_object_mut().unwrap().remove("batchSettlement");
    v["routes"][2]
        .as_object_mut()
        .unwrap()
        .remove("batchSettlement");
    v["settlement"].as_object_mut().unwrap().remove("rpcUrl");
    assert!(Config::from_json(&v).is_ok(), "exact alone needs no node");

    // A route may say true only when the table exists.
    let mut v = base();
    v.as_object_mut().unwrap().remove("batchSettlement");
    v["routes"][2]["batchSettlement"] = json!(true);
    let e = Config::from_json(&v).unwrap_err();
    assert_eq!(e.reason(), Reason::InvalidConfig);
    assert!(
        e.message()
            .contains("routes[2].batchSettlement: true needs the top-level batchSettlement table"),
        "{e}"
    );
    v["routes"][2]["batchSettlement"] = json!(false);
    assert!(
        Config::from_json(&v).is_ok(),
        "false without the table is fine"
    );
    // The same unknown-decimals asset is fine with an atomic threshold and minDeposit.
    let mut v = base();
    v["routes"][1]["networks"][1] = json!({"network": "eip155:31337", "asset": OTHER_TOKEN,
        "name": "T", "version": "1", "amount": "7"});
    v["batchSettlement"]["claim"] = json!({"threshold": "1000"});
    let c = parse(&v);
    let o = c.routes[1].options[1].batch.as_ref().unwrap();
    assert_eq!(
        (o.min_deposit, o.claim_threshold),
        (U256::from(70), U256::from(1000))
    );
    // ...or on a route that opts out.
    let mut v = base();
    v["routes"][1]["networks"][1] = json!({"network": "eip155:31337", "asset": OTHER_TOKEN,
        "name": "T", "version": "1", "amount": "7"});
    v["routes"][1]["batchSettlement"] = json!(false);
    assert!(Config::from_json(&v).is_ok());
}

#[test]
fn requirements_order_and_shape() {
    let c = parse(&base());
    let paid = c.route_for("GET", "/paid/a").unwrap();
    let reqs = paid.requirements_v2();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].scheme, "exact", "exact first");
    assert_eq!(reqs[1].scheme, "batch-settlement");
    let exact = serde_json::to_value(&reqs[0]).unwrap();
    let batch = serde_json::to_value(&reqs[1]).unwrap();
    for k in ["network", "amount", "asset", "payTo", "maxTimeoutSeconds"] {
        assert_eq!(exact[k], batch[k], "{k}");
    }
    assert_eq!(
        batch["extra"],
        json!({
            "name": "USD Coin",
            "version": "2",
            "receiverAuthorizer": AUTHORIZER_CHECKSUMMED,
            "withdrawDelay": 900,
            "minDeposit": "100000"
        })
    );
    assert!(batch["extra"]["withdrawDelay"].is_u64(), "a JSON number");
    assert!(batch["extra"]["minDeposit"].is_string());
    // The exact entry is untouched.
    assert_eq!(exact["extra"], json!({"name": "USD Coin", "version": "2"}));

    // Per option: exact then batch, each option's own asset, decimals and minimum.
    let api = c.route_for("POST", "/api/x").unwrap();
    let reqs = api.requirements_v2();
    let schemes: Vec<&str> = reqs.iter().map(|r| r.scheme.as_str()).collect();
    assert_eq!(
        schemes,
        ["exact", "batch-settlement", "exact", "batch-settlement"]
    );
    assert_eq!(reqs[3].asset, OTHER_TOKEN);
    assert_eq!(reqs[3].amount, U256::from(2_000_000_000_000_000u64));
    let extra = reqs[3].extra.as_ref().unwrap();
    assert_eq!(extra["name"], json!("T"));
    assert_eq!(extra["minDeposit"], json!("20000000000000000"));

    // v1 lists exact only (on a network with a v1 name).
    let mut v = base();
    v["routes"][0]["networks"] = json!(["eip155:84532"]);
    let sepolia = parse(&v);
    assert_eq!(sepolia.routes[0].requirements_v2().len(), 2);
    let v1 = sepolia.routes[0].requirements_v1("http://h/paid/a");
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].scheme, "exact");
    let challenge = sepolia.routes[0]
        .payment_required_v1("http://h/paid/a", "e".into())
        .unwrap();
    assert!(challenge.accepts.iter().all(|r| r.scheme == "exact"));

    // The route that opts out offers exact only.
    let free_ish = c.route_for("GET", "/free-ish/a").unwrap();
    assert!(!free_ish.batch);
    assert!(free_ish.options[0].batch.is_none());
    assert_eq!(free_ish.requirements_v2().len(), 1);

    // minDeposit configured as a price, and floored at the amount.
    let mut v = base();
    v["batchSettlement"]["minDeposit"] = json!("$0.015");
    let c = parse(&v);
    let r = c.routes[0].requirements_v2();
    assert_eq!(r[1].extra.as_ref().unwrap()["minDeposit"], json!("15000"));
    let api = c.routes[1].requirements_v2();
    assert_eq!(api[1].extra.as_ref().unwrap()["minDeposit"], json!("15000"));
    assert_eq!(
        api[3].extra.as_ref().unwrap()["minDeposit"],
        json!("15000000000000000"),
        "converted with 18 decimals"
    );
    v["batchSettlement"]["minDeposit"] = json!("3");
    let c = parse(&v);
    let r = c.routes[0].requirements_v2();
    assert_eq!(
        r[1].extra.as_ref().unwrap()["minDeposit"],
        json!("10000"),
        "at least the amount"
    );
}

#[test]
fn receiver_authorizer_from_the_key() {
    let mut v = base();
    v["batchSettlement"] = json!({});
    let mut c = parse(&v);
    assert_eq!(
        c.routes[0].requirements_v2().len(),
        1,
        "left out while unknown"
    );
    let zero = c.set_receiver_authorizer(Address::ZERO).unwrap_err();
    assert_eq!(zero.reason(), Reason::InvalidConfig);
    c.set_receiver_authorizer(authorizer()).unwrap();
    assert_eq!(c.receiver_authorizer(), Some(authorizer()));
    let reqs = c.routes[0].requirements_v2();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].extra.as_ref().unwrap()["receiverAuthorizer"],
        json!(AUTHORIZER_CHECKSUMMED)
    );
    assert_eq!(c, parse(&base()), "the same as configuring it");

    // A configured address must be the key's.
    let mut c = parse(&base());
    c.set_receiver_authorizer(authorizer()).unwrap();
    let other: Address = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
        .parse()
        .unwrap();
    let e = c.set_receiver_authorizer(other).unwrap_err();
    assert_eq!(e.reason(), Reason::InvalidConfig);
    assert!(
        e.message().contains("batchSettlement.receiverAuthorizer"),
        "{e}"
    );
    assert!(e.message().contains("X402_RECEIVER_AUTHORIZER_KEY"), "{e}");
    assert_eq!(c.receiver_authorizer(), Some(authorizer()), "unchanged");
}

#[test]
fn batch_offer_matching() {
    let c = parse(&base());
    let paid = c.route_for("GET", "/paid/a").unwrap();
    let offered = paid.requirements_v2();
    let (i, r) = c.batch_offer(paid, &offered[1]).unwrap();
    assert_eq!(i, 1, "the index into requirements_v2");
    assert_eq!(r.amount, U256::from(10_000));
    assert_eq!(r.asset, LOCAL_TEST_USDC.address);
    assert_eq!(r.chain_id, 31337);
    assert_eq!(r.extra.receiver_authorizer, authorizer());
    assert_eq!(r.extra.withdraw_delay, 900);
    assert_eq!(r.extra.min_deposit, Some(U256::from(100_000)));

    // accepted may carry more in extra (a corrective 402's channelState).
    let mut more = offered[1].clone();
    more.extra
        .as_mut()
        .unwrap()
        .insert("channelState".into(), json!({"balance": "0"}));
    assert_eq!(c.batch_offer(paid, &more).map(|(i, _)| i), Some(1));

    // The second option's batch entry of the api route.
    let api = c.route_for("POST", "/api/x").unwrap();
    let api_offered = api.requirements_v2();
    let (i, r) = c.batch_offer(api, &api_offered[3]).unwrap();
    assert_eq!((i, r.asset), (3, OTHER_TOKEN.parse().unwrap()));
    assert!(
        c.batch_offer(paid, &api_offered[3]).is_none(),
        "another route's offer"
    );

    // Refused: any other field changed, an offered extra field missing or changed, exact.
    let edits: Vec<fn(&mut v2::PaymentRequirements)> = vec![
        |r| r.amount = U256::from(10_001),
        |r| r.pay_to = "0x0000000000000000000000000000000000000007".into(),
        |r| r.asset = OTHER_TOKEN.into(),
        |r| r.max_timeout_seconds += 1,
        |r| r.network = "eip155:84532".parse().unwrap(),
        |r| {
            r.other.insert("extraTopLevel".into(), json!(1));
        },
        |r| {
            r.extra.as_mut().unwrap().remove("minDeposit");
        },
        |r| {
            r.extra
                .as_mut()
                .unwrap()
                .insert("withdrawDelay".into(), json!(1800));
        },
        |r| {
            r.extra.as_mut().unwrap().insert(
                "receiverAuthorizer".into(),
                json!("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
            );
        },
        |r| {
            r.extra
                .as_mut()
                .unwrap()
                .insert("withdrawDelay".into(), json!("900"));
        },
        |r| r.extra = None,
        |r| r.scheme = "exact".into(),
    ];
    for (n, edit) in edits.into_iter().enumerate() {
        let mut x = offered[1].clone();
        edit(&mut x);
        assert!(c.batch_offer(paid, &x).is_none(), "edit {n}: {x:?}");
    }
    assert!(
        c.batch_offer(paid, &offered[0]).is_none(),
        "the exact entry"
    );

    // The route that opts out has no batch offer, even for an offer it would have made.
    let free_ish = c.route_for("GET", "/free-ish/a").unwrap();
    let mut x = offered[1].clone();
    x.amount = free_ish.options[0].amount;
    assert!(c.batch_offer(free_ish, &x).is_none());

    // Nothing matches while the authorizer is unknown.
    let mut v = base();
    v["batchSettlement"] = json!({});
    let unset = parse(&v);
    assert!(unset.batch_offer(&unset.routes[0], &offered[1]).is_none());
}

#[test]
fn claim_policy_per_token() {
    let c = parse(&base());
    assert_eq!(
        c.claim_policy(31337, LOCAL_TEST_USDC.address),
        Some(ClaimPolicy {
            threshold: U256::from(1_000_000),
            max_age: 3600,
            withdrawal_margin: 300
        })
    );
    let other = c.claim_policy(31337, OTHER_TOKEN.parse().unwrap()).unwrap();
    assert_eq!(
        other.threshold,
        U256::from(1_000_000_000_000_000_000u64),
        "$1.00 at 18 decimals"
    );
    assert_eq!(
        c.claim_policy(1, LOCAL_TEST_USDC.address),
        None,
        "another chain"
    );
    assert_eq!(
        c.claim_policy(31337, Address::ZERO),
        None,
        "a token no route offers"
    );
}

#[test]
fn facilitator_endpoints_know_batch_offers() {
    let c = parse(&base());
    let sup = c.supported(None);
    let batch: Vec<_> = sup
        .kinds
        .iter()
        .filter(|k| k.scheme == "batch-settlement")
        .collect();
    assert_eq!(batch.len(), 1, "one network: {sup:?}");
    let kind = serde_json::to_value(batch[0]).unwrap();
    assert_eq!(
        kind,
        json!({"x402Version": 2, "scheme": "batch-settlement", "network": "eip155:31337",
               "extra": {"receiverAuthorizer": AUTHORIZER_CHECKSUMMED}})
    );
    assert_eq!(
        sup.kinds.iter().filter(|k| k.scheme == "exact").count(),
        1,
        "exact on 31337 (no v1 name)"
    );

    // Only routes that offer batch: with every batch route opted out, no batch kind.
    let mut v = base();
    v["routes"][0]["batchSettlement"] = json!(false);
    v["routes"][1]["batchSettlement"] = json!(false);
    let off = parse(&v);
    assert!(off
        .supported(None)
        .kinds
        .iter()
        .all(|k| k.scheme == "exact"));

    // own_offer_v2 recognises batch offers, by the same rule as batch_offer.
    let paid = c.route_for("GET", "/paid/a").unwrap();
    let offered = paid.requirements_v2();
    assert_eq!(
        c.own_offer_v2(&offered[1]).map(|r| &r.pattern),
        Some(&paid.pattern)
    );
    let mut x = offered[1].clone();
    x.extra
        .as_mut()
        .unwrap()
        .insert("withdrawDelay".into(), json!(1800));
    assert!(c.own_offer_v2(&x).is_none());
    let mut x = offered[1].clone();
    x.amount = U256::from(1);
    assert!(c.own_offer_v2(&x).is_none());
    assert!(off.own_offer_v2(&offered[1]).is_none(), "not offered there");
}
