//! Calls to the Worker's Durable Objects: a JSON request to the object of a binding named by
//! its name, a JSON answer.

use worker::{Env, Method, Request, RequestInit};
use x402_core::{Error, Reason};

/// Durable Object bindings (see `wrangler.toml`).
pub(crate) const GUARD_BINDING: &str = "X402_REPLAY_GUARD";
pub(crate) const RELAYER_BINDING: &str = "X402_RELAYER";

/// POSTs `body` as JSON to the object `name` of `binding`; its JSON answer.
pub(crate) async fn durable_call<T: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    body: &impl serde::Serialize,
) -> Result<T, Error> {
    let fail = |e: worker::Error| {
        Error::new(
            Reason::UnexpectedSettleError,
            format!("Durable Object {binding}: {e}"),
        )
    };
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.get_by_name(name))
        .map_err(fail)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(body).unwrap_or_default().into()));
    let req = Request::new_with_init("https://durable/", &init).map_err(fail)?;
    let res = stub.fetch_with_request(req).await.map_err(fail)?;
    // serde_json on the text, not the engine's JSON.parse: 64-bit integers stay exact.
    let text = crate::body::whole(res)
        .await
        .map_err(|e| fail(worker::Error::RustError(e)))?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::new(
            Reason::UnexpectedSettleError,
            format!("Durable Object {binding}: unreadable answer: {e}"),
        )
    })
}
