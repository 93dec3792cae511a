//! The two Durable Objects: the replay guard, one per payer and token (one authorization
//! honoured once, one balance promised once), and the relayer (one place assigns the relayer's
//! account nonces and broadcasts).
//!
//! A Durable Object runs one event at a time, but events interleave at `await` points; both
//! objects therefore decide in memory, synchronously, after their last `await`, and persist
//! afterwards.

use crate::chain::{quantity, rpc, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};
use x402_core::evm::signer::LocalSigner;
use x402_core::evm::tx::Eip1559Tx;
use x402_core::gate::replay::{Book, Decision, Entry, Outcome, Reservation, Snapshot};
use x402_core::{Address, Bytes, U256};

/// Name of the relayer key secret.
pub(crate) const RELAYER_KEY: &str = "X402_RELAYER_KEY";

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

/// A request to the relayer: send `data` to `to` on `chain_id`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendTx {
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
    /// Callee (0x hex).
    pub(crate) to: String,
    /// Calldata (0x hex).
    pub(crate) data: String,
    pub(crate) gas_limit: u64,
}

/// The relayer's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub(crate) enum SendResult {
    /// Accepted by the node.
    Sent { hash: String },
    /// Signed and sent, but no answer came back: the outcome is unknown.
    Unknown { hash: String, message: String },
    /// Refused; nothing was broadcast.
    Refused { message: String },
}

/// The relayer: account nonces for the relayer key, assigned in one place.
#[durable_object]
pub struct Relayer {
    env: Env,
    /// Next nonce per chain.
    next: RefCell<HashMap<u64, u64>>,
    /// Nonces handed out whose transaction was refused (reused first, so no gap stalls the
    /// queue).
    free: RefCell<HashMap<u64, BTreeSet<u64>>>,
    /// Broadcasts awaiting the node's answer right now.
    in_flight: Cell<u32>,
    /// Broadcasts answered (or failed) so far: tells whether one ended during a nonce query.
    broadcasts: Cell<u64>,
}

impl Relayer {
    fn take_nonce(&self, chain_id: u64) -> Option<u64> {
        if let Some(n) = self
            .free
            .borrow_mut()
            .get_mut(&chain_id)
            .and_then(|f| f.pop_first())
        {
            return Some(n);
        }
        let mut next = self.next.borrow_mut();
        let n = next.get_mut(&chain_id)?;
        let out = *n;
        *n += 1;
        Some(out)
    }

    /// Brings the nonce counter in line with the node's pending transaction count, by the rule
    /// of `x402_core::gate::relayer::next_nonce`: follow the node when it is ahead; when it is behind
    /// (a broadcast with an unknown outcome never reached it), go back to its count so no
    /// permanent gap stalls later transactions — only if no broadcast of ours was in flight or
    /// ended while the count was read (it might not be counted yet).
    async fn sync_nonce(
        &self,
        req: &SendTx,
        relayer: Address,
    ) -> std::result::Result<(), RpcError> {
        let quiet_before = self.in_flight.get() == 0;
        let seen = self.broadcasts.get();
        let count = rpc(
            &req.rpc_url,
            "eth_getTransactionCount",
            json!([relayer.to_string(), "pending"]),
        )
        .await?;
        let count = quantity(&count, "eth_getTransactionCount")? as u64;
        // No await from here on: the decision and the update are one step.
        let quiet = quiet_before && self.in_flight.get() == 0 && self.broadcasts.get() == seen;
        let mut next = self.next.borrow_mut();
        let ours = next.get(&req.chain_id).copied();
        let n = x402_core::gate::relayer::next_nonce(ours, count, quiet);
        if ours != Some(n) {
            if ours.is_some() {
                worker::console_log!(
                    "relayer: chain {} nonce {} -> {n} (node pending count {count})",
                    req.chain_id,
                    ours.unwrap_or_default()
                );
            }
            next.insert(req.chain_id, n);
            // Refused nonces to reuse lie below our old counter: when the node is ahead they
            // are taken; when we go back, every nonce from `n` on is assigned in order again.
            self.free.borrow_mut().remove(&req.chain_id);
        }
        Ok(())
    }

    async fn send(&self, req: &SendTx) -> SendResult {
        let signer = match self
            .env
            .secret(RELAYER_KEY)
            .map(|s| s.to_string())
            .map_err(|e| e.to_string())
            .and_then(|k| LocalSigner::from_hex(k.trim()).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                return SendResult::Refused {
                    message: format!("relayer key {RELAYER_KEY}: {e}"),
                }
            }
        };
        let refused = |e: RpcError| SendResult::Refused {
            message: e.message(),
        };
        let (Ok(to), Ok(data)) = (req.to.parse::<Address>(), req.data.parse::<Bytes>()) else {
            return SendResult::Refused {
                message: "bad transaction fields".into(),
            };
        };
        // Every assignment checks the node's count first (one cheap call): see sync_nonce.
        if let Err(e) = self.sync_nonce(req, signer.address()).await {
            return refused(e);
        }
        let gas_price = match rpc(&req.rpc_url, "eth_gasPrice", json!([])).await {
            Ok(v) => match quantity(&v, "eth_gasPrice") {
                Ok(p) => p,
                Err(e) => return refused(e),
            },
            Err(e) => return refused(e),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(nonce) = self.take_nonce(req.chain_id) else {
                return SendResult::Refused {
                    message: "relayer nonce not initialised".into(),
                };
            };
            let tx = Eip1559Tx {
                chain_id: req.chain_id,
                nonce,
                max_priority_fee_per_gas: gas_price.min(1_000_000_000),
                max_fee_per_gas: gas_price.saturating_mul(2).max(1),
                gas_limit: req.gas_limit,
                to,
                value: U256::ZERO,
                data: data.clone(),
            };
            let (raw, hash) = match tx.sign(&signer) {
                Ok(x) => x,
                Err(e) => {
                    return SendResult::Refused {
                        message: e.to_string(),
                    }
                }
            };
            let hash = hash.to_string();
            self.in_flight.set(self.in_flight.get() + 1);
            let answer = rpc(
                &req.rpc_url,
                "eth_sendRawTransaction",
                json!([raw.to_string()]),
            )
            .await;
            self.in_flight.set(self.in_flight.get() - 1);
            self.broadcasts.set(self.broadcasts.get() + 1);
            match answer {
                Ok(_) => return SendResult::Sent { hash },
                Err(RpcError::Unreachable(m)) => {
                    return SendResult::Unknown { hash, message: m };
                }
                Err(RpcError::Node(m)) => {
                    let lower = m.to_lowercase();
                    let nonce_clash = lower.contains("nonce too low")
                        || lower.contains("already known")
                        || lower.contains("replacement");
                    if nonce_clash && attempts < 4 {
                        // Someone else used this nonce (another relayer instance, a manual
                        // transaction): resynchronise and try the next one.
                        if let Err(e) = self.sync_nonce(req, signer.address()).await {
                            return refused(e);
                        }
                        continue;
                    }
                    if !nonce_clash {
                        self.free
                            .borrow_mut()
                            .entry(req.chain_id)
                            .or_default()
                            .insert(nonce);
                    }
                    return SendResult::Refused { message: m };
                }
            }
        }
    }
}

impl DurableObject for Relayer {
    fn new(_state: State, env: Env) -> Self {
        Self {
            env,
            next: RefCell::new(HashMap::new()),
            free: RefCell::new(HashMap::new()),
            in_flight: Cell::new(0),
            broadcasts: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let send: SendTx = req.json().await?;
        Response::from_json(&self.send(&send).await)
    }
}
