//! The offers of a challenge this client can pay: each entry of `accepts` read as an `exact`
//! EVM requirement, or the reason it is not one (an unpayable entry does not make the
//! challenge invalid).

use crate::error::Result;
use crate::scheme::exact::types::ExactEvmRequirement;
use crate::wire::AnyPaymentRequired;
use alloc::{string::String, vec::Vec};

/// One payable option of a challenge, parsed for the exact EVM scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Index in the challenge's `accepts`.
    pub index: usize,
    /// The parsed requirement.
    pub requirement: ExactEvmRequirement,
    /// Resource URL.
    pub resource: String,
    /// Resource description (may be empty).
    pub description: String,
    /// Whether the offer's `extra.paymentFlow` is `authorization` (or absent): such offers are
    /// preferred to `upfront` and `escrow` ones.
    pub authorization_flow: bool,
}

/// Whether `extra`'s `paymentFlow` (a string field reader) is `authorization` or absent.
pub(crate) fn authorization_flow(extra: &dyn Fn(&str) -> Option<String>) -> bool {
    extra("paymentFlow").is_none_or(|f| f == "authorization")
}

impl AnyPaymentRequired {
    /// Every entry of `accepts`, parsed as an exact EVM offer or with the reason it is not one.
    pub fn offers(&self) -> Vec<Result<Offer>> {
        match self {
            Self::V2(c) => c
                .accepts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    Ok(Offer {
                        index,
                        requirement: ExactEvmRequirement::from_v2(r)?,
                        resource: c.resource.url.clone(),
                        description: c.resource.description.clone().unwrap_or_default(),
                        authorization_flow: authorization_flow(&|k| extra_str(r.extra.as_ref(), k)),
                    })
                })
                .collect(),
            Self::V1(c) => c
                .accepts
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    Ok(Offer {
                        index,
                        requirement: ExactEvmRequirement::from_v1(r)?,
                        resource: r.resource.clone(),
                        description: r.description.clone(),
                        authorization_flow: authorization_flow(&|k| extra_str(r.extra.as_ref(), k)),
                    })
                })
                .collect(),
        }
    }
}

/// A non-empty string field of a requirement's `extra`.
fn extra_str(extra: Option<&crate::wire::JsonMap>, key: &str) -> Option<String> {
    extra
        .and_then(|e| e.get(key))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}
