//! The paying side of `batch-settlement` channels (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Client behavior"): the
//! channel options, choosing between an `exact` and a `batch-settlement` offer under the
//! policy, the client's channel state as a plain JSON value, the plan for the next request
//! (deposit or voucher) within the bounds the options set, and the checks on the server's
//! answers (success, corrective 402) that move the state forward.
//!
//! Pure: no I/O, no clock, no randomness, no key. The caller (the local build of
//! `x402-browser`) signs, sends and stores; the voucher key's private half never enters the
//! state.

use super::policy::{rescale, Policy, CAP_DECIMALS};
use crate::encoding::decimal_u256;
use crate::encoding::text::{cat, dec};
use crate::error::{Error, Reason, Result};
use crate::evm::address::{checksummed, parse_address};
use crate::scheme::batch::client::{channel_config, check_success};
use crate::scheme::batch::digest::channel_id;
use crate::scheme::batch::response::{corrective_state, BatchSettleResponse, ChannelState};
use crate::scheme::batch::wire::{
    AssetTransferMethod, BatchPayload, BatchRequirement, ChannelConfigJson,
};
use crate::scheme::batch::SCHEME;
use crate::scheme::exact::types::ExactEvmRequirement;
use crate::wire::v2::{PaymentPayload, PaymentRequired, PaymentRequirements};
use alloc::{boxed::Box, format, string::String};
use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

pub mod text;

/// Default credit a deposit adds: 500000 millionths of a token ($0.50 of a stablecoin),
/// scaled to the asset's decimals as `maxAmount` is.
pub const DEFAULT_CREDIT: u64 = 500_000;
/// Default largest deposit: 1000000 millionths ($1.00).
pub const DEFAULT_MAX_DEPOSIT: u64 = 1_000_000;
/// Default floor of a deposit, in prices (the reference client's multiplier).
pub const DEFAULT_DEPOSIT_MULTIPLIER: u64 = 5;
/// The smallest `depositMultiplier` accepted.
pub const MIN_DEPOSIT_MULTIPLIER: u64 = 3;

/// How the client uses channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChannelOptions {
    /// Whether `batch-settlement` offers may be paid at all (default: no).
    pub allowed: bool,
    /// Whether a channel is taken when the challenge also offers `exact` (default: yes).
    pub preferred: bool,
    /// What a deposit adds at least, in millionths of a token ([`CAP_DECIMALS`]).
    #[serde(with = "decimal_u256")]
    pub credit: U256,
    /// The largest deposit, in millionths of a token: it bounds what the voucher key can ever
    /// spend from one deposit.
    #[serde(with = "decimal_u256")]
    pub max_deposit: U256,
    /// A deposit is at least this many prices (at least [`MIN_DEPOSIT_MULTIPLIER`]).
    pub deposit_multiplier: u64,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            allowed: false,
            preferred: true,
            credit: U256::from(DEFAULT_CREDIT),
            max_deposit: U256::from(DEFAULT_MAX_DEPOSIT),
            deposit_multiplier: DEFAULT_DEPOSIT_MULTIPLIER,
        }
    }
}

impl ChannelOptions {
    /// Refuses options that cannot work (`invalid_config`): a multiplier below 3, a credit
    /// above the largest deposit.
    pub fn check(&self) -> Result<()> {
        if self.deposit_multiplier < MIN_DEPOSIT_MULTIPLIER {
            return Err(Error::new(
                Reason::InvalidConfig,
                cat(&[
                    "channels.depositMultiplier ",
                    &dec(self.deposit_multiplier),
                    " is below ",
                    &dec(MIN_DEPOSIT_MULTIPLIER),
                ]),
            ));
        }
        if self.credit > self.max_deposit {
            return Err(Error::new(
                Reason::InvalidConfig,
                "channels.credit is above channels.maxDeposit",
            ));
        }
        Ok(())
    }
}

/// A `batch-settlement` offer chosen to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOffer {
    /// Index in the challenge's `accepts`.
    pub index: usize,
    /// The parsed requirement.
    pub requirement: BatchRequirement,
    /// The entry to echo as `accepted` (without a corrective 402's `channelState` and
    /// `voucherState`).
    pub accepted: PaymentRequirements,
    /// The asset's decimals (from the known table or the policy's `allowedAssets`).
    pub decimals: u8,
}

/// What to pay a challenge with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The `exact` path ([`Policy::select`]) pays it.
    Exact,
    /// A channel pays it.
    Batch(Box<BatchOffer>),
}

/// What the channel logic reads of a chosen offer: [`BatchOffer`] (serde) and
/// [`text::TextOffer`] (the browser's serde-free path).
pub trait OfferTerms {
    /// The parsed requirement.
    fn requirement(&self) -> &BatchRequirement;
    /// The asset's decimals.
    fn decimals(&self) -> u8;
}

impl OfferTerms for BatchOffer {
    fn requirement(&self) -> &BatchRequirement {
        &self.requirement
    }
    fn decimals(&self) -> u8 {
        self.decimals
    }
}

/// The `exact`-shaped view of a batch offer the policy judges (network, asset, price, time).
fn as_exact(req: &BatchRequirement) -> ExactEvmRequirement {
    ExactEvmRequirement {
        network: req.network.clone(),
        chain_id: req.chain_id,
        amount: req.amount,
        asset: req.asset,
        pay_to: req.pay_to,
        max_timeout_seconds: req.max_timeout_seconds,
        eip712_name: req.extra.name.clone(),
        eip712_version: req.extra.version.clone(),
    }
}

/// The entry without the corrective 402's additions.
fn stripped(r: &PaymentRequirements) -> PaymentRequirements {
    let mut r = r.clone();
    if let Some(extra) = r.extra.as_mut() {
        extra.remove("channelState");
        extra.remove("voucherState");
    }
    r
}

/// An offer read under the policy: its decimals, or why it is refused.
fn judged(policy: &Policy, requirement: &BatchRequirement) -> Result<u8> {
    if requirement.extra.method() != AssetTransferMethod::Eip3009 {
        return Err(Error::new(
            Reason::NoAcceptableRequirement,
            "batch-settlement deposits through Permit2 are not supported by this client",
        ));
    }
    let exact = as_exact(requirement);
    if let Some(e) = policy.refusal(&exact) {
        return Err(e);
    }
    Ok(policy.decimals(&exact).unwrap_or(CAP_DECIMALS))
}

/// The choice of [`choose`] among the `batch-settlement` entries `offers` (each parsed, or why
/// not), shared by the serde and the serde-free path: `Ok(None)` for the `exact` path.
/// `set_decimals` stores the policy's decimals in the chosen offer; `exact_ok` says whether
/// the `exact` path would pay the challenge.
fn choose_among<O: OfferTerms>(
    policy: &Policy,
    options: &ChannelOptions,
    offers: impl Iterator<Item = Result<O>>,
    set_decimals: impl Fn(&mut O, u8),
    exact_ok: impl Fn() -> bool,
) -> Result<Option<O>> {
    if !options.allowed {
        return Ok(None);
    }
    let mut best: Option<(usize, O)> = None;
    let mut refused: Option<Error> = None;
    for offer in offers {
        match offer.and_then(|mut o| {
            let d = judged(policy, o.requirement())?;
            set_decimals(&mut o, d);
            Ok(o)
        }) {
            Ok(o) => {
                let rank = policy
                    .preferred_networks
                    .iter()
                    .position(|n| *n == o.requirement().network)
                    .unwrap_or(usize::MAX);
                if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                    best = Some((rank, o));
                }
            }
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    match (best, refused) {
        (Some((_, o)), _) if options.preferred || !exact_ok() => Ok(Some(o)),
        (None, Some(e)) if !exact_ok() => Err(e),
        _ => Ok(None),
    }
}

/// Chooses how to pay a v2 challenge: a channel when channels are allowed and an acceptable
/// `batch-settlement` offer exists, and either channels are preferred or no `exact` offer is
/// acceptable; the `exact` path otherwise. Among batch offers, the first on the most preferred
/// network. When no offer of either kind is acceptable and a batch offer was refused, that
/// refusal is the error (`over_max`, `no_acceptable_requirement`…); else [`Choice::Exact`]
/// (whose path reports its own refusal).
pub fn choose(
    policy: &Policy,
    options: &ChannelOptions,
    challenge: &PaymentRequired,
) -> Result<Choice> {
    let offers = challenge
        .accepts
        .iter()
        .enumerate()
        .filter(|(_, r)| r.scheme == SCHEME)
        .map(|(index, r)| {
            Ok(BatchOffer {
                index,
                requirement: BatchRequirement::from_v2(r)?,
                accepted: stripped(r),
                decimals: 0,
            })
        });
    let exact_ok = || {
        let offers = crate::wire::AnyPaymentRequired::V2(challenge.clone()).offers();
        policy.select_from(offers).is_ok()
    };
    Ok(
        match choose_among(policy, options, offers, |o, d| o.decimals = d, exact_ok)? {
            Some(o) => Choice::Batch(Box::new(o)),
            None => Choice::Exact,
        },
    )
}

/// A channel as the client keeps it between requests: a plain, serializable value (JSON with
/// addresses as text and amounts as decimal strings). It holds the voucher key's address,
/// never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientChannel {
    /// The channel's terms.
    pub config: ChannelConfigJson,
    /// Its id (the EIP-712 hash of the config on `chainId`).
    #[serde(with = "b256_text")]
    pub channel_id: B256,
    /// The chain.
    pub chain_id: u64,
    /// What the server has charged in total (as both sides agreed on the last answer).
    #[serde(with = "decimal_u256")]
    pub charged: U256,
    /// What the client knows is deposited (deposits less refunds; claims do not reduce it).
    #[serde(with = "decimal_u256")]
    pub balance: U256,
    /// The address of the key that signs vouchers (`config.payerAuthorizer`).
    #[serde(with = "addr_text")]
    pub voucher_key: Address,
    /// The highest voucher ceiling signed so far.
    #[serde(default, with = "decimal_u256")]
    pub signed_max: U256,
    /// Set when the server broke the agreement: the reason code; nothing more is signed on
    /// this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

impl ClientChannel {
    /// A channel no answer has confirmed yet: nothing charged, nothing known deposited.
    pub fn new(offer: &impl OfferTerms, payer: Address, voucher_key: Address) -> Self {
        let req = offer.requirement();
        let config = channel_config(req, payer, voucher_key, B256::ZERO);
        Self {
            channel_id: channel_id(&config.to_sol(), req.chain_id),
            config,
            chain_id: req.chain_id,
            charged: U256::ZERO,
            balance: U256::ZERO,
            voucher_key,
            signed_max: U256::ZERO,
            blocked: None,
        }
    }

    /// The key's refusal when the channel is blocked.
    fn check_open(&self) -> Result<()> {
        match &self.blocked {
            None => Ok(()),
            Some(code) => Err(Error::new(
                Reason::ALL
                    .iter()
                    .copied()
                    .find(|r| r.as_str() == code)
                    .unwrap_or(Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch),
                cat(&[
                    "channel ",
                    &crate::encoding::hex::prefixed(self.channel_id.as_slice()),
                    " is blocked: the server broke the agreed count (",
                    code,
                    "); nothing more is signed on it",
                ]),
            )),
        }
    }

    /// Marks the channel as broken by the server (`err`'s code): nothing more is signed on it.
    pub fn block(&mut self, err: &Error) {
        self.blocked = Some(err.code().into());
    }
}

/// The next step on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Deposit `amount` (the wallet signs its `ReceiveWithAuthorization`) with a voucher for
    /// `max`.
    Deposit {
        /// Tokens moved into the channel.
        amount: U256,
        /// The voucher's ceiling (charged + price).
        max: U256,
    },
    /// A voucher for `max` alone (the voucher key signs; no wallet).
    Voucher {
        /// The voucher's ceiling (charged + price).
        max: U256,
    },
}

impl Plan {
    /// The voucher's ceiling.
    pub fn max(&self) -> U256 {
        match *self {
            Plan::Deposit { max, .. } | Plan::Voucher { max } => max,
        }
    }

    /// What the deposit moves (zero for a voucher).
    pub fn deposit(&self) -> U256 {
        match *self {
            Plan::Deposit { amount, .. } => amount,
            Plan::Voucher { .. } => U256::ZERO,
        }
    }
}

/// Options in atomic units of the offer's asset: `(credit, max_deposit)`.
fn bounds(offer: &impl OfferTerms, options: &ChannelOptions) -> (U256, U256) {
    let scale = |m| rescale(m, CAP_DECIMALS, offer.decimals(), false);
    (scale(options.credit), scale(options.max_deposit))
}

/// The next step for one request of `offer` on `state` (`None`: no channel yet). A voucher
/// when the known balance covers `charged + price`; else a deposit of the largest of `credit`,
/// `depositMultiplier × price`, the offer's `minDeposit` and the top-up needed. Refused
/// before anything is signed: `over_max` when that deposit is above `maxDeposit`, the block
/// reason on a blocked channel, `invalid_payment_requirements` when the ceiling would not fit
/// the contract's `uint128`.
pub fn plan(
    offer: &impl OfferTerms,
    state: Option<&ClientChannel>,
    options: &ChannelOptions,
) -> Result<Plan> {
    let req = offer.requirement();
    let (charged, balance) = match state {
        Some(s) => {
            s.check_open()?;
            (s.charged, s.balance)
        }
        None => (U256::ZERO, U256::ZERO),
    };
    let max = charged.saturating_add(req.amount);
    if max > U256::from(u128::MAX) {
        return Err(Error::new(
            Reason::InvalidPaymentRequirements,
            "the channel's ceiling would not fit uint128",
        ));
    }
    if state.is_some() && max <= balance {
        return Ok(Plan::Voucher { max });
    }
    let (credit, max_deposit) = bounds(offer, options);
    let needed = max.saturating_sub(balance);
    let amount = credit
        .max(
            req.amount
                .saturating_mul(U256::from(options.deposit_multiplier)),
        )
        .max(req.extra.min_deposit.unwrap_or_default())
        .max(needed);
    if amount > max_deposit {
        return Err(Error::new(
            Reason::OverMax,
            cat(&[
                "a deposit of ",
                &decimal_u256::format(&amount),
                " is needed, above maxDeposit ",
                &decimal_u256::format(&max_deposit),
                " (atomic units of ",
                &checksummed(&req.asset),
                ")",
            ]),
        ));
    }
    Ok(Plan::Deposit { amount, max })
}

/// The state after a success answer to `plan` (its `PAYMENT-RESPONSE`): the checks the
/// specification asks for before the next voucher (the answer is for this channel,
/// `chargedAmount ≤ price`, the server's cumulative is the previous one plus `chargedAmount`)
/// and the balance grown by a deposit. On a refusal (`invalid_batch_settlement_evm_
/// cumulative_amount_mismatch`) the caller blocks the channel ([`ClientChannel::block`]).
pub fn after_success(
    offer: &impl OfferTerms,
    state: &ClientChannel,
    plan: &Plan,
    response: &BatchSettleResponse,
) -> Result<ClientChannel> {
    let bad = |m: &str| Error::new(Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch, m);
    if !response.success {
        return Err(bad("the answer is not a success"));
    }
    let extra = response
        .extra
        .as_ref()
        .ok_or_else(|| bad("the answer carries no channel state"))?;
    if extra.charged_amount.is_none() {
        return Err(bad("the answer carries no chargedAmount"));
    }
    let charged = check_success(
        state.channel_id,
        state.charged,
        offer.requirement().amount,
        extra,
    )?;
    let mut next = state.clone();
    next.charged = charged;
    next.balance = state.balance.saturating_add(plan.deposit());
    next.signed_max = next.signed_max.max(plan.max());
    Ok(next)
}

/// The state after the server's answer to a cooperative refund (`refund` payload, x402
/// `scheme_batch_settlement_evm.md`, "Refund"): the answer must be a success for this channel
/// whose charged total is still ours (a refund charges nothing) and whose balance did not grow;
/// the new balance is the server's (the chain's after `refundWithSignature`). Returns the state
/// and the tokens refunded (`balance` before less after). Errors:
/// `invalid_batch_settlement_evm_cumulative_amount_mismatch` (another channel, another charged
/// total, a grown balance), `invalid_payload` (no channel state).
pub fn after_refund(
    state: &ClientChannel,
    response: &BatchSettleResponse,
) -> Result<(ClientChannel, U256)> {
    let bad = |m: &str| Error::new(Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch, m);
    if !response.success {
        return Err(bad("the refund answer is not a success"));
    }
    let server = &response
        .extra
        .as_ref()
        .ok_or_else(|| {
            Error::new(
                Reason::InvalidPayload,
                "the refund answer carries no channel state",
            )
        })?
        .channel_state;
    if server.channel_id != state.channel_id {
        return Err(bad("the refund answer is for another channel"));
    }
    if server
        .charged_cumulative_amount
        .is_some_and(|c| c != state.charged)
    {
        return Err(bad("the refund answer changes the charged total"));
    }
    if server.balance > state.balance || server.balance < state.charged {
        return Err(bad(
            "the refund answer's balance is outside what was deposited and charged",
        ));
    }
    let mut next = state.clone();
    next.balance = server.balance;
    Ok((next, state.balance - server.balance))
}

/// What a 402 answer to a paid request means for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A corrective 402 (`cumulative_amount_mismatch` / `cumulative_below_claimed`) with the
    /// server's state for this channel: adopt it ([`adopt`]) and retry once.
    Corrective(
        Box<ChannelState>,
        Option<crate::scheme::batch::response::VoucherState>,
    ),
    /// `channel_busy`: another request holds the channel; retry shortly.
    Busy,
    /// Any other refusal, with its code when the answer names one.
    Other(Option<String>),
}

/// Reads a 402 answer to a paid request on `channel`: `payment_required` is its
/// `PAYMENT-REQUIRED` value, `reason` the `errorReason` of its `PAYMENT-RESPONSE` (the
/// settle stage's refusals).
pub fn refusal(
    channel: B256,
    payment_required: Option<&PaymentRequired>,
    reason: Option<&str>,
) -> Refusal {
    let error = payment_required.and_then(|p| p.error.as_deref());
    let correctives = payment_required.into_iter().flat_map(|p| {
        p.accepts
            .iter()
            .filter(|r| r.scheme == SCHEME)
            .map(corrective_state)
    });
    refusal_of(channel, error, correctives, reason)
}

/// [`refusal`] over the `error` of the 402 and the corrective state of each of its
/// `batch-settlement` entries (shared by the serde and the serde-free path).
fn refusal_of(
    channel: B256,
    error: Option<&str>,
    correctives: impl Iterator<
        Item = Result<
            Option<(
                ChannelState,
                Option<crate::scheme::batch::response::VoucherState>,
            )>,
        >,
    >,
    reason: Option<&str>,
) -> Refusal {
    let busy = Reason::InvalidBatchSettlementEvmChannelBusy.as_str();
    let code = reason.or(error);
    if code == Some(busy) {
        return Refusal::Busy;
    }
    for c in correctives {
        if let Ok(Some((state, voucher))) = c {
            if state.channel_id == channel {
                return Refusal::Corrective(Box::new(state), voucher);
            }
        }
    }
    Refusal::Other(code.map(String::from))
}

/// The state a corrective 402 gives, once checked (the specification's state-loss recovery,
/// "Cumulative amount mismatch"): the server's charged total must be within a voucher whose
/// signature recovers to this channel's voucher key, and not below what the server reports
/// claimed. Without `voucherState` the claimed total is the base. The balance becomes the
/// server's mirror of the chain. Errors: `invalid_batch_settlement_evm_cumulative_amount_
/// mismatch`.
#[cfg(feature = "verify")]
pub fn adopt(
    state: &ClientChannel,
    server: &ChannelState,
    voucher: Option<&crate::scheme::batch::response::VoucherState>,
) -> Result<ClientChannel> {
    use crate::evm::signature::Signature;
    use crate::scheme::batch::client::adopt_corrective;
    use crate::scheme::batch::digest::voucher_digest;
    state.check_open()?;
    if server.channel_id != state.channel_id {
        return Err(Error::new(
            Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch,
            "the corrective state is for another channel",
        ));
    }
    let own_key_signed = |v: &crate::scheme::batch::response::VoucherState| {
        let Ok(max) = u128::try_from(v.signed_max_claimable) else {
            return false;
        };
        let digest = voucher_digest(state.channel_id, max, state.chain_id);
        Signature::from_bytes(&v.signature)
            .and_then(|s| s.recover(&digest))
            .is_ok_and(|a| a == state.voucher_key)
    };
    let charged = adopt_corrective(server, voucher, server.total_claimed, own_key_signed)?;
    let mut next = state.clone();
    next.charged = charged;
    next.balance = server.balance;
    if let Some(v) = voucher {
        next.signed_max = next.signed_max.max(v.signed_max_claimable);
    }
    Ok(next)
}

/// The `PAYMENT-SIGNATURE` value for a channel payload: `{x402Version: 2, resource,
/// accepted, payload, extensions}` with the challenge's resource and extensions.
pub fn payment_header(
    challenge: &PaymentRequired,
    offer: &BatchOffer,
    payload: &BatchPayload,
) -> Result<String> {
    let message = PaymentPayload {
        x402_version: crate::wire::V2,
        resource: Some(challenge.resource.clone()),
        accepted: offer.accepted.clone(),
        payload: payload.to_json(),
        extensions: challenge.extensions.clone(),
    };
    crate::wire::header::encode(&message)
}

/// Reads a `PAYMENT-RESPONSE` value of this scheme.
pub fn read_response(value: &str) -> Result<BatchSettleResponse> {
    let text = crate::wire::header::header_text(
        value,
        crate::wire::header::PAYMENT_RESPONSE,
        Reason::InvalidPayload.code(),
    )?;
    serde_json::from_str(&text).map_err(|e| {
        Error::new(
            Reason::InvalidPayload,
            format!("PAYMENT-RESPONSE of a channel payment: {e}"),
        )
    })
}

/// The token domain's `ReceiveWithAuthorization` read back from `eth_signTypedData_v4` JSON,
/// for a signer that signs only what it understands (the local-key wallet): exactly what
/// [`crate::scheme::batch::digest::receive_authorization_typed_data`] writes, else
/// `invalid_payload`. Returns the digest to sign.
pub fn receive_typed_data_digest(v: &serde_json::Value) -> Result<B256> {
    use crate::scheme::batch::digest::{
        receive_authorization_digest, receive_authorization_typed_data,
    };
    use crate::scheme::batch::types::ReceiveWithAuthorization;
    let bad = |why: &str| Error::new(Reason::InvalidPayload, format!("typed data: {why}"));
    let text = |o: &serde_json::Value, k: &str| -> Result<String> {
        o.get(k)
            .and_then(serde_json::Value::as_str)
            .map(String::from)
            .ok_or_else(|| bad(&format!("{k} is missing or not a string")))
    };
    let addr = |o: &serde_json::Value, k: &str| -> Result<Address> {
        parse_address(&text(o, k)?).map_err(|e| bad(&e))
    };
    let uint = |o: &serde_json::Value, k: &str| -> Result<U256> {
        decimal_u256::parse(&text(o, k)?).map_err(|e| bad(&format!("{k}: {e}")))
    };
    let null = serde_json::Value::Null;
    let domain = v.get("domain").unwrap_or(&null);
    let message = v.get("message").unwrap_or(&null);
    let chain_id = domain
        .get("chainId")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("domain.chainId is missing or not a number"))?;
    let (name, version, token) = (
        text(domain, "name")?,
        text(domain, "version")?,
        addr(domain, "verifyingContract")?,
    );
    let msg = ReceiveWithAuthorization {
        from: addr(message, "from")?,
        to: addr(message, "to")?,
        value: uint(message, "value")?,
        validAfter: uint(message, "validAfter")?,
        validBefore: uint(message, "validBefore")?,
        nonce: text(message, "nonce")?
            .parse()
            .map_err(|_| bad("nonce is not 32 bytes of hex"))?,
    };
    if receive_authorization_typed_data(&name, &version, chain_id, token, &msg)? != *v {
        return Err(bad(
            "not the ReceiveWithAuthorization typed data this crate writes",
        ));
    }
    Ok(receive_authorization_digest(
        &name, &version, chain_id, token, &msg,
    ))
}

mod b256_text {
    use super::*;
    use serde::{de, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(
        b: &B256,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.collect_str(b)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<B256, D::Error> {
        let s = String::deserialize(d)?;
        if !crate::scheme::batch::wire::is_channel_id(&s) {
            return Err(de::Error::custom("expected 0x and 64 hex digits"));
        }
        s.parse()
            .map_err(|_| de::Error::custom("expected 0x and 64 hex digits"))
    }
}

mod addr_text {
    use super::*;
    use serde::{de, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(
        a: &Address,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&checksummed(a))
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Address, D::Error> {
        parse_address(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::evm::signer::LocalSigner;
    use crate::scheme::batch::digest::{receive_authorization_typed_data, voucher_digest};
    use crate::scheme::batch::response::{SuccessExtra, VoucherState};
    use crate::scheme::batch::types::ReceiveWithAuthorization;
    use alloc::{string::ToString, vec};
    use alloy_primitives::{address, Bytes};
    use serde_json::json;

    pub(super) const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3"; // LOCAL_TEST_USDC, 6 decimals
    pub(super) const PAY_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    pub(super) const AUTHORIZER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    pub(super) const PAYER: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    pub(super) const VOUCHER_KEY: &str =
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    pub(super) fn entry(scheme: &str, amount: u64, extra: serde_json::Value) -> serde_json::Value {
        json!({
            "scheme": scheme, "network": "eip155:31337", "amount": amount.to_string(),
            "asset": TOKEN, "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": extra,
        })
    }
    pub(super) fn batch_extra() -> serde_json::Value {
        json!({"name": "USD Coin", "version": "2", "receiverAuthorizer": AUTHORIZER, "withdrawDelay": 900})
    }
    pub(super) fn challenge(accepts: Vec<serde_json::Value>) -> PaymentRequired {
        serde_json::from_value(json!({
            "x402Version": 2, "resource": {"url": "https://example.com/a"}, "accepts": accepts,
        }))
        .unwrap()
    }
    pub(super) fn both(price: u64) -> PaymentRequired {
        challenge(vec![
            entry("exact", price, json!({"name": "USD Coin", "version": "2"})),
            entry("batch-settlement", price, batch_extra()),
        ])
    }
    pub(super) fn allowed() -> ChannelOptions {
        ChannelOptions {
            allowed: true,
            ..ChannelOptions::default()
        }
    }
    pub(super) fn offer_of(c: &PaymentRequired) -> BatchOffer {
        match choose(&Policy::default(), &allowed(), c).unwrap() {
            Choice::Batch(o) => *o,
            Choice::Exact => panic!("expected a batch offer"),
        }
    }
    pub(super) fn voucher_signer() -> LocalSigner {
        LocalSigner::from_hex(VOUCHER_KEY).unwrap()
    }
    pub(super) fn state(price: u64, charged: u64, balance: u64) -> (BatchOffer, ClientChannel) {
        let offer = offer_of(&both(price));
        let mut s = ClientChannel::new(&offer, PAYER, voucher_signer().address());
        s.charged = U256::from(charged);
        s.balance = U256::from(balance);
        (offer, s)
    }
    pub(super) fn success(
        channel: B256,
        charged_amount: u64,
        cumulative: Option<u64>,
    ) -> BatchSettleResponse {
        BatchSettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: String::new(),
            network: "eip155:31337".into(),
            amount: Some(String::new()),
            extra: Some(SuccessExtra {
                channel_state: ChannelState {
                    channel_id: channel,
                    balance: U256::from(500_000),
                    total_claimed: U256::ZERO,
                    withdraw_requested_at: 0,
                    refund_nonce: U256::ZERO,
                    charged_cumulative_amount: cumulative.map(U256::from),
                },
                charged_amount: Some(U256::from(charged_amount)),
            }),
            extensions: None,
        }
    }
    pub(super) fn u(n: u64) -> U256 {
        U256::from(n)
    }

    #[test]
    fn options_defaults_and_checks() {
        let o = ChannelOptions::default();
        assert!(!o.allowed);
        assert!(o.preferred);
        assert_eq!(
            (o.credit, o.max_deposit, o.deposit_multiplier),
            (u(500_000), u(1_000_000), 5)
        );
        assert!(o.check().is_ok());
        let low = ChannelOptions {
            deposit_multiplier: 2,
            ..o.clone()
        };
        assert_eq!(low.check().unwrap_err().reason(), Reason::InvalidConfig);
        let credit = ChannelOptions {
            credit: u(2_000_000),
            ..o.clone()
        };
        assert_eq!(credit.check().unwrap_err().reason(), Reason::InvalidConfig);
        // JSON: camelCase, amounts as strings, absent fields default.
        let parsed: ChannelOptions =
            serde_json::from_value(json!({"allowed": true, "maxDeposit": "2000000"})).unwrap();
        assert!(parsed.allowed && parsed.preferred);
        assert_eq!(parsed.max_deposit, u(2_000_000));
        assert_eq!(parsed.credit, u(500_000));
    }

    #[test]
    fn choice_follows_the_options() {
        let c = both(10_000);
        let p = Policy::default();
        assert_eq!(
            choose(&p, &ChannelOptions::default(), &c).unwrap(),
            Choice::Exact
        );
        let o = offer_of(&c);
        assert_eq!(o.index, 1);
        assert_eq!(o.decimals, 6);
        assert_eq!(o.requirement.amount, u(10_000));
        let not_preferred = ChannelOptions {
            preferred: false,
            ..allowed()
        };
        assert_eq!(choose(&p, &not_preferred, &c).unwrap(), Choice::Exact);
        // Not preferred, but the only acceptable offer.
        let only = challenge(vec![entry("batch-settlement", 10_000, batch_extra())]);
        assert!(matches!(
            choose(&p, &not_preferred, &only).unwrap(),
            Choice::Batch(_)
        ));
        // The exact offer over the cap is refused; the batch one too (the cap is per charge).
        let dear = both(200_000);
        assert_eq!(
            choose(&p, &allowed(), &dear).unwrap_err().reason(),
            Reason::OverMax
        );
        // Permit2 deposits are not supported: the exact path takes it.
        let mut extra = batch_extra();
        extra["assetTransferMethod"] = json!("permit2");
        let permit2 = challenge(vec![
            entry("exact", 10_000, json!({"name": "USD Coin", "version": "2"})),
            entry("batch-settlement", 10_000, extra),
        ]);
        assert_eq!(choose(&p, &allowed(), &permit2).unwrap(), Choice::Exact);
    }

    #[test]
    fn choice_ranks_preferred_networks_and_strips_corrective_state() {
        let other = json!({
            "scheme": "batch-settlement", "network": "eip155:84532", "amount": "10000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": PAY_TO,
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USDC", "version": "2", "receiverAuthorizer": AUTHORIZER, "withdrawDelay": 900},
        });
        let mut extra = batch_extra();
        extra["channelState"] = json!({"channelId": format!("{}", B256::ZERO)});
        let c = challenge(vec![entry("batch-settlement", 10_000, extra), other]);
        let mut p = Policy::default();
        let first = match choose(&p, &allowed(), &c).unwrap() {
            Choice::Batch(o) => o,
            Choice::Exact => panic!(),
        };
        assert_eq!(first.index, 0);
        assert!(!first
            .accepted
            .extra
            .as_ref()
            .unwrap()
            .contains_key("channelState"));
        p.preferred_networks = vec!["eip155:84532".parse().unwrap()];
        match choose(&p, &allowed(), &c).unwrap() {
            Choice::Batch(o) => assert_eq!(o.index, 1),
            Choice::Exact => panic!(),
        }
    }

    #[test]
    fn deposit_is_the_largest_floor_and_bounded() {
        let o = offer_of(&both(10_000));
        let opts = allowed();
        // No channel: credit ($0.50) beats 5 × $0.01.
        assert_eq!(
            plan(&o, None, &opts).unwrap(),
            Plan::Deposit {
                amount: u(500_000),
                max: u(10_000)
            }
        );
        // The multiplier wins when it is above the credit: 6 × $0.10.
        let six = ChannelOptions {
            deposit_multiplier: 6,
            ..allowed()
        };
        let dear = offer_of(&both(100_000));
        assert_eq!(plan(&dear, None, &six).unwrap().deposit(), u(600_000));
        // The server's minDeposit wins when larger.
        let mut extra = batch_extra();
        extra["minDeposit"] = json!("700000");
        let min = offer_of(&challenge(vec![entry("batch-settlement", 10_000, extra)]));
        assert_eq!(plan(&min, None, &opts).unwrap().deposit(), u(700_000));
        // Above maxDeposit: refused before anything is signed.
        let mut extra = batch_extra();
        extra["minDeposit"] = json!("1000001");
        let big = offer_of(&challenge(vec![entry("batch-settlement", 10_000, extra)]));
        let e = plan(&big, None, &opts).unwrap_err();
        assert_eq!(e.reason(), Reason::OverMax);
        assert!(e.message().contains("maxDeposit 1000000"), "{e}");
        let small = ChannelOptions {
            credit: u(10_000),
            max_deposit: u(40_000),
            ..allowed()
        };
        assert_eq!(
            plan(&o, None, &small).unwrap_err().reason(),
            Reason::OverMax
        );
        // Scaled to the asset's decimals like maxAmount: an 18-decimal token.
        let p = Policy {
            allowed_assets: Some(vec![crate::client::AllowedAsset {
                network: "eip155:31337".parse().unwrap(),
                asset: "0x0000000000000000000000000000000000000001".into(),
                max_amount: None,
                decimals: Some(18),
            }]),
            ..Policy::default()
        };
        let mut e18 = entry("batch-settlement", 10_000, batch_extra());
        e18["asset"] = json!("0x0000000000000000000000000000000000000001");
        let Choice::Batch(o18) = choose(&p, &opts, &challenge(vec![e18])).unwrap() else {
            panic!()
        };
        assert_eq!(o18.decimals, 18);
        assert_eq!(
            plan(&*o18, None, &opts).unwrap().deposit(),
            U256::from(500_000u64) * U256::from(10u64).pow(u(12))
        );
    }

    #[test]
    fn voucher_when_covered_top_up_when_not() {
        let (o, s) = state(10_000, 30_000, 500_000);
        assert_eq!(
            plan(&o, Some(&s), &allowed()).unwrap(),
            Plan::Voucher { max: u(40_000) }
        );
        let (o, s) = state(10_000, 490_000, 500_000);
        assert_eq!(
            plan(&o, Some(&s), &allowed()).unwrap(),
            Plan::Voucher { max: u(500_000) }
        );
        let (o, s) = state(10_000, 495_000, 500_000);
        // Needs 5000 more; the credit floor makes it 500000.
        assert_eq!(
            plan(&o, Some(&s), &allowed()).unwrap(),
            Plan::Deposit {
                amount: u(500_000),
                max: u(505_000)
            }
        );
        // A known channel with nothing deposited deposits.
        let (o, s) = state(10_000, 0, 0);
        assert_eq!(
            plan(&o, Some(&s), &allowed()).unwrap().deposit(),
            u(500_000)
        );
    }

    #[test]
    fn blocked_channel_and_overflow_are_refused() {
        let (o, mut s) = state(10_000, 0, 500_000);
        s.block(&Error::new(
            Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch,
            "x",
        ));
        let e = plan(&o, Some(&s), &allowed()).unwrap_err();
        assert_eq!(
            e.reason(),
            Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch
        );
        assert!(e.message().contains("blocked"));
        let (o, mut s) = state(10_000, 0, 500_000);
        s.charged = U256::from(u128::MAX);
        assert_eq!(
            plan(&o, Some(&s), &allowed()).unwrap_err().reason(),
            Reason::InvalidPaymentRequirements
        );
    }

    #[test]
    fn success_answers_are_checked() {
        let (o, s) = state(10_000, 30_000, 500_000);
        let p = Plan::Voucher { max: u(40_000) };
        let next = after_success(&o, &s, &p, &success(s.channel_id, 10_000, Some(40_000))).unwrap();
        assert_eq!(
            (next.charged, next.balance, next.signed_max),
            (u(40_000), u(500_000), u(40_000))
        );
        // A cheaper charge (dynamic pricing) is fine.
        let next = after_success(&o, &s, &p, &success(s.channel_id, 4_000, Some(34_000))).unwrap();
        assert_eq!(next.charged, u(34_000));
        let mismatch = Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch;
        // More than the price.
        let e =
            after_success(&o, &s, &p, &success(s.channel_id, 10_001, Some(40_001))).unwrap_err();
        assert_eq!(e.reason(), mismatch);
        assert!(e.message().contains("above the price"));
        // A cumulative that is not previous + chargedAmount.
        let e =
            after_success(&o, &s, &p, &success(s.channel_id, 10_000, Some(50_000))).unwrap_err();
        assert_eq!(e.reason(), mismatch);
        // Another channel.
        let e = after_success(
            &o,
            &s,
            &p,
            &success(B256::repeat_byte(7), 10_000, Some(40_000)),
        )
        .unwrap_err();
        assert_eq!(e.reason(), mismatch);
        // No chargedAmount, no state, not a success.
        let mut r = success(s.channel_id, 10_000, Some(40_000));
        r.extra.as_mut().unwrap().charged_amount = None;
        assert!(after_success(&o, &s, &p, &r).is_err());
        let mut r = success(s.channel_id, 10_000, Some(40_000));
        r.extra = None;
        assert!(after_success(&o, &s, &p, &r).is_err());
        let mut r = success(s.channel_id, 10_000, Some(40_000));
        r.success = false;
        assert!(after_success(&o, &s, &p, &r).is_err());
        // A deposit grows the balance by what was deposited.
        let (o, s) = state(10_000, 0, 0);
        let d = Plan::Deposit {
            amount: u(500_000),
            max: u(10_000),
        };
        let next = after_success(&o, &s, &d, &success(s.channel_id, 10_000, Some(10_000))).unwrap();
        assert_eq!((next.charged, next.balance), (u(10_000), u(500_000)));
    }

    pub(super) fn signed(signer: &LocalSigner, s: &ClientChannel, max: u64) -> VoucherState {
        let sig = signer
            .sign_hash(&voucher_digest(s.channel_id, max.into(), s.chain_id))
            .unwrap();
        VoucherState {
            signed_max_claimable: u(max),
            signature: Bytes::from(sig.to_bytes().to_vec()),
        }
    }
    pub(super) fn server_state(s: &ClientChannel, charged: u64, claimed: u64) -> ChannelState {
        ChannelState {
            channel_id: s.channel_id,
            balance: u(500_000),
            total_claimed: u(claimed),
            withdraw_requested_at: 0,
            refund_nonce: U256::ZERO,
            charged_cumulative_amount: Some(u(charged)),
        }
    }

    #[test]
    fn refund_answers_are_checked() {
        let (_, s) = state(10_000, 30_000, 500_000);
        let answer = |channel: B256, balance: u64, cumulative: Option<u64>| {
            let mut r = success(channel, 0, cumulative);
            if let Some(e) = r.extra.as_mut() {
                e.charged_amount = None;
                e.channel_state.balance = U256::from(balance);
            }
            r
        };
        // Everything not charged comes back: the balance falls to the charged total.
        let (next, refunded) =
            after_refund(&s, &answer(s.channel_id, 30_000, Some(30_000))).unwrap();
        assert_eq!(next.balance, U256::from(30_000));
        assert_eq!(refunded, U256::from(470_000));
        assert_eq!(next.charged, s.charged);
        // A partial refund.
        let (next, refunded) = after_refund(&s, &answer(s.channel_id, 200_000, None)).unwrap();
        assert_eq!(
            (next.balance, refunded),
            (U256::from(200_000), U256::from(300_000))
        );
        let code = |r: &BatchSettleResponse| after_refund(&s, r).unwrap_err().code().to_string();
        let mismatch = "invalid_batch_settlement_evm_cumulative_amount_mismatch";
        assert_eq!(code(&answer(B256::repeat_byte(7), 30_000, None)), mismatch);
        assert_eq!(code(&answer(s.channel_id, 30_000, Some(40_000))), mismatch);
        assert_eq!(code(&answer(s.channel_id, 600_000, None)), mismatch);
        assert_eq!(code(&answer(s.channel_id, 20_000, None)), mismatch);
        let mut failed = answer(s.channel_id, 30_000, None);
        failed.success = false;
        assert_eq!(code(&failed), mismatch);
        failed.success = true;
        failed.extra = None;
        assert_eq!(code(&failed), "invalid_payload");
    }

    #[test]
    fn corrective_state_is_adopted_only_when_signed_by_our_key() {
        let (_, s) = state(10_000, 0, 0);
        let key = voucher_signer();
        let v = signed(&key, &s, 70_000);
        let next = adopt(&s, &server_state(&s, 70_000, 20_000), Some(&v)).unwrap();
        assert_eq!(
            (next.charged, next.balance, next.signed_max),
            (u(70_000), u(500_000), u(70_000))
        );
        let mismatch = Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch;
        // Signed by another key.
        let other = LocalSigner::from_hex(
            "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        )
        .unwrap();
        let forged = signed(&other, &s, 70_000);
        assert_eq!(
            adopt(&s, &server_state(&s, 70_000, 0), Some(&forged))
                .unwrap_err()
                .reason(),
            mismatch
        );
        // Charged above what was signed.
        assert_eq!(
            adopt(&s, &server_state(&s, 80_000, 0), Some(&v))
                .unwrap_err()
                .reason(),
            mismatch
        );
        // Charged below what the server says is claimed.
        assert_eq!(
            adopt(&s, &server_state(&s, 10_000, 20_000), Some(&v))
                .unwrap_err()
                .reason(),
            mismatch
        );
        // Another channel.
        let mut elsewhere = server_state(&s, 70_000, 0);
        elsewhere.channel_id = B256::repeat_byte(1);
        assert_eq!(
            adopt(&s, &elsewhere, Some(&v)).unwrap_err().reason(),
            mismatch
        );
        // Without voucherState, the claimed total is the base.
        let next = adopt(&s, &server_state(&s, 70_000, 20_000), None).unwrap();
        assert_eq!(next.charged, u(20_000));
        // A blocked channel adopts nothing.
        let mut b = s.clone();
        b.block(&Error::new(mismatch, "x"));
        assert!(adopt(&b, &server_state(&s, 70_000, 20_000), Some(&v)).is_err());
    }

    #[test]
    fn refusals_are_read() {
        let (_, s) = state(10_000, 0, 0);
        let busy = Reason::InvalidBatchSettlementEvmChannelBusy.as_str();
        assert_eq!(refusal(s.channel_id, None, Some(busy)), Refusal::Busy);
        assert_eq!(
            refusal(
                s.channel_id,
                None,
                Some("invalid_batch_settlement_evm_missing_channel")
            ),
            Refusal::Other(Some("invalid_batch_settlement_evm_missing_channel".into()))
        );
        let mut extra = batch_extra();
        extra["channelState"] = server_state(&s, 70_000, 0).to_json();
        extra["voucherState"] =
            serde_json::to_value(signed(&voucher_signer(), &s, 70_000)).unwrap();
        let mut c = challenge(vec![entry("batch-settlement", 10_000, extra)]);
        c.error = Some("invalid_batch_settlement_evm_cumulative_amount_mismatch".into());
        match refusal(s.channel_id, Some(&c), None) {
            Refusal::Corrective(st, Some(v)) => {
                assert_eq!(st.charged_cumulative_amount, Some(u(70_000)));
                assert_eq!(v.signed_max_claimable, u(70_000));
            }
            other => panic!("{other:?}"),
        }
        // The state of another channel is not ours to adopt.
        assert!(matches!(
            refusal(B256::repeat_byte(3), Some(&c), None),
            Refusal::Other(_)
        ));
        let plain = both(10_000);
        assert_eq!(
            refusal(s.channel_id, Some(&plain), None),
            Refusal::Other(None)
        );
    }

    #[test]
    fn state_is_plain_json_without_the_key() {
        let (_, mut s) = state(10_000, 30_000, 500_000);
        s.signed_max = u(40_000);
        let text = s.to_json_text();
        assert!(!text.to_lowercase().contains(&VOUCHER_KEY[2..]));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["charged"], "30000");
        assert_eq!(v["balance"], "500000");
        assert_eq!(v["chainId"], 31337);
        assert_eq!(v["voucherKey"], checksummed(&voucher_signer().address()));
        assert_eq!(v["config"]["withdrawDelay"], 900);
        assert_eq!(ClientChannel::from_json_text(&text).unwrap(), s);
        assert_eq!(ClientChannel::from_json_text("{\"charged\":\"1\"}"), None);
        assert_eq!(ClientChannel::from_json_text("not json"), None);
        // The channel id is the config's hash.
        assert_eq!(s.channel_id, channel_id(&s.config.to_sol(), 31337));
        assert_eq!(s.config.payer_authorizer, voucher_signer().address());
    }

    #[test]
    fn payment_header_echoes_the_offer() {
        let (o, s) = state(10_000, 0, 500_000);
        let v = crate::scheme::batch::client::voucher(
            &o.requirement,
            &s.config,
            10_000,
            Bytes::from(vec![1u8; 65]),
        );
        let payload = crate::scheme::batch::client::voucher_payload(&s.config, v);
        let header = payment_header(&both(10_000), &o, &payload).unwrap();
        let decoded = crate::wire::header::decode_payment_signature(&header).unwrap();
        assert_eq!(decoded.accepted, o.accepted);
        assert_eq!(decoded.accepted.scheme, "batch-settlement");
        assert_eq!(decoded.payload["type"], "voucher");
        assert_eq!(decoded.resource.unwrap().url, "https://example.com/a");
    }

    #[test]
    fn receive_typed_data_round_trips_and_refuses_changes() {
        let msg = ReceiveWithAuthorization {
            from: PAYER,
            to: crate::scheme::batch::types::ERC3009_DEPOSIT_COLLECTOR,
            value: u(500_000),
            validAfter: U256::ZERO,
            validBefore: u(1_000),
            nonce: B256::repeat_byte(9),
        };
        let token = parse_address(TOKEN).unwrap();
        let typed = receive_authorization_typed_data("USD Coin", "2", 31337, token, &msg).unwrap();
        let digest = receive_typed_data_digest(&typed).unwrap();
        assert_eq!(
            digest,
            crate::scheme::batch::digest::receive_authorization_digest(
                "USD Coin", "2", 31337, token, &msg
            )
        );
        let mut changed = typed.clone();
        changed["primaryType"] = json!("TransferWithAuthorization");
        assert_eq!(
            receive_typed_data_digest(&changed).unwrap_err().reason(),
            Reason::InvalidPayload
        );
        let mut extra_field = typed.clone();
        extra_field["message"]["extra"] = json!("1");
        assert!(receive_typed_data_digest(&extra_field).is_err());
    }

    #[test]
    fn responses_are_read() {
        let (_, s) = state(10_000, 0, 0);
        let r = success(s.channel_id, 10_000, Some(10_000));
        let value = crate::encoding::base64::encode(&serde_json::to_vec(&r).unwrap());
        assert_eq!(read_response(&value).unwrap(), r);
        assert_eq!(
            read_response("!!").unwrap_err().reason(),
            Reason::InvalidPayload
        );
    }
}
