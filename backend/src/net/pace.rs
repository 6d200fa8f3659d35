//! The clock rules of reading one message, as arithmetic over instants (no socket, no sleep):
//! how long the next read may wait, and which limit a late or slow sender broke.
//!
//! - Before the first byte of a reply we wait `first_byte` (one real server answers after
//!   15 s); a request we accepted gets no such grace.
//! - The control part of a message (everything before `FILE_DATA`'s content) must be whole
//!   within `message_deadline`, counted from the first byte of a reply, or from the accept of
//!   a request: trickling it one byte at a time does not keep a connection.
//! - A transfer must keep `min_rate` wire bytes per second over each `rate_window`: a reply
//!   from its first byte, a request (a push) from the first byte of its content.
//! - Every read makes progress within `idle`.
//!
//! The same rules, from the first byte of the content, time a `FILE_DATA` we send
//! (`net/outgoing.rs`): its reader must take it as fast as we would read it.

use super::Limits;
use std::time::{Duration, Instant};

/// Which side of the exchange we are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We accepted the connection and read what the other side sends.
    Request,
    /// We asked (GET_FILE) and read the answer.
    Reply,
}

/// The limit a sender broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// No first byte of the reply in time.
    FirstByte,
    /// The control part of the message was not whole in time.
    Deadline,
    /// Fewer than `needed` bytes arrived in one rate window.
    Slow { got: u64, needed: u64 },
    /// A read made no progress for `idle`.
    Idle,
}

/// The deadlines of one message being read.
#[derive(Debug)]
pub struct Pace {
    role: Role,
    limits: Limits,
    /// When the first byte must have arrived, until it has.
    first_byte_by: Option<Instant>,
    /// When the control part must be whole; `None` once content flows (or before a reply's
    /// first byte).
    control_by: Option<Instant>,
    /// The current rate window: its start and the bytes seen in it.
    window: Option<(Instant, u64)>,
    /// The last time a read returned bytes (or the start).
    last_progress: Instant,
}

impl Pace {
    /// The rules for a message whose reading starts at `now`.
    pub fn new(limits: &Limits, role: Role, now: Instant) -> Self {
        let (first_byte_by, control_by) = match role {
            Role::Request => (None, Some(now + limits.message_deadline)),
            Role::Reply => (Some(now + limits.first_byte), None),
        };
        Pace {
            role,
            limits: *limits,
            first_byte_by,
            control_by,
            window: None,
            last_progress: now,
        }
    }

    fn window_end(&self) -> Option<Instant> {
        self.window
            .map(|(start, _)| start + self.limits.rate_window)
    }

    /// How long the next read may wait, from `now`.
    pub fn next_wait(&self, now: Instant) -> Duration {
        [
            Some(self.last_progress + self.limits.idle),
            self.first_byte_by,
            self.control_by,
            self.window_end(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("idle always applies")
        .saturating_duration_since(now)
    }

    fn needed(&self) -> u64 {
        (self.limits.min_rate as f64 * self.limits.rate_window.as_secs_f64()) as u64
    }

    /// Closes every rate window that ended by `now`.
    fn roll(&mut self, now: Instant) -> Result<(), Cut> {
        let needed = self.needed();
        while let Some((start, got)) = self.window {
            let end = start + self.limits.rate_window;
            if now < end {
                break;
            }
            if got < needed {
                return Err(Cut::Slow { got, needed });
            }
            self.window = Some((end, 0));
        }
        Ok(())
    }

    fn start_window(&mut self, now: Instant) {
        if self.window.is_none() && self.limits.min_rate > 0 && !self.limits.rate_window.is_zero() {
            self.window = Some((now, 0));
        }
    }

    /// `n` bytes arrived at `now`.
    pub fn read(&mut self, n: usize, now: Instant) -> Result<(), Cut> {
        self.roll(now)?;
        if self.first_byte_by.take().is_some() {
            self.control_by = Some(now + self.limits.message_deadline);
            if self.role == Role::Reply {
                self.start_window(now);
            }
        }
        if let Some((_, got)) = &mut self.window {
            *got += n as u64;
        }
        self.last_progress = now;
        Ok(())
    }

    /// The content of a `FILE_DATA` began at `now`: the rate rule takes over from the deadline.
    pub fn content_began(&mut self, now: Instant) {
        self.control_by = None;
        self.start_window(now);
    }

    /// The wait that [`Pace::next_wait`] gave ran out at `now`: the limit that was hit, or
    /// `Ok` when only a rate window closed (with enough bytes in it).
    pub fn timed_out(&mut self, now: Instant) -> Result<(), Cut> {
        if self.first_byte_by.is_some_and(|by| now >= by) {
            return Err(Cut::FirstByte);
        }
        if self.control_by.is_some_and(|by| now >= by) {
            return Err(Cut::Deadline);
        }
        self.roll(now)?;
        if now >= self.last_progress + self.limits.idle {
            return Err(Cut::Idle);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            first_byte: Duration::from_secs(20),
            idle: Duration::from_secs(30),
            message_deadline: Duration::from_secs(10),
            min_rate: 1000,
            rate_window: Duration::from_secs(2),
            ..Limits::default()
        }
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn a_request_trickled_past_the_deadline_is_cut() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Request, t0);
        for s in 1..10 {
            pace.read(1, secs(t0, s as f64)).unwrap();
        }
        assert_eq!(pace.next_wait(secs(t0, 9.0)), Duration::from_secs(1));
        assert_eq!(pace.timed_out(secs(t0, 10.0)), Err(Cut::Deadline));
    }

    #[test]
    fn a_request_has_no_rate_rule_before_its_content() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Request, t0);
        pace.read(1, secs(t0, 5.0)).unwrap();
        assert_eq!(pace.timed_out(secs(t0, 7.0)), Ok(()));
    }

    #[test]
    fn a_push_below_the_rate_is_cut_after_one_window() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Request, t0);
        pace.read(100, secs(t0, 0.1)).unwrap();
        pace.content_began(secs(t0, 0.1));
        pace.read(1500, secs(t0, 1.0)).unwrap();
        assert_eq!(pace.next_wait(secs(t0, 1.0)), Duration::from_millis(1100));
        assert_eq!(
            pace.timed_out(secs(t0, 2.1)),
            Err(Cut::Slow {
                got: 1500,
                needed: 2000
            })
        );
    }

    #[test]
    fn content_lifts_the_message_deadline() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Request, t0);
        pace.read(10, secs(t0, 1.0)).unwrap();
        pace.content_began(secs(t0, 1.0));
        for s in 2..30 {
            pace.read(5000, secs(t0, s as f64)).unwrap();
        }
        assert_eq!(pace.timed_out(secs(t0, 30.0)), Ok(()));
    }

    #[test]
    fn a_reply_gets_its_first_byte_grace_then_the_rate_rule() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Reply, t0);
        assert_eq!(pace.next_wait(t0), Duration::from_secs(20));
        pace.read(1, secs(t0, 15.0)).unwrap();
        assert_eq!(pace.next_wait(secs(t0, 15.0)), Duration::from_secs(2));
        assert_eq!(
            pace.timed_out(secs(t0, 17.0)),
            Err(Cut::Slow {
                got: 1,
                needed: 2000
            })
        );
    }

    #[test]
    fn a_silent_reply_times_out_on_its_first_byte() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Reply, t0);
        assert_eq!(pace.timed_out(secs(t0, 20.0)), Err(Cut::FirstByte));
    }

    #[test]
    fn a_steady_reply_passes_window_after_window() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Reply, t0);
        pace.read(10, t0).unwrap();
        pace.content_began(t0);
        for tenth in 1..100 {
            pace.read(300, secs(t0, tenth as f64 / 10.0)).unwrap();
        }
        assert_eq!(pace.timed_out(secs(t0, 10.0)), Ok(()));
    }

    #[test]
    fn a_window_without_bytes_is_cut_even_when_the_one_before_was_fast() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&limits(), Role::Reply, t0);
        pace.read(10_000, secs(t0, 0.5)).unwrap();
        assert_eq!(pace.timed_out(secs(t0, 2.5)), Ok(()));
        assert_eq!(
            pace.read(1, secs(t0, 4.6)),
            Err(Cut::Slow {
                got: 0,
                needed: 2000
            })
        );
    }

    #[test]
    fn a_zero_min_rate_turns_the_rate_rule_off() {
        let t0 = Instant::now();
        let l = Limits {
            min_rate: 0,
            ..limits()
        };
        let mut pace = Pace::new(&l, Role::Reply, t0);
        pace.read(1, t0).unwrap();
        pace.content_began(t0);
        pace.read(1, secs(t0, 25.0)).unwrap();
        assert_eq!(pace.timed_out(secs(t0, 50.0)), Ok(()));
        assert_eq!(pace.timed_out(secs(t0, 55.0)), Err(Cut::Idle));
    }
}
