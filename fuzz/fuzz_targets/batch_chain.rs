//! What the Worker's `batch-settlement` side reads from outside the request: a JSON-RPC node's
//! return data (the Multicall3 `tryAggregate` of `channels`, `pendingWithdrawals`,
//! `refundNonce` and `balanceOf`; `receivers`) and a channel object's stored record. Decoders
//! refuse with a known reason and never panic; what decodes is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::scheme::batch::channel::ChannelRecord;
use x402_core::scheme::batch::onchain::{decode_reads, decode_receivers};
use x402_core::{B256, U256};
use x402_core_fuzz::check_error;

fuzz_target!(|data: &[u8]| {
    let id = B256::repeat_byte(0x11);
    for with_balance in [false, true] {
        match decode_reads(id, with_balance, data) {
            Ok((state, balance)) => {
                assert_eq!(state.channel_id, id);
                assert_eq!(balance.is_some(), with_balance);
                assert!(state.balance <= U256::from(u128::MAX));
                assert!(state.total_claimed <= U256::from(u128::MAX));
                assert!(state.withdraw_requested_at < 1 << 40);
            }
            Err(e) => check_error(&e),
        }
    }
    match decode_receivers(data) {
        Ok(_) => {}
        Err(e) => check_error(&e),
    }
    if let Ok(record) = serde_json::from_slice::<ChannelRecord>(data) {
        let text = serde_json::to_string(&record).expect("serializes");
        let back: ChannelRecord = serde_json::from_str(&text).expect("re-parses");
        assert_eq!(back, record);
        let _ = record.unclaimed();
    }
});
