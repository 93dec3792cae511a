//! The relayer's rules: where the next account nonce of a self-settling relayer comes from
//! (`docs/protocol.md`, "Settlement"), when its alarm is set, how its receipt reads are
//! batched. The Worker's `Relayer` Durable Object is the one place that assigns nonces; these
//! are its pure policies, so they can be tested here.
//!
//! The relayer keeps its own counter (`next`) so concurrent settlements never share a nonce.
//! Before each assignment it asks the node for `eth_getTransactionCount(relayer, "pending")`:
//! the number of the relayer's transactions the node knows (mined or waiting in its pool).
//!
//! - The node is **ahead** (`pending > next`): someone else used the key (another deployment,
//!   a manual transaction). Jump to `pending`; lower nonces are taken.
//! - The node is **behind** (`pending < next`): the node knows no transaction of ours with
//!   nonce `pending` (it would count it otherwise). That happens when a broadcast's outcome
//!   was unknown (the connection broke) and the transaction never reached the node, or the
//!   node dropped it. Left alone, every later transaction would wait behind that gap forever.
//!   So the counter goes back to `pending` — but **only if no broadcast of ours was in flight
//!   while the count was read** (`quiet`): a transaction sent a moment earlier may not be
//!   counted yet, and reusing its nonce would only get the new one refused. Reusing the nonce
//!   of a lost transaction is safe: each transaction carries a different EIP-3009
//!   authorization, so if the lost one does show up later, at most one of the two is mined
//!   (same nonce), and the lost one's authorization stays recorded as pending, never re-sent.
//! - Equal: nothing to do.

/// The relayer's next nonce, from its own counter (`None` before the first assignment), the
/// node's pending transaction count, and whether no broadcast was in flight while that count
/// was read (see the module documentation).
pub fn next_nonce(ours: Option<u64>, node_pending: u64, quiet: bool) -> u64 {
    match ours {
        None => node_pending,
        Some(n) if node_pending > n => node_pending,
        Some(n) if node_pending < n && quiet => node_pending,
        Some(n) => n,
    }
}

/// The relayer's alarm rule: the time (unix ms) to set its Durable Object alarm to so that it
/// fires by `wanted`, or `None` when the alarm already known to be set (`known`) does.
///
/// A sooner alarm is never moved later: each queued settlement asks for "now", and under a
/// steady stream of them an alarm moved to "now" on every request keeps being postponed (the
/// runtime reschedules instead of firing) while the queue waits. A known alarm overdue by more
/// than `stale_ms` is taken as lost (the runtime dropped it, or it fired into a handler that
/// failed) and set again.
pub fn alarm_to_set(known: Option<u64>, wanted: u64, now: u64, stale_ms: u64) -> Option<u64> {
    match known {
        Some(at) if at <= wanted && at.saturating_add(stale_ms) >= now => None,
        _ => Some(wanted),
    }
}

/// How many of `items` (each making `calls` JSON-RPC calls, in order) go in each batch of at
/// most `max` calls: as many as fit, at least one per batch (an item larger than `max` goes
/// alone). The relayer asks for the receipts of its mined transactions this way, so a backlog
/// never makes one answer too large to read.
pub fn batch_sizes(calls: &[usize], max: usize) -> alloc::vec::Vec<usize> {
    let mut out = alloc::vec::Vec::new();
    let (mut items, mut total) = (0, 0);
    for &c in calls {
        if items > 0 && total + c > max {
            out.push(items);
            (items, total) = (0, 0);
        }
        items += 1;
        total += c;
    }
    if items > 0 {
        out.push(items);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{alarm_to_set, batch_sizes, next_nonce};
    use alloc::vec;

    #[test]
    fn a_backlog_is_asked_for_in_bounded_batches() {
        // 200 transactions of one version each: 64, 64, 64, 8.
        assert_eq!(batch_sizes(&[1; 200], 64), vec![64, 64, 64, 8]);
        // Replaced ones count every version.
        assert_eq!(batch_sizes(&[6, 6, 6, 1, 1], 12), vec![2, 3]);
        // One larger than a batch goes alone; nothing is dropped.
        assert_eq!(batch_sizes(&[70, 1, 1], 64), vec![1, 2]);
        assert_eq!(batch_sizes(&[], 64), vec![0usize; 0]);
        let sizes = batch_sizes(&[3; 1000], 64);
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.iter().all(|n| n * 3 <= 64));
    }

    #[test]
    fn an_alarm_is_set_when_none_is() {
        assert_eq!(alarm_to_set(None, 1_001, 1_000, 10_000), Some(1_001));
    }

    #[test]
    fn a_sooner_alarm_is_never_postponed() {
        // Set for 1 001; requests at 1 000 … 1 000 + k each want "now + 1 ms": all keep it.
        for now in 1_000..1_050 {
            assert_eq!(
                alarm_to_set(Some(1_001), now + 1, now, 10_000),
                None,
                "{now}"
            );
        }
        // Asked for a later time (the next tracking round) while one is due sooner: kept.
        assert_eq!(alarm_to_set(Some(1_001), 3_000, 1_000, 10_000), None);
    }

    #[test]
    fn a_later_alarm_is_brought_forward() {
        assert_eq!(alarm_to_set(Some(3_000), 1_001, 1_000, 10_000), Some(1_001));
    }

    #[test]
    fn an_alarm_long_overdue_is_set_again() {
        // Due at 1 000, still believed set at 20 000: lost.
        assert_eq!(
            alarm_to_set(Some(1_000), 20_001, 20_000, 10_000),
            Some(20_001)
        );
        // Overdue by less than the bound: the runtime may just be late.
        assert_eq!(alarm_to_set(Some(1_000), 5_001, 5_000, 10_000), None);
    }

    #[test]
    fn starts_from_the_node() {
        assert_eq!(next_nonce(None, 7, true), 7);
        assert_eq!(next_nonce(None, 7, false), 7);
    }

    #[test]
    fn follows_the_node_when_it_is_ahead() {
        assert_eq!(next_nonce(Some(3), 9, true), 9);
        assert_eq!(next_nonce(Some(3), 9, false), 9);
    }

    #[test]
    fn closes_a_gap_only_when_quiet() {
        // Nonce 5 was signed, its broadcast broke, the node never saw it: pending stays 5.
        assert_eq!(next_nonce(Some(6), 5, true), 5);
        // A broadcast was in flight while counting: it may not be counted yet; keep ours.
        assert_eq!(next_nonce(Some(6), 5, false), 6);
    }

    #[test]
    fn in_step() {
        assert_eq!(next_nonce(Some(4), 4, true), 4);
        assert_eq!(next_nonce(Some(4), 4, false), 4);
    }
}
