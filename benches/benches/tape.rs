//! Scalar tape benchmarks (issue: foundation).
//!
//! * `rosenbrock/{f64,grad,hvp}/n`: the extended Rosenbrock function, its
//!   gradient (reverse mode, reused tape and output buffer) and its
//!   Hessian-vector product (forward-over-reverse, reused tape), for
//!   n = 10², 10⁴, 10⁶. Ratios grad/f64 and hvp/grad are the figures.
//! * `tape/{record,record_reverse}`: a recording of n = 10⁶ statements
//!   (throughput in statements per second) with and without the sweep.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rewind_examples::{rosenbrock, rosenbrock_start};
use rewind_tape::{Dual, Real, Tape};

fn rosenbrock_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rosenbrock");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for n in [100usize, 10_000, 1_000_000] {
        let x = rosenbrock_start(n);
        let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 3.0).collect();
        let mut g = vec![0.0; n];
        let mut tape = Tape::<f64>::new();
        let mut tape2 = Tape::<Dual<f64>>::new();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("f64", n), &x, |b, x| b.iter(|| rosenbrock(black_box(x))));
        group.bench_with_input(BenchmarkId::new("grad", n), &x, |b, x| {
            b.iter(|| tape.value_and_grad_into(|x| rosenbrock(x), black_box(x), &mut g).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("hvp", n), &x, |b, x| {
            b.iter(|| tape2.grad_and_hvp(|x| rosenbrock(x), black_box(x), &v).unwrap())
        });
    }
    group.finish();
}

fn throughput_bench(c: &mut Criterion) {
    let n = 1_000_000;
    let x = rosenbrock_start(n);
    let mut tape = Tape::<f64>::new();
    let statements = tape.record(|r| {
        let _ = rosenbrock(r.vars(&x));
        r.stats()
    });
    println!(
        "tape: {} statements, {} operands, {:.1} bytes/statement (+8 adjoint bytes/statement in a sweep)",
        statements.statements,
        statements.operands,
        statements.bytes as f64 / statements.statements as f64
    );
    let mut group = c.benchmark_group("tape");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    group.throughput(Throughput::Elements(statements.statements as u64));
    group.bench_function("record", |b| b.iter(|| tape.record(|r| rosenbrock(r.vars(black_box(&x))).value())));
    group.bench_function("record_reverse", |b| {
        b.iter(|| {
            tape.record(|r| {
                let xs = r.vars(black_box(&x));
                let y = rosenbrock(xs);
                r.gradient(y).map(|g| g.wrt(xs[0]))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, rosenbrock_bench, throughput_bench);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
