//! Reading bodies from the network with a size cap: a request body the Worker parses (the
//! facilitator endpoints') and the answers of the JSON-RPC node and of a remote facilitator.
//! A declared `Content-Length` over the cap is refused before anything is read, and the stream
//! is read chunk by chunk and dropped (which cancels it) as soon as more than the cap arrived,
//! so no body, chunked or not, is ever held whole above the cap.

use futures_util::StreamExt;
use worker::{ByteStream, Headers, Request, Response, ResponseBody};

/// The largest request body the facilitator endpoints read (64 KiB).
pub(crate) const REQUEST_LIMIT: usize = 64 * 1024;
/// The largest answer read from the JSON-RPC node or a remote facilitator (1 MiB).
pub(crate) const UPSTREAM_LIMIT: usize = 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the cap (declared, or seen while reading).
    TooLarge,
    /// The stream failed.
    Failed(String),
}

/// Reads `stream` whole, but refuses (and stops reading) as soon as more than `limit` bytes
/// arrived. `None` (no body) reads as empty.
pub(crate) async fn read_capped(
    stream: Option<ByteStream>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let Some(mut stream) = stream else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Failed(e.to_string()))?;
        if out.len() + chunk.len() > limit {
            // Dropping the stream cancels it: the rest is never read.
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The `Content-Length` a message declares, if any.
fn declared_length(headers: &Headers) -> Option<u64> {
    headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads a request's body under `limit`: refused at once when `Content-Length` declares more,
/// read in one piece when it declares at most `limit` (the runtime delivers no more than the
/// declared length: the Fetch standard's body framing), else read with [`read_capped`].
pub(crate) async fn read_request(req: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    match declared_length(req.headers()) {
        Some(n) if n > limit as u64 => return Err(BodyError::TooLarge),
        // One await for the whole body instead of one per chunk (each chunk read crosses into
        // JS and back, measured at about 3 ms of CPU per paid request on workerd in
        // bench/gates.mjs's profile).
        Some(_) => {
            return req
                .bytes()
                .await
                .map_err(|e| BodyError::Failed(e.to_string()))
        }
        None => {}
    }
    let stream = match req.inner().body() {
        Some(_) => Some(req.stream().map_err(|e| BodyError::Failed(e.to_string()))?),
        None => None,
    };
    read_capped(stream, limit).await
}

/// Reads a fetched response's body under `limit` (as [`read_request`]).
pub(crate) async fn read_response(mut res: Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = declared_length(res.headers());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let stream = match res.body() {
        ResponseBody::Empty => None,
        ResponseBody::Body(b) if b.len() > limit => return Err(BodyError::TooLarge),
        ResponseBody::Body(b) => return Ok(b.clone()),
        // Declared within the cap: one read (as in read_request).
        ResponseBody::Stream(_) if declared.is_some() => {
            return whole(res).await.map_err(BodyError::Failed)
        }
        ResponseBody::Stream(_) => {
            Some(res.stream().map_err(|e| BodyError::Failed(e.to_string()))?)
        }
    };
    read_capped(stream, limit).await
}

/// A response's whole body in one `arrayBuffer()` await. workers-rs 0.8's `Response::bytes` and
/// `text` read a streamed body chunk by chunk through a reader, each chunk a round trip between
/// the engine and the wasm; for the Durable Objects' answers and the JSON-RPC node's that was
/// about 3 ms of CPU per paid request on workerd (bench/gates.mjs, profiled).
pub(crate) async fn whole(res: Response) -> Result<Vec<u8>, String> {
    let res: worker::web_sys::Response = res.into();
    let promise = res.array_buffer().map_err(|e| format!("{e:?}"))?;
    let buf = worker::wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(worker::js_sys::Uint8Array::new(&buf).to_vec())
}
