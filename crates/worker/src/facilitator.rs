//! The Worker as a facilitator: `POST /verify`, `POST /settle`, `GET /supported` (optionally
//! behind a bearer secret) with the same verification and settlement code as the paywall, and
//! `GET /discovery/resources` listing the priced routes.

use crate::durable::RELAYER_KEY;
use crate::respond::{json_response, reject};
use crate::settle::{self, Guard, Outcome};
use crate::{App, Ctx};
use serde_json::json;
use worker::{Env, Request, Response};
use x402_core::config::Settlement;
use x402_core::replay::{self, Decision, Entry};
use x402_core::signer::LocalSigner;
use x402_core::verify::{self, VerifiedPayment};
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::{SettleResponse, VerifyResponse};
use x402_core::{Error, Reason};

/// Secret that, when set, must be presented as `Authorization: Bearer <secret>`.
pub(crate) const ENDPOINT_TOKEN: &str = "X402_FACILITATOR_TOKEN";

fn relayer_address(env: &Env) -> Option<x402_core::Address> {
    let key = env.secret(RELAYER_KEY).ok()?.to_string();
    LocalSigner::from_hex(key.trim()).ok().map(|s| s.address())
}

fn authorized(req: &Request, env: &Env) -> bool {
    let Ok(token) = env.secret(ENDPOINT_TOKEN) else {
        return true;
    };
    let want = format!("Bearer {token}");
    let got = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    // Length-independent comparison of the whole value.
    want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Handles a facilitator or discovery endpoint; `None` if `ctx.path` is not one.
pub(crate) async fn handle(
    app: &App,
    ctx: &Ctx,
    mut req: Request,
    env: &Env,
) -> Result<Response, Request> {
    let origin = app.config.cors_allow_origin.as_str();
    let method = req.method().to_string();
    if app.config.discovery && ctx.path == "/discovery/resources" && method == "GET" {
        let q = |name: &str| {
            ctx.query.as_deref().and_then(|qs| {
                qs.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == name)
                    .and_then(|(_, v)| v.parse::<u32>().ok())
            })
        };
        let d = app.config.discovery(
            &ctx.origin,
            q("limit").unwrap_or(20),
            q("offset").unwrap_or(0),
            ctx.now,
        );
        return Ok(json_response(
            200,
            &serde_json::to_value(d).unwrap_or_default(),
            origin,
        ));
    }
    if !app.config.facilitator_endpoints {
        return Err(req);
    }
    let Some(endpoint) = ctx
        .path
        .strip_prefix(app.config.facilitator_prefix.as_str())
    else {
        return Err(req);
    };
    let endpoint = match (endpoint, method.as_str()) {
        ("/supported", "GET") | ("/verify", "POST") | ("/settle", "POST") => endpoint.to_string(),
        _ => return Err(req),
    };
    if !authorized(&req, env) {
        return Ok(reject(
            401,
            &Error::new(Reason::Unauthorized, "missing or wrong bearer token"),
            origin,
        ));
    }
    if endpoint == "/supported" {
        let s = app.config.supported(relayer_address(env));
        return Ok(json_response(
            200,
            &serde_json::to_value(s).unwrap_or_default(),
            origin,
        ));
    }
    let body = match req.bytes().await {
        Ok(b) if b.len() <= 64 * 1024 => b,
        _ => {
            let e = Error::new(
                Reason::InvalidPayload,
                "request body missing or over 64 KiB",
            );
            return Ok(reject(400, &e, origin));
        }
    };
    let request = match FacilitatorRequest::from_json(&body) {
        Ok(r) => r,
        Err(e) => return Ok(reject(400, &e, origin)),
    };
    let onchain_now = endpoint == "/verify";
    let (network, verified) = match check(app, ctx, &request, onchain_now).await {
        Ok(v) => v,
        Err((network, e)) => {
            if endpoint == "/verify" {
                return Ok(json_response(
                    200,
                    &json!(VerifyResponse::invalid(&e, None)),
                    origin,
                ));
            }
            let s = SettleResponse::failure(&e, String::new(), network, None);
            return Ok(json_response(200, &json!(s), origin));
        }
    };
    let payer = verified.payer.to_checksum(None);
    if endpoint == "/verify" {
        return Ok(json_response(
            200,
            &json!(VerifyResponse::valid(payer)),
            origin,
        ));
    }
    if !matches!(app.config.settlement, Settlement::SelfSettle { .. }) {
        let e = Error::new(Reason::UnexpectedSettleError, "this Worker settles through a facilitator itself; /settle is only served in settlement mode \"self\"");
        let s = SettleResponse::failure(&e, String::new(), network, Some(payer));
        return Ok(json_response(200, &json!(s), origin));
    }
    let guard = Guard {
        env,
        key: replay::key(
            verified.requirement.chain_id,
            verified.requirement.asset,
            verified.payer,
            verified.authorization.nonce,
        ),
    };
    let resource = "facilitator:/settle";
    let fail = |e: Error, tx: String| {
        Ok(json_response(
            200,
            &json!(SettleResponse::failure(
                &e,
                tx,
                network.clone(),
                Some(payer.clone())
            )),
            origin,
        ))
    };
    match guard.reserve(resource).await {
        Ok(Decision::Reserved) => {}
        Ok(Decision::AlreadySettled { transaction }) => {
            let s = SettleResponse::success(transaction, network.clone(), payer.clone());
            return Ok(json_response(200, &json!(s), origin));
        }
        Ok(Decision::Pending { transaction }) => {
            return fail(
                Error::new(Reason::SettlementPending, "settlement not confirmed yet"),
                transaction,
            )
        }
        Ok(_) => {
            return fail(
                Error::new(
                    Reason::DuplicateSettlement,
                    "authorization already used or in flight",
                ),
                String::new(),
            )
        }
        Err(e) => return fail(e, String::new()),
    }
    if let Err(e) = onchain(app, &verified).await {
        guard.release().await;
        return fail(e, String::new());
    }
    match settle::settle(env, &app.config.settlement, &verified, &request).await {
        Outcome::Settled(tx) => {
            guard
                .complete(Entry::Settled {
                    resource: resource.into(),
                    transaction: tx.clone(),
                })
                .await;
            Ok(json_response(
                200,
                &json!(SettleResponse::success(tx, network.clone(), payer.clone())),
                origin,
            ))
        }
        Outcome::Pending(tx, e) => {
            guard
                .complete(Entry::Pending {
                    resource: resource.into(),
                    transaction: tx.clone(),
                })
                .await;
            fail(e, tx)
        }
        Outcome::Failed(e) => {
            guard.release().await;
            fail(e, String::new())
        }
    }
}

/// Verifies a facilitator request: the requirement must be one this Worker supports, then the
/// same checks as the paywall (in the Worker, then on chain).
async fn check(
    app: &App,
    ctx: &Ctx,
    request: &FacilitatorRequest,
    with_onchain: bool,
) -> Result<(String, VerifiedPayment), (String, Error)> {
    let (network, verdict) = match request {
        FacilitatorRequest::V1 {
            payment_payload,
            payment_requirements,
        } => (
            payment_requirements.network.clone(),
            verify::verify_v1_with_contract_signers(
                payment_payload,
                std::slice::from_ref(payment_requirements),
                ctx.now,
            ),
        ),
        FacilitatorRequest::V2 {
            payment_payload,
            payment_requirements,
        } => (
            payment_requirements.network.to_string(),
            verify::verify_v2_with_contract_signers(
                payment_payload,
                std::slice::from_ref(payment_requirements),
                ctx.now,
            ),
        ),
    };
    let supported = app.config.supported(None);
    if !supported.kinds.iter().any(|k| k.network == network) {
        return Err((
            network.clone(),
            Error::new(
                Reason::InvalidNetwork,
                format!("network {network} is not supported here"),
            ),
        ));
    }
    let verdict = verdict.map_err(|e| (network.clone(), e))?;
    crate::gate::contract_signature(app, &verdict)
        .await
        .map_err(|e| (network.clone(), e))?;
    let verified = verdict.payment().clone();
    if with_onchain {
        onchain(app, &verified)
            .await
            .map_err(|e| (network.clone(), e))?;
    }
    Ok((network, verified))
}

/// The on-chain nonce and balance checks (where an RPC is configured).
async fn onchain(app: &App, verified: &VerifiedPayment) -> Result<(), Error> {
    match app.config.settlement.rpc_url() {
        Some(url) => crate::chain::check_payment(url, verified).await,
        None => Ok(()),
    }
}
