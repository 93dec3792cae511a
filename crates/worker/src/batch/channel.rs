//! The channel object: one Durable Object per `batch-settlement` channel, named by its
//! channel id, so no global object stands on the voucher path. It keeps the server's record of
//! the channel (`x402_core::scheme::batch::channel::ChannelRecord`) in memory and in its
//! storage, serializes the requests of the channel (one pending request at a time, as the x402
//! specification's "Concurrency" section asks), commits a charge only after the origin answered,
//! and claims the charged vouchers on chain from its alarm: by amount, by age, and always
//! before a payer's timed withdrawal can complete.
//!
//! Every transition is a pure function of x402-core applied synchronously after the object's
//! last `await`; the storage write follows (the output gate holds the answer until it is
//! durable).

use super::onchain::{self, TxFail};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};
use x402_core::encoding::decimal_u256;
use x402_core::scheme::batch::channel::{
    self, ChannelRecord, ClaimPolicy, Refusal, Request as ChannelRequest,
};
use x402_core::scheme::batch::named::{self, Deposited, Named, NamedCharge, PaymentName};
use x402_core::scheme::batch::response::{ChannelState, SuccessExtra, VoucherState};
use x402_core::scheme::batch::wire::{ChannelConfigJson, VoucherJson};
use x402_core::U256;

/// The channel objects' binding (see `wrangler.toml`).
pub(crate) const CHANNEL_BINDING: &str = "X402_CHANNEL";

/// Storage key of the channel's state.
const KEY: &str = "channel";

/// How long a `payment-identifier` id answers for its charge (as an `exact` payment's retry
/// window, `x402_core::gate::replay::RETRY_WINDOW_SECONDS`).
const NAMED_WINDOW_SECONDS: u64 = x402_core::gate::replay::RETRY_WINDOW_SECONDS;

/// A request of the Worker to a channel object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub(crate) enum ChannelOp {
    /// Take the channel for a request (after the Worker checked config and signature).
    Begin(Box<Begin>),
    /// The origin served the request: charge it.
    #[serde(rename_all = "camelCase")]
    Commit {
        pending_id: u64,
        #[serde(with = "decimal_u256")]
        cost: U256,
        now: u64,
        /// A deposit's post-settlement channel state.
        settled: Option<ChannelState>,
        /// A deposit's transaction and amount, kept with a named charge.
        #[serde(default)]
        deposit: Option<Deposited>,
    },
    /// Nothing is charged (the origin failed, a settlement definitely did not happen).
    #[serde(rename_all = "camelCase")]
    Release { pending_id: u64 },
    /// The request's transaction (a deposit, a refund) was broadcast and its outcome is not
    /// known yet: the reservation stays, with the transaction, until it expires.
    #[serde(rename_all = "camelCase")]
    Hold {
        pending_id: u64,
        transaction: String,
    },
    /// A refund landed: mirror the post-refund state (or forget the channel).
    #[serde(rename_all = "camelCase")]
    Refunded {
        pending_id: u64,
        post: ChannelState,
        now: u64,
    },
}

/// [`ChannelOp::Begin`]'s fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Begin {
    pub(crate) chain_id: u64,
    pub(crate) config: ChannelConfigJson,
    pub(crate) voucher: VoucherJson,
    /// What the payload is.
    pub(crate) kind: Kind,
    /// The request's price (atomic units).
    #[serde(with = "decimal_u256")]
    pub(crate) price: U256,
    pub(crate) now: u64,
    /// How long the reservation lives (seconds).
    pub(crate) ttl: u64,
    pub(crate) pending_id: u64,
    /// The chain state a verification on chain (or by the facilitator) just read; `None`: try
    /// the local verification on the mirrored state.
    pub(crate) mirror: Option<ChannelState>,
    /// The voucher's ECDSA signature recovered to `payerAuthorizer` in the Worker.
    pub(crate) signature_checked: bool,
    /// The resource (path and query): its keccak-256 is kept with the charge, so that a repeat
    /// of this request after a lost answer is served again without a second charge.
    pub(crate) resource: String,
    /// The payment's `payment-identifier` id and its fingerprint
    /// (`x402_core::scheme::batch::named`), when it came with one.
    #[serde(default)]
    pub(crate) named: Option<PaymentName>,
}

/// The payload type of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Kind {
    Deposit,
    Voucher,
    Refund,
}

/// The answer to [`ChannelOp::Begin`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub(crate) enum Began {
    /// The channel is this request's until commit, release or expiry.
    Reserved { record: Box<ChannelRecord> },
    /// The voucher cannot be judged on the mirrored state: verify on chain, then begin again
    /// with the state read.
    NeedsChain,
    /// This very payload's deposit was broadcast by an earlier request and is not known to be
    /// mined: its reservation (`pending_id`) is handed over to this retry.
    #[serde(rename_all = "camelCase")]
    DepositPending {
        pending_id: u64,
        transaction: String,
    },
    /// Refused with a reason (and, for a stale voucher, the channel state to resync on).
    Refused(Box<Refused>),
    /// The repeat of the channel's last charged request (same voucher, same resource, within
    /// the window: `x402_core::scheme::batch::channel::replay`), or a payment sent again under
    /// the `payment-identifier` id it was charged with: serve it again with the success `extra`
    /// (and a deposit's transaction) of that charge, charging nothing.
    Replay {
        extra: Box<SuccessExtra>,
        #[serde(default)]
        deposit: Option<Deposited>,
    },
    /// The `payment-identifier` id names another payment of this channel (409).
    IdConflict,
}

/// A refusal as the channel object answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Refused {
    /// The x402 reason code.
    pub(crate) reason: String,
    /// The corrective state (stale voucher, voucher above the balance).
    pub(crate) state: Option<ChannelState>,
    /// The server's latest voucher, for the corrective 402.
    pub(crate) voucher: Option<VoucherState>,
}

impl From<&Refusal> for Refused {
    fn from(r: &Refusal) -> Self {
        let (state, voucher) = match r {
            Refusal::Corrective(c) | Refusal::OverBalance(c) => {
                (Some(c.state.clone()), c.voucher.clone())
            }
            _ => (None, None),
        };
        Refused {
            reason: r.to_error().code().to_string(),
            state,
            voucher,
        }
    }
}

/// The answer to [`ChannelOp::Commit`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub(crate) enum Committed {
    Charged { extra: SuccessExtra },
    Refused(Refused),
}

/// What the object stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    record: ChannelRecord,
    chain_id: u64,
    /// When the oldest unclaimed charge was committed (0: nothing unclaimed).
    unclaimed_since: u64,
    /// The transaction the pending request broadcast (a deposit or a refund), outcome unknown.
    held_tx: Option<String>,
    /// The recent charges that came with a `payment-identifier` id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    named: Vec<NamedCharge>,
    /// The pending request's id and fingerprint, when it came with an id (in memory, as the
    /// reservation).
    #[serde(skip)]
    pending_named: Option<(u64, PaymentName)>,
}

/// The claim policy of a channel: the configuration's for its chain and token, or, for a
/// channel no route offers any more (an earlier configuration's), claim at once.
fn claim_policy(app: &crate::App, s: &Stored) -> ClaimPolicy {
    app.config
        .claim_policy(s.chain_id, s.record.config.token)
        .unwrap_or(ClaimPolicy {
            threshold: U256::from(1u8),
            max_age: 0,
            withdrawal_margin: 0,
        })
}

/// One channel's object.
#[durable_object]
pub struct Channel {
    state: State,
    env: Env,
    stored: RefCell<Option<Stored>>,
    loaded: Cell<bool>,
    /// The alarm this instance set (ms), so a commit sets none when one is due sooner.
    alarm_at: Cell<Option<u64>>,
    /// After a failed claim, no new attempt before this time (unix seconds).
    retry_after: Cell<u64>,
    /// The configuration, loaded once per instance (a new configuration is a new deployment,
    /// hence new instances): a commit does not re-read the Worker's variables.
    app: RefCell<Option<Rc<crate::App>>>,
}

fn now_secs() -> u64 {
    worker::Date::now().as_millis() / 1000
}

impl Channel {
    fn app(&self) -> std::result::Result<Rc<crate::App>, x402_core::Error> {
        if let Some(app) = self.app.borrow().as_ref() {
            return Ok(app.clone());
        }
        let app = crate::load(&self.env)?;
        *self.app.borrow_mut() = Some(app.clone());
        Ok(app)
    }

    async fn ensure_loaded(&self) -> Result<()> {
        if self.loaded.get() {
            return Ok(());
        }
        let text = self.state.storage().get::<String>(KEY).await.ok().flatten();
        let stored = match text.map(|t| serde_json::from_str::<Stored>(&t)) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                // A record this version cannot read is treated as lost: the chain's state
                // rebuilds it (the specification's recovery), never a second charge.
                worker::console_error!("channel: unreadable record: {e}");
                None
            }
            None => None,
        };
        if !self.loaded.get() {
            *self.stored.borrow_mut() = stored;
            self.loaded.set(true);
        }
        Ok(())
    }

    async fn persist(&self) -> Result<()> {
        let text = self
            .stored
            .borrow()
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let storage = self.state.storage();
        match text {
            Some(t) => storage.put(KEY, t).await,
            None => storage.delete(KEY).await.map(|_| ()),
        }
    }

    /// [`ChannelOp::Begin`], decided synchronously.
    fn begin(&self, b: &Begin) -> Began {
        let mut slot = self.stored.borrow_mut();
        // An id is looked up before anything is judged: a payment charged under it is answered
        // again (its voucher would now be stale), another payment under it is refused.
        if let (Some(s), Some(name)) = (slot.as_ref(), b.named.as_ref()) {
            match named::lookup(&s.named, name, b.now, NAMED_WINDOW_SECONDS) {
                Named::New => {}
                Named::Repeat(c) => {
                    return Began::Replay {
                        extra: Box::new(c.extra.clone()),
                        deposit: c.deposit.clone(),
                    }
                }
                Named::Conflict => return Began::IdConflict,
            }
        }
        let record = slot.as_ref().map(|s| &s.record);
        // A retry of a deposit whose broadcast outcome is unknown takes over its reservation.
        if let Some(s) = slot.as_ref() {
            if let (Some(p), Some(tx)) = (s.record.pending.as_ref(), s.held_tx.as_ref()) {
                if b.now < p.expires_at && p.voucher.signature == b.voucher.signature {
                    return Began::DepositPending {
                        pending_id: p.id,
                        transaction: tx.clone(),
                    };
                }
            }
        }
        let req = ChannelRequest {
            config: &b.config,
            voucher: &b.voucher,
            refund: b.kind == Kind::Refund,
        };
        let resource = x402_core::keccak256(b.resource.as_bytes());
        if b.kind == Kind::Voucher {
            if let Some(extra) = channel::replay(record, &req, &resource, b.now, b.ttl) {
                return Began::Replay {
                    extra: Box::new(extra),
                    deposit: None,
                };
            }
        }
        if let Err(r) = channel::check_request(record, &req, b.price) {
            return Began::Refused(Box::new((&r).into()));
        }
        let local = b.mirror.is_none()
            && b.kind == Kind::Voucher
            && b.signature_checked
            && channel::can_verify_locally(record, &req, b.now);
        if b.mirror.is_none() && !local {
            return Began::NeedsChain;
        }
        if let (true, Some(r)) = (local, record) {
            if let Err(refusal) = channel::check_balance(r, &req) {
                return Began::Refused(Box::new((&refusal).into()));
            }
        }
        match channel::reserve(
            record,
            &req,
            b.price,
            b.now,
            (b.pending_id, b.ttl),
            b.mirror.as_ref(),
        ) {
            Ok(mut next) => {
                if let Some(p) = next.pending.as_mut() {
                    p.resource = Some(resource);
                }
                let answer = Began::Reserved {
                    record: Box::new(next.clone()),
                };
                let pending_named = b.named.clone().map(|name| (b.pending_id, name));
                match slot.as_mut() {
                    Some(s) => {
                        s.record = next;
                        s.held_tx = None;
                        s.pending_named = pending_named;
                    }
                    None => {
                        *slot = Some(Stored {
                            record: next,
                            chain_id: b.chain_id,
                            unclaimed_since: 0,
                            held_tx: None,
                            named: Vec::new(),
                            pending_named,
                        })
                    }
                }
                answer
            }
            Err(r) => Began::Refused(Box::new((&r).into())),
        }
    }

    /// [`ChannelOp::Commit`], decided synchronously.
    fn commit(
        &self,
        pending_id: u64,
        cost: U256,
        now: u64,
        settled: Option<&ChannelState>,
        deposit: Option<Deposited>,
    ) -> Committed {
        let mut slot = self.stored.borrow_mut();
        let Some(s) = slot.as_mut() else {
            return Committed::Refused((&Refusal::Missing).into());
        };
        match channel::commit(Some(&s.record), pending_id, cost, now, settled) {
            Ok((next, extra)) => {
                s.record = next;
                s.held_tx = None;
                if let Some((_, name)) = s.pending_named.take().filter(|(p, _)| *p == pending_id) {
                    let charge = NamedCharge {
                        id: name.id,
                        fingerprint: name.fingerprint,
                        at: now,
                        extra: extra.clone(),
                        deposit,
                    };
                    named::remember(&mut s.named, charge, NAMED_WINDOW_SECONDS);
                }
                if s.unclaimed_since == 0 && !s.record.unclaimed().is_zero() {
                    s.unclaimed_since = now;
                }
                Committed::Charged { extra }
            }
            Err(r) => {
                if let Refusal::ExceedsSigned(released) = &r {
                    s.record = (**released).clone();
                    s.held_tx = None;
                }
                Committed::Refused((&r).into())
            }
        }
    }

    /// The time (unix seconds) the alarm should next look at this channel: when the oldest
    /// unclaimed charge reaches the policy's age, and no later than a check interval from now
    /// (to see a withdrawal request in time). `None`: nothing unclaimed.
    fn next_check(&self, now: u64, app: &crate::App) -> Option<u64> {
        let slot = self.stored.borrow();
        let s = slot.as_ref()?;
        if s.record.unclaimed().is_zero() {
            return None;
        }
        let policy = claim_policy(app, s);
        let interval = app.config.check_interval_seconds();
        let mut at = now.saturating_add(interval.max(1));
        at = at.min(s.unclaimed_since.saturating_add(policy.max_age));
        if let Some(deadline) = channel::claim_deadline(&s.record) {
            at = at.min(deadline.saturating_sub(policy.withdrawal_margin));
        }
        Some(at.max(now).max(self.retry_after.get()))
    }

    /// Sets the alarm for [`Self::next_check`] unless one is due sooner.
    async fn schedule(&self, now: u64) {
        let Ok(app) = self.app() else {
            return;
        };
        let Some(at) = self.next_check(now, &app) else {
            return;
        };
        let at_ms = at.saturating_mul(1000);
        let storage = self.state.storage();
        let current = match self.alarm_at.get() {
            Some(a) => Some(a),
            None => storage.get_alarm().await.ok().flatten().map(|a| a as u64),
        };
        if current.is_some_and(|c| c <= at_ms) {
            self.alarm_at.set(current);
            return;
        }
        let date = worker::js_sys::Date::new(&(at_ms as f64).into());
        if storage
            .set_alarm(worker::ScheduledTime::new(date))
            .await
            .is_ok()
        {
            self.alarm_at.set(Some(at_ms));
        }
    }

    /// After a failed claim: the next attempt waits the check interval, at most 30 s (a node or
    /// facilitator that is down is not asked again at once, and a pending withdrawal is still
    /// retried well within its margin).
    fn back_off(&self, now: u64, app: &crate::App) {
        let wait = app.config.check_interval_seconds().clamp(1, 30);
        self.retry_after.set(now.saturating_add(wait));
    }

    /// The alarm's work: re-read the chain state when it is older than the check interval,
    /// then claim if the policy (or a pending withdrawal) says so, then settle to `payTo`.
    async fn claim_if_due(&self, app: &crate::App) {
        let now = now_secs();
        if now < self.retry_after.get() {
            return;
        }
        let Some(s) = self.stored.borrow().clone() else {
            return;
        };
        if s.record.unclaimed().is_zero() || s.record.voucher.is_none() {
            return;
        }
        let Some(url) = app.config.settlement.rpc_url().map(String::from) else {
            worker::console_error!("channel: no rpcUrl to read the chain and claim");
            return;
        };
        let interval = app.config.check_interval_seconds();
        if now.saturating_sub(s.record.onchain_synced_at) >= interval {
            match onchain::read_channel(&url, s.chain_id, s.record.channel_id, None).await {
                Ok((state, _)) => {
                    if let Some(cur) = self.stored.borrow_mut().as_mut() {
                        cur.record.refresh(&state, now);
                    }
                    let _ = self.persist().await;
                }
                Err(e) => worker::console_error!("channel: cannot read chain state: {e}"),
            }
        }
        let Some(s) = self.stored.borrow().clone() else {
            return;
        };
        let policy = claim_policy(app, &s);
        // A pending withdrawal is claimed at once: waiting for the margin gains nothing and
        // risks the deadline.
        let withdrawal = s.record.withdraw_requested_at != 0;
        if !(withdrawal || channel::claim_due(&s.record, now, s.unclaimed_since, &policy)) {
            return;
        }
        let Some(row) = channel::claim_row(&s.record) else {
            return;
        };
        let Some(signer) = app.receiver_authorizer.as_ref() else {
            worker::console_error!("channel: no receiver authorizer key to sign the claim");
            return;
        };
        let total = U256::from(row.total_claimed);
        match onchain::claim(
            &self.env,
            &app.config.settlement,
            s.chain_id,
            &[row],
            signer,
        )
        .await
        {
            Ok(tx) => {
                self.retry_after.set(0);
                worker::console_log!("channel {}: claimed {total} in {tx}", s.record.channel_id);
                if let Some(cur) = self.stored.borrow_mut().as_mut() {
                    cur.record = channel::after_claim(&cur.record, total);
                    cur.unclaimed_since = if cur.record.unclaimed().is_zero() {
                        0
                    } else {
                        now
                    };
                }
                let _ = self.persist().await;
                let cfg = &s.record.config;
                match onchain::settle_receiver(
                    &self.env,
                    &app.config.settlement,
                    s.chain_id,
                    cfg.receiver,
                    cfg.token,
                )
                .await
                {
                    Ok(Some(tx)) => worker::console_log!("settled to {} in {tx}", cfg.receiver),
                    Ok(None) => {}
                    Err(TxFail::Pending { transaction, error }) => {
                        worker::console_error!("settle {transaction} pending: {error}")
                    }
                    Err(TxFail::Failed(e)) => worker::console_error!("settle failed: {e}"),
                }
            }
            // The claim may still land; the next look re-reads totalClaimed from the chain.
            Err(TxFail::Pending { transaction, error }) => {
                self.back_off(now, app);
                worker::console_error!("claim {transaction} pending: {error}")
            }
            Err(TxFail::Failed(e)) => {
                self.back_off(now, app);
                worker::console_error!("claim failed: {e}")
            }
        }
    }

    async fn handle(&self, op: ChannelOp) -> Result<Value> {
        let mut schedule_at = None;
        let mut changed = true;
        let answer = match op {
            // A reservation lives in memory only: if the object restarts before the commit,
            // the commit finds no reservation and the request is refused (nothing charged,
            // nothing served), so durability buys nothing here and costs a write per request.
            ChannelOp::Begin(b) => {
                changed = false;
                json!(self.begin(&b))
            }
            ChannelOp::Commit {
                pending_id,
                cost,
                now,
                settled,
                deposit,
            } => {
                let c = self.commit(pending_id, cost, now, settled.as_ref(), deposit);
                schedule_at = Some(now);
                json!(c)
            }
            ChannelOp::Release { pending_id } => {
                if let Some(s) = self.stored.borrow_mut().as_mut() {
                    let held = s
                        .record
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.id == pending_id);
                    s.record = channel::release(&s.record, pending_id);
                    if held {
                        s.held_tx = None;
                    }
                }
                json!({"status": "released"})
            }
            ChannelOp::Hold {
                pending_id,
                transaction,
            } => {
                if let Some(s) = self.stored.borrow_mut().as_mut() {
                    if s.record
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.id == pending_id)
                    {
                        s.held_tx = Some(transaction);
                    }
                }
                json!({"status": "held"})
            }
            ChannelOp::Refunded {
                pending_id,
                post,
                now,
            } => {
                let mut slot = self.stored.borrow_mut();
                if let Some(s) = slot.as_mut() {
                    if s.record
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.id == pending_id)
                    {
                        match channel::after_refund(&s.record, &post, now) {
                            Some(next) => {
                                s.record = next;
                                s.held_tx = None;
                            }
                            None => *slot = None,
                        }
                    }
                }
                json!({"status": "refunded"})
            }
        };
        if changed {
            self.persist().await?;
        }
        if let Some(now) = schedule_at {
            self.schedule(now).await;
        }
        Ok(answer)
    }
}

impl DurableObject for Channel {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            stored: RefCell::new(None),
            loaded: Cell::new(false),
            alarm_at: Cell::new(None),
            retry_after: Cell::new(0),
            app: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // serde_json on the text: the engine's JSON.parse would round 64-bit ids.
        let op: ChannelOp = serde_json::from_str(&req.text().await?)
            .map_err(|e| worker::Error::RustError(format!("channel op: {e}")))?;
        self.ensure_loaded().await?;
        Response::from_json(&self.handle(op).await?)
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        self.ensure_loaded().await?;
        match self.app() {
            Ok(app) => {
                self.claim_if_due(&app).await;
                self.schedule(now_secs()).await;
            }
            Err(e) => worker::console_error!("channel alarm: invalid configuration: {e}"),
        }
        Response::ok("")
    }
}
