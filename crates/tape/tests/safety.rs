//! Safe code cannot break the tape: forgetting or dropping handles in any
//! order, nested transformations, panics, threads and oversized recordings
//! give either a compile error (see the `compile_fail` examples in the
//! `tape` module docs), a typed error, or the correct derivative.

// Forgetting and dropping handles is what these tests do on purpose (and the
// lints confirm that none of the handles has a destructor to skip).
#![allow(clippy::forget_non_drop, clippy::drop_non_drop)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use rayon::prelude::*;
use rewind_tape::{Dual, Real, Tape, TapeError, Var, derivative, grad};

fn rosen<T: Real>(x: &[T]) -> T {
    x.chunks(2).map(|p| (p[1] - p[0] * p[0]).powi(2) * 100.0 + (T::one() - p[0]).powi(2)).sum()
}

fn rosen_grad(x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; x.len()];
    for i in (0..x.len()).step_by(2) {
        let (a, b) = (x[i], x[i + 1]);
        g[i] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a);
        g[i + 1] = 200.0 * (b - a * a);
    }
    g
}

fn assert_close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn forgetting_every_handle_is_harmless() {
    let x = [1.2, 0.8, -0.5, 0.3];
    let mut tape = Tape::<f64>::new();
    tape.record(|r| {
        let xs = r.vars(&x);
        let y = rosen(xs);
        let g = r.gradient(y).unwrap();
        let first = g.wrt(xs[0]);
        std::mem::forget(g); // a gradient (`Var` and `Dual` are `Copy`: nothing to forget)
        let _ = y;
        // the recorder keeps working after forgetting them
        let g2 = r.gradient(rosen(xs)).unwrap();
        assert_eq!(first, g2.wrt(xs[0]));
    });
    // the tape is reusable and correct afterwards
    assert_close(&tape.grad(|x| rosen(x), &x).unwrap(), &rosen_grad(&x));
}

/// (A test of its own: it leaks on purpose, so Miri runs it with leaks
/// ignored, see `.ci/run`.)
#[test]
fn forgetting_a_whole_tape_leaks_its_arena_only() {
    let x = [1.2, 0.8, -0.5, 0.3];
    // forgetting a whole tape leaks its arena but breaks nothing else
    let mut other = Tape::<f64>::new();
    other.grad(|x| rosen(x), &x).unwrap();
    std::mem::forget(other);
    assert_close(&grad(|x| rosen(x), &x).unwrap(), &rosen_grad(&x));
}

#[test]
fn dropping_handles_in_any_order() {
    let x = [0.3, -0.7];
    let mut tapes: Vec<Tape<f64>> = (0..4).map(|_| Tape::new()).collect();
    let results: Vec<Vec<f64>> = tapes.iter_mut().map(|t| t.grad(|x| rosen(x), &x).unwrap()).collect();
    // drop from the middle, then the front, then the rest
    drop(tapes.remove(2));
    drop(tapes.remove(0));
    let again = tapes[1].grad(|x| rosen(x), &x).unwrap();
    drop(tapes);
    for r in &results {
        assert_close(r, &rosen_grad(&x));
    }
    assert_close(&again, &rosen_grad(&x));
    // gradients taken in the reverse of recording order
    Tape::<f64>::new().record(|r| {
        let a = r.var(2.0);
        let b = r.var(3.0);
        let y1 = a * b;
        let y2 = a * a;
        let g2 = r.gradient(y2).unwrap();
        let g1 = r.gradient(y1).unwrap();
        drop(g2);
        assert_eq!((g1.wrt(a), g1.wrt(b)), (3.0, 2.0));
    });
}

#[test]
fn nested_grad_with_captured_outer_variable_is_correct() {
    // d/dx [ x · d/dy (x·y) ] = d/dx [ x · x ] = 2x. A tape that confuses the
    // inner and outer perturbations returns x (or 0) instead.
    for &x0 in &[0.5, 3.0] {
        let outer = grad(
            |x: &[Var<'_, f64>]| {
                let inner = grad(|y| Var::constant(x[0]) * y[0], &[Var::constant(1.0)]).unwrap();
                x[0] * inner[0]
            },
            &[x0],
        )
        .unwrap();
        assert_eq!(outer[0], 2.0 * x0);
        // the same with forward mode nested in forward mode
        let fwd = derivative(|x| x * derivative(|y| Dual::constant(x) * y, x), x0);
        assert_eq!(fwd, 2.0 * x0);
    }
}

#[test]
fn a_panic_inside_a_recording_leaves_the_tape_usable() {
    let x = [1.5, -0.5];
    let mut tape = Tape::<f64>::new();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        tape.record(|r| {
            let xs = r.vars(&x);
            let _ = rosen(xs);
            panic!("user code failed mid-recording");
        })
    }));
    assert!(caught.is_err());
    assert_close(&tape.grad(|x| rosen(x), &x).unwrap(), &rosen_grad(&x));
}

#[test]
fn an_oversized_recording_is_a_typed_error_not_a_wrong_gradient() {
    let x = vec![0.5; 100];
    let mut tape = Tape::<f64>::with_limit(64);
    let err = tape.grad(|x| rosen(x), &x).unwrap_err();
    assert_eq!(err, TapeError::Overflow { max: 64 });
    assert!(tape.last_stats().statements <= 64, "{:?}", tape.last_stats());
    // the same tape handles a recording within its limit
    let small = [0.5, 0.25];
    assert_close(&tape.grad(|x| rosen(x), &small).unwrap(), &rosen_grad(&small));
}

#[test]
fn tapes_move_between_threads_and_run_in_parallel() {
    let points: Vec<Vec<f64>> = (0..64).map(|k| vec![0.1 * k as f64, 1.0 - 0.05 * k as f64, 0.3, -0.2]).collect();
    let serial: Vec<Vec<f64>> = points.iter().map(|p| grad(|x| rosen(x), p).unwrap()).collect();
    // one tape per rayon worker, reused across tasks
    let parallel: Vec<Vec<f64>> =
        points.par_iter().map_init(Tape::<f64>::new, |tape, p| tape.grad(|x| rosen(x), p).unwrap()).collect();
    assert_eq!(serial, parallel);
    // a tape (not its variables) can be sent to another thread
    let mut tape = Tape::<f64>::new();
    tape.grad(|x| rosen(x), &points[3]).unwrap();
    let moved = std::thread::spawn(move || tape.grad(|x| rosen(x), &points[5]).unwrap()).join().unwrap();
    assert_eq!(moved, serial[5]);
}

#[test]
fn reused_tape_allocates_nothing_new_in_steady_state() {
    let x = vec![0.7; 1000];
    let mut tape = Tape::<f64>::new();
    tape.grad(|x| rosen(x), &x).unwrap();
    tape.grad(|x| rosen(x), &x).unwrap();
    let bytes = tape.arena_bytes();
    for _ in 0..5 {
        tape.grad(|x| rosen(x), &x).unwrap();
        assert_eq!(tape.arena_bytes(), bytes, "arena grew on a repeated recording");
    }
    let st = tape.last_stats();
    // 1000 inputs, 7 statements per pair, and the sum of 500 terms as
    // 16-operand statements (each after the first carries the partial sum)
    assert_eq!(st.statements, 1000 + 500 * 7 + 1 + (500 - 16usize).div_ceil(15), "{st:?}");
}

/// The positive twins of the `compile_fail` examples in the `tape` module
/// docs: the same code with the one forbidden line made legal compiles and
/// runs, so each of those examples fails for the reason its error code says.
#[test]
fn the_compile_fail_examples_differ_from_working_code_in_one_line_only() {
    let mut tape = Tape::<f64>::new();
    let mut escaped = None;
    tape.record(|r| escaped = Some(r.var(1.0).value())); // the value may leave, the variable not
    assert_eq!(escaped, Some(1.0));
    let (mut t1, mut t2) = (Tape::<f64>::new(), Tape::<f64>::new());
    t1.record(|a| {
        let x = a.var(1.0);
        t2.record(|b| {
            let y = b.var(2.0);
            let _ = y * y; // variables of one tape only
        });
        let _ = x * x;
    });
    tape.record(|r| {
        let x = r.var(1.0);
        let _ = x * x;
    });
    tape.reset(); // after the recording, not during it
    let (mut ta, mut tb) = (Tape::<f64>::new(), Tape::<f64>::new());
    std::thread::scope(|s| {
        s.spawn(move || ta.record(|r| r.var(1.0).value())); // a tape per thread
        s.spawn(move || tb.record(|r| r.var(2.0).value()));
    });
}
