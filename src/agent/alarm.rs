//! The gossip task's one timer: the node's next deadline.
//!
//! An idle agent's CPU is its wake-ups (BENCHMARKS.md, issue 15), and
//! tokio's timer wheel wakes three times for one deadline a few hundred
//! milliseconds away: once where the wheel moves the timer down a level
//! (its slots there are 64 ms wide), once at the deadline, and once more
//! because arming a timer earlier than the wheel's next one writes to the
//! runtime's eventfd. On Linux the alarm is a `timerfd` in the runtime's
//! epoll set instead, re-armed only when the deadline moves, so a deadline
//! costs one wake-up. Elsewhere, or if the kernel refuses a timerfd, it is
//! a tokio `Sleep`.

#[cfg(target_os = "linux")]
use std::time::Duration;

use crate::core::Time;

/// Fires once at the deadline last set, in the node's [`Time`].
pub(super) struct Alarm {
    /// The instant the node's time counts from (for tokio's timer).
    origin: tokio::time::Instant,
    /// `None` where there is no timerfd, or after the kernel refused one.
    #[cfg(target_os = "linux")]
    timerfd: Option<timerfd::Timer>,
    /// The deadline the alarm is armed for.
    armed: Option<Time>,
}

impl Alarm {
    /// `origin` is the instant the node's time counts from.
    pub(super) fn new(origin: std::time::Instant) -> Self {
        Self {
            origin: tokio::time::Instant::from_std(origin),
            #[cfg(target_os = "linux")]
            timerfd: timerfd::Timer::new()
                .inspect_err(|err| give_up("creating", err))
                .ok(),
            armed: None,
        }
    }

    /// Arms the alarm for `deadline`; `now` is the node's time now. Costs a
    /// system call only when the deadline moved.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    pub(super) fn set(&mut self, deadline: Time, now: Time) {
        if self.armed == Some(deadline) {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timerfd {
            // Zero would disarm a timerfd: a deadline already due fires
            // after a microsecond.
            let after = deadline.saturating_sub(now).max(Duration::from_micros(1));
            if let Err(err) = timer.arm(after) {
                give_up("arming", &err);
                self.timerfd = None;
            }
        }
        self.armed = Some(deadline);
    }

    /// Resolves once the armed deadline has passed (pending forever when
    /// none is). It may resolve early after an error: the node looks at its
    /// deadlines itself.
    pub(super) async fn fired(&mut self) {
        let Some(deadline) = self.armed else {
            return std::future::pending().await;
        };
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timerfd {
            if let Err(err) = timer.expired().await {
                give_up("reading", &err);
                self.timerfd = None;
            }
            self.armed = None;
            return;
        }
        tokio::time::sleep_until(self.origin + deadline).await;
        self.armed = None;
    }
}

#[cfg(target_os = "linux")]
fn give_up(doing: &str, err: &std::io::Error) {
    tracing::warn!(
        error = err.to_string().as_str(),
        "{doing} the gossip timer's timerfd failed; using tokio's timer (a few more wake-ups)"
    );
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;

    use nix::errno::Errno;
    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// `AsyncFd` wants `AsRawFd`; nix's `TimerFd` offers `AsFd`.
    struct Fd(TimerFd);

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    pub(super) struct Timer(AsyncFd<Fd>);

    impl Timer {
        pub(super) fn new() -> io::Result<Self> {
            let fd = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )?;
            // tokio 1.54 deprecated the safe registration because an
            // `AsRawFd` may close or swap its descriptor while registered;
            // `Fd` owns its descriptor for as long as the `AsyncFd` lives
            // and never exposes it mutably, so this use is sound, and the
            // crate forbids `unsafe`.
            #[allow(deprecated)]
            let registered = AsyncFd::with_interest(Fd(fd), Interest::READABLE)?;
            Ok(Self(registered))
        }

        /// Fires once, `after` from now (never zero: that disarms).
        pub(super) fn arm(&self, after: Duration) -> io::Result<()> {
            let after = TimeSpec::from_duration(after);
            self.0
                .get_ref()
                .0
                .set(Expiration::OneShot(after), TimerSetTimeFlags::empty())?;
            Ok(())
        }

        /// Whether the one-shot timer expired (or was never armed).
        #[cfg(test)]
        pub(super) fn spent(&self) -> bool {
            matches!(self.0.get_ref().0.get(), Ok(None))
        }

        /// Waits for the expiry. Re-arming resets the kernel's count, but
        /// tokio may still hold the readiness of the expiry before: a read
        /// that finds nothing waits again.
        pub(super) async fn expired(&self) -> io::Result<()> {
            loop {
                let mut ready = self.0.readable().await?;
                let read = ready.get_inner().0.wait();
                // Read or not, the count is zero now and the one-shot timer
                // is spent until re-armed: not readable, so no read (and no
                // EAGAIN) is needed to learn that.
                ready.clear_ready();
                match read {
                    Ok(()) => return Ok(()),
                    Err(Errno::EAGAIN) => {}
                    Err(errno) => return Err(errno.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Alarm;

    /// The node's time since `origin`, as the agent's clock gives it.
    #[allow(clippy::disallowed_methods)]
    fn since(origin: Instant) -> Duration {
        origin.elapsed()
    }

    #[allow(clippy::disallowed_methods)]
    #[tokio::test]
    async fn the_alarm_fires_at_its_deadline_and_follows_it_when_it_moves() {
        let origin = Instant::now();
        let mut alarm = Alarm::new(origin);
        #[cfg(target_os = "linux")]
        assert!(alarm.timerfd.is_some(), "no timerfd on Linux");
        let bound = Duration::from_secs(5);

        // Armed 50 ms ahead, then moved to 20 ms ahead: fires at the later
        // setting's time, not before.
        let now = since(origin);
        alarm.set(now + Duration::from_millis(50), now);
        let deadline = now + Duration::from_millis(20);
        alarm.set(deadline, now);
        tokio::time::timeout(bound, alarm.fired())
            .await
            .expect("fired");
        assert!(since(origin) >= deadline);

        // A deadline already due fires at once; the same deadline set again
        // after it fired is not re-armed, and a new one is.
        let now = since(origin);
        alarm.set(now, now);
        tokio::time::timeout(bound, alarm.fired())
            .await
            .expect("fired");
        let later = since(origin) + Duration::from_millis(30);
        alarm.set(later, since(origin));
        tokio::time::timeout(bound, alarm.fired())
            .await
            .expect("fired");
        assert!(since(origin) >= later);

        // Moved away before it fires: the old deadline's expiry does not
        // count.
        let now = since(origin);
        alarm.set(now + Duration::from_millis(5), now);
        #[cfg(target_os = "linux")]
        {
            let timer = alarm.timerfd.as_ref().expect("timerfd");
            let given_up = Instant::now() + bound;
            while !timer.spent() {
                assert!(Instant::now() < given_up, "the timerfd never expired");
                std::thread::yield_now();
            }
        }
        // The runtime sees the expiry (its readiness is kept) before the
        // alarm moves, as when a datagram wins the race in the agent's loop.
        tokio::task::yield_now().await;
        let far = since(origin) + Duration::from_secs(3600);
        alarm.set(far, since(origin));
        let early = tokio::time::timeout(Duration::from_millis(100), alarm.fired()).await;
        assert!(early.is_err(), "fired for a deadline that had moved away");
    }
}
