// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title TestMulticall3
/// @notice The part of Multicall3 (https://github.com/mds1/multicall3, deployed at
/// 0xcA11bde05977b3631167028862bE2a173976CA11 on most chains) that the x402 batch-settlement facilitator uses
/// to read channel state in one round trip: `tryAggregate`. A fresh anvil has no code at that address; the
/// chain scripts install this one there when it is empty. Same ABI and semantics as Multicall3's function:
/// each call is made in order from this contract; with `requireSuccess` a failing call reverts the whole
/// batch, otherwise its failure and revert data are reported in place.
contract TestMulticall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function tryAggregate(bool requireSuccess, Call[] calldata calls)
        external
        payable
        returns (Result[] memory returnData)
    {
        returnData = new Result[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool success, bytes memory out) = calls[i].target.call(calls[i].callData);
            if (requireSuccess && !success) revert("Multicall3: call failed");
            returnData[i] = Result(success, out);
        }
    }
}
