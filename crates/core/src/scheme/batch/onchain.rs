//! The `x402BatchSettlement` calls a facilitator makes, as calldata, and the reads it decodes
//! (x402 `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Settlement" and
//! "Verification"; `contracts/evm/src/x402BatchSettlement.sol`): a deposit through a deposit
//! collector with its `collectorData`, `claimWithSignature`, `settle`, `refundWithSignature`,
//! the refund `multicall` (claim, then refund), the channel state read in one Multicall3
//! `tryAggregate(false, …)` (`channels`, `pendingWithdrawals`, `refundNonce` and, for a
//! deposit, the payer's token `balanceOf`), and `receivers`.
//!
//! Pure: no I/O. Decoders refuse short or malformed return data with a reason code, never
//! panic.

use super::digest::{channel_id, claim_batch_digest};
use super::response::ChannelState;
use super::types::{
    ChannelConfig, ClaimEntry, Erc3009CollectorData, IMulticall3, IX402BatchSettlement as I,
    VoucherClaim, BATCH_SETTLEMENT, ERC3009_DEPOSIT_COLLECTOR, PERMIT2_DEPOSIT_COLLECTOR,
};
use super::wire::{DepositPayload, Erc3009Authorization, Permit2Authorization, VoucherClaimJson};
use crate::error::{Error, Reason, Result};
use crate::evm::tx::balance_of_calldata;
use alloc::{format, vec, vec::Vec};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolValue};

/// The codes of the scheme's on-chain failures (x402 `scheme_batch_settlement_evm.md`, "Error
/// codes": `…_rpc_read_failed`, `…_<op>_simulation_failed`, `…_<op>_transaction_failed`)
/// under the names the Worker's on-chain operations use.
pub mod codes {
    use crate::error::Reason;

    /// `invalid_batch_settlement_evm_rpc_read_failed`: a channel-state read failed.
    pub const RPC_READ_FAILED: Reason = Reason::InvalidBatchSettlementEvmRpcReadFailed;
    /// `invalid_batch_settlement_evm_deposit_simulation_failed`.
    pub const DEPOSIT_SIMULATION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmDepositSimulationFailed;
    /// `invalid_batch_settlement_evm_deposit_transaction_failed`.
    pub const DEPOSIT_TRANSACTION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmDepositTransactionFailed;
    /// `invalid_batch_settlement_evm_claim_simulation_failed`.
    pub const CLAIM_SIMULATION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmClaimSimulationFailed;
    /// `invalid_batch_settlement_evm_claim_transaction_failed`.
    pub const CLAIM_TRANSACTION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmClaimTransactionFailed;
    /// `invalid_batch_settlement_evm_settle_simulation_failed`.
    pub const SETTLE_SIMULATION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmSettleSimulationFailed;
    /// `invalid_batch_settlement_evm_settle_transaction_failed`.
    pub const SETTLE_TRANSACTION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmSettleTransactionFailed;
    /// `invalid_batch_settlement_evm_refund_simulation_failed`.
    pub const REFUND_SIMULATION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmRefundSimulationFailed;
    /// `invalid_batch_settlement_evm_refund_transaction_failed`.
    pub const REFUND_TRANSACTION_FAILED: Reason =
        Reason::InvalidBatchSettlementEvmRefundTransactionFailed;
    /// The wire code of `invalid_batch_settlement_evm_nothing_to_settle` (a facilitator's
    /// answer when the receiver has nothing claimed and unsettled: not a failure).
    pub const NOTHING_TO_SETTLE: &str = "invalid_batch_settlement_evm_nothing_to_settle";
}

/// `deposit(config, amount, collector, collectorData)`.
pub fn deposit_calldata(
    config: &ChannelConfig,
    amount: u128,
    collector: Address,
    collector_data: Bytes,
) -> Bytes {
    I::depositCall {
        config: config.clone(),
        amount,
        collector,
        collectorData: collector_data,
    }
    .abi_encode()
    .into()
}

/// The ERC-3009 deposit collector's `collectorData`: `abi.encode(uint256 validAfter, uint256
/// validBefore, uint256 salt, bytes signature)` (a parameter list, no outer offset).
pub fn erc3009_collector_data(auth: &Erc3009Authorization) -> Bytes {
    Erc3009CollectorData {
        validAfter: auth.valid_after,
        validBefore: auth.valid_before,
        salt: auth.salt.into(),
        signature: auth.signature.clone(),
    }
    .abi_encode_params()
    .into()
}

/// The Permit2 deposit collector's `collectorData`: `abi.encode(uint256 nonce, uint256
/// deadline, bytes permit2Signature, bytes eip2612PermitData)`, without an EIP-2612 permit
/// (empty bytes: the payer has approved Permit2 already).
pub fn permit2_collector_data(auth: &Permit2Authorization) -> Bytes {
    (
        auth.nonce,
        auth.deadline,
        auth.signature.clone(),
        Bytes::new(),
    )
        .abi_encode_params()
        .into()
}

/// The `deposit` call of a deposit payload, through the collector of its authorization.
/// Refuses (`…_deposit_payload`) an amount beyond `uint128` or a payload without an
/// authorization.
pub fn deposit_payload_calldata(p: &DepositPayload) -> Result<Bytes> {
    let amount = u128::try_from(p.deposit.amount).map_err(|_| {
        Error::new(
            Reason::InvalidBatchSettlementEvmDepositPayload,
            "deposit.amount is beyond uint128",
        )
    })?;
    let auth = &p.deposit.authorization;
    let (collector, data) = match (&auth.erc3009_authorization, &auth.permit2_authorization) {
        (Some(a), _) => (ERC3009_DEPOSIT_COLLECTOR, erc3009_collector_data(a)),
        (None, Some(a)) => (PERMIT2_DEPOSIT_COLLECTOR, permit2_collector_data(a)),
        (None, None) => {
            return Err(Error::new(
                Reason::InvalidBatchSettlementEvmDepositPayload,
                "deposit.authorization carries no authorization",
            ))
        }
    };
    Ok(deposit_calldata(
        &p.channel_config.to_sol(),
        amount,
        collector,
        data,
    ))
}

/// The contract's rows of a claim batch.
pub fn voucher_claims(rows: &[VoucherClaimJson]) -> Vec<VoucherClaim> {
    rows.iter().map(VoucherClaimJson::to_sol).collect()
}

/// The `ClaimBatch` entries the receiver's authorizer signs: per row the channel id (of its
/// config, on `chain_id`), the voucher's ceiling and the new claimed total.
pub fn claim_entries(rows: &[VoucherClaimJson], chain_id: u64) -> Vec<ClaimEntry> {
    rows.iter()
        .map(|r| ClaimEntry {
            channelId: channel_id(&r.voucher.channel.to_sol(), chain_id),
            maxClaimableAmount: r.voucher.max_claimable_amount,
            totalClaimed: r.total_claimed,
        })
        .collect()
}

/// The digest the receiver's authorizer signs for `claimWithSignature(rows)`.
pub fn claim_rows_digest(rows: &[VoucherClaimJson], chain_id: u64) -> B256 {
    claim_batch_digest(&claim_entries(rows, chain_id), chain_id)
}

/// `claimWithSignature(rows, authorizerSignature)`.
pub fn claim_with_signature_calldata(rows: &[VoucherClaimJson], signature: Bytes) -> Bytes {
    I::claimWithSignatureCall {
        voucherClaims: voucher_claims(rows),
        authorizerSignature: signature,
    }
    .abi_encode()
    .into()
}

/// `settle(receiver, token)`: pays the receiver what it claimed and has not been paid.
pub fn settle_calldata(receiver: Address, token: Address) -> Bytes {
    I::settleCall { receiver, token }.abi_encode().into()
}

/// `refundWithSignature(config, amount, nonce, receiverAuthorizerSignature)`.
pub fn refund_with_signature_calldata(
    config: &ChannelConfig,
    amount: u128,
    nonce: U256,
    signature: Bytes,
) -> Bytes {
    I::refundWithSignatureCall {
        config: config.clone(),
        amount,
        nonce,
        receiverAuthorizerSignature: signature,
    }
    .abi_encode()
    .into()
}

/// `multicall([claimWithSignature(rows, claimSignature), refundWithSignature(config, amount,
/// nonce, refundSignature)])`: the claims first, so the refund cannot take what they claim.
pub fn refund_multicall(
    rows: &[VoucherClaimJson],
    claim_signature: Bytes,
    config: &ChannelConfig,
    amount: u128,
    nonce: U256,
    refund_signature: Bytes,
) -> Bytes {
    I::multicallCall {
        data: vec![
            claim_with_signature_calldata(rows, claim_signature),
            refund_with_signature_calldata(config, amount, nonce, refund_signature),
        ],
    }
    .abi_encode()
    .into()
}

/// Multicall3 `tryAggregate(false, [channels(id), pendingWithdrawals(id), refundNonce(id)])`
/// on `x402BatchSettlement`, and then `token.balanceOf(payer)` when `payer_balance` is
/// `Some((token, payer))`: one `eth_call` to [`super::types::MULTICALL3`]. Decode with
/// [`decode_reads`].
pub fn read_calls(channel_id: B256, payer_balance: Option<(Address, Address)>) -> Bytes {
    let on_contract = |data: Vec<u8>| IMulticall3::Call {
        target: BATCH_SETTLEMENT,
        callData: data.into(),
    };
    let mut calls = vec![
        on_contract(
            I::channelsCall {
                channelId: channel_id,
            }
            .abi_encode(),
        ),
        on_contract(
            I::pendingWithdrawalsCall {
                channelId: channel_id,
            }
            .abi_encode(),
        ),
        on_contract(
            I::refundNonceCall {
                channelId: channel_id,
            }
            .abi_encode(),
        ),
    ];
    if let Some((token, payer)) = payer_balance {
        calls.push(IMulticall3::Call {
            target: token,
            callData: balance_of_calldata(payer),
        });
    }
    IMulticall3::tryAggregateCall {
        requireSuccess: false,
        calls,
    }
    .abi_encode()
    .into()
}

fn read_failed(what: &str, detail: impl core::fmt::Display) -> Error {
    Error::new(
        codes::RPC_READ_FAILED,
        format!("invalid_batch_settlement_evm_rpc_read_failed: {what}: {detail}"),
    )
}

/// Decodes the answer to [`read_calls`] into the channel's state (`chargedCumulativeAmount`
/// unset) and, when `with_balance` (the call asked for it), the payer's token balance. Any
/// failed sub-call, a missing one, or return data that is not the getter's is an error
/// (`…_rpc_read_failed`, as the reference facilitator answers).
pub fn decode_reads(
    channel_id: B256,
    with_balance: bool,
    ret: &[u8],
) -> Result<(ChannelState, Option<U256>)> {
    let results = IMulticall3::tryAggregateCall::abi_decode_returns_validate(ret)
        .map_err(|e| read_failed("tryAggregate", e))?;
    let want = if with_balance { 4 } else { 3 };
    if results.len() != want {
        return Err(read_failed(
            "tryAggregate",
            format_args!("{} results for {want} calls", results.len()),
        ));
    }
    let data = |i: usize, what: &str| -> Result<&[u8]> {
        let r = &results[i];
        if r.success {
            Ok(&r.returnData)
        } else {
            Err(read_failed(what, "the call reverted"))
        }
    };
    let channels = I::channelsCall::abi_decode_returns_validate(data(0, "channels")?)
        .map_err(|e| read_failed("channels", e))?;
    let pending =
        I::pendingWithdrawalsCall::abi_decode_returns_validate(data(1, "pendingWithdrawals")?)
            .map_err(|e| read_failed("pendingWithdrawals", e))?;
    let nonce = I::refundNonceCall::abi_decode_returns_validate(data(2, "refundNonce")?)
        .map_err(|e| read_failed("refundNonce", e))?;
    let balance = if with_balance {
        let ret = data(3, "balanceOf")?;
        Some(U256::abi_decode_validate(ret).map_err(|e| read_failed("balanceOf", e))?)
    } else {
        None
    };
    Ok((
        ChannelState::from_reads(channel_id, &channels, &pending, nonce),
        balance,
    ))
}

/// `receivers(receiver, token)`.
pub fn receivers_calldata(receiver: Address, token: Address) -> Bytes {
    I::receiversCall { receiver, token }.abi_encode().into()
}

/// Decodes `receivers(receiver, token)`: `(totalClaimed, totalSettled)`.
pub fn decode_receivers(ret: &[u8]) -> Result<(u128, u128)> {
    let r = I::receiversCall::abi_decode_returns_validate(ret)
        .map_err(|e| read_failed("receivers", e))?;
    Ok((r.totalClaimed, r.totalSettled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::batch::wire::{
        ChannelConfigJson, ClaimVoucherJson, Deposit, DepositAuthorization, VoucherJson,
    };
    use alloy_primitives::{address, b256, hex, keccak256};

    fn config() -> ChannelConfigJson {
        ChannelConfigJson {
            payer: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            payer_authorizer: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            receiver: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            receiver_authorizer: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            token: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            withdraw_delay: 900,
            salt: B256::ZERO,
        }
    }

    /// A 32-byte ABI word of an unsigned value.
    fn w(v: u128) -> [u8; 32] {
        U256::from(v).to_be_bytes()
    }

    fn wa(a: Address) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[12..].copy_from_slice(a.as_slice());
        out
    }

    /// `bytes` tail: length word, then the data right-padded to 32 bytes.
    fn tail(b: &[u8]) -> Vec<u8> {
        let mut out = w(b.len() as u128).to_vec();
        out.extend_from_slice(b);
        out.resize(32 + b.len().div_ceil(32) * 32, 0);
        out
    }

    fn config_words(c: &ChannelConfigJson) -> Vec<u8> {
        let mut out = Vec::new();
        for a in [
            c.payer,
            c.payer_authorizer,
            c.receiver,
            c.receiver_authorizer,
            c.token,
        ] {
            out.extend_from_slice(&wa(a));
        }
        out.extend_from_slice(&w(c.withdraw_delay.into()));
        out.extend_from_slice(c.salt.as_slice());
        out
    }

    fn selector(sig: &str) -> [u8; 4] {
        keccak256(sig.as_bytes())[..4].try_into().unwrap()
    }

    const CC: &str = "(address,address,address,address,address,uint40,bytes32)";

    fn sig65(fill: u8) -> Bytes {
        let mut s = vec![fill; 65];
        s[64] = 27;
        s.into()
    }

    #[test]
    fn erc3009_collector_data_is_abi_encode_of_four_params() {
        let auth = Erc3009Authorization {
            valid_after: U256::ZERO,
            valid_before: U256::from(2_000_000_000u64),
            salt: B256::with_last_byte(1),
            signature: sig65(0xab),
        };
        let mut want = Vec::new();
        want.extend_from_slice(&w(0));
        want.extend_from_slice(&w(2_000_000_000));
        want.extend_from_slice(&w(1));
        want.extend_from_slice(&w(128)); // offset of the bytes after four head words
        want.extend_from_slice(&tail(&auth.signature));
        assert_eq!(erc3009_collector_data(&auth).as_ref(), want.as_slice());
        // The collector decodes it as `(uint256, uint256, uint256, bytes)`.
        let back = Erc3009CollectorData::abi_decode_params_validate(&want).unwrap();
        assert_eq!(back.salt, U256::from(1));
        assert_eq!(back.signature, auth.signature);
    }

    #[test]
    fn deposit_calldata_layout() {
        let c = config();
        let data = Bytes::from_static(&[1, 2, 3]);
        let got = deposit_calldata(&c.to_sol(), 10_000, ERC3009_DEPOSIT_COLLECTOR, data.clone());
        assert_eq!(
            got[..4],
            selector(&format!("deposit({CC},uint128,address,bytes)"))
        );
        let mut want = selector(&format!("deposit({CC},uint128,address,bytes)")).to_vec();
        want.extend(config_words(&c)); // static tuple inline: 7 words
        want.extend_from_slice(&w(10_000));
        want.extend_from_slice(&wa(ERC3009_DEPOSIT_COLLECTOR));
        want.extend_from_slice(&w(10 * 32)); // offset: 7 + 3 head words
        want.extend(tail(&data));
        assert_eq!(got.as_ref(), want.as_slice());
        let back = I::depositCall::abi_decode_validate(&got).unwrap();
        assert_eq!(back.config, c.to_sol());
        assert_eq!(back.collectorData, data);
    }

    #[test]
    fn deposit_payload_picks_the_collector() {
        let c = config();
        let auth = Erc3009Authorization {
            valid_after: U256::ZERO,
            valid_before: U256::from(5u8),
            salt: B256::repeat_byte(7),
            signature: sig65(1),
        };
        let mut p = DepositPayload {
            channel_config: c.clone(),
            voucher: VoucherJson {
                channel_id: channel_id(&c.to_sol(), 31337),
                max_claimable_amount: 1,
                signature: sig65(2),
            },
            deposit: Deposit {
                amount: U256::from(10u8),
                authorization: DepositAuthorization {
                    erc3009_authorization: Some(auth.clone()),
                    permit2_authorization: None,
                },
            },
        };
        let call =
            I::depositCall::abi_decode_validate(&deposit_payload_calldata(&p).unwrap()).unwrap();
        assert_eq!(call.collector, ERC3009_DEPOSIT_COLLECTOR);
        assert_eq!(call.amount, 10);
        assert_eq!(call.collectorData, erc3009_collector_data(&auth));
        p.deposit.amount = U256::from(u128::MAX) + U256::from(1u8);
        assert_eq!(
            deposit_payload_calldata(&p).unwrap_err().reason(),
            Reason::InvalidBatchSettlementEvmDepositPayload
        );
        p.deposit.amount = U256::from(1u8);
        p.deposit.authorization.erc3009_authorization = None;
        assert!(deposit_payload_calldata(&p).is_err());
    }

    #[test]
    fn permit2_collector_data_layout() {
        use crate::scheme::batch::wire::{DepositWitness, TokenPermissions};
        let a = Permit2Authorization {
            from: config().payer,
            permitted: TokenPermissions {
                token: config().token,
                amount: U256::from(5u8),
            },
            spender: PERMIT2_DEPOSIT_COLLECTOR,
            nonce: U256::from(9u8),
            deadline: U256::from(100u8),
            witness: DepositWitness {
                channel_id: B256::ZERO,
            },
            signature: sig65(3),
        };
        let mut want = Vec::new();
        want.extend_from_slice(&w(9));
        want.extend_from_slice(&w(100));
        want.extend_from_slice(&w(128));
        want.extend_from_slice(&w(128 + 32 + 96)); // after the 65-byte signature's tail
        want.extend(tail(&a.signature));
        want.extend(tail(&[]));
        assert_eq!(permit2_collector_data(&a).as_ref(), want.as_slice());
    }

    fn rows() -> Vec<VoucherClaimJson> {
        vec![VoucherClaimJson {
            voucher: ClaimVoucherJson {
                channel: config(),
                max_claimable_amount: 1000,
            },
            signature: sig65(4),
            total_claimed: 1000,
        }]
    }

    #[test]
    fn claim_digest_is_the_vector() {
        // docs vector (chain 31337): claim-batch digest of [{channelId, 1000, 1000}].
        assert_eq!(
            claim_rows_digest(&rows(), 31337),
            b256!("2f46733a02ccc402c5eb8054fa1e9ae883411f9bac87ee0fb172a5663cf3ccce")
        );
        assert_eq!(
            claim_entries(&rows(), 31337)[0].channelId,
            b256!("3dba7b750189e416712e643b7f71b0f6a79d0cce7f84596a48d48205120ffbce")
        );
    }

    #[test]
    fn claim_with_signature_layout() {
        let r = rows();
        let auth_sig = sig65(5);
        let got = claim_with_signature_calldata(&r, auth_sig.clone());
        let vc = format!("(({CC},uint128),bytes,uint128)");
        let sel = selector(&format!("claimWithSignature({vc}[],bytes)"));
        assert_eq!(got[..4], sel);
        assert_eq!(u32::from_be_bytes(sel), 0xe43ce1f2);
        // Independent layout: head [offset rows, offset sig]; rows: len, offset row0;
        // row0 (dynamic: has bytes): config (7 words) + max, offset sig, totalClaimed, sig tail.
        let mut row = config_words(&config());
        row.extend_from_slice(&w(1000));
        row.extend_from_slice(&w(10 * 32)); // 7 + 1 + 2 head words
        row.extend_from_slice(&w(1000));
        row.extend(tail(&r[0].signature));
        let mut array = w(1).to_vec();
        array.extend_from_slice(&w(32)); // offset of row 0 after the one offset word
        array.extend(row);
        let mut want = sel.to_vec();
        want.extend_from_slice(&w(64));
        want.extend_from_slice(&w(64 + array.len() as u128));
        want.extend(array);
        want.extend(tail(&auth_sig));
        assert_eq!(got.as_ref(), want.as_slice());
    }

    #[test]
    fn settle_receivers_refund_layout() {
        let c = config();
        let got = settle_calldata(c.receiver, c.token);
        let mut want = hex!("9db32a8f").to_vec();
        want.extend_from_slice(&wa(c.receiver));
        want.extend_from_slice(&wa(c.token));
        assert_eq!(got.as_ref(), want.as_slice());

        let got = receivers_calldata(c.receiver, c.token);
        assert_eq!(got[..4], hex!("21ff6389"));
        assert_eq!(got[4..], want[4..]);

        let sig = sig65(6);
        let got = refund_with_signature_calldata(&c.to_sol(), 500, U256::from(3u8), sig.clone());
        let sel = selector(&format!("refundWithSignature({CC},uint128,uint256,bytes)"));
        assert_eq!(u32::from_be_bytes(sel), 0xb77433e9);
        let mut want = sel.to_vec();
        want.extend(config_words(&c));
        want.extend_from_slice(&w(500));
        want.extend_from_slice(&w(3));
        want.extend_from_slice(&w(10 * 32));
        want.extend(tail(&sig));
        assert_eq!(got.as_ref(), want.as_slice());
    }

    #[test]
    fn refund_multicall_is_claim_then_refund() {
        let c = config();
        let got = refund_multicall(&rows(), sig65(7), &c.to_sol(), 500, U256::ZERO, sig65(8));
        assert_eq!(got[..4], hex!("ac9650d8"));
        let call = I::multicallCall::abi_decode_validate(&got).unwrap();
        assert_eq!(call.data.len(), 2);
        assert_eq!(
            call.data[0],
            claim_with_signature_calldata(&rows(), sig65(7))
        );
        assert_eq!(
            call.data[1],
            refund_with_signature_calldata(&c.to_sol(), 500, U256::ZERO, sig65(8))
        );
    }

    #[test]
    fn read_calls_layout() {
        let id = B256::repeat_byte(0x11);
        let payer = config().payer;
        let token = config().token;
        let got = read_calls(id, Some((token, payer)));
        assert_eq!(got[..4], selector("tryAggregate(bool,(address,bytes)[])"));
        let call = IMulticall3::tryAggregateCall::abi_decode_validate(&got).unwrap();
        assert!(!call.requireSuccess);
        let mut id_word = Vec::new();
        id_word.extend_from_slice(id.as_slice());
        let expect = [
            (BATCH_SETTLEMENT, [&hex!("7a7ebd7b")[..], &id_word].concat()),
            (BATCH_SETTLEMENT, [&hex!("b7f06ebe")[..], &id_word].concat()),
            (BATCH_SETTLEMENT, [&hex!("f0dc792e")[..], &id_word].concat()),
            (token, [&hex!("70a08231")[..], &wa(payer)].concat()),
        ];
        assert_eq!(call.calls.len(), 4);
        for (c, (target, data)) in call.calls.iter().zip(expect) {
            assert_eq!(c.target, target);
            assert_eq!(c.callData.as_ref(), data.as_slice());
        }
        let call =
            IMulticall3::tryAggregateCall::abi_decode_validate(&read_calls(id, None)).unwrap();
        assert_eq!(call.calls.len(), 3);
    }

    /// A `tryAggregate` answer, encoded by hand: `Result[]` of `(bool, bytes)`.
    fn aggregate_answer(results: &[(bool, Vec<u8>)]) -> Vec<u8> {
        let mut elems = Vec::new();
        let mut offsets = Vec::new();
        let mut at = 32 * results.len();
        for (ok, data) in results {
            offsets.push(at);
            let mut e = w(u128::from(*ok)).to_vec();
            e.extend_from_slice(&w(64));
            e.extend(tail(data));
            at += e.len();
            elems.extend(e);
        }
        let mut out = w(32).to_vec();
        out.extend_from_slice(&w(results.len() as u128));
        for o in offsets {
            out.extend_from_slice(&w(o as u128));
        }
        out.extend(elems);
        out
    }

    fn good_results() -> Vec<(bool, Vec<u8>)> {
        vec![
            (true, [w(5000), w(1200)].concat()),
            (true, [w(300), w(1_700_000_000)].concat()),
            (true, w(4).to_vec()),
            (true, w(99_000).to_vec()),
        ]
    }

    #[test]
    fn decode_reads_reads_state_and_balance() {
        let id = B256::repeat_byte(0x22);
        let ret = aggregate_answer(&good_results());
        // alloy encodes the same answer.
        let alloy: Vec<IMulticall3::Result> = good_results()
            .into_iter()
            .map(|(success, d)| IMulticall3::Result {
                success,
                returnData: d.into(),
            })
            .collect();
        assert_eq!(
            IMulticall3::tryAggregateCall::abi_encode_returns(&alloy),
            ret
        );
        let (state, bal) = decode_reads(id, true, &ret).unwrap();
        assert_eq!(state.channel_id, id);
        assert_eq!(state.balance, U256::from(5000));
        assert_eq!(state.total_claimed, U256::from(1200));
        assert_eq!(state.withdraw_requested_at, 1_700_000_000);
        assert_eq!(state.refund_nonce, U256::from(4));
        assert_eq!(state.charged_cumulative_amount, None);
        assert_eq!(bal, Some(U256::from(99_000)));
        let ret3 = aggregate_answer(&good_results()[..3]);
        let (state3, none) = decode_reads(id, false, &ret3).unwrap();
        assert_eq!((state3, none), (state, None));
    }

    #[test]
    fn decode_reads_refuses_bad_answers() {
        let id = B256::ZERO;
        let code = codes::RPC_READ_FAILED;
        let check = |ret: &[u8], with_balance: bool| {
            let e = decode_reads(id, with_balance, ret).unwrap_err();
            assert_eq!(e.reason(), code, "{e}");
            assert!(e.message().contains("rpc_read_failed"));
        };
        // Empty, short, garbage.
        check(&[], true);
        check(&[0u8; 31], false);
        check(&[0xffu8; 200], false);
        let full = aggregate_answer(&good_results());
        for cut in [1, 32, 64, full.len() / 2, full.len() - 1] {
            check(&full[..cut], true);
        }
        // Wrong number of results.
        check(&full, false);
        check(&aggregate_answer(&good_results()[..3]), true);
        // A failed sub-call.
        let mut r = good_results();
        r[2].0 = false;
        check(&aggregate_answer(&r), true);
        // A getter answer too short, or out of its type's range (uint128 / uint40).
        let mut r = good_results();
        r[0].1.truncate(40);
        check(&aggregate_answer(&r), true);
        let mut r = good_results();
        r[0].1[0] = 1; // balance above 2^128
        check(&aggregate_answer(&r), true);
        let mut r = good_results();
        r[1].1 = [w(0), [0xffu8; 32]].concat(); // initiatedAt beyond uint40
        check(&aggregate_answer(&r), true);
        let mut r = good_results();
        r[3].1 = vec![1, 2, 3];
        check(&aggregate_answer(&r), true);
        // Offsets pointing outside the data.
        let mut bad = full.clone();
        bad[31] = 0xf0;
        check(&bad, true);
    }

    #[test]
    fn decode_receivers_reads_and_refuses() {
        assert_eq!(
            decode_receivers(&[w(700), w(200)].concat()).unwrap(),
            (700, 200)
        );
        for bad in [vec![], vec![0u8; 63], [[0xffu8; 32], w(1)].concat()] {
            assert_eq!(
                decode_receivers(&bad).unwrap_err().reason(),
                codes::RPC_READ_FAILED
            );
        }
    }
}
