//! The operator's status endpoint, `GET /.well-known/x402/status` (crates/worker/README.md,
//! "Scale"): each relayer key's address, gas balance and unmined transactions, and with
//! `?payer=0x…` the number of entries that payer's replay guard holds. Only with the secret
//! `X402_STATUS_TOKEN` as a bearer token; without that secret the path does not exist.

use crate::durable::call::{durable_call, GUARD_BINDING, RELAYER_BINDING};
use crate::durable::{object_name, GuardOp, KeyStatus, RelayerOp};
use crate::{respond, App, Ctx};
use serde_json::{json, Value};
use worker::{Env, Request, Response};
use x402_core::gate::config::Settlement;
use x402_core::Address;

/// The endpoint's path.
pub(crate) const PATH: &str = "/.well-known/x402/status";
/// Secret: the bearer token of the status endpoint.
pub(crate) const STATUS_TOKEN: &str = "X402_STATUS_TOKEN";

/// The answer for [`PATH`], or `None` when the endpoint is off (no secret): the request then
/// goes on like any other.
pub(crate) async fn handle(app: &App, ctx: &Ctx, req: &Request, env: &Env) -> Option<Response> {
    let token = env.secret(STATUS_TOKEN).ok()?.to_string();
    let origin = &app.config.cors_allow_origin;
    let given = req.headers().get("authorization").ok().flatten();
    let expected = format!("Bearer {}", token.trim());
    let same = given.as_deref().is_some_and(|g| {
        g.len() == expected.len()
            && g.bytes()
                .zip(expected.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
    });
    if !same {
        return Some(respond::json_response(
            401,
            &json!({"error": "unauthorized", "message": "the status endpoint needs Authorization: Bearer <X402_STATUS_TOKEN>"}),
            origin,
        ));
    }
    let mut body = json!({});
    if let Settlement::SelfSettle {
        rpc_url,
        relayer_keys,
        gas_limit,
        ..
    } = &app.config.settlement
    {
        let keys = futures_util::future::join_all((1..=*relayer_keys).map(|k| {
            let (name, op) = (
                object_name(k),
                RelayerOp::Status {
                    rpc_url: rpc_url.clone(),
                    key: k,
                    gas_limit: *gas_limit,
                },
            );
            async move { durable_call::<KeyStatus>(env, RELAYER_BINDING, &name, &op).await }
        }))
        .await;
        body["relayers"] = Value::Array(
            keys.into_iter()
                .zip(1..)
                .map(|(s, k): (_, u32)| match s {
                    Ok(s) => serde_json::to_value(s).unwrap_or(Value::Null),
                    Err(e) => json!({"index": k, "error": e.to_string()}),
                })
                .collect(),
        );
    }
    let payer = ctx
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("payer="))
        .map(str::to_string);
    if let Some(payer) = payer {
        let Ok(payer) = payer.parse::<Address>() else {
            return Some(respond::json_response(
                400,
                &json!({"error": "invalid_request", "message": "payer: not an address"}),
                origin,
            ));
        };
        // The guard of the payer for the first network's token of the first route.
        let option = app.config.routes.iter().flat_map(|r| &r.options).next();
        if let Some((chain_id, asset)) = option.and_then(|o| Some((o.network.chain_id()?, o.asset)))
        {
            let name = x402_core::gate::replay::payer_key(chain_id, asset, payer);
            body["guard"] =
                match durable_call::<Value>(env, GUARD_BINDING, &name, &GuardOp::Count).await {
                    Ok(v) => v,
                    Err(e) => json!({"error": e.to_string()}),
                };
        }
    }
    Some(respond::json_response(200, &body, origin))
}
