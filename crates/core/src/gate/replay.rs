//! The replay guard's rules: one EIP-3009 authorization is honoured once, and one payer's
//! balance is never promised twice.
//!
//! The paywall keeps one [`Book`] per payer and token (named by [`payer_key`]; the Worker keeps
//! each in its own Durable Object, so no object is shared by all payers). A book holds one
//! [`Entry`] per authorization nonce and the total of the amounts it accepted but has not seen
//! settled. Every decision is a pure, synchronous method here, so the Durable Object only
//! stores and serializes, and the rules are tested without one.
//!
//! The rules (x402 v2 specification, `specs/schemes/exact/scheme_exact_evm.md`, "replay
//! protection"; EIP-3009 nonces are per token and payer):
//! - a new authorization is reserved for one resource (path and query);
//! - a copy of it for the same resource while the first is being checked waits; once that
//!   request has served (background routes) or settled, the copy is served again without a
//!   second charge, for [`RETRY_WINDOW_SECONDS`] after settlement and never past the
//!   authorization's own `validBefore`;
//! - for another resource it is refused (`invalid_exact_evm_nonce_already_used`, or
//!   `duplicate_settlement` while in flight);
//! - a request is admitted only while the payer's balance, less what is accepted and not yet
//!   settled, covers its amount (`insufficient_funds`), so concurrent payments served before
//!   settlement cannot spend one balance many times;
//! - every entry ends: after `validBefore` the token refuses the authorization anyway (and
//!   verification refuses a retry of it), so once the settlement bound has passed too (a
//!   transaction sent just before `validBefore` may still be mined and must count against the
//!   balance until then) the entry is dropped ([`Book::purge`]; the Worker's guard object does
//!   it with an alarm at [`Book::next_expiry`], so a payer who never comes back leaves nothing
//!   behind).

use alloc::{collections::BTreeMap, format, string::String, vec::Vec};
use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

/// How long after its settlement a settled authorization is served again to the same payer
/// for the same resource (a retry after a lost response).
pub const RETRY_WINDOW_SECONDS: u64 = 600;

/// Names the book of one payer for one token on one chain.
pub fn payer_key(chain_id: u64, token: Address, payer: Address) -> String {
    format!("{chain_id}:{token:#x}:{payer:#x}")
}

/// Names an authorization inside its payer's book.
pub fn nonce_key(nonce: B256) -> String {
    format!("{nonce:#x}")
}

/// Where an authorization stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum State {
    /// Reserved by a request that is checking or settling it now; `admitted` once its funds
    /// were found (it then counts against the payer's balance); `served` once content went out
    /// before settlement (a background route).
    InFlight {
        /// Counted against the balance.
        #[serde(default)]
        admitted: bool,
        /// Content was served for it.
        served: bool,
    },
    /// Settled on chain by this paywall at unix time `at`.
    Settled {
        /// Settlement transaction hash.
        transaction: String,
        /// When the settlement was seen.
        at: u64,
    },
    /// Broadcast, outcome unknown: never sent again.
    Pending {
        /// Transaction hash (empty when a facilitator's answer was lost).
        transaction: String,
        /// Content was served for it (a background route).
        served: bool,
    },
}

/// What the guard remembers about one authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The resource it pays for: normalised path and query.
    pub resource: String,
    /// Its amount, in the token's atomic units.
    #[serde(with = "crate::encoding::decimal_u256")]
    pub amount: U256,
    /// Its `validBefore` (unix seconds; bounded by verification).
    pub valid_before: u64,
    /// The `payment-identifier` id it came with, if any (`crate::wire::payment_identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Where it stands.
    #[serde(flatten)]
    pub state: State,
}

impl Entry {
    /// Whether its amount may still leave the payer's balance through this paywall.
    fn holds_funds(&self) -> bool {
        matches!(
            self.state,
            State::InFlight { admitted: true, .. } | State::Pending { .. }
        )
    }
}

/// A request to reserve an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// [`nonce_key`] of the authorization.
    pub nonce: String,
    /// Normalised path and query.
    pub resource: String,
    /// Amount of the authorization.
    #[serde(with = "crate::encoding::decimal_u256")]
    pub amount: U256,
    /// Its `validBefore`.
    pub valid_before: u64,
    /// Request time.
    pub now: u64,
    /// The payment's `payment-identifier` id, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// The book's settled total when a reservation was made: what [`Book::admit`] subtracts from
/// a balance read after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The book instance (a Durable Object restart starts a new count).
    pub epoch: u64,
    /// Amounts seen settled so far by this instance.
    #[serde(with = "crate::encoding::decimal_u256")]
    pub settled: U256,
}

/// The answer to a [`Reservation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum Decision {
    /// Not seen before: reserved for the caller, which must admit, then complete or release it.
    Reserved {
        /// For [`Book::admit`].
        snapshot: Snapshot,
    },
    /// Already served or settled for this resource: serve again, charge nothing.
    Serve {
        /// The settlement, once known.
        transaction: Option<String>,
        /// When it was settled.
        at: Option<u64>,
    },
    /// A copy for this resource is being checked or settled right now: ask again shortly.
    Wait,
    /// Being settled for another resource (`duplicate_settlement`).
    InFlight,
    /// Settled or broadcast for another resource: the nonce is spent
    /// (`invalid_exact_evm_nonce_already_used`).
    UsedElsewhere,
    /// Settled for this resource, but longer ago than the retry window.
    RetryExpired {
        /// When it was settled.
        at: u64,
    },
    /// Broadcast earlier for this resource, outcome unknown (`settlement_pending`).
    Pending {
        /// Transaction hash.
        transaction: String,
    },
    /// Its `payment-identifier` id already names another payment of this payer (HTTP 409).
    IdConflict,
}

/// Why [`Book::admit`] refused (the reservation is gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "camelCase")]
pub enum Refusal {
    /// The balance, less what is accepted and not yet settled, does not cover the amount.
    InsufficientFunds {
        /// The balance as read, less settlements seen since the reservation.
        #[serde(with = "crate::encoding::decimal_u256")]
        balance: U256,
        /// Accepted by this paywall and not yet settled, other than this one.
        #[serde(with = "crate::encoding::decimal_u256")]
        in_flight: U256,
    },
    /// The book restarted between reservation and admission: try again.
    Restarted,
    /// No reservation of that nonce (released, or expired).
    NotReserved,
}

/// How a settlement attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Settled.
    Settled {
        /// Transaction hash.
        transaction: String,
        /// When.
        at: u64,
    },
    /// Broadcast, outcome unknown.
    Pending {
        /// Transaction hash, if known.
        transaction: String,
    },
}

/// One payer's authorizations, as the guard holds them.
#[derive(Debug, Clone, Default)]
pub struct Book {
    entries: BTreeMap<String, Entry>,
    settled: U256,
    epoch: u64,
}

impl Book {
    /// An empty book; `epoch` tells this instance from earlier ones (any value that differs
    /// across restarts, such as the start time in milliseconds).
    pub fn new(epoch: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            settled: U256::ZERO,
            epoch,
        }
    }

    /// Puts back an entry loaded from storage.
    pub fn load(&mut self, nonce: String, entry: Entry) {
        self.entries.insert(nonce, entry);
    }

    /// The entry of `nonce`.
    pub fn get(&self, nonce: &str) -> Option<&Entry> {
        self.entries.get(nonce)
    }

    /// Total accepted and not yet settled, other than `except`.
    pub fn in_flight(&self, except: &str) -> U256 {
        self.entries
            .iter()
            .filter(|(k, e)| k.as_str() != except && e.holds_funds())
            .fold(U256::ZERO, |sum, (_, e)| sum.saturating_add(e.amount))
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the first entry may be dropped by [`Book::purge`] with the same `grace`.
    pub fn next_expiry(&self, grace: u64) -> Option<u64> {
        self.entries
            .values()
            .map(|e| e.valid_before.saturating_add(grace))
            .min()
    }

    /// Drops the entries whose authorization expired (`validBefore`) at least `grace` seconds
    /// ago (the settlement bound: by then a transaction sent before `validBefore` was mined or
    /// can no longer be): the token refuses them, so nothing can be replayed or settled.
    /// Returns their nonces, to delete from storage.
    pub fn purge(&mut self, now: u64, grace: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.valid_before.saturating_add(grace) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.entries.remove(k);
        }
        gone
    }

    /// Decides on a reservation; on [`Decision::Reserved`] the entry is in the book (store it).
    pub fn reserve(&mut self, r: &Reservation) -> Decision {
        // One id, one payment: the id of another authorization is a conflict, whatever the
        // state of either (the same authorization again is a retry, judged below).
        if let Some(id) = &r.payment_id {
            if self
                .entries
                .iter()
                .any(|(k, e)| *k != r.nonce && e.payment_id.as_ref() == Some(id))
            {
                return Decision::IdConflict;
            }
        }
        let Some(e) = self.entries.get(&r.nonce) else {
            self.entries.insert(
                r.nonce.clone(),
                Entry {
                    resource: r.resource.clone(),
                    amount: r.amount,
                    valid_before: r.valid_before,
                    payment_id: r.payment_id.clone(),
                    state: State::InFlight {
                        admitted: false,
                        served: false,
                    },
                },
            );
            return Decision::Reserved {
                snapshot: Snapshot {
                    epoch: self.epoch,
                    settled: self.settled,
                },
            };
        };
        let same = e.resource == r.resource;
        match &e.state {
            State::InFlight { .. } if !same => Decision::InFlight,
            State::InFlight { served: true, .. } => Decision::Serve {
                transaction: None,
                at: None,
            },
            State::InFlight { served: false, .. } => Decision::Wait,
            State::Settled { .. } | State::Pending { .. } if !same => Decision::UsedElsewhere,
            State::Settled { transaction, at } => {
                if r.now > at.saturating_add(RETRY_WINDOW_SECONDS) || r.now >= e.valid_before {
                    Decision::RetryExpired { at: *at }
                } else {
                    Decision::Serve {
                        transaction: Some(transaction.clone()),
                        at: Some(*at),
                    }
                }
            }
            State::Pending { served: true, .. } => Decision::Serve {
                transaction: None,
                at: None,
            },
            State::Pending { transaction, .. } => Decision::Pending {
                transaction: transaction.clone(),
            },
        }
    }

    /// Admits a reserved authorization once the payer's `balance` has been read (on chain,
    /// after the reservation; `None` when the paywall cannot read it): the balance less the
    /// settlements this book saw since `snapshot` must cover this amount and every other one
    /// accepted and not yet settled (reservations not yet admitted do not count: eight
    /// concurrent payments covered once by the balance admit exactly one). `served` marks it as
    /// served before settlement. On a refusal the reservation is dropped (delete it from
    /// storage).
    pub fn admit(
        &mut self,
        nonce: &str,
        balance: Option<U256>,
        snapshot: Snapshot,
        served: bool,
    ) -> Result<(), Refusal> {
        let Some(amount) = self.entries.get(nonce).map(|e| e.amount) else {
            return Err(Refusal::NotReserved);
        };
        if let Some(balance) = balance {
            if snapshot.epoch != self.epoch {
                self.entries.remove(nonce);
                return Err(Refusal::Restarted);
            }
            let seen_since = self.settled.saturating_sub(snapshot.settled);
            let balance = balance.saturating_sub(seen_since);
            let in_flight = self.in_flight(nonce);
            if in_flight.saturating_add(amount) > balance {
                self.entries.remove(nonce);
                return Err(Refusal::InsufficientFunds { balance, in_flight });
            }
        }
        if let Some(e) = self.entries.get_mut(nonce) {
            e.state = State::InFlight {
                admitted: true,
                served,
            };
        }
        Ok(())
    }

    /// Records how the settlement of `nonce` ended; returns the entry to store (`None` when
    /// there is nothing to change). A settlement already recorded stays as it was: the request
    /// that settled and the relayer that saw the transaction mined both report it, and the first
    /// record's time is the one passes and the retry window count from.
    pub fn complete(&mut self, nonce: &str, outcome: Outcome) -> Option<&Entry> {
        let e = self.entries.get_mut(nonce)?;
        if matches!(e.state, State::Settled { .. }) {
            return None;
        }
        let served = matches!(
            e.state,
            State::InFlight { served: true, .. } | State::Pending { served: true, .. }
        );
        match outcome {
            Outcome::Settled { transaction, at } => {
                if e.holds_funds() {
                    self.settled = self.settled.saturating_add(e.amount);
                }
                e.state = State::Settled { transaction, at };
            }
            Outcome::Pending { transaction } => {
                e.state = State::Pending {
                    transaction,
                    served,
                }
            }
        }
        Some(e)
    }

    /// Forgets an authorization whose settlement definitely did not happen. A settlement
    /// already recorded stays: a second transaction for it (reverted, since the token honours
    /// the authorization once) does not undo the first.
    pub fn release(&mut self, nonce: &str) {
        if !matches!(
            self.entries.get(nonce).map(|e| &e.state),
            Some(State::Settled { .. })
        ) {
            self.entries.remove(nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "/paid/one.html";

    fn res(nonce: &str, resource: &str, amount: u64, now: u64) -> Reservation {
        Reservation {
            nonce: nonce.into(),
            resource: resource.into(),
            amount: U256::from(amount),
            valid_before: 1_300,
            now,
            payment_id: None,
        }
    }

    #[test]
    fn a_settlement_is_recorded_once() {
        let mut b = Book::new(1);
        let s = snapshot(b.reserve(&res("a", R, 10, 1_000)));
        b.admit("a", Some(U256::from(100)), s, false).unwrap();
        let settled = |at| Outcome::Settled {
            transaction: "0x1".into(),
            at,
        };
        assert!(b.complete("a", settled(1_001)).is_some());
        // The relayer's report, later: nothing changes (the pass counts from 1_001).
        assert!(b.complete("a", settled(1_003)).is_none());
        assert!(b
            .complete(
                "a",
                Outcome::Pending {
                    transaction: "0x2".into()
                }
            )
            .is_none());
        assert_eq!(
            b.get("a").unwrap().state,
            State::Settled {
                transaction: "0x1".into(),
                at: 1_001
            }
        );
        assert_eq!(b.in_flight(""), U256::ZERO, "counted as settled once");
        // A reverted second transaction's release does not undo it.
        b.release("a");
        assert!(matches!(b.get("a").unwrap().state, State::Settled { .. }));
    }

    #[test]
    fn one_payment_identifier_names_one_payment() {
        let mut b = Book::new(1);
        let with_id = |nonce: &str, id: &str| Reservation {
            payment_id: Some(id.into()),
            ..res(nonce, R, 10, 1_000)
        };
        let s = snapshot(b.reserve(&with_id("a", "pay_aaaaaaaaaaaaaaaa")));
        // Another authorization under the same id: a conflict, and nothing reserved for it.
        assert_eq!(
            b.reserve(&with_id("b", "pay_aaaaaaaaaaaaaaaa")),
            Decision::IdConflict
        );
        assert!(b.get("b").is_none());
        // The same authorization again with its id is a retry (waits while in flight).
        assert_eq!(
            b.reserve(&with_id("a", "pay_aaaaaaaaaaaaaaaa")),
            Decision::Wait
        );
        b.admit("a", Some(U256::from(100)), s, false).unwrap();
        b.complete(
            "a",
            Outcome::Settled {
                transaction: "0x1".into(),
                at: 1_001,
            },
        );
        assert_eq!(
            b.reserve(&with_id("a", "pay_aaaaaaaaaaaaaaaa")),
            Decision::Serve {
                transaction: Some("0x1".into()),
                at: Some(1_001)
            }
        );
        assert_eq!(
            b.reserve(&with_id("c", "pay_aaaaaaaaaaaaaaaa")),
            Decision::IdConflict,
            "still after settlement"
        );
        // Other ids, or none, are not affected; once the entry is purged the id is free.
        assert!(matches!(
            b.reserve(&with_id("c", "pay_cccccccccccccccc")),
            Decision::Reserved { .. }
        ));
        assert!(matches!(
            b.reserve(&res("d", R, 10, 1_000)),
            Decision::Reserved { .. }
        ));
        b.purge(1_300, 0);
        assert!(matches!(
            b.reserve(&with_id("e", "pay_aaaaaaaaaaaaaaaa")),
            Decision::Reserved { .. }
        ));
    }

    fn snapshot(d: Decision) -> Snapshot {
        match d {
            Decision::Reserved { snapshot } => snapshot,
            d => panic!("not reserved: {d:?}"),
        }
    }

    #[test]
    fn one_authorization_once() {
        let mut b = Book::new(7);
        let s = snapshot(b.reserve(&res("a", R, 10, 1_000)));
        // A copy racing for the first serve waits; for another resource it is a duplicate.
        assert_eq!(b.reserve(&res("a", R, 10, 1_000)), Decision::Wait);
        assert_eq!(
            b.reserve(&res("a", "/paid/two.html", 10, 1_000)),
            Decision::InFlight
        );
        b.admit("a", Some(U256::from(10)), s, false).unwrap();
        assert_eq!(b.reserve(&res("a", R, 10, 1_000)), Decision::Wait);
        b.complete(
            "a",
            Outcome::Settled {
                transaction: "0xab".into(),
                at: 1_010,
            },
        );
        assert_eq!(
            b.reserve(&res("a", R, 10, 1_020)),
            Decision::Serve {
                transaction: Some("0xab".into()),
                at: Some(1_010)
            }
        );
        // The same payment with another query string is another resource.
        assert_eq!(
            b.reserve(&res("a", "/paid/one.html?x=1", 10, 1_020)),
            Decision::UsedElsewhere
        );
        // Past validBefore, or past the retry window, it is not served again.
        assert_eq!(
            b.reserve(&res("a", R, 10, 1_300)),
            Decision::RetryExpired { at: 1_010 }
        );
        let mut long = b.clone();
        long.entries.get_mut("a").unwrap().valid_before = u64::MAX;
        assert_eq!(
            long.reserve(&res("a", R, 10, 1_010 + RETRY_WINDOW_SECONDS + 1)),
            Decision::RetryExpired { at: 1_010 }
        );
        // Expired entries end.
        assert_eq!(b.next_expiry(0), Some(1_300));
        assert_eq!(b.purge(1_299, 0), Vec::<String>::new());
        // A settlement bound keeps it that much longer.
        assert_eq!(b.next_expiry(30), Some(1_330));
        assert_eq!(b.clone().purge(1_329, 30), Vec::<String>::new());
        assert_eq!(b.len(), 1);
        assert_eq!(b.purge(1_300, 0), vec!["a".to_string()]);
        assert!(b.is_empty());
        assert_eq!(b.next_expiry(0), None);
        assert!(b.get("a").is_none());
    }

    #[test]
    fn background_retries_are_served_while_settling() {
        let mut b = Book::new(1);
        let s = snapshot(b.reserve(&res("a", R, 10, 1_000)));
        b.admit("a", Some(U256::from(10)), s, true).unwrap();
        let serve = Decision::Serve {
            transaction: None,
            at: None,
        };
        assert_eq!(b.reserve(&res("a", R, 10, 1_001)), serve);
        b.complete(
            "a",
            Outcome::Pending {
                transaction: "0xcd".into(),
            },
        );
        assert_eq!(b.reserve(&res("a", R, 10, 1_002)), serve);
        assert_eq!(
            b.reserve(&res("a", "/api/other", 10, 1_002)),
            Decision::UsedElsewhere
        );
        // Not served before settlement: a pending settlement is reported, not served.
        let mut b = Book::new(1);
        let s = snapshot(b.reserve(&res("a", R, 10, 1_000)));
        b.admit("a", None, s, false).unwrap();
        b.complete(
            "a",
            Outcome::Pending {
                transaction: "0xcd".into(),
            },
        );
        assert_eq!(
            b.reserve(&res("a", R, 10, 1_001)),
            Decision::Pending {
                transaction: "0xcd".into()
            }
        );
    }

    #[test]
    fn one_balance_is_promised_once() {
        let mut b = Book::new(3);
        let balance = Some(U256::from(10));
        let snaps: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|n| snapshot(b.reserve(&res(n, &format!("/api/{n}"), 10, 1_000))))
            .collect();
        assert_eq!(b.admit("a", balance, snaps[0], true), Ok(()));
        assert_eq!(
            b.admit("b", balance, snaps[1], true),
            Err(Refusal::InsufficientFunds {
                balance: U256::from(10),
                in_flight: U256::from(10),
            })
        );
        assert!(b.get("b").is_none(), "a refused reservation is dropped");
        // Settled while c's balance was being read: the balance read before the settlement
        // still counts it, so the settlement is subtracted.
        b.complete(
            "a",
            Outcome::Settled {
                transaction: "0x1".into(),
                at: 1_001,
            },
        );
        assert_eq!(b.in_flight(""), U256::ZERO);
        assert!(matches!(
            b.admit("c", balance, snaps[2], true),
            Err(Refusal::InsufficientFunds { .. })
        ));
        // A balance read after the settlement, with a new snapshot, admits exactly what it covers.
        let s = snapshot(b.reserve(&res("d", "/api/d", 10, 1_002)));
        assert_eq!(b.admit("d", Some(U256::from(19)), s, true), Ok(()));
        let s = snapshot(b.reserve(&res("e", "/api/e", 10, 1_002)));
        assert!(b.admit("e", Some(U256::from(19)), s, true).is_err());
        // A failed settlement releases its funds.
        b.release("d");
        let s = snapshot(b.reserve(&res("e", "/api/e", 10, 1_002)));
        assert_eq!(b.admit("e", Some(U256::from(10)), s, true), Ok(()));
        // Without a balance (no RPC), admission only marks the entry.
        let s = snapshot(b.reserve(&res("f", "/api/f", 10, 1_002)));
        assert_eq!(b.admit("f", None, s, true), Ok(()));
        // A restart between reservation and admission is refused, not guessed.
        let s = snapshot(b.reserve(&res("g", "/api/g", 1, 1_002)));
        b.epoch = 4;
        assert_eq!(
            b.admit("g", Some(U256::MAX), s, true),
            Err(Refusal::Restarted)
        );
        assert_eq!(b.admit("zz", None, s, true), Err(Refusal::NotReserved));
    }

    #[test]
    fn entries_round_trip_through_storage_json() {
        let mut e = Entry {
            resource: R.into(),
            amount: U256::from(10_000),
            valid_before: 1_300,
            payment_id: None,
            state: State::Settled {
                transaction: "0xab".into(),
                at: 1_010,
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(
            !json.contains("paymentId"),
            "entries stored before ids read the same: {json}"
        );
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), e);
        e.payment_id = Some("pay_0123456789abcdef".into());
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), e);
        assert!(payer_key(1, Address::ZERO, Address::ZERO).starts_with("1:0x0000"));
        assert_eq!(nonce_key(B256::ZERO).len(), 66);
    }
}
