//! Hashes of the `batch-settlement` scheme (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "EIP-712 Types" and
//! "Channel ID"), all derived from the [`super::types`] declarations: the contract's EIP-712
//! domain, the channel id (the EIP-712 hash of the config), the voucher, refund and claim-batch
//! digests, the ERC-3009 deposit nonce, and the `eth_signTypedData_v4` JSON of each.

use super::types::{
    ChannelConfig, ClaimBatch, ClaimEntry, ReceiveWithAuthorization, Refund, Voucher,
    BATCH_SETTLEMENT,
};
use crate::error::Result;
use crate::evm::eip712::{token_domain, typed_data_json, Eip712Domain};
use alloc::{borrow::Cow, vec::Vec};
use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolStruct;
use serde_json::{json, Value};

/// The contract's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "x402 Batch Settlement";
/// The contract's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// `{name: "x402 Batch Settlement", version: "1", chainId, verifyingContract:
/// x402BatchSettlement}`: the domain of channel ids, vouchers, refunds and claim batches.
pub fn domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(DOMAIN_NAME)),
        Some(Cow::Borrowed(DOMAIN_VERSION)),
        Some(U256::from(chain_id)),
        Some(BATCH_SETTLEMENT),
        None,
    )
}

/// The contract's domain separator on a chain.
pub fn domain_separator(chain_id: u64) -> B256 {
    domain(chain_id).separator()
}

/// The channel id: `getChannelId(config)`, the EIP-712 hash of the config in the contract's
/// domain (so chain- and deployment-bound).
pub fn channel_id(config: &ChannelConfig, chain_id: u64) -> B256 {
    config.eip712_signing_hash(&domain(chain_id))
}

/// The digest the payer's authorizer signs for a voucher (`getVoucherDigest`).
pub fn voucher_digest(channel_id: B256, max_claimable: u128, chain_id: u64) -> B256 {
    voucher(channel_id, max_claimable).eip712_signing_hash(&domain(chain_id))
}

/// The digest the receiver's authorizer signs for a refund (`getRefundDigest`); `nonce` is the
/// channel's `refundNonce` at execution, `amount` the requested (uncapped) amount.
pub fn refund_digest(channel_id: B256, nonce: U256, amount: u128, chain_id: u64) -> B256 {
    Refund {
        channelId: channel_id,
        nonce,
        amount,
    }
    .eip712_signing_hash(&domain(chain_id))
}

/// The digest the receiver's authorizer signs for `claimWithSignature` (`getClaimBatchDigest`):
/// EIP-712 array encoding of the rows, in order.
pub fn claim_batch_digest(claims: &[ClaimEntry], chain_id: u64) -> B256 {
    ClaimBatch {
        claims: claims.to_vec(),
    }
    .eip712_signing_hash(&domain(chain_id))
}

/// The ERC-3009 nonce of a deposit: `keccak256(abi.encode(channelId, salt))`, `salt` being the
/// authorization's own salt (`erc3009Authorization.salt`), not the config's.
pub fn erc3009_deposit_nonce(channel_id: B256, salt: U256) -> B256 {
    let mut words = [0u8; 64];
    words[..32].copy_from_slice(channel_id.as_slice());
    words[32..].copy_from_slice(&salt.to_be_bytes::<32>());
    keccak256(words)
}

/// The deposit's token authorization digest, in the token's own domain (`extra.name`,
/// `extra.version`).
pub fn receive_authorization_digest(
    token_name: &str,
    token_version: &str,
    chain_id: u64,
    token: Address,
    message: &ReceiveWithAuthorization,
) -> B256 {
    message.eip712_signing_hash(&token_domain(token_name, token_version, chain_id, token))
}

/// A voucher message.
pub fn voucher(channel_id: B256, max_claimable: u128) -> Voucher {
    Voucher {
        channelId: channel_id,
        maxClaimableAmount: max_claimable,
    }
}

/// `eth_signTypedData_v4` JSON of a voucher (what the payer's wallet or delegated key signs).
pub fn voucher_typed_data(channel_id: B256, max_claimable: u128, chain_id: u64) -> Result<Value> {
    typed_data_json(&domain(chain_id), &voucher(channel_id, max_claimable))
}

/// `eth_signTypedData_v4` JSON of a refund.
pub fn refund_typed_data(
    channel_id: B256,
    nonce: U256,
    amount: u128,
    chain_id: u64,
) -> Result<Value> {
    let refund = Refund {
        channelId: channel_id,
        nonce,
        amount,
    };
    typed_data_json(&domain(chain_id), &refund)
}

/// `eth_signTypedData_v4` JSON of a channel config (its signing hash is the channel id).
pub fn channel_config_typed_data(config: &ChannelConfig, chain_id: u64) -> Result<Value> {
    typed_data_json(&domain(chain_id), config)
}

/// `eth_signTypedData_v4` JSON of a deposit's `ReceiveWithAuthorization`.
pub fn receive_authorization_typed_data(
    token_name: &str,
    token_version: &str,
    chain_id: u64,
    token: Address,
    message: &ReceiveWithAuthorization,
) -> Result<Value> {
    typed_data_json(
        &token_domain(token_name, token_version, chain_id, token),
        message,
    )
}

/// `eth_signTypedData_v4` JSON of a claim batch: `ClaimBatch` with its `ClaimEntry[]` field, the
/// type entries read from the two declarations (an array field is beyond
/// [`typed_data_json`], which renders static structs).
pub fn claim_batch_typed_data(claims: &[ClaimEntry], chain_id: u64) -> Result<Value> {
    let template = typed_data_json(&domain(chain_id), &ClaimEntry::default_entry())?;
    let entry_types = template["types"]["ClaimEntry"].clone();
    let rows: Vec<Value> = claims
        .iter()
        .map(|c| {
            json!({
                "channelId": alloc::format!("{}", c.channelId),
                "maxClaimableAmount": alloc::format!("{}", c.maxClaimableAmount),
                "totalClaimed": alloc::format!("{}", c.totalClaimed),
            })
        })
        .collect();
    Ok(json!({
        "types": {
            "EIP712Domain": template["types"]["EIP712Domain"].clone(),
            "ClaimBatch": [{ "name": "claims", "type": "ClaimEntry[]" }],
            "ClaimEntry": entry_types,
        },
        "primaryType": "ClaimBatch",
        "domain": template["domain"].clone(),
        "message": { "claims": rows },
    }))
}

impl ClaimEntry {
    fn default_entry() -> Self {
        Self {
            channelId: B256::ZERO,
            maxClaimableAmount: 0,
            totalClaimed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    fn config() -> ChannelConfig {
        ChannelConfig {
            payer: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            payerAuthorizer: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            receiver: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            receiverAuthorizer: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            token: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            withdrawDelay: alloy_primitives::aliases::U40::from(900u64),
            salt: B256::ZERO,
        }
    }

    #[test]
    fn type_hashes_are_the_contracts() {
        let c = config();
        assert_eq!(
            c.eip712_type_hash(),
            b256!("1c9a06ceab9b0ebbd3301dc56c9111bb6d9af421356dc9ccb3b7084c755db308")
        );
        assert_eq!(
            voucher(B256::ZERO, 0).eip712_type_hash(),
            b256!("1e1bd6ff84c3e0d9029a292b212e039c0ca97ec497c55191a4a5874294609a69")
        );
        assert_eq!(
            ClaimEntry::default_entry().eip712_type_hash(),
            b256!("30b9a0367528fca13c3e8ec6134c3113f1887ebe7a1ad61de0955aac288b0cf5")
        );
        let batch = ClaimBatch { claims: Vec::new() };
        assert_eq!(
            batch.eip712_type_hash(),
            b256!("42bd57c010b870c2e96203c66341f28a6a19b4d56a74533a8eb5f706b9fd6d57")
        );
    }

    #[test]
    fn claim_batch_digest_is_the_contract_formula() {
        // getClaimBatchDigest: root = keccak256(entry hashes concatenated).
        let id = channel_id(&config(), 31337);
        let rows = [
            ClaimEntry {
                channelId: id,
                maxClaimableAmount: 1000,
                totalClaimed: 1000,
            },
            ClaimEntry {
                channelId: B256::repeat_byte(1),
                maxClaimableAmount: 5,
                totalClaimed: 3,
            },
        ];
        let mut concat = Vec::new();
        for r in &rows {
            concat.extend_from_slice(r.eip712_hash_struct().as_slice());
        }
        let batch_type = keccak256(ClaimBatch::eip712_encode_type().as_bytes());
        let mut words = [0u8; 64];
        words[..32].copy_from_slice(batch_type.as_slice());
        words[32..].copy_from_slice(keccak256(&concat).as_slice());
        let mut buf = alloc::vec![0x19, 0x01];
        buf.extend_from_slice(domain_separator(31337).as_slice());
        buf.extend_from_slice(keccak256(words).as_slice());
        assert_eq!(claim_batch_digest(&rows, 31337), keccak256(&buf));
    }
}
