//! Shared fixtures for the integration tests: a server's requirements on the local chain and a
//! payer that signs with anvil dev keys.
#![allow(dead_code, unreachable_pub)]

use serde_json::json;
use x402_core::client::Policy;
use x402_core::evm::asset::LOCAL_TEST_USDC;
use x402_core::evm::signer::LocalSigner;
use x402_core::scheme::exact::{build_authorization, build_payment};
use x402_core::wire::{v1, v2, AnyPaymentPayload, AnyPaymentRequired};
use x402_core::{Bytes, B256};

/// Anvil dev account #1 (a payer in the embedded default).
pub const PAYER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// Anvil dev account #2.
pub const OTHER_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
/// Anvil dev account #8 (payTo).
pub const PAY_TO: &str = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f";
/// A fixed "now".
pub const NOW: u64 = 1_750_000_000;

pub fn requirement() -> v2::PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "exact",
        "network": "eip155:31337",
        "amount": "10000",
        "asset": LOCAL_TEST_USDC.address.to_checksum(None),
        "payTo": PAY_TO,
        "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2"}
    }))
    .unwrap()
}

pub fn challenge_with(accepts: Vec<v2::PaymentRequirements>) -> v2::PaymentRequired {
    serde_json::from_value(json!({
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": "http://127.0.0.1:8787/articles/one", "description": "Article one", "mimeType": "text/html"},
        "accepts": accepts,
        "extensions": {"bazaar": {"info": {"a": 1}, "schema": {}}}
    }))
    .unwrap()
}

pub fn v1_requirement() -> v1::PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "exact",
        "network": "base-sepolia",
        "maxAmountRequired": "10000",
        "resource": "http://127.0.0.1:8787/api/data",
        "description": "Data",
        "mimeType": "application/json",
        "payTo": PAY_TO,
        "maxTimeoutSeconds": 60,
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "extra": {"name": "USDC", "version": "2"}
    }))
    .unwrap()
}

pub fn nonce(n: u8) -> B256 {
    B256::repeat_byte(n)
}

/// Pays the first offer of a challenge with `key`, letting `tweak` change the authorization
/// before signing (and the domain requirement used for signing).
pub fn pay(
    challenge: &AnyPaymentRequired,
    key: &str,
    tweak: impl FnOnce(
        &mut x402_core::scheme::exact::Authorization,
        &mut x402_core::scheme::exact::ExactEvmRequirement,
    ),
) -> AnyPaymentPayload {
    let offer = Policy {
        max_amount: None,
        ..Policy::default()
    }
    .select(challenge)
    .unwrap();
    let signer = LocalSigner::from_hex(key).unwrap();
    let mut req = offer.requirement.clone();
    let mut auth = build_authorization(&req, signer.address(), NOW, nonce(7));
    tweak(&mut auth, &mut req);
    let sig = signer.sign_authorization(&req, &auth).unwrap();
    build_payment(
        challenge,
        offer.index,
        auth,
        Bytes::from(sig.to_bytes().to_vec()),
    )
    .unwrap()
}

pub fn pay_v2(key: &str) -> v2::PaymentPayload {
    match pay(
        &AnyPaymentRequired::V2(challenge_with(vec![requirement()])),
        key,
        |_, _| {},
    ) {
        AnyPaymentPayload::V2(p) => p,
        AnyPaymentPayload::V1(_) => unreachable!(),
    }
}

/// Runs a node "oracle" script from `tests/js/` (an independent implementation from npm, such
/// as viem) on a batch of JSON requests and returns its JSON answers. Needs `node_modules`
/// (installed by `scripts/setup`); fails with a clear message without it.
#[cfg(not(target_arch = "wasm32"))]
pub fn node_oracle(script: &str, requests: &[serde_json::Value]) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("node_modules/viem").is_dir(),
        "node_modules/viem is missing: run scripts/setup first"
    );
    let mut child = Command::new("node")
        .arg(root.join("tests/js").join(script))
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(requests).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}
