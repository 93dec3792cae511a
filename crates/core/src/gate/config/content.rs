//! Where paid (and free) content comes from: the Workers static-assets binding or an origin
//! server (`content = { source = "assets" }` / `{ source = "origin", url = "https://…" }`).

use super::field::{http_url, invalid, typed};
use crate::error::Result;
use alloc::{format, string::String};
use serde::Deserialize;
use serde_json::Value;

/// Where paid (and free) content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// The Workers static-assets binding of that name.
    Assets {
        /// Binding name (`ASSETS`).
        binding: String,
    },
    /// An origin server; the normalised path and the query are appended to this URL.
    Origin {
        /// Base URL, without trailing slash.
        url: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawContent {
    source: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    binding: Option<String>,
}

pub(super) fn content(v: &Value, field: &str) -> Result<ContentSource> {
    let raw: RawContent = typed(v, field)?;
    match raw.source.as_str() {
        "assets" => Ok(ContentSource::Assets {
            binding: raw.binding.unwrap_or_else(|| "ASSETS".into()),
        }),
        "origin" => {
            let url = raw.url.ok_or_else(|| {
                invalid(&format!("{field}.url"), "required for source \"origin\"")
            })?;
            Ok(ContentSource::Origin {
                url: http_url(&url, &format!("{field}.url"))?,
            })
        }
        s => Err(invalid(
            &format!("{field}.source"),
            format!("{s:?} is not \"assets\" or \"origin\""),
        )),
    }
}
