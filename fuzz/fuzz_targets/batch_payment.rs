//! `batch-settlement` decoders: the bytes as a v2 payment for the reference SDK's offer (chain
//! 31337) — payload parse, canonical round trip, every stateless rule at a fixed time, and the
//! server's channel transitions over it — and as the objects a client or server reads back
//! (the offer's `extra`, a success `extra`, a facilitator's channel state, a corrective offer,
//! a settlement answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::scheme::batch::channel::{self, Refusal, Request};
use x402_core::scheme::batch::named;
use x402_core::scheme::batch::response::{self, BatchSettleResponse, ChannelState, SuccessExtra};
use x402_core::scheme::batch::rules;
use x402_core::scheme::batch::wire::{BatchExtra, BatchPayload};
use x402_core::wire::{payment_identifier, v2, JsonMap};
use x402_core::U256;
use x402_core_fuzz::{check_error, NOW};

/// The reference SDK server's 402 entry (tests/vectors/batch.json).
const OFFER: &str = r#"{"scheme":"batch-settlement","network":"eip155:31337","amount":"1000","asset":"0x5FbDB2315678afecb367f032d93F642f64180aa3","payTo":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","maxTimeoutSeconds":300,"extra":{"name":"USD Coin","version":"2","receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":900,"minDeposit":"10000"}}"#;

fn payment(data: &[u8]) {
    let Ok(payment) = serde_json::from_slice::<v2::PaymentPayload>(data) else {
        return;
    };
    if let Ok(parsed) = BatchPayload::from_json(&payment.payload) {
        let json = parsed.to_json();
        let again = BatchPayload::from_json(&json).expect("re-serialized parses");
        assert_eq!(again, parsed, "round trip");
        assert_eq!(again.to_json(), json, "not canonical");
        // A payment's name: its fingerprint does not depend on the JSON's spelling, and
        // differs by resource.
        let fp = named::fingerprint(&parsed, "/paid/one.html");
        assert_eq!(named::fingerprint(&again, "/paid/one.html"), fp);
        assert_ne!(named::fingerprint(&parsed, "/paid/two.html"), fp);
    }
    // The payment-identifier id, as the Worker reads it before anything else.
    match payment_identifier::id_of(payment.extensions.as_ref()) {
        Ok(Some(id)) => assert!(payment_identifier::valid_id(&id)),
        Ok(None) => {}
        Err(e) => check_error(&e),
    }
    let offer: v2::PaymentRequirements = serde_json::from_str(OFFER).expect("offer parses");
    match rules::verify_payload(&payment, &offer, NOW) {
        Err(e) => check_error(&e),
        Ok(checked) => {
            let (config, voucher) = checked.payload.channel().expect("a client payload");
            assert_eq!(checked.channel_id, voucher.channel_id);
            let refund = matches!(checked.payload, BatchPayload::Refund(_));
            let req = Request {
                config,
                voucher,
                refund,
            };
            let price = checked.requirement.amount;
            // A record at the voucher's own base, then reserve → commit: charged never passes
            // the signed ceiling, and a second commit charges nothing.
            let mirror = ChannelState {
                channel_id: voucher.channel_id,
                balance: U256::from(voucher.max_claimable_amount),
                total_claimed: U256::ZERO,
                withdraw_requested_at: 0,
                refund_nonce: U256::ZERO,
                charged_cumulative_amount: None,
            };
            match channel::reserve(None, &req, price, NOW, (1, 60), Some(&mirror)) {
                Ok(held) => {
                    let cost = if refund { U256::ZERO } else { price };
                    match channel::commit(Some(&held), 1, cost, NOW, None) {
                        Ok((next, extra)) => {
                            assert!(next.charged <= U256::from(voucher.max_claimable_amount));
                            assert_eq!(
                                extra.channel_state.charged_cumulative_amount,
                                Some(next.charged)
                            );
                            assert_eq!(
                                channel::commit(Some(&next), 1, cost, NOW, None).err(),
                                Some(Refusal::Busy)
                            );
                            let _ = channel::claim_row(&next);
                        }
                        Err(r) => assert!(matches!(r, Refusal::ExceedsSigned(_))),
                    }
                }
                Err(r) => {
                    let _ = r.reason();
                }
            }
        }
    }
}

fn objects(data: &[u8]) {
    if let Ok(answer) = serde_json::from_slice::<BatchSettleResponse>(data) {
        let text = serde_json::to_string(&answer).expect("serializes");
        let back: BatchSettleResponse = serde_json::from_str(&text).expect("re-parses");
        assert_eq!(back, answer);
    }
    let Ok(map) = serde_json::from_slice::<JsonMap>(data) else {
        return;
    };
    if let Ok(extra) = BatchExtra::from_json(Some(&map)) {
        assert_eq!(
            BatchExtra::from_json(Some(&extra.to_json())).expect("re-parses"),
            extra
        );
    }
    if let Ok(extra) = SuccessExtra::from_json(&map) {
        assert_eq!(
            SuccessExtra::from_json(&extra.to_json()).expect("re-parses"),
            extra
        );
    }
    if let Ok(state) = ChannelState::from_verify_extra(&map) {
        let json = state.to_json();
        let back =
            ChannelState::from_verify_extra(json.as_object().expect("object")).expect("re-parses");
        assert_eq!(back, state);
    }
    let mut offer: v2::PaymentRequirements = serde_json::from_str(OFFER).expect("offer parses");
    offer.extra = Some(map);
    if let Ok(Some((state, voucher))) = response::corrective_state(&offer) {
        let mut accepts = vec![offer.clone()];
        assert!(response::add_corrective_state(
            &mut accepts,
            &offer.network,
            &state,
            voucher.as_ref()
        ));
        assert_eq!(
            response::corrective_state(&accepts[0]).expect("re-parses"),
            Some((state, voucher))
        );
    }
}

fuzz_target!(|data: &[u8]| {
    payment(data);
    objects(data);
});
