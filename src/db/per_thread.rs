//! One slot per request-serving thread, for the session lookup's fast paths (`inline`,
//! `pipelined`): each thread uses a connection of its own without contending for the pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) struct PerThread<T> {
    slots: Box<[Mutex<T>]>,
}

impl<T> PerThread<T> {
    /// As many slots as cores, which is as many as the server has worker threads by default;
    /// threads beyond that share.
    pub(crate) fn new(init: impl Fn() -> T) -> PerThread<T> {
        let count = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
        PerThread { slots: (0..count).map(|_| Mutex::new(init())).collect() }
    }

    /// The calling thread's slot number.
    pub(crate) fn mine(&self) -> usize {
        this_thread() % self.slots.len()
    }

    pub(crate) fn slot(&self, index: usize) -> &Mutex<T> {
        &self.slots[index % self.slots.len()]
    }
}

/// Threads are numbered in the order they first look a session up; the server's worker
/// threads, which do nearly all of it, get consecutive numbers and so slots of their own.
fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}
