//! The payer's own way out of a channel: the contract's timed withdrawal (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Withdrawal"), for when the
//! server does not answer a cooperative refund. The payer's wallet sends
//! `initiateWithdraw(config, amount)`; after the channel's `withdrawDelay` it sends
//! `finalizeWithdraw(config)` and the tokens go back to the payer. The receiver keeps what it
//! claims before then, so the client asks only for what was never charged.

use crate::client::channel::ClientChannel;
use crate::error::{Error, Reason, Result};
use crate::scheme::batch::types::{IX402BatchSettlement as I, BATCH_SETTLEMENT};
use alloc::vec::Vec;
use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;

/// A transaction for the payer's wallet: `to`, `data` (the call), and the tokens it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawCall {
    /// The batch-settlement contract.
    pub to: Address,
    /// ABI-encoded call data.
    pub data: Vec<u8>,
    /// What the withdrawal asks for: the credit never charged.
    pub amount: U256,
}

/// `initiateWithdraw(config, balance − charged)`: starts the timed withdrawal of everything the
/// server has not charged. Errors: `invalid_batch_settlement_evm_refund_no_balance` (nothing
/// left), `invalid_payload` (an amount above uint128, which no channel holds).
pub fn initiate_withdraw(state: &ClientChannel) -> Result<WithdrawCall> {
    let amount = state.balance.saturating_sub(state.charged);
    if amount.is_zero() {
        return Err(Error::new(
            Reason::InvalidBatchSettlementEvmRefundNoBalance,
            "no credit is left on this channel to withdraw",
        ));
    }
    let small = u128::try_from(amount)
        .map_err(|_| Error::new(Reason::InvalidPayload, "a withdrawal above uint128"))?;
    let data = I::initiateWithdrawCall {
        config: state.config.to_sol(),
        amount: small,
    }
    .abi_encode();
    Ok(WithdrawCall {
        to: BATCH_SETTLEMENT,
        data,
        amount,
    })
}

/// `finalizeWithdraw(config)`: collects a withdrawal of `amount` started at least
/// `withdrawDelay` seconds ago (the contract refuses it earlier: `WithdrawDelayNotElapsed`).
pub fn finalize_withdraw(state: &ClientChannel, amount: U256) -> WithdrawCall {
    WithdrawCall {
        to: BATCH_SETTLEMENT,
        data: I::finalizeWithdrawCall {
            config: state.config.to_sol(),
        }
        .abi_encode(),
        amount,
    }
}

/// The state once a withdrawal of `amount` is started: the credit is no longer spendable (the
/// contract pays it out at the end whatever is signed meanwhile), so the known balance falls to
/// what was charged.
pub fn after_initiate(state: &ClientChannel, amount: U256) -> ClientChannel {
    let mut next = state.clone();
    next.balance = state.balance.saturating_sub(amount).max(state.charged);
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::batch::digest::channel_id;
    use crate::scheme::batch::wire::ChannelConfigJson;
    use alloy_primitives::{address, hex, B256};

    fn state(balance: u64, charged: u64) -> ClientChannel {
        let config = channel_config_for_test();
        ClientChannel {
            channel_id: channel_id(&config.to_sol(), 31337),
            config,
            chain_id: 31337,
            charged: U256::from(charged),
            balance: U256::from(balance),
            voucher_key: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            signed_max: U256::from(charged),
            blocked: None,
        }
    }
    fn channel_config_for_test() -> ChannelConfigJson {
        ChannelConfigJson {
            payer: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            payer_authorizer: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            receiver: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            receiver_authorizer: address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
            token: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            withdraw_delay: 900,
            salt: B256::ZERO,
        }
    }

    #[test]
    fn initiate_asks_for_what_was_never_charged() {
        let s = state(500_000, 30_000);
        let call = initiate_withdraw(&s).unwrap();
        assert_eq!(call.to, BATCH_SETTLEMENT);
        assert_eq!(call.amount, U256::from(470_000));
        assert_eq!(
            &call.data[..4],
            &hex!("cf5cf3dc"),
            "initiateWithdraw's selector"
        );
        let decoded = I::initiateWithdrawCall::abi_decode(&call.data).unwrap();
        assert_eq!(decoded.amount, 470_000);
        assert_eq!(decoded.config, s.config.to_sol());
        let next = after_initiate(&s, call.amount);
        assert_eq!(
            (next.balance, next.charged),
            (U256::from(30_000), U256::from(30_000))
        );
        // Nothing left: refused before anything is sent.
        let err = initiate_withdraw(&next).unwrap_err();
        assert_eq!(err.code(), "invalid_batch_settlement_evm_refund_no_balance");
    }

    #[test]
    fn finalize_names_the_channel() {
        let s = state(500_000, 30_000);
        let call = finalize_withdraw(&s, U256::from(470_000));
        assert_eq!(
            &call.data[..4],
            &hex!("e88377b1"),
            "finalizeWithdraw's selector"
        );
        assert_eq!(
            I::finalizeWithdrawCall::abi_decode(&call.data)
                .unwrap()
                .config,
            s.config.to_sol()
        );
    }
}
