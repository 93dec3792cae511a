//! The `batch-settlement` facilitator operations (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Verification" and
//! "Settlement"), done by the Worker itself or through the configured facilitator:
//!
//! - [`Settlement::SelfSettle`]: reads go to JSON-RPC (one Multicall3 `tryAggregate` per channel
//!   state), signatures of contract wallets to ERC-1271, and every transaction is simulated with
//!   `eth_call`, then signed and broadcast by the relayer Durable Object (one nonce sequence)
//!   and awaited for `receipt_timeout_seconds`;
//! - [`Settlement::Facilitator`]: client payloads go to `{url}/verify` and `{url}/settle`
//!   unchanged; claim, settle and enriched refund payloads are authored here (with `accepted =
//!   {scheme, network, asset: token, amount: "0", payTo: receiver, maxTimeoutSeconds: 0, extra:
//!   {}}`, as the reference server's channel manager sends them) and carry
//!   `claimAuthorizerSignature` / `refundAuthorizerSignature` signed by the receiver
//!   authorizer's key held here.
//!
//! Every refusal carries a reason code. A transaction whose outcome is unknown (broadcast
//! without receipt in time, or a facilitator that did not answer) is [`TxFail::Pending`], with
//! the hash when there is one: never sent again.

use crate::chain::{self, Receipt, RpcError};
use crate::durable::{SendResult, SendTx, RELAYER_KEY};
use crate::settle::{facilitator_post, PostError};
use serde_json::{json, Value};
use std::time::Duration;
use worker::{Delay, Env};
use x402_core::evm::network::Network;
use x402_core::evm::signer::LocalSigner;
use x402_core::evm::tx;
use x402_core::gate::config::Settlement;
use x402_core::scheme::batch::digest::{channel_id, refund_digest};
use x402_core::scheme::batch::onchain::{self as calls, codes};
use x402_core::scheme::batch::response::ChannelState;
use x402_core::scheme::batch::rules::{self, SignatureCheck, Use};
use x402_core::scheme::batch::types::{BATCH_SETTLEMENT, MULTICALL3};
use x402_core::scheme::batch::wire::{
    BatchPayload, BatchRequirement, ChannelConfigJson, ClaimPayload, DepositPayload, RefundPayload,
    SettlePayload, VoucherClaimJson, VoucherJson,
};
use x402_core::scheme::batch::SCHEME;
use x402_core::wire::facilitator::FacilitatorRequest;
use x402_core::wire::v2::{PaymentPayload, PaymentRequirements};
use x402_core::wire::{JsonMap, V2};
use x402_core::{Address, Bytes, Error, Reason, B256, U256};

/// Gas limits, fixed per operation and generous: gas not used is not charged, but the relayer
/// must hold `limit × fee`. Largest use measured on the stand-in contracts (tests/contracts,
/// `tests/js/batch-contracts.test.mjs`): deposit 132k, `claimWithSignature` 78k for one row and
/// 101k for two, `settle` 64k, `refundWithSignature` 90k, `multicall(claim, refund)` 123k.
///
/// A deposit: the collector's `receiveWithAuthorization` (or Permit2), two token transfers, and
/// possibly the channel's first storage writes.
const DEPOSIT_GAS: u64 = 300_000;
/// `claimWithSignature`: the batch signature check, then per row a voucher `ecrecover` (or
/// ERC-1271) and two storage updates.
const CLAIM_GAS_BASE: u64 = 100_000;
/// Added per claim row.
const CLAIM_GAS_PER_ROW: u64 = 60_000;
/// `settle(receiver, token)`: the reference facilitator's own limit (one token transfer).
const SETTLE_GAS: u64 = 120_000;
/// `refundWithSignature`: signature check, nonce, balance and pending-withdrawal updates, one
/// transfer; the claim rows of a `multicall` refund add [`CLAIM_GAS_BASE`] and
/// [`CLAIM_GAS_PER_ROW`] each.
const REFUND_GAS: u64 = 200_000;
/// After a mined deposit (or a refund during a pending withdrawal), how long the channel state
/// is polled until the node shows it, and how often (the reference facilitator's values).
const POST_STATE_WAIT_MS: u64 = 2000;
const POST_STATE_POLL_MS: u64 = 150;

/// A transaction that did not succeed.
#[derive(Debug)]
pub(crate) enum TxFail {
    /// Broadcast (or handed to the facilitator) with no known outcome: keep what it pays for,
    /// never send it again. `transaction` is the hash, or `""` when none is known.
    Pending { transaction: String, error: Error },
    /// Nothing happened on chain (refused, simulation failed, or reverted).
    Failed(Error),
}

// ---- JSON-RPC ---------------------------------------------------------------------------

/// `eth_call` on `latest`, from `from` when given; the return data.
async fn eth_call(
    url: &str,
    to: Address,
    data: &Bytes,
    from: Option<Address>,
) -> Result<Vec<u8>, RpcError> {
    let mut call = json!({"to": to.to_string(), "data": data.to_string()});
    if let Some(from) = from {
        call["from"] = from.to_string().into();
    }
    let r = chain::rpc(url, "eth_call", json!([call, "latest"])).await?;
    r.as_str()
        .and_then(|s| s.parse::<Bytes>().ok())
        .map(|b| b.to_vec())
        .ok_or_else(|| RpcError::Node(format!("eth_call: not hex: {r}")))
}

fn read_error(chain_id: u64, e: &RpcError) -> Error {
    Error::new(
        codes::RPC_READ_FAILED,
        format!(
            "invalid_batch_settlement_evm_rpc_read_failed: chain {chain_id}: {}",
            e.message()
        ),
    )
}

/// The relayer's address (the `from` of simulations), when its key is configured.
fn relayer_address(env: &Env) -> Option<Address> {
    let key = env.secret(RELAYER_KEY).ok()?.to_string();
    LocalSigner::from_hex(key.trim()).ok().map(|s| s.address())
}

/// The channel's state (`channels`, `pendingWithdrawals`, `refundNonce`) and, with
/// `payer_balance = Some((token, payer))`, the payer's token balance: one `eth_call` of
/// Multicall3 `tryAggregate(false, …)`. Any failure: `…_rpc_read_failed`.
pub(crate) async fn read_channel(
    url: &str,
    chain_id: u64,
    channel_id: B256,
    payer_balance: Option<(Address, Address)>,
) -> Result<(ChannelState, Option<U256>), Error> {
    let data = calls::read_calls(channel_id, payer_balance);
    let ret = eth_call(url, MULTICALL3, &data, None)
        .await
        .map_err(|e| read_error(chain_id, &e))?;
    calls::decode_reads(channel_id, payer_balance.is_some(), &ret)
}

/// The on-chain half of a signature check: a signer with code must accept the signature by
/// ERC-1271 `isValidSignature` (magic value); a signer without code (an EOA whose ECDSA
/// signature did not recover) is refused with the check's reason.
async fn check_signature_on_chain(
    url: &str,
    chain_id: u64,
    check: SignatureCheck,
) -> Result<(), Error> {
    let SignatureCheck::NeedsChain {
        signer,
        digest,
        signature,
        reason,
    } = check
    else {
        return Ok(());
    };
    let code = chain::rpc(url, "eth_getCode", json!([signer.to_string(), "latest"]))
        .await
        .map_err(|e| read_error(chain_id, &e))?;
    if code.as_str().is_none_or(|c| c == "0x" || c.is_empty()) {
        return Err(Error::new(
            reason,
            format!("the signature does not recover to {signer}, which has no code (not a contract wallet)"),
        ));
    }
    let data = tx::is_valid_signature_calldata(digest, signature);
    match eth_call(url, signer, &data, None).await {
        Ok(ret) if tx::is_erc1271_magic(&ret) => Ok(()),
        Ok(_) | Err(RpcError::Node(_)) => Err(Error::new(
            reason,
            format!("isValidSignature on {signer} rejected the signature"),
        )),
        Err(e) => Err(read_error(chain_id, &e)),
    }
}

// ---- transactions through the relayer ------------------------------------------------------

/// How a relayed transaction ended.
enum Sent {
    Mined(String),
    Reverted(String),
    Unknown(String, String),
    Refused(Error),
}

/// Sends `data` to `x402BatchSettlement` through the relayer Durable Object and waits for its
/// receipt.
async fn relay(
    env: &Env,
    rpc_url: &str,
    receipt_timeout_seconds: u64,
    chain_id: u64,
    data: &Bytes,
    gas_limit: u64,
) -> Sent {
    let send = SendTx {
        rpc_url: rpc_url.into(),
        chain_id,
        to: BATCH_SETTLEMENT.to_string(),
        data: data.to_string(),
        gas_limit,
        key: 1,
        max_in_flight: 0,
        replace_after_seconds: 0,
        guard: None,
        valid_before: None,
        delivered: false,
        wait_receipt_ms: None,
    };
    let settlement = match crate::load(env) {
        Ok(app) => app.config.settlement.clone(),
        Err(e) => return Sent::Refused(e),
    };
    // Channel transactions start on the first key; a full or unfunded key passes them on.
    let hash = match crate::settle::pool_send(env, &settlement, 1, send).await {
        Err(e) => return Sent::Refused(e),
        Ok(SendResult::Unknown { hash, message }) => return Sent::Unknown(hash, message),
        Ok(SendResult::Sent { hash, .. }) => hash,
        Ok(refusal) => {
            let why = match refusal {
                SendResult::Refused { message } => message,
                SendResult::Busy { in_flight } => {
                    format!("every relayer key is busy ({in_flight} unmined)")
                }
                _ => "every relayer key is out of gas".into(),
            };
            return Sent::Refused(Error::new(
                Reason::UnexpectedSettleError,
                format!("transaction refused: {why}"),
            ));
        }
    };
    let Ok(h) = hash.parse::<B256>() else {
        return Sent::Unknown(hash, "the relayer returned a malformed hash".into());
    };
    match chain::wait_receipt(rpc_url, &h, receipt_timeout_seconds.saturating_mul(1000)).await {
        Receipt::Success => Sent::Mined(hash),
        Receipt::Reverted => Sent::Reverted(hash),
        Receipt::Unknown => Sent::Unknown(
            hash,
            format!("no receipt within {receipt_timeout_seconds}s; it will not be sent again"),
        ),
    }
}

/// Simulates, then relays: `op` names the operation in messages, `simulation` and `reverted`
/// are its codes. Returns the mined transaction's hash.
#[allow(clippy::too_many_arguments)]
async fn simulate_and_send(
    env: &Env,
    rpc_url: &str,
    receipt_timeout_seconds: u64,
    chain_id: u64,
    data: &Bytes,
    gas_limit: u64,
    op: &str,
    (simulation, reverted): (Reason, Reason),
) -> Result<String, TxFail> {
    match eth_call(rpc_url, BATCH_SETTLEMENT, data, relayer_address(env)).await {
        Ok(_) => {}
        Err(RpcError::Node(m)) => {
            return Err(TxFail::Failed(Error::new(
                simulation,
                format!("invalid_batch_settlement_evm_{op}_simulation_failed: {m}"),
            )))
        }
        Err(e) => {
            return Err(TxFail::Failed(Error::new(
                Reason::UnexpectedSettleError,
                format!("{op} simulation: {}", e.message()),
            )))
        }
    }
    match relay(
        env,
        rpc_url,
        receipt_timeout_seconds,
        chain_id,
        data,
        gas_limit,
    )
    .await
    {
        Sent::Mined(hash) => Ok(hash),
        Sent::Reverted(hash) => Err(TxFail::Failed(Error::new(
            reverted,
            format!("invalid_batch_settlement_evm_{op}_transaction_failed: {hash} reverted"),
        ))),
        Sent::Unknown(hash, message) => Err(TxFail::Pending {
            error: Error::new(
                Reason::SettlementPending,
                format!("{op} transaction {hash}: {message}"),
            ),
            transaction: hash,
        }),
        Sent::Refused(e) => Err(TxFail::Failed(e.context(op))),
    }
}

/// Reads the channel until `done` holds for it or [`POST_STATE_WAIT_MS`] have passed; the
/// last state read (`None` when no read succeeded).
async fn poll_state(
    url: &str,
    chain_id: u64,
    channel_id: B256,
    done: impl Fn(&ChannelState) -> bool,
) -> Option<ChannelState> {
    let start = worker::Date::now().as_millis();
    let mut last = None;
    loop {
        if let Ok((s, _)) = read_channel(url, chain_id, channel_id, None).await {
            let ok = done(&s);
            last = Some(s);
            if ok {
                return last;
            }
        }
        if worker::Date::now().as_millis().saturating_sub(start) >= POST_STATE_WAIT_MS {
            return last;
        }
        Delay::from(Duration::from_millis(POST_STATE_POLL_MS)).await;
    }
}

// ---- the facilitator ---------------------------------------------------------------------

/// A facilitator's connection settings.
struct Remote<'a> {
    url: &'a str,
    auth_header: Option<&'a str>,
    rpc_url: Option<&'a str>,
    timeout_seconds: u64,
}

fn remote(settlement: &Settlement) -> Option<Remote<'_>> {
    match settlement {
        Settlement::Facilitator {
            url,
            auth_header,
            rpc_url,
            timeout_seconds,
        } => Some(Remote {
            url,
            auth_header: auth_header.as_deref(),
            rpc_url: rpc_url.as_deref(),
            timeout_seconds: *timeout_seconds,
        }),
        Settlement::SelfSettle { .. } => None,
    }
}

/// The requirement a client payload pays, as sent to the facilitator: the offer (`accepted`
/// equals it on every field but `extra`, of which the offer's is a subset).
fn offered(req: &BatchRequirement, payment: &PaymentPayload) -> PaymentRequirements {
    PaymentRequirements {
        scheme: SCHEME.into(),
        network: req.network.clone(),
        amount: req.amount,
        asset: payment.accepted.asset.clone(),
        pay_to: payment.accepted.pay_to.clone(),
        max_timeout_seconds: req.max_timeout_seconds,
        extra: Some(req.extra.to_json()),
        other: JsonMap::new(),
    }
}

/// A server-authored request (claim, settle, enriched refund): `accepted` (and the
/// requirement) `{scheme, network, asset: token, amount: "0", payTo: receiver,
/// maxTimeoutSeconds: 0, extra: {}}`.
fn server_request(
    chain_id: u64,
    token: Address,
    receiver: Address,
    payload: &BatchPayload,
) -> FacilitatorRequest {
    let accepted = PaymentRequirements {
        scheme: SCHEME.into(),
        network: Network::eip155(chain_id),
        amount: U256::ZERO,
        asset: token.to_string(),
        pay_to: receiver.to_string(),
        max_timeout_seconds: 0,
        extra: Some(JsonMap::new()),
        other: JsonMap::new(),
    };
    FacilitatorRequest::V2 {
        payment_payload: PaymentPayload {
            x402_version: V2,
            resource: None,
            accepted: accepted.clone(),
            payload: payload.to_json(),
            extensions: None,
        },
        payment_requirements: accepted,
    }
}

/// `POST {url}/verify`: the channel state in the answer's `extra` (pre-deposit for a deposit).
async fn remote_verify(
    env: &Env,
    r: &Remote<'_>,
    request: &FacilitatorRequest,
) -> Result<ChannelState, Error> {
    let unexpected = |m: String| Error::new(Reason::UnexpectedVerifyError, m);
    let (status, body) = facilitator_post(
        env,
        r.url,
        "verify",
        r.auth_header,
        request,
        r.timeout_seconds,
    )
    .await
    .map_err(|e| match e {
        PostError::NotSent(m) | PostError::NoAnswer(m) => {
            unexpected(format!("facilitator /verify: {m}"))
        }
    })?;
    let body = body.unwrap_or(Value::Null);
    match body.get("isValid").and_then(Value::as_bool) {
        Some(true) => {
            let extra = body
                .get("extra")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    unexpected(
                        "facilitator /verify answered valid without the channel state (extra)"
                            .into(),
                    )
                })?;
            ChannelState::from_verify_extra(extra)
        }
        Some(false) => {
            let code = body
                .get("invalidReason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let message = body
                .get("invalidMessage")
                .and_then(Value::as_str)
                .unwrap_or(code);
            Err(match Reason::from_code(code) {
                Some(reason) => Error::new(reason, format!("facilitator: {message}")),
                None => unexpected(format!("facilitator: {code}: {message}")),
            })
        }
        None => Err(unexpected(format!(
            "facilitator /verify: HTTP {status}, not a verify response"
        ))),
    }
}

/// A facilitator's `/settle` answer that said `success: true`: the transaction and `extra`.
struct Settled {
    transaction: String,
    extra: Option<JsonMap>,
}

/// `POST {url}/settle`. `Ok(Err(code))` is a definite `success: false` with a code the caller
/// may treat as an answer (`nothing_to_settle`); every other failure is a [`TxFail`]: no
/// answer, a 5xx or an unreadable one → pending (it may have acted); `success: false`
/// (other than `settlement_pending`) or a 4xx → failed.
async fn remote_settle(
    env: &Env,
    r: &Remote<'_>,
    request: &FacilitatorRequest,
    answer_codes: &[&str],
) -> Result<Result<Settled, String>, TxFail> {
    let pending = |transaction: String, why: String| TxFail::Pending {
        transaction,
        error: Error::new(
            Reason::SettlementPending,
            format!("facilitator /settle: {why}; it may have acted, so this is not sent again"),
        ),
    };
    let (status, body) = match facilitator_post(
        env,
        r.url,
        "settle",
        r.auth_header,
        request,
        r.timeout_seconds,
    )
    .await
    {
        Ok(a) => a,
        Err(PostError::NotSent(m)) => {
            return Err(TxFail::Failed(Error::new(Reason::UnexpectedSettleError, m)))
        }
        Err(PostError::NoAnswer(m)) => {
            return Err(pending(String::new(), format!("no answer ({m})")))
        }
    };
    let body = body.unwrap_or(Value::Null);
    let transaction = body
        .get("transaction")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match body.get("success").and_then(Value::as_bool) {
        Some(true) => Ok(Ok(Settled {
            transaction,
            extra: body.get("extra").and_then(Value::as_object).cloned(),
        })),
        Some(false) => {
            let code = body
                .get("errorReason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if answer_codes.contains(&code) {
                return Ok(Err(code.to_string()));
            }
            let message = body
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or(code);
            match Reason::from_code(code) {
                Some(Reason::SettlementPending) => Err(pending(transaction, message.into())),
                Some(reason) => Err(TxFail::Failed(Error::new(
                    reason,
                    format!("facilitator: {message}"),
                ))),
                None => Err(TxFail::Failed(Error::new(
                    Reason::UnexpectedSettleError,
                    format!("facilitator: {code}: {message}"),
                ))),
            }
        }
        None if (400..500).contains(&status) => Err(TxFail::Failed(Error::new(
            Reason::UnexpectedSettleError,
            format!("facilitator refused /settle: HTTP {status}"),
        ))),
        None => Err(pending(
            transaction,
            format!("HTTP {status}, not a settle response"),
        )),
    }
}

/// A facilitator `/settle` that moves a channel's balance (a deposit, a refund): its transaction
/// and the channel state after it ([`settled_state`]); a refusal fails with its code.
async fn remote_settle_state(
    env: &Env,
    r: &Remote<'_>,
    request: &FacilitatorRequest,
    chain_id: u64,
    channel_id: B256,
) -> Result<(String, ChannelState), TxFail> {
    let settled = remote_settle(env, r, request, &[])
        .await?
        .map_err(|code| TxFail::Failed(Error::new(Reason::UnexpectedSettleError, code)))?;
    let state = settled_state(r, chain_id, channel_id, &settled).await?;
    Ok((settled.transaction, state))
}

/// The channel state a successful deposit or refund reports (`extra.channelState`); without a
/// readable one, read from the chain when an RPC URL is configured, else the outcome is
/// pending (the transaction happened, its state is unknown).
async fn settled_state(
    r: &Remote<'_>,
    chain_id: u64,
    channel_id: B256,
    s: &Settled,
) -> Result<ChannelState, TxFail> {
    let reported = s.extra.as_ref().map(ChannelState::from_settle_extra);
    let why = match reported {
        Some(Ok(state)) => return Ok(state),
        Some(Err(e)) => e,
        None => Error::new(
            Reason::UnexpectedSettleError,
            "settle result without extra.channelState",
        ),
    };
    if let Some(url) = r.rpc_url {
        if let Ok((state, _)) = read_channel(url, chain_id, channel_id, None).await {
            return Ok(state);
        }
    }
    Err(TxFail::Pending {
        transaction: s.transaction.clone(),
        error: why,
    })
}

fn self_rpc(settlement: &Settlement) -> Option<(&str, u64)> {
    match settlement {
        Settlement::SelfSettle {
            rpc_url,
            receipt_timeout_seconds,
            ..
        } => Some((rpc_url, *receipt_timeout_seconds)),
        Settlement::Facilitator { .. } => None,
    }
}

// ---- verification ------------------------------------------------------------------------

/// Verifies a deposit payload (the reference facilitator's deposit verification, in its
/// order): the config against the offer, the deposit authorization (time window, signature;
/// ERC-1271 for a contract payer), the voucher signature, then one read of the channel and the
/// payer's token balance (`insufficient_balance`, `cumulative_exceeds_balance` against the
/// balance plus the deposit, `cumulative_below_claimed`), and an `eth_call` of the deposit from
/// the relayer (`…_deposit_simulation_failed`). Returns the channel's state before the
/// deposit. Through a facilitator: its `/verify`.
pub(crate) async fn verify_deposit(
    env: &Env,
    settlement: &Settlement,
    req: &BatchRequirement,
    payment: &PaymentPayload,
    p: &DepositPayload,
    now: u64,
) -> Result<ChannelState, Error> {
    if let Some(r) = remote(settlement) {
        let request = FacilitatorRequest::V2 {
            payment_payload: payment.clone(),
            payment_requirements: offered(req, payment),
        };
        return remote_verify(env, &r, &request).await;
    }
    let (url, _) = self_rpc(settlement).unwrap_or_default();
    let chain_id = req.chain_id;
    let config = &p.channel_config;
    rules::check_config(req, config, p.voucher.channel_id)?;
    let deposit_signature = rules::check_deposit(req, p, now)?;
    check_signature_on_chain(url, chain_id, deposit_signature).await?;
    let voucher_signature = rules::check_voucher_signature(config, &p.voucher, chain_id)?;
    check_signature_on_chain(url, chain_id, voucher_signature).await?;
    let (state, token_balance) = read_channel(
        url,
        chain_id,
        p.voucher.channel_id,
        Some((config.token, config.payer)),
    )
    .await?;
    let deposit = p.deposit.amount;
    rules::check_payer_balance(token_balance.unwrap_or_default(), deposit)?;
    rules::check_cumulative(
        Use::Deposit(deposit),
        p.voucher.max_claimable_amount,
        state.balance,
        state.total_claimed,
    )?;
    let data = calls::deposit_payload_calldata(p)?;
    match eth_call(url, BATCH_SETTLEMENT, &data, relayer_address(env)).await {
        Ok(_) => Ok(state),
        Err(RpcError::Node(m)) => Err(Error::new(
            codes::DEPOSIT_SIMULATION_FAILED,
            format!("invalid_batch_settlement_evm_deposit_simulation_failed: {m}"),
        )),
        Err(e) => Err(read_error(chain_id, &e)),
    }
}

/// Verifies a voucher or a refund's voucher against the chain (the reference facilitator's
/// voucher verification): the config against the offer, the voucher signature (ERC-1271 when
/// only the chain can tell), then the channel's state: `channel_not_found` without balance,
/// `cumulative_exceeds_balance`, `cumulative_below_claimed` (a refund's voucher may equal the
/// claimed total). Returns the state read. Through a facilitator: its `/verify` of the
/// client's payment. (`now` is unused: a voucher has no time window.)
#[allow(clippy::too_many_arguments)]
pub(crate) async fn verify_channel(
    env: &Env,
    settlement: &Settlement,
    req: &BatchRequirement,
    payment: &PaymentPayload,
    config: &ChannelConfigJson,
    voucher: &VoucherJson,
    kind: Use,
    _now: u64,
) -> Result<ChannelState, Error> {
    if let Some(r) = remote(settlement) {
        let request = FacilitatorRequest::V2 {
            payment_payload: payment.clone(),
            payment_requirements: offered(req, payment),
        };
        return remote_verify(env, &r, &request).await;
    }
    let (url, _) = self_rpc(settlement).unwrap_or_default();
    let chain_id = req.chain_id;
    rules::check_config(req, config, voucher.channel_id)?;
    let signature = rules::check_voucher_signature(config, voucher, chain_id)?;
    check_signature_on_chain(url, chain_id, signature).await?;
    let (state, _) = read_channel(url, chain_id, voucher.channel_id, None).await?;
    rules::check_cumulative(
        kind,
        voucher.max_claimable_amount,
        state.balance,
        state.total_claimed,
    )?;
    Ok(state)
}

// ---- settlement --------------------------------------------------------------------------

/// Executes a verified deposit: simulated, sent by the relayer, awaited; then the channel is
/// read until its balance shows the deposit (at most 2 s, as the reference facilitator does;
/// the computed state if the node lags). Returns the transaction and the state after it.
/// Through a facilitator: its `/settle` of the client's payment.
pub(crate) async fn settle_deposit(
    env: &Env,
    settlement: &Settlement,
    req: &BatchRequirement,
    payment: &PaymentPayload,
    p: &DepositPayload,
) -> Result<(String, ChannelState), TxFail> {
    let chain_id = req.chain_id;
    let id = p.voucher.channel_id;
    if let Some(r) = remote(settlement) {
        let request = FacilitatorRequest::V2 {
            payment_payload: payment.clone(),
            payment_requirements: offered(req, payment),
        };
        return remote_settle_state(env, &r, &request, chain_id, id).await;
    }
    let (url, timeout) = self_rpc(settlement).unwrap_or_default();
    let data = calls::deposit_payload_calldata(p).map_err(TxFail::Failed)?;
    let (pre, _) = read_channel(url, chain_id, id, None)
        .await
        .map_err(TxFail::Failed)?;
    let hash = simulate_and_send(
        env,
        url,
        timeout,
        chain_id,
        &data,
        DEPOSIT_GAS,
        "deposit",
        (
            codes::DEPOSIT_SIMULATION_FAILED,
            codes::DEPOSIT_TRANSACTION_FAILED,
        ),
    )
    .await?;
    let target = pre.balance.saturating_add(p.deposit.amount);
    let state = match poll_state(url, chain_id, id, |s| s.balance >= target).await {
        Some(s) if s.balance >= target => s,
        _ => ChannelState {
            balance: target,
            ..pre
        },
    };
    Ok((hash, state))
}

/// Signs a digest with the receiver authorizer's key: the 65-byte signature.
fn sign(signer: &LocalSigner, digest: &B256) -> Result<Bytes, TxFail> {
    signer
        .sign_hash(digest)
        .map(|s| Bytes::from(s.to_bytes().to_vec()))
        .map_err(TxFail::Failed)
}

/// Every row must name `signer` as its receiver authorizer (the contract takes the batch
/// signer from the first row and refuses the others: `authorizer_address_mismatch`).
fn check_authorizer(rows: &[VoucherClaimJson], signer: Address) -> Result<(), TxFail> {
    match rows
        .iter()
        .find(|r| r.voucher.channel.receiver_authorizer != signer)
    {
        Some(r) => Err(TxFail::Failed(Error::new(
            Reason::InvalidBatchSettlementEvmAuthorizerAddressMismatch,
            format!(
                "a claim row's receiverAuthorizer {} is not this Worker's authorizer {signer}",
                r.voucher.channel.receiver_authorizer
            ),
        ))),
        None => Ok(()),
    }
}

fn claim_gas(rows: usize) -> u64 {
    CLAIM_GAS_BASE.saturating_add(CLAIM_GAS_PER_ROW.saturating_mul(rows as u64))
}

/// Claims `rows` with `claimWithSignature`, the `ClaimBatch` signed by `signer` (the receiver
/// authorizer's key): simulated, sent, awaited. Returns the transaction. Through a
/// facilitator: a `claim` payload with `claimAuthorizerSignature`.
pub(crate) async fn claim(
    env: &Env,
    settlement: &Settlement,
    chain_id: u64,
    rows: &[VoucherClaimJson],
    signer: &LocalSigner,
) -> Result<String, TxFail> {
    let Some(first) = rows.first() else {
        return Err(TxFail::Failed(Error::new(
            Reason::InvalidBatchSettlementEvmClaimPayload,
            "a claim needs at least one row",
        )));
    };
    check_authorizer(rows, signer.address())?;
    let signature = sign(signer, &calls::claim_rows_digest(rows, chain_id))?;
    if let Some(r) = remote(settlement) {
        let payload = BatchPayload::Claim(ClaimPayload {
            claims: rows.to_vec(),
            claim_authorizer_signature: Some(signature),
        });
        let channel = &first.voucher.channel;
        let request = server_request(chain_id, channel.token, channel.receiver, &payload);
        return match remote_settle(env, &r, &request, &[]).await? {
            Ok(s) => Ok(s.transaction),
            Err(code) => Err(TxFail::Failed(Error::new(
                Reason::UnexpectedSettleError,
                code,
            ))),
        };
    }
    let (url, timeout) = self_rpc(settlement).unwrap_or_default();
    let data = calls::claim_with_signature_calldata(rows, signature);
    simulate_and_send(
        env,
        url,
        timeout,
        chain_id,
        &data,
        claim_gas(rows.len()),
        "claim",
        (
            codes::CLAIM_SIMULATION_FAILED,
            codes::CLAIM_TRANSACTION_FAILED,
        ),
    )
    .await
}

/// Pays `receiver` what it has claimed of `token` and not been paid: reads `receivers`, and
/// sends `settle` only when `totalClaimed > totalSettled` (`Ok(None)`: nothing to settle, no
/// transaction). Through a facilitator: a `settle` payload (`nothing_to_settle` is `Ok(None)`).
pub(crate) async fn settle_receiver(
    env: &Env,
    settlement: &Settlement,
    chain_id: u64,
    receiver: Address,
    token: Address,
) -> Result<Option<String>, TxFail> {
    if let Some(r) = remote(settlement) {
        let payload = BatchPayload::Settle(SettlePayload { receiver, token });
        let request = server_request(chain_id, token, receiver, &payload);
        return match remote_settle(env, &r, &request, &[codes::NOTHING_TO_SETTLE]).await? {
            Ok(s) => Ok(Some(s.transaction)),
            Err(_) => Ok(None),
        };
    }
    let (url, timeout) = self_rpc(settlement).unwrap_or_default();
    let ret = eth_call(
        url,
        BATCH_SETTLEMENT,
        &calls::receivers_calldata(receiver, token),
        None,
    )
    .await
    .map_err(|e| TxFail::Failed(read_error(chain_id, &e)))?;
    let (claimed, settled) = calls::decode_receivers(&ret).map_err(TxFail::Failed)?;
    if claimed <= settled {
        return Ok(None);
    }
    let data = calls::settle_calldata(receiver, token);
    simulate_and_send(
        env,
        url,
        timeout,
        chain_id,
        &data,
        SETTLE_GAS,
        "settle",
        (
            codes::SETTLE_SIMULATION_FAILED,
            codes::SETTLE_TRANSACTION_FAILED,
        ),
    )
    .await
    .map(Some)
}

/// Executes an enriched refund (`amount`, `refundNonce`, `claims`) of the channel `config`
/// (the verified client config; it replaces the payload's): the `Refund` and, with
/// claims, the `ClaimBatch` signed by `signer` (the receiver authorizer's key, which must be
/// the channel's); `multicall(claimWithSignature, refundWithSignature)` when there are claims,
/// else `refundWithSignature` alone. Self mode reads the channel first: what can be refunded
/// is `min(amount, balance − max(totalClaimed, the claims' totals))`, nothing is
/// `refund_no_balance`; the payload's nonce must be the channel's. Returns the transaction and
/// the state after it: computed (balance less the refund, claimed total, nonce + 1), or, when a
/// withdrawal was pending (the refund may cut or clear it), read until the nonce moved.
/// Through a facilitator: the enriched payload with both signatures.
pub(crate) async fn refund(
    env: &Env,
    settlement: &Settlement,
    chain_id: u64,
    p: &RefundPayload,
    config: &ChannelConfigJson,
    signer: &LocalSigner,
) -> Result<(String, ChannelState), TxFail> {
    let bad = |reason: Reason, m: &str| TxFail::Failed(Error::new(reason, m));
    let amount = p.amount.ok_or_else(|| {
        bad(
            Reason::InvalidBatchSettlementEvmRefundPayload,
            "an enriched refund carries amount",
        )
    })?;
    let amount = u128::try_from(amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            bad(
                Reason::InvalidBatchSettlementEvmRefundAmountInvalid,
                "refund amount must be in 1..2^128",
            )
        })?;
    let nonce = p.refund_nonce.ok_or_else(|| {
        bad(
            Reason::InvalidBatchSettlementEvmRefundPayload,
            "an enriched refund carries refundNonce",
        )
    })?;
    let claims = p.claims.as_deref().unwrap_or_default();
    let me = signer.address();
    if config.receiver_authorizer != me {
        return Err(bad(
            Reason::InvalidBatchSettlementEvmAuthorizerAddressMismatch,
            "the channel's receiverAuthorizer is not this Worker's authorizer",
        ));
    }
    check_authorizer(claims, me)?;
    let id = channel_id(&config.to_sol(), chain_id);
    let refund_signature = sign(signer, &refund_digest(id, nonce, amount, chain_id))?;
    let claim_signature = match claims {
        [] => None,
        rows => Some(sign(signer, &calls::claim_rows_digest(rows, chain_id))?),
    };
    if let Some(r) = remote(settlement) {
        let payload = BatchPayload::Refund(Box::new(RefundPayload {
            channel_config: config.clone(),
            amount: Some(U256::from(amount)),
            refund_nonce: Some(nonce),
            claims: Some(claims.to_vec()),
            refund_authorizer_signature: Some(refund_signature),
            claim_authorizer_signature: claim_signature,
            ..p.clone()
        }));
        let request = server_request(chain_id, config.token, config.receiver, &payload);
        return remote_settle_state(env, &r, &request, chain_id, id).await;
    }
    let (url, timeout) = self_rpc(settlement).unwrap_or_default();
    let (pre, _) = read_channel(url, chain_id, id, None)
        .await
        .map_err(TxFail::Failed)?;
    let claimed_after = claims
        .iter()
        .filter(|r| channel_id(&r.voucher.channel.to_sol(), chain_id) == id)
        .map(|r| U256::from(r.total_claimed))
        .fold(pre.total_claimed, U256::max);
    let refundable = U256::from(amount).min(pre.balance.saturating_sub(claimed_after));
    if refundable.is_zero() {
        return Err(bad(
            Reason::InvalidBatchSettlementEvmRefundNoBalance,
            "nothing left to refund",
        ));
    }
    if nonce != pre.refund_nonce {
        return Err(TxFail::Failed(Error::new(
            codes::REFUND_SIMULATION_FAILED,
            format!(
                "invalid_batch_settlement_evm_refund_simulation_failed: refundNonce {nonce} is not the channel's {}",
                pre.refund_nonce
            ),
        )));
    }
    let sol_config = config.to_sol();
    let (data, gas) = match claim_signature {
        Some(claim_signature) => (
            calls::refund_multicall(
                claims,
                claim_signature,
                &sol_config,
                amount,
                nonce,
                refund_signature,
            ),
            REFUND_GAS.saturating_add(claim_gas(claims.len())),
        ),
        None => (
            calls::refund_with_signature_calldata(&sol_config, amount, nonce, refund_signature),
            REFUND_GAS,
        ),
    };
    let hash = simulate_and_send(
        env,
        url,
        timeout,
        chain_id,
        &data,
        gas,
        "refund",
        (
            codes::REFUND_SIMULATION_FAILED,
            codes::REFUND_TRANSACTION_FAILED,
        ),
    )
    .await?;
    let next_nonce = nonce.saturating_add(U256::from(1u8));
    let computed = ChannelState {
        channel_id: id,
        balance: pre.balance.saturating_sub(refundable),
        total_claimed: claimed_after,
        withdraw_requested_at: pre.withdraw_requested_at,
        refund_nonce: next_nonce,
        charged_cumulative_amount: None,
    };
    if pre.withdraw_requested_at == 0 {
        return Ok((hash, computed));
    }
    let state = match poll_state(url, chain_id, id, |s| s.refund_nonce >= next_nonce).await {
        Some(s) if s.refund_nonce >= next_nonce => s,
        _ => computed,
    };
    Ok((hash, state))
}
