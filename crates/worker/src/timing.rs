//! `Server-Timing` (W3C Server Timing) for a paid `exact` request, when the configuration's
//! `serverTiming` is on: how long each phase took, in milliseconds, for operators and for
//! `bash scripts/bench` (which reports where a payment's time goes). The phases are the payer's
//! guard (`guard`: its Durable Object reserves the authorization while the nonce and balance
//! are read on chain alongside), the on-chain checks again (`chain`, only after the guard made
//! the request wait for another copy), the guard's admission (`admit`), the content (`content`)
//! and the settlement (`settle`: broadcast and receipt).
//! workerd moves its clock on I/O only; every phase is I/O, so each is measured to the
//! millisecond. Off by default: it tells a client how the server spends its time.

/// The phases of one request, measured as they end.
pub(crate) struct Timing {
    on: bool,
    last: u64,
    phases: Vec<(&'static str, u64)>,
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

impl Timing {
    /// Starts measuring (nothing is read or kept when `on` is false).
    pub(crate) fn start(on: bool) -> Self {
        Timing {
            on,
            last: if on { now_ms() } else { 0 },
            phases: Vec::new(),
        }
    }

    /// The phase `name` ends now.
    pub(crate) fn mark(&mut self, name: &'static str) {
        if self.on {
            let now = now_ms();
            self.phases.push((name, now.saturating_sub(self.last)));
            self.last = now;
        }
    }

    /// The `Server-Timing` header, when on: `guard;dur=2, chain;dur=1, …`.
    pub(crate) fn header(&self) -> Option<(&'static str, String)> {
        self.on.then(|| {
            let value = self
                .phases
                .iter()
                .map(|(name, ms)| format!("{name};dur={ms}"))
                .collect::<Vec<_>>()
                .join(", ");
            ("Server-Timing", value)
        })
    }
}
