//! The paid flow of a `batch-settlement` payment (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`): the offer the payment
//! accepted → the payload → the channel's terms and the voucher's signature, checked here →
//! the channel's object takes the channel (verified on its mirrored state, or on chain first
//! when the mirror cannot tell) → the origin → a deposit settled on chain → the charge
//! committed → the content with `PAYMENT-RESPONSE` and a pass. A refund skips the origin and
//! returns the unspent balance. Nothing is charged unless the origin answered below 400.

use super::channel::{Began, Begin, ChannelOp, Committed, Kind, Refused, CHANNEL_BINDING};
use super::onchain::{self, TxFail};
use crate::durable::call::{durable_call, GUARD_BINDING};
use crate::respond::{self, Challenge, Corrective};
use crate::{content, passes, App, Ctx};
use serde_json::json;
use worker::{Env, Request, Response};
use x402_core::encoding::decimal_u256;
use x402_core::gate::config::Route;
use x402_core::scheme::batch::channel::{self, ChannelRecord};
use x402_core::scheme::batch::digest::erc3009_deposit_nonce;
use x402_core::scheme::batch::named::{self, Deposited, PaymentName};
use x402_core::scheme::batch::response::{BatchSettleResponse, ChannelState, SuccessExtra};
use x402_core::scheme::batch::rules::{self, SignatureCheck, Use};
use x402_core::scheme::batch::wire::{
    BatchPayload, BatchRequirement, DepositPayload, RefundPayload,
};
use x402_core::wire::header::{self, PAYMENT_RESPONSE};
use x402_core::wire::{v2, SettleResponse};
use x402_core::{Address, Error, Reason, B256, U256};

/// One request's view of its channel.
struct Flow<'a> {
    app: &'a App,
    ctx: &'a Ctx,
    route: &'a Route,
    env: &'a Env,
    offer: BatchRequirement,
    channel_id: B256,
    pending_id: u64,
}

impl Flow<'_> {
    fn origin(&self) -> &str {
        &self.app.config.cors_allow_origin
    }

    /// A 402 with `error` (and a failed settlement's `PAYMENT-RESPONSE`, or a corrective state).
    fn challenge(
        &self,
        error: &Error,
        settlement: Option<&SettleResponse>,
        corrective: Option<Corrective<'_>>,
    ) -> Response {
        respond::challenge(&Challenge {
            route: self.route,
            resource_url: &self.ctx.resource_url,
            error: Some(error),
            settlement,
            v1_client: false,
            html: false,
            allow_origin: self.origin(),
            paywall_scripts: &self.app.config.paywall_scripts,
            corrective,
            sign_in: None,
            offers: crate::receipts::offers(self.app, self.ctx, self.route),
        })
    }

    /// A settle-stage failure: 402 with `PAYMENT-RESPONSE {success: false, …}`.
    fn failed(&self, error: &Error, transaction: String, payer: &str) -> Response {
        let s = SettleResponse::failure(
            error,
            transaction,
            self.offer.network.to_string(),
            Some(payer.to_string()),
        );
        self.challenge(error, Some(&s), None)
    }

    /// The channel object's refusal: a corrective 402 when it carries the channel state.
    fn refused(&self, r: &Refused) -> Response {
        let reason = Reason::from_code(&r.reason).unwrap_or(Reason::UnexpectedVerifyError);
        let message = match reason {
            Reason::InvalidBatchSettlementEvmCumulativeAmountMismatch => {
                "the voucher does not sign the charged total plus this request's price; re-sign on the channel state sent"
            }
            Reason::InvalidBatchSettlementEvmCumulativeExceedsBalance => {
                "the voucher signs more than the channel holds; deposit first"
            }
            Reason::InvalidBatchSettlementEvmChannelBusy => {
                "another request of this channel is in progress; send again shortly"
            }
            _ => "the channel refused this request",
        };
        let e = Error::new(reason, message);
        let corrective = r.state.as_ref().map(|state| Corrective {
            network: &self.offer.network,
            state,
            voucher: r.voucher.as_ref(),
        });
        self.challenge(&e, None, corrective)
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, op: &ChannelOp) -> Result<T, Error> {
        durable_call(
            self.env,
            CHANNEL_BINDING,
            &format!("{:x}", self.channel_id),
            op,
        )
        .await
    }

    /// Frees the channel; nothing is charged.
    async fn release(&self) {
        let op = ChannelOp::Release {
            pending_id: self.pending_id,
        };
        if let Err(e) = self.call::<serde_json::Value>(&op).await {
            worker::console_error!("channel: cannot release: {e}");
        }
    }

    /// Keeps the reservation with a broadcast transaction whose outcome is unknown.
    async fn hold(&self, transaction: &str) {
        let op = ChannelOp::Hold {
            pending_id: self.pending_id,
            transaction: transaction.into(),
        };
        if let Err(e) = self.call::<serde_json::Value>(&op).await {
            worker::console_error!("channel: cannot hold: {e}");
        }
    }
}

/// A pending-request id: random, so a request that lost the channel cannot commit another's.
fn pending_id() -> u64 {
    let hi = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    (hi << 32) | lo
}

/// Serves a request to a priced route paid with a `batch-settlement` payload.
pub(crate) async fn paid(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    req: &Request,
    env: &Env,
    payment: &v2::PaymentPayload,
    id: Option<String>,
) -> Response {
    let mut flow = Flow {
        app,
        ctx,
        route,
        env,
        offer: match app.config.batch_offer(route, &payment.accepted) {
            Some((_, offer)) => offer,
            None => {
                let e = Error::new(
                    Reason::InvalidBatchSettlementEvmScheme,
                    "the accepted batch-settlement offer is not one this route makes (network, asset, amount, payTo, maxTimeoutSeconds and extra must be as offered)",
                );
                return respond::challenge(&Challenge {
                    route,
                    resource_url: &ctx.resource_url,
                    error: Some(&e),
                    settlement: None,
                    v1_client: false,
                    html: false,
                    allow_origin: &app.config.cors_allow_origin,
                    paywall_scripts: &app.config.paywall_scripts,
                    corrective: None,
                    sign_in: None,
                    offers: crate::receipts::offers(app, ctx, route),
                });
            }
        },
        channel_id: B256::ZERO,
        pending_id: pending_id(),
    };
    let payload = match BatchPayload::from_json(&payment.payload) {
        Ok(p) => p,
        Err(e) => return flow.challenge(&e, None, None),
    };
    let (kind, usage) = match &payload {
        BatchPayload::Deposit(d) => (Kind::Deposit, Use::Deposit(d.deposit.amount)),
        BatchPayload::Voucher(_) => (Kind::Voucher, Use::Voucher),
        BatchPayload::Refund(_) => (Kind::Refund, Use::Refund),
        BatchPayload::Claim(_) | BatchPayload::Settle(_) => {
            let e = Error::new(
                Reason::InvalidBatchSettlementEvmPayloadType,
                "a client pays with a deposit, a voucher or a refund payload",
            );
            return flow.challenge(&e, None, None);
        }
    };
    let Some((config, voucher)) = payload.channel() else {
        return flow.challenge(
            &Error::new(Reason::InvalidBatchSettlementEvmPayloadType, "no channel"),
            None,
            None,
        );
    };
    flow.channel_id = voucher.channel_id;
    // The channel's terms are the offer's, and the voucher is signed by its payerAuthorizer.
    if let Err(e) = rules::check_config(&flow.offer, config, voucher.channel_id) {
        return flow.challenge(&e, None, None);
    }
    let signature_checked =
        match rules::check_voucher_signature(config, voucher, flow.offer.chain_id) {
            Ok(SignatureCheck::Valid) => true,
            Ok(SignatureCheck::NeedsChain { .. }) => false,
            Err(e) => return flow.challenge(&e, None, None),
        };
    // A deposit's or voucher's payment-identifier id (read by the gate), with the payment's
    // fingerprint: the channel looks it up before anything else is judged.
    let named = id.filter(|_| kind != Kind::Refund).map(|id| PaymentName {
        fingerprint: named::fingerprint(&payload, &ctx.resource()),
        id,
    });
    let payer = config.payer.to_checksum(None);
    let mut begin = Begin {
        chain_id: flow.offer.chain_id,
        config: config.clone(),
        voucher: voucher.clone(),
        kind,
        price: flow.offer.amount,
        now: ctx.now,
        ttl: channel::pending_ttl(flow.offer.max_timeout_seconds),
        pending_id: flow.pending_id,
        mirror: None,
        signature_checked,
        resource: ctx.resource(),
        named,
    };

    // The channel: on the mirrored state, or verified on chain (or by the facilitator) first.
    let settlement = &app.config.settlement;
    let mut answer = match flow
        .call::<Began>(&ChannelOp::Begin(Box::new(begin.clone())))
        .await
    {
        Ok(a) => a,
        Err(e) => return respond::reject(503, &e, flow.origin()),
    };
    if let Began::NeedsChain = answer {
        let verified = match &payload {
            BatchPayload::Deposit(d) => {
                onchain::verify_deposit(env, settlement, &flow.offer, payment, d, ctx.now).await
            }
            _ => {
                onchain::verify_channel(
                    env,
                    settlement,
                    &flow.offer,
                    payment,
                    config,
                    voucher,
                    usage,
                    ctx.now,
                )
                .await
            }
        };
        begin.mirror = match verified {
            Ok(state) => Some(state),
            Err(e) => return flow.challenge(&e, None, None),
        };
        answer = match flow.call::<Began>(&ChannelOp::Begin(Box::new(begin))).await {
            Ok(a) => a,
            Err(e) => return respond::reject(503, &e, flow.origin()),
        };
    }
    // A deposit already broadcast by an earlier copy of this payload: its receipt decides.
    let mut deposited: Option<(String, ChannelState)> = None;
    let record = match answer {
        Began::Reserved { record } => Some(record),
        Began::DepositPending {
            pending_id,
            transaction,
        } => {
            flow.pending_id = pending_id;
            let BatchPayload::Deposit(d) = &payload else {
                return flow.refused(&Refused {
                    reason: Reason::InvalidBatchSettlementEvmChannelBusy.as_str().into(),
                    state: None,
                    voucher: None,
                });
            };
            match deposit_outcome(&flow, payment, d, &transaction).await {
                Ok(DepositOutcome::Landed(tx, post)) => deposited = Some((tx, post)),
                Ok(DepositOutcome::Unknown(tx)) => {
                    let e = Error::new(
                        Reason::SettlementPending,
                        format!("deposit {tx} is not confirmed yet; send the same payment again shortly"),
                    );
                    return flow.failed(&e, tx, &payer);
                }
                Err(e) => {
                    flow.release().await;
                    return flow.failed(&e, transaction, &payer);
                }
            }
            None
        }
        Began::Refused(r) => return flow.refused(&r),
        Began::Replay { extra, deposit } => {
            return replayed(&flow, req, config.payer, *extra, deposit).await
        }
        Began::IdConflict => return respond::id_conflict(flow.origin()),
        Began::NeedsChain => {
            let e = Error::new(
                Reason::UnexpectedVerifyError,
                "the channel could not be judged; send the payment again",
            );
            return respond::reject(503, &e, flow.origin());
        }
    };

    if let (BatchPayload::Refund(r), Some(record)) = (&payload, &record) {
        return refund(&flow, r, record, &payer).await;
    }

    // The origin: nothing is charged unless it answers below 400.
    let res = content::fetch(app, route, req, env, ctx).await;
    if res.status_code() >= 400 {
        if deposited.is_none() {
            flow.release().await;
        }
        return res;
    }
    let deposit_amount = match &payload {
        BatchPayload::Deposit(d) => Some(d.deposit.amount),
        _ => None,
    };
    if let (BatchPayload::Deposit(d), None) = (&payload, &deposited) {
        match onchain::settle_deposit(env, settlement, &flow.offer, payment, d).await {
            Ok(done) => deposited = Some(done),
            Err(TxFail::Pending { transaction, error }) => {
                flow.hold(&transaction).await;
                return flow.failed(&error, transaction, &payer);
            }
            Err(TxFail::Failed(e)) => {
                flow.release().await;
                return flow.failed(&e, String::new(), &payer);
            }
        }
    }
    let deposit = deposited
        .as_ref()
        .zip(deposit_amount)
        .map(|((transaction, _), amount)| Deposited {
            transaction: transaction.clone(),
            amount,
        });
    let commit = ChannelOp::Commit {
        pending_id: flow.pending_id,
        cost: flow.offer.amount,
        now: ctx.now,
        settled: deposited.as_ref().map(|(_, post)| post.clone()),
        deposit: deposit.clone(),
    };
    let extra = match flow.call::<Committed>(&commit).await {
        Ok(Committed::Charged { extra }) => extra,
        Ok(Committed::Refused(r)) => return flow.refused(&r),
        Err(e) => return respond::reject(503, &e, flow.origin()),
    };
    let deposit_tx = deposit.as_ref().map(|d| d.transaction.clone());
    record_purchase(&flow, config.payer, deposit_tx.unwrap_or_default()).await;
    let (receipt, transaction) = success(&flow, config.payer, extra, deposit);
    answered(&flow, res, receipt, config.payer, transaction)
}

/// The success answer of a charge: a deposit's (its transaction and amount) or a voucher's;
/// with the deposit's transaction hash (zero for a voucher).
fn success(
    flow: &Flow<'_>,
    payer: Address,
    extra: SuccessExtra,
    deposit: Option<Deposited>,
) -> (BatchSettleResponse, B256) {
    match deposit {
        Some(d) => (
            BatchSettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: Some(payer.to_checksum(None)),
                network: flow.offer.network.to_string(),
                amount: Some(decimal_u256::format(&d.amount)),
                extra: Some(extra),
                extensions: None,
                transaction: d.transaction.clone(),
            },
            d.transaction.parse().unwrap_or(B256::ZERO),
        ),
        None => (
            BatchSettleResponse::voucher_success(&flow.offer.network, payer, extra),
            B256::ZERO,
        ),
    }
}

/// The content of a paid channel request with its `PAYMENT-RESPONSE` (and the seller's signed
/// receipt, when receipts are on) and a pass. `transaction`: the deposit's, or zero.
fn answered(
    flow: &Flow<'_>,
    res: Response,
    mut receipt: BatchSettleResponse,
    payer: Address,
    transaction: B256,
) -> Response {
    let (app, ctx) = (flow.app, flow.ctx);
    crate::receipts::add_channel_receipt(app, &ctx.resource_url, &mut receipt, payer, ctx.now);
    let mut headers = Vec::new();
    if let Ok(v) = header::encode(&receipt) {
        headers.push((PAYMENT_RESPONSE, v));
    }
    headers.extend(passes::pass_headers(
        app,
        ctx,
        flow.route,
        payer,
        transaction,
        ctx.now,
    ));
    respond::with_headers(res, &headers, flow.origin())
}

/// Records the purchase a channel just charged in the payer's replay guard, where a
/// Sign-In-With-X looks for it (only where this route offers sign-ins). A failure to record
/// loses only the restore, never the payment: logged, not answered.
async fn record_purchase(flow: &Flow<'_>, payer: Address, transaction: String) {
    if !crate::sign_in::offered(flow.app, flow.route) {
        return;
    }
    let guard = x402_core::gate::replay::payer_key(flow.offer.chain_id, flow.offer.asset, payer);
    let op = crate::durable::GuardOp::Bought {
        resource: flow.ctx.resource(),
        transaction,
        at: flow.ctx.now,
    };
    if let Err(e) = durable_call::<serde_json::Value>(flow.env, GUARD_BINDING, &guard, &op).await {
        worker::console_error!("x402-worker: a channel purchase was not recorded for restore: {e}");
    }
}

/// The repeat of the channel's last charged request (its answer was lost): the content again,
/// with that charge's `PAYMENT-RESPONSE` and a pass, charging nothing. An origin failing now
/// answers as it does (nothing is charged either way).
async fn replayed(
    flow: &Flow<'_>,
    req: &Request,
    payer: Address,
    extra: SuccessExtra,
    deposit: Option<Deposited>,
) -> Response {
    let res = content::fetch(flow.app, flow.route, req, flow.env, flow.ctx).await;
    if res.status_code() >= 400 {
        return res;
    }
    let (receipt, transaction) = success(flow, payer, extra, deposit);
    answered(flow, res, receipt, payer, transaction)
}

/// A cooperative refund (x402 batch-settlement "Refund"): the unspent balance (or the amount
/// asked, if less) goes back to the payer, after a claim of the charged total in the same
/// transaction. The origin is not asked.
async fn refund(
    flow: &Flow<'_>,
    r: &RefundPayload,
    record: &ChannelRecord,
    payer: &str,
) -> Response {
    let available = record
        .balance
        .saturating_sub(record.charged.max(record.total_claimed));
    if available.is_zero() {
        flow.release().await;
        let e = Error::new(
            Reason::InvalidBatchSettlementEvmRefundNoBalance,
            "nothing beyond the charged total is left in the channel",
        );
        return flow.challenge(&e, None, None);
    }
    let amount = match r.amount {
        Some(a) if a.is_zero() => {
            flow.release().await;
            let e = Error::new(
                Reason::InvalidBatchSettlementEvmRefundAmountInvalid,
                "amount must be positive",
            );
            return flow.challenge(&e, None, None);
        }
        Some(a) => a.min(available),
        None => available,
    };
    let (Some(enriched), Some(signer)) = (
        channel::enriched_refund(record, r, amount),
        flow.app.receiver_authorizer.as_ref(),
    ) else {
        flow.release().await;
        let e = Error::new(
            Reason::InvalidBatchSettlementEvmAuthorizerNotConfigured,
            "no receiver authorizer key to sign the refund",
        );
        return flow.failed(&e, String::new(), payer);
    };
    let settlement = &flow.app.config.settlement;
    match onchain::refund(
        flow.env,
        settlement,
        flow.offer.chain_id,
        &enriched,
        &r.channel_config,
        signer,
    )
    .await
    {
        Ok((tx, post)) => {
            let op = ChannelOp::Refunded {
                pending_id: flow.pending_id,
                post: post.clone(),
                now: flow.ctx.now,
            };
            if let Err(e) = flow.call::<serde_json::Value>(&op).await {
                worker::console_error!("channel: cannot record the refund: {e}");
            }
            let receipt = BatchSettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: Some(payer.to_string()),
                transaction: tx,
                network: flow.offer.network.to_string(),
                amount: Some(decimal_u256::format(&amount)),
                extra: Some(SuccessExtra {
                    channel_state: ChannelState {
                        charged_cumulative_amount: Some(record.charged),
                        ..post
                    },
                    charged_amount: None,
                }),
                extensions: None,
            };
            let res = respond::json_response(
                200,
                &json!({"message": "Refund acknowledged", "channelId": flow.channel_id.to_string()}),
                flow.origin(),
            );
            let _ = res.headers().set("Cache-Control", "private");
            let mut headers = Vec::new();
            if let Ok(v) = header::encode(&receipt) {
                headers.push((PAYMENT_RESPONSE, v));
            }
            respond::with_headers(res, &headers, flow.origin())
        }
        Err(TxFail::Pending { transaction, error }) => {
            flow.hold(&transaction).await;
            flow.failed(&error, transaction, payer)
        }
        Err(TxFail::Failed(e)) => {
            flow.release().await;
            flow.failed(&e, String::new(), payer)
        }
    }
}

/// What became of a deposit an earlier copy of this payload sent.
enum DepositOutcome {
    /// Mined: its transaction (`""` when only the token's record shows it) and the channel after.
    Landed(String, ChannelState),
    /// Not known yet: the transaction to wait for (`""` when none is known).
    Unknown(String),
}

/// The outcome of a deposit an earlier copy of this payload sent: by its receipt, or, when no
/// hash came back (a facilitator that did not answer), by the token's record of the payer's
/// ERC-3009 authorization — used means the deposit landed; unused means it can be sent again
/// (the authorization is single-use, so a second transaction can never move the funds twice).
/// A reverted deposit is an error (nothing moved).
async fn deposit_outcome(
    flow: &Flow<'_>,
    payment: &v2::PaymentPayload,
    d: &DepositPayload,
    transaction: &str,
) -> Result<DepositOutcome, Error> {
    let Some(url) = flow.app.config.settlement.rpc_url() else {
        return Ok(DepositOutcome::Unknown(transaction.into()));
    };
    let read_post = || async {
        onchain::read_channel(url, flow.offer.chain_id, flow.channel_id, None)
            .await
            .map(|(state, _)| state)
    };
    if let Ok(hash) = transaction.parse::<B256>() {
        return match crate::chain::wait_receipt(url, &hash, 0).await {
            crate::chain::Receipt::Success => Ok(DepositOutcome::Landed(
                transaction.into(),
                read_post().await?,
            )),
            crate::chain::Receipt::Reverted => Err(Error::new(
                Reason::InvalidBatchSettlementEvmDepositTransactionFailed,
                format!("deposit {transaction} reverted"),
            )),
            crate::chain::Receipt::Unknown => Ok(DepositOutcome::Unknown(transaction.into())),
        };
    }
    let Some(auth) = d.deposit.authorization.erc3009_authorization.as_ref() else {
        return Ok(DepositOutcome::Unknown(transaction.into()));
    };
    let nonce = erc3009_deposit_nonce(flow.channel_id, U256::from_be_bytes(auth.salt.0));
    let data = x402_core::evm::tx::authorization_state_calldata(d.channel_config.payer, nonce);
    let used = crate::chain::call(
        url,
        &flow.offer.asset.to_string(),
        &data,
        "authorizationState",
    )
    .await
    .map_err(|e| crate::chain::verify_error(&e))
    .and_then(|r| x402_core::evm::tx::decode_bool(&r, "authorizationState"))?;
    if used {
        return Ok(DepositOutcome::Landed(String::new(), read_post().await?));
    }
    match onchain::settle_deposit(
        flow.env,
        &flow.app.config.settlement,
        &flow.offer,
        payment,
        d,
    )
    .await
    {
        Ok((tx, post)) => Ok(DepositOutcome::Landed(tx, post)),
        Err(TxFail::Pending { transaction, .. }) => {
            flow.hold(&transaction).await;
            Ok(DepositOutcome::Unknown(transaction))
        }
        Err(TxFail::Failed(e)) => Err(e),
    }
}
