//! JSON-RPC over `fetch`: the on-chain checks before settling (balance, `authorizationState`,
//! ERC-1271) and the receipt wait. Calldata and decoding come from `x402_core::evm::tx`.

use crate::body::{read_response, BodyError, UPSTREAM_LIMIT};
use serde_json::{json, Value};
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};
use x402_core::evm::tx;
use x402_core::scheme::exact::verify::VerifiedPayment;
use x402_core::{Address, Bytes, Error, Reason, B256, U256};

/// A JSON-RPC failure: the node could not be reached, or it answered with an error.
#[derive(Debug, Clone)]
pub(crate) enum RpcError {
    /// No answer (connection refused, DNS, HTTP error, bad JSON): outcome unknown.
    Unreachable(String),
    /// The node answered with a JSON-RPC error.
    Node(String),
}

impl RpcError {
    pub(crate) fn message(&self) -> String {
        match self {
            RpcError::Unreachable(m) => format!("JSON-RPC unreachable: {m}"),
            RpcError::Node(m) => format!("JSON-RPC error: {m}"),
        }
    }
}

/// What a client is told when the node gives no usable answer. The RPC URL itself (which
/// usually carries a provider's API key) and the transport's error text only go to the
/// Worker's log, never into a response.
const UNREACHABLE: &str =
    "no usable answer from the chain's JSON-RPC endpoint (details in the Worker log)";

/// Sends one JSON-RPC request. Failures are logged with the URL; the error carries none.
pub(crate) async fn rpc(url: &str, method: &str, params: Value) -> Result<Value, RpcError> {
    let v = post(url, method, request(method, params)).await?;
    answer(&v, method)
}

/// One JSON-RPC request's body.
fn request(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// The result of one JSON-RPC answer object (its `error` as [`RpcError::Node`]).
fn answer(v: &Value, method: &str) -> Result<Value, RpcError> {
    if let Some(err) = v.get("error") {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(RpcError::Node(format!("{method}: {msg}")));
    }
    Ok(v.get("result").cloned().unwrap_or(Value::Null))
}

/// Several JSON-RPC requests in one HTTP request (a JSON-RPC 2.0 batch,
/// https://www.jsonrpc.org/specification#batch): one subrequest instead of one each, the answers
/// in the calls' order. A node that does not answer a batch as one (an answer that is not an
/// array with every id) gets the calls one by one, all at once.
pub(crate) async fn rpc_batch(
    url: &str,
    calls: Vec<(&str, Value)>,
) -> Vec<Result<Value, RpcError>> {
    let body = Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| {
                json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
            })
            .collect(),
    )
    .to_string();
    let label = calls.iter().map(|(m, _)| *m).collect::<Vec<_>>().join("+");
    let answers = match post(url, &label, body).await {
        Ok(Value::Array(answers)) => answers,
        Ok(_) => Vec::new(),
        Err(e) => return calls.iter().map(|_| Err(e.clone())).collect(),
    };
    let by_id = |i: usize| {
        answers
            .iter()
            .find(|a| a.get("id").and_then(Value::as_u64) == Some(i as u64))
    };
    if (0..calls.len()).all(|i| by_id(i).is_some()) {
        return calls
            .iter()
            .enumerate()
            .map(|(i, (method, _))| answer(by_id(i).unwrap_or(&Value::Null), method))
            .collect();
    }
    futures_util::future::join_all(
        calls
            .into_iter()
            .map(|(method, params)| rpc(url, method, params)),
    )
    .await
}

/// POSTs a JSON-RPC body; the answer as JSON. `label` names the call(s) in the log.
async fn post(url: &str, label: &str, body: String) -> Result<Value, RpcError> {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let unreachable = |why: &dyn std::fmt::Display| {
        worker::console_error!("x402-worker: JSON-RPC {label} on {url}: {why}");
        RpcError::Unreachable(format!("{label}: {UNREACHABLE}"))
    };
    let req = Request::new_with_init(url, &init).map_err(|e| unreachable(&e))?;
    let res = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    if res.status_code() >= 400 {
        return Err(unreachable(&format_args!("HTTP {}", res.status_code())));
    }
    let text = match read_response(res, UPSTREAM_LIMIT).await {
        Ok(t) => t,
        Err(BodyError::TooLarge) => {
            return Err(unreachable(&format_args!(
                "answer over {UPSTREAM_LIMIT} bytes"
            )))
        }
        Err(BodyError::Failed(e)) => return Err(unreachable(&e)),
    };
    serde_json::from_slice(&text).map_err(|e| unreachable(&e))
}

/// What `eth_sendRawTransactionSync` (EIP-7966: the node answers with the receipt once the
/// transaction is mined) said.
pub(crate) enum SyncSend {
    /// Mined: succeeded (`true`) or reverted.
    Mined(bool),
    /// Accepted, not mined within the node's own wait (EIP-7966 error code 4), or an answer
    /// without a receipt: broadcast, outcome to be read.
    Pending,
}

/// Whether the node at `url` offers `eth_sendRawTransactionSync`: it answers an undecodable
/// transaction with a JSON-RPC error other than -32601 (method not found). Anything else (that
/// code, an HTTP error, no answer) says no, and the relayer keeps to `eth_sendRawTransaction`.
pub(crate) async fn offers_sync_send(url: &str) -> bool {
    let body = request("eth_sendRawTransactionSync", json!(["0x00"]));
    match post(url, "eth_sendRawTransactionSync probe", body).await {
        Ok(v) => v
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64)
            .is_some_and(|code| code != -32601),
        Err(_) => false,
    }
}

/// Broadcasts `raw` with `eth_sendRawTransactionSync` and reads the receipt it answers with.
/// A JSON-RPC error is the node's refusal (as `eth_sendRawTransaction`'s: not in its pool),
/// except EIP-7966's code 4 (in the pool, not mined in time) and an answer that speaks of a
/// timeout, which are [`SyncSend::Pending`]: on the safe side, a transaction that may be in the
/// pool is never taken for refused.
pub(crate) async fn send_raw_sync(url: &str, raw: &str) -> Result<SyncSend, RpcError> {
    const METHOD: &str = "eth_sendRawTransactionSync";
    let v = post(url, METHOD, request(METHOD, json!([raw]))).await?;
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        if err.get("code").and_then(Value::as_i64) == Some(4)
            || message.contains("timeout")
            || message.contains("timed out")
        {
            return Ok(SyncSend::Pending);
        }
        return answer(&v, METHOD).map(|_| SyncSend::Pending);
    }
    Ok(
        match v
            .get("result")
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str)
        {
            Some(status) => SyncSend::Mined(status == "0x1"),
            None => SyncSend::Pending,
        },
    )
}

fn hex_bytes(v: &Value, what: &str) -> Result<Vec<u8>, RpcError> {
    v.as_str()
        .and_then(|s| s.parse::<Bytes>().ok())
        .map(|b| b.to_vec())
        .ok_or_else(|| RpcError::Node(format!("{what}: not hex: {v}")))
}

/// Parses a JSON-RPC quantity (`0x1a`).
pub(crate) fn quantity(v: &Value, what: &str) -> Result<u128, RpcError> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .ok_or_else(|| RpcError::Node(format!("{what}: not a quantity: {v}")))
}

pub(crate) async fn call(
    url: &str,
    to: &str,
    data: &Bytes,
    what: &str,
) -> Result<Vec<u8>, RpcError> {
    let r = rpc(
        url,
        "eth_call",
        json!([{"to": to, "data": data.to_string()}, "latest"]),
    )
    .await?;
    hex_bytes(&r, what)
}

/// Maps an RPC failure during verification to an x402 error.
pub(crate) fn verify_error(e: &RpcError) -> Error {
    Error::new(Reason::UnexpectedVerifyError, e.message())
}

/// The on-chain half of a [`x402_core::scheme::exact::verify::Verdict::NeedsOnChainCheck`]: `from` must be a
/// deployed contract whose ERC-1271 `isValidSignature(digest, signature)` accepts the
/// signature (a longer smart-wallet signature, or a 65-byte one by the wallet's owner key),
/// as USDC's own check does for contract signers.
pub(crate) async fn check_contract_signature(url: &str, p: &VerifiedPayment) -> Result<(), Error> {
    let a = &p.authorization;
    match erc1271_accepts(url, a.from, p.digest, p.signature.clone()).await? {
        Some(true) => Ok(()),
        Some(false) => Err(Error::new(
            Reason::InvalidExactEvmSignature,
            format!("isValidSignature on {} rejected the signature", a.from),
        )),
        None if p.signature.len() == 65 => Err(Error::new(
            Reason::InvalidExactEvmSignature,
            format!(
                "the signature does not recover to authorization.from {}, which has no code (not a contract wallet)",
                a.from
            ),
        )),
        None => Err(Error::new(
            Reason::InvalidExactEvmPayloadUndeployedSmartWallet,
            format!(
                "{} has no code: a smart-wallet signature needs a deployed wallet",
                a.from
            ),
        )),
    }
}

/// Whether the contract at `address` accepts `signature` for `digest` (EIP-1271
/// `isValidSignature` returns its magic value; a revert is a refusal); `None` when no code is
/// deployed there. An RPC failure is `unexpected_verify_error`.
pub(crate) async fn erc1271_accepts(
    url: &str,
    address: Address,
    digest: B256,
    signature: Bytes,
) -> Result<Option<bool>, Error> {
    let code = rpc(url, "eth_getCode", json!([address.to_string(), "latest"]))
        .await
        .map_err(|e| verify_error(&e))?;
    if code.as_str().is_none_or(|c| c == "0x" || c.is_empty()) {
        return Ok(None);
    }
    let data = tx::is_valid_signature_calldata(digest, signature);
    match call(url, &address.to_string(), &data, "isValidSignature").await {
        Ok(ret) => Ok(Some(tx::is_erc1271_magic(&ret))),
        Err(RpcError::Node(_)) => Ok(Some(false)), // reverted
        Err(e) => Err(verify_error(&e)),
    }
}

/// The on-chain checks of a verified payment: nonce unused, balance covers the value.
pub(crate) async fn check_payment(url: &str, p: &VerifiedPayment) -> Result<U256, Error> {
    let token = p.requirement.asset.to_string();
    let a = &p.authorization;
    // Both reads in one JSON-RPC batch (one subrequest and one round trip instead of two);
    // judged in the same order as before.
    let nonce_data = tx::authorization_state_calldata(a.from, a.nonce);
    let balance_data = tx::balance_of_calldata(a.from);
    let call_of = |data: &Bytes| json!([{"to": token, "data": data.to_string()}, "latest"]);
    let mut answers = rpc_batch(
        url,
        vec![
            ("eth_call", call_of(&nonce_data)),
            ("eth_call", call_of(&balance_data)),
        ],
    )
    .await
    .into_iter();
    let mut next = |what: &str| {
        answers
            .next()
            .unwrap_or_else(|| Err(RpcError::Node(format!("{what}: no answer"))))
            .and_then(|r| hex_bytes(&r, what))
    };
    let used = next("authorizationState");
    let bal = next("balanceOf");
    let used = used.map_err(|e| verify_error(&e))?;
    if tx::decode_bool(&used, "authorizationState")? {
        return Err(Error::new(
            Reason::InvalidExactEvmNonceAlreadyUsed,
            format!(
                "authorization nonce {} of {} is already used on chain",
                a.nonce, a.from
            ),
        ));
    }
    let bal = bal.map_err(|e| verify_error(&e))?;
    let balance = tx::decode_uint(&bal, "balanceOf")?;
    if balance < a.value {
        return Err(Error::new(
            Reason::InvalidExactEvmInsufficientBalance,
            format!("balance {balance} of {} is below {}", a.from, a.value),
        ));
    }
    Ok(balance)
}

/// The outcome of waiting for a receipt.
pub(crate) enum Receipt {
    Success,
    Reverted,
    Unknown,
}

/// Polls for a receipt until `timeout_ms` has passed.
pub(crate) async fn wait_receipt(url: &str, hash: &B256, timeout_ms: u64) -> Receipt {
    let start = worker::Date::now().as_millis();
    // The first retry comes soon: a node that mines at once (anvil) or a fast chain has the
    // receipt within milliseconds, and a 50 ms first sleep was then most of a payment's time.
    // Doubling keeps the number of polls on a slow chain about the same (10, 20, 40, … 1000 ms).
    let mut delay = 10u64;
    loop {
        if let Ok(r) = rpc(url, "eth_getTransactionReceipt", json!([hash.to_string()])).await {
            if let Some(status) = r.get("status") {
                return if status.as_str() == Some("0x1") {
                    Receipt::Success
                } else {
                    Receipt::Reverted
                };
            }
        }
        if worker::Date::now().as_millis().saturating_sub(start) >= timeout_ms {
            return Receipt::Unknown;
        }
        Delay::from(std::time::Duration::from_millis(delay)).await;
        delay = (delay * 2).min(1000);
    }
}
