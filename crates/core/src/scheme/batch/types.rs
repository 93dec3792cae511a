//! The `batch-settlement` structs and contract interface, declared once with `sol!`: the EIP-712
//! structs the payer, the receiver's authorizer and the token sign (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "EIP-712 Types"), and the
//! `x402BatchSettlement` calls a facilitator makes or reads (and Multicall3's `tryAggregate`),
//! for calldata and return decoding.

use alloy_primitives::{address, Address};

/// `x402BatchSettlement`, at the same address on every chain (CREATE2).
pub const BATCH_SETTLEMENT: Address = address!("4020074e9dF2ce1deE5A9C1b5c3f541D02a10003");
/// `ERC3009DepositCollector`: the `to` of a deposit's `ReceiveWithAuthorization`.
pub const ERC3009_DEPOSIT_COLLECTOR: Address = address!("4020806089470a89826cB9fB1f4059150b550004");
/// `Permit2DepositCollector`: the spender of a Permit2 deposit.
pub const PERMIT2_DEPOSIT_COLLECTOR: Address = address!("4020425FAf3B746C082C2f942b4E5159887B0005");
/// Permit2 (the `verifyingContract` of a Permit2 deposit's signature).
pub const PERMIT2: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");
/// Multicall3, through which the reference facilitator reads channel state.
pub const MULTICALL3: Address = address!("cA11bde05977b3631167028862bE2a173976CA11");
/// The shortest `withdrawDelay` the contract accepts (15 minutes).
pub const MIN_WITHDRAW_DELAY: u64 = 900;
/// The longest `withdrawDelay` the contract accepts (30 days).
pub const MAX_WITHDRAW_DELAY: u64 = 2_592_000;

alloy_sol_types::sol! {
    /// The immutable terms of a channel; its EIP-712 hash is the channel id.
    #[derive(Debug, PartialEq, Eq)]
    struct ChannelConfig {
        address payer;
        address payerAuthorizer;
        address receiver;
        address receiverAuthorizer;
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    /// A cumulative voucher: the receiver may claim up to `maxClaimableAmount` in total.
    #[derive(Debug, PartialEq, Eq)]
    struct Voucher {
        bytes32 channelId;
        uint128 maxClaimableAmount;
    }

    /// A cooperative refund, signed by the receiver's authorizer.
    #[derive(Debug, PartialEq, Eq)]
    struct Refund {
        bytes32 channelId;
        uint256 nonce;
        uint128 amount;
    }

    /// One row of a claim batch.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimEntry {
        bytes32 channelId;
        uint128 maxClaimableAmount;
        uint128 totalClaimed;
    }

    /// The rows a receiver's authorizer signs for `claimWithSignature`.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimBatch {
        ClaimEntry[] claims;
    }

    /// EIP-3009 `ReceiveWithAuthorization`: a deposit's token authorization (`to` is the
    /// ERC-3009 deposit collector, which alone may execute it).
    #[derive(Debug, PartialEq, Eq)]
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    /// Permit2 `permitted`.
    #[derive(Debug, PartialEq, Eq)]
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// The witness a Permit2 deposit binds to its channel.
    #[derive(Debug, PartialEq, Eq)]
    struct DepositWitness {
        bytes32 channelId;
    }

    /// A Permit2 deposit: `permitWitnessTransferFrom` with a `DepositWitness` (spender: the
    /// Permit2 deposit collector; domain `{name: "Permit2", chainId, verifyingContract: Permit2}`).
    #[derive(Debug, PartialEq, Eq)]
    struct PermitWitnessTransferFrom {
        TokenPermissions permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        DepositWitness witness;
    }

    /// A voucher as the contract takes it: the full config instead of the channel id.
    #[derive(Debug, PartialEq, Eq)]
    struct ChannelVoucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    /// One claim: a voucher, the payer's signature of it, and the new claimed total.
    #[derive(Debug, PartialEq, Eq)]
    struct VoucherClaim {
        ChannelVoucher voucher;
        bytes signature;
        uint128 totalClaimed;
    }

    /// `x402BatchSettlement`.
    #[derive(Debug, PartialEq, Eq)]
    interface IX402BatchSettlement {
        function deposit(ChannelConfig config, uint128 amount, address collector, bytes collectorData);
        function claim(VoucherClaim[] voucherClaims);
        function claimWithSignature(VoucherClaim[] voucherClaims, bytes authorizerSignature);
        function settle(address receiver, address token);
        function initiateWithdraw(ChannelConfig config, uint128 amount);
        function finalizeWithdraw(ChannelConfig config);
        function refund(ChannelConfig config, uint128 amount);
        function refundWithSignature(ChannelConfig config, uint128 amount, uint256 nonce, bytes receiverAuthorizerSignature);
        function multicall(bytes[] data) returns (bytes[] results);
        function getChannelId(ChannelConfig config) view returns (bytes32);
        function channels(bytes32 channelId) view returns (uint128 balance, uint128 totalClaimed);
        function pendingWithdrawals(bytes32 channelId) view returns (uint128 amount, uint40 initiatedAt);
        function refundNonce(bytes32 channelId) view returns (uint256);
        function receivers(address receiver, address token) view returns (uint128 totalClaimed, uint128 totalSettled);

        event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    }

    /// The `collectorData` of an ERC-3009 deposit: `abi.encode(validAfter, validBefore, salt,
    /// signature)`.
    #[derive(Debug, PartialEq, Eq)]
    struct Erc3009CollectorData {
        uint256 validAfter;
        uint256 validBefore;
        uint256 salt;
        bytes signature;
    }

    /// Multicall3 (only the call the reference facilitator makes).
    #[derive(Debug, PartialEq, Eq)]
    interface IMulticall3 {
        struct Call {
            address target;
            bytes callData;
        }
        struct Result {
            bool success;
            bytes returnData;
        }
        function tryAggregate(bool requireSuccess, Call[] calls) returns (Result[] returnData);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{SolCall, SolEvent};

    #[test]
    fn selectors_are_the_contracts() {
        use IX402BatchSettlement as I;
        let cases: [([u8; 4], u32); 13] = [
            (I::depositCall::SELECTOR, 0x140f1e75),
            (I::claimCall::SELECTOR, 0x29237b0c),
            (I::claimWithSignatureCall::SELECTOR, 0xe43ce1f2),
            (I::settleCall::SELECTOR, 0x9db32a8f),
            (I::initiateWithdrawCall::SELECTOR, 0xcf5cf3dc),
            (I::finalizeWithdrawCall::SELECTOR, 0xe88377b1),
            (I::refundCall::SELECTOR, 0xdce4bfae),
            (I::refundWithSignatureCall::SELECTOR, 0xb77433e9),
            (I::multicallCall::SELECTOR, 0xac9650d8),
            (I::getChannelIdCall::SELECTOR, 0x5e5e0b87),
            (I::channelsCall::SELECTOR, 0x7a7ebd7b),
            (I::pendingWithdrawalsCall::SELECTOR, 0xb7f06ebe),
            (I::refundNonceCall::SELECTOR, 0xf0dc792e),
        ];
        for (sel, want) in cases {
            assert_eq!(u32::from_be_bytes(sel), want);
        }
        assert_eq!(u32::from_be_bytes(I::receiversCall::SELECTOR), 0x21ff6389);
        assert_eq!(
            u32::from_be_bytes(IMulticall3::tryAggregateCall::SELECTOR),
            0xbce38bd7
        );
        assert_eq!(
            I::Settled::SIGNATURE_HASH,
            alloy_primitives::b256!(
                "7337b4386b690fdb8ba66905b92b9d45d33bc6626ee2620c905fb150ec0cc47d"
            )
        );
    }
}
