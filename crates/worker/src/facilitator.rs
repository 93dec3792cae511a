//! The Worker as a facilitator: `POST /verify`, `POST /settle`, `GET /supported` (off unless
//! `facilitatorEndpoints`; behind a bearer secret, required in settlement mode `self`) with the
//! same verification and settlement code as the paywall, and `GET /discovery/resources` listing
//! the priced routes.
//!
//! The endpoints judge only requirements this Worker itself issues (one of its routes' offers:
//! its payTo, asset, network, amount and `maxTimeoutSeconds`), so its relayer never pays gas for
//! anyone else's transfers, unless the operator configures `openFacilitator`. Either way an
//! amount of 0, a `maxTimeoutSeconds` over a day and an asset this Worker does not settle are
//! refused.

use crate::body::{self, BodyError};
use crate::durable::RELAYER_KEY;
use crate::respond::{json_response, reject};
use crate::settle::{self, Guard, Outcome};
use crate::{App, Ctx};
use serde_json::json;
use worker::{Env, Request, Response};
use x402_core::evm::signer::LocalSigner;
use x402_core::gate::config::{Config, Settlement};
use x402_core::gate::replay::{Decision, Outcome as GuardOutcome};
use x402_core::scheme::exact::verify::{self, VerifiedPayment};
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::{v1, v2, SettleResponse, VerifyResponse};
use x402_core::{Error, Reason, U256};

/// Secret that, when set, must be presented as `Authorization: Bearer <secret>`; required when
/// the endpoints are on in settlement mode `self`.
pub(crate) const ENDPOINT_TOKEN: &str = "X402_FACILITATOR_TOKEN";
/// The shortest endpoint token accepted.
const MIN_TOKEN_LEN: usize = 16;
/// The longest `maxTimeoutSeconds` the endpoints accept, even as an open facilitator (a day).
pub(crate) const MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// The start-up check of the endpoint token: with the endpoints on in settlement mode `self`
/// (where `/settle` spends the relayer's gas) the token is required, and when set it must not
/// be trivially short. An error here makes every request answer `500 invalid_config`.
pub(crate) fn check_token(config: &Config, token: Option<&str>) -> Result<(), Error> {
    if !config.facilitator_endpoints {
        return Ok(());
    }
    match token.map(str::trim) {
        None if matches!(config.settlement, Settlement::SelfSettle { .. }) => Err(Error::new(
            Reason::InvalidConfig,
            format!("{ENDPOINT_TOKEN}: secret required when facilitatorEndpoints is on in settlement mode \"self\" (POST /settle spends the relayer's gas)"),
        )),
        Some(t) if t.len() < MIN_TOKEN_LEN => Err(Error::new(
            Reason::InvalidConfig,
            format!("{ENDPOINT_TOKEN}: must be at least {MIN_TOKEN_LEN} bytes"),
        )),
        _ => Ok(()),
    }
}

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
    // Refused on Content-Length before reading, and read with a cap (chunked bodies too).
    let body = match body::read_request(&mut req, body::REQUEST_LIMIT).await {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => {
            let e = Error::new(Reason::InvalidPayload, "request body missing");
            return Ok(reject(400, &e, origin));
        }
        Err(BodyError::TooLarge) => {
            let e = Error::new(
                Reason::InvalidPayload,
                format!(
                    "request body over the {} KiB limit",
                    body::REQUEST_LIMIT / 1024
                ),
            );
            return Ok(reject(413, &e, origin));
        }
        Err(BodyError::Failed(why)) => {
            let e = Error::new(
                Reason::InvalidPayload,
                format!("request body unreadable: {why}"),
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
    let guard = Guard::of(env, &verified);
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
    let snapshot = match guard.reserve(&verified, resource, ctx.now).await {
        Ok(Decision::Reserved { snapshot }) => snapshot,
        Ok(Decision::Serve {
            transaction: Some(transaction),
            ..
        }) => {
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
    };
    let balance = match onchain(app, &verified).await {
        Ok(b) => b,
        Err(e) => {
            guard.release().await;
            return fail(e, String::new());
        }
    };
    if let Err(e) = guard
        .admit(balance, snapshot, false, verified.authorization.value)
        .await
    {
        return fail(e, String::new());
    }
    match settle::settle(env, &app.config.settlement, &verified, &request).await {
        Outcome::Settled(tx) => {
            guard
                .complete(GuardOutcome::Settled {
                    transaction: tx.clone(),
                    at: ctx.now,
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
                .complete(GuardOutcome::Pending {
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

/// Verifies a facilitator request: the requirement must be one this Worker issues (or, as an
/// open facilitator, one it can settle: see [`judge_requirements`]), then the same checks as the
/// paywall (in the Worker, then on chain).
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
    judge_requirements(&app.config, request).map_err(|e| (network.clone(), e))?;
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

/// The on-chain nonce and balance checks (where an RPC is configured); the balance read.
async fn onchain(app: &App, verified: &VerifiedPayment) -> Result<Option<x402_core::U256>, Error> {
    match app.config.settlement.rpc_url() {
        Some(url) => crate::chain::check_payment(url, verified).await.map(Some),
        None => Ok(None),
    }
}

/// The terms of a requirement that make it one of this Worker's offers.
struct Terms {
    scheme: String,
    network: String,
    asset: String,
    pay_to: String,
    amount: U256,
    max_timeout_seconds: u64,
    /// `extra.name` and `extra.version` (the token's EIP-712 domain), where given.
    domain: [Option<serde_json::Value>; 2],
}

impl Terms {
    fn domain(extra: Option<&x402_core::wire::JsonMap>) -> [Option<serde_json::Value>; 2] {
        ["name", "version"].map(|k| extra.and_then(|e| e.get(k)).cloned())
    }

    fn v2(r: &v2::PaymentRequirements) -> Self {
        Self {
            scheme: r.scheme.clone(),
            network: r.network.to_string(),
            asset: r.asset.to_ascii_lowercase(),
            pay_to: r.pay_to.to_ascii_lowercase(),
            amount: r.amount,
            max_timeout_seconds: r.max_timeout_seconds,
            domain: Self::domain(r.extra.as_ref()),
        }
    }

    fn v1(r: &v1::PaymentRequirements) -> Self {
        Self {
            scheme: r.scheme.clone(),
            network: r.network.clone(),
            asset: r.asset.to_ascii_lowercase(),
            pay_to: r.pay_to.to_ascii_lowercase(),
            amount: r.max_amount_required,
            max_timeout_seconds: r.max_timeout_seconds,
            domain: Self::domain(r.extra.as_ref()),
        }
    }

    /// Whether `self` (a caller's) names the token of `ours`: same scheme, network, asset and,
    /// where given, EIP-712 name and version.
    fn same_token(&self, ours: &Terms) -> bool {
        self.scheme == ours.scheme
            && self.network == ours.network
            && self.asset == ours.asset
            && self
                .domain
                .iter()
                .zip(&ours.domain)
                .all(|(t, o)| t.is_none() || t == o)
    }
}

fn refused(msg: String) -> Error {
    Error::new(Reason::InvalidPaymentRequirements, msg)
}

/// Whether the endpoints may judge these requirements at all: an amount above 0 and a
/// `maxTimeoutSeconds` of at most a day always; then one of this Worker's own offers exactly
/// ([`Config::own_offer_v2`] / [`Config::own_offer_v1`]), or, with `openFacilitator`, any payTo
/// and amount in a token this Worker's routes use (so the relayer only ever calls those
/// contracts). Refusals are `invalid_payment_requirements`, naming the first term that differs.
fn judge_requirements(config: &Config, request: &FacilitatorRequest) -> Result<(), Error> {
    let (terms, own, offers): (Terms, bool, Vec<Terms>) = match request {
        FacilitatorRequest::V1 {
            payment_requirements: r,
            ..
        } => (
            Terms::v1(r),
            config.own_offer_v1(r).is_some(),
            config
                .routes
                .iter()
                .flat_map(|route| route.requirements_v1(&r.resource))
                .map(|o| Terms::v1(&o))
                .collect(),
        ),
        FacilitatorRequest::V2 {
            payment_requirements: r,
            ..
        } => (
            Terms::v2(r),
            config.own_offer_v2(r).is_some(),
            config
                .routes
                .iter()
                .flat_map(|route| route.requirements_v2())
                .map(|o| Terms::v2(&o))
                .collect(),
        ),
    };
    if terms.amount.is_zero() {
        return Err(refused(
            "paymentRequirements amount is 0: a payment must move more than nothing".into(),
        ));
    }
    if terms.max_timeout_seconds > MAX_TIMEOUT_SECONDS {
        return Err(refused(format!(
            "paymentRequirements maxTimeoutSeconds {} is over {MAX_TIMEOUT_SECONDS}",
            terms.max_timeout_seconds
        )));
    }
    if own {
        return Ok(());
    }
    let same_token: Vec<&Terms> = offers.iter().filter(|o| terms.same_token(o)).collect();
    if same_token.is_empty() {
        let what = if !offers.iter().any(|o| o.network == terms.network) {
            format!("network {}", terms.network)
        } else if !offers
            .iter()
            .any(|o| o.network == terms.network && o.asset == terms.asset)
        {
            format!("asset {} on {}", terms.asset, terms.network)
        } else {
            format!(
                "scheme {:?} or the EIP-712 domain in extra for asset {}",
                terms.scheme, terms.asset
            )
        };
        return Err(refused(format!("{what} is not one this Worker settles")));
    }
    if config.open_facilitator {
        return Ok(());
    }
    let differs = if !same_token.iter().any(|o| o.pay_to == terms.pay_to) {
        format!("payTo {} is not this Worker's", terms.pay_to)
    } else if !same_token
        .iter()
        .any(|o| o.pay_to == terms.pay_to && o.amount == terms.amount)
    {
        format!(
            "amount {} is not the price of any of this Worker's routes",
            terms.amount
        )
    } else {
        format!(
            "maxTimeoutSeconds {} is not this Worker's",
            terms.max_timeout_seconds
        )
    };
    Err(refused(format!(
        "paymentRequirements are not an offer of this Worker ({differs}); this facilitator only judges its own routes' offers"
    )))
}
