//! The paywall's HTTP surface: the size limit on request headers, the CORS origin, the
//! `Cache-Control` of paid content (never storable by a shared cache), the extra scripts of the
//! HTML paywall page, and where the facilitator endpoints live.

use super::field::invalid;
use crate::error::Result;
use alloc::{format, string::String, vec::Vec};

/// Default cap on the total size of request headers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default `Cache-Control` of every response that carries paid content: no shared cache may
/// store it, and the browser keeps no copy either.
pub const DEFAULT_PAID_CACHE_CONTROL: &str = "private, no-store";

/// `facilitatorPrefix`: empty (the endpoints at the root) or `/like/this`.
pub(super) fn facilitator_prefix(prefix: Option<String>) -> Result<String> {
    let facilitator_prefix = prefix.unwrap_or_default();
    if !(facilitator_prefix.is_empty()
        || facilitator_prefix.starts_with('/') && !facilitator_prefix.ends_with('/'))
    {
        return Err(invalid("facilitatorPrefix", "must be empty or /like/this"));
    }
    Ok(facilitator_prefix)
}

/// `maxRequestHeaderBytes`: 4 KiB to 1 MiB.
pub(super) fn max_header_bytes(bytes: Option<usize>) -> Result<usize> {
    let max_header_bytes = bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES);
    if !(4096..=1 << 20).contains(&max_header_bytes) {
        return Err(invalid("maxRequestHeaderBytes", "must be 4096..=1048576"));
    }
    Ok(max_header_bytes)
}

/// `paidCacheControl`: `private` or `no-store`, never `public` or `s-maxage`.
pub(super) fn paid_cache_control(value: Option<String>) -> Result<String> {
    let paid_cache_control = value.unwrap_or_else(|| DEFAULT_PAID_CACHE_CONTROL.into());
    let directives = paid_cache_control.to_ascii_lowercase();
    let shareable = !directives
        .split(',')
        .any(|d| matches!(d.trim(), "private" | "no-store"))
        || directives.contains("public")
        || directives.contains("s-maxage");
    if shareable
        || !paid_cache_control
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(invalid(
            "paidCacheControl",
            "must contain \"private\" or \"no-store\" and no \"public\" or \"s-maxage\": paid content is never stored by a shared cache",
        ));
    }
    Ok(paid_cache_control)
}

/// `paywallScripts`: site paths (`/…`) or `https://` URLs, nothing that could leave the
/// attribute they are written into.
pub(super) fn paywall_scripts(scripts: Option<Vec<String>>) -> Result<Vec<String>> {
    let paywall_scripts = scripts.unwrap_or_default();
    for (i, src) in paywall_scripts.iter().enumerate() {
        let ok = (src.starts_with('/') && !src.starts_with("//") || src.starts_with("https://"))
            && src
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"'<>`\\".contains(&b));
        if !ok {
            return Err(invalid(
                &format!("paywallScripts[{i}]"),
                "must be a site path (/...) or an https:// URL, without quotes or angle brackets",
            ));
        }
    }
    Ok(paywall_scripts)
}

/// `corsAllowOrigin`: `*` unless given.
pub(super) fn cors_allow_origin(origin: Option<String>) -> String {
    origin.unwrap_or_else(|| "*".into())
}
