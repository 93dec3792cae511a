//! The Worker as a facilitator: `POST /verify`, `POST /settle`, `GET /supported` (off unless
//! `facilitatorEndpoints`; behind a bearer secret, required in settlement mode `self`) with the
//! same verification and settlement code as the paywall, and `GET /discovery/resources` listing
//! the priced routes.
//!
//! The endpoints judge only requirements this Worker itself issues (one of its routes' offers:
//! its payTo, asset, network, amount and `maxTimeoutSeconds`), so its relayer never pays gas for
//! anyone else's transfers, unless the operator configures `openFacilitator`. Either way an
//! amount of 0, a `maxTimeoutSeconds` over a day and an asset this Worker does not settle are
//! refused. `batch-settlement` requests (settlement mode `self` only) are served by `batch` below:
//! client payloads against the same offers, the channel manager's claim, settle and refund
//! payloads only for this Worker's receivers and receiver authorizer.

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
use x402_core::scheme::batch::SCHEME as BATCH_SCHEME;
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

/// Whether [`handle`] answers this request (discovery, or a facilitator endpoint): such a
/// path is never judged as a priced route.
pub(crate) fn claims(app: &App, ctx: &Ctx, method: &str) -> bool {
    if app.config.discovery && ctx.path == "/discovery/resources" && method == "GET" {
        return true;
    }
    app.config.facilitator_endpoints
        && matches!(
            (
                ctx.path
                    .strip_prefix(app.config.facilitator_prefix.as_str()),
                method
            ),
            (Some("/supported"), "GET") | (Some("/verify"), "POST") | (Some("/settle"), "POST")
        )
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
    if !claims(app, ctx, &method) {
        return Err(req);
    }
    // A facilitator endpoint (discovery was answered above).
    let endpoint = ctx.path[app.config.facilitator_prefix.len()..].to_string();
    if !authorized(&req, env) {
        return Ok(reject(
            401,
            &Error::new(Reason::Unauthorized, "missing or wrong bearer token"),
            origin,
        ));
    }
    if endpoint == "/supported" {
        let mut s = app.config.supported(relayer_address(env));
        if !matches!(app.config.settlement, Settlement::SelfSettle { .. }) {
            // batch-settlement is served here only in settlement mode "self" (see `batch`).
            s.kinds.retain(|k| k.scheme != BATCH_SCHEME);
        }
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
    if let FacilitatorRequest::V2 {
        payment_payload,
        payment_requirements,
    } = &request
    {
        if payment_requirements.scheme == BATCH_SCHEME {
            let verify = endpoint == "/verify";
            let answer = batch::answer(
                app,
                ctx,
                env,
                &request,
                payment_payload,
                payment_requirements,
                verify,
            )
            .await;
            return Ok(json_response(200, &answer, origin));
        }
    }
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
    // Payment identifiers are the resource server's business (its 402 declares them), not a
    // facilitator's: /settle judges the authorization alone.
    let snapshot = match guard.reserve(&verified, resource, ctx.now, None).await {
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

/// `batch-settlement` on `/verify` and `/settle` (x402
/// `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Verification",
/// "Settlement"), in settlement mode `self` only: the Worker is then the channels' facilitator,
/// with the same on-chain code as its paywall ([`crate::batch::onchain`]).
///
/// - Client payloads (`deposit`, `voucher`, `refund` on `/verify`; `deposit` on `/settle`) must
///   pay one of this Worker's own batch offers ([`judge_requirements`], as for `exact`; with
///   `openFacilitator`, any payTo and price in a token the batch offers use).
/// - Server-authored payloads on `/settle` (`claim`, `settle`, enriched `refund`; the reference
///   channel manager sends them with `amount: "0"`, `maxTimeoutSeconds: 0`, `extra: {}`, so they
///   are not route offers) are judged by what they touch: every channel's (and the settle's)
///   receiver and token must be a payTo and asset of this Worker's batch offers on that network
///   (with `openFacilitator`: the token only), and every channel's `receiverAuthorizer` must be
///   this Worker's key (`invalid_batch_settlement_evm_authorizer_address_mismatch`): the Worker
///   signs every claim and refund itself, so a `claimAuthorizerSignature` or
///   `refundAuthorizerSignature` sent along is not needed and not used.
///
/// In settlement mode `facilitator` the scheme is refused (`unsupported_scheme`) and left out of
/// `/supported`: this Worker then has no relayer of its own to settle with.
mod batch {
    use super::{judge_requirements, BATCH_SCHEME};
    use crate::batch::onchain::{self, TxFail};
    use crate::{App, Ctx};
    use serde_json::{json, Value};
    use worker::Env;
    use x402_core::encoding::decimal_u256;
    use x402_core::evm::network::Network;
    use x402_core::evm::signer::LocalSigner;
    use x402_core::gate::config::{Config, Settlement};
    use x402_core::scheme::batch::digest::channel_id;
    use x402_core::scheme::batch::onchain as calls;
    use x402_core::scheme::batch::response::{BatchSettleResponse, SuccessExtra};
    use x402_core::scheme::batch::rules::Use;
    use x402_core::scheme::batch::types::BATCH_SETTLEMENT;
    use x402_core::scheme::batch::wire::{
        BatchPayload, BatchRequirement, ChannelConfigJson, RefundPayload, VoucherClaimJson,
    };
    use x402_core::wire::facilitator::FacilitatorRequest;
    use x402_core::wire::{v2, SettleResponse, VerifyResponse};
    use x402_core::{Address, Error, Reason, U256};

    /// A refusal or a failed settlement: the error, the transaction (a pending one's hash, else
    /// `""`) and the payer when known.
    struct Failure {
        error: Error,
        transaction: String,
        payer: Option<String>,
    }

    impl Failure {
        fn new(error: Error, payer: &Option<String>) -> Self {
            Self {
                error,
                transaction: String::new(),
                payer: payer.clone(),
            }
        }

        fn tx(fail: TxFail, payer: &Option<String>) -> Self {
            match fail {
                TxFail::Pending { transaction, error } => Self {
                    error,
                    transaction,
                    payer: payer.clone(),
                },
                TxFail::Failed(error) => Self::new(error, payer),
            }
        }
    }

    /// The answer (HTTP 200) to a `/verify` or `/settle` of a `batch-settlement` requirement.
    pub(super) async fn answer(
        app: &App,
        ctx: &Ctx,
        env: &Env,
        request: &FacilitatorRequest,
        payment: &v2::PaymentPayload,
        requirements: &v2::PaymentRequirements,
        verify: bool,
    ) -> Value {
        match judge_and_run(app, ctx, env, request, payment, requirements, verify).await {
            Ok(v) => v,
            Err(f) if verify => json!(VerifyResponse::invalid(&f.error, f.payer)),
            Err(f) => json!(SettleResponse::failure(
                &f.error,
                f.transaction,
                requirements.network.to_string(),
                f.payer
            )),
        }
    }

    fn kind_error(reason: Reason, msg: &str) -> Error {
        Error::new(reason, msg.to_string())
    }

    async fn judge_and_run(
        app: &App,
        ctx: &Ctx,
        env: &Env,
        request: &FacilitatorRequest,
        payment: &v2::PaymentPayload,
        requirements: &v2::PaymentRequirements,
        verify: bool,
    ) -> Result<Value, Failure> {
        let none = None;
        if !matches!(app.config.settlement, Settlement::SelfSettle { .. }) {
            return Err(Failure::new(
                kind_error(Reason::UnsupportedScheme, "batch-settlement is served by these endpoints only in settlement mode \"self\"; this Worker settles through a facilitator: send batch-settlement requests to that facilitator"),
                &none,
            ));
        }
        let Some(signer) = app.receiver_authorizer.as_ref() else {
            return Err(Failure::new(
                kind_error(
                    Reason::UnsupportedScheme,
                    "batch-settlement is not configured on this Worker",
                ),
                &none,
            ));
        };
        let payload =
            BatchPayload::from_json(&payment.payload).map_err(|e| Failure::new(e, &none))?;
        let payer = payload.channel().map(|(c, _)| c.payer.to_checksum(None));
        let enriched = |r: &RefundPayload| {
            r.amount.is_some() && r.refund_nonce.is_some() && r.claims.is_some()
        };
        match (&payload, verify) {
            (BatchPayload::Deposit(_) | BatchPayload::Voucher(_) | BatchPayload::Refund(_), true)
            | (BatchPayload::Deposit(_), false) => {
                client_payload(app, ctx, env, request, payment, requirements, &payload, verify, &payer)
                    .await
            }
            (BatchPayload::Refund(r), false) if enriched(r) => {
                refund(app, env, requirements, r, signer, &payer).await
            }
            (BatchPayload::Claim(c), false) => claim(app, env, requirements, &c.claims, signer).await,
            (BatchPayload::Settle(s), false) => {
                settle(app, env, requirements, s.receiver, s.token).await
            }
            (BatchPayload::Voucher(_), false) => Err(Failure::new(
                kind_error(Reason::InvalidBatchSettlementEvmPayloadType, "a voucher is not settled on its own: the receiver's server charges it and later sends a claim payload"),
                &payer,
            )),
            (BatchPayload::Refund(_), false) => Err(Failure::new(
                kind_error(Reason::InvalidBatchSettlementEvmRefundPayload, "a refund to settle is enriched by the receiver's server (amount, refundNonce, claims)"),
                &payer,
            )),
            (BatchPayload::Claim(_) | BatchPayload::Settle(_), true) => Err(Failure::new(
                kind_error(Reason::InvalidBatchSettlementEvmPayloadType, "claim and settle payloads are only settled (POST /settle), not verified"),
                &none,
            )),
        }
    }

    /// A client's deposit, voucher or refund against one of this Worker's offers: `/verify`
    /// answers the channel's state (before the deposit, for a deposit); `/settle` of a deposit
    /// verifies it again, then sends it.
    #[allow(clippy::too_many_arguments)]
    async fn client_payload(
        app: &App,
        ctx: &Ctx,
        env: &Env,
        request: &FacilitatorRequest,
        payment: &v2::PaymentPayload,
        requirements: &v2::PaymentRequirements,
        payload: &BatchPayload,
        verify: bool,
        payer: &Option<String>,
    ) -> Result<Value, Failure> {
        let fail = |e: Error| Failure::new(e, payer);
        judge_requirements(&app.config, request).map_err(fail)?;
        let offer = BatchRequirement::from_v2(requirements).map_err(fail)?;
        let settlement = &app.config.settlement;
        let state = match payload {
            BatchPayload::Deposit(d) => {
                onchain::verify_deposit(env, settlement, &offer, payment, d, ctx.now).await
            }
            BatchPayload::Voucher(v) => {
                onchain::verify_channel(
                    env,
                    settlement,
                    &offer,
                    payment,
                    &v.channel_config,
                    &v.voucher,
                    Use::Voucher,
                    ctx.now,
                )
                .await
            }
            BatchPayload::Refund(r) => {
                onchain::verify_channel(
                    env,
                    settlement,
                    &offer,
                    payment,
                    &r.channel_config,
                    &r.voucher,
                    Use::Refund,
                    ctx.now,
                )
                .await
            }
            BatchPayload::Claim(_) | BatchPayload::Settle(_) => Err(Error::new(
                Reason::InvalidBatchSettlementEvmPayloadType,
                "not a client payload",
            )),
        }
        .map_err(fail)?;
        if verify {
            return Ok(json!({"isValid": true, "payer": payer, "extra": state.to_json()}));
        }
        let BatchPayload::Deposit(d) = payload else {
            return Err(fail(Error::new(
                Reason::InvalidBatchSettlementEvmPayloadType,
                "only a deposit is settled from a client payload",
            )));
        };
        let (transaction, post) = onchain::settle_deposit(env, settlement, &offer, payment, d)
            .await
            .map_err(|f| Failure::tx(f, payer))?;
        Ok(json!(BatchSettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: payer.clone(),
            transaction,
            network: offer.network.to_string(),
            amount: Some(decimal_u256::format(&d.deposit.amount)),
            extra: Some(SuccessExtra {
                channel_state: post,
                charged_amount: None,
            }),
            extensions: None,
        }))
    }

    /// The chain a server-authored requirement names.
    fn chain_of(requirements: &v2::PaymentRequirements) -> Result<u64, Error> {
        requirements.network.chain_id().ok_or_else(|| {
            Error::new(
                Reason::InvalidNetwork,
                format!("{} is not an EVM network", requirements.network),
            )
        })
    }

    /// Whether `receiver` and `token` on `network` are a payTo and asset of this Worker's
    /// batch-settlement offers (with `openFacilitator`, whether `token` is one of their assets
    /// there): the only channels and receivers server-authored payloads may touch.
    fn served(
        config: &Config,
        network: &Network,
        receiver: Address,
        token: Address,
    ) -> Result<(), Error> {
        let offers: Vec<(Address, Address)> = config
            .routes
            .iter()
            .flat_map(|r| r.requirements_v2())
            .filter(|o| o.scheme == BATCH_SCHEME && &o.network == network)
            .filter_map(|o| Some((o.asset.parse().ok()?, o.pay_to.parse().ok()?)))
            .collect();
        let refused = |m: String| Error::new(Reason::InvalidPaymentRequirements, m);
        if !offers.iter().any(|(t, _)| *t == token) {
            return Err(refused(format!(
                "token {token} on {network} is not one this Worker's batch-settlement offers use"
            )));
        }
        if config.open_facilitator || offers.iter().any(|(t, r)| *t == token && *r == receiver) {
            return Ok(());
        }
        Err(refused(format!(
            "receiver {receiver} is not this Worker's payTo for {token} on {network}; this facilitator only settles its own receivers' channels"
        )))
    }

    /// A channel a server-authored payload touches: its receiver and token served, its
    /// receiver authorizer this Worker's key.
    fn own_channel(
        config: &Config,
        network: &Network,
        channel: &ChannelConfigJson,
        me: Address,
    ) -> Result<(), Error> {
        served(config, network, channel.receiver, channel.token)?;
        if channel.receiver_authorizer != me {
            return Err(Error::new(
                Reason::InvalidBatchSettlementEvmAuthorizerAddressMismatch,
                format!(
                    "the channel's receiverAuthorizer {} is not this Worker's authorizer {me}",
                    channel.receiver_authorizer
                ),
            ));
        }
        Ok(())
    }

    /// The requirement of a server-authored payload names a served receiver and token, and
    /// every claim row is one of this Worker's channels.
    fn judge_server(
        config: &Config,
        requirements: &v2::PaymentRequirements,
        rows: &[VoucherClaimJson],
        me: Address,
    ) -> Result<u64, Error> {
        let chain_id = chain_of(requirements)?;
        let bad = |f: &str| {
            Error::new(
                Reason::InvalidPaymentRequirements,
                format!("paymentRequirements {f} is not an address"),
            )
        };
        let receiver: Address = requirements.pay_to.parse().map_err(|_| bad("payTo"))?;
        let token: Address = requirements.asset.parse().map_err(|_| bad("asset"))?;
        served(config, &requirements.network, receiver, token)?;
        for row in rows {
            own_channel(config, &requirements.network, &row.voucher.channel, me)?;
        }
        Ok(chain_id)
    }

    /// `claim`: `claimWithSignature` of the rows, the batch signed with this Worker's key.
    async fn claim(
        app: &App,
        env: &Env,
        requirements: &v2::PaymentRequirements,
        rows: &[VoucherClaimJson],
        signer: &LocalSigner,
    ) -> Result<Value, Failure> {
        let none = None;
        let chain_id = judge_server(&app.config, requirements, rows, signer.address())
            .map_err(|e| Failure::new(e, &none))?;
        let transaction = onchain::claim(env, &app.config.settlement, chain_id, rows, signer)
            .await
            .map_err(|f| Failure::tx(f, &none))?;
        Ok(
            json!({"success": true, "transaction": transaction, "network": requirements.network.to_string()}),
        )
    }

    /// `settle`: pays the receiver what it claimed and was not paid (`amount`, read from
    /// `receivers` just before); `nothing_to_settle` without a transaction when that is 0.
    async fn settle(
        app: &App,
        env: &Env,
        requirements: &v2::PaymentRequirements,
        receiver: Address,
        token: Address,
    ) -> Result<Value, Failure> {
        let none = None;
        let fail = |e: Error| Failure::new(e, &none);
        let chain_id = chain_of(requirements).map_err(fail)?;
        served(&app.config, &requirements.network, receiver, token).map_err(fail)?;
        let url = app.config.settlement.rpc_url().unwrap_or_default();
        let read = crate::chain::rpc(
            url,
            "eth_call",
            json!([{"to": BATCH_SETTLEMENT.to_string(), "data": calls::receivers_calldata(receiver, token).to_string()}, "latest"]),
        )
        .await
        .map_err(|e| {
            fail(Error::new(
                Reason::InvalidBatchSettlementEvmRpcReadFailed,
                format!("receivers({receiver}, {token}): {}", e.message()),
            ))
        })?;
        let ret: Vec<u8> = read
            .as_str()
            .and_then(|s| s.parse::<x402_core::Bytes>().ok())
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let (claimed, settled) = calls::decode_receivers(&ret).map_err(fail)?;
        let amount = U256::from(claimed.saturating_sub(settled));
        let nothing = || {
            fail(Error::new(
                Reason::InvalidBatchSettlementEvmNothingToSettle,
                format!("{receiver} has nothing claimed and unsettled in {token}"),
            ))
        };
        if amount.is_zero() {
            return Err(nothing());
        }
        match onchain::settle_receiver(env, &app.config.settlement, chain_id, receiver, token).await
        {
            Ok(Some(transaction)) => Ok(json!(BatchSettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: None,
                transaction,
                network: requirements.network.to_string(),
                amount: Some(decimal_u256::format(&amount)),
                extra: None,
                extensions: None,
            })),
            Ok(None) => Err(nothing()),
            Err(f) => Err(Failure::tx(f, &none)),
        }
    }

    /// An enriched refund: `multicall(claimWithSignature, refundWithSignature)` (or the refund
    /// alone), both signed with this Worker's key; `amount` is what left the channel (its
    /// balance before less after).
    async fn refund(
        app: &App,
        env: &Env,
        requirements: &v2::PaymentRequirements,
        r: &RefundPayload,
        signer: &LocalSigner,
        payer: &Option<String>,
    ) -> Result<Value, Failure> {
        let fail = |e: Error| Failure::new(e, payer);
        let me = signer.address();
        let rows = r.claims.as_deref().unwrap_or_default();
        let chain_id = judge_server(&app.config, requirements, rows, me).map_err(fail)?;
        let config = &r.channel_config;
        own_channel(&app.config, &requirements.network, config, me).map_err(fail)?;
        let id = channel_id(&config.to_sol(), chain_id);
        if id != r.voucher.channel_id {
            return Err(fail(Error::new(
                Reason::InvalidBatchSettlementEvmChannelIdMismatch,
                "channelConfig does not hash to voucher.channelId",
            )));
        }
        let url = app.config.settlement.rpc_url().unwrap_or_default();
        let (pre, _) = onchain::read_channel(url, chain_id, id, None)
            .await
            .map_err(fail)?;
        let (transaction, post) =
            onchain::refund(env, &app.config.settlement, chain_id, r, config, signer)
                .await
                .map_err(|f| Failure::tx(f, payer))?;
        let amount = pre.balance.saturating_sub(post.balance);
        Ok(json!(BatchSettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: payer.clone(),
            transaction,
            network: requirements.network.to_string(),
            amount: Some(decimal_u256::format(&amount)),
            extra: Some(SuccessExtra {
                channel_state: post,
                charged_amount: None,
            }),
            extensions: None,
        }))
    }
}
