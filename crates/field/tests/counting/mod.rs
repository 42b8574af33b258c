//! A global allocator that counts the allocations of marked threads — the
//! one the no-allocation tests share (`crates/field/tests/alloc.rs`, and
//! `crates/cli/tests/alloc.rs` through `#[path]`).
//!
//! Only marked threads are counted ([`mark`]): the harness's other threads
//! allocate on their own schedule and would make a count depend on timing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts (`true`) or stops counting (`false`) this thread's allocations.
pub(crate) fn mark(counted: bool) {
    COUNTED.with(|c| c.set(counted));
}

/// Allocations counted so far, over every marked thread.
pub(crate) fn allocations() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}
