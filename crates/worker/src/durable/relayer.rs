//! The relayer, one Durable Object for the relayer key: the one place that assigns the key's
//! account nonces (by `x402_core::gate::relayer::next_nonce`), signs EIP-1559 transactions and
//! broadcasts them.

use crate::chain::{quantity, rpc, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};
use x402_core::evm::signer::LocalSigner;
use x402_core::evm::tx::Eip1559Tx;
use x402_core::{Address, Bytes, U256};

/// Name of the relayer key secret.
pub(crate) const RELAYER_KEY: &str = "X402_RELAYER_KEY";

/// A request to the relayer: send `data` to `to` on `chain_id`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendTx {
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
    /// Callee (0x hex).
    pub(crate) to: String,
    /// Calldata (0x hex).
    pub(crate) data: String,
    pub(crate) gas_limit: u64,
}

/// The relayer's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub(crate) enum SendResult {
    /// Accepted by the node.
    Sent { hash: String },
    /// Signed and sent, but no answer came back: the outcome is unknown.
    Unknown { hash: String, message: String },
    /// Refused; nothing was broadcast.
    Refused { message: String },
}

/// The relayer: account nonces for the relayer key, assigned in one place.
#[durable_object]
pub struct Relayer {
    env: Env,
    /// Next nonce per chain.
    next: RefCell<HashMap<u64, u64>>,
    /// Nonces handed out whose transaction was refused (reused first, so no gap stalls the
    /// queue).
    free: RefCell<HashMap<u64, BTreeSet<u64>>>,
    /// Broadcasts awaiting the node's answer right now.
    in_flight: Cell<u32>,
    /// Broadcasts answered (or failed) so far: tells whether one ended during a nonce query.
    broadcasts: Cell<u64>,
    /// The relayer key (as the secret reads) and its signer.
    signer: RefCell<Option<(String, LocalSigner)>>,
}

impl Relayer {
    fn take_nonce(&self, chain_id: u64) -> Option<u64> {
        if let Some(n) = self
            .free
            .borrow_mut()
            .get_mut(&chain_id)
            .and_then(|f| f.pop_first())
        {
            return Some(n);
        }
        let mut next = self.next.borrow_mut();
        let n = next.get_mut(&chain_id)?;
        let out = *n;
        *n += 1;
        Some(out)
    }

    /// Brings the nonce counter in line with the node's pending transaction count, by the rule
    /// of `x402_core::gate::relayer::next_nonce`: follow the node when it is ahead; when it is behind
    /// (a broadcast with an unknown outcome never reached it), go back to its count so no
    /// permanent gap stalls later transactions — only if no broadcast of ours was in flight or
    /// ended while the count was read (it might not be counted yet).
    async fn sync_nonce(
        &self,
        req: &SendTx,
        relayer: Address,
    ) -> std::result::Result<(), RpcError> {
        let quiet_before = self.in_flight.get() == 0;
        let seen = self.broadcasts.get();
        let count = rpc(
            &req.rpc_url,
            "eth_getTransactionCount",
            json!([relayer.to_string(), "pending"]),
        )
        .await?;
        let count = quantity(&count, "eth_getTransactionCount")? as u64;
        // No await from here on: the decision and the update are one step.
        let quiet = quiet_before && self.in_flight.get() == 0 && self.broadcasts.get() == seen;
        let mut next = self.next.borrow_mut();
        let ours = next.get(&req.chain_id).copied();
        let n = x402_core::gate::relayer::next_nonce(ours, count, quiet);
        if ours != Some(n) {
            if ours.is_some() {
                worker::console_log!(
                    "relayer: chain {} nonce {} -> {n} (node pending count {count})",
                    req.chain_id,
                    ours.unwrap_or_default()
                );
            }
            next.insert(req.chain_id, n);
            // Refused nonces to reuse lie below our old counter: when the node is ahead they
            // are taken; when we go back, every nonce from `n` on is assigned in order again.
            self.free.borrow_mut().remove(&req.chain_id);
        }
        Ok(())
    }

    /// The relayer key's signer, parsed once per instance (deriving its address is a scalar
    /// multiplication) and again only when the secret changes.
    fn signer(&self) -> std::result::Result<LocalSigner, String> {
        let key = self
            .env
            .secret(RELAYER_KEY)
            .map(|s| s.to_string())
            .map_err(|e| e.to_string())?;
        if let Some((k, s)) = self.signer.borrow().as_ref() {
            if *k == key {
                return Ok(s.clone());
            }
        }
        let signer = LocalSigner::from_hex(key.trim()).map_err(|e| e.to_string())?;
        *self.signer.borrow_mut() = Some((key, signer.clone()));
        Ok(signer)
    }

    async fn send(&self, req: &SendTx) -> SendResult {
        let signer = match self.signer() {
            Ok(s) => s,
            Err(e) => {
                return SendResult::Refused {
                    message: format!("relayer key {RELAYER_KEY}: {e}"),
                }
            }
        };
        let refused = |e: RpcError| SendResult::Refused {
            message: e.message(),
        };
        let (Ok(to), Ok(data)) = (req.to.parse::<Address>(), req.data.parse::<Bytes>()) else {
            return SendResult::Refused {
                message: "bad transaction fields".into(),
            };
        };
        // Every assignment checks the node's count first (one cheap call): see sync_nonce. The
        // gas price is read at the same time (one round trip instead of two; two requests, not
        // one JSON-RPC batch, so each stays a call of its own for the node and for tests that
        // fail one method).
        let (synced, gas_price) = futures_util::future::join(
            self.sync_nonce(req, signer.address()),
            rpc(&req.rpc_url, "eth_gasPrice", json!([])),
        )
        .await;
        if let Err(e) = synced {
            return refused(e);
        }
        let gas_price = match gas_price {
            Ok(v) => match quantity(&v, "eth_gasPrice") {
                Ok(p) => p,
                Err(e) => return refused(e),
            },
            Err(e) => return refused(e),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(nonce) = self.take_nonce(req.chain_id) else {
                return SendResult::Refused {
                    message: "relayer nonce not initialised".into(),
                };
            };
            let tx = Eip1559Tx {
                chain_id: req.chain_id,
                nonce,
                max_priority_fee_per_gas: gas_price.min(1_000_000_000),
                max_fee_per_gas: gas_price.saturating_mul(2).max(1),
                gas_limit: req.gas_limit,
                to,
                value: U256::ZERO,
                data: data.clone(),
            };
            let (raw, hash) = match tx.sign(&signer) {
                Ok(x) => x,
                Err(e) => {
                    return SendResult::Refused {
                        message: e.to_string(),
                    }
                }
            };
            let hash = hash.to_string();
            self.in_flight.set(self.in_flight.get() + 1);
            let answer = rpc(
                &req.rpc_url,
                "eth_sendRawTransaction",
                json!([raw.to_string()]),
            )
            .await;
            self.in_flight.set(self.in_flight.get() - 1);
            self.broadcasts.set(self.broadcasts.get() + 1);
            match answer {
                Ok(_) => return SendResult::Sent { hash },
                Err(RpcError::Unreachable(m)) => {
                    return SendResult::Unknown { hash, message: m };
                }
                Err(RpcError::Node(m)) => {
                    let lower = m.to_lowercase();
                    let nonce_clash = lower.contains("nonce too low")
                        || lower.contains("already known")
                        || lower.contains("replacement");
                    if nonce_clash && attempts < 4 {
                        // Someone else used this nonce (another relayer instance, a manual
                        // transaction): resynchronise and try the next one.
                        if let Err(e) = self.sync_nonce(req, signer.address()).await {
                            return refused(e);
                        }
                        continue;
                    }
                    if !nonce_clash {
                        self.free
                            .borrow_mut()
                            .entry(req.chain_id)
                            .or_default()
                            .insert(nonce);
                    }
                    return SendResult::Refused { message: m };
                }
            }
        }
    }
}

impl DurableObject for Relayer {
    fn new(_state: State, env: Env) -> Self {
        Self {
            env,
            next: RefCell::new(HashMap::new()),
            free: RefCell::new(HashMap::new()),
            in_flight: Cell::new(0),
            broadcasts: Cell::new(0),
            signer: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let send: SendTx = req.json().await?;
        Response::from_json(&self.send(&send).await)
    }
}
