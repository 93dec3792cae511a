//! # x402-worker
//!
//! The edge paywall: a Cloudflare Worker (workers-rs) that answers unpaid requests to priced
//! routes with an x402 402 challenge and verifies payments in the Worker with [`x402_core`].
//! Route configuration, settlement, the replay guard and access passes are built on this.

use worker::{event, Context, Env, Request, Response, Result};

/// The Worker's fetch handler.
#[event(fetch)]
pub async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    if path == "/health" {
        return Response::from_json(&serde_json::json!({
            "ok": true,
            "x402Versions": [1, 2],
            "core": env!("CARGO_PKG_VERSION"),
        }));
    }
    Response::error("Not Found", 404)
}
