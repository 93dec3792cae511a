//! Payment schemes, one folder each: a scheme's types, the messages a client builds and the
//! rules a server or facilitator checks, with their reason codes. Imports [`crate::wire`],
//! [`crate::evm`], [`crate::encoding`] and [`crate::error`]; a scheme uses another's items only
//! where they are the same rule (`batch` takes `exact`'s settlement margin), never in a circle.

pub mod batch;
pub mod exact;
