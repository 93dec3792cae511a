//! The replay guard, one Durable Object per payer and token: it keeps that payer's
//! `x402_core::gate::replay::Book` in memory and in its storage (one JSON entry per nonce) and
//! answers reserve, admit, complete and release requests with the book's decisions. An alarm
//! drops the entries that can no longer matter (`Book::purge`), so a payer's storage holds only
//! authorizations still inside their `validBefore` plus the settlement bound.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};
use x402_core::gate::replay::{Book, Decision, Entry, Outcome, Reservation, Snapshot};
use x402_core::U256;

/// A request to a payer's replay guard (one Durable Object per payer and token, named by
/// [`x402_core::gate::replay::payer_key`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub(crate) enum GuardOp {
    /// Reserve an authorization for a resource.
    Reserve(Reservation),
    /// Admit a reservation once the payer's balance is known.
    Admit {
        nonce: String,
        #[serde(default, with = "optional_decimal")]
        balance: Option<U256>,
        snapshot: Snapshot,
        served: bool,
    },
    /// Record how the settlement ended.
    Complete { nonce: String, outcome: Outcome },
    /// Forget a reservation whose settlement definitely did not happen.
    Release { nonce: String },
    /// How many entries the guard holds (the operator's status endpoint).
    Count,
    /// A verified Sign-In-With-X by this payer for `resource`: restored if the payer bought it
    /// (a purchase kept since its settlement, `restoreDays`), and `nonce` not accepted before
    /// (kept until `nonce_until`, unix seconds, when the sign-in has expired anyway).
    SignIn {
        resource: String,
        nonce: String,
        nonce_until: u64,
    },
    /// A purchase paid outside this guard's book (a `batch-settlement` voucher or deposit,
    /// charged by its channel object), recorded so that a sign-in restores it too. `transaction`:
    /// the deposit's, or `""` for a voucher.
    Bought {
        resource: String,
        transaction: String,
        at: u64,
    },
}

/// The answer to [`GuardOp::SignIn`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignInAnswer {
    /// The payer bought the resource: restore it (the nonce is now spent).
    pub(crate) restored: bool,
    /// The nonce was accepted before: refused.
    pub(crate) replayed: bool,
    /// The purchase's settlement transaction.
    pub(crate) transaction: Option<String>,
}

/// Storage key prefix of a purchase (`bought:<keccak256 of the resource>`, a [`Purchase`]; the
/// hash keeps a long query string within the storage key limit): what a sign-in restores.
/// Recorded when a settlement is recorded (or a channel charges, [`GuardOp::Bought`]), while
/// Sign-In-With-X is configured.
const BOUGHT: &str = "bought:";
/// Storage key prefix of an accepted sign-in nonce (`siwx:<nonce>`, its expiry).
const SIGNED_IN: &str = "siwx:";

fn bought_key(resource: &str) -> String {
    format!("{BOUGHT}{:x}", x402_core::keccak256(resource.as_bytes()))
}

/// A payer's purchase of a resource, kept for `restoreDays`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Purchase {
    /// Path and query.
    resource: String,
    transaction: String,
    /// Unix seconds after which it is no longer restored (and deleted).
    until: u64,
}

/// `Option<U256>` as an optional decimal string.
mod optional_decimal {
    use serde::{Deserialize, Deserializer, Serializer};
    use x402_core::U256;

    pub(crate) fn serialize<S: Serializer>(v: &Option<U256>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| x402_core::encoding::decimal_u256::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One payer's replay guard: the [`Book`] of its authorizations, kept in memory and in the
/// object's storage (one JSON entry per nonce), loaded whole when the object starts.
#[durable_object]
pub struct ReplayGuard {
    state: State,
    env: Env,
    book: RefCell<Option<Book>>,
    /// The alarm as last set (unix seconds), `None` when none is set; loaded with the book.
    alarm_at: std::cell::Cell<Option<u64>>,
    /// Purchases by resource (storage `bought:<resource>`); loaded with the book.
    purchases: RefCell<std::collections::HashMap<String, Purchase>>,
    /// Accepted sign-in nonces and their expiry (storage `siwx:<nonce>`); loaded with the book.
    signed_in: RefCell<std::collections::HashMap<String, u64>>,
}

impl ReplayGuard {
    /// Loads the book from storage on the first request of this instance.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.book.borrow().is_some() {
            return Ok(());
        }
        let stored = self.state.storage().list().await?;
        let mut book = Book::new(worker::Date::now().as_millis());
        let mut purchases = std::collections::HashMap::new();
        let mut signed_in = std::collections::HashMap::new();
        for pair in stored.entries() {
            let Ok(pair) = pair else { continue };
            let pair = worker::js_sys::Array::from(&pair);
            let (Some(key), Some(text)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
                continue;
            };
            if key.starts_with(BOUGHT) {
                if let Ok(p) = serde_json::from_str::<Purchase>(&text) {
                    purchases.insert(p.resource.clone(), p);
                }
                continue;
            }
            if let Some(nonce) = key.strip_prefix(SIGNED_IN) {
                if let Ok(until) = text.parse::<u64>() {
                    signed_in.insert(nonce.to_string(), until);
                }
                continue;
            }
            match serde_json::from_str::<Entry>(&text) {
                Ok(e) => book.load(key, e),
                // An entry this version cannot read is dropped; the token's own nonce check
                // (authorizationState, read before every settlement) still refuses a replay.
                Err(e) => worker::console_error!("replay guard: unreadable entry {key}: {e}"),
            }
        }
        // Another request may have loaded it while storage was read: keep the first. The stored
        // alarm is not trusted to be scheduled after a restart: `store` sets it again (alarm_at
        // unknown).
        let mut slot = self.book.borrow_mut();
        if slot.is_none() {
            *slot = Some(book);
            *self.purchases.borrow_mut() = purchases;
            *self.signed_in.borrow_mut() = signed_in;
            self.alarm_at.set(None);
        }
        Ok(())
    }

    /// How long past `validBefore` an entry is kept: the settlement bound of the configuration
    /// (the longest allowed when it cannot be read).
    fn grace(&self) -> u64 {
        crate::load(&self.env)
            .map(|app| app.config.settlement.bound_seconds())
            .unwrap_or(600)
    }

    /// Writes `writes` (put or delete), then moves the alarm to the book's next expiry. Writes
    /// made without an await in between are committed together, and the output gate holds the
    /// answer until they are durable.
    async fn store(&self, writes: Vec<(String, Option<String>)>, grace: u64) -> Result<()> {
        let storage = self.state.storage();
        for (key, text) in writes {
            match text {
                Some(t) => storage.put(&key, t).await?,
                None => {
                    storage.delete(&key).await?;
                }
            }
        }
        // The next expiry of an entry, a purchase or an accepted sign-in.
        let next = [
            self.book
                .borrow()
                .as_ref()
                .and_then(|b| b.next_expiry(grace)),
            self.purchases.borrow().values().map(|p| p.until).min(),
            self.signed_in.borrow().values().copied().min(),
        ]
        .into_iter()
        .flatten()
        .min();
        if next != self.alarm_at.get() {
            match next {
                // One second late: the alarm then finds the entry expired by `purge`'s rule. (A
                // date, not an i64: workers-rs reads an integer as an offset from now.)
                Some(at) => {
                    let ms = at.saturating_add(1).saturating_mul(1000) as f64;
                    let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from(ms));
                    storage.set_alarm(worker::ScheduledTime::new(date)).await?
                }
                None => storage.delete_alarm().await?,
            }
            self.alarm_at.set(next);
        }
        Ok(())
    }

    /// Applies `op` to the book synchronously (no await between reading and changing it);
    /// returns the answer and the storage writes to make.
    fn apply(&self, op: GuardOp, now: u64, grace: u64) -> (Value, Vec<(String, Option<String>)>) {
        let mut slot = self.book.borrow_mut();
        let book = slot.get_or_insert_with(|| Book::new(now));
        if matches!(op, GuardOp::Count) {
            // What storage holds now: no purge here, so the count shows the alarm's work.
            return (json!({"entries": book.len()}), Vec::new());
        }
        let mut writes: Vec<(String, Option<String>)> = book
            .purge(now, grace)
            .into_iter()
            .map(|k| (k, None))
            .collect();
        writes.extend(self.purge_kept(now));
        let put = |key: &str, book: &Book, writes: &mut Vec<_>| {
            let text = book.get(key).and_then(|e| serde_json::to_string(e).ok());
            writes.push((key.to_string(), text));
        };
        let answer = match op {
            GuardOp::Reserve(r) => {
                let d = book.reserve(&r);
                if matches!(d, Decision::Reserved { .. }) {
                    put(&r.nonce, book, &mut writes);
                }
                json!(d)
            }
            GuardOp::Admit {
                nonce,
                balance,
                snapshot,
                served,
            } => {
                let r = book.admit(&nonce, balance, snapshot, served);
                put(&nonce, book, &mut writes);
                match r {
                    Ok(()) => json!({"admitted": true}),
                    Err(refusal) => json!({"admitted": false, "refusal": refusal}),
                }
            }
            GuardOp::Complete { nonce, outcome } => {
                let settled = match &outcome {
                    Outcome::Settled { transaction, at } => Some((transaction.clone(), *at)),
                    _ => None,
                };
                if let Some(entry) = book.complete(&nonce, outcome) {
                    let resource = entry.resource.clone();
                    put(&nonce, book, &mut writes);
                    if let (Some((transaction, at)), Some(keep)) = (settled, self.restore_seconds())
                    {
                        writes.extend(self.bought(resource, transaction, at + keep));
                    }
                }
                json!({"ok": true})
            }
            GuardOp::Release { nonce } => {
                book.release(&nonce);
                // Deleted, unless a recorded settlement kept it (`Book::release`).
                put(&nonce, book, &mut writes);
                json!({"ok": true})
            }
            GuardOp::Count => json!({"entries": book.len()}),
            GuardOp::SignIn {
                resource,
                nonce,
                nonce_until,
            } => {
                let (answer, w) = self.sign_in(&resource, &nonce, nonce_until, now);
                writes.extend(w);
                json!(answer)
            }
            GuardOp::Bought {
                resource,
                transaction,
                at,
            } => {
                if let Some(keep) = self.restore_seconds() {
                    writes.extend(self.bought(resource, transaction, at + keep));
                }
                json!({"ok": true})
            }
        };
        (answer, writes)
    }

    /// How long purchases are kept (`restoreDays`, in seconds) while Sign-In-With-X is
    /// configured; `None` when it is not (nothing is recorded).
    fn restore_seconds(&self) -> Option<u64> {
        crate::load(&self.env).ok().and_then(|app| {
            (app.config.public_origin.is_some() && app.config.restore_days > 0)
                .then_some(app.config.restore_days * 86_400)
        })
    }

    /// Records a purchase (the latest settlement of the resource wins).
    fn bought(
        &self,
        resource: String,
        transaction: String,
        until: u64,
    ) -> Option<(String, Option<String>)> {
        let key = bought_key(&resource);
        let p = Purchase {
            resource: resource.clone(),
            transaction,
            until,
        };
        let text = serde_json::to_string(&p).ok()?;
        self.purchases.borrow_mut().insert(resource, p);
        Some((key, Some(text)))
    }

    /// A sign-in: restored when the resource was bought and the nonce is new (then spent).
    fn sign_in(
        &self,
        resource: &str,
        nonce: &str,
        nonce_until: u64,
        now: u64,
    ) -> (SignInAnswer, Vec<(String, Option<String>)>) {
        if self.signed_in.borrow().contains_key(nonce) {
            return (
                SignInAnswer {
                    replayed: true,
                    ..SignInAnswer::default()
                },
                Vec::new(),
            );
        }
        let Some(p) = self
            .purchases
            .borrow()
            .get(resource)
            .filter(|p| p.until > now)
            .cloned()
        else {
            return (SignInAnswer::default(), Vec::new());
        };
        self.signed_in
            .borrow_mut()
            .insert(nonce.to_string(), nonce_until);
        (
            SignInAnswer {
                restored: true,
                replayed: false,
                transaction: Some(p.transaction),
            },
            vec![(format!("{SIGNED_IN}{nonce}"), Some(nonce_until.to_string()))],
        )
    }

    /// Deletes the purchases and accepted sign-ins that have expired.
    fn purge_kept(&self, now: u64) -> Vec<(String, Option<String>)> {
        let mut gone = Vec::new();
        self.purchases.borrow_mut().retain(|r, p| {
            let keep = p.until > now;
            if !keep {
                gone.push((bought_key(r), None));
            }
            keep
        });
        self.signed_in.borrow_mut().retain(|n, until| {
            let keep = *until > now;
            if !keep {
                gone.push((format!("{SIGNED_IN}{n}"), None));
            }
            keep
        });
        gone
    }
}

impl DurableObject for ReplayGuard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            book: RefCell::new(None),
            alarm_at: std::cell::Cell::new(None),
            purchases: RefCell::new(std::collections::HashMap::new()),
            signed_in: RefCell::new(std::collections::HashMap::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let op: GuardOp = req.json().await?;
        self.ensure_loaded().await?;
        let now = worker::Date::now().as_millis() / 1000;
        let grace = self.grace();
        let (answer, writes) = self.apply(op, now, grace);
        self.store(writes, grace).await?;
        Response::from_json(&answer)
    }

    /// Drops the expired entries (from memory and storage) and sets the next alarm.
    async fn alarm(&self) -> Result<Response> {
        self.ensure_loaded().await?;
        // The alarm that fired is no longer set.
        self.alarm_at.set(None);
        let now = worker::Date::now().as_millis() / 1000;
        let grace = self.grace();
        let mut gone: Vec<(String, Option<String>)> = self
            .book
            .borrow_mut()
            .as_mut()
            .map(|b| b.purge(now, grace))
            .unwrap_or_default()
            .into_iter()
            .map(|k| (k, None))
            .collect();
        gone.extend(self.purge_kept(now));
        self.store(gone, grace).await?;
        Response::ok("")
    }
}
