//! Clocks and the random source.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::ports::{Clock, Random};

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told (tests of expiry and rate windows).
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self { now: Mutex::new(start) }
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The operating system's CSPRNG (through aws-lc).
pub struct SecureRandom;

impl Random for SecureRandom {
    fn fill(&self, buf: &mut [u8]) {
        // aws-lc's generator fails only if the OS has no entropy source, which no
        // supported platform lacks; continuing without randomness would be worse.
        aws_lc_rs::rand::fill(buf).expect("the system random source failed");
    }
}
