//! The server's per-channel record as pure transitions (`scheme::batch::channel`): interleaved
//! requests each charged once, stale vouchers answered with the corrective state, vouchers above
//! the balance sent to the chain, a lost record rebuilt from chain state without charging twice,
//! origin failures charging nothing, claims and refunds.
#![cfg(feature = "local-signer")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::json;
use x402_core::evm::signer::LocalSigner;
use x402_core::scheme::batch::channel::{self, ChannelRecord, Refusal, Request};
use x402_core::scheme::batch::digest::{channel_id, voucher_digest};
use x402_core::scheme::batch::response::ChannelState;
use x402_core::scheme::batch::rules::{self, Use};
use x402_core::scheme::batch::wire::{ChannelConfigJson, RefundPayload, VoucherJson};
use x402_core::{Bytes, B256, U256};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const VOUCHER_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const PRICE: u64 = 1000;
const T0: u64 = 1_750_000_000;

fn config() -> ChannelConfigJson {
    serde_json::from_value(json!({
        "payer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "payerAuthorizer": LocalSigner::from_hex(VOUCHER_KEY).unwrap().address().to_checksum(None),
        "receiver": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "receiverAuthorizer": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "token": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "withdrawDelay": 900,
        "salt": format!("0x{}", "00".repeat(32)),
    }))
    .unwrap()
}

fn id() -> B256 {
    channel_id(&config().to_sol(), 31337)
}

/// The client's voucher for a cumulative ceiling.
fn voucher(max: u64) -> VoucherJson {
    let d = voucher_digest(id(), u128::from(max), 31337);
    let sig = LocalSigner::from_hex(VOUCHER_KEY)
        .unwrap()
        .sign_hash(&d)
        .unwrap();
    VoucherJson {
        channel_id: id(),
        max_claimable_amount: u128::from(max),
        signature: Bytes::copy_from_slice(&sig.to_bytes()),
    }
}

fn chain(balance: u64, claimed: u64) -> ChannelState {
    ChannelState {
        channel_id: id(),
        balance: U256::from(balance),
        total_claimed: U256::from(claimed),
        withdraw_requested_at: 0,
        refund_nonce: U256::ZERO,
        charged_cumulative_amount: None,
    }
}

fn price() -> U256 {
    U256::from(PRICE)
}

/// A server: one record, requests applied as the Worker would (each transition atomic).
struct Server {
    record: Option<ChannelRecord>,
    commits: u64,
}

impl Server {
    fn reserve(
        &mut self,
        v: &VoucherJson,
        now: u64,
        pending: u64,
        mirror: Option<&ChannelState>,
    ) -> Result<(), Refusal> {
        let c = config();
        let req = Request {
            config: &c,
            voucher: v,
            refund: false,
        };
        channel::check_request(self.record.as_ref(), &req, price())?;
        let next = channel::reserve(
            self.record.as_ref(),
            &req,
            price(),
            now,
            (pending, 60),
            mirror,
        )?;
        self.record = Some(next);
        Ok(())
    }
    fn commit(&mut self, pending: u64, now: u64) -> Result<(), Refusal> {
        let (next, extra) = channel::commit(self.record.as_ref(), pending, price(), now, None)?;
        assert_eq!(extra.charged_amount, Some(price()));
        assert_eq!(
            extra.channel_state.charged_cumulative_amount,
            Some(next.charged)
        );
        self.record = Some(next);
        self.commits += 1;
        Ok(())
    }
    fn release(&mut self, pending: u64) {
        self.record = Some(channel::release(self.record.as_ref().unwrap(), pending));
    }
    fn charged(&self) -> u64 {
        self.record.as_ref().unwrap().charged.to()
    }
}

/// The first request: a deposit of 20 000 verified by the facilitator (pre-deposit state), then
/// settled (post-deposit state).
fn opened() -> Server {
    let mut s = Server {
        record: None,
        commits: 0,
    };
    s.reserve(&voucher(PRICE), T0, 1, Some(&chain(0, 0)))
        .unwrap();
    let (next, extra) =
        channel::commit(s.record.as_ref(), 1, price(), T0, Some(&chain(20_000, 0))).unwrap();
    assert_eq!(extra.channel_state.balance, U256::from(20_000));
    s.record = Some(next);
    s.commits = 1;
    s
}

#[test]
fn twenty_interleaved_requests_are_each_charged_once() {
    let mut s = opened();
    // The client's view: what it believes charged; requests in flight share its base.
    let mut client_charged = PRICE;
    let mut served = 1u64;
    let mut now = T0 + 1;
    let mut next_pending = 10u64;
    while served < 20 {
        // Two requests leave at once on the same base (the client does not wait).
        let (a, b) = (next_pending, next_pending + 1);
        next_pending += 2;
        let v = voucher(client_charged + PRICE);
        s.reserve(&v, now, a, None).unwrap();
        assert_eq!(
            s.reserve(&v, now, b, None),
            Err(Refusal::Busy),
            "one request per channel"
        );
        // Every third request's origin fails: nothing charged, the same voucher works again.
        if served % 3 == 0 {
            s.release(a);
            assert_eq!(s.charged(), client_charged);
            s.reserve(&v, now, a, None).unwrap();
        }
        s.commit(a, now).unwrap();
        assert!(s.commit(a, now).is_err(), "a second commit charges nothing");
        client_charged += PRICE;
        served += 1;
        // The second request, retried with its stale voucher, gets the corrective state and
        // re-signs on it.
        match s.reserve(&v, now, b, None) {
            Err(Refusal::Corrective(c)) => {
                assert_eq!(
                    c.state.charged_cumulative_amount,
                    Some(U256::from(client_charged))
                );
                assert_eq!(
                    c.voucher.unwrap().signed_max_claimable,
                    U256::from(client_charged)
                );
            }
            other => panic!("expected a corrective answer, got {other:?}"),
        }
        if served < 20 {
            s.reserve(&voucher(client_charged + PRICE), now, b, None)
                .unwrap();
            s.commit(b, now).unwrap();
            client_charged += PRICE;
            served += 1;
        }
        now += 1;
    }
    assert_eq!(s.commits, 20);
    assert_eq!(s.charged(), 20 * PRICE);
    assert_eq!(client_charged, 20 * PRICE);
    let rec = s.record.as_ref().unwrap();
    assert!(rec.pending.is_none());
    // What to claim: exactly the charged total, under the latest voucher.
    let row = channel::claim_row(rec).unwrap();
    assert_eq!(row.total_claimed, u128::from(20 * PRICE));
    assert_eq!(row.voucher.max_claimable_amount, u128::from(20 * PRICE));
    assert_eq!(row.signature, voucher(20 * PRICE).signature);
    let entry = channel::claim_entry(rec.channel_id, &row);
    assert_eq!(entry.totalClaimed, row.total_claimed);
    let claimed = channel::after_claim(rec, U256::from(20 * PRICE));
    assert!(
        channel::claim_row(&claimed).is_none(),
        "nothing left to claim"
    );
}

#[test]
fn stale_and_old_vouchers_are_refused_with_the_servers_state() {
    let mut s = opened();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 2, None).unwrap();
    s.commit(2, T0 + 1).unwrap();
    for old in [PRICE, 2 * PRICE, 2 * PRICE + 1, 4 * PRICE] {
        match s.reserve(&voucher(old), T0 + 2, 3, None) {
            Err(Refusal::Corrective(c)) => {
                assert_eq!(
                    c.state.charged_cumulative_amount,
                    Some(U256::from(2 * PRICE))
                );
                assert_eq!(c.state.balance, U256::from(20_000));
                assert_eq!(
                    c.voucher.as_ref().unwrap().signature,
                    voucher(2 * PRICE).signature
                );
            }
            other => panic!("{old}: {other:?}"),
        }
    }
    assert_eq!(
        Refusal::Busy.reason().as_str(),
        "invalid_batch_settlement_evm_channel_busy"
    );
    assert_eq!(s.charged(), 2 * PRICE);
}

#[test]
fn a_voucher_above_the_balance_goes_to_the_chain_and_is_refused_there() {
    let mut s = opened();
    let mut charged = PRICE;
    while charged + PRICE <= 20_000 {
        s.reserve(&voucher(charged + PRICE), T0 + 1, charged, None)
            .unwrap();
        s.commit(charged, T0 + 1).unwrap();
        charged += PRICE;
    }
    let over = voucher(charged + PRICE);
    let c = config();
    let req = Request {
        config: &c,
        voucher: &over,
        refund: false,
    };
    let rec = s.record.clone().unwrap();
    channel::check_request(Some(&rec), &req, price()).unwrap();
    assert!(
        !channel::can_verify_locally(Some(&rec), &req, T0 + 1),
        "above the mirrored balance"
    );
    assert_eq!(
        rules::check_cumulative(
            Use::Voucher,
            over.max_claimable_amount,
            rec.balance,
            rec.total_claimed
        )
        .unwrap_err()
        .code(),
        "invalid_batch_settlement_evm_cumulative_exceeds_balance"
    );
    // On a fresh mirror the server refuses it itself, with the state the client needs to top up.
    match channel::check_balance(
        &rec,
        &Request {
            config: &c,
            voucher: &over,
            refund: false,
        },
    ) {
        Err(Refusal::OverBalance(state)) => {
            assert_eq!(state.state.balance, U256::from(20_000));
            assert_eq!(
                state.state.charged_cumulative_amount,
                Some(U256::from(charged))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        channel::check_balance(
            &rec,
            &Request {
                config: &c,
                voucher: &over,
                refund: false
            }
        )
        .unwrap_err()
        .reason()
        .as_str(),
        "invalid_batch_settlement_evm_cumulative_exceeds_balance"
    );
    assert!(channel::check_balance(
        &rec,
        &Request {
            config: &c,
            voucher: &voucher(charged),
            refund: false
        }
    )
    .is_ok());
    // A top-up deposit covers it.
    assert!(rules::check_cumulative(
        Use::Deposit(U256::from(5000)),
        over.max_claimable_amount,
        rec.balance,
        rec.total_claimed
    )
    .is_ok());
    // Within the balance and a fresh mirror: local verification; a stale mirror: not.
    let within = voucher(charged);
    let req = Request {
        config: &c,
        voucher: &within,
        refund: false,
    };
    assert!(channel::can_verify_locally(Some(&rec), &req, T0 + 300));
    assert!(!channel::can_verify_locally(Some(&rec), &req, T0 + 301));
    // A voucher above the signed ceiling cannot be charged.
    let mut s = opened();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 7, None).unwrap();
    let over_cost = channel::commit(s.record.as_ref(), 7, U256::from(PRICE + 1), T0 + 1, None);
    match over_cost {
        Err(Refusal::ExceedsSigned(next)) => {
            assert!(next.pending.is_none());
            assert_eq!(next.charged, U256::from(PRICE));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lost_record_is_rebuilt_from_chain_state_without_charging_twice() {
    let mut s = opened();
    for (i, n) in (2..=10u64).enumerate() {
        s.reserve(&voucher(n * PRICE), T0 + 1, 100 + i as u64, None)
            .unwrap();
        s.commit(100 + i as u64, T0 + 1).unwrap();
    }
    // 6 requests' worth were claimed on chain before the record was lost.
    let on_chain = chain(20_000, 6 * PRICE);
    let rebuilt = channel::rebuild(id(), &config(), &on_chain, T0 + 10);
    let mut s2 = Server {
        record: Some(rebuilt),
        commits: 0,
    };
    // The client builds on its 10 000: the server answers with the chain's baseline and no
    // voucher of its own; the client re-signs on it.
    match s2.reserve(&voucher(11 * PRICE), T0 + 11, 1, None) {
        Err(Refusal::Corrective(c)) => {
            assert_eq!(
                c.state.charged_cumulative_amount,
                Some(U256::from(6 * PRICE))
            );
            assert!(c.voucher.is_none());
        }
        other => panic!("{other:?}"),
    }
    s2.reserve(&voucher(7 * PRICE), T0 + 11, 1, None).unwrap();
    s2.commit(1, T0 + 11).unwrap();
    // Charged once: what the chain had claimed plus this request; nothing served before the
    // loss is charged again, and the claim covers 7 000, below what the client had signed.
    assert_eq!(s2.charged(), 7 * PRICE);
    assert_eq!(
        channel::claim_row(s2.record.as_ref().unwrap())
            .unwrap()
            .total_claimed,
        u128::from(7 * PRICE)
    );
    // With no record at all the voucher's own base is used (as the reference server infers
    // it), bounded by the facilitator's state.
    let mut s3 = Server {
        record: None,
        commits: 0,
    };
    assert_eq!(
        s3.reserve(&voucher(11 * PRICE), T0, 1, None),
        Err(Refusal::Missing)
    );
    s3.reserve(&voucher(11 * PRICE), T0, 1, Some(&on_chain))
        .unwrap();
    s3.commit(1, T0).unwrap();
    assert_eq!(s3.charged(), 11 * PRICE);
    assert_eq!(
        s3.record.as_ref().unwrap().total_claimed,
        U256::from(6 * PRICE)
    );
}

#[test]
fn an_origin_failure_charges_nothing() {
    let mut s = opened();
    let before = s.record.clone();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 5, None).unwrap();
    s.release(5);
    let after = s.record.clone().unwrap();
    assert_eq!(after.charged, before.as_ref().unwrap().charged);
    assert_eq!(
        after.voucher,
        before.as_ref().unwrap().voucher,
        "the uncharged voucher is not kept"
    );
    assert!(after.pending.is_none());
    assert_eq!(
        s.commit(5, T0 + 1),
        Err(Refusal::Busy),
        "a released request cannot commit"
    );
    // A release by a request that lost the channel does not free the holder's reservation.
    s.reserve(&voucher(2 * PRICE), T0 + 1, 6, None).unwrap();
    s.release(5);
    assert!(s.record.as_ref().unwrap().pending.is_some());
    // An expired reservation can be taken over; its late commit then fails.
    s.reserve(&voucher(2 * PRICE), T0 + 61, 7, None).unwrap();
    assert_eq!(s.commit(6, T0 + 61), Err(Refusal::Busy));
    s.commit(7, T0 + 61).unwrap();
    assert_eq!(s.charged(), 2 * PRICE);
}

#[test]
fn refunds_enrich_and_close() {
    let mut s = opened();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 2, None).unwrap();
    s.commit(2, T0 + 1).unwrap();
    let c = config();
    let v = voucher(2 * PRICE);
    let req = Request {
        config: &c,
        voucher: &v,
        refund: true,
    };
    let rec = s.record.clone().unwrap();
    channel::check_request(Some(&rec), &req, price()).unwrap();
    let held = channel::reserve(
        Some(&rec),
        &req,
        price(),
        T0 + 2,
        (9, 60),
        Some(&chain(20_000, 0)),
    )
    .unwrap();
    let client = RefundPayload {
        channel_config: c.clone(),
        voucher: v.clone(),
        amount: None,
        refund_nonce: None,
        claims: None,
        refund_authorizer_signature: None,
        claim_authorizer_signature: None,
    };
    let amount = rules::check_refund(&client, held.charged, held.balance).unwrap();
    assert_eq!(amount, U256::from(18_000));
    let enriched = channel::enriched_refund(&held, &client, amount).unwrap();
    assert_eq!(enriched.amount, Some(U256::from(18_000)));
    assert_eq!(enriched.refund_nonce, Some(U256::ZERO));
    assert_eq!(
        enriched.claims.as_ref().unwrap()[0].total_claimed,
        u128::from(2 * PRICE)
    );
    // Everything refunded: the record goes; a partial refund keeps it with the new state.
    let mut post = chain(2 * PRICE, 2 * PRICE);
    post.refund_nonce = U256::from(1);
    assert!(channel::after_refund(&held, &post, T0 + 3).is_none());
    let kept = channel::after_refund(&held, &chain(5000, 2 * PRICE), T0 + 3).unwrap();
    assert_eq!(kept.balance, U256::from(5000));
    assert!(kept.pending.is_none());
}

#[test]
fn claims_come_before_a_pending_withdrawal_can_complete() {
    let mut s = opened();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 2, None).unwrap();
    s.commit(2, T0 + 1).unwrap();
    let policy = channel::ClaimPolicy {
        threshold: U256::from(100 * PRICE),
        max_age: 3600,
        withdrawal_margin: 120,
    };
    let rec = s.record.clone().unwrap();
    assert_eq!(channel::claim_deadline(&rec), None);
    assert!(
        !channel::claim_due(&rec, T0 + 10, T0, &policy),
        "below threshold and young"
    );
    assert!(
        channel::claim_due(&rec, T0 + 3600, T0, &policy),
        "old enough"
    );
    let big = channel::ClaimPolicy {
        threshold: U256::from(2 * PRICE),
        ..policy
    };
    assert!(
        channel::claim_due(&rec, T0 + 10, T0, &big),
        "threshold reached"
    );
    // The payer asks to withdraw at T0 + 100: finalizable at T0 + 1000; claim by T0 + 880.
    let mut state = chain(20_000, 0);
    state.withdraw_requested_at = T0 + 100;
    let mut rec = rec;
    rec.refresh(&state, T0 + 101);
    assert_eq!(channel::claim_deadline(&rec), Some(T0 + 1000));
    assert!(!channel::claim_due(&rec, T0 + 879, T0, &policy));
    assert!(channel::claim_due(&rec, T0 + 880, T0, &policy));
    // Nothing unclaimed: nothing due, whatever the deadline.
    let claimed = channel::after_claim(&rec, U256::from(2 * PRICE));
    assert!(!channel::claim_due(&claimed, T0 + 999, T0, &policy));
}

#[test]
fn with_no_record_a_voucher_building_below_the_claimed_total_is_corrected() {
    // 6 requests' worth claimed on chain; the record is gone. A voucher whose inferred base
    // (max − price) lies below the claimed total would pay less than the price: refused with
    // the chain's baseline, nothing reserved.
    let on_chain = chain(20_000, 6 * PRICE);
    let mut s = Server {
        record: None,
        commits: 0,
    };
    for max in [6 * PRICE + 1, 7 * PRICE - 1] {
        match s.reserve(&voucher(max), T0, 1, Some(&on_chain)) {
            Err(Refusal::Corrective(c)) => {
                assert_eq!(
                    c.state.charged_cumulative_amount,
                    Some(U256::from(6 * PRICE))
                );
                assert_eq!(c.state.balance, U256::from(20_000u64));
                assert!(c.voucher.is_none());
            }
            other => panic!("{max}: {other:?}"),
        }
        assert!(s.record.is_none());
    }
    // Exactly the claimed total plus the price is served.
    s.reserve(&voucher(7 * PRICE), T0, 1, Some(&on_chain))
        .unwrap();
    s.commit(1, T0).unwrap();
    assert_eq!(s.charged(), 7 * PRICE);
}

#[test]
fn a_record_survives_its_json_form() {
    let mut s = opened();
    s.reserve(&voucher(2 * PRICE), T0 + 1, 9, None).unwrap();
    let record = s.record.clone().unwrap();
    let text = serde_json::to_string(&record).unwrap();
    assert!(text.contains("\"charged\":\"1000\""), "{text}");
    let back: channel::ChannelRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);
    assert!(
        serde_json::from_str::<channel::ChannelRecord>(&text.replace("\"1000\"", "\"-1\""))
            .is_err()
    );
}

/// The charge of a request for `resource` (the Worker names it on the reservation).
fn charge_for(s: &mut Server, v: &VoucherJson, resource: B256, now: u64, pending: u64) {
    s.reserve(v, now, pending, None).unwrap();
    s.record
        .as_mut()
        .unwrap()
        .pending
        .as_mut()
        .unwrap()
        .resource = Some(resource);
    s.commit(pending, now).unwrap();
}

#[test]
fn the_last_request_repeated_after_a_lost_answer_is_served_again_without_a_charge() {
    let mut s = opened();
    let (a, b) = (B256::repeat_byte(0xa), B256::repeat_byte(0xb));
    let v = voucher(2 * PRICE);
    charge_for(&mut s, &v, a, T0 + 10, 7);
    assert_eq!(s.charged(), 2 * PRICE);
    let c = config();
    fn req<'a>(c: &'a ChannelConfigJson, v: &'a VoucherJson, refund: bool) -> Request<'a> {
        Request {
            config: c,
            voucher: v,
            refund,
        }
    }
    let window = 60;
    // The same voucher for the same resource, within the window: the charge's answer again.
    let extra = channel::replay(s.record.as_ref(), &req(&c, &v, false), &a, T0 + 70, window)
        .expect("a repeat");
    assert_eq!(extra.charged_amount, Some(price()));
    assert_eq!(
        extra.channel_state.charged_cumulative_amount,
        Some(U256::from(2 * PRICE))
    );
    // Nothing else is a repeat: another resource, after the window, a refund, another
    // signature of the same ceiling, an older voucher.
    for (what, v2, r, now, refund) in [
        ("another resource", v.clone(), b, T0 + 11, false),
        ("after the window", v.clone(), a, T0 + 71, false),
        ("a refund", v.clone(), a, T0 + 11, true),
        ("an older voucher", voucher(PRICE), a, T0 + 11, false),
    ] {
        assert!(
            channel::replay(s.record.as_ref(), &req(&c, &v2, refund), &r, now, window).is_none(),
            "{what}"
        );
    }
    let mut forged = v.clone();
    forged.signature = Bytes::from(vec![1u8; 65]);
    assert!(channel::replay(
        s.record.as_ref(),
        &req(&c, &forged, false),
        &a,
        T0 + 11,
        window
    )
    .is_none());
    // The stale voucher for another resource still gets the corrective state (and is charged
    // only once re-signed on it).
    assert!(matches!(
        s.reserve(&v, T0 + 11, 8, None),
        Err(Refusal::Corrective(_))
    ));
    // Once a later request is charged, the earlier one is no longer the last: no repeat.
    charge_for(&mut s, &voucher(3 * PRICE), b, T0 + 12, 9);
    assert!(channel::replay(s.record.as_ref(), &req(&c, &v, false), &a, T0 + 13, window).is_none());
    assert!(channel::replay(
        s.record.as_ref(),
        &req(&c, &voucher(3 * PRICE), false),
        &b,
        T0 + 13,
        window
    )
    .is_some());
    // A record written before this rule (no last charge) repeats nothing.
    let mut old = s.record.clone().unwrap();
    old.last_charge = None;
    let text = serde_json::to_string(&old).unwrap();
    assert!(!text.contains("lastCharge"));
    let back: ChannelRecord = serde_json::from_str(&text).unwrap();
    assert!(channel::replay(
        Some(&back),
        &req(&c, &voucher(3 * PRICE), false),
        &b,
        T0 + 13,
        window
    )
    .is_none());
    // The record keeps the last charge through its JSON.
    let kept: ChannelRecord =
        serde_json::from_str(&serde_json::to_string(s.record.as_ref().unwrap()).unwrap()).unwrap();
    assert_eq!(kept, *s.record.as_ref().unwrap());
}
