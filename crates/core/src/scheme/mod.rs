//! Payment schemes: one folder per scheme, each with its types, the messages a client builds
//! and the rules a server or facilitator checks, above the wire layer and below client and gate.

pub mod batch;
