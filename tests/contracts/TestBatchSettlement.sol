// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @notice What a deposit collector must do: move exactly `amount` of `token` from `payer` to the caller
/// (the batch-settlement contract), using whatever authorization `collectorData` carries.
interface IDepositCollectorLike {
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external;
}

interface IERC20BalanceOf {
    function balanceOf(address account) external view returns (uint256);
}

/// @title TestBatchSettlement
/// @notice Local-chain stand-in for `x402BatchSettlement`, the escrow contract of the x402 `batch-settlement`
/// scheme on EVM (x402-foundation/x402 `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`). Written
/// for this repository's tests; it reproduces the canonical contract's ABI (functions, getters, events, custom
/// errors, EIP-712 domain and type hashes) and the rules and order of checks that clients and facilitators
/// observe, so that the reference TypeScript SDK (its batch-settlement client and facilitator) runs against it
/// unchanged. The chain scripts place its runtime code at the canonical address
/// 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003.
///
/// The model: a channel is identified by the EIP-712 hash of its immutable ChannelConfig. The payer deposits
/// into it (through a collector that pulls the tokens), signs cumulative vouchers off chain; the receiver side
/// records the highest voucher on chain (`claim*`, no token moves), then `settle` pays all claimed-but-unpaid
/// amounts of a (receiver, token) pair at once. Unclaimed escrow goes back to the payer by a cooperative refund
/// (receiver side) or a timed withdrawal (payer side, after `withdrawDelay`).
///
/// Designed for `anvil_setCode` placement: no constructor and no storage that needs initialising; the EIP-712
/// domain separator is computed from `address(this)` and `block.chainid` on every use; the reentrancy lock
/// lives in transient storage (EIP-1153, as the canonical contract).
contract TestBatchSettlement {
    // ------------------------------------------------------------------------------------------ types

    struct ChannelConfig {
        address payer;
        address payerAuthorizer; // voucher signer (ECDSA only); 0 = the payer signs (ECDSA or ERC-1271)
        address receiver;
        address receiverAuthorizer; // signs claim batches and refunds for the receiver
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    struct ChannelState {
        uint128 balance; // deposits minus refunds and timed withdrawals; claims and settlements leave it alone
        uint128 totalClaimed; // cumulative amount recorded for the receiver
    }

    struct WithdrawalState {
        uint128 amount;
        uint40 initiatedAt; // 0 = no withdrawal pending
    }

    struct ReceiverState {
        uint128 totalClaimed;
        uint128 totalSettled;
    }

    struct Voucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    struct VoucherClaim {
        Voucher voucher;
        bytes signature; // the payer side's signature of Voucher{channelId, maxClaimableAmount}
        uint128 totalClaimed; // the new cumulative total for the channel (not a delta)
    }

    // ------------------------------------------------------------------------------------------ constants

    uint40 public constant MIN_WITHDRAW_DELAY = 900; // 15 minutes
    uint40 public constant MAX_WITHDRAW_DELAY = 2_592_000; // 30 days

    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 public constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 public constant CLAIM_ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 public constant CLAIM_BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );

    string private constant DOMAIN_NAME = "x402 Batch Settlement";
    string private constant DOMAIN_VERSION = "1";
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @dev secp256k1n / 2: signatures with a larger s are the malleable twin of a canonical one (EIP-2).
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    /// @dev ERC-1271 isValidSignature(bytes32,bytes) selector, also its success value.
    bytes4 private constant ERC1271_MAGIC = 0x1626ba7e;

    // ------------------------------------------------------------------------------------------ storage

    mapping(bytes32 channelId => ChannelState) public channels;
    /// @notice Next nonce a `Refund` signature must carry; every executed refund (signed or direct) bumps it.
    mapping(bytes32 channelId => uint256) public refundNonce;
    mapping(bytes32 channelId => WithdrawalState) public pendingWithdrawals;
    mapping(address receiver => mapping(address token => ReceiverState)) public receivers;

    bool private transient locked;

    // ------------------------------------------------------------------------------------------ events

    event ChannelCreated(bytes32 indexed channelId, ChannelConfig config);
    event ChannelClosed(bytes32 indexed channelId, ChannelConfig config);
    event Deposited(bytes32 indexed channelId, address indexed sender, uint128 amount, uint128 newBalance);
    event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 newTotalClaimed);
    event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    event Refunded(bytes32 indexed channelId, address indexed sender, uint128 amount);
    event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 finalizeAfter);
    event WithdrawFinalized(bytes32 indexed channelId, address indexed sender, uint128 amount);

    // ------------------------------------------------------------------------------------------ errors

    error InvalidChannel();
    error ZeroDeposit();
    error DepositOverflow();
    error InvalidSignature();
    error NotReceiverAuthorizer();
    error NotAuthorizedToClaim();
    error NotAuthorizedToRefund();
    error ClaimExceedsCeiling();
    error ClaimExceedsBalance();
    error WithdrawalAlreadyPending();
    error WithdrawalNotPending();
    error NotAuthorizedToFinalizeWithdraw();
    error WithdrawDelayNotElapsed();
    error NothingToWithdraw();
    error WithdrawAmountExceedsAvailable();
    error WithdrawDelayOutOfRange();
    error EmptyBatch();
    error DepositCollectionFailed();
    error InvalidCollector();
    error InvalidRefundNonce();
    error ZeroRefund();
    // Raised with the same names and arguments as the OpenZeppelin helpers the canonical contract uses.
    error ReentrancyGuardReentrantCall();
    error SafeERC20FailedOperation(address token);
    error ECDSAInvalidSignature();
    error ECDSAInvalidSignatureLength(uint256 length);
    error ECDSAInvalidSignatureS(bytes32 s);
    error FailedCall();

    modifier nonReentrant() {
        if (locked) revert ReentrancyGuardReentrantCall();
        locked = true;
        _;
        locked = false;
    }

    // ------------------------------------------------------------------------------------------ deposit

    /// @notice Adds `amount` to the channel of `config`, pulled from the payer by `collector` (any contract;
    /// it must raise this contract's token balance by exactly `amount`). The first deposit creates the channel.
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external
        nonReentrant
    {
        if (
            config.payer == address(0) || config.receiver == address(0) || config.receiverAuthorizer == address(0)
                || config.token == address(0)
        ) revert InvalidChannel();
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert WithdrawDelayOutOfRange();
        }
        if (amount == 0) revert ZeroDeposit();
        if (collector == address(0)) revert InvalidCollector();

        bytes32 channelId = getChannelId(config);
        ChannelState storage state = channels[channelId];
        uint128 newBalance;
        unchecked {
            // Checked by hand so that the overflow has its own error instead of a panic.
            if (uint256(state.balance) + amount > type(uint128).max) revert DepositOverflow();
            newBalance = state.balance + amount;
        }
        state.balance = newBalance;

        uint256 held = IERC20BalanceOf(config.token).balanceOf(address(this));
        IDepositCollectorLike(collector).collect(config.payer, config.token, amount, channelId, collectorData);
        if (IERC20BalanceOf(config.token).balanceOf(address(this)) != held + amount) revert DepositCollectionFailed();

        if (newBalance == amount && state.totalClaimed == 0) emit ChannelCreated(channelId, config);
        emit Deposited(channelId, msg.sender, amount, newBalance);
    }

    // ------------------------------------------------------------------------------------------ claims

    /// @notice Records vouchers for the receiver side; the caller must be each row's receiver or receiverAuthorizer.
    function claim(VoucherClaim[] calldata voucherClaims) external nonReentrant {
        if (voucherClaims.length == 0) revert EmptyBatch();
        for (uint256 i; i < voucherClaims.length; ++i) {
            ChannelConfig calldata config = voucherClaims[i].voucher.channel;
            if (msg.sender != config.receiverAuthorizer && msg.sender != config.receiver) {
                revert NotAuthorizedToClaim();
            }
            _applyClaim(voucherClaims[i]);
        }
    }

    /// @notice Records vouchers on anyone's submission, authorized by the rows' common receiverAuthorizer's
    /// EIP-712 signature of the ClaimBatch (see getClaimBatchDigest).
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature)
        external
        nonReentrant
    {
        if (voucherClaims.length == 0) revert EmptyBatch();
        address authorizer = voucherClaims[0].voucher.channel.receiverAuthorizer;
        if (!_isValidSignatureNow(authorizer, getClaimBatchDigest(voucherClaims), authorizerSignature)) {
            revert InvalidSignature();
        }
        for (uint256 i; i < voucherClaims.length; ++i) {
            if (voucherClaims[i].voucher.channel.receiverAuthorizer != authorizer) revert NotReceiverAuthorizer();
            _applyClaim(voucherClaims[i]);
        }
    }

    /// @notice Pays `receiver` everything claimed for it in `token` and not yet paid. Anyone may call; a
    /// call with nothing to pay does nothing (no event).
    function settle(address receiver, address token) external nonReentrant {
        ReceiverState storage totals = receivers[receiver][token];
        uint128 claimed = totals.totalClaimed;
        uint128 due = claimed - totals.totalSettled;
        if (due == 0) return;
        totals.totalSettled = claimed;
        _transfer(token, receiver, due);
        emit Settled(receiver, token, msg.sender, due);
    }

    // ------------------------------------------------------------------------------------------ timed withdrawal

    /// @notice Payer side: announce the withdrawal of `amount` of the unclaimed escrow, possible once
    /// `withdrawDelay` has passed. The receiver side can still claim in the meantime.
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (msg.sender != config.payer && msg.sender != config.payerAuthorizer) revert InvalidChannel();
        if (amount == 0) revert NothingToWithdraw();
        bytes32 channelId = getChannelId(config);
        WithdrawalState storage pending = pendingWithdrawals[channelId];
        if (pending.initiatedAt != 0) revert WithdrawalAlreadyPending();
        ChannelState storage state = channels[channelId];
        if (amount > state.balance - state.totalClaimed) revert WithdrawAmountExceedsAvailable();

        uint40 now40 = uint40(block.timestamp);
        pending.amount = amount;
        pending.initiatedAt = now40;
        emit WithdrawInitiated(channelId, amount, now40 + config.withdrawDelay);
    }

    /// @notice Payer side, after the delay: pays the payer the announced amount, capped at what is unclaimed now.
    function finalizeWithdraw(ChannelConfig calldata config) external nonReentrant {
        if (msg.sender != config.payer && msg.sender != config.payerAuthorizer) {
            revert NotAuthorizedToFinalizeWithdraw();
        }
        bytes32 channelId = getChannelId(config);
        WithdrawalState storage pending = pendingWithdrawals[channelId];
        uint256 initiatedAt = pending.initiatedAt;
        if (initiatedAt == 0) revert WithdrawalNotPending();
        if (block.timestamp < initiatedAt + config.withdrawDelay) revert WithdrawDelayNotElapsed();

        ChannelState storage state = channels[channelId];
        uint128 unclaimed = state.balance - state.totalClaimed;
        uint128 paid = pending.amount < unclaimed ? pending.amount : unclaimed;
        delete pendingWithdrawals[channelId];
        state.balance -= paid;

        emit WithdrawFinalized(channelId, msg.sender, paid);
        if (state.balance == 0 && state.totalClaimed == 0) emit ChannelClosed(channelId, config);
        if (paid != 0) _transfer(config.token, config.payer, paid);
    }

    // ------------------------------------------------------------------------------------------ refunds

    /// @notice Receiver side: give back up to `amount` of the unclaimed escrow to the payer.
    function refund(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (msg.sender != config.receiverAuthorizer && msg.sender != config.receiver) revert NotAuthorizedToRefund();
        _refund(config, amount);
    }

    /// @notice Same, submitted by anyone with the receiverAuthorizer's signature of Refund{channelId, nonce,
    /// amount}, where nonce must be the channel's current refundNonce.
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external nonReentrant {
        bytes32 channelId = getChannelId(config);
        if (nonce != refundNonce[channelId]) revert InvalidRefundNonce();
        if (!_isValidSignatureNow(
                config.receiverAuthorizer, getRefundDigest(channelId, nonce, amount), receiverAuthorizerSignature
            )) revert InvalidSignature();
        _refund(config, amount);
    }

    // ------------------------------------------------------------------------------------------ batching

    /// @notice Runs each element of `data` as a call to this contract (delegatecall, same sender) in order;
    /// the first failure reverts them all with its own revert data.
    function multicall(bytes[] calldata data) external returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i; i < data.length; ++i) {
            (bool ok, bytes memory out) = address(this).delegatecall(data[i]);
            if (!ok) {
                if (out.length == 0) revert FailedCall();
                assembly ("memory-safe") {
                    revert(add(out, 0x20), mload(out))
                }
            }
            results[i] = out;
        }
    }

    // ------------------------------------------------------------------------------------------ views

    /// @notice The channel id: the EIP-712 typed-data hash of `config` in this contract's domain.
    function getChannelId(ChannelConfig calldata config) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(CHANNEL_CONFIG_TYPEHASH, config)));
    }

    /// @notice What the payer side signs: Voucher{channelId, maxClaimableAmount}.
    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, maxClaimableAmount)));
    }

    /// @notice What the receiverAuthorizer signs for refundWithSignature: Refund{channelId, nonce, amount}.
    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) public view returns (bytes32) {
        return _typedDataHash(keccak256(abi.encode(REFUND_TYPEHASH, channelId, nonce, amount)));
    }

    /// @notice What the receiverAuthorizer signs for claimWithSignature: ClaimBatch{claims: ClaimEntry[]} with
    /// one ClaimEntry{channelId, maxClaimableAmount, totalClaimed} per row (EIP-712 array encoding: the hash of
    /// the concatenated entry hashes; keccak256("") for no rows).
    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) public view returns (bytes32) {
        bytes32[] memory entries = new bytes32[](voucherClaims.length);
        for (uint256 i; i < voucherClaims.length; ++i) {
            VoucherClaim calldata row = voucherClaims[i];
            entries[i] = keccak256(
                abi.encode(
                    CLAIM_ENTRY_TYPEHASH, getChannelId(row.voucher.channel), row.voucher.maxClaimableAmount, row.totalClaimed
                )
            );
        }
        return _typedDataHash(keccak256(abi.encode(CLAIM_BATCH_TYPEHASH, keccak256(abi.encodePacked(entries)))));
    }

    /// @notice EIP-5267 description of the EIP-712 domain (name, version, chainId, verifyingContract).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", DOMAIN_NAME, DOMAIN_VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------------------------------ internals

    /// @dev Raises the channel's recorded total to `row.totalClaimed`. A row that does not raise it is skipped
    /// without any check (so a replayed or stale voucher is harmless and a batch is not spoiled by it).
    function _applyClaim(VoucherClaim calldata row) private {
        ChannelConfig calldata config = row.voucher.channel;
        bytes32 channelId = getChannelId(config);
        ChannelState storage state = channels[channelId];
        uint128 previous = state.totalClaimed;
        uint128 total = row.totalClaimed;
        if (total <= previous) return;
        if (total > row.voucher.maxClaimableAmount) revert ClaimExceedsCeiling();
        if (total > state.balance) revert ClaimExceedsBalance();

        bytes32 digest = getVoucherDigest(channelId, row.voucher.maxClaimableAmount);
        if (config.payerAuthorizer != address(0)) {
            // A delegated voucher key: plain ECDSA, malformed signatures revert with their own error.
            if (_recoverStrict(digest, row.signature) != config.payerAuthorizer) revert InvalidSignature();
        } else if (!_isValidSignatureNow(config.payer, digest, row.signature)) {
            revert InvalidSignature();
        }

        uint128 delta = total - previous;
        state.totalClaimed = total;
        receivers[config.receiver][config.token].totalClaimed += delta;
        emit Claimed(channelId, msg.sender, delta, total);
    }

    /// @dev Shared by both refund paths: bumps the refund nonce (even when nothing can be refunded), pays the
    /// payer up to the unclaimed escrow, and shrinks or cancels a pending timed withdrawal by what was paid.
    function _refund(ChannelConfig calldata config, uint128 amount) private {
        if (amount == 0) revert ZeroRefund();
        bytes32 channelId = getChannelId(config);
        unchecked {
            ++refundNonce[channelId];
        }
        ChannelState storage state = channels[channelId];
        uint128 unclaimed = state.balance - state.totalClaimed;
        uint128 paid = amount < unclaimed ? amount : unclaimed;
        if (paid == 0) return;
        state.balance -= paid;

        WithdrawalState storage pending = pendingWithdrawals[channelId];
        if (pending.initiatedAt != 0) {
            if (paid >= pending.amount) delete pendingWithdrawals[channelId];
            else pending.amount -= paid;
        }

        emit Refunded(channelId, msg.sender, paid);
        if (state.balance == 0 && state.totalClaimed == 0) emit ChannelClosed(channelId, config);
        _transfer(config.token, config.payer, paid);
    }

    function _typedDataHash(bytes32 structHash) private view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256(bytes(DOMAIN_NAME)), keccak256(bytes(DOMAIN_VERSION)), block.chainid, address(this)
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }

    /// @dev ERC-20 transfer that accepts tokens returning true or nothing, and rejects a call to an address
    /// without code.
    function _transfer(address token, address to, uint256 amount) private {
        (bool ok, bytes memory out) = token.call(abi.encodeWithSelector(0xa9059cbb, to, amount));
        bool accepted = ok && (out.length == 0 ? token.code.length != 0 : out.length >= 32 && abi.decode(out, (uint256)) == 1);
        if (!accepted) revert SafeERC20FailedOperation(token);
    }

    /// @dev r, s, v of a 65-byte r||s||v signature; `valid` is false for any other length.
    function _split(bytes calldata signature) private pure returns (bool valid, bytes32 r, bytes32 s, uint8 v) {
        if (signature.length != 65) return (false, 0, 0, 0);
        r = bytes32(signature[0:32]);
        s = bytes32(signature[32:64]);
        v = uint8(signature[64]);
        valid = true;
    }

    /// @dev ECDSA recovery that reverts on anything but a canonical 65-byte signature by a real key.
    function _recoverStrict(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        (bool valid, bytes32 r, bytes32 s, uint8 v) = _split(signature);
        if (!valid) revert ECDSAInvalidSignatureLength(signature.length);
        if (uint256(s) > HALF_CURVE_ORDER) revert ECDSAInvalidSignatureS(s);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert ECDSAInvalidSignature();
    }

    /// @dev Whether `signer` signed `digest`: the canonical-ECDSA signer for an address without code (a
    /// malformed signature is simply not valid), ERC-1271's answer for a contract.
    function _isValidSignatureNow(address signer, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (signer.code.length == 0) {
            (bool valid, bytes32 r, bytes32 s, uint8 v) = _split(signature);
            if (!valid || uint256(s) > HALF_CURVE_ORDER) return false;
            address recovered = ecrecover(digest, v, r, s);
            return recovered != address(0) && recovered == signer;
        }
        (bool ok, bytes memory out) = signer.staticcall(abi.encodeWithSelector(ERC1271_MAGIC, digest, signature));
        return ok && out.length >= 32 && abi.decode(out, (bytes32)) == bytes32(ERC1271_MAGIC);
    }
}
