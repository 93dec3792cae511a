//! The paywall flow for a priced route: pass → payment header → verification in the Worker →
//! reservation in the payer's replay guard → on-chain checks → admission against the payer's
//! balance less what is in flight → content → settlement (before the response, or in the
//! background) → content with the receipt and a pass. Every response carrying paid content is
//! `Cache-Control: private` (the configured `paidCacheControl`).

use crate::respond::{self, Challenge};
use crate::settle::{self, Guard, Outcome};
use crate::timing::Timing;
use crate::{content, passes, App, Ctx};
use std::time::Duration;
use worker::{Context, Delay, Env, Request, Response};
use x402_core::gate::config::{PaymentIdentifier, Route, Settlement, SettlementOrder};
use x402_core::gate::pass;
use x402_core::gate::replay::{Decision, Outcome as GuardOutcome, RETRY_WINDOW_SECONDS};
use x402_core::scheme::exact::verify::{self, Verdict, VerifiedPayment};
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::header::{
    self, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, X_PAYMENT, X_PAYMENT_RESPONSE,
};
use x402_core::wire::payment_identifier;
use x402_core::wire::{AnyPaymentPayload, SettleResponse};
use x402_core::{Error, Reason, B256};

/// The 402 of a request carrying no payment and no pass, as [`paid`] answers it: what
/// `crate::unpaid_challenge` keeps and answers without the request wrappers.
pub(crate) fn unpaid(app: &App, ctx: &Ctx, route: &Route, html: bool) -> respond::Parts {
    respond::challenge_parts(&Challenge {
        route,
        resource_url: &ctx.resource_url,
        error: None,
        settlement: None,
        v1_client: false,
        html,
        allow_origin: &app.config.cors_allow_origin,
        paywall_scripts: &app.config.paywall_scripts,
        corrective: None,
        sign_in: crate::sign_in::offer(app, ctx, route),
        offers: crate::receipts::offers(app, ctx, route),
    })
}

/// Serves a request to a priced route.
pub(crate) async fn paid(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    req: Request,
    env: &Env,
    wctx: Context,
) -> Response {
    let origin = app.config.cors_allow_origin.as_str();
    let get = |n: &str| req.headers().get(n).ok().flatten();
    let sig_header = get(PAYMENT_SIGNATURE);
    let x_header = get(X_PAYMENT);
    let v1_client = sig_header.is_none() && x_header.is_some();
    let challenge = |error: Option<&Error>, settlement: Option<&SettleResponse>| {
        respond::challenge(&Challenge {
            route,
            resource_url: &ctx.resource_url,
            error,
            settlement,
            v1_client,
            html: respond::is_browser(&req),
            allow_origin: origin,
            paywall_scripts: &app.config.paywall_scripts,
            corrective: None,
            sign_in: crate::sign_in::offer(app, ctx, route),
            offers: crate::receipts::offers(app, ctx, route),
        })
    };

    // 1. An access pass for this path serves it without payment (only where the route
    // issues passes: a route with passLifetimeSeconds = 0 honours none).
    let mut pass_error = None;
    if route.pass_lifetime_seconds > 0 && !app.pass_secrets.is_empty() {
        for candidate in passes::presented(&req) {
            match pass::verify(&app.pass_secrets, &candidate, &ctx.path, ctx.now) {
                Ok(_) => return content::fetch(app, route, &req, env, ctx).await,
                Err(e) => pass_error = Some(e),
            }
        }
    }

    // 1b. A sign-in (Sign-In-With-X) by the wallet that bought this resource: the content again
    // with a new pass, nothing charged. A valid sign-in of someone who did not buy it gets the
    // ordinary 402; a refused one names its reason.
    if let Some(h) = get(x402_core::wire::siwx::HEADER) {
        if crate::sign_in::offered(app, route) {
            match crate::sign_in::restore(app, ctx, route, &h, env).await {
                Ok(Some((signer, tx))) => {
                    let res = content::fetch(app, route, &req, env, ctx).await;
                    if res.status_code() >= 400 {
                        return res;
                    }
                    let mut extra = passes::pass_headers(app, ctx, route, signer, tx, ctx.now);
                    extra.push(("X-PAYMENT-RESTORED", signer.to_checksum(None)));
                    return respond::with_headers(res, &extra, origin);
                }
                Ok(None) => {}
                Err(e) => pass_error = Some(e),
            }
        }
    }

    // 2. The payment.
    let payment = match header::decode_payment_headers(sig_header.as_deref(), x_header.as_deref()) {
        Ok(Some(p)) => p,
        Ok(None) => return challenge(pass_error.as_ref(), None),
        Err(e) => return challenge(Some(&e), None),
    };
    // The payment-identifier id (a v2 extension), checked before anything else is judged,
    // whatever the scheme.
    let payment_id = match &payment {
        AnyPaymentPayload::V2(p) => match payment_identifier::id_of(p.extensions.as_ref()) {
            Ok(id) => id,
            Err(e) => return respond::reject(400, &e, origin),
        },
        AnyPaymentPayload::V1(_) => None,
    };
    if payment_id.is_none() && route.payment_identifier == PaymentIdentifier::Required {
        let e = Error::new(
            Reason::InvalidPayload,
            "this route requires a payment-identifier id (extensions.payment-identifier.info.id)",
        );
        return respond::reject(400, &e, origin);
    }
    // A batch-settlement payment (a deposit, a voucher, a refund) goes to its channel.
    if let AnyPaymentPayload::V2(p) = &payment {
        if p.accepted.scheme == x402_core::scheme::batch::SCHEME {
            return crate::batch::flow::paid(app, ctx, route, &req, env, p, payment_id).await;
        }
    }
    let offered_v2 = route.requirements_v2();
    let offered_v1 = route.requirements_v1(&ctx.resource_url);
    let verdict =
        match verify::verify_with_contract_signers(&payment, &offered_v1, &offered_v2, ctx.now) {
            Ok(v) => v,
            Err(e) => return challenge(Some(&e), None),
        };
    let verified = verdict.payment().clone();
    // A contract signer (ERC-1271) is judged on chain before anything is reserved, so a forged
    // signature never holds a reservation.
    if let Err(e) = contract_signature(app, &verdict).await {
        if e.reason() == Reason::UnexpectedVerifyError {
            return respond::reject(503, &e, origin);
        }
        return challenge(Some(&e), None);
    }
    let network_label = match &payment {
        AnyPaymentPayload::V1(p) => p.network.clone(),
        AnyPaymentPayload::V2(p) => p.accepted.network.to_string(),
    };
    let facilitator_request = match &payment {
        AnyPaymentPayload::V1(p) => FacilitatorRequest::V1 {
            payment_payload: p.clone(),
            payment_requirements: offered_v1[verified.requirement_index].clone(),
        },
        AnyPaymentPayload::V2(p) => FacilitatorRequest::V2 {
            payment_payload: p.clone(),
            payment_requirements: offered_v2[verified.requirement_index].clone(),
        },
    };
    let payer = verified.payer.to_checksum(None);
    let failure = |e: &Error, tx: String| {
        SettleResponse::failure(e, tx, network_label.clone(), Some(payer.clone()))
    };
    let background = route.order == SettlementOrder::Background;
    let receipt = Receipt {
        verified: &verified,
        network: &network_label,
        v1_client,
    };

    // 3. One authorization, honoured once, for one resource (path and query): the payer's own
    // replay guard decides.
    let guard = Guard::of(env, &verified);
    let resource = ctx.resource();
    let mut timing = Timing::start(app.config.server_timing);
    let mut waited = 0;
    // The nonce and balance on chain (read-only) are read while the guard decides, so a payment
    // waits for the slower of the two, not for both; they count only if the guard reserves
    // the authorization for this request (and are read again if it had to wait first).
    let chain_check = || async {
        match app.config.settlement.rpc_url() {
            Some(url) => Some(crate::chain::check_payment(url, &verified).await),
            None => None,
        }
    };
    let mut early;
    let snapshot = loop {
        let reserve = guard.reserve(&verified, &resource, ctx.now, payment_id.clone());
        let decision = if waited == 0 {
            let (d, checked) = futures_util::future::join(reserve, chain_check()).await;
            early = Some(checked);
            d
        } else {
            early = None;
            reserve.await
        };
        let decision = match decision {
            Ok(d) => d,
            Err(e) => return respond::reject(503, &e, origin),
        };
        // The refusals, each answered with its reason and no settlement.
        let refusal = match decision {
            Decision::Reserved { snapshot } => break snapshot,
            // One id, one payment: this id already names another payment of this payer.
            Decision::IdConflict => return respond::id_conflict(origin),
            // Served or settled for this resource already: a retry gets the content again,
            // with no second charge (and, once settled, the first settlement's receipt).
            Decision::Serve { transaction, at } => {
                let unsettled = transaction.is_none();
                let res =
                    serve_again(app, ctx, route, &req, env, &receipt, transaction, at).await;
                // A background payment served again (content delivered) and not known settled:
                // its settlement is queued again (the relayer ignores one it already holds), in
                // case the request that served it first was cut off before queueing it.
                if unsettled
                    && res.status_code() < 400
                    && background
                    && matches!(app.config.settlement, Settlement::SelfSettle { .. })
                {
                    if let Err(e) = settle::enqueue(env, &app.config.settlement, &verified).await {
                        worker::console_error!("background settlement not queued again: {e}");
                    }
                }
                return res;
            }
            // Another copy of this payment for this resource is being checked or settled:
            // wait (bounded) for its outcome.
            Decision::Wait if waited < WAIT_POLLS => {
                waited += 1;
                Delay::from(Duration::from_millis(WAIT_POLL_MS)).await;
                continue;
            }
            Decision::Wait => Error::new(
                Reason::SettlementPending,
                "this payment is being settled by an earlier request for this resource; send it again shortly",
            ),
            Decision::InFlight => Error::new(
                Reason::DuplicateSettlement,
                "this authorization is being settled for another resource",
            ),
            Decision::UsedElsewhere => Error::new(
                Reason::InvalidExactEvmNonceAlreadyUsed,
                "this authorization already paid for another resource",
            ),
            Decision::RetryExpired { at } => Error::new(
                Reason::InvalidExactEvmNonceAlreadyUsed,
                format!(
                    "this authorization was settled at {at}; it is served again only within {RETRY_WINDOW_SECONDS} s of its settlement and before its validBefore"
                ),
            ),
            Decision::Pending { transaction } => {
                if settle::pending_settled(&app.config.settlement, &transaction).await == Some(true)
                {
                    guard
                        .complete(GuardOutcome::Settled {
                            transaction: transaction.clone(),
                            at: ctx.now,
                        })
                        .await;
                    return serve_again(
                        app,
                        ctx,
                        route,
                        &req,
                        env,
                        &receipt,
                        Some(transaction),
                        Some(ctx.now),
                    )
                    .await;
                }
                let message = if transaction.is_empty() {
                    "the facilitator's answer to an earlier settlement of this authorization was \
                     lost; its outcome is unknown and it will not be settled again"
                        .to_string()
                } else {
                    format!(
                        "settlement {transaction} is not confirmed yet; it will not be sent again"
                    )
                };
                let e = Error::new(Reason::SettlementPending, message);
                return challenge(Some(&e), Some(&failure(&e, transaction)));
            }
        };
        return challenge(Some(&refusal), Some(&failure(&refusal, String::new())));
    };

    timing.mark("guard");
    // 4. Nonce and balance on chain (read above, alongside the reservation); then the payer's
    // guard admits the payment only while the balance, less what it accepted and has not seen
    // settled, covers it.
    let checked = match early {
        Some(checked) => checked,
        None => {
            let checked = chain_check().await;
            timing.mark("chain");
            checked
        }
    };
    let balance = match checked {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            guard.release().await;
            if e.reason() == Reason::UnexpectedVerifyError {
                return respond::reject(503, &e, origin);
            }
            return challenge(Some(&e), None);
        }
        None => None,
    };
    if let Err(e) = guard
        .admit(balance, snapshot, background, verified.authorization.value)
        .await
    {
        if e.reason() == Reason::UnexpectedVerifyError {
            return respond::reject(503, &e, origin);
        }
        return challenge(Some(&e), Some(&failure(&e, String::new())));
    }

    // 5. Content, then settlement; on an upfront route (x402 `paymentFlow: "upfront"`, for
    // origins with side effects) settlement, then content.
    timing.mark("admit");
    let upfront = route.order == SettlementOrder::Upfront;
    let mut content_first = if upfront {
        None
    } else {
        let res = content::fetch(app, route, &req, env, ctx).await;
        if res.status_code() >= 400 {
            // The origin failed: nothing is charged, its answer goes out as is.
            guard.release().await;
            return res;
        }
        timing.mark("content");
        Some(res)
    };
    if let Some(res) = content_first.take_if(|_| background) {
        // Self-settling: the settlement is stored by the payer's relayer key before the
        // content goes out, and sent from there (durable across outages and restarts).
        if matches!(app.config.settlement, Settlement::SelfSettle { .. }) {
            match settle::enqueue(env, &app.config.settlement, &verified).await {
                Ok(()) => {
                    return respond::with_headers(
                        res,
                        &[("X-PAYMENT-SETTLEMENT", "background".into())],
                        origin,
                    )
                }
                Err(e) => worker::console_error!(
                    "background settlement not queued ({e}); settling from this request"
                ),
            }
        }
        let env2 = env.clone();
        let settlement = app.config.settlement.clone();
        let payer_key = guard.payer.clone();
        let nonce = guard.nonce.clone();
        let now = ctx.now;
        wctx.wait_until(async move {
            let g = Guard {
                env: &env2,
                payer: payer_key,
                nonce,
            };
            let outcome = settle::settle(&env2, &settlement, &verified, &facilitator_request).await;
            record(&g, outcome, now).await;
        });
        return respond::with_headers(
            res,
            &[("X-PAYMENT-SETTLEMENT", "background".into())],
            origin,
        );
    }
    let outcome =
        settle::settle(env, &app.config.settlement, &verified, &facilitator_request).await;
    timing.mark("settle");
    match (outcome, content_first) {
        // Upfront: nothing fetched yet.
        (Outcome::Settled(tx), None) => {
            // Recorded before the origin is asked: whatever it answers, this payment is paid,
            // and a retry of it is served with this receipt, never charged again.
            guard
                .complete(GuardOutcome::Settled {
                    transaction: tx.clone(),
                    at: ctx.now,
                })
                .await;
            let res = content::fetch(app, route, &req, env, ctx).await;
            timing.mark("content");
            let mut extra = receipt_headers(app, ctx, route, &receipt, &tx, ctx.now);
            extra.extend(timing.header());
            if res.status_code() >= 400 {
                // The origin failed after the payment: its answer carries the receipt (and a
                // pass for a retry), and no shared cache keeps it.
                extra.push(("Cache-Control", app.config.paid_cache_control.clone()));
            }
            respond::with_headers(res, &extra, origin)
        }
        (Outcome::Settled(tx), Some(res)) => {
            // Recorded after the answer leaves (one Durable Object round trip less on the paid
            // path). Until it lands the guard holds the authorization as admitted: a retry waits
            // for the record (then gets this receipt), and the payment still counts against the
            // payer's balance as in flight — both on the safe side; nothing is settled again.
            let (env2, payer_key, nonce) = (env.clone(), guard.payer.clone(), guard.nonce.clone());
            let settled = GuardOutcome::Settled {
                transaction: tx.clone(),
                at: ctx.now,
            };
            wctx.wait_until(async move {
                let g = Guard {
                    env: &env2,
                    payer: payer_key,
                    nonce,
                };
                g.complete(settled).await;
            });
            let mut extra = receipt_headers(app, ctx, route, &receipt, &tx, ctx.now);
            extra.extend(timing.header());
            respond::with_headers(res, &extra, origin)
        }
        (Outcome::Pending(tx, e), _) => {
            guard
                .complete(GuardOutcome::Pending {
                    transaction: tx.clone(),
                })
                .await;
            challenge(Some(&e), Some(&failure(&e, tx)))
        }
        (Outcome::Failed(e), _) => {
            guard.release().await;
            challenge(Some(&e), Some(&failure(&e, String::new())))
        }
    }
}

/// How often, and how long, a copy of a payment waits for the request that is settling it.
const WAIT_POLL_MS: u64 = 250;
const WAIT_POLLS: u32 = 40;

/// What a receipt says about a verified payment.
struct Receipt<'a> {
    verified: &'a VerifiedPayment,
    network: &'a str,
    v1_client: bool,
}

/// The ERC-1271 check a [`Verdict::NeedsOnChainCheck`] asks for (nothing for `Valid`).
pub(crate) async fn contract_signature(app: &App, verdict: &Verdict) -> Result<(), Error> {
    let Verdict::NeedsOnChainCheck(p) = verdict else {
        return Ok(());
    };
    match app.config.settlement.rpc_url() {
        Some(url) => crate::chain::check_contract_signature(url, p).await,
        None => Err(Error::new(
            Reason::InvalidExactEvmSignature,
            "the signature does not recover to authorization.from, and a contract-wallet signature needs settlement.rpcUrl to be checked on chain",
        )),
    }
}

async fn record(guard: &Guard<'_>, outcome: Outcome, now: u64) {
    match outcome {
        Outcome::Settled(transaction) => {
            let at = (worker::Date::now().as_millis() / 1000).max(now);
            guard
                .complete(GuardOutcome::Settled { transaction, at })
                .await
        }
        Outcome::Pending(transaction, _) => {
            guard.complete(GuardOutcome::Pending { transaction }).await
        }
        Outcome::Failed(e) => {
            worker::console_error!("background settlement failed: {e}");
            guard.release().await
        }
    }
}

/// Serves a payment again (a retry of one already served or settled for this resource): the
/// content, with the first settlement's receipt and a pass that ends when the first one did.
#[allow(clippy::too_many_arguments)]
async fn serve_again(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    req: &Request,
    env: &Env,
    receipt: &Receipt<'_>,
    transaction: Option<String>,
    settled_at: Option<u64>,
) -> Response {
    let res = content::fetch(app, route, req, env, ctx).await;
    if res.status_code() >= 400 {
        return res;
    }
    let extra = match (transaction, settled_at) {
        (Some(tx), Some(at)) => receipt_headers(app, ctx, route, receipt, &tx, at),
        // Served before settlement, still settling.
        _ => vec![("X-PAYMENT-SETTLEMENT", "background".to_string())],
    };
    respond::with_headers(res, &extra, &app.config.cors_allow_origin)
}

/// `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`) and, when the route issues passes, the pass
/// as a header and as a cookie scoped to the resource path, expiring `passLifetimeSeconds`
/// after the settlement at `settled_at` (a retry gets a pass that ends when the first did).
fn receipt_headers(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    r: &Receipt<'_>,
    tx: &str,
    settled_at: u64,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut receipt = SettleResponse::success(
        tx.into(),
        r.network.into(),
        r.verified.payer.to_checksum(None),
    );
    // Signed at the settlement's time: a retry gets the same receipt.
    crate::receipts::add_receipt(app, &ctx.resource_url, &mut receipt, settled_at);
    if let Ok(v) = header::encode(&receipt) {
        out.push((
            if r.v1_client {
                X_PAYMENT_RESPONSE
            } else {
                PAYMENT_RESPONSE
            },
            v,
        ));
    }
    out.extend(passes::pass_headers(
        app,
        ctx,
        route,
        r.verified.payer,
        tx.parse().unwrap_or(B256::ZERO),
        settled_at,
    ));
    out
}
