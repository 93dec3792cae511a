//! Writes the seed inputs of every fuzz target to `seeds/<target>/` (run from `fuzz/`:
//! `cargo run --example make_seeds`). Seeds are the specification's examples plus payments
//! signed here with the public Hardhat/Anvil test key #0, valid at the targets' fixed clock, so
//! the fuzzer starts from inputs that pass every check and mutates from there.

use std::fs;
use std::path::Path;
use x402_core::client::Policy;
use x402_core::scheme::exact;
use x402_core::scheme::exact::Authorization;
use x402_core::evm::signer::LocalSigner;
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::{v1, v2, AnyPaymentPayload, AnyPaymentRequired, JsonMap, SettleResponse};
use x402_core::encoding::base64;
use x402_core::scheme::exact::verify;
use x402_core::wire::header;
use x402_core::{Bytes, B256, U256};
use x402_core_fuzz::{fixed_v1_requirement, AMOUNT, NOW};

/// The specification's `PAYMENT-SIGNATURE` example (valid at [`NOW`]).
const SPEC_PAYMENT_SIGNATURE: &str = r#"{"x402Version":2,"resource":{"url":"https://api.example.com/premium-data","description":"Access to premium market data","mimeType":"application/json"},"accepted":{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}},"payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;

/// Hardhat/Anvil account #0: a public test key.
const TEST_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).expect("create seed directory");
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// A header seed both ways: the header value and the JSON it carries.
fn write_header<T: serde::Serialize>(target: &str, name: &str, message: &T) {
    let encoded = header::encode(message).expect("encodes");
    write(target, &format!("{name}.b64"), encoded.as_bytes());
    let json = base64::decode(&encoded).expect("decodes");
    write(target, &format!("{name}.json"), &json);
}

/// Seeds that should pass every check do (at the targets' fixed clock).
fn assert_valid_v2(payment: &v2::PaymentPayload) {
    let verdict =
        verify::verify_v2(payment, std::slice::from_ref(&payment.accepted), NOW).expect("verifies");
    assert!(matches!(verdict, verify::Verdict::Valid(_)));
}

fn v2_challenge() -> v2::PaymentRequired {
    let spec: v2::PaymentPayload =
        serde_json::from_str(SPEC_PAYMENT_SIGNATURE).expect("spec example parses");
    let mut solana = spec.accepted.clone();
    solana.network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
        .parse()
        .expect("CAIP-2");
    solana.asset = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU".into();
    solana.pay_to = "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4".into();
    let mut upto = spec.accepted.clone();
    upto.scheme = "upto".into();
    upto.other.insert("note".into(), "an unknown field".into());
    let mut extensions = JsonMap::new();
    extensions.insert(
        "bazaar".into(),
        serde_json::json!({"info": {"input": {"type": "http"}}}),
    );
    v2::PaymentRequired {
        x402_version: x402_core::wire::V2,
        error: Some("PAYMENT-SIGNATURE header is required".into()),
        resource: spec.resource.clone().expect("spec resource"),
        accepts: vec![upto, solana, spec.accepted],
        extensions: Some(extensions),
    }
}

fn main() {
    let signer = LocalSigner::from_hex(TEST_KEY).expect("test key");
    let spec: v2::PaymentPayload =
        serde_json::from_str(SPEC_PAYMENT_SIGNATURE).expect("spec example parses");

    // ---- challenges ----
    let challenge = v2_challenge();
    write_header("payment_required", "spec", &{
        let mut c = challenge.clone();
        c.accepts = vec![spec.accepted.clone()];
        c.extensions = None;
        c
    });
    write_header("payment_required", "three_offers", &challenge);

    let v1_body = v1::PaymentRequired {
        x402_version: x402_core::wire::V1,
        error: Some("X-PAYMENT header is required".into()),
        accepts: vec![{
            let mut r = fixed_v1_requirement();
            r.output_schema = Some(serde_json::json!({"input": {"type": "http", "method": "GET"}}));
            r.other
                .insert("unknown".into(), serde_json::json!([1, 2.5, null]));
            r
        }],
    };
    write(
        "v1_challenge_body",
        "spec.json",
        &serde_json::to_vec(&v1_body).expect("serializes"),
    );

    // ---- payments ----
    write_header("payment_signature", "spec", &spec);

    // Signed by the test key through the client's own flow, valid at NOW.
    let any_challenge = AnyPaymentRequired::V2(challenge.clone());
    let offer = Policy::default()
        .select(&any_challenge)
        .expect("an EVM offer");
    let auth = exact::build_authorization(
        &offer.requirement,
        signer.address(),
        NOW,
        B256::repeat_byte(0x42),
    );
    let sig = signer
        .sign_authorization(&offer.requirement, &auth)
        .expect("signs");
    let AnyPaymentPayload::V2(signed) = exact::build_payment(
        &any_challenge,
        offer.index,
        auth,
        Bytes::from(sig.to_bytes()),
    )
    .expect("builds") else {
        unreachable!("a v2 challenge gives a v2 payment")
    };
    write_header("payment_signature", "signed", &signed);
    assert_valid_v2(&signed);
    assert_valid_v2(&spec);

    // v as 0/1 instead of 27/28.
    let mut low_v = sig.to_bytes();
    low_v[64] -= 27;
    let mut payment = signed.clone();
    payment.payload["signature"] = Bytes::from(low_v.to_vec()).to_string().into();
    write_header("payment_signature", "signed_low_v", &payment);
    assert_valid_v2(&payment);

    // A smart-wallet-length signature (left to the chain).
    let mut payment = signed.clone();
    payment.payload["signature"] = Bytes::from(vec![0x5a; 97]).to_string().into();
    write_header("payment_signature", "smart_wallet", &payment);
    let verdict =
        verify::verify_v2(&payment, std::slice::from_ref(&payment.accepted), NOW).expect("passes");
    assert!(matches!(verdict, verify::Verdict::NeedsOnChainCheck(_)));

    // ---- v1 payments ----
    let requirement = fixed_v1_requirement();
    let v1_challenge = AnyPaymentRequired::V1(v1::PaymentRequired {
        x402_version: x402_core::wire::V1,
        error: None,
        accepts: vec![requirement.clone()],
    });
    let offer = Policy::default()
        .select(&v1_challenge)
        .expect("the v1 offer");
    let mut auth: Authorization = exact::build_authorization(
        &offer.requirement,
        signer.address(),
        NOW,
        B256::repeat_byte(0x17),
    );
    // v1 accepts paying more than the maximum.
    auth.value = U256::from(AMOUNT + 1);
    let sig = signer
        .sign_authorization(&offer.requirement, &auth)
        .expect("signs");
    let AnyPaymentPayload::V1(signed_v1) =
        exact::build_payment(&v1_challenge, 0, auth, Bytes::from(sig.to_bytes())).expect("builds")
    else {
        unreachable!("a v1 challenge gives a v1 payment")
    };
    write_header("x_payment", "signed", &signed_v1);
    let verdict =
        verify::verify_v1(&signed_v1, std::slice::from_ref(&requirement), NOW).expect("verifies");
    assert!(matches!(verdict, verify::Verdict::Valid(_)));
    let spec_v1 = v1::PaymentPayload {
        x402_version: x402_core::wire::V1,
        scheme: "exact".into(),
        network: "base-sepolia".into(),
        payload: spec.payload.clone(),
    };
    write_header("x_payment", "spec", &spec_v1);
    let verdict =
        verify::verify_v1(&spec_v1, std::slice::from_ref(&requirement), NOW).expect("verifies");
    assert!(matches!(verdict, verify::Verdict::Valid(_)));

    // ---- facilitator requests ----
    let v2_request = FacilitatorRequest::V2 {
        payment_payload: signed.clone(),
        payment_requirements: signed.accepted.clone(),
    };
    write(
        "facilitator_request",
        "v2.json",
        v2_request.to_json().expect("serializes").as_bytes(),
    );
    let v1_request = FacilitatorRequest::V1 {
        payment_payload: signed_v1,
        payment_requirements: requirement,
    };
    write(
        "facilitator_request",
        "v1.json",
        v1_request.to_json().expect("serializes").as_bytes(),
    );

    // ---- receipts ----
    let payer = signer.address().to_checksum(None);
    let ok = SettleResponse::success(
        format!("{}", B256::repeat_byte(0xab)),
        "eip155:84532".into(),
        payer.clone(),
    );
    write_header("payment_response", "success", &ok);
    let mut upto = ok.clone();
    upto.amount = Some(U256::from(AMOUNT));
    upto.extensions = Some(JsonMap::new());
    write_header("payment_response", "upto", &upto);
    let failed = SettleResponse::failure(
        &x402_core::Error::new(x402_core::Reason::InsufficientFunds, "balance too low"),
        String::new(),
        "base-sepolia".into(),
        Some(payer),
    );
    write_header("payment_response", "failure", &failed);

    // ---- prices: decimals byte, then the text ----
    for (name, decimals, text) in [
        ("cent", 6u8, "$0.01"),
        ("plain", 6, "4.02"),
        ("truncated", 6, "$1.2345679"),
        ("too_small", 6, "$0.0000001"),
        ("eighteen", 18, "123456789.123456789123456789"),
        ("zero_decimals", 0, "7"),
        ("leading_dot", 6, ".5"),
    ] {
        let mut bytes = vec![decimals];
        bytes.extend_from_slice(text.as_bytes());
        write("price", name, &bytes);
    }

    // ---- base64 ----
    for (name, text) in [
        ("empty", ""),
        ("one", "Zg=="),
        ("two", "Zm8="),
        ("three", "Zm9v"),
        ("symbols", "+/8="),
        ("url_safe", "-_8="),
        ("non_canonical", "Zh=="),
    ] {
        write("base64", name, text.as_bytes());
    }
    write(
        "base64",
        "header",
        header::encode(&spec).expect("encodes").as_bytes(),
    );

    // ---- passes (the `pass` target's secret and resource) ----
    let claims = x402_core::gate::pass::PassClaims {
        path: "/paid/one.html".into(),
        payer: signer.address(),
        transaction: B256::repeat_byte(0x22),
        expires: NOW + 3600,
    };
    let pass =
        x402_core::gate::pass::issue(b"fuzz-pass-secret-0123456789abcdef", &claims).expect("issues");
    write("pass", "valid", pass.as_bytes());
    write(
        "pass",
        "claims",
        format!("P/paid/one.html\n{}", NOW + 60).as_bytes(),
    );

    // ---- batch-settlement (the reference SDK's offer and payloads, tests/vectors/batch.json) ----
    let batch: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/batch.json"))
            .expect("batch vectors");
    for kind in ["deposit", "voucher"] {
        let payment = serde_json::json!({
            "x402Version": 2,
            "accepted": batch["requirements"],
            "payload": batch["payloads"][kind],
        });
        write("batch_payment", kind, payment.to_string().as_bytes());
    }
    let mut refund = batch["payloads"]["voucher"].clone();
    refund["type"] = "refund".into();
    refund["amount"] = "5".into();
    let payment =
        serde_json::json!({"x402Version": 2, "accepted": batch["requirements"], "payload": refund});
    write("batch_payment", "refund", payment.to_string().as_bytes());
    let config = &batch["payloads"]["voucher"]["channelConfig"];
    let settle = serde_json::json!({"x402Version": 2, "accepted": batch["requirements"],
        "payload": {"type": "settle", "receiver": config["receiver"], "token": config["token"]}});
    write("batch_payment", "settle", settle.to_string().as_bytes());
    let claim = serde_json::json!({"x402Version": 2, "accepted": batch["requirements"],
        "payload": {"type": "claim", "claims": [{"voucher": {"channel": config, "maxClaimableAmount": "2000"},
            "signature": batch["payloads"]["voucher"]["voucher"]["signature"], "totalClaimed": "1000"}]}});
    write("batch_payment", "claim", claim.to_string().as_bytes());
    write(
        "batch_payment",
        "offer_extra",
        batch["requirements"]["extra"].to_string().as_bytes(),
    );
    let state = serde_json::json!({"channelId": batch["payloads"]["voucher"]["voucher"]["channelId"],
        "balance": "10000", "totalClaimed": "0", "withdrawRequestedAt": 0, "refundNonce": "0"});
    write(
        "batch_payment",
        "verify_extra",
        state.to_string().as_bytes(),
    );
    let mut charged = state.clone();
    charged["chargedCumulativeAmount"] = "2000".into();
    let success = serde_json::json!({"channelState": charged, "chargedAmount": "1000"});
    write(
        "batch_payment",
        "success_extra",
        success.to_string().as_bytes(),
    );
    write(
        "batch_payment",
        "voucher_success",
        batch["server"]["voucherSuccess"].to_string().as_bytes(),
    );
    let mut corrective = batch["requirements"]["extra"].clone();
    corrective["channelState"] = charged;
    corrective["voucherState"] = serde_json::json!({"signedMaxClaimable": "2000",
        "signature": batch["payloads"]["voucher"]["voucher"]["signature"]});
    write(
        "batch_payment",
        "corrective_extra",
        corrective.to_string().as_bytes(),
    );

    println!("seeds written to seeds/");
}
