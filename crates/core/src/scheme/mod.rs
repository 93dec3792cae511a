//! Payment schemes, one folder each: its types, the messages a client builds, the rules a
//! verifier checks. Imports wire, evm, encoding and error; a scheme uses another's items only for
//! the same rule (`batch` takes `exact`'s settlement margin), never in a circle.

pub mod batch;
pub mod exact;
