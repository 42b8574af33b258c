//! Field operations (issue: differentiable fields), for N = 128, 256, 512:
//!
//! * `field/<op>/{primal,primal+vjp,jvp}/N` for every operation of
//!   `rewind_examples::field_ops::OPS` (elementwise, reduction, stencils,
//!   Arakawa, upwind, semi-Lagrangian, FFT Poisson): the primal, the
//!   recording with its reverse sweep, and the primal over dual numbers,
//!   with 2 threads;
//! * `field/{copy,triad,laplacian_kernel,tape_add}/N`: a plain copy and
//!   triad against the Laplacian kernel and the tape's elementwise add, one
//!   thread, with byte throughput, for the bandwidth comparison;
//! * `field/rhs_step/{1,2}threads/N`: one taped vorticity right-hand side
//!   and its sweep in a 1- and a 2-thread pool (the speed-up), whose arena
//!   size is printed once per N.
//!
//! * `stencil_vs_builtin/{kernel,builtin,stencil,stencil_auto}/{primal,primal+vjp,jvp}/N`:
//!   the 5-point Laplacian as a hand-written loop over plain slices (the
//!   kernel rewind had before its stencils were compiled: interior zipped,
//!   edges apart; its VJP the same loop on the adjoint), as the built-in
//!   operation (itself a [`Stencil`] now), as a user `Stencil` with its
//!   closed-form partials, and as a `Stencil` with the automatic
//!   (forward-mode) partials, one thread, each through the tape (input
//!   copied in, result computed) but the kernel;
//! * `step/{ns2d,shallow_water}/{primal,taped,taped+sweep}/N`: one RK4 step
//!   of each model, two threads, with the passes over memory it makes
//!   printed once per N (`FieldTape::passes`, fields of N² values read and
//!   written) beside the copy's bandwidth.
//!
//! `cargo run --release -p rewind-examples --example field_figures` prints
//! the same figures as ratios in one run.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rewind_examples::field_ops::{OPS, apply, taped_rhs_step};
use rewind_examples::passes::step_figures;
use rewind_field::stencil::Stencil;
use rewind_field::{FieldTape, Grid, Par, Real};
use rewind_tape::Dual;

fn field_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("field");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(10);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("thread pool");
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    for n in [128usize, 256, 512] {
        let g = Grid::periodic_square(n, 2.0 * std::f64::consts::PI).expect("grid");
        let a = g.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.3);
        let b = g.sample(|x, y| (x - y).cos() + 1.2);
        let ad: Vec<Dual<f64>> = a.iter().map(|&v| Dual::new(v, 1.0)).collect();
        let bd: Vec<Dual<f64>> = b.iter().map(|&v| Dual::new(v, 0.5)).collect();
        let mut tape = FieldTape::<f64>::new(g);
        let mut dtape = FieldTape::<Dual<f64>>::new(g);
        let len = g.len();

        // bandwidth: nominal bytes read + written per call
        let mut out = vec![0.0; len];
        group.throughput(Throughput::Bytes(16 * len as u64));
        group.bench_function(BenchmarkId::new("copy", n), |bch| bch.iter(|| out.copy_from_slice(black_box(&a))));
        group.bench_function(BenchmarkId::new("laplacian_stencil", n), |bch| {
            bch.iter(|| tape.eval(Par::Seq, |c| c.input(black_box(&a)).unwrap().laplacian().value()[0]))
        });
        group.throughput(Throughput::Bytes(24 * len as u64));
        group.bench_function(BenchmarkId::new("triad", n), |bch| {
            bch.iter(|| {
                for ((o, x), y) in out.iter_mut().zip(black_box(&a)).zip(&b) {
                    *o = x + 0.5 * y;
                }
            })
        });
        // (includes copying the two inputs onto the tape)
        group.bench_function(BenchmarkId::new("tape_add", n), |bch| {
            bch.iter(|| tape.eval(Par::Seq, |c| (c.input(&a).unwrap() + c.input(&b).unwrap()).value()[0]))
        });

        group.throughput(Throughput::Elements(len as u64));
        for op in OPS {
            // the kernels run in the 2-thread pool (installed once per sample batch)
            group.bench_function(BenchmarkId::new(format!("{op:?}/primal"), n), |bch| {
                two.install(|| {
                    bch.iter(|| tape.eval(Par::Pool, |c| apply(op, c.input(&a).unwrap(), c.input(&b).unwrap()).value()))
                })
            });
            group.bench_function(BenchmarkId::new(format!("{op:?}/primal+vjp"), n), |bch| {
                two.install(|| {
                    bch.iter(|| {
                        tape.record(Par::Pool, |c| {
                            let fa = c.input(&a).unwrap();
                            let s = apply(op, fa, c.input(&b).unwrap());
                            c.gradient(s).unwrap().field(fa)[0]
                        })
                    })
                })
            });
            group.bench_function(BenchmarkId::new(format!("{op:?}/jvp"), n), |bch| {
                two.install(|| {
                    bch.iter(|| {
                        dtape.eval(Par::Pool, |c| apply(op, c.input(&ad).unwrap(), c.input(&bd).unwrap()).value())
                    })
                })
            });
        }

        for (label, pool) in [("rhs_step/1thread", &one), ("rhs_step/2threads", &two)] {
            group.bench_function(BenchmarkId::new(label, n), |bch| {
                pool.install(|| bch.iter(|| taped_rhs_step(&mut tape, black_box(&a)).unwrap()))
            });
        }
        eprintln!(
            "field/rhs_step N = {n}: arena {:.1} MiB ({:.0} bytes per grid point)",
            tape.arena_bytes() as f64 / (1 << 20) as f64,
            tape.arena_bytes() as f64 / len as f64
        );
    }
    group.finish();
}

/// The 5-point Laplacian as a user stencil; `HAND` selects the closed-form
/// partials over the automatic ones.
#[derive(Clone, Copy)]
struct Laplacian<const HAND: bool>;

impl<const HAND: bool> Stencil for Laplacian<HAND> {
    const INPUTS: usize = 1;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]];
    // with its closed-form partials, declared linear (fixed coefficients)
    const LINEAR: bool = HAND;
    #[inline]
    fn eval<R: Real>(&self, g: &Grid, x: &[R]) -> R {
        let (cx, cy) = (1.0 / (g.dx * g.dx), 1.0 / (g.dy * g.dy));
        (x[1] + x[2]) * cx + (x[3] + x[4]) * cy - x[0] * (2.0 * (cx + cy))
    }
    #[inline]
    fn partial<R: Real>(&self, g: &Grid, x: &[R], i: usize) -> R {
        if !HAND {
            return rewind_field::stencil::auto_partial(self, g, x, i);
        }
        let (cx, cy) = (1.0 / (g.dx * g.dx), 1.0 / (g.dy * g.dy));
        R::from_f64(match i {
            0 => -2.0 * (cx + cy),
            1 | 2 => cx,
            _ => cy,
        })
    }
}

fn stencil_vs_builtin(c: &mut Criterion) {
    let mut group = c.benchmark_group("stencil_vs_builtin");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(10);
    for n in [128usize, 256] {
        let g = Grid::periodic_square(n, 2.0 * std::f64::consts::PI).expect("grid");
        let a = g.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.3);
        let ad: Vec<Dual<f64>> = a.iter().map(|&v| Dual::new(v, 1.0)).collect();
        let mut tape = FieldTape::<f64>::new(g);
        let mut dtape = FieldTape::<Dual<f64>>::new(g);
        group.throughput(Throughput::Elements(g.len() as u64));
        // the three agree (to round-off) before anything is timed
        let built = tape.eval(Par::Seq, |c| c.input(&a).unwrap().laplacian().value().to_vec());
        let user =
            tape.eval(Par::Seq, |c| c.apply(Laplacian::<true>, &[c.input(&a).unwrap()]).unwrap().value().to_vec());
        let err = built.iter().zip(&user).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(err < 1e-9 * built.iter().map(|x| x.abs()).fold(0.0, f64::max), "stencil Laplacian differs: {err}");
        // the hand-written loop: primal, and primal + VJP (Σ l², its
        // adjoint 2l through the symmetric kernel)
        let mut out = vec![0.0; g.len()];
        let mut back = vec![0.0; g.len()];
        group.bench_function(BenchmarkId::new("kernel/primal", n), |bch| {
            bch.iter(|| hand_laplacian(&g, black_box(&a), &mut out))
        });
        group.bench_function(BenchmarkId::new("kernel/primal+vjp", n), |bch| {
            bch.iter(|| {
                hand_laplacian(&g, black_box(&a), &mut out);
                out.iter_mut().for_each(|l| *l *= 2.0);
                hand_laplacian(&g, &out, &mut back);
                back[0]
            })
        });
        macro_rules! variant {
            ($name:literal, |$f:ident| $lap:expr) => {
                group.bench_function(BenchmarkId::new(concat!($name, "/primal"), n), |bch| {
                    bch.iter(|| {
                        tape.eval(Par::Seq, |c| {
                            let $f = c.input(black_box(&a)).unwrap();
                            $lap.value()[0]
                        })
                    })
                });
                group.bench_function(BenchmarkId::new(concat!($name, "/primal+vjp"), n), |bch| {
                    bch.iter(|| {
                        tape.record(Par::Seq, |c| {
                            let $f = c.input(black_box(&a)).unwrap();
                            let l = $lap;
                            c.gradient((l * l).sum()).unwrap().field($f)[0]
                        })
                    })
                });
                group.bench_function(BenchmarkId::new(concat!($name, "/jvp"), n), |bch| {
                    bch.iter(|| {
                        dtape.eval(Par::Seq, |c| {
                            let $f = c.input(black_box(&ad)).unwrap();
                            $lap.value()[0]
                        })
                    })
                });
            };
        }
        variant!("builtin", |f| f.laplacian());
        variant!("stencil", |f| f.ctx().apply(Laplacian::<true>, &[f]).unwrap());
        variant!("stencil_auto", |f| f.ctx().apply(Laplacian::<false>, &[f]).unwrap());
    }
    group.finish();
}

/// The periodic 5-point Laplacian as a hand-written loop (rows as slices,
/// the interior zipped so that it vectorises, the edge columns apart).
fn hand_laplacian(g: &Grid, a: &[f64], o: &mut [f64]) {
    let (nx, ny) = (g.nx, g.ny);
    let (cx, cy) = (1.0 / (g.dx * g.dx), 1.0 / (g.dy * g.dy));
    let c0 = -2.0 * (cx + cy);
    for i in 0..nx {
        let (im, ip) = (if i == 0 { nx - 1 } else { i - 1 }, if i + 1 == nx { 0 } else { i + 1 });
        let (am, a0, ap) = (&a[im * ny..(im + 1) * ny], &a[i * ny..(i + 1) * ny], &a[ip * ny..(ip + 1) * ny]);
        let o = &mut o[i * ny..(i + 1) * ny];
        let at = |j: usize, jm: usize, jp: usize| (am[j] + ap[j]) * cx + (a0[jm] + a0[jp]) * cy + a0[j] * c0;
        o[0] = at(0, ny - 1, 1);
        o[ny - 1] = at(ny - 1, ny - 2, 0);
        for ((o, (&m, &p)), w) in o[1..ny - 1].iter_mut().zip(am[1..].iter().zip(&ap[1..])).zip(a0.windows(3)) {
            *o = (m + p) * cx + (w[0] + w[2]) * cy + w[1] * c0;
        }
    }
}

/// One RK4 step of ns2d and of shallow water, two threads; the passes
/// over memory per step printed once per N.
fn steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(10);
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    for (n, size) in [(128usize, rewind_ns2d::spec::Size::M), (256, rewind_ns2d::spec::Size::L)] {
        let ns2d = rewind_ns2d::Ns2d::new(rewind_ns2d::spec::params(size)).expect("ns2d");
        let w0 = rewind_ns2d::spec::field_a(n);
        let sw = rewind_shallow_water::spec::model(rewind_shallow_water::spec::Case { n, steps: 1 }).expect("model");
        let x0 = sw.bump(0.1).expect("state");
        // the passes, once (and a quick timing beside the copy)
        let a: Vec<f64> = (0..n * n).map(|k| k as f64).collect();
        let mut out = vec![0.0; n * n];
        let t0 = std::time::Instant::now();
        for _ in 0..100 {
            out.copy_from_slice(black_box(&a));
        }
        let copy_gbs = 100.0 * 16.0 * (n * n) as f64 / t0.elapsed().as_secs_f64() / 1e9;
        let quick = Duration::from_millis(50);
        let figures = two.install(|| {
            (
                step_figures(ns2d.clone(), &w0, Par::Pool, quick).expect("ns2d"),
                step_figures(sw, &x0, Par::Pool, quick).expect("shallow water"),
            )
        });
        for (name, f) in [("ns2d", figures.0), ("shallow water", figures.1)] {
            eprintln!(
                "step/{name} N = {n}: passes over memory (fields read + written) primal {}, taped {}, taped + sweep {}; copy {copy_gbs:.0} GB/s",
                f.primal.passes.total(),
                f.taped.passes.total(),
                f.taped_and_swept.passes.total()
            );
        }
        macro_rules! model {
            ($name:literal, $model:expr, $x0:expr) => {
                let mut sim = rewind_sim::Sim::<_, f64>::new($model, Par::Pool).expect("sim");
                let x0: &[f64] = $x0;
                let (mut next, mut xbar, mut pbar) =
                    (vec![0.0; x0.len()], vec![0.0; x0.len()], vec![0.0; rewind_checkpoint::Stepper::param_len(&sim)]);
                group.bench_function(BenchmarkId::new(concat!($name, "/primal"), n), |bch| {
                    two.install(|| {
                        bch.iter(|| rewind_checkpoint::Stepper::step(&mut sim, 0, x0, &mut next).expect("step"))
                    })
                });
                group.bench_function(BenchmarkId::new(concat!($name, "/taped"), n), |bch| {
                    two.install(|| bch.iter(|| sim.step_recorded(0, x0, &mut next).expect("step")))
                });
                group.bench_function(BenchmarkId::new(concat!($name, "/taped+sweep"), n), |bch| {
                    two.install(|| {
                        bch.iter(|| {
                            let mut seed = |y: &[f64], ybar: &mut [f64]| -> Result<(), rewind_checkpoint::StepError> {
                                ybar.copy_from_slice(y);
                                Ok(())
                            };
                            rewind_checkpoint::Stepper::step_vjp(
                                &mut sim, 0, x0, &mut next, &mut seed, &mut xbar, &mut pbar,
                            )
                            .expect("step")
                        })
                    })
                });
            };
        }
        model!("ns2d", ns2d, &w0);
        model!("shallow_water", sw, &x0);
    }
    group.finish();
}

criterion_group!(benches, field_ops, stencil_vs_builtin, steps);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
