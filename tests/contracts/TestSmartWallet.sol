// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

/// @title TestSmartWallet
/// @notice Minimal ERC-1271 contract account for tests: a signature is valid when it is a 65-byte
/// r||s||v ECDSA signature of the given hash by `owner`. It holds tokens but cannot move them itself;
/// tokens leave it only through EIP-3009 authorizations signed by the owner.
contract TestSmartWallet {
    /// @dev bytes4(keccak256("isValidSignature(bytes32,bytes)")).
    bytes4 private constant MAGIC_VALUE = 0x1626ba7e;

    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice ERC-1271: returns the magic value if `signature` by `owner` signs `hash`, 0xffffffff otherwise.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) {
            return 0xffffffff;
        }
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? MAGIC_VALUE : bytes4(0xffffffff);
    }
}
