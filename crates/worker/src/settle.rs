//! Settlement: the replay guard's operations, self-settlement through the relayer Durable
//! Object, and settlement through a remote facilitator.

use crate::chain::{self, Receipt};
use crate::durable::call::{durable_call, GUARD_BINDING, RELAYER_BINDING};
use crate::durable::{object_name, GuardOp, GuardRef, KeyStatus, RelayerOp, SendResult, SendTx};
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

/// Secret with the facilitator auth header value.
pub(crate) const FACILITATOR_AUTH: &str = "X402_FACILITATOR_AUTH";

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
        payment_id: Option<String>,
    ) -> Result<Decision, Error> {
        let valid_before = u64::try_from(p.authorization.valid_before).unwrap_or(u64::MAX);
        self.call(&GuardOp::Reserve(Reservation {
            nonce: self.nonce.clone(),
            resource: resource.into(),
            amount: p.authorization.value,
            valid_before,
            now,
            payment_id,
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

/// The relayer key a payer's settlements go to first: a stable hash of its address (the low 64
/// bits, modulo the number of keys), so one payer's transactions keep their order on one key.
pub(crate) fn preferred_key(payer: &x402_core::Address, keys: u32) -> u32 {
    let b = payer.as_slice();
    let mut low = [0u8; 8];
    low.copy_from_slice(&b[12..20]);
    (u64::from_be_bytes(low) % u64::from(keys.max(1))) as u32 + 1
}

/// Sends a transaction through the relayer pool (`settlement.relayerKeys`): to key `first`,
/// and when that key is full (`maxInFlightPerKey`) or low on gas, to the others, the least
/// loaded first. Nothing is sent twice: a key that refuses sent nothing.
pub(crate) async fn pool_send(
    env: &Env,
    settlement: &Settlement,
    first: u32,
    mut send: SendTx,
) -> Result<SendResult, Error> {
    let Settlement::SelfSettle {
        relayer_keys,
        max_in_flight_per_key,
        replace_after_seconds,
        ..
    } = settlement
    else {
        return Err(Error::new(
            Reason::UnexpectedSettleError,
            "no relayer without settlement mode \"self\"",
        ));
    };
    send.max_in_flight = *max_in_flight_per_key;
    send.replace_after_seconds = *replace_after_seconds;
    let keys = (*relayer_keys).max(1);
    let first = first.clamp(1, keys);
    send.key = first;
    let answer: SendResult = durable_call(
        env,
        RELAYER_BINDING,
        &object_name(first),
        &RelayerOp::Send(send.clone()),
    )
    .await?;
    if !matches!(answer, SendResult::Busy { .. } | SendResult::LowGas { .. }) || keys == 1 {
        return Ok(answer);
    }
    // The others, least loaded first; a key whose status cannot be read or that is low on gas
    // is skipped.
    let others: Vec<u32> = (1..=keys).filter(|k| *k != first).collect();
    let statuses = futures_util::future::join_all(others.iter().map(|k| {
        let (name, op) = (
            object_name(*k),
            RelayerOp::Status {
                rpc_url: send.rpc_url.clone(),
                key: *k,
                gas_limit: send.gas_limit,
            },
        );
        async move { durable_call::<KeyStatus>(env, RELAYER_BINDING, &name, &op).await }
    }))
    .await;
    let mut order: Vec<(u32, u32)> = others
        .iter()
        .zip(statuses)
        .filter_map(|(k, s)| match s {
            Ok(s) if !s.low_gas => Some((s.in_flight, *k)),
            _ => None,
        })
        .collect();
    order.sort();
    let mut last = answer;
    for (_, k) in order {
        send.key = k;
        last = durable_call(
            env,
            RELAYER_BINDING,
            &object_name(k),
            &RelayerOp::Send(send.clone()),
        )
        .await?;
        if !matches!(last, SendResult::Busy { .. } | SendResult::LowGas { .. }) {
            return Ok(last);
        }
    }
    Ok(last)
}

/// A relayer's answer as a transaction hash, or the outcome it already decides.
pub(crate) fn sent_hash(result: SendResult) -> Result<String, Outcome> {
    match result {
        SendResult::Sent { hash, .. } => Ok(hash),
        SendResult::Unknown { hash, message } => Err(Outcome::Pending(
            hash,
            Error::new(Reason::SettlementPending, format!("broadcast: {message}")),
        )),
        SendResult::Refused { message } => Err(Outcome::Failed(Error::new(
            Reason::UnexpectedSettleError,
            format!("settlement transaction refused: {message}"),
        ))),
        SendResult::Busy { in_flight } => Err(Outcome::Failed(Error::new(
            Reason::UnexpectedSettleError,
            format!("every relayer key is busy ({in_flight} transactions waiting on the last one tried); nothing was sent, send the payment again"),
        ))),
        SendResult::LowGas { .. } => Err(Outcome::Failed(Error::new(
            Reason::UnexpectedSettleError,
            "every relayer key is out of gas; nothing was sent (the operator has been told in the Worker log)",
        ))),
    }
}

/// Hands a verified payment's settlement to its payer's relayer key, which stores it and sends
/// it from its alarm (sending again, or passing it to another key, until it is broadcast or the
/// authorization expires): for a background route, whose content goes out before settlement, so
/// neither a chain outage, a busy or drained key nor a restart after this call loses it. The
/// payer's guard learns the outcome from the relayer. Only in settlement mode "self".
pub(crate) async fn enqueue(
    env: &Env,
    settlement: &Settlement,
    payment: &VerifiedPayment,
) -> Result<(), Error> {
    let mut send = exact_send(env, settlement, payment)?;
    send.delivered = true;
    let valid_before = send.valid_before.unwrap_or(u64::MAX);
    durable_call::<Value>(
        env,
        RELAYER_BINDING,
        &object_name(send.key),
        &RelayerOp::Enqueue {
            send,
            valid_before,
            hops: 0,
        },
    )
    .await
    .map(|_| ())
}

/// The relayer transaction of an `exact` payment (`transferWithAuthorization` to the token),
/// for the payer's own key of the pool; only in settlement mode "self".
fn exact_send(
    env: &Env,
    settlement: &Settlement,
    payment: &VerifiedPayment,
) -> Result<SendTx, Error> {
    let Settlement::SelfSettle {
        rpc_url,
        gas_limit,
        relayer_keys,
        max_in_flight_per_key,
        replace_after_seconds,
        ..
    } = settlement
    else {
        return Err(Error::new(
            Reason::UnexpectedSettleError,
            "no relayer without settlement mode \"self\"",
        ));
    };
    let guard = Guard::of(env, payment);
    Ok(SendTx {
        rpc_url: rpc_url.clone(),
        chain_id: payment.requirement.chain_id,
        to: payment.requirement.asset.to_string(),
        data: settle_calldata(payment).to_string(),
        gas_limit: *gas_limit,
        key: preferred_key(&payment.payer, *relayer_keys),
        max_in_flight: *max_in_flight_per_key,
        replace_after_seconds: *replace_after_seconds,
        guard: Some(GuardRef {
            payer: guard.payer,
            nonce: guard.nonce,
        }),
        valid_before: u64::try_from(payment.authorization.valid_before).ok(),
        delivered: false,
        wait_receipt_ms: None,
    })
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
            ..
        } => {
            let send = match exact_send(env, settlement, payment) {
                // This request waits for the receipt: the relayer may have it with the broadcast.
                Ok(s) => SendTx {
                    wait_receipt_ms: Some(receipt_timeout_seconds * 1000),
                    ..s
                },
                Err(e) => return Outcome::Failed(e),
            };
            let first = send.key;
            let sent = match pool_send(env, settlement, first, send).await {
                Ok(sent) => sent,
                Err(e) => return Outcome::Failed(e),
            };
            // The receipt, when the node answered the broadcast with it.
            let mined = match &sent {
                SendResult::Sent { mined, .. } => *mined,
                _ => None,
            };
            let hash = match sent_hash(sent) {
                Ok(hash) => hash,
                Err(outcome) => return outcome,
            };
            let Ok(h) = hash.parse::<B256>() else {
                return Outcome::Failed(Error::new(Reason::UnexpectedSettleError, "bad hash"));
            };
            let receipt = match mined {
                Some(true) => Receipt::Success,
                Some(false) => Receipt::Reverted,
                None => chain::wait_receipt(rpc_url, &h, receipt_timeout_seconds * 1000).await,
            };
            match receipt {
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
