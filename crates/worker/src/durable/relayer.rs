//! The relayers, one Durable Object per relayer key (`settlement.relayerKeys`; secrets
//! `X402_RELAYER_KEY`, `X402_RELAYER_KEY_2`, …): each is the one place that assigns its key's
//! account nonces (by `x402_core::gate::relayer::next_nonce`), signs EIP-1559 transactions and
//! broadcasts them, and tracks every transaction it sent until one version of it is mined.
//!
//! Tracking (crates/worker/README.md, "Scale"): a signed transaction is stored before it is
//! broadcast, so no restart forgets a nonce in use. An alarm then follows it: a node that
//! forgot it (a restart, a dropped pool) gets it again unchanged; one still unmined
//! `replaceAfterSeconds` after it was sent is replaced by the same transaction (same nonce) with
//! fees raised by an eighth (nodes want at least a tenth more: go-ethereum's `txpool.pricebump`),
//! so at most one version is mined. Once the key's mined count passes its nonce, the version
//! that was mined (or none: the nonce went to another transaction) is known, and the payer's
//! replay guard learns it (also for a payment whose request stopped waiting, or was cut off).
//!
//! A key holds at most `maxInFlightPerKey` unmined transactions (a node keeps only so many per
//! sender); past that, or when its gas balance cannot pay for one more, it refuses at once
//! (nothing sent) and the Worker passes the payment to another key (`crate::settle`).

use super::call::{durable_call, GUARD_BINDING, RELAYER_BINDING};
use super::guard::GuardOp;
use crate::chain::{self, quantity, rpc, rpc_batch, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use worker::{durable_object, Delay, DurableObject, Env, Request, Response, Result, State};
use x402_core::evm::signer::LocalSigner;
use x402_core::evm::tx::Eip1559Tx;
use x402_core::gate::replay::Outcome;
use x402_core::{Address, Bytes, U256};

/// Name of the first relayer key's secret; key `i > 1` is `X402_RELAYER_KEY_<i>`.
pub(crate) const RELAYER_KEY: &str = "X402_RELAYER_KEY";

/// The secret holding relayer key `index` (1-based).
pub(crate) fn key_secret(index: u32) -> String {
    if index <= 1 {
        RELAYER_KEY.to_string()
    } else {
        format!("{RELAYER_KEY}_{index}")
    }
}

/// The Durable Object name of relayer key `index`.
pub(crate) fn object_name(index: u32) -> String {
    format!("key-{index}")
}

/// The most versions of one transaction (the first and its replacements): fees grow by an
/// eighth each time, so this bounds them at about twice the first (1.125^5). Past it the last
/// version waits as it is.
const MAX_VERSIONS: usize = 6;

/// How often the alarm looks at unmined transactions.
const TRACK_INTERVAL_MS: u64 = 2_000;

/// An alarm believed set but overdue by this much is taken as lost and set again
/// (`x402_core::gate::relayer::alarm_to_set`).
const ALARM_STALE_MS: u64 = 10_000;

/// Receipts asked for in one JSON-RPC batch when concluding mined transactions (a receipt with
/// its transfer logs is about 1–2 KB; the Worker reads answers up to 1 MiB).
const RECEIPTS_PER_BATCH: usize = 64;

/// The payer's replay guard and the authorization a transaction settles: told the outcome
/// when the request that sent it has stopped waiting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GuardRef {
    /// `x402_core::gate::replay::payer_key`.
    pub(crate) payer: String,
    /// `x402_core::gate::replay::nonce_key`.
    pub(crate) nonce: String,
}

/// A request to the relayer: send `data` to `to` on `chain_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendTx {
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
    /// Callee (0x hex).
    pub(crate) to: String,
    /// Calldata (0x hex).
    pub(crate) data: String,
    pub(crate) gas_limit: u64,
    /// Which relayer key (1-based; the object is named by [`object_name`] of it).
    #[serde(default = "first_key")]
    pub(crate) key: u32,
    /// Bound on this key's unmined transactions.
    #[serde(default = "default_max_in_flight")]
    pub(crate) max_in_flight: u32,
    /// Replace an unmined transaction this long after it was sent.
    #[serde(default = "default_replace_after")]
    pub(crate) replace_after_seconds: u64,
    /// The exact payment's guard, if any.
    #[serde(default)]
    pub(crate) guard: Option<GuardRef>,
    /// The authorization's `validBefore`, if any: the transaction is useless after it.
    #[serde(default)]
    pub(crate) valid_before: Option<u64>,
    /// The content was served before this settlement (a background route): if its key
    /// cannot get it mined, another key must ([`Relayer::hand_over`]). A settlement whose
    /// payer is still waiting for the content is not handed over: it answered
    /// `settlement_pending`, and an authorization that expires unsent charges no one for
    /// nothing served.
    #[serde(default)]
    pub(crate) delivered: bool,
    /// The caller waits this long (ms) for the receipt: the broadcast may ask the node for it
    /// (`eth_sendRawTransactionSync`), for at most this long; no answer by then is an unknown
    /// outcome, followed up like a lost broadcast. `None`: a plain broadcast.
    #[serde(default)]
    pub(crate) wait_receipt_ms: Option<u64>,
}

fn first_key() -> u32 {
    1
}
fn default_max_in_flight() -> u32 {
    x402_core::gate::config::DEFAULT_MAX_IN_FLIGHT_PER_KEY
}
fn default_replace_after() -> u64 {
    x402_core::gate::config::DEFAULT_REPLACE_AFTER_SECONDS
}

/// What a relayer object is asked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub(crate) enum RelayerOp {
    /// Sign and broadcast a transaction.
    Send(SendTx),
    /// Keep a settlement to send (a background route's, whose content already went out): stored
    /// at once, sent by the alarm right after, and tried again until it is broadcast or its
    /// authorization expires (`valid_before`).
    Enqueue {
        send: SendTx,
        valid_before: u64,
        /// Keys that passed it on already (full or out of gas).
        #[serde(default)]
        hops: u32,
    },
    /// The key's address, gas balance and unmined transactions (operators' status; the choice
    /// of a key when the payer's own is full).
    Status {
        rpc_url: String,
        key: u32,
        gas_limit: u64,
    },
}

/// The relayer's answer to [`RelayerOp::Send`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub(crate) enum SendResult {
    /// Accepted by the node; `mined` when it answered with the receipt
    /// (`eth_sendRawTransactionSync`): succeeded or reverted.
    Sent {
        hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mined: Option<bool>,
    },
    /// Signed and sent, but no answer came back: the outcome is unknown.
    Unknown { hash: String, message: String },
    /// Refused; nothing was broadcast.
    Refused { message: String },
    /// The key holds its bound of unmined transactions; nothing was sent.
    Busy { in_flight: u32 },
    /// The key's gas balance cannot pay for this transaction; nothing was sent.
    LowGas { balance: String, needed: String },
}

/// The relayer's answer to [`RelayerOp::Status`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyStatus {
    pub(crate) index: u32,
    pub(crate) address: String,
    /// Native balance in wei (decimal), when it could be read.
    pub(crate) balance: Option<String>,
    /// The balance cannot pay one settlement at twice the current gas price.
    pub(crate) low_gas: bool,
    /// Transactions sent and not yet known mined.
    pub(crate) in_flight: u32,
    /// Of those, replaced at least once.
    pub(crate) replaced: u32,
    /// Background settlements stored and not sent yet (the chain unreachable, say).
    pub(crate) queued: u32,
}

/// One transaction the relayer sent, stored under [`tracked_key`] before its first broadcast
/// and kept until a version of it is mined or its nonce is used otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tracked {
    /// The relayer key (1-based) that signs it.
    key: u32,
    rpc_url: String,
    chain_id: u64,
    nonce: u64,
    to: String,
    data: String,
    gas_limit: u64,
    max_fee: u128,
    priority_fee: u128,
    replace_after_seconds: u64,
    /// The hash of every version signed, oldest first.
    hashes: Vec<String>,
    /// The latest version, signed (0x hex).
    raw: String,
    /// When the latest version was sent (unix seconds).
    sent: u64,
    guard: Option<GuardRef>,
    #[serde(default)]
    valid_before: Option<u64>,
    /// Given to another key as a queued settlement because this key could not pay for it
    /// ([`Relayer::hand_over`]).
    #[serde(default)]
    handed_over: bool,
    /// [`SendTx::delivered`].
    #[serde(default)]
    delivered: bool,
}

/// A settlement waiting to be sent ([`RelayerOp::Enqueue`]), stored under `job:<guard>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Job {
    send: SendTx,
    /// The authorization's `validBefore`: past it the token refuses it; the job is dropped.
    valid_before: u64,
    /// Sends tried so far.
    attempts: u32,
    /// Keys that passed it on before this one.
    #[serde(default)]
    hops: u32,
    /// Passed on to the next key: kept only so that a copy queued here again is recognised
    /// (never sent from here), until its authorization expires.
    #[serde(default)]
    forwarded: bool,
}

fn job_key(send: &SendTx) -> String {
    match &send.guard {
        Some(g) => format!("job:{}:{}", g.payer, g.nonce),
        None => format!("job:{}:{}", send.to, send.data),
    }
}

fn tracked_key(chain_id: u64, nonce: u64) -> String {
    format!("tx:{chain_id}:{nonce:020}")
}

/// The records stored under `prefix`: (key, text).
async fn stored(storage: &worker::Storage, prefix: &str) -> Result<Vec<(String, String)>> {
    let listed = storage
        .list_with_options(worker::ListOptions::new().prefix(prefix))
        .await?;
    Ok(listed
        .entries()
        .into_iter()
        .filter_map(|pair| {
            let pair = worker::js_sys::Array::from(&pair.ok()?);
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect())
}

/// Logs a stored record this version cannot read (it is left out).
fn unreadable(key: &str, e: &serde_json::Error) {
    worker::console_error!("relayer: unreadable record {key}: {e}");
}

fn now_seconds() -> u64 {
    worker::Date::now().as_millis() / 1000
}

/// A fee raised by an eighth (rounded up, at least 1): above the tenth nodes require of a
/// replacement.
fn bumped(fee: u128) -> u128 {
    fee.saturating_add(fee.div_ceil(8))
        .max(fee.saturating_add(1))
}

/// One relayer key: its account nonces, assigned in one place, and its unmined transactions.
#[durable_object]
pub struct Relayer {
    state: State,
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
    /// The key (as the secret reads) and its signer.
    signer: RefCell<Option<(String, LocalSigner)>>,
    /// Unmined transactions by (chain, nonce); `None` until loaded from storage.
    tracked: RefCell<Option<BTreeMap<(u64, u64), Tracked>>>,
    /// When the alarm was last set for (unix ms); `None` when none is known to be set.
    alarm_at: Cell<Option<u64>>,
    /// Queued settlements are being sent ([`Relayer::run_jobs`]): one round at a time.
    running_jobs: Cell<bool>,
    /// Settlements waiting to be sent, by storage key; loaded with `tracked`.
    jobs: RefCell<BTreeMap<String, Job>>,
    /// The key's mined transaction count per chain, as last read.
    mined: RefCell<HashMap<u64, u64>>,
    /// A tracking pass is running ([`Relayer::track`]).
    tracking: Cell<bool>,
    /// The key was last seen low on gas (logged once per episode).
    low_gas: Cell<bool>,
    /// Whether the node offers `eth_sendRawTransactionSync` (asked on the first send).
    sync_send: Cell<Option<bool>>,
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

    /// Loads the tracked transactions (and whether an alarm is set) on the first request.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.tracked.borrow().is_some() {
            return Ok(());
        }
        let storage = self.state.storage();
        let mut map = BTreeMap::new();
        for (key, text) in stored(&storage, "tx:").await? {
            match serde_json::from_str::<Tracked>(&text) {
                Ok(t) => {
                    map.insert((t.chain_id, t.nonce), t);
                }
                Err(e) => unreadable(&key, &e),
            }
        }
        let mut jobs = BTreeMap::new();
        for (key, text) in stored(&storage, "job:").await? {
            match serde_json::from_str::<Job>(&text) {
                Ok(j) => {
                    jobs.insert(key, j);
                }
                Err(e) => unreadable(&key, &e),
            }
        }
        if self.tracked.borrow().is_none() {
            let work = !map.is_empty() || !jobs.is_empty();
            *self.tracked.borrow_mut() = Some(map);
            *self.jobs.borrow_mut() = jobs;
            // A stored alarm is not trusted to be scheduled after a restart (workerd runs a
            // persisted alarm only when its own schedule still knows it): set it again.
            self.alarm_at.set(None);
            if work {
                self.ensure_alarm(1).await?;
            }
        }
        Ok(())
    }

    /// Stores a settlement to send and moves the alarm to now (it sends it).
    async fn enqueue(&self, send: SendTx, valid_before: u64, hops: u32) -> Result<()> {
        self.ensure_loaded().await?;
        let key = job_key(&send);
        // Already held (queued, or sent and followed): nothing to add. A marker left here when
        // this key passed it on counts as held for a copy queued anew (`hops == 0`), but a job
        // coming back round the pool (`hops > 0`) takes its place.
        let same = |g: &Option<GuardRef>| matches!((g, &send.guard), (Some(a), Some(b)) if a.payer == b.payer && a.nonce == b.nonce);
        let held = self
            .jobs
            .borrow()
            .get(&key)
            .is_some_and(|j| !j.forwarded || hops == 0);
        if held
            || self
                .tracked
                .borrow()
                .as_ref()
                // Its own transaction, unless handed over and coming back round the pool.
                .is_some_and(|m| {
                    m.values()
                        .any(|t| same(&t.guard) && !(hops > 0 && t.handed_over))
                })
        {
            return Ok(());
        }
        let job = Job {
            send,
            valid_before,
            attempts: 0,
            hops,
            forwarded: false,
        };
        let text =
            serde_json::to_string(&job).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let storage = self.state.storage();
        storage.put(&key, text).await?;
        self.jobs.borrow_mut().insert(key, job);
        if hops > 0 {
            // Passed on by a full or unfunded key: tried at this key's next round, so a job
            // going round a pool with no room does not spin.
            return self.ensure_alarm(TRACK_INTERVAL_MS).await;
        }
        self.ensure_alarm(1).await
    }

    /// Sends the queued settlements: broadcast (or outcome unknown: then tracked like any
    /// other) ends a job; a full or unfunded key passes it to the next key (tried there at its
    /// next round; a marker stays so a copy queued here again is not sent beside it); any other refusal
    /// (the node unreachable) leaves it for the next alarm, until its authorization expires —
    /// then the payer's guard releases it (content went out unpaid; said in the log).
    async fn run_jobs(&self) -> Result<()> {
        if self.running_jobs.replace(true) {
            return Ok(());
        }
        let jobs: Vec<(String, Job)> = self
            .jobs
            .borrow()
            .iter()
            .map(|(k, j)| (k.clone(), j.clone()))
            .collect();
        // Once this key is found full or out of gas, the rest of this round's jobs go straight
        // to the next key (trying each here would cost a round of calls and let them expire).
        let mut unable = false;
        let mut failed = None;
        for (key, job) in jobs {
            // One job's failure (storage) leaves it for the next round; the others still go.
            if let Err(e) = self.run_job(&key, job, &mut unable).await {
                worker::console_error!("relayer: queued settlement {key}: {e}");
                failed.get_or_insert(e);
            }
        }
        self.running_jobs.set(false);
        failed.map_or(Ok(()), Err)
    }

    /// One queued settlement's turn in [`Relayer::run_jobs`].
    async fn run_job(&self, key: &str, mut job: Job, unable: &mut bool) -> Result<()> {
        let storage = self.state.storage();
        let now = now_seconds();
        if job.forwarded {
            // The next key holds it; this marker only has to outlive its authorization.
            if now >= job.valid_before {
                self.jobs.borrow_mut().remove(key);
                storage.delete(key).await?;
            }
            return Ok(());
        }
        if now >= job.valid_before {
            worker::console_error!(
                "relayer key {}: a background settlement was never sent before its authorization expired ({key}, {} attempts); that content went out unpaid",
                job.send.key,
                job.attempts
            );
            if let Some(g) = &job.send.guard {
                let op = GuardOp::Release {
                    nonce: g.nonce.clone(),
                };
                let _ = durable_call::<Value>(&self.env, GUARD_BINDING, &g.payer, &op).await;
            }
            self.jobs.borrow_mut().remove(key);
            storage.delete(key).await?;
            return Ok(());
        }
        job.attempts += 1;
        if *unable {
            return self.pass_on(key, job).await;
        }
        // A job queued twice (a retry racing the first send) or an authorization used
        // meanwhile: the token would revert it, so it is not sent (no gas spent on it). Any
        // other failure of the simulation is left to the send.
        if let Ok(data) = job.send.data.parse::<Bytes>() {
            if let Err(RpcError::Node(m)) =
                crate::chain::call(&job.send.rpc_url, &job.send.to, &data, "eth_call").await
            {
                worker::console_log!(
                    "relayer: queued settlement {key} would revert ({m}); not sent"
                );
                self.jobs.borrow_mut().remove(key);
                storage.delete(key).await?;
                return Ok(());
            }
        }
        match self.send(&job.send).await? {
            SendResult::Sent { .. } | SendResult::Unknown { .. } => {
                self.jobs.borrow_mut().remove(key);
                storage.delete(key).await?;
            }
            // Passed to the next key (a marker stays here, so a second copy queued by a retry
            // is recognised by `enqueue` and never sent beside it).
            SendResult::Busy { .. } | SendResult::LowGas { .. } => {
                *unable = true;
                self.pass_on(key, job).await?;
            }
            SendResult::Refused { message } => {
                if job.attempts == 1 || job.attempts % 10 == 0 {
                    worker::console_error!(
                        "relayer: queued settlement not sent yet (attempt {}): {message}",
                        job.attempts
                    );
                }
                self.keep_job(key, job).await?;
            }
        }
        Ok(())
    }

    /// Passes a job this key cannot send (full, out of gas) to the next key, round the pool as
    /// long as it takes (tried there at its next round); a marker stays here so a copy queued
    /// here again is not sent beside it. Kept here when there is no other key or it cannot be
    /// reached.
    async fn pass_on(&self, key: &str, mut job: Job) -> Result<()> {
        let (keys, _) = self.pool();
        if keys > 1 {
            let hops = job.hops.saturating_add(1);
            job.forwarded = self
                .queue_at_next_key(job.send.clone(), keys, job.valid_before, hops)
                .await
                .is_ok();
        }
        self.keep_job(key, job).await
    }

    /// Queues `send` at the key after its own (round a pool of `keys`), as a job that came
    /// `hops` keys round the pool.
    async fn queue_at_next_key(
        &self,
        mut send: SendTx,
        keys: u32,
        valid_before: u64,
        hops: u32,
    ) -> std::result::Result<(), x402_core::Error> {
        send.key = send.key % keys + 1;
        let to = object_name(send.key);
        let op = RelayerOp::Enqueue {
            send,
            valid_before,
            hops,
        };
        durable_call::<Value>(&self.env, RELAYER_BINDING, &to, &op)
            .await
            .map(|_| ())
    }

    /// The pool as configured: how many keys, and the bound on each one's unmined
    /// transactions.
    fn pool(&self) -> (u32, u32) {
        crate::load(&self.env)
            .ok()
            .and_then(|a| match a.config.settlement {
                x402_core::gate::config::Settlement::SelfSettle {
                    relayer_keys,
                    max_in_flight_per_key,
                    ..
                } => Some((relayer_keys, max_in_flight_per_key)),
                _ => None,
            })
            .unwrap_or((1, default_max_in_flight()))
    }

    async fn keep_job(&self, key: &str, job: Job) -> Result<()> {
        let text =
            serde_json::to_string(&job).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().put(key, text).await?;
        self.jobs.borrow_mut().insert(key.to_string(), job);
        Ok(())
    }

    /// This key's transactions on `chain_id` not known to be mined: the tracked ones at or
    /// above the mined count last read (the ones below wait for the alarm to conclude them).
    fn tracked_count(&self, chain_id: u64) -> u32 {
        let from = self.mined.borrow().get(&chain_id).copied().unwrap_or(0);
        self.tracked.borrow().as_ref().map_or(0, |m| {
            m.range((chain_id, from)..=(chain_id, u64::MAX)).count() as u32
        })
    }

    /// Reads the key's mined transaction count (one call), so [`Relayer::tracked_count`] no
    /// longer counts the transactions mined meanwhile. Read failures leave it as it was.
    async fn refresh_mined(&self, rpc_url: &str, chain_id: u64, address: &Address) {
        if let Ok(n) = rpc(
            rpc_url,
            "eth_getTransactionCount",
            json!([address.to_string(), "latest"]),
        )
        .await
        .and_then(|v| quantity(&v, "eth_getTransactionCount"))
        {
            let mut mined = self.mined.borrow_mut();
            let e = mined.entry(chain_id).or_insert(0);
            *e = (*e).max(n as u64);
        }
    }

    async fn put_tracked(&self, t: &Tracked) -> Result<()> {
        let text = serde_json::to_string(t).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.tracked
            .borrow_mut()
            .get_or_insert_with(BTreeMap::new)
            .insert((t.chain_id, t.nonce), t.clone());
        self.state
            .storage()
            .put(&tracked_key(t.chain_id, t.nonce), text)
            .await
    }

    async fn drop_tracked(&self, chain_id: u64, nonce: u64) -> Result<()> {
        if let Some(m) = self.tracked.borrow_mut().as_mut() {
            m.remove(&(chain_id, nonce));
        }
        self.state
            .storage()
            .delete(&tracked_key(chain_id, nonce))
            .await
            .map(|_| ())
    }

    /// Makes sure the alarm fires within `delay_ms`: set unless one is already due by then
    /// (never postponed: see `x402_core::gate::relayer::alarm_to_set`).
    async fn ensure_alarm(&self, delay_ms: u64) -> Result<()> {
        let now = worker::Date::now().as_millis();
        let Some(at) = x402_core::gate::relayer::alarm_to_set(
            self.alarm_at.get(),
            now.saturating_add(delay_ms),
            now,
            ALARM_STALE_MS,
        ) else {
            return Ok(());
        };
        self.alarm_at.set(Some(at));
        // A date, not an integer: workers-rs reads an integer as an offset from now.
        let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from(at as f64));
        self.state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await
    }

    /// Brings the nonce counter in line with the node's pending transaction count, by the rule
    /// of `x402_core::gate::relayer::next_nonce`: follow the node when it is ahead; when it is
    /// behind, either a tracked transaction of ours is missing from its pool (it gets it again,
    /// and the counter stays) or a broadcast with an unknown outcome never reached it (go back
    /// to its count so no permanent gap stalls later transactions) — only if no broadcast of
    /// ours was in flight or ended while the count was read (it might not be counted yet).
    async fn sync_nonce(
        &self,
        rpc_url: &str,
        chain_id: u64,
        relayer: Address,
    ) -> std::result::Result<(), RpcError> {
        let quiet_before = self.in_flight.get() == 0;
        let seen = self.broadcasts.get();
        let count = rpc(
            rpc_url,
            "eth_getTransactionCount",
            json!([relayer.to_string(), "pending"]),
        )
        .await?;
        let count = quantity(&count, "eth_getTransactionCount")? as u64;
        let quiet = quiet_before && self.in_flight.get() == 0 && self.broadcasts.get() == seen;
        // Tracked transactions the node does not count: it lost them (a restart, a dropped
        // pool). They go to it again, unchanged, in nonce order; the counter stays past them.
        let (missing, highest): (Vec<String>, Option<u64>) = {
            let tracked = self.tracked.borrow();
            let mine = tracked
                .as_ref()
                .map(|m| m.range((chain_id, 0)..=(chain_id, u64::MAX)));
            let missing = mine
                .clone()
                .into_iter()
                .flatten()
                .filter(|(_, t)| t.nonce >= count)
                .map(|(_, t)| t.raw.clone())
                .collect();
            (
                missing,
                mine.and_then(|mut r| r.next_back()).map(|(_, t)| t.nonce),
            )
        };
        if quiet && !missing.is_empty() {
            worker::console_log!(
                "relayer: chain {chain_id}: the node counts {count} transactions; sending {} tracked ones again",
                missing.len()
            );
            for raw in missing {
                let _ = rpc(rpc_url, "eth_sendRawTransaction", json!([raw])).await;
            }
        }
        // No await from here on: the decision and the update are one step.
        let has_tracked_at_count = self
            .tracked
            .borrow()
            .as_ref()
            .is_some_and(|m| m.contains_key(&(chain_id, count)));
        let mut next = self.next.borrow_mut();
        let ours = next
            .get(&chain_id)
            .copied()
            .or(highest.map(|h| h + 1))
            .map(|n| n.max(highest.map_or(0, |h| h + 1)));
        let n = x402_core::gate::relayer::next_nonce(ours, count, quiet && !has_tracked_at_count);
        if next.get(&chain_id).copied() != Some(n) {
            if let Some(old) = next.get(&chain_id) {
                worker::console_log!(
                    "relayer: chain {chain_id} nonce {old} -> {n} (node pending count {count})"
                );
            }
            next.insert(chain_id, n);
            // Refused nonces to reuse lie below our old counter: when the node is ahead they
            // are taken; when we go back, every nonce from `n` on is assigned in order again.
            self.free.borrow_mut().remove(&chain_id);
        }
        Ok(())
    }

    /// The key's signer, parsed once per instance (deriving its address is a scalar
    /// multiplication) and again only when the secret changes.
    fn signer(&self, key: u32) -> std::result::Result<LocalSigner, String> {
        let name = key_secret(key);
        let secret = self
            .env
            .secret(&name)
            .map(|s| s.to_string())
            .map_err(|e| format!("relayer key {name}: {e}"))?;
        if let Some((k, s)) = self.signer.borrow().as_ref() {
            if *k == secret {
                return Ok(s.clone());
            }
        }
        let signer =
            LocalSigner::from_hex(secret.trim()).map_err(|e| format!("relayer key {name}: {e}"))?;
        *self.signer.borrow_mut() = Some((secret, signer.clone()));
        Ok(signer)
    }

    async fn send(&self, req: &SendTx) -> Result<SendResult> {
        self.ensure_loaded().await?;
        let signer = match self.signer(req.key) {
            Ok(s) => s,
            Err(message) => return Ok(SendResult::Refused { message }),
        };
        let refused = |e: RpcError| SendResult::Refused {
            message: e.message(),
        };
        let (Ok(to), Ok(data)) = (req.to.parse::<Address>(), req.data.parse::<Bytes>()) else {
            return Ok(SendResult::Refused {
                message: "bad transaction fields".into(),
            });
        };
        if self.tracked_count(req.chain_id) >= req.max_in_flight {
            // Full: first learn how many were mined meanwhile (one call; the alarm concludes
            // them, tells their guards and forgets them).
            self.refresh_mined(&req.rpc_url, req.chain_id, &signer.address())
                .await;
            self.ensure_alarm(TRACK_INTERVAL_MS).await?;
            let n = self.tracked_count(req.chain_id);
            if n >= req.max_in_flight {
                return Ok(SendResult::Busy { in_flight: n });
            }
        }
        // Every assignment checks the node's count first (one cheap call): see sync_nonce. The
        // gas price and the key's balance are read at the same time (separate requests, so each
        // stays a call of its own for the node and for tests that fail one method).
        let (synced, gas_price, balance) = futures_util::future::join3(
            self.sync_nonce(&req.rpc_url, req.chain_id, signer.address()),
            rpc(&req.rpc_url, "eth_gasPrice", json!([])),
            rpc(
                &req.rpc_url,
                "eth_getBalance",
                json!([signer.address().to_string(), "latest"]),
            ),
        )
        .await;
        if let Err(e) = synced {
            return Ok(refused(e));
        }
        let gas_price = match gas_price.and_then(|v| quantity(&v, "eth_gasPrice")) {
            Ok(p) => p,
            Err(e) => return Ok(refused(e)),
        };
        let max_fee = gas_price.saturating_mul(2).max(1);
        let priority_fee = gas_price.min(1_000_000_000);
        let needed = max_fee.saturating_mul(u128::from(req.gas_limit));
        if let Ok(balance) = balance.and_then(|v| quantity(&v, "eth_getBalance")) {
            if balance < needed {
                // Said once when the key runs low (not on every payment routed around it).
                if !self.low_gas.replace(true) {
                    worker::console_error!(
                        "relayer key {} ({}) is low on gas: balance {balance} wei, one settlement needs up to {needed}; payments go to the other keys until it is refilled",
                        req.key,
                        signer.address()
                    );
                }
                return Ok(SendResult::LowGas {
                    balance: balance.to_string(),
                    needed: needed.to_string(),
                });
            }
            if self.low_gas.replace(false) {
                worker::console_log!("relayer key {} is funded again", req.key);
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(nonce) = self.take_nonce(req.chain_id) else {
                return Ok(SendResult::Refused {
                    message: "relayer nonce not initialised".into(),
                });
            };
            let tx = Eip1559Tx {
                chain_id: req.chain_id,
                nonce,
                max_priority_fee_per_gas: priority_fee,
                max_fee_per_gas: max_fee,
                gas_limit: req.gas_limit,
                to,
                value: U256::ZERO,
                data: data.clone(),
            };
            let (raw, hash) = match tx.sign(&signer) {
                Ok(x) => x,
                Err(e) => {
                    return Ok(SendResult::Refused {
                        message: e.to_string(),
                    })
                }
            };
            let hash = hash.to_string();
            let now = now_seconds();
            let tracked = Tracked {
                key: req.key,
                rpc_url: req.rpc_url.clone(),
                chain_id: req.chain_id,
                nonce,
                to: req.to.clone(),
                data: req.data.clone(),
                gas_limit: req.gas_limit,
                max_fee,
                priority_fee,
                replace_after_seconds: req.replace_after_seconds,
                hashes: vec![hash.clone()],
                raw: raw.to_string(),
                sent: now,
                guard: req.guard.clone(),
                valid_before: req.valid_before,
                handed_over: false,
                delivered: req.delivered,
            };
            // Stored before it can reach the node: a restart never forgets a nonce in use.
            self.put_tracked(&tracked).await?;
            self.in_flight.set(self.in_flight.get() + 1);
            // A node that answers with the receipt saves the caller a round trip to read it
            // (asked once per instance whether it can), when the caller waits for it.
            let sync = match (req.wait_receipt_ms, self.sync_send.get()) {
                (None, _) => None,
                (Some(ms), Some(known)) => known.then_some(ms),
                (Some(ms), None) => {
                    let known = chain::offers_sync_send(&req.rpc_url).await;
                    self.sync_send.set(Some(known));
                    known.then_some(ms)
                }
            };
            let answer = if let Some(ms) = sync {
                let raw_hex = raw.to_string();
                let sending = std::pin::pin!(chain::send_raw_sync(&req.rpc_url, &raw_hex));
                let timer = std::pin::pin!(Delay::from(std::time::Duration::from_millis(ms)));
                match futures_util::future::select(sending, timer).await {
                    futures_util::future::Either::Left((sent, _)) => sent.map(|s| match s {
                        chain::SyncSend::Mined(ok) => Some(ok),
                        chain::SyncSend::Pending => None,
                    }),
                    // Sent, and no answer in time: kept like a lost broadcast (the alarm sends
                    // it again if the node never saw it); the caller reports it pending.
                    futures_util::future::Either::Right(_) => Err(RpcError::Unreachable(format!(
                        "no receipt within {ms} ms of the broadcast"
                    ))),
                }
            } else {
                rpc(
                    &req.rpc_url,
                    "eth_sendRawTransaction",
                    json!([raw.to_string()]),
                )
                .await
                .map(|_| None)
            };
            self.in_flight.set(self.in_flight.get() - 1);
            self.broadcasts.set(self.broadcasts.get() + 1);
            match answer {
                Ok(mined) => {
                    self.ensure_alarm(TRACK_INTERVAL_MS).await?;
                    return Ok(SendResult::Sent { hash, mined });
                }
                Err(RpcError::Unreachable(m)) => {
                    // Kept: the alarm sends it again if the node never saw it.
                    self.ensure_alarm(TRACK_INTERVAL_MS).await?;
                    return Ok(SendResult::Unknown { hash, message: m });
                }
                Err(RpcError::Node(m)) => {
                    // The node refused this transaction: it is not in its pool.
                    self.drop_tracked(req.chain_id, nonce).await?;
                    let lower = m.to_lowercase();
                    if lower.contains("insufficient funds") {
                        // Drained between the balance read and the broadcast: like a low
                        // balance, another key takes the payment (the nonce is reused here).
                        self.free
                            .borrow_mut()
                            .entry(req.chain_id)
                            .or_default()
                            .insert(nonce);
                        self.low_gas.set(true);
                        return Ok(SendResult::LowGas {
                            balance: "0".into(),
                            needed: needed.to_string(),
                        });
                    }
                    let nonce_clash = lower.contains("nonce too low")
                        || lower.contains("already known")
                        || lower.contains("replacement");
                    if nonce_clash && attempts < 4 {
                        // Someone else used this nonce (another deployment, a manual
                        // transaction): resynchronise and try the next one.
                        if let Err(e) = self
                            .sync_nonce(&req.rpc_url, req.chain_id, signer.address())
                            .await
                        {
                            return Ok(refused(e));
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
                    return Ok(SendResult::Refused { message: m });
                }
            }
        }
    }

    /// Follows this key's unmined transactions on `chain_id`: the ones whose nonce the chain has
    /// passed are settled (the payer's guard told which version was mined, or that none was);
    /// the rest are sent again when the node lost them and replaced when they are older than
    /// their bound. Read failures leave everything as it is for the next round.
    async fn track(&self, chain_id: u64, address: &Address) -> Result<()> {
        // One pass at a time: concurrent sends of a full key (and the alarm) would otherwise
        // each conclude the same transactions again.
        if self.tracking.replace(true) {
            return Ok(());
        }
        let result = self.track_once(chain_id, address).await;
        self.tracking.set(false);
        result
    }

    async fn track_once(&self, chain_id: u64, address: &Address) -> Result<()> {
        let list: Vec<Tracked> = self.tracked.borrow().as_ref().map_or_else(Vec::new, |m| {
            m.range((chain_id, 0)..=(chain_id, u64::MAX))
                .map(|(_, t)| t.clone())
                .collect()
        });
        let Some(url) = list.first().map(|t| t.rpc_url.clone()) else {
            return Ok(());
        };
        let mined = match rpc(
            &url,
            "eth_getTransactionCount",
            json!([address.to_string(), "latest"]),
        )
        .await
        .and_then(|v| quantity(&v, "eth_getTransactionCount"))
        {
            Ok(n) => n as u64,
            Err(_) => return Ok(()),
        };
        {
            let mut m = self.mined.borrow_mut();
            let e = m.entry(chain_id).or_insert(0);
            *e = (*e).max(mined);
        }
        let (done, open): (Vec<Tracked>, Vec<Tracked>) =
            list.into_iter().partition(|t| t.nonce < mined);
        if !done.is_empty() {
            self.conclude(&url, done).await?;
        }
        let now = now_seconds();
        for t in open {
            if now.saturating_sub(t.sent) >= t.replace_after_seconds
                && t.hashes.len() < MAX_VERSIONS
            {
                let key = (t.chain_id, t.nonce);
                if self.replace(t).await? {
                    self.hand_over(key).await?;
                }
                continue;
            }
            // Does the node still hold the latest version?
            let latest = t.hashes.last().cloned().unwrap_or_default();
            if let Ok(Value::Null) = rpc(&url, "eth_getTransactionByHash", json!([latest])).await {
                if !t.handed_over {
                    worker::console_log!(
                        "relayer: the node lost {latest} (nonce {}); sending it again",
                        t.nonce
                    );
                }
                // A key drained since cannot: its settlement goes to another key.
                if let Err(e) = rpc(&url, "eth_sendRawTransaction", json!([t.raw])).await {
                    if e.message().to_lowercase().contains("insufficient funds") {
                        self.hand_over((t.chain_id, t.nonce)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Transactions whose nonce the chain has passed: which version was mined (or that none
    /// was), told to the payer's guard; then forgotten. The receipts are asked for in batches
    /// of at most [`RECEIPTS_PER_BATCH`]: a backlog (after an outage, a restart) in one batch
    /// would get an answer larger than the Worker reads, every round, and never be concluded.
    async fn conclude(&self, url: &str, mut done: Vec<Tracked>) -> Result<()> {
        let calls: Vec<usize> = done.iter().map(|t| t.hashes.len()).collect();
        for n in x402_core::gate::relayer::batch_sizes(&calls, RECEIPTS_PER_BATCH) {
            let rest = done.split_off(n);
            self.conclude_batch(url, done).await?;
            done = rest;
        }
        Ok(())
    }

    /// [`Relayer::conclude`] for one batch of receipts.
    async fn conclude_batch(&self, url: &str, done: Vec<Tracked>) -> Result<()> {
        let calls: Vec<(&str, Value)> = done
            .iter()
            .flat_map(|t| {
                t.hashes
                    .iter()
                    .map(|h| ("eth_getTransactionReceipt", json!([h])))
            })
            .collect();
        let answers = rpc_batch(url, calls).await;
        let mut answers = answers.into_iter();
        let mut mined_list = Vec::with_capacity(done.len());
        for t in done {
            let mut outcome: Option<Option<(String, bool)>> = Some(None);
            for h in &t.hashes {
                match answers.next() {
                    Some(Ok(Value::Null)) => {}
                    Some(Ok(r)) => {
                        let ok = r.get("status").and_then(Value::as_str) == Some("0x1");
                        outcome = outcome.map(|_| Some((h.clone(), ok)));
                    }
                    // Unknown: look again next round.
                    _ => outcome = None,
                }
            }
            if let Some(mined) = outcome {
                mined_list.push((t, mined));
            }
        }
        // Every payer's guard told at once (one round trip for the batch, not one per
        // transaction: a backlog concluded one by one held the alarm, and the queued
        // settlements behind it, for minutes). Always told, not only when the request stopped
        // waiting: a request can also be cut off (a restart, an evicted isolate) after its
        // transaction was sent, and its guard would then hold the payment in flight while the
        // payer's retries wait. Recording the same settlement twice is harmless
        // (`Book::complete`).
        let told = futures_util::future::join_all(mined_list.iter().map(|(t, mined)| async move {
            let Some(g) = &t.guard else {
                return Ok(());
            };
            let op = match mined {
                Some((hash, true)) => GuardOp::Complete {
                    nonce: g.nonce.clone(),
                    outcome: Outcome::Settled {
                        transaction: hash.clone(),
                        at: now_seconds(),
                    },
                },
                // Reverted, or the nonce went to another transaction: nothing moved.
                _ => GuardOp::Release {
                    nonce: g.nonce.clone(),
                },
            };
            durable_call::<Value>(&self.env, GUARD_BINDING, &g.payer, &op)
                .await
                .map(|_| ())
        }))
        .await;
        for ((t, mined), told) in mined_list.into_iter().zip(told) {
            if let Err(e) = told {
                // Kept for the next round.
                worker::console_error!("relayer: cannot tell the replay guard: {e}");
                continue;
            }
            match &mined {
                Some((hash, ok)) => worker::console_log!(
                    "relayer: nonce {} mined as {hash} ({})",
                    t.nonce,
                    if *ok { "success" } else { "reverted" }
                ),
                None => worker::console_log!(
                    "relayer: nonce {} went to another transaction; none of ours was mined",
                    t.nonce
                ),
            }
            self.drop_tracked(t.chain_id, t.nonce).await?;
        }
        Ok(())
    }

    /// Replaces an unmined transaction: the same one with fees raised by an eighth (and at
    /// least the current price), stored first, then broadcast. True when the node refused it
    /// because the key cannot pay for it.
    async fn replace(&self, mut t: Tracked) -> Result<bool> {
        let signer = match self.signer(t.key) {
            Ok(s) => s,
            Err(e) => {
                worker::console_error!("relayer: cannot replace nonce {}: {e}", t.nonce);
                return Ok(false);
            }
        };
        let price = rpc(&t.rpc_url, "eth_gasPrice", json!([]))
            .await
            .and_then(|v| quantity(&v, "eth_gasPrice"))
            .unwrap_or(0);
        let (Ok(to), Ok(data)) = (t.to.parse::<Address>(), t.data.parse::<Bytes>()) else {
            return Ok(false);
        };
        let priority_fee = bumped(t.priority_fee);
        let max_fee = bumped(t.max_fee)
            .max(price.saturating_mul(2))
            .max(priority_fee);
        let tx = Eip1559Tx {
            chain_id: t.chain_id,
            nonce: t.nonce,
            max_priority_fee_per_gas: priority_fee,
            max_fee_per_gas: max_fee,
            gas_limit: t.gas_limit,
            to,
            value: U256::ZERO,
            data,
        };
        let Ok((raw, hash)) = tx.sign(&signer) else {
            return Ok(false);
        };
        let old = t.hashes.last().cloned().unwrap_or_default();
        t.priority_fee = priority_fee;
        t.max_fee = max_fee;
        t.hashes.push(hash.to_string());
        t.raw = raw.to_string();
        t.sent = now_seconds();
        self.put_tracked(&t).await?;
        match rpc(&t.rpc_url, "eth_sendRawTransaction", json!([t.raw])).await {
            Ok(_) => {
                worker::console_log!(
                "relayer: nonce {} unmined after {} s: {old} replaced by {hash} (max fee {max_fee})",
                t.nonce,
                t.replace_after_seconds
            );
                Ok(false)
            }
            Err(e) => {
                worker::console_error!(
                    "relayer: replacement of nonce {} ({hash}) not accepted: {}",
                    t.nonce,
                    e.message()
                );
                Ok(e.message().to_lowercase().contains("insufficient funds"))
            }
        }
    }

    /// A transaction this key cannot get mined (drained while it waited: neither it nor a
    /// replacement can pay for gas) whose content was already served goes to another key as a
    /// queued settlement, once, so the payment is not lost with it. This key keeps following its own version: if the key is
    /// refilled and that mines first, the other key's simulation sees the authorization used
    /// and sends nothing; if both mine, the token lets only one transfer through (the other
    /// reverts: gas only), and the guard keeps the settlement it was told of
    /// (`x402_core::gate::replay::Book::release` never undoes one).
    async fn hand_over(&self, at: (u64, u64)) -> Result<()> {
        let Some(mut t) = self
            .tracked
            .borrow()
            .as_ref()
            .and_then(|m| m.get(&at).cloned())
        else {
            return Ok(());
        };
        let Some(valid_before) = t.valid_before else {
            return Ok(());
        };
        let (keys, max_in_flight) = self.pool();
        if t.handed_over || !t.delivered || keys < 2 || now_seconds() >= valid_before {
            return Ok(());
        }
        let send = SendTx {
            rpc_url: t.rpc_url.clone(),
            chain_id: t.chain_id,
            to: t.to.clone(),
            data: t.data.clone(),
            gas_limit: t.gas_limit,
            key: t.key,
            max_in_flight,
            replace_after_seconds: t.replace_after_seconds,
            guard: t.guard.clone(),
            valid_before: t.valid_before,
            delivered: true,
            wait_receipt_ms: None,
        };
        if let Err(e) = self.queue_at_next_key(send, keys, valid_before, 1).await {
            worker::console_error!("relayer: cannot hand nonce {} to another key: {e}", t.nonce);
            return Ok(());
        }
        worker::console_log!(
            "relayer key {}: out of gas with nonce {} unmined; its settlement goes to key {}",
            t.key,
            t.nonce,
            t.key % keys + 1
        );
        t.handed_over = true;
        self.put_tracked(&t).await
    }

    async fn status(&self, rpc_url: &str, key: u32, gas_limit: u64) -> Result<KeyStatus> {
        self.ensure_loaded().await?;
        let signer = match self.signer(key) {
            Ok(s) => s,
            Err(e) => return Err(worker::Error::RustError(e)),
        };
        let address = signer.address();
        let reads = rpc_batch(
            rpc_url,
            vec![
                ("eth_getBalance", json!([address.to_string(), "latest"])),
                ("eth_gasPrice", json!([])),
            ],
        )
        .await;
        let balance = reads
            .first()
            .and_then(|r| r.as_ref().ok())
            .and_then(|v| quantity(v, "eth_getBalance").ok());
        let price = reads
            .get(1)
            .and_then(|r| r.as_ref().ok())
            .and_then(|v| quantity(v, "eth_gasPrice").ok());
        let low_gas = match (balance, price) {
            (Some(b), Some(p)) => b < p.saturating_mul(2).saturating_mul(u128::from(gas_limit)),
            _ => false,
        };
        let mined = self.mined.borrow().clone();
        let (in_flight, replaced) = self.tracked.borrow().as_ref().map_or((0, 0), |m| {
            let open: Vec<&Tracked> = m
                .values()
                .filter(|t| t.nonce >= mined.get(&t.chain_id).copied().unwrap_or(0))
                .collect();
            (
                open.len() as u32,
                open.iter().filter(|t| t.hashes.len() > 1).count() as u32,
            )
        });
        Ok(KeyStatus {
            index: key,
            address: address.to_checksum(None),
            balance: balance.map(|b| b.to_string()),
            low_gas,
            in_flight,
            replaced,
            queued: self.jobs.borrow().values().filter(|j| !j.forwarded).count() as u32,
        })
    }
}

impl DurableObject for Relayer {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            next: RefCell::new(HashMap::new()),
            free: RefCell::new(HashMap::new()),
            in_flight: Cell::new(0),
            broadcasts: Cell::new(0),
            signer: RefCell::new(None),
            tracked: RefCell::new(None),
            alarm_at: Cell::new(None),
            running_jobs: Cell::new(false),
            jobs: RefCell::new(BTreeMap::new()),
            mined: RefCell::new(HashMap::new()),
            tracking: Cell::new(false),
            low_gas: Cell::new(false),
            sync_send: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.json::<RelayerOp>().await? {
            RelayerOp::Send(send) => Response::from_json(&self.send(&send).await?),
            RelayerOp::Enqueue {
                send,
                valid_before,
                hops,
            } => {
                self.enqueue(send, valid_before, hops).await?;
                Response::from_json(&json!({"queued": true}))
            }
            RelayerOp::Status {
                rpc_url,
                key,
                gas_limit,
            } => Response::from_json(&self.status(&rpc_url, key, gas_limit).await?),
        }
    }

    /// Sends the queued settlements and follows the unmined transactions (see
    /// [`Relayer::track`]) while there are any. A failure in one part is logged and never
    /// stops the rest, and the alarm is set again whenever work is left, so no job waits for a
    /// request to come by.
    async fn alarm(&self) -> Result<Response> {
        // The alarm that fired is no longer set (one set while this runs replaces it).
        self.alarm_at.set(None);
        self.ensure_loaded().await?;
        // Queued settlements are sent while the transactions are followed, side by side (they
        // interleave at their awaits): a long tracking pass (a backlog to conclude after an
        // outage) never holds back a settlement whose authorization is running out.
        let chains: BTreeMap<u64, u32> = self
            .tracked
            .borrow()
            .as_ref()
            .map(|m| m.values().map(|t| (t.chain_id, t.key)).collect())
            .unwrap_or_default();
        let follow = async {
            // Every transaction of this object carries its key (one per object).
            for (chain, key) in chains {
                match self.signer(key) {
                    Ok(signer) => {
                        if let Err(e) = self.track(chain, &signer.address()).await {
                            worker::console_error!("relayer: following chain {chain}: {e}");
                        }
                    }
                    Err(e) => worker::console_error!("relayer: cannot follow chain {chain}: {e}"),
                }
            }
        };
        let (sent, ()) = futures_util::future::join(self.run_jobs(), follow).await;
        if let Err(e) = sent {
            worker::console_error!("relayer: sending queued settlements: {e}");
        }
        if !self.jobs.borrow().is_empty()
            || self
                .tracked
                .borrow()
                .as_ref()
                .is_some_and(|m| !m.is_empty())
        {
            self.ensure_alarm(TRACK_INTERVAL_MS).await?;
        }
        Response::ok("")
    }
}
