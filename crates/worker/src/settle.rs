//! Settlement: the replay guard's operations, self-settlement through the relayer Durable
//! Object, and settlement through a remote facilitator.

use crate::chain::{self, Receipt};
use crate::durable::{GuardOp, SendResult, SendTx};
use futures_util::future::Either;
use serde_json::Value;
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};
use x402_core::gate::config::Settlement;
use x402_core::gate::replay::{Decision, Outcome as GuardOutcome, Refusal, Reservation, Snapshot};
use x402_core::scheme::exact::settle::settle_calldata;
use x402_core::scheme::exact::verify::VerifiedPayment;
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::SettleResponse;
use x402_core::{Error, Reason, B256, U256};

/// Durable Object bindings (see `wrangler.toml`).
pub(crate) const GUARD_BINDING: &str = "X402_REPLAY_GUARD";
pub(crate) const RELAYER_BINDING: &str = "X402_RELAYER";
/// Secret with the facilitator auth header value.
pub(crate) const FACILITATOR_AUTH: &str = "X402_FACILITATOR_AUTH";

pub(crate) async fn durable_call<T: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    body: &impl serde::Serialize,
) -> Result<T, Error> {
    let fail = |e: worker::Error| {
        Error::new(
            Reason::UnexpectedSettleError,
            format!("Durable Object {binding}: {e}"),
        )
    };
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.get_by_name(name))
        .map_err(fail)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(body).unwrap_or_default().into()));
    let req = Request::new_with_init("https://durable/", &init).map_err(fail)?;
    let res = stub.fetch_with_request(req).await.map_err(fail)?;
    // serde_json on the text, not the engine's JSON.parse: 64-bit integers stay exact.
    let text = crate::body::whole(res)
        .await
        .map_err(|e| fail(worker::Error::RustError(e)))?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::new(
            Reason::UnexpectedSettleError,
            format!("Durable Object {binding}: unreadable answer: {e}"),
        )
    })
}

/// The answer to [`Guard::admit`].
#[derive(serde::Deserialize)]
struct Admission {
    admitted: bool,
    #[serde(default)]
    refusal: Option<Refusal>,
}

/// One authorization, seen from a request: its payer's replay guard (a Durable Object per
/// payer and token) and its nonce there.
pub(crate) struct Guard<'a> {
    pub(crate) env: &'a Env,
    /// [`x402_core::gate::replay::payer_key`]: names the payer's guard object.
    pub(crate) payer: String,
    /// [`x402_core::gate::replay::nonce_key`].
    pub(crate) nonce: String,
}

impl<'a> Guard<'a> {
    /// The guard of a verified payment's authorization.
    pub(crate) fn of(env: &'a Env, p: &VerifiedPayment) -> Self {
        Guard {
            env,
            payer: x402_core::gate::replay::payer_key(
                p.requirement.chain_id,
                p.requirement.asset,
                p.payer,
            ),
            nonce: x402_core::gate::replay::nonce_key(p.authorization.nonce),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, op: &GuardOp) -> Result<T, Error> {
        durable_call(self.env, GUARD_BINDING, &self.payer, op).await
    }

    /// Reserves the authorization of `p` for `resource` (path and query) at `now`.
    pub(crate) async fn reserve(
        &self,
        p: &VerifiedPayment,
        resource: &str,
        now: u64,
    ) -> Result<Decision, Error> {
        let valid_before = u64::try_from(p.authorization.valid_before).unwrap_or(u64::MAX);
        self.call(&GuardOp::Reserve(Reservation {
            nonce: self.nonce.clone(),
            resource: resource.into(),
            amount: p.authorization.value,
            valid_before,
            now,
        }))
        .await
    }

    /// Admits the reservation against the payer's `balance` (read after the reservation);
    /// `served`: content goes out before settlement. A refusal is the error to answer with
    /// (the reservation is already gone).
    pub(crate) async fn admit(
        &self,
        balance: Option<U256>,
        snapshot: Snapshot,
        served: bool,
        price: U256,
    ) -> Result<(), Error> {
        let op = GuardOp::Admit {
            nonce: self.nonce.clone(),
            balance,
            snapshot,
            served,
        };
        let a: Admission = self.call(&op).await?;
        if a.admitted {
            return Ok(());
        }
        Err(match a.refusal {
            Some(Refusal::InsufficientFunds { balance, in_flight }) => Error::new(
                Reason::InsufficientFunds,
                format!(
                    "the payer's balance {balance} less {in_flight} already accepted and not yet settled does not cover {price}"
                ),
            ),
            _ => Error::new(
                Reason::UnexpectedVerifyError,
                "the replay guard restarted during this request; send the payment again",
            ),
        })
    }

    pub(crate) async fn complete(&self, outcome: GuardOutcome) {
        let op = GuardOp::Complete {
            nonce: self.nonce.clone(),
            outcome,
        };
        if let Err(e) = self.call::<Value>(&op).await {
            worker::console_error!("replay guard: cannot record outcome: {e}");
        }
    }

    pub(crate) async fn release(&self) {
        let op = GuardOp::Release {
            nonce: self.nonce.clone(),
        };
        if let Err(e) = self.call::<Value>(&op).await {
            worker::console_error!("replay guard: cannot release: {e}");
        }
    }
}

/// The outcome of a settlement attempt.
pub(crate) enum Outcome {
    /// Transferred; the transaction hash.
    Settled(String),
    /// Broadcast but not confirmed in time: never retried.
    Pending(String, Error),
    /// Nothing was transferred.
    Failed(Error),
}

/// Settles a verified payment.
pub(crate) async fn settle(
    env: &Env,
    settlement: &Settlement,
    payment: &VerifiedPayment,
    request: &FacilitatorRequest,
) -> Outcome {
    match settlement {
        Settlement::SelfSettle {
            rpc_url,
            receipt_timeout_seconds,
            gas_limit,
        } => {
            let send = SendTx {
                rpc_url: rpc_url.clone(),
                chain_id: payment.requirement.chain_id,
                to: payment.requirement.asset.to_string(),
                data: settle_calldata(payment).to_string(),
                gas_limit: *gas_limit,
            };
            let result: SendResult = match durable_call(env, RELAYER_BINDING, "global", &send).await
            {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(e),
            };
            let hash = match result {
                SendResult::Sent { hash } => hash,
                SendResult::Unknown { hash, message } => {
                    return Outcome::Pending(
                        hash,
                        Error::new(Reason::SettlementPending, format!("broadcast: {message}")),
                    )
                }
                SendResult::Refused { message } => {
                    return Outcome::Failed(Error::new(
                        Reason::UnexpectedSettleError,
                        format!("settlement transaction refused: {message}"),
                    ))
                }
            };
            let Ok(h) = hash.parse::<B256>() else {
                return Outcome::Failed(Error::new(Reason::UnexpectedSettleError, "bad hash"));
            };
            match chain::wait_receipt(rpc_url, &h, receipt_timeout_seconds * 1000).await {
                Receipt::Success => Outcome::Settled(hash),
                Receipt::Reverted => Outcome::Failed(Error::new(
                    Reason::InvalidExactEvmTransactionFailed,
                    format!("settlement transaction {hash} reverted"),
                )),
                Receipt::Unknown => Outcome::Pending(
                    hash.clone(),
                    Error::new(
                        Reason::SettlementPending,
                        format!("no receipt for {hash} within {receipt_timeout_seconds}s; it will not be sent again"),
                    ),
                ),
            }
        }
        Settlement::Facilitator {
            url,
            auth_header,
            timeout_seconds,
            ..
        } => facilitator_settle(env, url, auth_header.as_deref(), request, *timeout_seconds).await,
    }
}

/// Whether a receipt now shows an earlier pending settlement as done.
pub(crate) async fn pending_settled(settlement: &Settlement, hash: &str) -> Option<bool> {
    let url = settlement.rpc_url()?;
    let h = hash.parse::<B256>().ok()?;
    match chain::wait_receipt(url, &h, 0).await {
        Receipt::Success => Some(true),
        Receipt::Reverted => Some(false),
        Receipt::Unknown => None,
    }
}

/// Why a facilitator call gave no usable answer.
pub(crate) enum PostError {
    /// The request was never sent: nothing can have happened.
    NotSent(String),
    /// Sent, but no answer came back (network failure, timeout): the facilitator may have acted.
    NoAnswer(String),
}

/// `POST {url}/{endpoint}` to a facilitator with the optional auth header, waiting at most
/// `timeout_seconds` for the answer (read up to [`crate::body::UPSTREAM_LIMIT`]). Returns the
/// HTTP status and the body (JSON, or `None`). The facilitator URL may carry a key: failures
/// are logged with it, and the errors returned (which reach clients) name only the endpoint.
pub(crate) async fn facilitator_post(
    env: &Env,
    url: &str,
    endpoint: &str,
    auth_header: Option<&str>,
    request: &FacilitatorRequest,
    timeout_seconds: u64,
) -> Result<(u16, Option<Value>), PostError> {
    let body = request
        .to_json()
        .map_err(|e| PostError::NotSent(e.to_string()))?;
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    if let Some(name) = auth_header {
        if let Ok(secret) = env.secret(FACILITATOR_AUTH) {
            let _ = headers.set(name, &secret.to_string());
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let target = format!("{url}/{endpoint}");
    let logged = |why: &dyn std::fmt::Display| {
        worker::console_error!("x402-worker: facilitator POST {target}: {why}");
    };
    let req = Request::new_with_init(&target, &init).map_err(|e| {
        logged(&e);
        PostError::NotSent(format!(
            "facilitator /{endpoint}: not sent, the URL was refused (details in the Worker log)"
        ))
    })?;
    let answer = async {
        let res = Fetch::Request(req)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status_code();
        let body = crate::body::read_response(res, crate::body::UPSTREAM_LIMIT)
            .await
            .map_err(|e| match e {
                crate::body::BodyError::TooLarge => format!(
                    "HTTP {status}, answer over {} bytes",
                    crate::body::UPSTREAM_LIMIT
                ),
                crate::body::BodyError::Failed(e) => {
                    format!("HTTP {status}, answer unreadable: {e}")
                }
            })?;
        Ok::<_, String>((status, serde_json::from_slice::<Value>(&body).ok()))
    };
    let timeout = Delay::from(std::time::Duration::from_secs(timeout_seconds));
    futures_util::pin_mut!(answer);
    match futures_util::future::select(answer, timeout).await {
        Either::Left((Ok(r), _)) => Ok(r),
        Either::Left((Err(e), _)) => {
            logged(&e);
            Err(PostError::NoAnswer(
                "the connection failed or the answer was unreadable; details in the Worker log"
                    .into(),
            ))
        }
        Either::Right(_) => {
            logged(&format_args!("no answer within {timeout_seconds}s"));
            Err(PostError::NoAnswer(format!(
                "nothing within {timeout_seconds}s"
            )))
        }
    }
}

/// Settles through a facilitator. Only a definite answer that nothing was settled (`success:
/// false`, or an HTTP 4xx refusal of the request) fails the settlement and releases the
/// authorization; a request that was sent but got no answer (network failure, timeout, 5xx,
/// an unreadable body) may have been settled, so it is `settlement_pending` and the
/// authorization stays reserved: it is never settled a second time.
async fn facilitator_settle(
    env: &Env,
    url: &str,
    auth_header: Option<&str>,
    request: &FacilitatorRequest,
    timeout_seconds: u64,
) -> Outcome {
    let unknown = |why: String| {
        Outcome::Pending(
            String::new(),
            Error::new(
                Reason::SettlementPending,
                format!("facilitator /settle gave no answer ({why}); it may have settled, so this authorization is kept and will not be settled again"),
            ),
        )
    };
    let (status, body) =
        match facilitator_post(env, url, "settle", auth_header, request, timeout_seconds).await {
            Ok(r) => r,
            Err(PostError::NotSent(e)) => {
                return Outcome::Failed(Error::new(Reason::UnexpectedSettleError, e))
            }
            Err(PostError::NoAnswer(e)) => return unknown(e),
        };
    let parsed = body
        .as_ref()
        .and_then(|v| serde_json::from_value::<SettleResponse>(v.clone()).ok());
    match parsed {
        Some(s) if s.success => Outcome::Settled(s.transaction),
        Some(s) => {
            let code = s.error_reason.unwrap_or_default();
            let reason = Reason::from_code(&code).unwrap_or(Reason::UnexpectedSettleError);
            let msg = s
                .error_message
                .unwrap_or_else(|| format!("facilitator: {code}"));
            if reason == Reason::SettlementPending {
                Outcome::Pending(s.transaction, Error::new(reason, msg))
            } else {
                Outcome::Failed(Error::new(reason, msg))
            }
        }
        None if (400..500).contains(&status) => {
            // The facilitator refused the request itself (bad request, unauthorized): nothing
            // was settled.
            let code = body
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Outcome::Failed(Error::new(
                Reason::UnexpectedSettleError,
                format!("facilitator refused /settle: HTTP {status} {code}"),
            ))
        }
        None => unknown(format!("HTTP {status}, not a settle response")),
    }
}
