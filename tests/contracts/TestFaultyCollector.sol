// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

interface ITransfer {
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title TestFaultyCollector
/// @notice A deposit collector for negative tests of the batch-settlement stand-in: it ignores the payer and
/// instead pays the caller an arbitrary amount out of its own token balance, and can call back into the
/// caller first. collectorData = abi.encode(uint256 deliver, bytes callback): `callback`, when not empty, is
/// sent to msg.sender (its revert bubbles up); then `deliver` tokens go to msg.sender.
/// Used to show that `deposit` checks the exact balance delta and is not reentrant.
contract TestFaultyCollector {
    function collect(address, address token, uint256, bytes32, bytes calldata collectorData) external {
        (uint256 deliver, bytes memory callback) = abi.decode(collectorData, (uint256, bytes));
        if (callback.length != 0) {
            (bool ok, bytes memory out) = msg.sender.call(callback);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(out, 0x20), mload(out))
                }
            }
        }
        if (deliver != 0) require(ITransfer(token).transfer(msg.sender, deliver), "transfer failed");
    }
}
