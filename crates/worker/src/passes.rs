//! Access passes at the edge: the passes a request presents (header and cookie), and the pass
//! issued with a paid answer (`x402_core::gate::pass`).

use crate::respond::{PASS_COOKIE, PASS_HEADER};
use crate::{App, Ctx};
use worker::Request;
use x402_core::gate::config::Route;
use x402_core::gate::pass::{self, PassClaims};
use x402_core::{Address, B256};

/// The access pass for `ctx.path`, when the route issues passes: as a header and as a cookie
/// scoped to the resource path, expiring `passLifetimeSeconds` after the payment at `paid_at`
/// (a retry gets a pass that ends when the first did).
pub(crate) fn pass_headers(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    payer: Address,
    transaction: B256,
    paid_at: u64,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let expires = paid_at.saturating_add(route.pass_lifetime_seconds);
    if let (Some(secret), true) = (
        app.pass_secrets.first(),
        route.pass_lifetime_seconds > 0 && expires > ctx.now,
    ) {
        let claims = PassClaims {
            path: ctx.path.clone(),
            payer,
            transaction,
            expires,
        };
        if let Ok(p) = pass::issue(secret, &claims) {
            out.push((
                "Set-Cookie",
                format!(
                    "{PASS_COOKIE}={p}; Path={}; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
                    x402_core::gate::path::encode(&ctx.path),
                    expires - ctx.now
                ),
            ));
            out.push((PASS_HEADER, p));
        }
    }
    out
}

/// Passes presented in the `X-PAYMENT-PASS` header and in `x402_pass` cookies.
pub(crate) fn presented(req: &Request) -> Vec<String> {
    let get = |n: &str| req.headers().get(n).ok().flatten();
    presented_in(get(PASS_HEADER).as_deref(), get("Cookie").as_deref())
}

/// [`presented`] from the pass header's and the `Cookie` header's values.
pub(crate) fn presented_in(pass_header: Option<&str>, cookies: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = pass_header {
        out.push(h.trim().to_string());
    }
    if let Some(cookies) = cookies {
        for c in cookies.split(';') {
            if let Some((k, v)) = c.trim().split_once('=') {
                if k == PASS_COOKIE {
                    out.push(v.to_string());
                }
            }
        }
    }
    out.truncate(8);
    out
}
