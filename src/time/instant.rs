//! `hioload::time::Instant`: a monotonic instant read from the runtime clock.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

use super::{clock, context};

/// A measurement of the runtime's monotonic clock; replaces `tokio::time::Instant`.
///
/// Inside a hioload runtime, [`Instant::now`] reads the runtime's clock, which a test
/// may pause and advance (see [`crate::testing`]); outside one it reads the real
/// clock. Otherwise it behaves like [`std::time::Instant`], which it wraps.
///
/// # Examples
///
/// ```
/// use hioload::time::Instant;
/// use std::time::Duration;
///
/// let start = Instant::now();
/// let later = start + Duration::from_millis(5);
/// assert_eq!(later - start, Duration::from_millis(5));
/// assert_eq!(start.duration_since(later), Duration::ZERO); // saturates, as std
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// The underlying std instant (virtual time is an offset std instant).
    std: std::time::Instant,
}

impl Instant {
    /// The current time of the current runtime's clock (the real clock outside one).
    pub fn now() -> Instant {
        let std =
            context::with_current(|driver| driver.clock().now()).unwrap_or_else(clock::real_now);
        Instant { std }
    }

    /// Wraps a [`std::time::Instant`].
    pub fn from_std(std: std::time::Instant) -> Instant {
        Instant { std }
    }

    /// The underlying [`std::time::Instant`].
    pub fn into_std(self) -> std::time::Instant {
        self.std
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.std.checked_duration_since(earlier.std)
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time elapsed since `self` on the current runtime's clock (zero if in the future).
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.std.checked_add(duration).map(Instant::from_std)
    }

    /// `self - duration`, or `None` on underflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.std.checked_sub(duration).map(Instant::from_std)
    }

    /// `self + duration`, saturating at about 30 years from `self` (a timer "never").
    pub(crate) fn saturating_add(self, duration: Duration) -> Instant {
        self.checked_add(duration).unwrap_or_else(|| Instant::from_std(clock::far_future(self.std)))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant { std }
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.std
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// On overflow, as `std::time::Instant`.
    fn add(self, rhs: Duration) -> Instant {
        Instant { std: self.std + rhs }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.std += rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// On underflow, as `std::time::Instant`.
    fn sub(self, rhs: Duration) -> Instant {
        Instant { std: self.std - rhs }
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.std -= rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates to zero when `rhs` is later, as `std::time::Instant`.
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{driver::TimeDriver, Clock};
    use std::sync::Arc;

    #[test]
    fn now_reads_the_current_runtime_clock() {
        let clock = Clock::paused();
        let driver = TimeDriver::new(clock.clone(), 1, Arc::new(|| {}));
        let _guard = context::enter(driver, 0);
        let t0 = Instant::now();
        assert_eq!(t0.into_std(), clock.now());
        clock.advance(Duration::from_secs(2)).unwrap();
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }

    #[test]
    fn arithmetic_matches_std() {
        let t = Instant::now();
        assert_eq!((t + Duration::from_secs(1)).checked_sub(Duration::from_secs(1)), Some(t));
        // Not 1 ns: std on Windows treats differences below one counter tick as zero.
        assert_eq!(t.checked_duration_since(t + Duration::from_millis(1)), None);
        assert_eq!(t.saturating_duration_since(t + Duration::from_secs(1)), Duration::ZERO);
        assert!(t.checked_add(Duration::MAX).is_none());
        assert!(t.saturating_add(Duration::MAX) > t);
        let mut u = t;
        u += Duration::from_millis(3);
        u -= Duration::from_millis(1);
        assert_eq!(u - t, Duration::from_millis(2));
        assert_eq!(Instant::from(t.into_std()), t);
    }
}
