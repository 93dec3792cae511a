//! # x402-worker
//!
//! The edge paywall: a Cloudflare Worker (workers-rs) in front of static assets or an origin,
//! pricing routes from `wrangler.toml` and verifying x402 payments in the Worker with
//! [`x402_core`]. It settles through a facilitator or by itself (EIP-3009
//! `transferWithAuthorization` from a relayer key over JSON-RPC), guards against replays with
//! a Durable Object, hands out access passes, and also answers the facilitator endpoints.
//! The operator guide is `crates/worker/README.md`.
//!
//! This crate is the binding: protocol logic (configuration, path normalisation, verification,
//! transactions, passes, the replay rules) lives in `x402-core`.

mod batch;
mod body;
mod chain;
mod content;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented glue
mod durable;
mod facilitator;
mod gate;
mod passes;
mod receipts;
mod respond;
mod settle;
mod sign_in;
mod status;
mod timing;

pub use batch::channel::Channel;
pub use durable::{Relayer, ReplayGuard};

use std::{cell::RefCell, rc::Rc};
use worker::{event, Context, Env, Request, Response, Result};
use x402_core::gate::config::{Config, ContentSource};
use x402_core::{Error, Reason};

/// Name of the configuration variable (a `[vars.X402]` table in `wrangler.toml`).
const CONFIG_VAR: &str = "X402";
/// Secret keying access passes (at least 16 bytes); passes are off without it.
const PASS_SECRET: &str = "X402_PASS_SECRET";
/// The previous pass secret during a rotation: its passes are still honoured until they
/// expire, new ones are signed with [`PASS_SECRET`].
const PASS_SECRET_PREVIOUS: &str = "X402_PASS_SECRET_PREVIOUS";
/// The `batch-settlement` receiver authorizer's key: signs claims and refunds of the channels
/// this Worker serves (its address is the offers' `extra.receiverAuthorizer`).
const RECEIVER_AUTHORIZER_KEY: &str = "X402_RECEIVER_AUTHORIZER_KEY";

/// The configuration and secrets of this Worker.
pub(crate) struct App {
    pub(crate) config: Config,
    /// Pass secrets: the current one (signs), then the previous one (still verifies).
    pub(crate) pass_secrets: Vec<Vec<u8>>,
    /// The `batch-settlement` receiver authorizer (when batch-settlement is configured).
    pub(crate) receiver_authorizer: Option<x402_core::evm::signer::LocalSigner>,
    /// Signed offers and receipts (on with the secret `X402_RECEIPT_KEY`).
    pub(crate) receipts: Option<receipts::Receipts>,
}

/// What a request is, once normalised.
pub(crate) struct Ctx {
    /// Normalised path.
    pub(crate) path: String,
    /// Raw query string, if any.
    pub(crate) query: Option<String>,
    /// `scheme://host[:port]`.
    pub(crate) origin: String,
    /// The resource URL put in challenges: origin + normalised path.
    pub(crate) resource_url: String,
    /// Request time, unix seconds.
    pub(crate) now: u64,
}

impl Ctx {
    /// The resource a payment is for: the normalised path and the query.
    pub(crate) fn resource(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The request target to fetch or name: the path, percent-encoded, and the query.
    pub(crate) fn target(&self) -> String {
        let path = x402_core::gate::path::encode(&self.path);
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }
}

thread_local! {
    /// The configuration as parsed for this isolate, with the exact inputs it came from: parsing
    /// (JSON, prices, EIP-55 addresses, the relayer key) happens once per isolate and again only
    /// if an input changes, instead of on every request.
    static LOADED: RefCell<Option<(String, Rc<App>)>> = const { RefCell::new(None) };
}

thread_local! {
    /// The engine values [`LOADED`]'s inputs were read from (the `X402` variable, then each
    /// secret of [`SECRET_NAMES`]): when every one is the same value again (`Object.is`: the
    /// same object, or an equal string), the parsed configuration is reused without
    /// stringifying the variable and copying it and the secrets into wasm on every request.
    static SEEN: RefCell<Option<(Vec<worker::wasm_bindgen::JsValue>, Rc<App>)>> = const { RefCell::new(None) };
}

/// The secrets [`load`] reads, in its key's order.
const SECRET_NAMES: [&str; 5] = [
    PASS_SECRET,
    PASS_SECRET_PREVIOUS,
    durable::RELAYER_KEY,
    facilitator::ENDPOINT_TOKEN,
    RECEIVER_AUTHORIZER_KEY,
];

/// The configuration and secrets, parsed once per isolate (see [`LOADED`] and [`SEEN`]).
pub(crate) fn load(env: &Env) -> std::result::Result<Rc<App>, Error> {
    let inputs: Vec<worker::wasm_bindgen::JsValue> = std::iter::once(CONFIG_VAR)
        .chain(SECRET_NAMES)
        .map(|name| worker::js_sys::Reflect::get(env, &name.into()).unwrap_or_default())
        .collect();
    let same = |seen: &[worker::wasm_bindgen::JsValue]| {
        seen.len() == inputs.len()
            && seen
                .iter()
                .zip(&inputs)
                .all(|(a, b)| worker::js_sys::Object::is(a, b))
    };
    if let Some(app) = SEEN.with_borrow(|s| {
        s.as_ref()
            .filter(|(seen, _)| same(seen))
            .map(|(_, a)| a.clone())
    }) {
        return Ok(app);
    }
    let app = load_text(env)?;
    SEEN.with_borrow_mut(|s| *s = Some((inputs, app.clone())));
    Ok(app)
}

/// [`load`] by the text of its inputs.
fn load_text(env: &Env) -> std::result::Result<Rc<App>, Error> {
    // A table in [vars] arrives as an object; a string holding JSON is accepted too
    // (`wrangler dev --var X402:'{...}'`, generated test configs). The engine's own
    // JSON.stringify gives the text the cache is keyed by: no Rust-side conversion per request.
    let value = worker::js_sys::Reflect::get(env, &CONFIG_VAR.into()).unwrap_or_default();
    let raw = match value.as_string() {
        Some(text) => text,
        None if value.is_object() => worker::js_sys::JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default(),
        None => {
            return Err(Error::new(
                Reason::InvalidConfig,
                format!("{CONFIG_VAR}: missing or not a table in [vars]"),
            ))
        }
    };
    let pass_secret = env.secret(PASS_SECRET).ok().map(|s| s.to_string());
    let pass_previous = env.secret(PASS_SECRET_PREVIOUS).ok().map(|s| s.to_string());
    let relayer_key = env.secret(durable::RELAYER_KEY).ok().map(|s| s.to_string());
    let endpoint_token = env
        .secret(facilitator::ENDPOINT_TOKEN)
        .ok()
        .map(|s| s.to_string());
    let authorizer_key = env
        .secret(RECEIVER_AUTHORIZER_KEY)
        .ok()
        .map(|s| s.to_string());
    let receipt_key = env.secret(receipts::KEY_SECRET).ok().map(|s| s.to_string());
    let mut key = raw.clone();
    for part in [
        &pass_secret,
        &pass_previous,
        &relayer_key,
        &endpoint_token,
        &authorizer_key,
        &receipt_key,
    ] {
        key.push('\0');
        key.push_str(part.as_deref().unwrap_or("\u{1}"));
    }
    if let Some(app) = LOADED.with_borrow(|l| {
        l.as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, a)| a.clone())
    }) {
        return Ok(app);
    }
    let pass_previous = pass_previous.filter(|_| pass_secret.is_some());
    let pass_secrets = [pass_secret, pass_previous];
    let secrets = Secrets {
        pass: pass_secrets,
        relayer_key,
        endpoint_token,
        authorizer_key,
        receipt_key,
    };
    let app = Rc::new(parse_app(&raw, secrets)?);
    check_relayer_keys(&app.config, env)?;
    LOADED.with_borrow_mut(|l| *l = Some((key, app.clone())));
    Ok(app)
}

/// Every relayer key `settlement.relayerKeys` names is set, is a key, and is a different
/// account (two objects assigning nonces of one account would clash).
fn check_relayer_keys(config: &Config, env: &Env) -> std::result::Result<(), Error> {
    let x402_core::gate::config::Settlement::SelfSettle { relayer_keys, .. } = config.settlement
    else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    for k in 1..=relayer_keys {
        let name = durable::key_secret(k);
        let secret = env.secret(&name).map_err(|_| {
            Error::new(
                Reason::InvalidConfig,
                format!("{name}: secret required (settlement.relayerKeys = {relayer_keys})"),
            )
        })?;
        let signer = x402_core::evm::signer::LocalSigner::from_hex(secret.to_string().trim())
            .map_err(|e| e.context(&name))?;
        if !seen.insert(signer.address()) {
            return Err(Error::new(
                Reason::InvalidConfig,
                format!("{name}: the same account as another relayer key; each key must be its own account"),
            ));
        }
    }
    Ok(())
}

/// Parses the text of the `X402` variable.
fn parse_config(raw: &str) -> std::result::Result<Config, Error> {
    let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
        Error::new(
            Reason::InvalidConfig,
            format!("{CONFIG_VAR}: not JSON: {e}"),
        )
    })?;
    Config::from_json(&json).map_err(|e| e.context(CONFIG_VAR))
}

/// The secrets the configuration may need.
struct Secrets {
    pass: [Option<String>; 2],
    relayer_key: Option<String>,
    endpoint_token: Option<String>,
    authorizer_key: Option<String>,
    receipt_key: Option<String>,
}

/// The receiver authorizer: required with `batchSettlement` (its address must be the
/// configured `receiverAuthorizer` when one is written down); kept without it too, so channels
/// served under an earlier configuration are still claimed.
fn receiver_authorizer(
    config: &mut Config,
    key: Option<&str>,
) -> std::result::Result<Option<x402_core::evm::signer::LocalSigner>, Error> {
    let Some(key) = key else {
        if config.batch.is_none() {
            return Ok(None);
        }
        return Err(Error::new(
            Reason::InvalidConfig,
            format!("{RECEIVER_AUTHORIZER_KEY}: secret required for batchSettlement (it signs the channels' claims and refunds)"),
        ));
    };
    let signer = x402_core::evm::signer::LocalSigner::from_hex(key.trim())
        .map_err(|e| e.context(RECEIVER_AUTHORIZER_KEY))?;
    config.set_receiver_authorizer(signer.address())?;
    Ok(Some(signer))
}

/// Parses and checks the configuration and the secrets it needs.
fn parse_app(raw: &str, given: Secrets) -> std::result::Result<App, Error> {
    let mut config = parse_config(raw)?;
    let relayer_key = given.relayer_key;
    facilitator::check_token(&config, given.endpoint_token.as_deref())?;
    let receiver_authorizer = receiver_authorizer(&mut config, given.authorizer_key.as_deref())?;
    let mut secrets = Vec::new();
    for (name, secret) in [PASS_SECRET, PASS_SECRET_PREVIOUS].iter().zip(given.pass) {
        let Some(s) = secret else { continue };
        if s.len() < x402_core::gate::pass::MIN_SECRET_LEN {
            return Err(Error::new(
                Reason::InvalidConfig,
                format!(
                    "{name}: must be at least {} bytes",
                    x402_core::gate::pass::MIN_SECRET_LEN
                ),
            ));
        }
        // A published example secret lets anyone forge passes: only for the local test chain.
        let local_only = config
            .routes
            .iter()
            .flat_map(|r| &r.options)
            .all(|o| o.network.chain_id() == Some(31337));
        if x402_core::gate::pass::EXAMPLE_SECRETS.contains(&s.as_str()) && !local_only {
            return Err(Error::new(
                Reason::InvalidConfig,
                format!("{name}: the example secret from .dev.vars.example is public (anyone can forge passes with it); set your own (openssl rand -hex 32)"),
            ));
        }
        secrets.push(s.into_bytes());
    }
    if let x402_core::gate::config::Settlement::SelfSettle { .. } = config.settlement {
        let key = relayer_key.ok_or_else(|| {
            Error::new(
                Reason::InvalidConfig,
                format!(
                    "{}: secret required for settlement mode \"self\"",
                    durable::RELAYER_KEY
                ),
            )
        })?;
        x402_core::evm::signer::LocalSigner::from_hex(key.trim())
            .map_err(|e| e.context(durable::RELAYER_KEY))?;
    }
    let receipts = receipts::Receipts::new(given.receipt_key.as_deref(), config.receipts)?;
    Ok(App {
        config,
        pass_secrets: secrets,
        receiver_authorizer,
        receipts,
    })
}

fn header_bytes(req: &Request) -> usize {
    req.headers()
        .entries()
        .map(|(k, v)| k.len() + v.len() + 4)
        .sum()
}

/// The Worker's own health endpoint.
const HEALTH_PATH: &str = "/x402/health";

/// What the gate judges of a request's URL: the normalised path (a directory path named as its
/// `index.html` when content is static assets, so `/docs/` and `/docs/index.html` are one
/// resource at one price), the resource URL put in challenges, the time.
fn request_ctx(app: &App, url: &worker::Url) -> std::result::Result<Ctx, Error> {
    // The raw path as sent (the URL parser already resolved some dot segments; the normaliser
    // does the rest).
    let mut path = x402_core::gate::path::normalize(url.path())?;
    // Static assets are served without html_handling (so no second spelling of a file exists).
    if path.ends_with('/') && matches!(app.config.content, ContentSource::Assets { .. }) {
        path.push_str("index.html");
    }
    let host_origin = url.origin().ascii_serialization();
    Ok(Ctx {
        resource_url: format!("{host_origin}{}", x402_core::gate::path::encode(&path)),
        path,
        query: url.query().map(String::from),
        origin: host_origin,
        now: worker::Date::now().as_millis() / 1000,
    })
}

/// The 402 of an unpaid request to a priced route, answered without the request/response
/// wrappers and the async machinery of [`fetch`]: the JS entry (`crates/worker/js/shim.mjs`)
/// asks this first, with the request's method, URL and the few header values the answer
/// depends on, and goes to [`fetch`] when it gets nothing back. It answers only when `fetch`
/// would answer this same 402 from the same inputs: a valid configuration, GET or HEAD, headers
/// surely within `maxHeaderBytes` (`header_chars`: the sum of name + value + 4 in UTF-16 units;
/// a value's UTF-8 bytes are at most twice that), a priced path that is no endpoint of the
/// Worker's own, no payment or sign-in header (`payment_headers`) and no access pass.
/// Anything else (and any doubt) is `None`.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = unpaidChallenge)]
pub fn unpaid_challenge(
    env: Env,
    method: &str,
    url: &str,
    header_chars: u32,
    payment_headers: bool,
    pass_header: Option<String>,
    cookie: Option<String>,
    accept: Option<String>,
    user_agent: Option<String>,
) -> Option<worker::wasm_bindgen::JsValue> {
    if payment_headers || !matches!(method, "GET" | "HEAD") {
        return None;
    }
    let app = load(&env).ok()?;
    if (header_chars as usize).saturating_mul(2) > app.config.max_header_bytes {
        return None;
    }
    let url = worker::Url::parse(url).ok()?;
    let ctx = request_ctx(&app, &url).ok()?;
    if ctx.path == HEALTH_PATH
        || ctx.path == status::PATH
        || ctx.path == receipts::DID_PATH
        || facilitator::claims(&app, &ctx, method)
    {
        return None;
    }
    let route = app.config.route_for(method, &ctx.path)?;
    // A pass is judged by `fetch` (served, or the 402 naming why it was refused).
    if !passes::presented_in(pass_header.as_deref(), cookie.as_deref()).is_empty() {
        return None;
    }
    let html = respond::browser(
        accept.as_deref().unwrap_or_default(),
        user_agent.as_deref().unwrap_or_default(),
    );
    let index = app
        .config
        .routes
        .iter()
        .position(|r| std::ptr::eq(r, route))?;
    if sign_in::offered(&app, route) {
        // Its sign-in challenge carries a fresh nonce and time: built for each request.
        return Some(parts_value(&gate::unpaid(&app, &ctx, route, html)));
    }
    // An unpaid 402 depends on nothing else (no per-request value; signed offers, when on,
    // change once per epoch): kept by these.
    let key = (
        index,
        html,
        ctx.resource_url.clone(),
        receipts::epoch(&app, ctx.now),
    );
    UNPAID.with_borrow_mut(|cache| {
        // Kept for this configuration only, and bounded (a catch-all route has a resource per
        // path): full, it starts again.
        if cache
            .as_ref()
            .is_none_or(|(a, m)| !Rc::ptr_eq(a, &app) || m.len() >= UNPAID_KEPT)
        {
            *cache = Some((app.clone(), std::collections::HashMap::new()));
        }
        let (_, kept) = cache.as_mut()?;
        let parts = kept
            .entry(key)
            .or_insert_with(|| parts_value(&gate::unpaid(&app, &ctx, route, html)));
        Some(parts.clone())
    })
}

/// A response's parts as the JS entry builds a `Response` from them: `[headers, body]`.
fn parts_value(p: &respond::Parts) -> worker::wasm_bindgen::JsValue {
    let headers = worker::js_sys::Array::new();
    for (k, v) in &p.headers {
        headers.push(&worker::js_sys::Array::of2(&(*k).into(), &v.into()));
    }
    worker::js_sys::Array::of2(&headers, &p.body.as_str().into()).into()
}

/// How many unpaid 402s [`UNPAID`] keeps.
const UNPAID_KEPT: usize = 512;

thread_local! {
    /// The fast 402s built so far ([`unpaid_challenge`]): `[headers, body]` by route, page or
    /// JSON, resource URL and signed offers' epoch, for the configuration they were built from.
    #[allow(clippy::type_complexity)]
    static UNPAID: RefCell<Option<(Rc<App>, std::collections::HashMap<(usize, bool, String, u64), worker::wasm_bindgen::JsValue>)>> =
        const { RefCell::new(None) };
}

/// The Worker's fetch handler.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, wctx: Context) -> Result<Response> {
    let app = match load(&env) {
        Ok(a) => a,
        Err(e) => {
            worker::console_error!("x402-worker: invalid configuration: {e}");
            return Ok(respond::reject(500, &e, "*"));
        }
    };
    let origin = app.config.cors_allow_origin.clone();
    let method = req.method().to_string();
    if method == "OPTIONS" {
        return Ok(respond::preflight(&origin));
    }
    if header_bytes(&req) > app.config.max_header_bytes {
        let e = respond::headers_too_large(app.config.max_header_bytes);
        return Ok(respond::reject(431, &e, &origin));
    }
    let url = req.url()?;
    let ctx = match request_ctx(&app, &url) {
        Ok(c) => c,
        Err(e) => return Ok(respond::reject(400, &e, &origin)),
    };
    if ctx.path == HEALTH_PATH {
        return Ok(respond::json_response(
            200,
            &serde_json::json!({"ok": true, "x402Versions": [1, 2], "core": env!("CARGO_PKG_VERSION"), "routes": app.config.routes.len()}),
            &origin,
        ));
    }
    if ctx.path == receipts::DID_PATH && matches!(method.as_str(), "GET" | "HEAD") {
        if let Some(doc) = receipts::did_document(&app, &ctx) {
            return Ok(respond::json_response(200, &doc, &origin));
        }
    }
    if ctx.path == status::PATH && method == "GET" {
        if let Some(res) = status::handle(&app, &ctx, &req, &env).await {
            return Ok(res);
        }
    }
    let req = match facilitator::handle(&app, &ctx, req, &env).await {
        Ok(res) => return Ok(res),
        Err(req) => req,
    };
    match app.config.route_for(&method, &ctx.path) {
        Some(route) => Ok(gate::paid(&app, &ctx, route, req, &env, wctx).await),
        None => match app.config.refused_methods(&method, &ctx.path) {
            // A path priced for other methods is never proxied unpaid (a POST to a GET-priced
            // path), unless `freeRoutes` names it.
            Some(allowed) => Ok(respond::method_not_allowed(&method, &allowed, &origin)),
            None => {
                let source = app.config.free_content(&ctx.path);
                Ok(content::fetch_from(source, &req, &env, &ctx, &origin, &[]).await)
            }
        },
    }
}

/// Benchmark hook for `bench/worker-verify.mjs`: parses a configuration (the JSON of the `X402`
/// variable) `iterations` times, as the Worker did on every request before [`LOADED`] kept it.
/// Returns how many parsed.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = benchConfig)]
pub fn bench_config(config: &str, iterations: u32) -> u32 {
    (0..iterations)
        .filter(|_| parse_config(config).is_ok())
        .count() as u32
}

/// Benchmark hook for `bench/worker-verify.mjs`: decodes the `PAYMENT-SIGNATURE` value and
/// verifies it against `requirements` (a JSON array of v2 requirements) at unix time `now`,
/// `iterations` times, exactly as the paywall does per payment. Returns how many verified.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = benchVerify)]
pub fn bench_verify(header: &str, requirements: &str, now: f64, iterations: u32) -> u32 {
    let Ok(offered) =
        serde_json::from_str::<Vec<x402_core::wire::PaymentRequirements>>(requirements)
    else {
        return 0;
    };
    let mut ok = 0;
    for _ in 0..iterations {
        let verified = x402_core::wire::header::decode_payment_signature(header)
            .and_then(|p| x402_core::scheme::exact::verify::verify_v2(&p, &offered, now as u64));
        if verified.is_ok() {
            ok += 1;
        }
    }
    ok
}
