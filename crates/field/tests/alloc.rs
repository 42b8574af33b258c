//! A taped step on a reused tape performs no heap allocation in steady
//! state: counted with a global allocator that counts.
//!
//! Only threads that do the work are counted (the test thread, the
//! workers of the test's own rayon pool and those of the kernels' thread
//! team, each marked by a thread-local flag): the harness's other threads, or a worker that is still starting
//! up, allocate on their own schedule and would make the count depend on
//! timing rather than on the tape.

mod counting;

use std::sync::atomic::Ordering;

use rewind_field::{FieldTape, Grid, Par, SparseSpd, Unary};
use rewind_tape::Dual;

/// The count is global: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Marks the workers of the thread team as counted: hands it loops until
/// every worker has run a piece of one.
fn count_the_team() {
    use std::sync::atomic::AtomicBool;
    let marked: Vec<AtomicBool> = (0..rewind_team::workers()).map(|_| AtomicBool::new(false)).collect();
    let me = std::thread::current().id();
    for _ in 0..100_000 {
        if marked.iter().all(|m| m.load(Ordering::Relaxed)) {
            return;
        }
        rewind_team::run(2, 64, |_| {
            if std::thread::current().id() != me {
                let name = std::thread::current().name().map(str::to_owned).unwrap_or_default();
                let w: usize = name.strip_prefix("rewind-team-").and_then(|w| w.parse().ok()).expect("a team worker");
                marked[w].store(true, Ordering::Relaxed);
                counting::mark(true);
            }
        });
    }
    panic!("a worker of the team never ran a piece");
}

/// One taped "time step" and its reverse sweep, writing the gradient into
/// a caller's buffer; returns the loss.
fn step(tape: &mut FieldTape<f64>, par: Par, w0: &[f64], grad: &mut [f64]) -> f64 {
    tape.record(par, |c| {
        let w = c.input(w0).unwrap();
        let psi = w.poisson();
        let rhs = psi.arakawa(w).unwrap() + w.laplacian() * 1e-3 - w * 0.1;
        let next = (rhs * 0.01 + w).map(Unary::Tanh);
        let obs = next.sample(&[1, 50, 99]).unwrap().misfit(&[0.1, 0.2, 0.3]).unwrap();
        let j = next.sqnorm() * 0.5 + obs;
        let adj = c.gradient(j).unwrap();
        grad.copy_from_slice(adj.field(w));
        j.value()
    })
}

#[test]
fn a_reused_tape_allocates_nothing_in_steady_state() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 128² (stencils, FFT), 256² and 512² (all kernels) go parallel, see
    // rewind_field::par::PAR_WORK: the team's paths are counted too
    count_the_team();
    for (n, par) in [(32, Par::Seq), (128, Par::Seq), (128, Par::Pool), (256, Par::Pool), (512, Par::Pool)] {
        let g = Grid::periodic_square(n, 2.0 * std::f64::consts::PI).unwrap();
        let w0 = g.sample(|x, y| x.cos() * y.sin() + 0.3 * (2.0 * x + y).cos());
        let mut grad = vec![0.0; g.len()];
        let mut tape = FieldTape::<f64>::new(g);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // Every worker has started (broadcast waits for all) and is counted.
        pool.broadcast(|_| counting::mark(true));
        counting::mark(true);
        pool.install(|| {
            for _ in 0..3 {
                step(&mut tape, par, &w0, &mut grad); // warm-up: the arena grows
            }
            let before = counting::allocations();
            let mut sum = 0.0;
            for _ in 0..10 {
                sum += step(&mut tape, par, &w0, &mut grad);
            }
            let allocs = counting::allocations() - before;
            assert!(sum.is_finite());
            assert_eq!(allocs, 0, "N = {n}, {par:?}: {allocs} allocations in 10 steady-state steps");
        });
    }
}

/// A step with walls: the streamfunction by the factorised sparse solve,
/// wall stencils, and its reverse sweep (another solve), over `T`.
fn wall_step<T: rewind_field::Components>(tape: &mut FieldTape<T>, par: Par, w0: &[T]) -> f64 {
    tape.record(par, |c| {
        let w = c.input(w0).unwrap();
        let psi = w.solve_sparse().unwrap();
        let (u, v) = (psi.ddy0(), -psi.ddx0());
        let rhs = w.laplacian0() * 1e-2 - (u * w.ddx0() + v * w.ddy0());
        let next = rhs * 0.01 + w;
        let j = next.sqnorm() * 0.5;
        let adj = c.gradient(j).unwrap();
        adj.field(w)[0].value() + j.value().value()
    })
}

#[test]
fn a_sparse_solve_step_allocates_nothing_in_steady_state() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let g = Grid::new(33, 33, 1.0 / 34.0, 1.0 / 34.0).unwrap();
    let w0 = g.sample(|x, y| (6.0 * x).sin() * (5.0 * y).sin());
    let w0d: Vec<Dual<f64>> = w0.iter().zip(g.sample(|x, y| x - y)).map(|(&a, b)| Dual::new(a, b)).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.broadcast(|_| counting::mark(true));
    counting::mark(true);
    count_the_team();
    pool.install(|| {
        for par in [Par::Seq, Par::Pool] {
            // one operator for both scalar types: its scratch grows once, for Dual
            let mut tape = FieldTape::<f64>::new(g).with_sparse(SparseSpd::dirichlet_laplacian(&g).unwrap()).unwrap();
            let mut tape2 =
                FieldTape::<Dual<f64>>::new(g).with_sparse(SparseSpd::dirichlet_laplacian(&g).unwrap()).unwrap();
            for _ in 0..3 {
                wall_step(&mut tape, par, &w0);
                wall_step(&mut tape2, par, &w0d);
            }
            let before = counting::allocations();
            let mut sum = 0.0;
            for _ in 0..10 {
                sum += wall_step(&mut tape, par, &w0) + wall_step(&mut tape2, par, &w0d);
            }
            let allocs = counting::allocations() - before;
            assert!(sum.is_finite() && sum != 0.0);
            assert_eq!(allocs, 0, "{par:?}: {allocs} allocations in 10 steady-state steps with sparse solves");
        }
    });
}
