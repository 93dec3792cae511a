//! Channel charges named by a `payment-identifier` id (x402 `specs/extensions/payment_identifier.md`):
//! a server keeps, per channel, the ids of its recent charges with a fingerprint of the payment
//! and the answer it gave, so that the same payment sent again under the same id (its answer was
//! lost) gets that answer again with no second charge, and the same id on another payment is a
//! conflict (409). The lookup comes before any verification: a voucher already charged would
//! otherwise be judged stale. Pure functions; the caller stores the list with the channel.

use super::fields::b256_hex;
use super::response::SuccessExtra;
use super::wire::{BatchPayload, VoucherJson};
use crate::encoding::decimal_u256;
use alloc::{string::String, vec::Vec};
use alloy_primitives::{keccak256, B256, U256};
use serde::{Deserialize, Serialize};

/// How many named charges a channel keeps (the most recent).
pub const KEPT: usize = 32;

/// A charge that came with a `payment-identifier` id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedCharge {
    /// The id.
    pub id: String,
    /// [`fingerprint`] of the payment and its resource.
    #[serde(with = "b256_hex")]
    pub fingerprint: B256,
    /// When it was charged (unix seconds).
    pub at: u64,
    /// The success `extra` it was answered with.
    pub extra: SuccessExtra,
    /// A deposit's transaction and amount (the answer's `transaction` and `amount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<Deposited>,
}

/// A deposit as its answer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deposited {
    /// The deposit's transaction hash.
    pub transaction: String,
    /// The amount deposited.
    #[serde(with = "decimal_u256")]
    pub amount: U256,
}

/// A payment's id and [`fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentName {
    /// The `payment-identifier` id.
    pub id: String,
    /// [`fingerprint`] of the payment and its resource.
    #[serde(with = "b256_hex")]
    pub fingerprint: B256,
}

/// What an id says about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<'a> {
    /// Not seen within the window: judge the payment as usual.
    New,
    /// This payment was charged under this id: answer it again, charging nothing.
    Repeat(&'a NamedCharge),
    /// The id names another payment: refuse (409).
    Conflict,
}

/// The fingerprint of a payment for a resource: keccak-256 over its type, what identifies it
/// (the voucher: channel, ceiling, signature; a deposit's amount and token authorization's
/// signature; a refund's amount) and the resource (path and query). Its JSON spelling does not
/// count.
pub fn fingerprint(payload: &BatchPayload, resource: &str) -> B256 {
    let mut data = Vec::with_capacity(256 + resource.len());
    let voucher = |data: &mut Vec<u8>, v: &VoucherJson| {
        data.extend_from_slice(v.channel_id.as_slice());
        data.extend_from_slice(&v.max_claimable_amount.to_be_bytes());
        data.extend_from_slice(&(v.signature.len() as u32).to_be_bytes());
        data.extend_from_slice(&v.signature);
    };
    match payload {
        BatchPayload::Deposit(p) => {
            data.push(b'd');
            voucher(&mut data, &p.voucher);
            data.extend_from_slice(&p.deposit.amount.to_be_bytes::<32>());
            let a = &p.deposit.authorization;
            for sig in [
                a.erc3009_authorization.as_ref().map(|e| &e.signature),
                a.permit2_authorization.as_ref().map(|e| &e.signature),
            ] {
                let sig = sig.map_or(&[][..], |s| &s[..]);
                data.extend_from_slice(&(sig.len() as u32).to_be_bytes());
                data.extend_from_slice(sig);
            }
        }
        BatchPayload::Voucher(p) => {
            data.push(b'v');
            voucher(&mut data, &p.voucher);
        }
        BatchPayload::Refund(p) => {
            data.push(b'r');
            voucher(&mut data, &p.voucher);
            let amount = p.amount.unwrap_or_default();
            data.extend_from_slice(&amount.to_be_bytes::<32>());
        }
        // Not a client's payment: nothing to name (never looked up).
        BatchPayload::Claim(_) => data.push(b'c'),
        BatchPayload::Settle(_) => data.push(b's'),
    }
    data.push(0);
    data.extend_from_slice(resource.as_bytes());
    keccak256(&data)
}

/// What `name`'s id says about its payment, among `kept` charges no older than `window` seconds.
pub fn lookup<'a>(kept: &'a [NamedCharge], name: &PaymentName, now: u64, window: u64) -> Named<'a> {
    match kept
        .iter()
        .rev()
        .find(|c| c.id == name.id && now <= c.at.saturating_add(window))
    {
        None => Named::New,
        Some(c) if c.fingerprint == name.fingerprint => Named::Repeat(c),
        Some(_) => Named::Conflict,
    }
}

/// `kept` with `charge` added: older than `window` dropped, an entry of the same id replaced,
/// at most [`KEPT`], the oldest going first.
pub fn remember(kept: &mut Vec<NamedCharge>, charge: NamedCharge, window: u64) {
    let now = charge.at;
    kept.retain(|c| c.id != charge.id && now <= c.at.saturating_add(window));
    kept.push(charge);
    if kept.len() > KEPT {
        let extra = kept.len() - KEPT;
        kept.drain(..extra);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::scheme::batch::response::ChannelState;
    use alloc::format;

    fn voucher(max: &str, sig_byte: &str) -> BatchPayload {
        let config = serde_json::json!({
            "payer": "0x00000000000000000000000000000000000000a1",
            "payerAuthorizer": "0x00000000000000000000000000000000000000a1",
            "receiver": "0x00000000000000000000000000000000000000b2",
            "receiverAuthorizer": "0x00000000000000000000000000000000000000b2",
            "token": "0x00000000000000000000000000000000000000c3",
            "withdrawDelay": 900,
            "salt": format!("0x{}", "00".repeat(32)),
        });
        let v = serde_json::json!({
            "type": "voucher",
            "channelConfig": config,
            "voucher": {
                "channelId": format!("0x{}", "11".repeat(32)),
                "maxClaimableAmount": max,
                "signature": format!("0x{}1b", sig_byte.repeat(64)),
            },
        });
        BatchPayload::from_json(&v).unwrap()
    }

    fn charge(id: &str, fp: B256, at: u64) -> NamedCharge {
        NamedCharge {
            id: id.into(),
            fingerprint: fp,
            at,
            extra: SuccessExtra {
                channel_state: ChannelState {
                    channel_id: B256::repeat_byte(0x11),
                    balance: U256::from(100_000u32),
                    total_claimed: U256::ZERO,
                    withdraw_requested_at: 0,
                    refund_nonce: U256::ZERO,
                    charged_cumulative_amount: Some(U256::from(at)),
                },
                charged_amount: Some(U256::from(10_000u32)),
            },
            deposit: None,
        }
    }

    #[test]
    fn the_same_payment_under_its_id_is_a_repeat_another_is_a_conflict() {
        let a = fingerprint(&voucher("10000", "aa"), "/paid/one.html");
        // Another voucher, the same voucher for another resource: other fingerprints.
        let b = fingerprint(&voucher("20000", "aa"), "/paid/one.html");
        let c = fingerprint(&voucher("10000", "aa"), "/paid/two.html");
        let d = fingerprint(&voucher("10000", "ab"), "/paid/one.html");
        assert!(a != b && a != c && a != d && b != c);
        assert_eq!(a, fingerprint(&voucher("10000", "aa"), "/paid/one.html"));

        let mut kept = Vec::new();
        remember(&mut kept, charge("pay_aaaaaaaaaaaaaaaa", a, 100), 600);
        let name = |id: &str, fingerprint| PaymentName {
            id: id.into(),
            fingerprint,
        };
        let found = lookup(&kept, &name("pay_aaaaaaaaaaaaaaaa", a), 200, 600);
        assert_eq!(found, Named::Repeat(&kept[0]));
        for other in [b, c, d] {
            let n = name("pay_aaaaaaaaaaaaaaaa", other);
            assert_eq!(lookup(&kept, &n, 200, 600), Named::Conflict);
        }
        let n = name("pay_bbbbbbbbbbbbbbbb", a);
        assert_eq!(lookup(&kept, &n, 200, 600), Named::New);
        // After the window, the id is free again.
        let n = name("pay_aaaaaaaaaaaaaaaa", b);
        assert_eq!(lookup(&kept, &n, 701, 600), Named::New);
    }

    #[test]
    fn the_list_is_bounded_and_keeps_the_newest() {
        let mut kept = Vec::new();
        for i in 0..(KEPT as u64 + 5) {
            remember(
                &mut kept,
                charge(&format!("pay_{i:016}"), B256::ZERO, 1_000 + i),
                600,
            );
        }
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].id, format!("pay_{:016}", 5));
        // The same id again replaces its entry; old ones leave with the window.
        remember(
            &mut kept,
            charge(&format!("pay_{:016}", 10), B256::ZERO, 1_100),
            600,
        );
        assert_eq!(kept.len(), KEPT);
        assert_eq!(
            kept.iter()
                .filter(|c| c.id == format!("pay_{:016}", 10))
                .count(),
            1
        );
        remember(
            &mut kept,
            charge("pay_late_0000000000", B256::ZERO, 1_700),
            600,
        );
        let left: Vec<(&str, u64)> = kept.iter().map(|c| (c.id.as_str(), c.at)).collect();
        assert_eq!(
            left,
            [
                ("pay_0000000000000010", 1_100),
                ("pay_late_0000000000", 1_700)
            ]
        );
        // A stored list reads back.
        let text = serde_json::to_string(&kept).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<NamedCharge>>(&text).unwrap(),
            kept
        );
    }
}
