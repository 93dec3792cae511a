//! The replay guard, one Durable Object per payer and token: it keeps that payer's
//! `x402_core::gate::replay::Book` in memory and in its storage (one JSON entry per nonce) and
//! answers reserve, admit, complete and release requests with the book's decisions.

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
    book: RefCell<Option<Book>>,
}

impl ReplayGuard {
    /// Loads the book from storage on the first request of this instance.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.book.borrow().is_some() {
            return Ok(());
        }
        let stored = self.state.storage().list().await?;
        let mut book = Book::new(worker::Date::now().as_millis());
        for pair in stored.entries() {
            let Ok(pair) = pair else { continue };
            let pair = worker::js_sys::Array::from(&pair);
            let (Some(key), Some(text)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
                continue;
            };
            match serde_json::from_str::<Entry>(&text) {
                Ok(e) => book.load(key, e),
                // An entry this version cannot read is dropped; the token's own nonce check
                // (authorizationState, read before every settlement) still refuses a replay.
                Err(e) => worker::console_error!("replay guard: unreadable entry {key}: {e}"),
            }
        }
        // Another request may have loaded it while storage was read: keep the first.
        let mut slot = self.book.borrow_mut();
        if slot.is_none() {
            *slot = Some(book);
        }
        Ok(())
    }

    /// Applies `op` to the book synchronously (no await between reading and changing it);
    /// returns the answer and the storage writes to make.
    fn apply(&self, op: GuardOp, now: u64) -> (Value, Vec<(String, Option<String>)>) {
        let mut slot = self.book.borrow_mut();
        let book = slot.get_or_insert_with(|| Book::new(now));
        let mut writes: Vec<(String, Option<String>)> =
            book.purge(now).into_iter().map(|k| (k, None)).collect();
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
                if book.complete(&nonce, outcome).is_some() {
                    put(&nonce, book, &mut writes);
                }
                json!({"ok": true})
            }
            GuardOp::Release { nonce } => {
                book.release(&nonce);
                writes.push((nonce, None));
                json!({"ok": true})
            }
        };
        (answer, writes)
    }
}

impl DurableObject for ReplayGuard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            book: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let op: GuardOp = req.json().await?;
        self.ensure_loaded().await?;
        let now = worker::Date::now().as_millis() / 1000;
        let (answer, writes) = self.apply(op, now);
        // Durable Object storage writes made without an await in between are committed
        // together, and the output gate holds the answer until they are durable.
        let storage = self.state.storage();
        for (key, text) in writes {
            match text {
                Some(t) => storage.put(&key, t).await?,
                None => {
                    storage.delete(&key).await?;
                }
            }
        }
        Response::from_json(&answer)
    }
}
