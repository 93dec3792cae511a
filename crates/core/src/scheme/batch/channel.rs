//! The resource server's record of one channel and its transitions (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Server channel state",
//! "Concurrency", "Claims"), as pure functions: `(record, request, price, now) → new record`
//! or a refusal, which for a stale voucher is the corrective 402's state. Storage (one Durable
//! Object per channel in the Worker) and I/O stay with the caller, which must apply each
//! transition atomically per channel.
//!
//! A paid request goes: [`check_request`] (the voucher signs charged + price, else a
//! corrective 402) → verification (local per [`can_verify_locally`], else the facilitator,
//! whose state [`reserve`] mirrors; a ceiling above the balance is refused by
//! [`check_balance`] with the state the client needs to deposit) → [`reserve`] (one pending
//! request per channel, else `channel_busy`) → the origin → [`commit`] (charged += what the
//! request cost, the voucher kept for claiming) or, if the origin failed, [`release`] (nothing
//! charged). [`claim_due`] says when to claim (threshold, age, and always before a pending
//! withdrawal can complete); claims take [`claim_row`]; after one lands, [`after_claim`]. A
//! lost record is rebuilt from chain state with [`rebuild`].

use super::fields::{b256_hex, opt_b256_hex};
use super::response::{ChannelState, SuccessExtra, VoucherState};
use super::types::ClaimEntry;
use super::wire::{
    ChannelConfigJson, ClaimVoucherJson, RefundPayload, VoucherClaimJson, VoucherJson,
};
use crate::encoding::decimal_u256;
use crate::error::{Error, Reason};
use alloc::boxed::Box;
use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};

/// The request being served: its channel and voucher, paid or a refund.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The channel's terms (already checked against the offer).
    pub config: &'a ChannelConfigJson,
    /// The voucher (already verified, or to be verified before [`reserve`]).
    pub voucher: &'a VoucherJson,
    /// A refund's zero-charge voucher (signs exactly the charged total).
    pub refund: bool,
}

/// The request holding the channel between verification and commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// Chosen by the caller (random), presented again to [`commit`] or [`release`].
    pub id: u64,
    /// The voucher it brought.
    pub voucher: VoucherState,
    /// After this time (unix seconds) the reservation is dead and another request may take
    /// the channel.
    pub expires_at: u64,
    /// What it is for (the keccak-256 of the resource, path and query), when the caller says:
    /// kept with its charge so that the request can be repeated ([`replay`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_b256_hex"
    )]
    pub resource: Option<B256>,
}

/// The last charge of a channel: what it was for, when, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastCharge {
    /// The keccak-256 of the resource (path and query).
    #[serde(with = "b256_hex")]
    pub resource: B256,
    /// When it was charged (unix seconds).
    pub at: u64,
    /// What was charged.
    #[serde(with = "decimal_u256")]
    pub cost: U256,
}

/// What the server keeps per channel (stored as JSON, amounts as decimal strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    /// The channel.
    #[serde(with = "b256_hex")]
    pub channel_id: B256,
    /// Its terms.
    pub config: ChannelConfigJson,
    /// What the server has charged in total (`chargedCumulativeAmount`).
    #[serde(with = "decimal_u256")]
    pub charged: U256,
    /// The latest voucher committed (what a claim uses); `None` after a rebuild from chain.
    pub voucher: Option<VoucherState>,
    /// Mirrored `balance`.
    #[serde(with = "decimal_u256")]
    pub balance: U256,
    /// Mirrored `totalClaimed`.
    #[serde(with = "decimal_u256")]
    pub total_claimed: U256,
    /// Mirrored `withdrawRequestedAt` (0: none).
    pub withdraw_requested_at: u64,
    /// Mirrored `refundNonce`.
    #[serde(with = "decimal_u256")]
    pub refund_nonce: U256,
    /// When the mirror was last read from the facilitator or the chain.
    pub onchain_synced_at: u64,
    /// When a request last committed.
    pub last_request: u64,
    /// The request in progress, if any.
    pub pending: Option<Pending>,
    /// The last charge, when its request named its resource ([`replay`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_charge: Option<LastCharge>,
}

/// A corrective 402's channel state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrective {
    /// `channelState`, with `chargedCumulativeAmount`.
    pub state: ChannelState,
    /// `voucherState`, when the server holds a voucher.
    pub voucher: Option<VoucherState>,
}

/// Why a transition did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The voucher does not sign the server's charged total (+ price): answer a corrective 402
    /// with this state (`cumulative_amount_mismatch`).
    Corrective(Box<Corrective>),
    /// Another request holds the channel, or this one lost it (`channel_busy`).
    Busy,
    /// No record where one is needed (`missing_channel`).
    Missing,
    /// The voucher signs more than the channel holds (`cumulative_exceeds_balance`): answer a
    /// 402 with this state so the client tops up with a deposit.
    OverBalance(Box<Corrective>),
    /// The charge would pass the signed ceiling (`charge_exceeds_signed_cumulative`); the
    /// reservation is released (the returned record).
    ExceedsSigned(Box<ChannelRecord>),
}

impl Refusal {
    /// The reason code to answer with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Corrective(_) => Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch,
            Self::Busy => Reason::InvalidBatchSettlementEvmChannelBusy,
            Self::Missing => Reason::InvalidBatchSettlementEvmMissingChannel,
            Self::OverBalance(_) => Reason::InvalidBatchSettlementEvmCumulativeExceedsBalance,
            Self::ExceedsSigned(_) => {
                Reason::InvalidBatchSettlementEvmChargeExceedsSignedCumulative
            }
        }
    }

    /// As an [`Error`].
    pub fn to_error(&self) -> Error {
        Error::new(self.reason(), "batch-settlement channel")
    }
}

/// How long a mirrored chain state may be used for local verification (seconds): a third of
/// the withdrawal delay, within 30..=300 s (the reference server's default).
pub fn mirror_ttl(withdraw_delay: u64) -> u64 {
    (withdraw_delay / 3).clamp(30, 300)
}

/// How long a reservation lives: the offer's `maxTimeoutSeconds` within 5..=600 s.
pub fn pending_ttl(max_timeout_seconds: u64) -> u64 {
    max_timeout_seconds.clamp(5, 600)
}

/// The charged total a request builds on: the record's, or with no record the one the voucher
/// implies (signed − price, at least 0; a refund's signed amount), as the reference server
/// infers it; the facilitator's `maxClaimableAmount > totalClaimed` rule bounds it from below.
pub fn base(record: Option<&ChannelRecord>, req: &Request<'_>, price: U256) -> U256 {
    match record {
        Some(r) => r.charged,
        None if req.refund => U256::from(req.voucher.max_claimable_amount),
        None => U256::from(req.voucher.max_claimable_amount).saturating_sub(price),
    }
}

fn corrective(record: Option<&ChannelRecord>, req: &Request<'_>, charged: U256) -> Refusal {
    match record {
        Some(r) => Refusal::Corrective(Box::new(Corrective {
            state: r.state(Some(r.charged)),
            voucher: r.voucher.clone(),
        })),
        None => Refusal::Corrective(Box::new(Corrective {
            state: ChannelState {
                channel_id: req.voucher.channel_id,
                balance: U256::ZERO,
                total_claimed: U256::ZERO,
                withdraw_requested_at: 0,
                refund_nonce: U256::ZERO,
                charged_cumulative_amount: Some(charged),
            },
            voucher: None,
        })),
    }
}

/// The expected-cumulative rule: the voucher signs `base + price` (a refund: `base`), else the
/// corrective state. Run before verification and again in [`reserve`].
pub fn check_request(
    record: Option<&ChannelRecord>,
    req: &Request<'_>,
    price: U256,
) -> Result<(), Refusal> {
    let charged = base(record, req, price);
    let expected = if req.refund {
        Some(charged)
    } else {
        charged.checked_add(price)
    };
    if expected == Some(U256::from(req.voucher.max_claimable_amount)) {
        Ok(())
    } else {
        Err(corrective(record, req, charged))
    }
}

/// A voucher-only request against the mirrored balance: a ceiling above it is refused with the
/// channel state (the client's cue to deposit). Run on a fresh mirror (refresh it from the
/// facilitator or the chain first when [`can_verify_locally`] says no), before [`reserve`].
pub fn check_balance(record: &ChannelRecord, req: &Request<'_>) -> Result<(), Refusal> {
    if U256::from(req.voucher.max_claimable_amount) <= record.balance {
        return Ok(());
    }
    Err(Refusal::OverBalance(Box::new(Corrective {
        state: record.state(Some(record.charged)),
        voucher: record.voucher.clone(),
    })))
}

/// Whether a voucher may be verified locally (signature and config by the caller, no
/// facilitator): a record whose mirror is younger than [`mirror_ttl`], a delegated
/// `payerAuthorizer` (ECDSA only), and `totalClaimed < max ≤ balance` on the mirror.
/// Deposits, refunds and `payerAuthorizer = 0` always go to the facilitator.
pub fn can_verify_locally(record: Option<&ChannelRecord>, req: &Request<'_>, now: u64) -> bool {
    let Some(r) = record else { return false };
    let max = U256::from(req.voucher.max_claimable_amount);
    !req.refund
        && req.config.payer_authorizer != Address::ZERO
        && r.config == *req.config
        && now.saturating_sub(r.onchain_synced_at) <= mirror_ttl(r.config.withdraw_delay)
        && r.total_claimed < max
        && max <= r.balance
}

/// Takes the channel for a verified request at `now`. `mirror` is the chain state the
/// facilitator's `/verify` reported (`None` after a local verification: the mirror and its
/// age stay). Refused while another live request holds the channel, or with the corrective
/// state if the voucher no longer builds on the charged total.
pub fn reserve(
    record: Option<&ChannelRecord>,
    req: &Request<'_>,
    price: U256,
    now: u64,
    pending: (u64, u64),
    mirror: Option<&ChannelState>,
) -> Result<ChannelRecord, Refusal> {
    if record
        .and_then(|r| r.pending.as_ref())
        .is_some_and(|p| now < p.expires_at)
    {
        return Err(Refusal::Busy);
    }
    check_request(record, req, price)?;
    let mut next = match (record, mirror) {
        (Some(r), _) => r.clone(),
        (None, None) => return Err(Refusal::Missing),
        // With no record the charged total is inferred from the voucher, but never below what
        // the chain shows claimed (the specification's baseline after a loss): a voucher that
        // builds on less would pay less than the price for this request.
        (None, Some(m)) if base(None, req, price) < m.total_claimed => {
            return Err(Refusal::Corrective(Box::new(Corrective {
                state: ChannelState {
                    charged_cumulative_amount: Some(m.total_claimed),
                    ..m.clone()
                },
                voucher: None,
            })))
        }
        (None, Some(_)) => ChannelRecord {
            channel_id: req.voucher.channel_id,
            config: req.config.clone(),
            charged: base(None, req, price),
            voucher: None,
            balance: U256::ZERO,
            total_claimed: U256::ZERO,
            withdraw_requested_at: 0,
            refund_nonce: U256::ZERO,
            onchain_synced_at: 0,
            last_request: 0,
            pending: None,
            last_charge: None,
        },
    };
    if let Some(m) = mirror {
        next.refresh(m, now);
    }
    next.pending = Some(Pending {
        id: pending.0,
        voucher: VoucherState {
            signed_max_claimable: U256::from(req.voucher.max_claimable_amount),
            signature: req.voucher.signature.clone(),
        },
        expires_at: now.saturating_add(pending.1),
        resource: None,
    });
    Ok(next)
}

/// The origin served the request: charge `cost` (the price, or less after a settlement
/// override), keep the voucher, free the channel. `settled` is the channel state of a deposit's
/// settlement (post-deposit), mirrored before charging. Returns the new record and the success
/// response's `extra`.
pub fn commit(
    record: Option<&ChannelRecord>,
    pending_id: u64,
    cost: U256,
    now: u64,
    settled: Option<&ChannelState>,
) -> Result<(ChannelRecord, SuccessExtra), Refusal> {
    let r = record.ok_or(Refusal::Missing)?;
    let Some(p) = r.pending.as_ref().filter(|p| p.id == pending_id) else {
        return Err(Refusal::Busy);
    };
    let mut next = r.clone();
    if let Some(s) = settled {
        next.refresh(s, now);
    }
    let previous = next.clone();
    let charged = r.charged.saturating_add(cost);
    if charged > p.voucher.signed_max_claimable {
        next.pending = None;
        return Err(Refusal::ExceedsSigned(Box::new(next)));
    }
    next.charged = charged;
    next.voucher = Some(p.voucher.clone());
    next.last_request = now;
    next.last_charge = p.resource.map(|resource| LastCharge {
        resource,
        at: now,
        cost,
    });
    next.pending = None;
    let extra = SuccessExtra {
        channel_state: previous.state(Some(charged)),
        charged_amount: Some(cost),
    };
    Ok((next, extra))
}

/// The repeat of the channel's last charged request, whose answer the payer never got (a lost
/// response, a timeout): the same voucher (ceiling and signature: the one the charge kept) for
/// the same `resource` (keccak-256 of path and query), within `window` seconds of the charge.
/// It is served again with the success `extra` of that charge, and nothing is charged: the
/// payer paid for it once. Anything else (another resource, a later voucher, after the window,
/// a refund) is not a repeat and goes through [`check_request`] as usual, where a stale voucher
/// gets the corrective state. The same rule as an `exact` payment's retry: only its own
/// resource, only within its window.
pub fn replay(
    record: Option<&ChannelRecord>,
    req: &Request<'_>,
    resource: &B256,
    now: u64,
    window: u64,
) -> Option<SuccessExtra> {
    let r = record?;
    let last = r.last_charge.as_ref()?;
    let kept = r.voucher.as_ref()?;
    let same = !req.refund
        && r.config == *req.config
        && kept.signed_max_claimable == U256::from(req.voucher.max_claimable_amount)
        && kept.signature == req.voucher.signature
        && last.resource == *resource
        && now <= last.at.saturating_add(window);
    same.then(|| SuccessExtra {
        channel_state: r.state(Some(r.charged)),
        charged_amount: Some(last.cost),
    })
}

/// The origin failed (or the request was abandoned): free the channel, charge nothing. A
/// release by a request that no longer holds the channel changes nothing.
pub fn release(record: &ChannelRecord, pending_id: u64) -> ChannelRecord {
    let mut next = record.clone();
    if next.pending.as_ref().is_some_and(|p| p.id == pending_id) {
        next.pending = None;
    }
    next
}

/// A record rebuilt from chain state after the server lost its own: the charged total is what
/// the chain shows claimed (the specification's baseline; unclaimed charges are forfeited, so
/// the payer is never asked twice). The client's next voucher gets a corrective 402 if it built
/// on more, and re-signs on this base.
pub fn rebuild(
    channel_id: B256,
    config: &ChannelConfigJson,
    chain: &ChannelState,
    now: u64,
) -> ChannelRecord {
    ChannelRecord {
        channel_id,
        config: config.clone(),
        charged: chain.total_claimed,
        voucher: None,
        balance: chain.balance,
        total_claimed: chain.total_claimed,
        withdraw_requested_at: chain.withdraw_requested_at,
        refund_nonce: chain.refund_nonce,
        onchain_synced_at: now,
        last_request: now,
        pending: None,
        last_charge: None,
    }
}

impl ChannelRecord {
    /// The mirrored state as `channelState` (with `chargedCumulativeAmount` when given).
    pub fn state(&self, charged: Option<U256>) -> ChannelState {
        ChannelState {
            channel_id: self.channel_id,
            balance: self.balance,
            total_claimed: self.total_claimed,
            withdraw_requested_at: self.withdraw_requested_at,
            refund_nonce: self.refund_nonce,
            charged_cumulative_amount: charged,
        }
    }

    /// Mirrors chain state read at `now` (a facilitator's verify or settle result, or a read).
    /// The claimed total never goes backwards, so an older read cannot undo a newer one.
    pub fn refresh(&mut self, chain: &ChannelState, now: u64) {
        self.balance = chain.balance;
        self.total_claimed = self.total_claimed.max(chain.total_claimed);
        self.withdraw_requested_at = chain.withdraw_requested_at;
        self.refund_nonce = self.refund_nonce.max(chain.refund_nonce);
        self.onchain_synced_at = now;
    }

    /// Charged but not yet claimed.
    pub fn unclaimed(&self) -> U256 {
        self.charged.saturating_sub(self.total_claimed)
    }
}

/// The claim row for this channel, when something charged is unclaimed: the latest voucher,
/// claiming exactly the charged total (never the signed ceiling).
pub fn claim_row(record: &ChannelRecord) -> Option<VoucherClaimJson> {
    let v = record.voucher.as_ref()?;
    if record.unclaimed().is_zero() {
        return None;
    }
    Some(VoucherClaimJson {
        voucher: ClaimVoucherJson {
            channel: record.config.clone(),
            max_claimable_amount: u128::try_from(v.signed_max_claimable).ok()?,
        },
        signature: v.signature.clone(),
        total_claimed: u128::try_from(record.charged).ok()?,
    })
}

/// When to claim a channel (the Worker's claim policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimPolicy {
    /// Claim once this much is charged and unclaimed (atomic units).
    pub threshold: U256,
    /// Claim once the oldest unclaimed charge is this old (seconds).
    pub max_age: u64,
    /// Claim this long before a pending withdrawal can be finalized (seconds).
    pub withdrawal_margin: u64,
}

/// The time by which the unclaimed charges must be claimed: a pending withdrawal can be
/// finalized at `withdrawRequestedAt + withdrawDelay`, after which unclaimed vouchers may find
/// the balance gone. `None` when no withdrawal is pending.
pub fn claim_deadline(record: &ChannelRecord) -> Option<u64> {
    (record.withdraw_requested_at != 0).then(|| {
        record
            .withdraw_requested_at
            .saturating_add(record.config.withdraw_delay)
    })
}

/// Whether the channel should be claimed at `now`: something is unclaimed and the threshold is
/// reached, the last charge is `max_age` old, or a pending withdrawal's deadline is within the
/// margin. `since` is when the oldest unclaimed charge was committed (the caller tracks it, or
/// passes `last_request`).
pub fn claim_due(record: &ChannelRecord, now: u64, since: u64, policy: &ClaimPolicy) -> bool {
    if record.unclaimed().is_zero() || record.voucher.is_none() {
        return false;
    }
    record.unclaimed() >= policy.threshold
        || now.saturating_sub(since) >= policy.max_age
        || claim_deadline(record).is_some_and(|d| now.saturating_add(policy.withdrawal_margin) >= d)
}

/// The `ClaimEntry` a claim batch signature covers for a row.
pub fn claim_entry(channel_id: B256, row: &VoucherClaimJson) -> ClaimEntry {
    ClaimEntry {
        channelId: channel_id,
        maxClaimableAmount: row.voucher.max_claimable_amount,
        totalClaimed: row.total_claimed,
    }
}

/// A claim of `total_claimed` landed on chain.
pub fn after_claim(record: &ChannelRecord, total_claimed: U256) -> ChannelRecord {
    let mut next = record.clone();
    next.total_claimed = next.total_claimed.max(total_claimed);
    next
}

/// The refund payload the server sends the facilitator for a client refund it reserved: the
/// requested `amount`, the mirrored `refundNonce`, and one claim row at the charged total (a
/// no-op on chain if already claimed). The receiver authorizer's signatures are the caller's
/// to add.
pub fn enriched_refund(
    record: &ChannelRecord,
    client: &RefundPayload,
    amount: U256,
) -> Option<RefundPayload> {
    let row = VoucherClaimJson {
        voucher: ClaimVoucherJson {
            channel: record.config.clone(),
            max_claimable_amount: client.voucher.max_claimable_amount,
        },
        signature: client.voucher.signature.clone(),
        total_claimed: u128::try_from(record.charged).ok()?,
    };
    Some(RefundPayload {
        amount: Some(amount),
        refund_nonce: Some(record.refund_nonce),
        claims: Some(alloc::vec![row]),
        refund_authorizer_signature: None::<Bytes>,
        claim_authorizer_signature: None,
        ..client.clone()
    })
}

/// After a refund: the record with the post-refund state, or `None` (delete it) when nothing
/// beyond the charged total is left.
pub fn after_refund(
    record: &ChannelRecord,
    post: &ChannelState,
    now: u64,
) -> Option<ChannelRecord> {
    let mut next = record.clone();
    next.refresh(post, now);
    next.pending = None;
    (next.balance > next.charged).then_some(next)
}
