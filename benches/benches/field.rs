//! Field operations (issue: differentiable fields): for N = 128, 256, 512,
//! the primal of the Laplacian, the Arakawa Jacobian and the FFT Poisson
//! solve; each recorded with its reverse sweep (primal + VJP); each over
//! dual numbers (JVP); and a plain copy for the bandwidth comparison.
//! `cargo run --release -p rewind-examples --example field_figures` prints
//! the same figures as ratios, for every operation, in one run.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rewind_field::{Components, Ctx, Field, FieldTape, Grid, Par, Scalar};
use rewind_tape::Dual;

#[derive(Debug, Clone, Copy)]
enum Op {
    Laplacian,
    Arakawa,
    Poisson,
}

fn apply<'id, T: Components>(op: Op, _c: &'id Ctx<'id, T>, a: Field<'id, T>, b: Field<'id, T>) -> Scalar<'id, T> {
    match op {
        Op::Laplacian => a.laplacian().sum(),
        Op::Arakawa => a.arakawa(b).expect("square grid").sum(),
        Op::Poisson => a.poisson().sum(),
    }
}

fn field_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("field");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(10);
    for n in [128usize, 256, 512] {
        let g = Grid::periodic_square(n, 2.0 * std::f64::consts::PI).expect("grid");
        let a = g.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.3);
        let b = g.sample(|x, y| (x - y).cos() + 1.2);
        let ad: Vec<Dual<f64>> = a.iter().map(|&v| Dual::new(v, 1.0)).collect();
        let bd: Vec<Dual<f64>> = b.iter().map(|&v| Dual::new(v, 0.5)).collect();
        let mut tape = FieldTape::<f64>::new(g);
        let mut dtape = FieldTape::<Dual<f64>>::new(g);
        group.throughput(Throughput::Elements(g.len() as u64));
        let mut out = vec![0.0; g.len()];
        group.bench_function(BenchmarkId::new("copy", n), |bch| bch.iter(|| out.copy_from_slice(black_box(&a))));
        for op in [Op::Laplacian, Op::Arakawa, Op::Poisson] {
            group.bench_function(BenchmarkId::new(format!("{op:?}/primal"), n), |bch| {
                bch.iter(|| tape.eval(Par::Rayon, |c| apply(op, c, c.input(&a).unwrap(), c.input(&b).unwrap()).value()))
            });
            group.bench_function(BenchmarkId::new(format!("{op:?}/primal+vjp"), n), |bch| {
                bch.iter(|| {
                    tape.record(Par::Rayon, |c| {
                        let fa = c.input(&a).unwrap();
                        let s = apply(op, c, fa, c.input(&b).unwrap());
                        c.gradient(s).unwrap().field(fa)[0]
                    })
                })
            });
            group.bench_function(BenchmarkId::new(format!("{op:?}/jvp"), n), |bch| {
                bch.iter(|| {
                    dtape.eval(Par::Rayon, |c| apply(op, c, c.input(&ad).unwrap(), c.input(&bd).unwrap()).value())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, field_ops);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
