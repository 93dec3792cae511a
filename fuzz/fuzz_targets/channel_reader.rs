//! Differential: the channel client's serde-free readers (`client::channel::text`, what
//! `pkg/channel` links) against the serde path (`decode_payment_required` + `choose` /
//! `refusal` / `payment_header`, `read_response`, the serde derives of `ClientChannel` and
//! `ChannelOptions`), on the same input read as a `PAYMENT-REQUIRED` value, a `PAYMENT-RESPONSE`
//! value, a stored channel state and the channel options. Both must accept the same inputs with
//! the same values, refuse with the same reason code, and write payments that mean the same
//! JSON. Known, deliberate differences: the serde-free readers take a struct only as a JSON
//! object (serde's derive also takes an array of its fields).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::client::channel::text::{
    choose_text, read_response_text, refusal_text, voucher_payload_text, ChannelChallenge,
};
use x402_core::client::channel::{
    choose, payment_header, read_response, refusal, ChannelOptions, Choice, ClientChannel,
};
use x402_core::client::Policy;
use x402_core::encoding::base64;
use x402_core::scheme::batch::client::{voucher, voucher_payload};
use x402_core::wire::header;
use x402_core::{Address, Bytes, B256};
use x402_core_fuzz::header_value;

fn json_of(h: &str) -> serde_json::Value {
    serde_json::from_slice(&base64::decode(h).expect("base64")).expect("JSON")
}

fn challenge(value: &str) {
    let (theirs, ours) = match (
        header::decode_payment_required(value),
        ChannelChallenge::from_header(value),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) => return assert_eq!(a.reason(), b.reason(), "{a} / {b}: {value}"),
        // The shared challenge reader refuses a duplicated field that serde takes.
        (Ok(_), Err(b)) => return assert!(b.message().contains("duplicate"), "{b}: {value}"),
        (Err(a), Ok(_)) => panic!("serde-free accepted what serde refused ({a}): {value}"),
    };
    let policy = Policy::default();
    for preferred in [true, false] {
        let options = ChannelOptions {
            allowed: true,
            preferred,
            ..ChannelOptions::default()
        };
        match (
            choose(&policy, &options, &theirs),
            choose_text(&policy, &options, &ours),
        ) {
            (Ok(Choice::Exact), Ok(None)) => {}
            (Ok(Choice::Batch(a)), Ok(Some(b))) => {
                assert_eq!(a.index, b.index);
                assert_eq!(a.requirement, b.requirement);
                assert_eq!(a.decimals, b.decimals);
                let state =
                    ClientChannel::new(&*a, Address::repeat_byte(1), Address::repeat_byte(2));
                let v = voucher(&a.requirement, &state.config, 7, Bytes::from(vec![3u8; 65]));
                let h1 = payment_header(&theirs, &a, &voucher_payload(&state.config, v.clone()))
                    .expect("serde header");
                let h2 = ours.payment_header(&b, &voucher_payload_text(&state.config, &v));
                assert_eq!(json_of(&h1), json_of(&h2), "{value}");
            }
            (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "{a} / {b}: {value}"),
            (a, b) => panic!("{a:?} / {b:?}: {value}"),
        }
    }
    for channel in [B256::ZERO, B256::repeat_byte(0xaa)] {
        for reason in [None, Some("invalid_batch_settlement_evm_channel_busy")] {
            assert_eq!(
                refusal(channel, Some(&theirs), reason),
                refusal_text(channel, Some(&ours), reason),
                "{value}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(value) = header_value(data) {
        challenge(&value);
        match (read_response(&value), read_response_text(&value)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{value}"),
            (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "{a} / {b}: {value}"),
            (a, b) => panic!("{a:?} / {b:?}: {value}"),
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let array = text.trim_start().starts_with('[');
    let ours = ClientChannel::from_json_text(text);
    match serde_json::from_str::<ClientChannel>(text) {
        Ok(s) if !array => {
            assert_eq!(ours.as_ref(), Some(&s), "{text}");
            assert_eq!(s.to_json_text(), serde_json::to_string(&s).expect("JSON"));
        }
        Ok(_) => assert_eq!(ours, None),
        Err(_) => assert_eq!(ours, None, "{text}"),
    }
    // The options come from our own JS (`JSON.stringify`); the serde-free reader may be stricter
    // than serde about a number serde only skips (an unknown key's `1e99999999999`), never laxer.
    let ours = ChannelOptions::from_json_text(text).ok();
    match serde_json::from_str::<ChannelOptions>(text).ok() {
        Some(_) if array => assert_eq!(ours, None),
        theirs if ours.is_some() => assert_eq!(ours, theirs, "{text}"),
        _ => {}
    }
});
