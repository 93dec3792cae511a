//! Sign-In-With-X against the reference (`@x402/extensions` 2.27 from npm, which builds the
//! EIP-4361 message with the siwe library and signs with viem): the same challenge gives the
//! same message text, a sign-in made by the reference client passes x402-core's checks, and one
//! made by x402-core passes the reference server's signature check. Needs `node_modules`
//! (installed by `scripts/setup`).
#![cfg(all(feature = "local-signer", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::node_oracle;
use serde_json::{json, Value};
use x402_core::encoding::hex;
use x402_core::evm::signer::LocalSigner;
use x402_core::wire::siwx::{self, Expected, SignIn};
use x402_core::Reason;

const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const NOW: u64 = 1_796_530_000_000;

/// Challenges with and without each optional field, on two origins and chains.
fn infos() -> Vec<Value> {
    let base = json!({
        "domain": "paper.example",
        "uri": "https://paper.example/paid/one.html",
        "version": "1",
        "nonce": "0123456789abcdef0123456789abcdef",
        "issuedAt": siwx::iso_time(NOW - 5_000),
        "chainId": "eip155:8453",
    });
    let mut out = vec![base.clone()];
    let mut full = base.clone();
    full["statement"] = json!("Restore your purchase of One");
    full["expirationTime"] = json!(siwx::iso_time(NOW + 295_000));
    full["notBefore"] = json!(siwx::iso_time(NOW - 5_000));
    full["requestId"] = json!("req-42");
    full["resources"] = json!([
        "https://paper.example/paid/one.html",
        "https://paper.example/paid/two.html"
    ]);
    out.push(full);
    let mut local = base;
    local["domain"] = json!("127.0.0.1:8787");
    local["uri"] = json!("http://127.0.0.1:8787/paid/one.html?x=1");
    local["chainId"] = json!("eip155:31337");
    local["expirationTime"] = json!(siwx::iso_time(NOW + 295_000));
    local["resources"] = json!(["http://127.0.0.1:8787/paid/one.html?x=1"]);
    out.push(local);
    out
}

fn expected(info: &Value) -> (String, String) {
    let uri = info["uri"].as_str().unwrap();
    let origin = siwx::uri_origin(uri).unwrap().to_string();
    (info["domain"].as_str().unwrap().to_string(), origin)
}

#[test]
fn a_reference_sign_in_passes_our_checks_with_the_same_message() {
    let requests: Vec<Value> = infos()
        .into_iter()
        .map(|info| json!({"op": "sign", "info": info, "privateKey": KEY}))
        .collect();
    let answers = node_oracle("siwx-oracle.mjs", &requests);
    let signer = LocalSigner::from_hex(KEY).unwrap();
    for (req, answer) in requests.iter().zip(&answers) {
        assert!(answer.get("error").is_none(), "{answer}");
        let sign_in = siwx::decode(answer["header"].as_str().unwrap()).unwrap();
        assert_eq!(
            siwx::message(&sign_in).unwrap(),
            answer["message"].as_str().unwrap()
        );
        let (host, origin) = expected(&req["info"]);
        let who = siwx::check(
            &sign_in,
            &Expected {
                host: &host,
                origin: &origin,
                now_ms: NOW,
            },
        )
        .and_then(siwx::SignedBy::key_only)
        .unwrap();
        assert_eq!(who, signer.address());
        // Tampered after signing: refused.
        let mut other = sign_in.clone();
        other.nonce = "ffffffffffffffffffffffffffffffff".into();
        let e = siwx::check(
            &other,
            &Expected {
                host: &host,
                origin: &origin,
                now_ms: NOW,
            },
        )
        .and_then(siwx::SignedBy::key_only)
        .unwrap_err();
        assert_eq!(e.reason(), Reason::InvalidSiwxSignature);
    }
}

#[test]
fn our_sign_in_passes_the_reference_check() {
    let signer = LocalSigner::from_hex(KEY).unwrap();
    let mut requests = Vec::new();
    for info in infos() {
        let mut v = info;
        v["address"] = json!(signer.address().to_string());
        v["type"] = json!("eip191");
        v["signature"] = json!("0x");
        let mut s: SignIn = serde_json::from_value(v).unwrap();
        let digest = siwx::personal_sign_digest(&siwx::message(&s).unwrap());
        s.signature = hex::prefixed(&signer.sign_hash(&digest).unwrap().to_bytes());
        requests.push(json!({"op": "verify", "header": siwx::encode(&s)}));
        // Signed by someone else: the reference refuses it too.
        let mut forged = s.clone();
        forged.address = "0x0000000000000000000000000000000000000001".into();
        requests.push(json!({"op": "verify", "header": siwx::encode(&forged)}));
    }
    let answers = node_oracle("siwx-oracle.mjs", &requests);
    for pair in answers.chunks(2) {
        assert_eq!(pair[0]["valid"], json!(true), "{}", pair[0]);
        assert_eq!(
            pair[0]["address"].as_str().unwrap().to_lowercase(),
            signer.address().to_string().to_lowercase()
        );
        assert_eq!(pair[1]["valid"], json!(false), "{}", pair[1]);
    }
}
