//! Errors with stable x402 reason codes.
//!
//! Inside the crate every failure is an [`Error`]: a [`Reason`] (the machine-readable code a
//! client, a facilitator or an HTTP body carries) plus a human message with the context.
//! Reason strings are those of the x402 reference implementation where one exists
//! (x402-foundation/x402 `specs/x402-specification-v2.md` §9 "Error Handling" and the reference
//! facilitator's `typescript/packages/mechanisms/evm/src/exact/facilitator/errors.ts`;
//! `docs/protocol.md`, "Reason codes"); the few this project adds are marked.

use alloc::string::{String, ToString};
use core::fmt;

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, )*) => {
        /// A stable x402 reason code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The wire string, e.g. `"invalid_exact_evm_signature"`.
            // Inlined: a constant reason folds to its own string, so a bundle that only meets a
            // few reasons keeps only their codes, not the table of every code.
            #[inline(always)]
            pub const fn as_str(self) -> &'static str {
                self.code().code
            }

            /// The reason with its code, one static per reason ([`Error`] points to it, so
            /// `Error::code` needs no table of every code).
            #[inline(always)]
            pub(crate) const fn code(self) -> &'static Code {
                match self { $(Reason::$variant => &Code { reason: Reason::$variant, code: $code },)* }
            }

            /// Parses a wire string; `None` for a code this crate does not know.
            pub fn from_code(code: &str) -> Option<Reason> {
                match code { $($code => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    // ---- payload and protocol (x402 spec v2 §9) ----
    /// The payment payload is malformed (bad base64, JSON, field format).
    InvalidPayload = "invalid_payload",
    /// The payment requirements are malformed, or `accepted` matches none of the server's.
    InvalidPaymentRequirements = "invalid_payment_requirements",
    /// The `x402Version` is not the one expected here.
    InvalidX402Version = "invalid_x402_version",
    /// The network is unknown or not supported.
    InvalidNetwork = "invalid_network",
    /// The scheme is malformed.
    InvalidScheme = "invalid_scheme",
    /// The scheme is not supported.
    UnsupportedScheme = "unsupported_scheme",
    /// The payer's balance does not cover the amount.
    InsufficientFunds = "insufficient_funds",
    /// The on-chain state does not allow the operation.
    InvalidTransactionState = "invalid_transaction_state",
    /// An unexpected failure while verifying.
    UnexpectedVerifyError = "unexpected_verify_error",
    /// An unexpected failure while settling.
    UnexpectedSettleError = "unexpected_settle_error",
    /// The transaction was broadcast but its outcome is not known yet: do not settle again.
    SettlementPending = "settlement_pending",
    /// The same authorization is already being settled.
    DuplicateSettlement = "duplicate_settlement",

    // ---- exact EVM scheme (reference facilitator errors.ts) ----
    /// `scheme` is not `exact`.
    InvalidExactEvmScheme = "invalid_exact_evm_scheme",
    /// `accepted.network` differs from the requirement's network.
    InvalidExactEvmNetworkMismatch = "invalid_exact_evm_network_mismatch",
    /// `extra.name` or `extra.version` (the EIP-712 domain) is missing.
    InvalidExactEvmMissingEip712Domain = "invalid_exact_evm_missing_eip712_domain",
    /// `authorization.to` (or `accepted.payTo`) differs from the requirement's `payTo`.
    InvalidExactEvmRecipientMismatch = "invalid_exact_evm_recipient_mismatch",
    /// The signature is malformed, high-s, has a bad `v`, or does not recover to `from`.
    InvalidExactEvmSignature = "invalid_exact_evm_signature",
    /// `validBefore` is in the past (or too close to now to settle).
    InvalidExactEvmPayloadAuthorizationValidBefore =
        "invalid_exact_evm_payload_authorization_valid_before",
    /// `validAfter` is in the future.
    InvalidExactEvmPayloadAuthorizationValidAfter =
        "invalid_exact_evm_payload_authorization_valid_after",
    /// `authorization.value` does not pay the required amount.
    InvalidExactEvmAuthorizationValue = "invalid_exact_evm_authorization_value",
    /// A smart-wallet signature from a wallet that is not deployed.
    InvalidExactEvmPayloadUndeployedSmartWallet =
        "invalid_exact_evm_payload_undeployed_smart_wallet",
    /// The settlement transaction reverted.
    InvalidExactEvmTransactionFailed = "invalid_exact_evm_transaction_failed",
    /// The authorization nonce was already used or canceled on chain.
    InvalidExactEvmNonceAlreadyUsed = "invalid_exact_evm_nonce_already_used",
    /// The payer's token balance is below the amount.
    InvalidExactEvmInsufficientBalance = "invalid_exact_evm_insufficient_balance",
    /// Simulating the transfer failed.
    InvalidExactEvmTransactionSimulationFailed = "invalid_exact_evm_transaction_simulation_failed",
    /// `accepted.asset` differs from the requirement's asset (this project; the reference
    /// only notices it through the EIP-712 domain).
    InvalidExactEvmAssetMismatch = "invalid_exact_evm_asset_mismatch",

    // ---- batch-settlement EVM scheme (x402 specs/schemes/batch-settlement/scheme_batch_settlement_evm.md,
    // "Error codes"; the reference SDK's batch-settlement errors.ts) ----
    /// `scheme` is not `batch-settlement`.
    InvalidBatchSettlementEvmScheme = "invalid_batch_settlement_evm_scheme",
    /// `accepted.network` differs from the requirement's network.
    InvalidBatchSettlementEvmNetworkMismatch = "invalid_batch_settlement_evm_network_mismatch",
    /// `extra.name` / `extra.version` (the token's EIP-712 domain) is missing.
    InvalidBatchSettlementEvmMissingEip712Domain = "invalid_batch_settlement_evm_missing_eip712_domain",
    /// `payload.type` is missing or not one this side accepts.
    InvalidBatchSettlementEvmPayloadType = "invalid_batch_settlement_evm_payload_type",
    /// A `deposit` payload is malformed (spec).
    InvalidBatchSettlementEvmDepositPayload = "invalid_batch_settlement_evm_deposit_payload",
    /// A `voucher` payload is malformed (spec).
    InvalidBatchSettlementEvmVoucherPayload = "invalid_batch_settlement_evm_voucher_payload",
    /// A `refund` payload is malformed, or its voucher is not at the charged amount.
    InvalidBatchSettlementEvmRefundPayload = "invalid_batch_settlement_evm_refund_payload",
    /// A `claim` payload is malformed (spec).
    InvalidBatchSettlementEvmClaimPayload = "invalid_batch_settlement_evm_claim_payload",
    /// A `settle` payload is malformed (spec).
    InvalidBatchSettlementEvmSettlePayload = "invalid_batch_settlement_evm_settle_payload",
    /// `voucher.channelId` is not `0x` and 64 hex digits (reference SDK).
    InvalidBatchSettlementEvmChannelIdInvalid = "invalid_batch_settlement_evm_channel_id_invalid",
    /// The channel config does not hash to `voucher.channelId` (rule 1).
    InvalidBatchSettlementEvmChannelIdMismatch = "invalid_batch_settlement_evm_channel_id_mismatch",
    /// `channelConfig.token` differs from the requirement's asset (rule 2).
    InvalidBatchSettlementEvmTokenMismatch = "invalid_batch_settlement_evm_token_mismatch",
    /// `channelConfig.receiver` differs from the requirement's `payTo` (rule 3).
    InvalidBatchSettlementEvmReceiverMismatch = "invalid_batch_settlement_evm_receiver_mismatch",
    /// `channelConfig.receiverAuthorizer` differs from `extra.receiverAuthorizer` (rule 4).
    InvalidBatchSettlementEvmReceiverAuthorizerMismatch =
        "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
    /// `channelConfig.withdrawDelay` differs from `extra.withdrawDelay` (rule 5).
    InvalidBatchSettlementEvmWithdrawDelayMismatch = "invalid_batch_settlement_evm_withdraw_delay_mismatch",
    /// `withdrawDelay` is outside 900..=2592000 seconds.
    InvalidBatchSettlementEvmWithdrawDelayOutOfRange =
        "invalid_batch_settlement_evm_withdraw_delay_out_of_range",
    /// The voucher signature is malformed or does not recover to `payerAuthorizer` (rule 6).
    InvalidBatchSettlementEvmVoucherSignature = "invalid_batch_settlement_evm_voucher_signature",
    /// The channel has no balance (rule 7).
    InvalidBatchSettlementEvmChannelNotFound = "invalid_batch_settlement_evm_channel_not_found",
    /// The payer's token balance does not cover the deposit (rule 8).
    InvalidBatchSettlementEvmInsufficientBalance = "invalid_batch_settlement_evm_insufficient_balance",
    /// `maxClaimableAmount` is above the channel balance (plus the deposit) (rule 9).
    InvalidBatchSettlementEvmCumulativeExceedsBalance =
        "invalid_batch_settlement_evm_cumulative_exceeds_balance",
    /// `maxClaimableAmount` is not above what is already claimed (refund: below it) (rule 10).
    InvalidBatchSettlementEvmCumulativeBelowClaimed =
        "invalid_batch_settlement_evm_cumulative_below_claimed",
    /// The voucher is not the server's charged total plus this request's price: the 402
    /// carries the server's channel state so the client can resync.
    InvalidBatchSettlementEvmCumulativeAmountMismatch =
        "invalid_batch_settlement_evm_cumulative_amount_mismatch",
    /// Another request on the same channel is in progress.
    InvalidBatchSettlementEvmChannelBusy = "invalid_batch_settlement_evm_channel_busy",
    /// The amount to charge is above what the voucher signs for.
    InvalidBatchSettlementEvmChargeExceedsSignedCumulative =
        "invalid_batch_settlement_evm_charge_exceeds_signed_cumulative",
    /// The server holds no record of the channel where one is needed.
    InvalidBatchSettlementEvmMissingChannel = "invalid_batch_settlement_evm_missing_channel",
    /// Nothing is left to refund.
    InvalidBatchSettlementEvmRefundNoBalance = "invalid_batch_settlement_evm_refund_no_balance",
    /// The refund amount is zero, malformed or above what can be refunded.
    InvalidBatchSettlementEvmRefundAmountInvalid = "invalid_batch_settlement_evm_refund_amount_invalid",
    /// The deposit authorization's `validBefore` is past (or too close to now).
    InvalidBatchSettlementEvmPayloadAuthorizationValidBefore =
        "invalid_batch_settlement_evm_payload_authorization_valid_before",
    /// The deposit authorization's `validAfter` is in the future.
    InvalidBatchSettlementEvmPayloadAuthorizationValidAfter =
        "invalid_batch_settlement_evm_payload_authorization_valid_after",
    /// The `ReceiveWithAuthorization` signature does not recover to the payer.
    InvalidBatchSettlementEvmReceiveAuthorizationSignature =
        "invalid_batch_settlement_evm_receive_authorization_signature",
    /// The offer asks for EIP-3009 deposits and the payload carries none.
    InvalidBatchSettlementEvmErc3009AuthorizationRequired =
        "invalid_batch_settlement_evm_erc3009_authorization_required",
    /// The offer asks for Permit2 deposits and the payload carries none.
    InvalidBatchSettlementEvmPermit2AuthorizationRequired =
        "invalid_batch_settlement_evm_permit2_authorization_required",
    /// The Permit2 spender is not the Permit2 deposit collector.
    InvalidBatchSettlementEvmPermit2InvalidSpender = "invalid_batch_settlement_evm_permit2_invalid_spender",
    /// The Permit2 permitted token or amount differs from the asset or deposit.
    InvalidBatchSettlementEvmPermit2AmountMismatch = "invalid_batch_settlement_evm_permit2_amount_mismatch",
    /// The Permit2 signature is not the payer's (or `from` is not the payer).
    InvalidBatchSettlementEvmPermit2InvalidSignature =
        "invalid_batch_settlement_evm_permit2_invalid_signature",
    /// The Permit2 deadline is past (or too close to now).
    InvalidBatchSettlementEvmPermit2DeadlineExpired =
        "invalid_batch_settlement_evm_permit2_deadline_expired",
    /// The deposit is below the offer's `extra.minDeposit` (reference SDK).
    InvalidBatchSettlementEvmDepositBelowMinDeposit =
        "invalid_batch_settlement_evm_deposit_below_min_deposit",
    /// A claim row's `receiverAuthorizer` differs from the batch signer's.
    InvalidBatchSettlementEvmAuthorizerAddressMismatch =
        "invalid_batch_settlement_evm_authorizer_address_mismatch",
    /// A channel-state read from the chain failed.
    InvalidBatchSettlementEvmRpcReadFailed =
        "invalid_batch_settlement_evm_rpc_read_failed",
    /// The deposit's simulation (`eth_call`) reverted.
    InvalidBatchSettlementEvmDepositSimulationFailed =
        "invalid_batch_settlement_evm_deposit_simulation_failed",
    /// The deposit transaction reverted or was refused.
    InvalidBatchSettlementEvmDepositTransactionFailed =
        "invalid_batch_settlement_evm_deposit_transaction_failed",
    /// The claim's simulation reverted.
    InvalidBatchSettlementEvmClaimSimulationFailed =
        "invalid_batch_settlement_evm_claim_simulation_failed",
    /// The claim transaction reverted or was refused.
    InvalidBatchSettlementEvmClaimTransactionFailed =
        "invalid_batch_settlement_evm_claim_transaction_failed",
    /// The settle's simulation reverted.
    InvalidBatchSettlementEvmSettleSimulationFailed =
        "invalid_batch_settlement_evm_settle_simulation_failed",
    /// The settle transaction reverted or was refused.
    InvalidBatchSettlementEvmSettleTransactionFailed =
        "invalid_batch_settlement_evm_settle_transaction_failed",
    /// The refund's simulation reverted.
    InvalidBatchSettlementEvmRefundSimulationFailed =
        "invalid_batch_settlement_evm_refund_simulation_failed",
    /// The refund transaction reverted or was refused.
    InvalidBatchSettlementEvmRefundTransactionFailed =
        "invalid_batch_settlement_evm_refund_transaction_failed",
    /// The receiver has claimed nothing that is not settled yet.
    InvalidBatchSettlementEvmNothingToSettle =
        "invalid_batch_settlement_evm_nothing_to_settle",
    /// No receiver-authorizer key to sign a claim or refund (reference SDK).
    InvalidBatchSettlementEvmAuthorizerNotConfigured =
        "invalid_batch_settlement_evm_authorizer_not_configured",

    // ---- sign-in-with-x extension (x402 specs/extensions/sign-in-with-x.md, @x402/extensions 2.27) ----
    /// The `SIGN-IN-WITH-X` header is not base64 JSON of a sign-in (this project: the
    /// reference throws without a code).
    InvalidSiwxPayload = "invalid_siwx_payload",
    /// `domain` is not the server's configured host.
    InvalidSiwxDomainMismatch = "invalid_siwx_domain_mismatch",
    /// `uri` is not on the server's configured origin.
    InvalidSiwxUriMismatch = "invalid_siwx_uri_mismatch",
    /// `issuedAt` is not a time.
    InvalidSiwxIssuedAt = "invalid_siwx_issued_at",
    /// `issuedAt` is older than five minutes.
    InvalidSiwxIssuedAtTooOld = "invalid_siwx_issued_at_too_old",
    /// `issuedAt` is in the future.
    InvalidSiwxIssuedAtInFuture = "invalid_siwx_issued_at_in_future",
    /// `expirationTime` is not a time.
    InvalidSiwxExpirationTime = "invalid_siwx_expiration_time",
    /// `expirationTime` has passed.
    InvalidSiwxExpired = "invalid_siwx_expired",
    /// `notBefore` is not a time.
    InvalidSiwxNotBefore = "invalid_siwx_not_before",
    /// `notBefore` has not come yet.
    InvalidSiwxNotYetValid = "invalid_siwx_not_yet_valid",
    /// The nonce is not one this server issued, or it was used already.
    InvalidSiwxNonce = "invalid_siwx_nonce",
    /// The signature does not recover to `address`.
    InvalidSiwxSignature = "invalid_siwx_signature",
    /// `chainId` is not `eip155:<number>`.
    InvalidSiwxChainId = "invalid_siwx_chain_id",
    /// `chainId` names a chain family this server does not verify.
    InvalidSiwxUnsupportedChain = "invalid_siwx_unsupported_chain",
    /// The signature is not 65 bytes of hex.
    InvalidSiwxMalformedSignature = "invalid_siwx_malformed_signature",

    // ---- offer-receipt extension (x402 specs/extensions/extension-offer-and-receipt.md,
    // @x402/extensions 2.27; this project's codes: the reference throws without a code) ----
    /// A signed offer is malformed: not `{format, acceptIndex?, payload?, signature}`, an
    /// `eip712` offer without its payload (the reference's "Invalid offer: missing or malformed
    /// payload"), a `jws` one with a payload, an unknown field, or a payload `version` other
    /// than 1.
    InvalidSignedOffer = "invalid_signed_offer",
    /// A signed receipt is malformed (as [`Reason::InvalidSignedOffer`]; the reference's
    /// "Invalid receipt: missing or malformed payload"), or there is no receipt to make (the
    /// settlement failed or names no payer).
    InvalidSignedReceipt = "invalid_signed_receipt",
    /// The artifact's `format` is one this side does not verify (`jws`; the reference's
    /// "Expected eip712 format, got jws").
    UnsupportedOfferReceiptFormat = "unsupported_offer_receipt_format",
    /// The offer's or receipt's signature is not `0x` and 65 bytes of hex, is high-s, has a bad
    /// `v`, or recovers no key.
    InvalidOfferReceiptSignature = "invalid_offer_receipt_signature",

    // ---- client side (this project) ----
    /// The 402 challenge could not be parsed.
    MalformedChallenge = "malformed_challenge",
    /// No requirement in `accepts` passes the client's policy.
    NoAcceptableRequirement = "no_acceptable_requirement",
    /// The price is above the client's maximum per payment.
    OverMax = "over_max",
    /// The payment would exceed the client's budget for the period.
    OverBudget = "over_budget",
    /// The user declined in the wallet or in the confirmation hook.
    UserRejected = "user_rejected",
    /// The wallet is on another chain and could not be switched.
    WrongChain = "wrong_chain",
    /// No wallet is available.
    NoWallet = "no_wallet",
    /// The request was already paid once and the server asked again.
    PaymentAlreadyAttempted = "payment_already_attempted",
    /// A price string could not be parsed.
    InvalidPrice = "invalid_price",
    /// A price is non-zero but below the asset's smallest unit.
    PriceTooSmall = "price_too_small",
    /// A configuration value is invalid.
    InvalidConfig = "invalid_config",
    /// An access pass is missing, forged, expired or for another resource.
    InvalidPass = "invalid_pass",
    /// The HTTP request itself is unacceptable (path, headers, method), before any payment.
    InvalidRequest = "invalid_request",
    /// A protected endpoint was called without the right credentials.
    Unauthorized = "unauthorized",
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An x402 failure: a stable [`Reason`] and a message with the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The reason and its code, fixed where the error is made (where the reason is usually a
    /// constant, so only the codes a program can meet are in it).
    code: &'static Code,
    message: String,
}

/// A reason and its wire string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Code {
    reason: Reason,
    code: &'static str,
}

impl Error {
    /// Creates an error with a reason and a message.
    #[inline(always)]
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self::coded(reason.code(), message.into())
    }

    /// Creates an error with a reason chosen at run time ([`Reason::code`] in a constant).
    pub(crate) fn coded(code: &'static Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The stable reason.
    pub const fn reason(&self) -> Reason {
        self.code.reason
    }

    /// The reason's wire string (`invalid_exact_evm_signature`, ...).
    pub const fn code(&self) -> &'static str {
        self.code.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with a prefix added to its message.
    #[must_use]
    pub fn context(mut self, prefix: &str) -> Self {
        let mut m = prefix.to_string();
        m.push_str(": ");
        m.push_str(&self.message);
        self.message = m;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.code, self.message)
    }
}

impl core::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn reason_codes_are_one_to_one() {
        let mut seen = BTreeSet::new();
        for &r in Reason::ALL {
            let code = r.as_str();
            assert!(seen.insert(code), "duplicate code {code}");
            assert_eq!(Reason::from_code(code), Some(r));
            assert!(code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert_eq!(Reason::from_code("no_such_code"), None);
    }

    #[test]
    fn display_has_code_and_context() {
        let e = Error::new(Reason::InvalidPayload, "bad json").context("PAYMENT-SIGNATURE");
        assert_eq!(e.code(), "invalid_payload");
        assert_eq!(
            e.to_string(),
            "invalid_payload: PAYMENT-SIGNATURE: bad json"
        );
    }
}
