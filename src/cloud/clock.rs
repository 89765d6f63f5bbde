//! The engine's one clock. Real runs use wall time; against a sandbox whose
//! simulation runs `scale` times faster than wall time, every wait sleeps
//! `d / scale` while durations shown to the user stay in simulated time.
//! Ctrl-C cancels every pending wait through the same type.
//!
//! Which of the two it is, the target says: [`Clock::of_target`] reads the
//! time scale a sandbox advertises on its API server's responses
//! ([`TIME_SCALE_HEADER`]); a real API server sends no such header, so the
//! clock is wall time. One code path for every target, embedded or served.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::CloudError;

#[derive(Clone, Debug)]
pub struct Clock {
    scale: f64,
    started: Instant,
    /// Wall-clock time at simulated time zero, as the cluster counts it.
    epoch: SystemTime,
    cancel: Arc<watch::Sender<bool>>,
}

/// Response header with which a sandbox advertises how many simulated
/// seconds pass per wall second.
pub const TIME_SCALE_HEADER: &str = "x-runbook-sandbox-time-scale";

/// Response header with which a sandbox advertises its simulated time now,
/// in milliseconds since the Unix epoch: the time its timestamps count in,
/// which a clock of a served sandbox starts from.
pub const NOW_HEADER: &str = "x-runbook-sandbox-now-ms";

impl Clock {
    /// The clock of the cluster `kube` talks to: scaled by the time scale its
    /// API server advertises, wall time when it advertises none. Transient
    /// failures (5xx, 429, connection errors) are retried a few times; a
    /// target that never answers gets wall time, which is always safe (only
    /// slower against a sandbox).
    pub async fn of_target(kube: &kube::Client) -> Self {
        let mut backoff = Duration::from_millis(50);
        for _ in 0..6 {
            let request = http::Request::get("/version")
                .body(Vec::new())
                .expect("a constant request is valid");
            match kube.send(request.map(kube::client::Body::from)).await {
                Ok(resp) => {
                    if let Some(scale) = advertised_scale(resp.headers()) {
                        let clock = Self::scaled(scale);
                        return match advertised_now(resp.headers()) {
                            Some(now) => clock.with_origin(Instant::now(), now),
                            None => clock,
                        };
                    }
                    let status = resp.status();
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        return Self::real();
                    }
                }
                Err(e) => tracing::debug!("reading the target's clock: {e}"),
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        Self::real()
    }

    /// Wall time (scale 1).
    pub fn real() -> Self {
        Self::scaled(1.0)
    }

    /// A clock running `scale` times faster than wall time (a sandbox's
    /// `time_scale`).
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Clock {
            scale,
            started: Instant::now(),
            epoch: SystemTime::now(),
            cancel: Arc::new(watch::channel(false).0),
        }
    }

    /// The same clock, started when a sandbox's clock started (`started`),
    /// whose simulated time zero is the wall time `epoch` it stamps objects
    /// from: the engine's "now" is then the sandbox's.
    pub fn with_origin(mut self, started: Instant, epoch: SystemTime) -> Self {
        self.started = started;
        self.epoch = epoch;
        self
    }

    /// The time now on the cluster's clock, to compare with the timestamps
    /// it writes (a node's age): wall time on a real cluster, the sandbox's
    /// simulated time on a sandbox.
    pub fn wall_now(&self) -> jiff::Timestamp {
        jiff::Timestamp::try_from(self.epoch + self.now()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated time elapsed since the clock was made.
    pub fn now(&self) -> Duration {
        self.started.elapsed().mul_f64(self.scale)
    }

    /// Simulated time since an earlier reading of `now`.
    pub fn since(&self, earlier: Duration) -> Duration {
        self.now().saturating_sub(earlier)
    }

    /// Sleep for `d` of simulated time; fails early when cancelled.
    pub async fn sleep(&self, d: Duration) -> Result<(), CloudError> {
        if self.is_cancelled() {
            return Err(CloudError::Cancelled);
        }
        let mut rx = self.cancel.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(d.div_f64(self.scale)) => Ok(()),
            _ = rx.wait_for(|c| *c) => Err(CloudError::Cancelled),
        }
    }

    /// Stop every current and future wait (Ctrl-C).
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Let waits run again after a cancel: rollback after Ctrl-C must be
    /// able to wait for its own updates (a second Ctrl-C cancels it).
    pub fn reset_cancel(&self) {
        self.cancel.send_replace(false);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// A deadline `d` of simulated time from now.
    pub fn deadline(&self, d: Duration) -> Deadline {
        Deadline {
            at: self.now() + d,
            budget: d,
        }
    }
}

fn advertised_scale(headers: &http::HeaderMap) -> Option<f64> {
    let scale: f64 = headers
        .get(TIME_SCALE_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (scale.is_finite() && scale > 0.0).then_some(scale)
}

fn advertised_now(headers: &http::HeaderMap) -> Option<SystemTime> {
    let ms: u64 = headers.get(NOW_HEADER)?.to_str().ok()?.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// A point in simulated time after which a wait gives up.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Duration,
    budget: Duration,
}

impl Deadline {
    pub fn passed(&self, clock: &Clock) -> bool {
        clock.now() >= self.at
    }

    /// The whole budget this deadline was made with (for messages).
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// `1h2m3s`-style rendering of a (simulated) duration.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, 0, _) if secs == 0 && d.subsec_millis() > 0 => format!("{}ms", d.subsec_millis()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scaled_sleep_takes_a_fraction_of_wall_time() {
        let clock = Clock::scaled(1000.0);
        let wall = Instant::now();
        clock.sleep(Duration::from_secs(2)).await.unwrap();
        assert!(wall.elapsed() < Duration::from_millis(500));
        assert!(clock.now() >= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn cancel_interrupts_a_sleep() {
        let clock = Clock::real();
        let c2 = clock.clone();
        let sleeper = tokio::spawn(async move { c2.sleep(Duration::from_secs(3600)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        clock.cancel();
        let r = tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(r, Err(CloudError::Cancelled)));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(3600 + 120)), "1h2m");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(7)), "7s");
    }
}
