//! EIP-1559 settlement transactions built and signed by x402-core, checked by viem (from npm):
//! viem parses every field back, recovers the relayer as sender, re-serializes to the same bytes
//! and computes the same hash. Needs `node_modules` (installed by `scripts/setup`).
#![cfg(all(feature = "local-signer", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::node_oracle;
use serde_json::{json, Value};
use x402_core::evm::signer::LocalSigner;
use x402_core::evm::tx::Eip1559Tx;
use x402_core::scheme::exact::settle::settle_calldata;
use x402_core::scheme::exact::verify::VerifiedPayment;
use x402_core::scheme::exact::{Authorization, ExactEvmRequirement};
use x402_core::{Address, Bytes, B256, U256};

fn viem(requests: &[Value]) -> Vec<Value> {
    node_oracle("tx-oracle.mjs", requests)
}

fn payment(signature: Bytes) -> VerifiedPayment {
    let requirement = ExactEvmRequirement {
        network: "eip155:31337".parse().unwrap(),
        chain_id: 31337,
        amount: U256::from(10_000),
        asset: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap(),
        pay_to: "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
            .parse()
            .unwrap(),
        max_timeout_seconds: 300,
        eip712_name: "USD Coin".into(),
        eip712_version: "2".into(),
    };
    let authorization = Authorization {
        from: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            .parse()
            .unwrap(),
        to: requirement.pay_to,
        value: requirement.amount,
        valid_after: U256::from(1_700_000_000u64),
        valid_before: U256::from(1_800_000_000u64),
        nonce: B256::repeat_byte(0x42),
    };
    VerifiedPayment {
        payer: authorization.from,
        requirement_index: 0,
        requirement,
        authorization,
        signature,
        digest: B256::ZERO,
    }
}

#[test]
fn signed_settlement_transactions_match_viem() {
    // anvil account #9, the demo relayer (a public development key).
    let relayer =
        LocalSigner::from_hex("0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6")
            .unwrap();
    let mut eoa_sig = vec![0x11u8; 64];
    eoa_sig.push(27);
    let cases = [
        (
            0u64,
            1u128,
            2u128,
            settle_calldata(&payment(Bytes::from(eoa_sig.clone()))),
        ),
        (
            1,
            1_000_000_000,
            3_000_000_000,
            settle_calldata(&payment(Bytes::from(vec![0x22u8; 130]))),
        ),
        (300, 0, 875_000_000, Bytes::new()),
        (
            u64::from(u32::MAX) + 7,
            1,
            u128::from(u64::MAX),
            Bytes::from(vec![0u8; 1]),
        ),
    ];
    let mut txs = Vec::new();
    let mut requests = Vec::new();
    for (i, (nonce, prio, max, data)) in cases.into_iter().enumerate() {
        let tx = Eip1559Tx {
            chain_id: if i == 3 { 84532 } else { 31337 },
            nonce,
            max_priority_fee_per_gas: prio,
            max_fee_per_gas: max,
            gas_limit: 200_000 + i as u64,
            to: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse::<Address>()
                .unwrap(),
            value: U256::ZERO,
            data,
        };
        let (raw, hash) = tx.sign(&relayer).unwrap();
        requests.push(json!({"raw": raw.to_string(), "hash": hash.to_string()}));
        txs.push((tx, raw, hash));
    }
    let answers = viem(&requests);
    for ((tx, raw, hash), a) in txs.iter().zip(&answers) {
        assert_eq!(a["type"], "eip1559");
        assert_eq!(a["chainId"], tx.chain_id);
        assert_eq!(a["nonce"], tx.nonce);
        assert_eq!(
            a["maxPriorityFeePerGas"],
            tx.max_priority_fee_per_gas.to_string()
        );
        assert_eq!(a["maxFeePerGas"], tx.max_fee_per_gas.to_string());
        assert_eq!(a["gas"], tx.gas_limit.to_string());
        assert_eq!(
            a["to"].as_str().unwrap().to_lowercase(),
            tx.to.to_string().to_lowercase()
        );
        assert_eq!(a["value"], "0");
        assert_eq!(a["data"], tx.data.to_string());
        assert_eq!(a["from"], relayer.address().to_checksum(None));
        assert_eq!(a["reserialized"], raw.to_string());
        assert_eq!(a["hash"], hash.to_string());
    }
    // The bytes overload is chosen for smart-wallet signatures, the v,r,s one for EOAs.
    assert_eq!(
        &settle_calldata(&payment(Bytes::from(eoa_sig)))[..4],
        &[0xe3, 0xee, 0x16, 0x0e]
    );
    assert_eq!(
        &settle_calldata(&payment(Bytes::from(vec![0x22u8; 130])))[..4],
        &[0xcf, 0x09, 0x29, 0x95]
    );
}
