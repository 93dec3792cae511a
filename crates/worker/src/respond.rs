//! Building responses: CORS, reason-coded rejections, the 402 challenge (header, JSON body,
//! HTML paywall), and copies of content responses with headers added.

use serde_json::{json, Value};
use worker::{Headers, Request, Response, ResponseBuilder};
use x402_core::evm::money::format_amount;
use x402_core::evm::network::Network;
use x402_core::gate::config::Route;
use x402_core::scheme::batch::response::{add_corrective_state, ChannelState, VoucherState};
use x402_core::wire::header::{self, PAYMENT_REQUIRED, PAYMENT_RESPONSE, X_PAYMENT_RESPONSE};
use x402_core::wire::SettleResponse;
use x402_core::{Error, Reason};

/// Header carrying an access pass (request and response).
pub(crate) const PASS_HEADER: &str = "X-PAYMENT-PASS";
/// Cookie carrying an access pass.
pub(crate) const PASS_COOKIE: &str = "x402_pass";

const ALLOW_HEADERS: &str =
    "PAYMENT-SIGNATURE, X-PAYMENT, X-PAYMENT-PASS, Content-Type, Authorization, Access-Control-Expose-Headers";
const EXPOSE_HEADERS: &str =
    "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, X-PAYMENT-PASS";

/// Adds the CORS headers every answer carries.
pub(crate) fn cors(h: &Headers, allow_origin: &str) {
    for (k, v) in cors_headers(allow_origin) {
        // `Vary` may already name other headers of the origin's answer.
        let _ = if k == "Vary" {
            h.append(k, &v)
        } else {
            h.set(k, &v)
        };
    }
}

/// The CORS headers every answer carries.
fn cors_headers(allow_origin: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("Access-Control-Allow-Origin", allow_origin.to_string()),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()),
    ];
    if allow_origin != "*" {
        out.push(("Vary", "Origin".to_string()));
    }
    out
}

/// The answer to a CORS preflight (never gated).
pub(crate) fn preflight(allow_origin: &str) -> Response {
    let h = Headers::new();
    cors(&h, allow_origin);
    let _ = h.set(
        "Access-Control-Allow-Methods",
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    );
    let _ = h.set("Access-Control-Allow-Headers", ALLOW_HEADERS);
    let _ = h.set("Access-Control-Max-Age", "600");
    ResponseBuilder::new()
        .with_status(204)
        .with_headers(h)
        .empty()
}

/// A JSON answer.
pub(crate) fn json_response(status: u16, body: &Value, allow_origin: &str) -> Response {
    let h = Headers::new();
    cors(&h, allow_origin);
    let _ = h.set("Content-Type", "application/json");
    let _ = h.set("Cache-Control", "no-store");
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(h)
        .fixed(body.to_string().into_bytes())
}

/// The 409 of a payment whose payment-identifier id names another payment of this payer (an
/// exact payment's guard) or of this channel.
pub(crate) fn id_conflict(allow_origin: &str) -> Response {
    let e = Error::new(
        Reason::InvalidPayload,
        "this payment-identifier id was already used for a different payment",
    );
    reject(409, &e, allow_origin)
}

/// A rejection outside the payment flow: `{error: <reason code>, message}`.
pub(crate) fn reject(status: u16, err: &Error, allow_origin: &str) -> Response {
    json_response(
        status,
        &json!({"error": err.code(), "message": err.message()}),
        allow_origin,
    )
}

/// Whether the request is a browser navigation (the reference's rule: `Accept` has
/// `text/html` and the user agent says `Mozilla`).
pub(crate) fn is_browser(req: &Request) -> bool {
    let get = |n: &str| req.headers().get(n).ok().flatten().unwrap_or_default();
    browser(&get("Accept"), &get("User-Agent"))
}

/// [`is_browser`] from the two headers' values (empty when absent).
pub(crate) fn browser(accept: &str, user_agent: &str) -> bool {
    accept.contains("text/html") && user_agent.contains("Mozilla")
}

/// What a 402 carries besides the challenge.
pub(crate) struct Challenge<'a> {
    pub(crate) route: &'a Route,
    pub(crate) resource_url: &'a str,
    pub(crate) error: Option<&'a Error>,
    /// The failed settlement, if the 402 follows one.
    pub(crate) settlement: Option<&'a SettleResponse>,
    /// The client spoke v1 (`X-PAYMENT`).
    pub(crate) v1_client: bool,
    pub(crate) html: bool,
    pub(crate) allow_origin: &'a str,
    /// Extra module scripts of the HTML paywall page (`paywallScripts`).
    pub(crate) paywall_scripts: &'a [String],
    /// A `batch-settlement` corrective 402: the channel state (and the server's latest
    /// voucher) added to the batch offer of the payment's network.
    pub(crate) corrective: Option<Corrective<'a>>,
    /// The `sign-in-with-x` declaration to offer (`crate::sign_in::offer`).
    pub(crate) sign_in: Option<serde_json::Value>,
    /// The signed offers (`offer-receipt`, `crate::receipts::offers`).
    pub(crate) offers: Option<serde_json::Value>,
}

/// The state a corrective 402 carries (x402 `scheme_batch_settlement_evm.md`, "Cumulative
/// amount mismatch").
#[derive(Clone, Copy)]
pub(crate) struct Corrective<'a> {
    pub(crate) network: &'a Network,
    pub(crate) state: &'a ChannelState,
    pub(crate) voucher: Option<&'a VoucherState>,
}

/// A response's headers and body, built once and turned into a [`Response`] (or kept, for the
/// fast 402: `crate::unpaid_challenge`).
pub(crate) struct Parts {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
}

impl Parts {
    /// The response with this status.
    pub(crate) fn response(self, status: u16) -> Response {
        let h = Headers::new();
        for (k, v) in &self.headers {
            let _ = h.append(k, v);
        }
        ResponseBuilder::new()
            .with_status(status)
            .with_headers(h)
            .fixed(self.body.into_bytes())
    }
}

/// A 402 challenge: `PAYMENT-REQUIRED` always; body the v1 form for v1 clients (or when the
/// route has v1 networks), the v2 challenge as JSON otherwise, or an HTML paywall page.
pub(crate) fn challenge(c: &Challenge<'_>) -> Response {
    challenge_parts(c).response(402)
}

/// [`challenge`]'s headers and body.
pub(crate) fn challenge_parts(c: &Challenge<'_>) -> Parts {
    let error_text = c
        .error
        .map_or_else(|| "Payment required".to_string(), |e| e.code().to_string());
    let mut pr = c
        .route
        .payment_required(c.resource_url, Some(error_text.clone()));
    if let Some(k) = c.corrective {
        add_corrective_state(&mut pr.accepts, k.network, k.state, k.voucher);
    }
    if let Some(d) = &c.sign_in {
        pr.extensions
            .get_or_insert_with(Default::default)
            .insert(x402_core::wire::siwx::KEY.into(), d.clone());
    }
    if let Some(o) = &c.offers {
        pr.extensions
            .get_or_insert_with(Default::default)
            .insert(x402_core::wire::offer_receipt::KEY.into(), o.clone());
    }
    let mut p = Parts {
        headers: Vec::with_capacity(6),
        body: String::new(),
    };
    p.headers.extend(cors_headers(c.allow_origin));
    p.headers.push(("Cache-Control", "no-store".to_string()));
    if let Ok(v) = header::encode(&pr) {
        p.headers.push((PAYMENT_REQUIRED, v));
    }
    if let Some(s) = c.settlement {
        if let Ok(v) = header::encode(s) {
            let name = if c.v1_client {
                X_PAYMENT_RESPONSE
            } else {
                PAYMENT_RESPONSE
            };
            p.headers.push((name, v));
        }
    }
    if c.html && c.error.is_none() {
        p.headers
            .push(("Content-Type", "text/html; charset=utf-8".to_string()));
        p.body = paywall_html(c.route, &pr, c.paywall_scripts);
        return p;
    }
    p.headers
        .push(("Content-Type", "application/json".to_string()));
    let message = c.error.map(|e| e.message().to_string());
    // v2 clients read the header; the body is the v1 form whenever v1 clients can pay.
    let mut body = match c.route.payment_required_v1(c.resource_url, error_text) {
        Some(v1) => serde_json::to_value(&v1).unwrap_or(Value::Null),
        None => serde_json::to_value(&pr).unwrap_or(Value::Null),
    };
    if let (Some(m), Some(obj)) = (message, body.as_object_mut()) {
        obj.insert("message".into(), Value::String(m));
    }
    p.body = body.to_string();
    p
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML paywall for direct navigation: the publisher drop-in (`/x402/x402.js`) turns its
/// `data-x402-src` element into a pay box that unlocks the resource in place. The challenge is
/// also embedded as JSON (and sent in `PAYMENT-REQUIRED`).
fn paywall_html(
    route: &Route,
    pr: &x402_core::wire::PaymentRequired,
    scripts: &[String],
) -> String {
    let price = route
        .options
        .first()
        .map(|o| {
            let decimals =
                x402_core::evm::asset::find_asset(&o.network, &o.asset).map_or(6, |a| a.decimals);
            format!("{} USDC", format_amount(o.amount, decimals))
        })
        .unwrap_or_default();
    let json = serde_json::to_string(pr)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Payment required</title>\
<script type=\"application/json\" id=\"x402-payment-required\">{json}</script>\
{}<script type=\"module\" src=\"/x402/x402.js\"></script></head>\
<body><main data-x402-paywall><h1>Payment required</h1>\
<div data-x402-src=\"{}\"><p>{}</p>\
<p>Price: <strong>{}</strong>. Pay with an x402 client or a wallet.</p></div></main></body></html>\n",
        scripts
            .iter()
            .map(|src| format!("<script type=\"module\" src=\"{}\"></script>", escape(src)))
            .collect::<String>(),
        escape(&pr.resource.url),
        escape(&route.description),
        escape(&price)
    )
}

/// Copies a response into one whose headers can be changed, adding `extra` headers.
pub(crate) fn with_headers(
    res: Response,
    extra: &[(&str, String)],
    allow_origin: &str,
) -> Response {
    let status = res.status_code();
    let old = res.headers().clone();
    let (_, body) = res.into_parts();
    let h = Headers::new();
    for (k, v) in old.entries() {
        let _ = h.append(&k, &v);
    }
    cors(&h, allow_origin);
    for (k, v) in extra {
        if k.eq_ignore_ascii_case("Set-Cookie") {
            let _ = h.append(k, v);
        } else {
            let _ = h.set(k, v);
        }
    }
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(h)
        .body(body)
}

/// `405`: the method is not priced on a priced path (`Allow` lists the ones that are).
pub(crate) fn method_not_allowed(method: &str, allowed: &[&str], allow_origin: &str) -> Response {
    let e = Error::new(
        Reason::InvalidRequest,
        format!(
            "{method} is not allowed here: this path is paid for with {}",
            allowed.join(", ")
        ),
    );
    let res = reject(405, &e, allow_origin);
    let _ = res.headers().set("Allow", &allowed.join(", "));
    res
}

/// The error for a request whose headers are too large.
pub(crate) fn headers_too_large(limit: usize) -> Error {
    Error::new(
        Reason::InvalidRequest,
        format!("request headers exceed {limit} bytes"),
    )
}
