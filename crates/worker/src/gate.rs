//! The paywall flow for a priced route: pass → payment header → verification in the Worker →
//! replay reservation → on-chain checks → content → settlement (before the response, or in
//! the background) → content with the receipt and a pass.

use crate::respond::{self, Challenge, PASS_COOKIE, PASS_HEADER};
use crate::settle::{self, Guard, Outcome};
use crate::{content, App, Ctx};
use worker::{Context, Env, Request, Response};
use x402_core::config::{Route, SettlementOrder};
use x402_core::header::{self, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, X_PAYMENT, X_PAYMENT_RESPONSE};
use x402_core::pass::{self, PassClaims};
use x402_core::replay::{self, Decision, Entry};
use x402_core::verify::{self, Verdict, VerifiedPayment};
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::{AnyPaymentPayload, SettleResponse};
use x402_core::{Error, Reason, B256};

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
        })
    };

    // 1. An access pass for this path serves it without payment.
    let mut pass_error = None;
    if let Some(secret) = &app.pass_secret {
        for candidate in presented_passes(&req) {
            match pass::verify(secret, &candidate, &ctx.path, ctx.now) {
                Ok(_) => return content::fetch(app, route, &req, env, ctx, &[]).await,
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

    // 3. One authorization, honoured once.
    let guard = Guard {
        env,
        key: replay::key(
            verified.requirement.chain_id,
            verified.requirement.asset,
            verified.payer,
            verified.authorization.nonce,
        ),
    };
    let decision = match guard.reserve(&ctx.path).await {
        Ok(d) => d,
        Err(e) => return respond::reject(503, &e, origin),
    };
    // `Some(transaction)`: this authorization is already settled for this resource.
    let settled = match decision {
        Decision::Reserved => None,
        // A retry after a lost response: the content again, no second charge.
        Decision::AlreadySettled { transaction } => Some(transaction),
        Decision::InFlight => {
            let e = Error::new(
                Reason::DuplicateSettlement,
                "this authorization is being settled by another request",
            );
            return challenge(Some(&e), Some(&failure(&e, String::new())));
        }
        Decision::UsedElsewhere => {
            let e = Error::new(
                Reason::InvalidExactEvmNonceAlreadyUsed,
                "this authorization already paid for another resource",
            );
            return challenge(Some(&e), Some(&failure(&e, String::new())));
        }
        Decision::Pending { transaction } => {
            if settle::pending_settled(&app.config.settlement, &transaction).await == Some(true) {
                guard
                    .complete(Entry::Settled {
                        resource: ctx.path.clone(),
                        transaction: transaction.clone(),
                    })
                    .await;
                Some(transaction)
            } else {
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
        }
    };
    if let Some(transaction) = settled {
        return deliver(
            app,
            ctx,
            route,
            &req,
            env,
            &verified,
            &transaction,
            &network_label,
            v1_client,
        )
        .await;
    }

    // 4. Nonce and balance on chain.
    let onchain = async {
        match app.config.settlement.rpc_url() {
            Some(url) => crate::chain::check_payment(url, &verified).await,
            None => Ok(()),
        }
    };
    if let Err(e) = onchain.await {
        guard.release().await;
        if e.reason() == Reason::UnexpectedVerifyError {
            return respond::reject(503, &e, origin);
        }
        return challenge(Some(&e), None);
    }

    // 5. Content, then settlement.
    let res = content::fetch(app, route, &req, env, ctx, &[]).await;
    if res.status_code() >= 400 {
        // The origin failed: nothing is charged, its answer goes out as is.
        guard.release().await;
        return res;
    }
    if route.order == SettlementOrder::Background {
        let env2 = env.clone();
        let settlement = app.config.settlement.clone();
        let key = guard.key.clone();
        let path = ctx.path.clone();
        wctx.wait_until(async move {
            let g = Guard { env: &env2, key };
            let outcome = settle::settle(&env2, &settlement, &verified, &facilitator_request).await;
            record(&g, outcome, &path).await;
        });
        return respond::with_headers(
            res,
            &[("X-PAYMENT-SETTLEMENT", "background".into())],
            origin,
        );
    }
    match settle::settle(env, &app.config.settlement, &verified, &facilitator_request).await {
        Outcome::Settled(tx) => {
            guard
                .complete(Entry::Settled {
                    resource: ctx.path.clone(),
                    transaction: tx.clone(),
                })
                .await;
            let extra = receipt_headers(app, ctx, route, &verified, &tx, &network_label, v1_client);
            respond::with_headers(res, &extra, origin)
        }
        Outcome::Pending(tx, e) => {
            guard
                .complete(Entry::Pending {
                    resource: ctx.path.clone(),
                    transaction: tx.clone(),
                })
                .await;
            challenge(Some(&e), Some(&failure(&e, tx)))
        }
        Outcome::Failed(e) => {
            guard.release().await;
            challenge(Some(&e), Some(&failure(&e, String::new())))
        }
    }
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

async fn record(guard: &Guard<'_>, outcome: Outcome, path: &str) {
    match outcome {
        Outcome::Settled(transaction) => {
            guard
                .complete(Entry::Settled {
                    resource: path.into(),
                    transaction,
                })
                .await
        }
        Outcome::Pending(transaction, _) => {
            guard
                .complete(Entry::Pending {
                    resource: path.into(),
                    transaction,
                })
                .await
        }
        Outcome::Failed(e) => {
            worker::console_error!("background settlement failed: {e}");
            guard.release().await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    req: &Request,
    env: &Env,
    verified: &VerifiedPayment,
    tx: &str,
    network: &str,
    v1_client: bool,
) -> Response {
    let res = content::fetch(app, route, req, env, ctx, &[]).await;
    if res.status_code() >= 400 {
        return res;
    }
    let extra = receipt_headers(app, ctx, route, verified, tx, network, v1_client);
    respond::with_headers(res, &extra, &app.config.cors_allow_origin)
}

/// `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`) and, when passes are on, the pass as a header
/// and as a cookie scoped to the resource path.
fn receipt_headers(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    verified: &VerifiedPayment,
    tx: &str,
    network: &str,
    v1_client: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let receipt =
        SettleResponse::success(tx.into(), network.into(), verified.payer.to_checksum(None));
    if let Ok(v) = header::encode(&receipt) {
        out.push((
            if v1_client {
                X_PAYMENT_RESPONSE
            } else {
                PAYMENT_RESPONSE
            },
            v,
        ));
    }
    if let (Some(secret), true) = (&app.pass_secret, route.pass_lifetime_seconds > 0) {
        let claims = PassClaims {
            path: ctx.path.clone(),
            payer: verified.payer,
            transaction: tx.parse().unwrap_or(B256::ZERO),
            expires: ctx.now + route.pass_lifetime_seconds,
        };
        if let Ok(p) = pass::issue(secret, &claims) {
            out.push((
                "Set-Cookie",
                format!(
                    "{PASS_COOKIE}={p}; Path={}; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
                    x402_core::path::encode(&ctx.path),
                    route.pass_lifetime_seconds
                ),
            ));
            out.push((PASS_HEADER, p));
        }
    }
    out
}

/// Passes presented in the `X-PAYMENT-PASS` header and in `x402_pass` cookies.
fn presented_passes(req: &Request) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(h)) = req.headers().get(PASS_HEADER) {
        out.push(h.trim().to_string());
    }
    if let Ok(Some(cookies)) = req.headers().get("Cookie") {
        for c in cookies.split(';') {
            if let Some((k, v)) = c.trim().split_once('=') {
                if k == PASS_COOKIE {
                    out.push(v.to_string());
                }
            }
        }
    }
    out.truncate(8);
    out
}
