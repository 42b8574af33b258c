//! A recorded and reversed step of a multi-field model performs no heap
//! allocation in steady state — the `Sim` layer (states, parameters by
//! name, the integrators) adds none to the field tape's: counted with a
//! global allocator that counts, on this test's thread only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use rewind_checkpoint::{StepError, Stepper};
use rewind_field::Par;
use rewind_gray_scott::GrayScott;
use rewind_shallow_water::ShallowWater;
use rewind_sim::{Model, Sim};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations in 10 steady-state VJP steps of `model` from `x0`.
fn steady_state_allocations<M: Model>(model: M, x0: &[f64]) -> usize {
    let mut sim = Sim::<M, f64>::new(model, Par::Seq).unwrap();
    let (mut next, mut xbar, mut pbar) = (vec![0.0; x0.len()], vec![0.0; x0.len()], vec![0.0; sim.param_len()]);
    let mut seed = |y: &[f64], ybar: &mut [f64]| -> Result<(), StepError> {
        ybar.copy_from_slice(y);
        Ok(())
    };
    for t in 0..3 {
        sim.step_vjp(t, x0, &mut next, &mut seed, &mut xbar, &mut pbar).unwrap(); // warm-up: the arena grows
    }
    COUNTED.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for t in 0..10 {
        sim.step_vjp(t, x0, &mut next, &mut seed, &mut xbar, &mut pbar).unwrap();
        sim.step(t, x0, &mut next).unwrap();
    }
    let n = ALLOCS.load(Ordering::Relaxed) - before;
    COUNTED.with(|c| c.set(false));
    assert!(xbar.iter().all(|v| v.is_finite()));
    n
}

#[test]
fn multi_field_models_allocate_nothing_in_steady_state() {
    let sw = ShallowWater::new(Default::default()).unwrap();
    let x0 = sw.bump(0.1).unwrap();
    assert_eq!(steady_state_allocations(sw, &x0), 0, "shallow water");
    let gs = GrayScott::new(Default::default()).unwrap();
    let x0 = gs.initial().unwrap();
    assert_eq!(steady_state_allocations(gs, &x0), 0, "Gray-Scott");
}
