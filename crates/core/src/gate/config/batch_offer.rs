//! What the paywall asks of the `batch-settlement` configuration: the receiver authorizer (from
//! the Worker's key), the offer a payment's `accepted` took, and when to claim a channel.

use super::batch::{extra_covers, receiver_authorizer, DEFAULT_WITHDRAW_DELAY};
use super::field::invalid;
use super::routes::Route;
use super::Config;
use crate::error::Result;
use crate::scheme::batch::channel::{mirror_ttl, ClaimPolicy};
use crate::scheme::batch::wire::BatchRequirement;
use crate::scheme::batch::SCHEME;
use crate::wire::v2;
use alloc::format;
use alloy_primitives::Address;

impl Config {
    /// Sets the receiver authorizer (the address of the Worker's `X402_RECEIVER_AUTHORIZER_KEY`)
    /// of every batch offer; until then [`Route::requirements_v2`] leaves them out. Refused
    /// (`invalid_config`) when `batchSettlement.receiverAuthorizer` names another address or the
    /// address is zero. Without the `batchSettlement` table it changes nothing.
    pub fn set_receiver_authorizer(&mut self, authorizer: Address) -> Result<()> {
        let Some(batch) = self.batch.as_mut() else {
            return Ok(());
        };
        receiver_authorizer(authorizer, "X402_RECEIVER_AUTHORIZER_KEY")?;
        if let Some(configured) = batch.receiver_authorizer.filter(|c| *c != authorizer) {
            return Err(invalid(
                "batchSettlement.receiverAuthorizer",
                format!(
                    "{configured} is not the address of X402_RECEIVER_AUTHORIZER_KEY ({authorizer})"
                ),
            ));
        }
        batch.receiver_authorizer = Some(authorizer);
        for terms in self
            .routes
            .iter_mut()
            .flat_map(|r| r.options.iter_mut())
            .filter_map(|o| o.batch.as_mut())
        {
            terms.receiver_authorizer = Some(authorizer);
        }
        Ok(())
    }

    /// The receiver authorizer of the batch offers, once known (configured or set).
    pub fn receiver_authorizer(&self) -> Option<Address> {
        self.batch.as_ref()?.receiver_authorizer
    }

    /// The `batch-settlement` offer of `route` that a payment's `accepted` took, with its index
    /// in [`Route::requirements_v2`] and parsed: every field but `extra` equal to the offer's,
    /// and every field of the offer's `extra` present in `accepted.extra` with the same value
    /// (`accepted.extra` may carry more). `None` for anything else.
    pub fn batch_offer(
        &self,
        route: &Route,
        accepted: &v2::PaymentRequirements,
    ) -> Option<(usize, BatchRequirement)> {
        if self.batch.is_none() || !route.batch || accepted.scheme != SCHEME {
            return None;
        }
        let (index, offer) = route
            .requirements_v2()
            .into_iter()
            .enumerate()
            .find(|(_, o)| {
                o.scheme == accepted.scheme
                    && o.network == accepted.network
                    && o.amount == accepted.amount
                    && o.asset == accepted.asset
                    && o.pay_to == accepted.pay_to
                    && o.max_timeout_seconds == accepted.max_timeout_seconds
                    && o.other == accepted.other
                    && extra_covers(o.extra.as_ref(), accepted.extra.as_ref())
            })?;
        BatchRequirement::from_v2(&offer)
            .ok()
            .map(|requirement| (index, requirement))
    }

    /// When to claim a channel of `token` on `chain_id`: the `batchSettlement.claim` terms, the
    /// threshold in that token's atomic units (from the first batch route offering it). `None`
    /// when batch-settlement is off or no route offers that token there (a channel left from an
    /// earlier configuration).
    pub fn claim_policy(&self, chain_id: u64, token: Address) -> Option<ClaimPolicy> {
        let batch = self.batch.as_ref()?;
        let terms = self
            .routes
            .iter()
            .filter(|r| r.batch)
            .flat_map(|r| &r.options)
            .filter(|o| o.network.chain_id() == Some(chain_id) && o.asset == token)
            .find_map(|o| o.batch.as_ref())?;
        Some(ClaimPolicy {
            threshold: terms.claim_threshold,
            max_age: batch.claim.max_age_seconds,
            withdrawal_margin: batch.claim.withdrawal_margin_seconds,
        })
    }

    /// How often (seconds) a channel holding unclaimed charges re-reads chain state:
    /// `batchSettlement.claim.checkIntervalSeconds`, by default [`mirror_ttl`] of the withdrawal
    /// delay (300 s for 900).
    pub fn check_interval_seconds(&self) -> u64 {
        self.batch
            .as_ref()
            .map_or(mirror_ttl(DEFAULT_WITHDRAW_DELAY), |b| {
                b.claim.check_interval_seconds
            })
    }
}
