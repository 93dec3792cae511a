// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @notice The EIP-3009 entry point the collector uses: receiveWithAuthorization with the signature as bytes
/// (USDC v2.2's overload, selector 0x88b7ab63), which only the payee (`to`) may submit.
interface IReceiveWithAuthorization {
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;
}

/// @title TestERC3009DepositCollector
/// @notice Local-chain stand-in for the batch-settlement scheme's `ERC3009DepositCollector` (x402-foundation/x402
/// `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, deposit with `assetTransferMethod`
/// "eip3009"), written for this repository's tests. The chain scripts place its runtime code at the canonical
/// address 0x4020806089470a89826cB9fB1f4059150b550004, built with the canonical batch-settlement address as
/// its immutable `x402BatchSettlement`.
///
/// `collect` is called by the batch-settlement contract inside `deposit`. It pulls `amount` from the payer
/// with the payer's ReceiveWithAuthorization (to = this collector) whose nonce is bound to the channel,
/// keccak256(abi.encode(channelId, salt)), then forwards the tokens to the batch-settlement contract.
/// collectorData = abi.encode(uint256 validAfter, uint256 validBefore, uint256 salt, bytes signature).
contract TestERC3009DepositCollector {
    /// @notice The only contract allowed to call `collect`, and where the collected tokens go.
    address public immutable x402BatchSettlement;

    error OnlyX402BatchSettlement();
    error InvalidX402BatchSettlementAddress();
    error SafeERC20FailedOperation(address token);

    constructor(address batchSettlement) {
        if (batchSettlement == address(0)) revert InvalidX402BatchSettlementAddress();
        x402BatchSettlement = batchSettlement;
    }

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external
    {
        if (msg.sender != x402BatchSettlement) revert OnlyX402BatchSettlement();
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(collectorData, (uint256, uint256, uint256, bytes));
        // The token's own checks (time window, unused nonce, signature by `payer`) apply; its revert bubbles up.
        IReceiveWithAuthorization(token).receiveWithAuthorization(
            payer, address(this), amount, validAfter, validBefore, keccak256(abi.encode(channelId, salt)), signature
        );

        (bool ok, bytes memory out) = token.call(abi.encodeWithSelector(0xa9059cbb, x402BatchSettlement, amount));
        if (!ok || (out.length == 0 ? token.code.length == 0 : out.length < 32 || abi.decode(out, (uint256)) != 1)) {
            revert SafeERC20FailedOperation(token);
        }
    }
}
