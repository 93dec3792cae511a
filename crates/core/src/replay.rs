//! The replay guard's rules: one EIP-3009 authorization is honoured once
//! (`x402-protocol.md` §7 "replay / nonce", §9 items 3–5).
//!
//! The guard keeps one [`Entry`] per authorization key (chain, token, payer, nonce) and is
//! consulted atomically (the Worker keeps it in one Durable Object). [`decide`] is the whole
//! policy; it is pure so it can be tested here.

use alloc::{format, string::String};
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// The key of an authorization: EIP-3009 nonces are per token and payer.
pub fn key(chain_id: u64, token: Address, payer: Address, nonce: B256) -> String {
    format!("{chain_id}:{token:#x}:{payer:#x}:{nonce:#x}")
}

/// What the guard remembers about an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Entry {
    /// Reserved by a request that is verifying or settling it now.
    InFlight {
        /// Normalised resource path.
        resource: String,
    },
    /// Settled on chain by this paywall.
    Settled {
        /// Normalised resource path.
        resource: String,
        /// Settlement transaction hash.
        transaction: String,
    },
    /// Broadcast, outcome unknown: never sent again.
    Pending {
        /// Normalised resource path.
        resource: String,
        /// Transaction hash.
        transaction: String,
    },
}

/// The answer to a reservation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum Decision {
    /// Not seen before: reserved for the caller, which must later complete or release it.
    Reserved,
    /// Another request holds it right now (`duplicate_settlement`).
    InFlight,
    /// Already settled for this same resource: serve again, do not charge again.
    AlreadySettled {
        /// The earlier settlement.
        transaction: String,
    },
    /// Settled for another resource: the nonce is spent (`invalid_exact_evm_nonce_already_used`).
    UsedElsewhere,
    /// Broadcast earlier, outcome unknown (`settlement_pending`).
    Pending {
        /// Transaction hash.
        transaction: String,
    },
}

/// Decides on a reservation of an authorization for `resource`, given what is stored. The
/// payer is part of the key, so "same payer" holds whenever an entry exists.
pub fn decide(existing: Option<&Entry>, resource: &str) -> Decision {
    match existing {
        None => Decision::Reserved,
        Some(Entry::InFlight { .. }) => Decision::InFlight,
        Some(Entry::Settled {
            resource: r,
            transaction,
        }) if r == resource => Decision::AlreadySettled {
            transaction: transaction.clone(),
        },
        Some(Entry::Settled { .. }) => Decision::UsedElsewhere,
        Some(Entry::Pending { transaction, .. }) => Decision::Pending {
            transaction: transaction.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_authorization_once() {
        let r = "/paid/one.html";
        assert_eq!(decide(None, r), Decision::Reserved);
        let inflight = Entry::InFlight { resource: r.into() };
        assert_eq!(decide(Some(&inflight), r), Decision::InFlight);
        let settled = Entry::Settled {
            resource: r.into(),
            transaction: "0xab".into(),
        };
        assert_eq!(
            decide(Some(&settled), r),
            Decision::AlreadySettled {
                transaction: "0xab".into()
            }
        );
        assert_eq!(
            decide(Some(&settled), "/paid/two.html"),
            Decision::UsedElsewhere
        );
        let pending = Entry::Pending {
            resource: r.into(),
            transaction: "0xcd".into(),
        };
        assert_eq!(
            decide(Some(&pending), r),
            Decision::Pending {
                transaction: "0xcd".into()
            }
        );
        let json = serde_json::to_string(&settled).unwrap();
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), settled);
        assert!(key(1, Address::ZERO, Address::ZERO, B256::ZERO).starts_with("1:0x0000"));
    }
}
