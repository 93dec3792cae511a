//! Reading one field of the configuration: every error is `invalid_config` and names the
//! field (`routes[1].networks[0].asset: ...`).

use crate::error::{Error, Reason, Result};
use crate::evm::address::parse_address;
use alloc::{format, string::String};
use alloy_primitives::Address;
use serde_json::Value;

pub(super) fn invalid(field: &str, msg: impl core::fmt::Display) -> Error {
    Error::new(Reason::InvalidConfig, format!("{field}: {msg}"))
}

pub(super) fn typed<T: serde::de::DeserializeOwned>(v: &Value, field: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(field, e))
}

pub(super) fn http_url(s: &str, field: &str) -> Result<String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(invalid(field, format!("{s:?} is not an http(s) URL")));
    }
    Ok(s.trim_end_matches('/').into())
}

pub(super) fn address(s: &str, field: &str) -> Result<Address> {
    parse_address(s).map_err(|e| invalid(field, e))
}
