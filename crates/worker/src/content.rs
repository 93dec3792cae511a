//! Fetching content: from the static-assets binding or an origin, always for the
//! *normalised* path (so the origin never sees a spelling the gate did not judge), without the
//! payment headers.

use crate::respond;
use crate::{App, Ctx};
use worker::{Env, Fetch, Headers, Request, RequestInit, Response};
use x402_core::gate::config::{ContentSource, Route};
use x402_core::{Error, Reason};

const DROPPED: [&str; 5] = [
    "payment-signature",
    "x-payment",
    "x-payment-pass",
    "host",
    "content-length",
];

/// A `Cookie` header value without the paywall's pass cookie.
fn without_pass_cookie(cookies: &str) -> String {
    cookies
        .split(';')
        .map(str::trim)
        .filter(|c| {
            !c.is_empty() && c.split_once('=').map_or(*c, |(k, _)| k).trim() != respond::PASS_COOKIE
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fetches the paid content of `ctx.path` (plus the query) for `req` on a priced route: a
/// successful answer is never storable by a shared cache (`paidCacheControl`), whatever the
/// origin or the assets binding said.
pub(crate) async fn fetch(
    app: &App,
    route: &Route,
    req: &Request,
    env: &Env,
    ctx: &Ctx,
) -> Response {
    let source = route.content.as_ref().unwrap_or(&app.config.content);
    let paid = [("Cache-Control", app.config.paid_cache_control.clone())];
    fetch_from(source, req, env, ctx, &app.config.cors_allow_origin, &paid).await
}

/// Fetches from a content source; `extra` headers are set on an answer below 400.
pub(crate) async fn fetch_from(
    source: &ContentSource,
    req: &Request,
    env: &Env,
    ctx: &Ctx,
    allow_origin: &str,
    extra: &[(&str, String)],
) -> Response {
    let suffix = ctx.target();
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        let name = k.to_ascii_lowercase();
        if DROPPED.contains(&name.as_str()) {
            continue;
        }
        if name == "cookie" {
            // The pass cookie is the paywall's, never the origin's: the other cookies go on.
            let rest = without_pass_cookie(&v);
            if !rest.is_empty() {
                let _ = headers.append(&k, &rest);
            }
            continue;
        }
        let _ = headers.append(&k, &v);
    }
    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers);
    if !matches!(method, worker::Method::Get | worker::Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    // The origin's URL may carry a key: the details go to the log, not to the client.
    let fail = |what: String| {
        worker::console_error!("content unavailable: {what}");
        respond::reject(
            502,
            &Error::new(
                Reason::InvalidRequest,
                "content unavailable: the origin or the assets binding gave no answer (details in the Worker log)",
            ),
            allow_origin,
        )
    };
    let result = match source {
        ContentSource::Assets { binding } => {
            let url = format!("{}{suffix}", ctx.origin);
            let fetcher = match env.assets(binding) {
                Ok(f) => f,
                Err(e) => return fail(format!("assets binding {binding}: {e}")),
            };
            match Request::new_with_init(&url, &init) {
                Ok(r) => fetcher.fetch_request(r).await,
                Err(e) => Err(e),
            }
        }
        ContentSource::Origin { url } => {
            let target = format!("{url}{suffix}");
            match Request::new_with_init(&target, &init) {
                Ok(r) => Fetch::Request(r).send().await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(res) => {
            let extra = if res.status_code() < 400 { extra } else { &[] };
            respond::with_headers(res, extra, allow_origin)
        }
        Err(e) => fail(e.to_string()),
    }
}
