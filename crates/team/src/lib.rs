//! A persistent team of threads for fine-grained parallel loops.
//!
//! A time step of a field model is a hundred loops of a few to a few
//! hundred microseconds each. A general-purpose pool such as rayon's puts an
//! idle worker to sleep within about 20 µs, and waking it costs 25–35 µs on
//! a 2-vCPU VM — as much as an elementwise pass over 256² points — so on
//! such loops a second thread gave nothing. The team's workers instead spin
//! for [`SPIN`] after each loop before they sleep: the loops of a time step
//! find them awake, and handing a loop over costs about a microsecond (a
//! few cache-line transfers).
//!
//! [`run`]`(threads, n, f)` calls `f(i)` once for every piece `i < n`, on
//! the calling thread and up to `threads − 1` workers. The pieces are handed
//! out from both ends of one atomic word: the caller takes them from the
//! top, the workers from the bottom. With two threads the caller computes
//! the upper part of every loop and the worker the lower — the same rows
//! loop after loop, which keeps each thread's rows in its own core's cache.
//! The caller never waits for a sleeping worker (it takes every piece nobody
//! else takes) and returns once every piece has finished. Which thread runs
//! a piece is not fixed, so callers that want the same result for any
//! thread count make each piece's arithmetic independent of it, as
//! `rewind-field` does.
//!
//! One caller at a time: a call made while the team is busy — from another
//! thread (a second simulation, tests running in parallel) or from inside a
//! piece — runs its loop on its own thread. A panic in a piece reaches the
//! caller once the other pieces have finished.
//!
//! [`ChunksMut`] hands disjoint `&mut` chunks of one slice to the pieces;
//! [`InitChunks`] does the same with a new, uninitialised buffer, each chunk
//! zero-filled by the thread that takes it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

mod chunks;
pub use chunks::{ChunksMut, InitChunks};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins, waiting for the next loop, before it
/// sleeps. Long enough to span the serial gaps inside a time step, short
/// enough that a finished computation stops burning the other core at once.
pub const SPIN: Duration = if cfg!(miri) { Duration::from_micros(20) } else { Duration::from_micros(500) };

/// The most pieces one [`run`] hands out to the team; a loop with more
/// runs on the calling thread.
pub const MAX_PIECES: usize = INDEX_MASK as usize;

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const EPOCH_MASK: u64 = (1 << (64 - 2 * INDEX_BITS)) - 1;

/// The loop state in one word: which loop (`epoch`, wrapping), and the
/// pieces `lo..hi` not yet taken.
fn pack(epoch: u64, lo: u64, hi: u64) -> u64 {
    (epoch << (2 * INDEX_BITS)) | (lo << INDEX_BITS) | hi
}

fn epoch(s: u64) -> u64 {
    s >> (2 * INDEX_BITS)
}

/// The loop being run: the caller's closure, borrowed for the call.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

struct Slot {
    /// Set by the worker before it parks, so that a caller unparks it.
    sleeping: AtomicBool,
    /// Whether the worker takes part in the current loop (the caller's
    /// `threads`).
    enabled: AtomicBool,
}

struct Team {
    state: AtomicU64,
    /// The current loop's job, valid while a piece of it is unfinished.
    job: AtomicPtr<Job<'static>>,
    /// Pieces of the current loop finished.
    done: AtomicUsize,
    /// A caller is running a loop.
    busy: AtomicBool,
    /// The first panic of a piece of the current loop.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    slots: Vec<Slot>,
    threads: OnceLock<Vec<Thread>>,
}

static TEAM: OnceLock<&'static Team> = OnceLock::new();

thread_local! {
    /// Loops this thread has handed to the team.
    static SHARED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many loops this thread has handed to the team so far (the others
/// ran on it alone): for tests that must know a parallel path was taken.
pub fn shared_loops() -> u64 {
    SHARED.with(|s| s.get())
}

/// The team, started on first use with one worker per core but one.
fn team() -> &'static Team {
    TEAM.get_or_init(|| {
        let workers = thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1);
        let slots = (0..workers).map(|_| Slot { sleeping: AtomicBool::new(false), enabled: AtomicBool::new(false) });
        let team: &'static Team = Box::leak(Box::new(Team {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            panic: Mutex::new(None),
            slots: slots.collect(),
            threads: OnceLock::new(),
        }));
        let mut threads = Vec::with_capacity(workers);
        for w in 0..workers {
            let spawned = thread::Builder::new().name(format!("rewind-team-{w}")).spawn(move || work(team, w));
            match spawned {
                Ok(handle) => threads.push(handle.thread().clone()),
                // fewer workers: every loop still runs, the caller taking
                // the pieces nobody else takes
                Err(_) => break,
            }
        }
        let _ = team.threads.set(threads);
        team
    })
}

impl Team {
    fn threads(&self) -> &[Thread] {
        self.threads.get().map_or(&[], Vec::as_slice)
    }

    /// Takes a piece of loop `e`, from the top or from the bottom.
    fn take(&self, e: u64, top: bool) -> Option<usize> {
        let mut s = self.state.load(Acquire);
        loop {
            let (lo, hi) = ((s >> INDEX_BITS) & INDEX_MASK, s & INDEX_MASK);
            if epoch(s) != e || lo >= hi {
                return None;
            }
            let (next, piece) = if top { (pack(e, lo, hi - 1), hi - 1) } else { (pack(e, lo + 1, hi), lo) };
            match self.state.compare_exchange_weak(s, next, AcqRel, Acquire) {
                Ok(_) => return Some(piece as usize),
                Err(now) => s = now,
            }
        }
    }

    /// Runs one piece, keeping a panic for the caller.
    fn piece(&self, f: &(dyn Fn(usize) + Sync), i: usize) {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| f(i))) {
            self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(p);
        }
    }
}

/// A worker: waits for a loop, takes pieces from the bottom while there
/// are any, and waits again.
fn work(team: &'static Team, w: usize) {
    let slot = &team.slots[w];
    let mut seen = epoch(team.state.load(Acquire));
    loop {
        seen = wait(team, slot, seen);
        if !slot.enabled.load(Relaxed) {
            continue;
        }
        while let Some(i) = team.take(seen, false) {
            // SAFETY: piece `i` of loop `seen` was just taken, so it has not
            // finished: the caller that published the loop is still inside
            // `run`, which returns only when `done` counts every piece, and
            // `job` points at its live `Job` (stored before the loop was
            // published; the compare-exchange that took the piece acquired
            // that publication).
            let job = unsafe { &*team.job.load(Relaxed) };
            team.piece(job.f, i);
            team.done.fetch_add(1, Release);
        }
    }
}

/// Spins until the loop is no longer `seen`, sleeping after [`SPIN`].
fn wait(team: &Team, slot: &Slot, seen: u64) -> u64 {
    let mut since = Instant::now();
    let mut spins = 0u32;
    loop {
        let e = epoch(team.state.load(Acquire));
        if e != seen {
            return e;
        }
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 && since.elapsed() > SPIN {
            // Sleep unless a loop came in meanwhile: with `sleeping` and the
            // caller's publication both sequentially consistent, either this
            // load sees the new loop or the caller sees `sleeping` and
            // unparks (an unpark before the park makes the park return).
            slot.sleeping.store(true, SeqCst);
            if epoch(team.state.load(SeqCst)) == seen {
                thread::park();
            }
            slot.sleeping.store(false, Relaxed);
            since = Instant::now();
        }
        std::hint::spin_loop();
    }
}

/// Calls `f(i)` once for every `i < n`, on this thread and up to
/// `threads − 1` workers of the team, and returns when all have finished.
/// Runs on this thread alone when `threads ≤ 1`, `n ≤ 1`, `n >`
/// [`MAX_PIECES`], or the team is busy (a call from another thread or from
/// inside a piece). A panic in a piece is resumed here once every other
/// piece has finished.
pub fn run(threads: usize, n: usize, f: impl Fn(usize) + Sync) {
    run_dyn(threads, n, &f);
}

fn run_dyn(threads: usize, n: usize, f: &(dyn Fn(usize) + Sync)) {
    if threads <= 1 || n <= 1 || n > MAX_PIECES {
        return (0..n).for_each(f);
    }
    let team = team();
    let workers = team.threads().len().min(threads - 1);
    if workers == 0 || team.busy.compare_exchange(false, true, Acquire, Relaxed).is_err() {
        return (0..n).for_each(f);
    }
    SHARED.with(|s| s.set(s.get() + 1));
    for (w, slot) in team.slots.iter().enumerate() {
        slot.enabled.store(w < workers, Relaxed);
    }
    let job = Job { f };
    team.job.store((&job as *const Job<'_>).cast_mut().cast::<Job<'static>>(), Relaxed);
    team.done.store(0, Relaxed);
    let e = (epoch(team.state.load(Relaxed)) + 1) & EPOCH_MASK;
    team.state.store(pack(e, 0, n as u64), SeqCst);
    for (slot, thread) in team.slots.iter().zip(team.threads()).take(workers) {
        if slot.sleeping.load(SeqCst) {
            thread.unpark();
        }
    }
    let mut mine = 0;
    while let Some(i) = team.take(e, true) {
        team.piece(f, i);
        mine += 1;
    }
    team.done.fetch_add(mine, Relaxed);
    // the workers' last pieces (each a fraction of the loop)
    let mut spins = 0u32;
    while team.done.load(Acquire) != n {
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 {
            thread::yield_now();
        }
        std::hint::spin_loop();
    }
    team.job.store(std::ptr::null_mut(), Relaxed);
    let panicked = team.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    team.busy.store(false, Release);
    if let Some(p) = panicked {
        panic::resume_unwind(p);
    }
}

/// The number of worker threads of the team (cores − 1), starting it.
pub fn workers() -> usize {
    team().threads().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const N: usize = if cfg!(miri) { 40 } else { 1000 };

    #[test]
    fn every_piece_runs_once() {
        for threads in [1, 2, 8] {
            let counts: Vec<AtomicUsize> = (0..N).map(|_| AtomicUsize::new(0)).collect();
            run(threads, N, |i| {
                counts[i].fetch_add(1, Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Relaxed) == 1), "threads = {threads}");
        }
    }

    #[test]
    fn loops_handed_to_the_team_are_counted() {
        let before = shared_loops();
        run(1, N, |_| {});
        assert_eq!(shared_loops(), before, "one thread: not shared");
        if workers() == 0 {
            return;
        }
        // another test may hold the team for a while: the loop then runs
        // here alone, uncounted
        let shared = (0..1000).any(|_| {
            let before = shared_loops();
            run(2, N, |_| {});
            let shared = shared_loops() == before + 1;
            if !shared {
                thread::sleep(Duration::from_millis(1));
            }
            shared
        });
        assert!(shared, "no loop was shared in 1000 tries");
    }

    #[test]
    fn one_thread_means_the_caller_alone() {
        let me = thread::current().id();
        let others = AtomicUsize::new(0);
        run(1, N, |_| {
            if thread::current().id() != me {
                others.fetch_add(1, Relaxed);
            }
        });
        assert_eq!(others.load(Relaxed), 0);
    }

    #[test]
    fn callers_on_many_threads_and_nested_calls_all_complete() {
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..if cfg!(miri) { 3 } else { 200 } {
                        run(2, 8, |_| {
                            // a call from inside a piece runs on its thread
                            run(2, 4, |_| {
                                total.fetch_add(1, Relaxed);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Relaxed), 4 * if cfg!(miri) { 3 } else { 200 } * 8 * 4);
    }

    #[test]
    fn a_panic_in_a_piece_reaches_the_caller_and_the_team_goes_on() {
        let r = panic::catch_unwind(|| {
            run(2, N, |i| {
                if i == N / 3 {
                    panic!("piece {i}");
                }
            })
        });
        let message = r.expect_err("the panic is resumed");
        assert_eq!(message.downcast_ref::<String>().map(String::as_str), Some(format!("piece {}", N / 3).as_str()));
        let count = AtomicUsize::new(0);
        run(2, N, |_| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), N);
    }

    #[test]
    fn sleeping_workers_are_woken() {
        for _ in 0..3 {
            // longer than SPIN: the workers are asleep at the next call
            thread::sleep(SPIN * 4);
            let count = AtomicUsize::new(0);
            run(2, N, |_| {
                count.fetch_add(1, Relaxed);
            });
            assert_eq!(count.load(Relaxed), N);
        }
    }
}
