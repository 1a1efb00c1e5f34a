//! One timer queue for every driver: a min-heap on `(deadline, sequence)`.
//!
//! Deadlines are [`Duration`]s since an epoch the driver picks (the agent's
//! start, the simulator's time zero), so the core never reads a clock. The
//! sequence number makes entries with equal deadlines pop in the order they
//! were pushed, which keeps simulations deterministic.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

/// A point in time, as a duration since the driver's epoch.
pub type Time = Duration;

#[derive(Debug)]
struct Entry<T> {
    deadline: Time,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// Items due at deadlines, earliest first, ties in insertion order.
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Schedules `item` at `deadline`.
    pub(crate) fn push(&mut self, deadline: Time, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            item,
        }));
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse(entry)| entry.deadline)
    }

    /// Removes and returns the earliest item if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<(Time, T)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.pop()
    }

    /// Removes and returns the earliest item, due or not.
    pub(crate) fn pop(&mut self) -> Option<(Time, T)> {
        self.heap
            .pop()
            .map(|Reverse(entry)| (entry.deadline, entry.item))
    }

    /// Drops every item for which `keep` is false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.heap.retain(|Reverse(entry)| keep(&entry.item));
    }

    #[cfg(test)]
    /// Number of scheduled items.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    /// Whether nothing is scheduled.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Duration::from_millis(n)
    }

    #[test]
    fn pops_in_deadline_order_and_ties_in_push_order() {
        let mut queue = TimerQueue::new();
        queue.push(ms(30), "c");
        queue.push(ms(10), "a");
        queue.push(ms(20), "b1");
        queue.push(ms(20), "b2");
        assert_eq!(queue.next_deadline(), Some(ms(10)));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|(_, item)| item)).collect();
        assert_eq!(order, ["a", "b1", "b2", "c"]);
    }

    #[test]
    fn only_due_items_pop() {
        let mut queue = TimerQueue::new();
        queue.push(ms(10), 1);
        queue.push(ms(20), 2);
        assert_eq!(queue.pop_due(ms(5)), None);
        assert_eq!(queue.pop_due(ms(10)), Some((ms(10), 1)));
        assert_eq!(queue.pop_due(ms(15)), None);
        assert_eq!(queue.len(), 1);
        queue.retain(|item| *item != 2);
        assert!(queue.is_empty());
    }
}
