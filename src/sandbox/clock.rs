//! The virtual clock: simulated time is `time_scale` × wall time since start,
//! plus any time a test or benchmark stepped explicitly. A time scale of 0
//! gives a purely manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct SimClock {
    start: Instant,
    scale: f64,
    manual_ms: AtomicU64,
}

impl SimClock {
    pub fn new(scale: f64) -> SimClock {
        SimClock {
            start: Instant::now(),
            scale: scale.max(0.0),
            manual_ms: AtomicU64::new(0),
        }
    }

    /// The instant simulated time started from.
    pub fn started(&self) -> Instant {
        self.start
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        let wall = self.start.elapsed().as_secs_f64() * 1000.0 * self.scale;
        wall as u64 + self.manual_ms.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        self.manual_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}
