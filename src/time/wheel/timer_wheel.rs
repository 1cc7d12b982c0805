//! The hierarchical timing wheel: a slab of nodes linked into per-slot lists.
#![forbid(unsafe_code)]

use super::level::{level_for, Expiration, Level, LEVEL_BITS, SLOTS};

/// "No node" in the `u32` links.
pub(crate) const NIL: u32 = u32::MAX;

/// log2 of the tick length in nanoseconds: one tick is 2^14 ns = 16.384 µs.
pub(crate) const TICK_SHIFT: u32 = 14;

/// Levels needed to hold any `u64` nanosecond deadline: ticks are below 2^50, and
/// nine levels of 6 bits cover 2^54 ticks.
pub(crate) const NUM_LEVELS: usize = 9;

/// The list id of the "due, not yet returned by `poll`" list.
const PENDING: u32 = (NUM_LEVELS * SLOTS) as u32;

/// The tick a nanosecond deadline falls into.
pub(crate) fn tick_of(ns: u64) -> u64 {
    ns >> TICK_SHIFT
}

/// Identifies an entry of a [`Wheel`] for [`Wheel::remove`]; stays valid until the
/// entry is removed or returned by [`Wheel::poll`], after which the slot may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u32);

/// One slab slot: a timer, or a link in the free list.
#[derive(Debug)]
struct Node<T> {
    /// The timer's value; `None` while the node is on the free list.
    value: Option<T>,
    /// Deadline in nanoseconds since the owner's origin.
    deadline: u64,
    /// Previous node of the same list, or `NIL` for the head.
    prev: u32,
    /// Next node of the same list (or of the free list), or `NIL`.
    next: u32,
    /// Which list holds the node: `level * SLOTS + slot`, or `PENDING`.
    list: u32,
}

/// A hierarchical timing wheel keyed by nanosecond deadlines.
///
/// Level `l` has 64 slots of `64^l` ticks each; level 0 slots are one tick (16.384 µs),
/// so level 0 spans 1.05 ms, level 1 67 ms, level 2 4.3 s, level 3 4.6 min, and so on
/// up to level 8. Insert and remove are O(1) (link/unlink in a slot list); `poll`
/// visits each occupied slot once per level an entry cascades through.
///
/// The wheel never reads a clock: the current time is the argument of [`Wheel::poll`].
/// A timer never fires early: `poll(now)` returns only entries with `deadline <= now`
/// (the current tick's slot is scanned entry by entry, so the tick length bounds the
/// work per slot, not the precision).
///
/// # Invariants
///
/// - `elapsed <= tick_of(now)`; every linked entry has `tick_of(deadline) >= elapsed`
///   and sits in level `level_for(elapsed_at_insert, tick)`, whose digit is greater
///   than `elapsed`'s (equal only at level 0).
/// - Entries on the `PENDING` list are due (`deadline <= now`).
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Slab of nodes; a `Key` is an index into it.
    nodes: Vec<Node<T>>,
    /// Head of the free list threaded through `Node::next`, or `NIL`.
    free: u32,
    /// The levels, finest first.
    levels: [Level; NUM_LEVELS],
    /// Head of the list of due entries not yet returned by `poll`.
    pending: u32,
    /// The tick up to which slots have been processed.
    elapsed: u64,
    /// The latest `now` passed to `poll` (nanoseconds); inserts at or before it are refused.
    now: u64,
    /// The `now` at which the current tick's slot was last scanned for due entries.
    scanned: u64,
    /// Number of entries (linked or pending).
    len: usize,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new()
    }
}

impl<T> Wheel<T> {
    /// Creates an empty wheel at time 0.
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            nodes: Vec::new(),
            free: NIL,
            levels: std::array::from_fn(|l| Level::new(l as u32)),
            pending: NIL,
            elapsed: 0,
            now: 0,
            scanned: u64::MAX,
            len: 0,
        }
    }

    /// Number of timers in the wheel.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Capacity of the node slab (for tests of memory release).
    #[cfg(test)]
    pub(crate) fn slab_capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// The latest time passed to [`Wheel::poll`].
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Adds a timer due at `deadline`.
    ///
    /// # Errors
    ///
    /// Gives `value` back when `deadline <= self.now()`: the timer is already due and
    /// the caller fires it itself.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> Result<Key, T> {
        if deadline <= self.now {
            return Err(value);
        }
        let idx = self.alloc(deadline, value);
        self.link_by_deadline(idx);
        self.len += 1;
        Ok(Key(idx))
    }

    /// The value stored under `key`, if that entry is still in the wheel.
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        self.nodes.get(key.0 as usize).and_then(|n| n.value.as_ref())
    }

    /// The value stored under `key`, mutably, if that entry is still in the wheel.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.nodes.get_mut(key.0 as usize).and_then(|n| n.value.as_mut())
    }

    /// The deadline the entry under `key` is filed at, if it is still in the wheel.
    pub(crate) fn deadline(&self, key: Key) -> Option<u64> {
        let node = self.nodes.get(key.0 as usize)?;
        node.value.as_ref().map(|_| node.deadline)
    }

    /// Removes the entry under `key` and returns its value (`None` if already gone).
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        self.get(key)?;
        self.unlink(key.0);
        self.len -= 1;
        let value = self.release(key.0);
        self.shrink_if_empty();
        Some(value)
    }

    /// Returns one timer due at `now` (removing it), or `None` when none is left.
    ///
    /// Call repeatedly until `None`; `now` may not go backwards (an earlier value is
    /// treated as the latest one). Between calls the caller may drop its lock: the
    /// wheel state is consistent after every call.
    #[cfg(test)]
    pub(crate) fn poll(&mut self, now: u64) -> Option<T> {
        self.poll_with(now, |_| None)
    }

    /// [`Wheel::poll`], asking `postpone` about each due entry before removing it:
    /// `Some(later)` with `later > now` moves the entry to `later` **under the same
    /// key** (its owner extended it without the lock); `None` removes and returns it.
    pub(crate) fn poll_with(
        &mut self,
        now: u64,
        mut postpone: impl FnMut(&T) -> Option<u64>,
    ) -> Option<T> {
        self.now = self.now.max(now);
        let now_tick = tick_of(self.now);
        loop {
            if self.pending != NIL {
                let idx = self.pending;
                let value = self.nodes[idx as usize].value.as_ref().expect("free node pending");
                match postpone(value) {
                    Some(later) => {
                        assert!(
                            later > self.now,
                            "postponed to {later}, not after now {}",
                            self.now
                        );
                        self.relink(idx, later);
                    }
                    None => return Some(self.pop_pending()),
                }
                continue;
            }
            match self.next_expiration() {
                Some(exp) if exp.tick < now_tick || (exp.level > 0 && exp.tick <= now_tick) => {
                    self.process_slot(exp)
                }
                Some(exp) if exp.tick == now_tick && self.scanned != self.now => {
                    self.scanned = self.now;
                    self.collect_due(exp);
                }
                _ => {
                    self.elapsed = self.elapsed.max(now_tick);
                    return None;
                }
            }
        }
    }

    /// A lower bound of the earliest deadline in the wheel, `None` when empty.
    ///
    /// The earliest occupied slot holds the earliest entry (finer levels and earlier
    /// slots come first). Its exact minimum is returned when the slot is at level 0 or
    /// holds at most `SCAN_LIMIT` entries; otherwise the slot's start, where a `poll`
    /// will cascade it down (one early wake-up, bounded work here).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        const SCAN_LIMIT: usize = 64;
        if self.pending != NIL {
            return Some(self.now);
        }
        let exp = self.next_expiration()?;
        let mut min = u64::MAX;
        let mut idx = self.levels[exp.level as usize].head(exp.slot);
        let mut scanned = 0;
        while idx != NIL {
            if exp.level > 0 && scanned == SCAN_LIMIT {
                return Some(exp.tick << TICK_SHIFT);
            }
            let node = &self.nodes[idx as usize];
            min = min.min(node.deadline);
            idx = node.next;
            scanned += 1;
        }
        Some(min)
    }

    /// [`Wheel::wake_after`] for the wheel's own earliest deadline; `None` when
    /// empty.
    #[cfg(test)]
    pub(crate) fn next_wake(&self, slack: u64) -> Option<u64> {
        self.next_deadline().map(|d| self.wake_after(d, slack))
    }

    /// When a sleeper should wake to serve the earliest timer `d` (what
    /// [`Wheel::next_deadline`] returned) no more than `slack` late: `d + slack`
    /// if another timer is due by then (one wake-up fires them all), else `d` (a
    /// lone timer fires on time).
    ///
    /// Only the level-0 slots up to `d + slack` are searched for that other
    /// timer, visiting at most `SCAN_LIMIT` entries (reaching the limit counts as
    /// found): a timer it misses just costs a wake-up of its own.
    pub(crate) fn wake_after(&self, d: u64, slack: u64) -> u64 {
        const SCAN_LIMIT: usize = 64;
        if slack == 0 || self.pending != NIL {
            return d;
        }
        let horizon = d.saturating_add(slack);
        let (first, last) = (tick_of(d), tick_of(horizon));
        let level = &self.levels[0];
        let (mut scanned, mut due_by_horizon) = (0, 0);
        for tick in first.max(self.elapsed)..=last {
            // Level 0 holds the ticks of `elapsed`'s 64-tick block only.
            if tick >> LEVEL_BITS != self.elapsed >> LEVEL_BITS {
                break;
            }
            let mut idx = level.head(level.slot_for(tick));
            while idx != NIL {
                let node = &self.nodes[idx as usize];
                scanned += 1;
                due_by_horizon += usize::from(node.deadline <= horizon);
                // `d` itself is one of them.
                if due_by_horizon == 2 || scanned == SCAN_LIMIT {
                    return horizon;
                }
                idx = node.next;
            }
        }
        d
    }

    /// Removes every entry, returning the values (used at shutdown).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for node in &mut self.nodes {
            out.extend(node.value.take());
        }
        self.nodes.clear();
        self.free = NIL;
        self.pending = NIL;
        self.levels = std::array::from_fn(|l| Level::new(l as u32));
        self.len = 0;
        out
    }

    /// The earliest occupied slot over all levels (the finest level with one wins).
    fn next_expiration(&self) -> Option<Expiration> {
        self.levels.iter().find_map(|level| level.next_occupied(self.elapsed))
    }

    /// Empties slot `exp`: level 0 entries are all due; higher ones cascade down.
    fn process_slot(&mut self, exp: Expiration) {
        let list = list_id(exp.level, exp.slot);
        let mut idx = self.levels[exp.level as usize].head(exp.slot);
        self.levels[exp.level as usize].set_head(exp.slot, NIL);
        self.elapsed = self.elapsed.max(exp.tick);
        while idx != NIL {
            let next = self.nodes[idx as usize].next;
            debug_assert_eq!(self.nodes[idx as usize].list, list);
            if exp.level == 0 || self.nodes[idx as usize].deadline <= self.now {
                debug_assert!(self.nodes[idx as usize].deadline <= self.now);
                self.link(idx, PENDING);
            } else {
                self.link_by_deadline(idx);
            }
            idx = next;
        }
    }

    /// Moves the due entries of the current tick's slot to the pending list.
    fn collect_due(&mut self, exp: Expiration) {
        let mut idx = self.levels[0].head(exp.slot);
        while idx != NIL {
            let next = self.nodes[idx as usize].next;
            if self.nodes[idx as usize].deadline <= self.now {
                self.unlink(idx);
                self.link(idx, PENDING);
            }
            idx = next;
        }
    }

    /// Moves linked node `idx` to a later `deadline` (`> now`), keeping its index.
    fn relink(&mut self, idx: u32, deadline: u64) {
        self.unlink(idx);
        self.nodes[idx as usize].deadline = deadline;
        self.link_by_deadline(idx);
    }

    /// Unlinks the head of the pending list and frees its node.
    fn pop_pending(&mut self) -> T {
        let idx = self.pending;
        self.unlink(idx);
        self.len -= 1;
        let value = self.release(idx);
        self.shrink_if_empty();
        value
    }

    /// Gives back the memory of a burst of timers once the wheel is empty again (every
    /// node is then free, so the slab can simply be cleared; stale keys held by owners
    /// then miss, as they must).
    fn shrink_if_empty(&mut self) {
        const KEEP: usize = 4_096;
        if self.len == 0 && self.nodes.len() > KEEP {
            self.nodes.clear();
            self.nodes.shrink_to(KEEP);
            self.free = NIL;
        }
    }

    /// Links node `idx` into the slot its deadline belongs to, seen from `elapsed`.
    fn link_by_deadline(&mut self, idx: u32) {
        let tick = tick_of(self.nodes[idx as usize].deadline);
        debug_assert!(tick >= self.elapsed);
        let level = level_for(self.elapsed, tick);
        let slot = self.levels[level as usize].slot_for(tick);
        self.link(idx, list_id(level, slot));
    }

    /// Pushes node `idx` at the front of list `list`.
    fn link(&mut self, idx: u32, list: u32) {
        let head = self.head(list);
        if head != NIL {
            self.nodes[head as usize].prev = idx;
        }
        let node = &mut self.nodes[idx as usize];
        node.prev = NIL;
        node.next = head;
        node.list = list;
        self.set_head(list, idx);
    }

    /// Removes node `idx` from whichever list holds it.
    fn unlink(&mut self, idx: u32) {
        let Node { prev, next, list, .. } = self.nodes[idx as usize];
        if prev == NIL {
            self.set_head(list, next);
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Head of list `list`.
    fn head(&self, list: u32) -> u32 {
        if list == PENDING {
            self.pending
        } else {
            let (level, slot) = split_list_id(list);
            self.levels[level].head(slot)
        }
    }

    /// Sets the head of list `list`.
    fn set_head(&mut self, list: u32, head: u32) {
        if list == PENDING {
            self.pending = head;
        } else {
            let (level, slot) = split_list_id(list);
            self.levels[level].set_head(slot, head);
        }
    }

    /// Takes a node off the free list (or grows the slab) and fills it.
    fn alloc(&mut self, deadline: u64, value: T) -> u32 {
        let node = Node { value: Some(value), deadline, prev: NIL, next: NIL, list: PENDING };
        if self.free == NIL {
            let idx = u32::try_from(self.nodes.len()).expect("more than 2^32 timers in one shard");
            assert!(idx != NIL, "more than 2^32 - 1 timers in one shard");
            self.nodes.push(node);
            idx
        } else {
            let idx = self.free;
            self.free = self.nodes[idx as usize].next;
            self.nodes[idx as usize] = node;
            idx
        }
    }

    /// Returns node `idx` (already unlinked) to the free list and yields its value.
    fn release(&mut self, idx: u32) -> T {
        let node = &mut self.nodes[idx as usize];
        node.next = self.free;
        self.free = idx;
        node.value.take().expect("released a free wheel node")
    }
}

/// The list id of slot `slot` of level `level`.
fn list_id(level: u32, slot: usize) -> u32 {
    level * SLOTS as u32 + slot as u32
}

/// Inverse of [`list_id`].
fn split_list_id(list: u32) -> (usize, usize) {
    (list as usize / SLOTS, list as usize % SLOTS)
}
