//! Readiness bits and the packed readiness word of a registration.
//!
//! A registration's readiness lives in one `AtomicUsize` laid out as
//! `[tick: high bits | SHUTDOWN | ERROR | WRITE_CLOSED | READ_CLOSED | WRITABLE | READABLE]`.
//! The driver ORs bits in and bumps `tick` on every dispatched event; a task clears
//! the bits of its direction only if `tick` still equals the one it observed, so an
//! event that arrived between "observed ready" and "got `WouldBlock`" is never lost.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of readiness bits.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ready(usize);

impl Ready {
    /// No readiness.
    pub(crate) const EMPTY: Ready = Ready(0);
    /// A read would not block.
    pub(crate) const READABLE: Ready = Ready(1 << 0);
    /// A write would not block.
    pub(crate) const WRITABLE: Ready = Ready(1 << 1);
    /// The peer closed its write side (reads reach EOF).
    pub(crate) const READ_CLOSED: Ready = Ready(1 << 2);
    /// Our write side is closed (writes fail).
    pub(crate) const WRITE_CLOSED: Ready = Ready(1 << 3);
    /// The socket has a pending error (both directions must retry to see it).
    pub(crate) const ERROR: Ready = Ready(1 << 4);
    /// The reactor shut down: every wait completes with an error.
    pub(crate) const SHUTDOWN: Ready = Ready(1 << 5);
    /// Mask of all the readiness bits in the packed word.
    const MASK: usize = (1 << 6) - 1;

    /// Whether every bit of `other` is set in `self`.
    pub(crate) fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` without the bits of `other`.
    pub(crate) fn without(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }

    /// `self` restricted to the bits of `other`.
    pub(crate) fn and(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }

    /// The readiness bits of a packed word.
    pub(crate) fn from_word(word: usize) -> Ready {
        Ready(word & Ready::MASK)
    }

    /// The bits as a raw `usize` (for the packed word).
    pub(crate) fn bits(self) -> usize {
        self.0
    }

    /// The readiness a `polling` event reports.
    pub(crate) fn from_event(event: &polling::Event) -> Ready {
        let mut ready = Ready::EMPTY;
        if event.readable {
            ready |= Ready::READABLE;
        }
        if event.writable {
            ready |= Ready::WRITABLE;
        }
        if event.is_interrupt() {
            // HUP: both directions are closed; reads return EOF, writes fail.
            ready |= Ready::READ_CLOSED | Ready::WRITE_CLOSED;
        }
        if event.is_err() == Some(true) {
            ready |= Ready::ERROR;
        }
        ready
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, rhs: Ready) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
            (Ready::SHUTDOWN, "SHUTDOWN"),
        ];
        let mut set = f.debug_set();
        for (bit, name) in names {
            if self.contains(bit) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// One direction a task waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Waiting to read (or accept, or receive).
    Read,
    /// Waiting to write (or connect, or send).
    Write,
}

impl Direction {
    /// The bits that end a wait in this direction: its own bit plus the terminal
    /// conditions (closed, error, shutdown) under which the operation must be retried
    /// to surface EOF or the error.
    pub(crate) fn wake_mask(self) -> Ready {
        let terminal = Ready::ERROR | Ready::SHUTDOWN;
        match self {
            Direction::Read => Ready::READABLE | Ready::READ_CLOSED | terminal,
            Direction::Write => Ready::WRITABLE | Ready::WRITE_CLOSED | terminal,
        }
    }

    /// The bits a task clears after `WouldBlock` in this direction: everything that ends a
    /// wait except `SHUTDOWN`. The OS just said "would block", so any closed/error bit was
    /// consumed (e.g. a UDP ICMP error returned by the previous `recv`); keeping it would
    /// make every later wait return at once and the task spin.
    pub(crate) fn clear_mask(self) -> Ready {
        self.wake_mask().without(Ready::SHUTDOWN)
    }

    /// The interest to arm with the poller for this direction.
    pub(crate) fn interest(self) -> Ready {
        match self {
            Direction::Read => Ready::READABLE,
            Direction::Write => Ready::WRITABLE,
        }
    }
}

/// Readiness observed by a task, with the tick it was observed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    /// The readiness bits seen.
    pub(crate) ready: Ready,
    /// The dispatch tick at which they were seen.
    pub(crate) tick: usize,
}

/// Bits below the tick in the packed word.
pub(crate) const TICK_SHIFT: usize = 8;

/// The tick of a packed word.
pub(crate) fn tick_of(word: usize) -> usize {
    word >> TICK_SHIFT
}

/// A packed word from readiness and tick (the tick wraps).
pub(crate) fn pack(ready: Ready, tick: usize) -> usize {
    (tick << TICK_SHIFT) | ready.bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_tick_wraps() {
        let word = pack(Ready::READABLE | Ready::ERROR, 41);
        assert_eq!(Ready::from_word(word), Ready::READABLE | Ready::ERROR);
        assert_eq!(tick_of(word), 41);
        let max = usize::MAX >> TICK_SHIFT;
        assert_eq!(tick_of(pack(Ready::EMPTY, max.wrapping_add(1))), 0);
    }

    #[test]
    fn wake_mask_includes_terminal_bits() {
        assert!(Direction::Read.wake_mask().contains(Ready::SHUTDOWN));
        assert!(Direction::Write.wake_mask().contains(Ready::ERROR));
        assert!(Direction::Read.wake_mask().and(Ready::WRITABLE).is_empty());
        assert_eq!(format!("{:?}", Ready::READABLE | Ready::WRITABLE), "{READABLE, WRITABLE}");
    }
}
