//! Prints the field crate's figures measured in one run, for N = 128, 256,
//! 512: per operation the primal time, the VJP time (record + reverse
//! sweep, minus the primal) and the JVP time (the primal over dual
//! numbers); the bandwidth of the elementwise and stencil kernels against a
//! plain copy and triad; the speed-up of a taped step from 1 to 2 threads;
//! and the arena bytes of one taped step. Then, per time step of ns2d and
//! of shallow water (RK4, 128² and 256², 1 and 2 threads): the passes over
//! memory (fields read and written, the FFT's own work arrays aside) and
//! the time of the primal, the recorded step and the recorded step with its
//! sweep, with the bandwidth those passes imply beside a plain copy's —
//! fused, and with every operation on its own (`rewind_field::unfused`,
//! the same bits).
//!
//! `cargo run --release -p rewind-examples --example field_figures [-- --quick] [--steps]`
//! (`--steps`: the step table alone)

use std::hint::black_box;
use std::time::Duration;

use rewind_examples::field_ops::{OPS, apply, taped_rhs_step};
use rewind_examples::passes::{Figure, step_figures};
use rewind_examples::timing::seconds_per_call;
use rewind_field::{FieldTape, Grid, Par};
use rewind_tape::Dual;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 60 } else { 400 });
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("thread pool");
    if std::env::args().any(|a| a == "--steps") {
        return steps(budget, &one, &two);
    }
    println!("field operations, 2 threads (Par::Pool), best of 5 batches; VJP = (record + sweep) - primal");
    for n in [128usize, 256, 512] {
        let g = Grid::periodic_square(n, 2.0 * std::f64::consts::PI).expect("grid");
        let a = g.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.3);
        let b = g.sample(|x, y| (x - y).cos() + 1.2);
        let ad: Vec<Dual<f64>> = a.iter().map(|&v| Dual::new(v, 1.0)).collect();
        let bd: Vec<Dual<f64>> = b.iter().map(|&v| Dual::new(v, 0.5)).collect();
        let mut tape = FieldTape::<f64>::new(g);
        let mut dtape = FieldTape::<Dual<f64>>::new(g);
        println!(
            "\nN = {n}: {:>15} {:>11} {:>11} {:>11} {:>9} {:>9}",
            "op", "primal", "VJP", "JVP", "VJP/prim", "JVP/prim"
        );
        for op in OPS {
            let (tp, tr, tj) = two.install(|| {
                let tp = seconds_per_call(budget, || {
                    tape.eval(Par::Pool, |c| apply(op, c.input(&a).expect("len"), c.input(&b).expect("len")).value())
                });
                let tr = seconds_per_call(budget, || {
                    tape.record(Par::Pool, |c| {
                        let fa = c.input(&a).expect("len");
                        let s = apply(op, fa, c.input(&b).expect("len"));
                        c.gradient(s).map(|adj| adj.field(fa)[0])
                    })
                });
                let tj = seconds_per_call(budget, || {
                    dtape.eval(Par::Pool, |c| apply(op, c.input(&ad).expect("len"), c.input(&bd).expect("len")).value())
                });
                (tp, tr, tj)
            });
            let vjp = (tr - tp).max(0.0);
            println!(
                "{:>23} {:>11.3e} {:>11.3e} {:>11.3e} {:>9.2} {:>9.2}",
                format!("{op:?}"),
                tp,
                vjp,
                tj,
                vjp / tp,
                tj / tp
            );
        }

        // bandwidth: plain copy and triad against the tape's elementwise add
        // and the Laplacian kernel (nominal bytes: reads + writes)
        let len = g.len();
        let mut out = vec![0.0; len];
        let bytes = |arrays: f64, t: f64| arrays * 8.0 * len as f64 / t / 1e9;
        let t_copy = seconds_per_call(budget, || {
            out.copy_from_slice(black_box(&a));
        });
        let t_triad = seconds_per_call(budget, || {
            for ((o, x), y) in out.iter_mut().zip(black_box(&a)).zip(&b) {
                *o = x + 0.5 * y;
            }
        });
        let t_lap = seconds_per_call(budget, || {
            tape.eval(Par::Seq, |c| c.input(black_box(&a)).expect("len").laplacian().value()[0])
        });
        let t_add = seconds_per_call(budget, || {
            tape.eval(Par::Seq, |c| (c.input(&a).expect("len") + c.input(&b).expect("len")).value()[0])
        });
        let t_inputs = seconds_per_call(budget, || {
            tape.eval(Par::Seq, |c| {
                c.input(&a).expect("len");
                c.input(&b).expect("len").value()[0]
            })
        });
        let t_add_only = (t_add - t_inputs).max(1e-12);
        println!(
            "bandwidth, 1 thread (GB/s): copy {:.1}, triad {:.1}, tape add {:.1} ({:.2}x copy), laplacian kernel {:.1} ({:.2}x copy)",
            bytes(2.0, t_copy),
            bytes(3.0, t_triad),
            bytes(3.0, t_add_only),
            bytes(2.0, t_copy) / bytes(3.0, t_add_only),
            bytes(2.0, t_lap),
            bytes(2.0, t_copy) / bytes(2.0, t_lap),
        );

        // a vorticity-equation right-hand side, taped and swept, 1 vs 2 threads
        let step = |tape: &mut FieldTape<f64>| taped_rhs_step(tape, &a);
        let t1 = one.install(|| seconds_per_call(budget, || step(&mut tape)));
        let t2 = two.install(|| seconds_per_call(budget, || step(&mut tape)));
        println!(
            "taped RHS step + sweep: 1 thread {:.3e} s, 2 threads {:.3e} s, speed-up {:.2}; arena {:.1} MiB ({:.0} bytes per grid point)",
            t1,
            t2,
            t1 / t2,
            tape.arena_bytes() as f64 / (1 << 20) as f64,
            tape.arena_bytes() as f64 / len as f64
        );
    }

    steps(budget, &one, &two);
}

/// Passes over memory and time per RK4 step of ns2d and shallow water.
fn steps(budget: Duration, one: &rayon::ThreadPool, two: &rayon::ThreadPool) {
    use rewind_ns2d::spec::{Size, field_a, params};
    println!("\npasses over memory per RK4 step (fields of N² values read + written; FFT work arrays not counted)");
    println!(
        "{:>14} {:>5} {:>3}  {:>22}  {:>22}  {:>22}  {:>9}",
        "model", "N", "thr", "primal: passes, time", "taped: passes, time", "+ sweep: passes, time", "copy GB/s"
    );
    for (n, size) in [(128usize, Size::M), (256, Size::L)] {
        let a: Vec<f64> = (0..n * n).map(|k| (k % 97) as f64).collect();
        let mut out = vec![0.0; n * n];
        let t_copy = one.install(|| seconds_per_call(budget, || out.copy_from_slice(black_box(&a))));
        let copy_gbs = 16.0 * (n * n) as f64 / t_copy / 1e9;
        let ns2d = rewind_ns2d::Ns2d::new(params(size)).expect("ns2d");
        let w0 = field_a(n);
        let sw = rewind_shallow_water::spec::model(rewind_shallow_water::spec::Case { n, steps: 1 }).expect("model");
        let x0 = sw.bump(0.1).expect("state");
        for (threads, pool) in [(1, one), (2, two)] {
            let show = |name: &str, f: [Figure; 3]| {
                let cell = |f: Figure| {
                    let gbs = f.passes.total() as f64 * 8.0 * (n * n) as f64 / f.seconds / 1e9;
                    format!("{:>4}, {:>7.2} ms {:>4.1} GB/s", f.passes.total(), f.seconds * 1e3, gbs)
                };
                println!(
                    "{name:>14} {n:>5} {threads:>3}  {}  {}  {}  {copy_gbs:>9.1}",
                    cell(f[0]),
                    cell(f[1]),
                    cell(f[2])
                );
            };
            let figures = |fused: bool| {
                pool.install(|| {
                    let run = || {
                        (
                            step_figures(ns2d.clone(), &w0, Par::Pool, budget).expect("ns2d step"),
                            step_figures(sw, &x0, Par::Pool, budget).expect("shallow-water step"),
                        )
                    };
                    if fused { run() } else { rewind_field::unfused(run) }
                })
            };
            let (on, off) = (figures(true), figures(false));
            for (name, f) in [("ns2d", on.0), ("  unfused", off.0), ("shallow water", on.1), ("  unfused", off.1)] {
                show(name, [f.primal, f.taped, f.taped_and_swept]);
            }
        }
    }
}
