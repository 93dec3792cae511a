//! The `batch-settlement` scheme's core against known answers and the reference SDK:
//! - known-answer hashes on chain 31337 (anvil accounts #0–#2, the local token), which the
//!   Solidity stand-in's tests also check;
//! - `tests/vectors/batch.json`, computed by the reference SDK (`@x402/evm` batch-settlement
//!   helpers) and viem by `tests/js/batch-oracle.mjs`: digests, channel ids and signatures byte
//!   for byte, and the SDK client's own deposit and voucher payloads parsed, re-serialized to the
//!   same JSON and verified; calldata and return data of the SDK's contract ABI; and the SDK
//!   server's voucher-success `extra` and corrective offer, reproduced by `channel`;
//! - strict parsing refusals and every verification rule with its reason code.
#![cfg(feature = "local-signer")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy_sol_types::SolValue;
use serde_json::{json, Value};
use x402_core::evm::signature::Signature;
use x402_core::evm::signer::LocalSigner;
use x402_core::scheme::batch::digest::{self, channel_id};
use x402_core::scheme::batch::rules::{self, SignatureCheck, Use};
use x402_core::scheme::batch::types::{ClaimEntry, Erc3009CollectorData, ReceiveWithAuthorization};
use x402_core::scheme::batch::wire::{
    BatchExtra, BatchPayload, BatchRequirement, ChannelConfigJson,
};
use x402_core::scheme::batch::{response, types};
use x402_core::wire::v2;
use x402_core::{Address, Bytes, Reason, B256, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const VECTORS: &str = include_str!("../../../tests/vectors/batch.json");
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY2: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const KEY3: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}
fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}
fn b256(v: &Value) -> B256 {
    s(v).parse().unwrap()
}
fn u(v: &Value) -> U256 {
    s(v).parse().unwrap()
}
fn hex(b: &[u8]) -> String {
    format!("{}", Bytes::copy_from_slice(b))
}
fn sign(key: &str, digest: &B256) -> Bytes {
    Bytes::copy_from_slice(
        &LocalSigner::from_hex(key)
            .unwrap()
            .sign_hash(digest)
            .unwrap()
            .to_bytes(),
    )
}
fn config(v: &Value) -> ChannelConfigJson {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn known_answers_chain_31337() {
    let c = config(&json!({
        "payer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "payerAuthorizer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "receiver": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "receiverAuthorizer": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "token": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "withdrawDelay": 900,
        "salt": format!("0x{}", "00".repeat(32)),
    }));
    let hx = |h: B256| format!("{h}");
    assert_eq!(
        hx(digest::domain_separator(31337)),
        "0xbf720f8d28a5c76a2f7743512598984fa4b90dd1efdb19af73f64cc6587d68af"
    );
    let id = channel_id(&c.to_sol(), 31337);
    assert_eq!(
        hx(id),
        "0x3dba7b750189e416712e643b7f71b0f6a79d0cce7f84596a48d48205120ffbce"
    );
    let vd = digest::voucher_digest(id, 1000, 31337);
    assert_eq!(
        hx(vd),
        "0xd48e132c94dcd17b21fe7470534f023f2faebbb8db6b5391f5b8d6f75e463053"
    );
    assert_eq!(hex(&sign(KEY0, &vd)), "0x48b40bfff3bebfbe9e49bd5a0d707adeb458085e4aa8dc8a1cd4c34d1b9388115abc686a061525bf828f4a126948376283a278eac751e85428ccf0e055a44f9f1c");
    assert_eq!(
        hx(digest::refund_digest(id, U256::ZERO, 500, 31337)),
        "0x593c3d5ffb896add60ca16378a0587f58c7322fd1e4aab4b3ebacd1fc5fda980"
    );
    let row = ClaimEntry {
        channelId: id,
        maxClaimableAmount: 1000,
        totalClaimed: 1000,
    };
    assert_eq!(
        hx(digest::claim_batch_digest(&[row], 31337)),
        "0x2f46733a02ccc402c5eb8054fa1e9ae883411f9bac87ee0fb172a5663cf3ccce"
    );
    let nonce = digest::erc3009_deposit_nonce(id, U256::from(1));
    assert_eq!(
        hx(nonce),
        "0xc411b8a3d60a2104645ed1804d546b93e11f69b73bfbfbf4653d8f2ec464e622"
    );
    assert_eq!(
        hx(x402_core::evm::eip712::token_domain_separator(
            "USD Coin", "2", 31337, c.token
        )),
        "0xfc557a58e1177dd0b729c40130003009d1ffed5a502b494889e2711c7726dd52"
    );
    let rwa = ReceiveWithAuthorization {
        from: c.payer,
        to: types::ERC3009_DEPOSIT_COLLECTOR,
        value: U256::from(10000),
        validAfter: U256::ZERO,
        validBefore: U256::from(2_000_000_000u64),
        nonce,
    };
    let rd = digest::receive_authorization_digest("USD Coin", "2", 31337, c.token, &rwa);
    assert_eq!(
        hx(rd),
        "0xb3b76763d8cbb35362afe3812a2f2af1dbd032073957a96937e518aa16545e96"
    );
    assert_eq!(hex(&sign(KEY0, &rd)), "0x88ddd56d0347c565455d7023647422f88076856b1ad57999ac0145210e00bc953da27c31f808f22212672f3d87898b83675aa320ee168ae008ad58014bd2aa5a1b");
}

#[test]
fn reference_sdk_vectors() {
    let v = vectors();
    assert!(s(&v["source"]).starts_with("@x402/evm 2.27.0"));
    for case in v["cases"].as_array().unwrap() {
        let chain = case["chainId"].as_u64().unwrap();
        let c = config(&case["config"]);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            case["config"],
            "config round trip"
        );
        assert_eq!(
            digest::domain_separator(chain),
            b256(&case["domainSeparator"])
        );
        let id = channel_id(&c.to_sol(), chain);
        assert_eq!(id, b256(&case["channelId"]));
        let voucher_key = s(&case["voucherKey"]);
        for vo in case["vouchers"].as_array().unwrap() {
            let max: u128 = s(&vo["maxClaimableAmount"]).parse().unwrap();
            let d = digest::voucher_digest(id, max, chain);
            assert_eq!(d, b256(&vo["digest"]));
            // RFC 6979 signing is deterministic: the SDK's signature is ours byte for byte.
            assert_eq!(hex(&sign(voucher_key, &d)), s(&vo["signature"]));
            let sig = Signature::from_bytes(&sign(voucher_key, &d)).unwrap();
            assert_eq!(
                sig.recover(&d).unwrap(),
                LocalSigner::from_hex(voucher_key).unwrap().address()
            );
        }
        for r in case["refunds"].as_array().unwrap() {
            let d =
                digest::refund_digest(id, u(&r["nonce"]), s(&r["amount"]).parse().unwrap(), chain);
            assert_eq!(d, b256(&r["digest"]));
        }
        for b in case["claimBatches"].as_array().unwrap() {
            let rows: Vec<ClaimEntry> = b["claims"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| ClaimEntry {
                    channelId: b256(&e["channelId"]),
                    maxClaimableAmount: s(&e["maxClaimableAmount"]).parse().unwrap(),
                    totalClaimed: s(&e["totalClaimed"]).parse().unwrap(),
                })
                .collect();
            let d = digest::claim_batch_digest(&rows, chain);
            assert_eq!(d, b256(&b["digest"]));
            assert_eq!(hex(&sign(KEY2, &d)), s(&b["signatureByKey2"]));
            let typed = digest::claim_batch_typed_data(&rows, chain).unwrap();
            assert_eq!(
                typed["types"]["ClaimBatch"],
                json!([{"name": "claims", "type": "ClaimEntry[]"}])
            );
            assert_eq!(
                typed["message"]["claims"].as_array().unwrap().len(),
                rows.len()
            );
        }
        let e = &case["erc3009"];
        let nonce = digest::erc3009_deposit_nonce(id, b256(&e["salt"]).into());
        assert_eq!(nonce, b256(&e["nonce"]));
        assert_eq!(
            x402_core::evm::eip712::token_domain_separator(
                s(&e["tokenName"]),
                s(&e["tokenVersion"]),
                chain,
                c.token
            ),
            b256(&e["tokenDomainSeparator"])
        );
        let rwa = ReceiveWithAuthorization {
            from: c.payer,
            to: types::ERC3009_DEPOSIT_COLLECTOR,
            value: u(&e["value"]),
            validAfter: u(&e["validAfter"]),
            validBefore: u(&e["validBefore"]),
            nonce,
        };
        let d = digest::receive_authorization_digest(
            s(&e["tokenName"]),
            s(&e["tokenVersion"]),
            chain,
            c.token,
            &rwa,
        );
        assert_eq!(d, b256(&e["digest"]));
        assert_eq!(hex(&sign(KEY0, &d)), s(&e["signature"]));
        let data = Erc3009CollectorData {
            validAfter: U256::ZERO,
            validBefore: U256::from(2_000_000_000u64),
            salt: U256::from(1),
            signature: Bytes::from_static(&[0x12, 0x34]),
        };
        assert_eq!(hex(&data.abi_encode_params()), s(&e["collectorData"]));
    }
}

/// The SDK server's 402 entry and the SDK client's payloads, wrapped as the client sends them.
fn sdk_payment(kind: &str) -> (v2::PaymentRequirements, v2::PaymentPayload) {
    let v = vectors();
    let req: v2::PaymentRequirements = serde_json::from_value(v["requirements"].clone()).unwrap();
    let payment = serde_json::from_value(json!({
        "x402Version": 2, "accepted": v["requirements"], "payload": v["payloads"][kind],
        "resource": {"url": "http://127.0.0.1:8787/paid"},
    }))
    .unwrap();
    (req, payment)
}

fn deposit_now() -> u64 {
    let v = vectors();
    s(
        &v["payloads"]["deposit"]["deposit"]["authorization"]["erc3009Authorization"]
            ["validBefore"],
    )
    .parse::<u64>()
    .unwrap()
        - 300
}

#[test]
fn sdk_offer_extra_round_trips() {
    let (req, _) = sdk_payment("deposit");
    let parsed = BatchRequirement::from_v2(&req).unwrap();
    assert_eq!(parsed.extra.withdraw_delay, 900);
    assert_eq!(parsed.extra.min_deposit, Some(U256::from(10_000)));
    assert_eq!(parsed.extra.to_json(), *req.extra.as_ref().unwrap());
    assert_eq!(
        serde_json::to_string(&parsed.extra.to_json()).unwrap(),
        serde_json::to_string(req.extra.as_ref().unwrap()).unwrap()
    );
}

#[test]
fn sdk_payloads_parse_round_trip_and_verify() {
    for kind in ["deposit", "voucher"] {
        let (req, payment) = sdk_payment(kind);
        let parsed = BatchPayload::from_json(&payment.payload).unwrap();
        assert_eq!(parsed.kind(), kind);
        assert_eq!(parsed.to_json(), payment.payload);
        assert_eq!(
            serde_json::to_string(&parsed.to_json()).unwrap(),
            serde_json::to_string(&payment.payload).unwrap(),
            "same bytes, same order"
        );
        let checked = rules::verify_payload(&payment, &req, deposit_now()).unwrap();
        assert_eq!(checked.voucher, SignatureCheck::Valid);
        assert_eq!(
            checked.payer,
            LocalSigner::from_hex(KEY0).unwrap().address()
        );
        assert_eq!(checked.deposit.is_some(), kind == "deposit");
        if let Some(d) = checked.deposit {
            assert_eq!(d, SignatureCheck::Valid);
        }
    }
}

fn code(r: x402_core::Result<impl std::fmt::Debug>) -> &'static str {
    r.expect_err("refused").code()
}

#[test]
fn strict_parsing_refusals() {
    let (_, deposit) = sdk_payment("deposit");
    let (_, voucher) = sdk_payment("voucher");
    let edit = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut p = base.clone();
        f(&mut p);
        BatchPayload::from_json(&p)
    };
    let d = &deposit.payload;
    let v = &voucher.payload;
    let p = "invalid_batch_settlement_evm_";
    let cases: Vec<(&str, x402_core::Result<BatchPayload>)> = vec![
        (
            "payload_type",
            edit(v, &|p| {
                p.as_object_mut().unwrap().remove("type");
            }),
        ),
        ("payload_type", edit(v, &|p| p["type"] = json!("voucherz"))),
        ("payload_type", edit(v, &|p| p["type"] = json!(1))),
        (
            "channel_id_invalid",
            edit(v, &|p| p["voucher"]["channelId"] = json!("0x1234")),
        ),
        (
            "channel_id_invalid",
            edit(v, &|p| p["voucher"]["channelId"] = json!(1)),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["channelConfig"]["withdrawDelay"] = json!("900")),
        ),
        (
            "voucher_payload",
            edit(v, &|p| {
                p["channelConfig"]["withdrawDelay"] = json!(1u64 << 40)
            }),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["channelConfig"]["withdrawDelay"] = json!(900.5)),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["voucher"]["maxClaimableAmount"] = json!("02000")),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["voucher"]["maxClaimableAmount"] = json!(2000)),
        ),
        (
            "voucher_payload",
            edit(v, &|p| {
                p["voucher"]["maxClaimableAmount"] =
                    json!("340282366920938463463374607431768211456")
            }),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["voucher"]["signature"] = json!("0x0x12")),
        ),
        (
            "voucher_payload",
            edit(v, &|p| p["voucher"]["extra"] = json!(1)),
        ),
        ("voucher_payload", edit(v, &|p| p["note"] = json!("x"))),
        (
            "voucher_payload",
            edit(v, &|p| {
                p["channelConfig"]["payer"] = json!("0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266")
            }),
        ),
        (
            "voucher_payload",
            edit(v, &|p| {
                p.as_object_mut().unwrap().remove("channelConfig");
            }),
        ),
        (
            "deposit_payload",
            edit(d, &|p| {
                p["deposit"]["authorization"]["permit2Authorization"] = json!({})
            }),
        ),
        (
            "deposit_payload",
            edit(d, &|p| p["deposit"]["authorization"] = json!({})),
        ),
        (
            "deposit_payload",
            edit(d, &|p| p["deposit"]["amount"] = json!("-1")),
        ),
        (
            "deposit_payload",
            edit(d, &|p| {
                p["deposit"]["authorization"]["erc3009Authorization"]["salt"] = json!("0x01")
            }),
        ),
        (
            "refund_payload",
            edit(v, &|p| {
                p["type"] = json!("refund");
                p["amount"] = json!("abc");
            }),
        ),
        (
            "refund_payload",
            edit(v, &|p| {
                p["type"] = json!("refund");
                p["claims"] = json!("x");
            }),
        ),
        (
            "claim_payload",
            BatchPayload::from_json(&json!({"type": "claim"})),
        ),
        (
            "settle_payload",
            BatchPayload::from_json(&json!({"type": "settle", "receiver": "0x00"})),
        ),
    ];
    for (want, got) in cases {
        assert_eq!(code(got), format!("{p}{want}"));
    }
    // A refund payload (client form, then enriched) parses and round-trips.
    let mut refund = v.clone();
    refund["type"] = json!("refund");
    refund["amount"] = json!("5");
    let parsed = BatchPayload::from_json(&refund).unwrap();
    assert_eq!(parsed.to_json(), refund);
    let settle = json!({"type": "settle", "receiver": v["channelConfig"]["receiver"], "token": v["channelConfig"]["token"]});
    assert_eq!(BatchPayload::from_json(&settle).unwrap().to_json(), settle);
}

#[test]
fn offer_extra_refusals() {
    let (req, _) = sdk_payment("voucher");
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut e = req.extra.clone().unwrap();
        f(&mut e);
        BatchExtra::from_json(Some(&e))
    };
    assert_eq!(
        code(with(&|e| {
            e.remove("name");
        })),
        "invalid_batch_settlement_evm_missing_eip712_domain"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("version".into(), json!(""));
        })),
        "invalid_batch_settlement_evm_missing_eip712_domain"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("withdrawDelay".into(), json!("900"));
        })),
        "invalid_payment_requirements"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("withdrawDelay".into(), json!(899));
        })),
        "invalid_batch_settlement_evm_withdraw_delay_out_of_range"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("withdrawDelay".into(), json!(2_592_001));
        })),
        "invalid_batch_settlement_evm_withdraw_delay_out_of_range"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert(
                "receiverAuthorizer".into(),
                json!(format!("0x{}", "0".repeat(40))),
            );
        })),
        "invalid_payment_requirements"
    );
    assert_eq!(
        code(with(&|e| {
            e.remove("receiverAuthorizer");
        })),
        "invalid_payment_requirements"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("assetTransferMethod".into(), json!("permit3"));
        })),
        "invalid_payment_requirements"
    );
    assert_eq!(
        code(with(&|e| {
            e.insert("minDeposit".into(), json!(10));
        })),
        "invalid_payment_requirements"
    );
    assert!(with(&|e| {
        e.insert("assetTransferMethod".into(), json!("permit2"));
    })
    .is_ok());
    let mut exact = req.clone();
    exact.scheme = "exact".into();
    assert_eq!(
        code(BatchRequirement::from_v2(&exact)),
        "invalid_batch_settlement_evm_scheme"
    );
}

/// A voucher payment for the SDK's offer with `edit` applied to the config, its channel id
/// recomputed and the voucher signed by `key` (unless `keep_id`: the SDK's id is kept).
fn voucher_payment(
    edit: &dyn Fn(&mut Value),
    key: &str,
    keep_id: bool,
) -> (v2::PaymentRequirements, v2::PaymentPayload) {
    let (req, mut payment) = sdk_payment("voucher");
    let p = &mut payment.payload;
    edit(&mut p["channelConfig"]);
    let c = config(&p["channelConfig"]);
    let id = if keep_id {
        b256(&p["voucher"]["channelId"])
    } else {
        channel_id(&c.to_sol(), 31337)
    };
    let d = digest::voucher_digest(id, 2000, 31337);
    p["voucher"]["channelId"] = json!(format!("{id}"));
    p["voucher"]["signature"] = json!(hex(&sign(key, &d)));
    (req, payment)
}

#[test]
fn every_rule_has_its_code() {
    let now = deposit_now();
    let addr = |k: &str| {
        json!(LocalSigner::from_hex(k)
            .unwrap()
            .address()
            .to_checksum(None))
    };
    let run = |edit: &dyn Fn(&mut Value), key: &str, keep: bool| {
        let (req, payment) = voucher_payment(edit, key, keep);
        rules::verify_payload(&payment, &req, now)
    };
    let p = "invalid_batch_settlement_evm_";
    // The unedited, re-signed payment passes.
    assert_eq!(
        run(&|_| {}, KEY3, false).unwrap().voucher,
        SignatureCheck::Valid
    );
    let cases: Vec<(&str, x402_core::Result<rules::Checked>)> = vec![
        (
            "channel_id_mismatch",
            run(
                &|c| c["salt"] = json!(format!("0x{}", "11".repeat(32))),
                KEY3,
                true,
            ),
        ),
        (
            "receiver_mismatch",
            run(&|c| c["receiver"] = addr(KEY2), KEY3, false),
        ),
        (
            "receiver_authorizer_mismatch",
            run(&|c| c["receiverAuthorizer"] = addr(KEY3), KEY3, false),
        ),
        (
            "token_mismatch",
            run(&|c| c["token"] = addr(KEY2), KEY3, false),
        ),
        (
            "withdraw_delay_mismatch",
            run(&|c| c["withdrawDelay"] = json!(1800), KEY3, false),
        ),
        ("voucher_signature", run(&|_| {}, KEY2, false)),
        (
            "voucher_signature",
            run(&|c| c["payerAuthorizer"] = addr(KEY2), KEY3, false),
        ),
    ];
    for (want, got) in cases {
        assert_eq!(code(got), format!("{p}{want}"));
    }
    // A malleable (high-s) or short signature is refused.
    let (req, mut payment) = voucher_payment(&|_| {}, KEY3, false);
    let good = Signature::from_bytes(
        &x402_core::encoding::hex::parse_hex_bytes(s(&payment.payload["voucher"]["signature"]))
            .unwrap(),
    )
    .unwrap();
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let mut high = good.to_bytes();
    high[32..64].copy_from_slice(&(n - U256::from_be_bytes(good.s.0)).to_be_bytes::<32>());
    high[64] ^= 1;
    payment.payload["voucher"]["signature"] = json!(hex(&high));
    assert_eq!(
        code(rules::verify_payload(&payment, &req, now)),
        format!("{p}voucher_signature")
    );
    // v as 0/1 (yParity): recoverable off chain, but the contract's ecrecover finds no signer.
    let mut parity = good.to_bytes();
    parity[64] -= 27;
    payment.payload["voucher"]["signature"] = json!(hex(&parity));
    assert_eq!(
        code(rules::verify_payload(&payment, &req, now)),
        format!("{p}voucher_signature")
    );
    payment.payload["voucher"]["signature"] = json!(hex(&good.to_bytes()[..64]));
    assert_eq!(
        code(rules::verify_payload(&payment, &req, now)),
        format!("{p}voucher_signature")
    );
    // payerAuthorizer 0: the payer may be a contract, so a signature that does not recover to
    // it is a question for the chain (ERC-1271), not a refusal.
    let zero = json!(format!("0x{}", "0".repeat(40)));
    let checked = run(&|c| c["payerAuthorizer"] = zero.clone(), KEY3, false).unwrap();
    assert!(matches!(
        checked.voucher,
        SignatureCheck::NeedsChain {
            reason: Reason::InvalidBatchSettlementEvmVoucherSignature,
            ..
        }
    ));
    assert_eq!(
        run(&|c| c["payerAuthorizer"] = zero.clone(), KEY0, false)
            .unwrap()
            .voucher,
        SignatureCheck::Valid
    );

    // accepted against the issued offer.
    let (req, payment) = voucher_payment(&|_| {}, KEY3, false);
    let mut other = payment.clone();
    other.accepted.scheme = "exact".into();
    assert_eq!(
        code(rules::verify_payload(&other, &req, now)),
        format!("{p}scheme")
    );
    let mut other = payment.clone();
    other.accepted.network = "eip155:8453".parse().unwrap();
    assert_eq!(
        code(rules::verify_payload(&other, &req, now)),
        format!("{p}network_mismatch")
    );
    let mut other = payment.clone();
    other.accepted.amount = U256::from(1);
    assert_eq!(
        code(rules::verify_payload(&other, &req, now)),
        "invalid_payment_requirements"
    );
    let mut other = payment.clone();
    other.accepted.extra.as_mut().unwrap().remove("minDeposit");
    assert_eq!(
        code(rules::verify_payload(&other, &req, now)),
        "invalid_payment_requirements"
    );
    let mut other = payment.clone();
    other
        .accepted
        .extra
        .as_mut()
        .unwrap()
        .insert("channelState".into(), json!({}));
    assert!(
        rules::verify_payload(&other, &req, now).is_ok(),
        "accepted extra may be a superset"
    );
    let mut other = payment;
    other.payload = json!({"type": "settle", "receiver": req.pay_to, "token": req.asset});
    assert_eq!(
        code(rules::verify_payload(&other, &req, now)),
        format!("{p}payload_type")
    );
    assert_eq!(
        code(rules::check_config(
            &BatchRequirement::from_v2(&req).unwrap(),
            &config(&json!({
                "payer": req.pay_to, "payerAuthorizer": req.pay_to, "receiver": req.pay_to,
                "receiverAuthorizer": req.extra.as_ref().unwrap()["receiverAuthorizer"], "token": req.asset,
                "withdrawDelay": 900, "salt": format!("0x{}", "00".repeat(32)),
            })),
            B256::ZERO
        )),
        format!("{p}channel_id_mismatch")
    );
    assert_eq!(
        code(x402_core::scheme::batch::wire::check_withdraw_delay(100)),
        format!("{p}withdraw_delay_out_of_range")
    );
}

#[test]
fn amount_rules_have_their_codes() {
    let p = "invalid_batch_settlement_evm_";
    let n = U256::from;
    assert!(rules::check_expected_cumulative(3000, n(2000), n(1000), false).is_ok());
    assert!(rules::check_expected_cumulative(2000, n(2000), n(1000), true).is_ok());
    assert_eq!(
        code(rules::check_expected_cumulative(
            2000,
            n(2000),
            n(1000),
            false
        )),
        format!("{p}cumulative_amount_mismatch")
    );
    assert_eq!(
        code(rules::check_expected_cumulative(
            3000,
            n(2000),
            n(1000),
            true
        )),
        format!("{p}cumulative_amount_mismatch")
    );
    assert_eq!(
        code(rules::check_expected_cumulative(1, U256::MAX, n(1), false)),
        format!("{p}cumulative_amount_mismatch")
    );
    // Rules 7, 9, 10.
    assert_eq!(
        code(rules::check_cumulative(Use::Voucher, 1, n(0), n(0))),
        format!("{p}channel_not_found")
    );
    assert_eq!(
        code(rules::check_cumulative(Use::Refund, 0, n(0), n(0))),
        format!("{p}channel_not_found")
    );
    assert!(rules::check_cumulative(Use::Deposit(n(10)), 10, n(0), n(0)).is_ok());
    assert_eq!(
        code(rules::check_cumulative(Use::Deposit(n(10)), 11, n(0), n(0))),
        format!("{p}cumulative_exceeds_balance")
    );
    assert!(rules::check_cumulative(Use::Voucher, 100, n(100), n(99)).is_ok());
    assert_eq!(
        code(rules::check_cumulative(Use::Voucher, 101, n(100), n(0))),
        format!("{p}cumulative_exceeds_balance")
    );
    assert_eq!(
        code(rules::check_cumulative(Use::Voucher, 50, n(100), n(50))),
        format!("{p}cumulative_below_claimed")
    );
    assert!(rules::check_cumulative(Use::Refund, 50, n(100), n(50)).is_ok());
    assert_eq!(
        code(rules::check_cumulative(Use::Refund, 49, n(100), n(50))),
        format!("{p}cumulative_below_claimed")
    );
    // Rule 8.
    assert!(rules::check_payer_balance(n(10), n(10)).is_ok());
    assert_eq!(
        code(rules::check_payer_balance(n(9), n(10))),
        format!("{p}insufficient_balance")
    );
}

#[test]
fn deposit_rules_have_their_codes() {
    let p = "invalid_batch_settlement_evm_";
    let now = deposit_now();
    let (req, payment) = sdk_payment("deposit");
    let breq = BatchRequirement::from_v2(&req).unwrap();
    let parse = |v: &Value| match BatchPayload::from_json(v).unwrap() {
        BatchPayload::Deposit(d) => *d,
        _ => unreachable!(),
    };
    let d = parse(&payment.payload);
    assert_eq!(
        rules::check_deposit(&breq, &d, now).unwrap(),
        SignatureCheck::Valid
    );
    let valid_before: u64 = d
        .deposit
        .authorization
        .erc3009_authorization
        .as_ref()
        .unwrap()
        .valid_before
        .to();
    assert!(rules::check_deposit(&breq, &d, valid_before - 6).is_ok());
    assert_eq!(
        code(rules::check_deposit(&breq, &d, valid_before - 5)),
        format!("{p}payload_authorization_valid_before")
    );
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = payment.payload.clone();
        f(&mut v);
        rules::check_deposit(&breq, &parse(&v), now)
    };
    let auth = "/deposit/authorization/erc3009Authorization";
    assert_eq!(
        code(edit(&|v| *v
            .pointer_mut(&format!("{auth}/validAfter"))
            .unwrap() = json!((now + 1).to_string()))),
        format!("{p}payload_authorization_valid_after")
    );
    assert!(edit(
        &|v| *v.pointer_mut(&format!("{auth}/validAfter")).unwrap() = json!(now.to_string())
    )
    .is_ok());
    assert_eq!(
        code(edit(&|v| v["deposit"]["amount"] = json!("0"))),
        format!("{p}deposit_payload")
    );
    // Any change to what was signed makes the authorization someone else's: the payer may be
    // a contract, so the answer is a question for the chain, with the code to refuse with.
    for f in [
        &(|v: &mut Value| v["deposit"]["amount"] = json!("10001")) as &dyn Fn(&mut Value),
        &|v| {
            *v.pointer_mut(&format!("{auth}/salt")).unwrap() =
                json!(format!("0x{}", "22".repeat(32)))
        },
        &|v| *v.pointer_mut(&format!("{auth}/signature")).unwrap() = json!(hex(&[1u8; 65])),
    ] {
        assert!(matches!(
            edit(f).unwrap(),
            SignatureCheck::NeedsChain {
                reason: Reason::InvalidBatchSettlementEvmReceiveAuthorizationSignature,
                ..
            }
        ));
    }
    // The transfer method the offer names.
    let mut permit_req = req.clone();
    permit_req
        .extra
        .as_mut()
        .unwrap()
        .insert("assetTransferMethod".into(), json!("permit2"));
    let preq = BatchRequirement::from_v2(&permit_req).unwrap();
    assert_eq!(
        code(rules::check_deposit(&preq, &d, now)),
        format!("{p}permit2_authorization_required")
    );
    // minDeposit when enforced.
    assert!(rules::check_min_deposit(&breq, U256::from(10_000)).is_ok());
    assert_eq!(
        code(rules::check_min_deposit(&breq, U256::from(9_999))),
        format!("{p}deposit_below_min_deposit")
    );

    // Permit2 deposits: signed here by the payer, then each field broken.
    let payer = LocalSigner::from_hex(KEY0).unwrap().address();
    let id = b256(&d.voucher.channel_id.to_string().into());
    let permit = |spender: Address,
                  token: Address,
                  amount: u64,
                  witness: B256,
                  deadline: u64,
                  from: Address,
                  key: &str| {
        let msg = types::PermitWitnessTransferFrom {
            permitted: types::TokenPermissions {
                token,
                amount: U256::from(amount),
            },
            spender,
            nonce: U256::from(7),
            deadline: U256::from(deadline),
            witness: types::DepositWitness { channelId: witness },
        };
        use alloy_sol_types::SolStruct;
        let sig = sign(key, &msg.eip712_signing_hash(&rules::permit2_domain(31337)));
        let mut v = payment.payload.clone();
        v["deposit"]["authorization"] = json!({"permit2Authorization": {
            "from": from.to_checksum(None),
            "permitted": {"token": token.to_checksum(None), "amount": amount.to_string()},
            "spender": spender.to_checksum(None), "nonce": "7", "deadline": deadline.to_string(),
            "witness": {"channelId": format!("{witness}")}, "signature": hex(&sig),
        }});
        let parsed = parse(&v);
        assert_eq!(
            BatchPayload::Deposit(Box::new(parsed.clone())).to_json(),
            v,
            "permit2 payload round trip"
        );
        rules::check_deposit(&preq, &parsed, now)
    };
    let (col, tok, late) = (types::PERMIT2_DEPOSIT_COLLECTOR, breq.asset, now + 60);
    assert_eq!(
        permit(col, tok, 10_000, id, late, payer, KEY0).unwrap(),
        SignatureCheck::Valid
    );
    assert_eq!(
        code(permit(
            types::ERC3009_DEPOSIT_COLLECTOR,
            tok,
            10_000,
            id,
            late,
            payer,
            KEY0
        )),
        format!("{p}permit2_invalid_spender")
    );
    assert_eq!(
        code(permit(col, payer, 10_000, id, late, payer, KEY0)),
        format!("{p}token_mismatch")
    );
    assert_eq!(
        code(permit(col, tok, 9_999, id, late, payer, KEY0)),
        format!("{p}permit2_amount_mismatch")
    );
    assert_eq!(
        code(permit(col, tok, 10_000, B256::ZERO, late, payer, KEY0)),
        format!("{p}channel_id_mismatch")
    );
    assert_eq!(
        code(permit(col, tok, 10_000, id, now + 5, payer, KEY0)),
        format!("{p}permit2_deadline_expired")
    );
    assert_eq!(
        code(permit(col, tok, 10_000, id, late, breq.pay_to, KEY0)),
        format!("{p}permit2_invalid_signature")
    );
    assert!(matches!(
        permit(col, tok, 10_000, id, late, payer, KEY2).unwrap(),
        SignatureCheck::NeedsChain {
            reason: Reason::InvalidBatchSettlementEvmPermit2InvalidSignature,
            ..
        }
    ));
    // An EIP-3009 offer refuses a Permit2-only deposit.
    let mut v = payment.payload.clone();
    v["deposit"]["authorization"] = json!({"permit2Authorization": {
        "from": payer.to_checksum(None), "permitted": {"token": tok.to_checksum(None), "amount": "10000"},
        "spender": col.to_checksum(None), "nonce": "7", "deadline": late.to_string(),
        "witness": {"channelId": format!("{id}")}, "signature": hex(&[1u8; 65]),
    }});
    assert_eq!(
        code(rules::check_deposit(&breq, &parse(&v), now)),
        format!("{p}erc3009_authorization_required")
    );
}

#[test]
fn refund_rules_have_their_codes() {
    let p = "invalid_batch_settlement_evm_";
    let (_, payment) = sdk_payment("voucher");
    let mut v = payment.payload.clone();
    v["type"] = json!("refund");
    let refund = |amount: Option<&str>| {
        let mut v = v.clone();
        if let Some(a) = amount {
            v["amount"] = json!(a);
        }
        match BatchPayload::from_json(&v).unwrap() {
            BatchPayload::Refund(r) => *r,
            _ => unreachable!(),
        }
    };
    let n = U256::from;
    assert_eq!(
        rules::check_refund(&refund(None), n(2000), n(10_000)).unwrap(),
        n(8000)
    );
    assert_eq!(
        rules::check_refund(&refund(Some("5")), n(2000), n(10_000)).unwrap(),
        n(5)
    );
    assert_eq!(
        code(rules::check_refund(&refund(Some("0")), n(2000), n(10_000))),
        format!("{p}refund_amount_invalid")
    );
    assert_eq!(
        code(rules::check_refund(&refund(None), n(2000), n(2000))),
        format!("{p}refund_no_balance")
    );
}

#[test]
fn response_shapes_are_the_references() {
    let state = response::ChannelState {
        channel_id: B256::repeat_byte(0xab),
        balance: U256::from(10_000),
        total_claimed: U256::from(1000),
        withdraw_requested_at: 0,
        refund_nonce: U256::from(2),
        charged_cumulative_amount: Some(U256::from(3000)),
    };
    let extra = response::SuccessExtra {
        channel_state: state.clone(),
        charged_amount: Some(U256::from(1000)),
    };
    let id = format!("0x{}", "ab".repeat(32));
    let want = json!({"channelState": {"channelId": id, "balance": "10000", "totalClaimed": "1000",
        "withdrawRequestedAt": 0, "refundNonce": "2", "chargedCumulativeAmount": "3000"}, "chargedAmount": "1000"});
    assert_eq!(
        serde_json::to_string(&extra.to_json()).unwrap(),
        serde_json::to_string(&want).unwrap()
    );
    assert_eq!(
        response::SuccessExtra::from_json(want.as_object().unwrap()).unwrap(),
        extra
    );
    // A facilitator's verify extra (refundNonce read as a number too).
    let verify = json!({"channelId": id, "balance": "10000", "totalClaimed": "1000", "withdrawRequestedAt": 0, "refundNonce": 2});
    let read = response::ChannelState::from_verify_extra(verify.as_object().unwrap()).unwrap();
    assert_eq!(
        read,
        response::ChannelState {
            charged_cumulative_amount: None,
            ..state.clone()
        }
    );
    // The corrective 402: the offer gains channelState and voucherState; a client reads them back.
    let (mut req, _) = sdk_payment("voucher");
    let mut accepts = vec![req.clone()];
    let vs = response::VoucherState {
        signed_max_claimable: U256::from(3000),
        signature: Bytes::from(vec![7u8; 65]),
    };
    assert!(response::add_corrective_state(
        &mut accepts,
        &req.network,
        &state,
        Some(&vs)
    ));
    let extra = accepts[0].extra.as_ref().unwrap();
    assert_eq!(extra["channelState"]["withdrawRequestedAt"], json!(0));
    assert_eq!(extra["channelState"]["refundNonce"], json!("2"));
    assert_eq!(extra["voucherState"]["signedMaxClaimable"], json!("3000"));
    assert_eq!(
        response::corrective_state(&accepts[0]).unwrap(),
        Some((state, Some(vs)))
    );
    assert_eq!(response::corrective_state(&req).unwrap(), None);
    req.scheme = "exact".into();
    assert!(!response::add_corrective_state(
        std::slice::from_mut(&mut req),
        &accepts[0].network,
        &read,
        None
    ));
}

/// The typed-data JSON built from the `sol!` declarations, signed by viem (an independent
/// EIP-712 implementation from npm), gives the signature of our digest.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn typed_data_json_signs_in_viem_as_our_digest() {
    #[path = "common/mod.rs"]
    mod common;
    let v = vectors();
    let case = &v["cases"][1];
    let c = config(&case["config"]);
    let id = channel_id(&c.to_sol(), 31337);
    let rwa = ReceiveWithAuthorization {
        from: c.payer,
        to: types::ERC3009_DEPOSIT_COLLECTOR,
        value: U256::from(10000),
        validAfter: U256::ZERO,
        validBefore: U256::from(2_000_000_000u64),
        nonce: digest::erc3009_deposit_nonce(id, U256::from(1)),
    };
    let items = [
        (
            digest::voucher_typed_data(id, 1234, 31337).unwrap(),
            digest::voucher_digest(id, 1234, 31337),
        ),
        (
            digest::refund_typed_data(id, U256::from(3), 99, 31337).unwrap(),
            digest::refund_digest(id, U256::from(3), 99, 31337),
        ),
        (
            digest::channel_config_typed_data(&c.to_sol(), 31337).unwrap(),
            id,
        ),
        (
            digest::receive_authorization_typed_data("USD Coin", "2", 31337, c.token, &rwa)
                .unwrap(),
            digest::receive_authorization_digest("USD Coin", "2", 31337, c.token, &rwa),
        ),
    ];
    let requests: Vec<Value> = items
        .iter()
        .map(|(td, _)| json!({"op": "sign", "privateKey": KEY0, "typedData": td}))
        .collect();
    let answers = common::node_oracle("viem-oracle.mjs", &requests);
    for ((_, d), a) in items.iter().zip(answers) {
        assert_eq!(s(&a["signature"]), hex(&sign(KEY0, d)));
    }
}

#[test]
fn calldata_and_return_data_are_the_sdks() {
    use alloy_sol_types::SolCall;
    use x402_core::scheme::batch::types::{
        ChannelVoucher, IX402BatchSettlement as I, VoucherClaim,
    };
    let v = vectors();
    let cd = &v["calldata"];
    let c = config(&cd["config"]).to_sol();
    let bytes =
        |k: &str| Bytes::from(x402_core::encoding::hex::parse_hex_bytes(s(&cd[k])).unwrap());
    let (voucher_sig, auth_sig) = (bytes("voucherSignature"), bytes("authorizerSignature"));
    let claims = vec![VoucherClaim {
        voucher: ChannelVoucher {
            channel: c.clone(),
            maxClaimableAmount: 1000,
        },
        signature: voucher_sig,
        totalClaimed: 1000,
    }];
    let collector_data = bytes_of(s(&v["cases"][0]["erc3009"]["collectorData"]));
    let deposit = I::depositCall {
        config: c.clone(),
        amount: 10000,
        collector: types::ERC3009_DEPOSIT_COLLECTOR,
        collectorData: collector_data,
    };
    assert_eq!(hex(&deposit.abi_encode()), s(&cd["deposit"]));
    let claim = I::claimWithSignatureCall {
        voucherClaims: claims,
        authorizerSignature: auth_sig.clone(),
    }
    .abi_encode();
    assert_eq!(hex(&claim), s(&cd["claimWithSignature"]));
    let refund = I::refundWithSignatureCall {
        config: c.clone(),
        amount: 500,
        nonce: U256::ZERO,
        receiverAuthorizerSignature: auth_sig,
    }
    .abi_encode();
    assert_eq!(hex(&refund), s(&cd["refundWithSignature"]));
    let multicall = I::multicallCall {
        data: vec![claim.into(), refund.into()],
    };
    assert_eq!(hex(&multicall.abi_encode()), s(&cd["multicall"]));
    let settle = I::settleCall {
        receiver: c.receiver,
        token: c.token,
    };
    assert_eq!(hex(&settle.abi_encode()), s(&cd["settle"]));
    let id = channel_id(&c, 31337);
    assert_eq!(
        hex(&I::channelsCall { channelId: id }.abi_encode()),
        s(&cd["channels"])
    );
    let ch = I::channelsCall::abi_decode_returns(&bytes("channelsResult")).unwrap();
    assert_eq!((ch.balance, ch.totalClaimed), (10000, 1000));
    let pw =
        I::pendingWithdrawalsCall::abi_decode_returns(&bytes("pendingWithdrawalsResult")).unwrap();
    assert_eq!(
        (pw.amount, pw.initiatedAt.to::<u64>()),
        (300, 1_750_000_000)
    );
    let rn = I::refundNonceCall::abi_decode_returns(&bytes("refundNonceResult")).unwrap();
    assert_eq!(rn, U256::from(3));
    let state = response::ChannelState::from_reads(id, &ch, &pw, rn);
    assert_eq!(
        (state.balance, state.total_claimed),
        (U256::from(10000), U256::from(1000))
    );
    assert_eq!(
        (state.withdraw_requested_at, state.refund_nonce),
        (1_750_000_000, U256::from(3))
    );
    // The deposit call decodes back to what was encoded.
    assert_eq!(
        I::depositCall::abi_decode(&bytes("deposit")).unwrap(),
        deposit
    );
}

fn bytes_of(h: &str) -> Bytes {
    Bytes::from(x402_core::encoding::hex::parse_hex_bytes(h).unwrap())
}

/// The SDK server's own answers (its scheme hooks, driven by the oracle) and ours, from the same
/// inputs through `channel`: the voucher success `extra` and the corrective offer, byte for byte.
#[test]
fn server_answers_are_the_sdk_servers() {
    use x402_core::scheme::batch::channel::{self, Refusal, Request};
    let v = vectors();
    let sv = &v["server"];
    let (req, payment) = sdk_payment("voucher");
    let parsed = BatchPayload::from_json(&payment.payload).unwrap();
    let (config, voucher) = parsed.channel().unwrap();
    let request = Request {
        config,
        voucher,
        refund: false,
    };
    let mirror =
        response::ChannelState::from_verify_extra(sv["verifyExtra"].as_object().unwrap()).unwrap();
    let now = 1_750_000_000;
    let held = channel::reserve(None, &request, req.amount, now, (1, 300), Some(&mirror)).unwrap();
    let (record, extra) = channel::commit(Some(&held), 1, req.amount, now, None).unwrap();
    assert_eq!(
        serde_json::to_string(&extra.to_json()).unwrap(),
        serde_json::to_string(&sv["voucherSuccess"]["extra"]).unwrap()
    );
    assert_eq!(
        s(&sv["staleReason"]),
        "invalid_batch_settlement_evm_cumulative_amount_mismatch"
    );
    let Err(Refusal::Corrective(c)) = channel::check_request(Some(&record), &request, req.amount)
    else {
        panic!("a stale voucher gets the corrective state");
    };
    let mut accepts = vec![req.clone()];
    assert!(response::add_corrective_state(
        &mut accepts,
        &req.network,
        &c.state,
        c.voucher.as_ref()
    ));
    assert_eq!(
        serde_json::to_string(&accepts[0]).unwrap(),
        serde_json::to_string(&sv["correctiveAccept"]).unwrap()
    );
}

#[test]
fn voucher_success_response_is_the_sdk_servers() {
    use x402_core::scheme::batch::response::BatchSettleResponse;
    let v = vectors();
    let sdk = &v["server"]["voucherSuccess"];
    let parsed: BatchSettleResponse = serde_json::from_value(sdk.clone()).unwrap();
    assert_eq!(parsed.amount.as_deref(), Some(""));
    assert_eq!(parsed.amount_value(), None);
    let extra = parsed.extra.clone().unwrap();
    let payer = LocalSigner::from_hex(KEY0).unwrap().address();
    let ours = BatchSettleResponse::voucher_success(&"eip155:31337".parse().unwrap(), payer, extra);
    assert_eq!(ours, parsed);
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(sdk).unwrap()
    );
    // A facilitator's deposit result, with the server's charge merged in.
    let deposit: BatchSettleResponse = serde_json::from_value(json!({
        "success": true, "transaction": format!("0x{}", "11".repeat(32)), "network": "eip155:31337",
        "payer": payer.to_checksum(None), "amount": "10000",
        "extra": {"channelState": {"channelId": format!("0x{}", "22".repeat(32)), "balance": "10000",
            "totalClaimed": "0", "withdrawRequestedAt": 0, "refundNonce": "0"}},
    }))
    .unwrap();
    assert_eq!(deposit.amount_value(), Some(U256::from(10_000)));
    let merged =
        serde_json::to_value(deposit.with_charge(U256::from(1000), Some(U256::from(1000))))
            .unwrap();
    assert_eq!(
        merged["extra"]["channelState"]["chargedCumulativeAmount"],
        json!("1000")
    );
    assert_eq!(merged["extra"]["chargedAmount"], json!("1000"));
    let bad = serde_json::from_value::<BatchSettleResponse>(
        json!({"success": true, "network": "eip155:1", "amount": "01"}),
    );
    assert!(bad.is_err());
}

/// Our client side builds the SDK client's payloads byte for byte from the same inputs (its
/// clock and salt are fixed by the oracle), and accepts the SDK server's answers.
#[test]
fn client_builds_the_sdk_clients_payloads() {
    use x402_core::scheme::batch::client;
    let v = vectors();
    let (req, deposit_payment) = sdk_payment("deposit");
    let (_, voucher_payment) = sdk_payment("voucher");
    let breq = BatchRequirement::from_v2(&req).unwrap();
    let payer = LocalSigner::from_hex(KEY0).unwrap().address();
    let voucher_key = LocalSigner::from_hex(KEY3).unwrap().address();
    let config = client::channel_config(&breq, payer, voucher_key, B256::ZERO);
    let amount = client::deposit_amount(&breq, breq.amount, client::DEFAULT_DEPOSIT_MULTIPLIER);
    assert_eq!(amount, U256::from(10_000), "minDeposit");
    let sdk_auth = &deposit_payment.payload["deposit"]["authorization"]["erc3009Authorization"];
    let salt = b256(&sdk_auth["salt"]);
    let now = 1_750_000_000;
    let auth = client::receive_authorization(&breq, &config, amount, now, salt);
    let auth_sig = sign(
        KEY0,
        &digest::receive_authorization_digest("USD Coin", "2", 31337, breq.asset, &auth),
    );
    let first = digest::voucher_digest(channel_id(&config.to_sol(), 31337), 1000, 31337);
    let voucher = client::voucher(&breq, &config, 1000, sign(KEY3, &first));
    let ours = client::deposit_payload(&config, voucher, &auth, salt, auth_sig).to_json();
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&deposit_payment.payload).unwrap()
    );
    let second = digest::voucher_digest(channel_id(&config.to_sol(), 31337), 2000, 31337);
    let ours = client::voucher_payload(
        &config,
        client::voucher(&breq, &config, 2000, sign(KEY3, &second)),
    )
    .to_json();
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&voucher_payment.payload).unwrap()
    );
    // Without minDeposit: multiplier × price, or what is needed if more.
    let mut plain = breq.clone();
    plain.extra.min_deposit = None;
    assert_eq!(
        client::deposit_amount(&plain, U256::from(1000), 5),
        U256::from(5000)
    );
    assert_eq!(
        client::deposit_amount(&plain, U256::from(7000), 5),
        U256::from(7000)
    );
    plain.extra.min_deposit = Some(U256::from(999));
    assert_eq!(
        client::deposit_amount(&plain, U256::from(1000), 5),
        U256::from(5000),
        "below the price: ignored"
    );

    // The SDK server's answers: the success moves the count from 1000 to 2000; a tampered one is refused.
    let success = response::SuccessExtra::from_json(
        v["server"]["voucherSuccess"]["extra"].as_object().unwrap(),
    )
    .unwrap();
    let id = channel_id(&config.to_sol(), 31337);
    assert_eq!(
        client::check_success(id, U256::from(1000), breq.amount, &success).unwrap(),
        U256::from(2000)
    );
    assert!(client::check_success(id, U256::from(0), breq.amount, &success).is_err());
    assert!(client::check_success(B256::ZERO, U256::from(1000), breq.amount, &success).is_err());
    assert!(client::check_success(id, U256::from(1000), U256::from(999), &success).is_err());
    // The corrective offer: adopted when the voucher is ours, refused otherwise.
    let corrective: v2::PaymentRequirements =
        serde_json::from_value(v["server"]["correctiveAccept"].clone()).unwrap();
    let (state, vs) = response::corrective_state(&corrective).unwrap().unwrap();
    let ours = |vs: &response::VoucherState| {
        let d = digest::voucher_digest(id, vs.signed_max_claimable.to(), 31337);
        Signature::from_bytes(&vs.signature)
            .and_then(|s| s.recover(&d))
            .is_ok_and(|a| a == voucher_key)
    };
    assert_eq!(
        client::adopt_corrective(&state, vs.as_ref(), U256::ZERO, ours).unwrap(),
        U256::from(2000)
    );
    assert!(client::adopt_corrective(&state, vs.as_ref(), U256::from(2001), ours).is_err());
    assert!(client::adopt_corrective(&state, vs.as_ref(), U256::ZERO, |_| false).is_err());
    assert_eq!(
        client::adopt_corrective(&state, None, U256::from(700), ours).unwrap(),
        U256::from(700)
    );
    let refund = client::refund_payload(
        &config,
        client::voucher(&breq, &config, 2000, sign(KEY3, &second)),
        None,
    )
    .to_json();
    assert_eq!(refund["type"], json!("refund"));
    assert!(refund.get("amount").is_none());
}

/// A 32-byte hex field with a doubled `0x` (`0x0x` and 62 digits: 64 characters after the first
/// prefix, 31 bytes once the hex reader skips the second) is refused with the payload's code; it
/// panicked in `B256::from_slice`, which aborts a Worker's request (found by the channel_reader
/// fuzz target's differential run).
#[test]
fn doubled_hex_prefix_in_a_32_byte_field_is_refused_not_a_panic() {
    let (_, voucher) = sdk_payment("voucher");
    let (_, deposit) = sdk_payment("deposit");
    let doubled = format!("0x0x{}", "ab".repeat(31));
    let mut v = voucher.payload.clone();
    v["channelConfig"]["salt"] = json!(doubled);
    assert_eq!(
        code(BatchPayload::from_json(&v)),
        "invalid_batch_settlement_evm_voucher_payload"
    );
    let mut d = deposit.payload.clone();
    d["deposit"]["authorization"]["erc3009Authorization"]["salt"] = json!(doubled);
    assert!(BatchPayload::from_json(&d).is_err());
    let mut c = voucher.payload["channelConfig"].clone();
    c["salt"] = json!(doubled);
    assert!(serde_json::from_value::<ChannelConfigJson>(c).is_err());
    // Non-hex digits of the right length too.
    let mut c = voucher.payload["channelConfig"].clone();
    c["salt"] = json!(format!("0x{}", "zz".repeat(32)));
    assert!(serde_json::from_value::<ChannelConfigJson>(c).is_err());
}
