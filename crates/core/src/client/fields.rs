//! Reading the members of a JSON object without serde, by serde's derive rules (a duplicate
//! field is an error, a missing required one too, unknown ones are ignored, `null` is an absent
//! `Option`): the paying path's readers of what servers send (`channel::text`, `sign_in`,
//! `receipt`). Errors are messages; each caller adds its reason code.

use crate::encoding::json::{Kind, Value};
use crate::encoding::text::cat;
use alloc::{borrow::Cow, string::String};

/// A reader step's error: the message (the caller adds the reason code).
pub(crate) type R<T> = core::result::Result<T, String>;

/// The members of a JSON object read as a struct's fields (serde's derive rules: a duplicate
/// field is an error, a missing required one too, unknown ones are ignored).
pub(crate) struct Obj<'v, 'a>(pub(crate) &'v [(Cow<'a, str>, Value<'a>)]);

pub(crate) fn obj<'v, 'a>(v: &'v Value<'a>, what: &str) -> R<Obj<'v, 'a>> {
    match &v.kind {
        Kind::Object(m) => Ok(Obj(m)),
        _ => Err(cat(&[what, ": expected a JSON object"])),
    }
}

impl<'v, 'a> Obj<'v, 'a> {
    /// Field `k`, `None` when absent; an error when it appears twice.
    pub(crate) fn field(&self, k: &str) -> R<Option<&'v Value<'a>>> {
        let mut found = None;
        for (key, v) in self.0 {
            if key == k {
                if found.is_some() {
                    return Err(cat(&["duplicate field ", k]));
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    pub(crate) fn req(&self, k: &str) -> R<&'v Value<'a>> {
        self.field(k)?.ok_or_else(|| cat(&["missing field ", k]))
    }

    /// An `Option` field: absent and `null` are `None`.
    pub(crate) fn opt(&self, k: &str) -> R<Option<&'v Value<'a>>> {
        Ok(self.field(k)?.filter(|v| !v.is_null()))
    }

    /// Member `k` as a `serde_json::Map` has it: the last of duplicates.
    pub(crate) fn last(&self, k: &str) -> Option<&'v Value<'a>> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v)
    }
}

pub(crate) fn string<'v>(v: &'v Value<'_>, k: &str) -> R<&'v str> {
    v.as_str().ok_or_else(|| cat(&[k, ": expected a string"]))
}
