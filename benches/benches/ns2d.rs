//! One ns2d time step (the benchmark flow of
//! `docs/specs/ns2d-periodic.md`) at N = 64, 128 and 256: the primal
//! step, the taped forward (recording only), the taped forward with its
//! reverse sweep (one VJP), and the same over `Dual<f64>` (one step of a
//! forward-over-reverse HVP). The reverse sweep alone is the difference
//! of the last two primal-type figures. Then the checkpoint driver: the
//! whole gradient of size S (32², 100 steps) under store-all, binomial:10
//! and a RAM + disk schedule with the checksummed disk store.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group};
use rewind_checkpoint::DiskStore;
use rewind_checkpoint::{RamStore, SnapshotStore, Stepper, Strategy, run};
use rewind_field::Par;
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Params, stepper};
use rewind_sim::Terminal;
use rewind_tape::Dual;

fn params(n: usize) -> Params {
    let mut p = spec::params(Size::S);
    let h = 2.0 * std::f64::consts::PI / n as f64;
    let g = rewind_field::Grid { nx: n, ny: n, nz: 1, dx: h, dy: h, dz: 1.0 };
    p.n = n;
    p.dt = 0.02 * 32.0 / n as f64;
    p.forcing = g.sample(|_, y| 0.1 * (4.0 * y).sin());
    p
}

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("ns2d_step");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for n in [64usize, 128, 256] {
        let x = spec::field_a(n);
        let v = spec::direction_v(n);
        let mut next = vec![0.0; x.len()];
        let mut sim = stepper::<f64>(params(n), Par::Seq).unwrap();
        group.bench_with_input(BenchmarkId::new("primal", n), &n, |b, _| {
            b.iter(|| sim.step(0, black_box(&x), &mut next).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("taped_forward", n), &n, |b, _| {
            b.iter(|| sim.step_recorded(0, black_box(&x), &mut next).unwrap())
        });
        let mut xbar = vec![0.0; x.len()];
        let mut pbar = vec![0.0; sim.param_len()];
        group.bench_with_input(BenchmarkId::new("forward_and_reverse", n), &n, |b, _| {
            b.iter(|| {
                let mut seed = |y: &[f64], ybar: &mut [f64]| {
                    ybar.copy_from_slice(y);
                    Ok(())
                };
                sim.step_vjp(0, black_box(&x), &mut next, &mut seed, &mut xbar, &mut pbar).unwrap()
            })
        });
        let xd: Vec<Dual<f64>> = x.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let mut nd = vec![Dual::new(0.0, 0.0); x.len()];
        let mut xbd = nd.clone();
        let mut dual = stepper::<Dual<f64>>(params(n), Par::Seq).unwrap();
        let mut pbd = vec![Dual::new(0.0, 0.0); dual.param_len()];
        group.bench_with_input(BenchmarkId::new("hvp_forward_and_reverse", n), &n, |b, _| {
            b.iter(|| {
                let mut seed = |y: &[Dual<f64>], ybar: &mut [Dual<f64>]| {
                    ybar.copy_from_slice(y);
                    Ok(())
                };
                dual.step_vjp(0, black_box(&xd), &mut nd, &mut seed, &mut xbd, &mut pbd).unwrap()
            })
        });
    }
    group.finish();
}

fn driver(c: &mut Criterion) {
    let mut group = c.benchmark_group("driver_gradient_ns2d_S");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5)).sample_size(10);
    let (n, steps, _) = Size::S.table();
    let p = spec::params(Size::S);
    let mut sim = stepper::<f64>(p, Par::Seq).unwrap();
    let target = spec::advance(&mut sim, &spec::field_b(n), steps).unwrap();
    let area = (2.0 * std::f64::consts::PI / n as f64).powi(2);
    let mut objective = sim.objective(Terminal::state(target).weight(area), steps).unwrap();
    let x0 = spec::field_a(n);
    let dir = std::env::temp_dir();
    for name in ["store-all", "binomial:10", "multilevel:4,16,1,1"] {
        let strategy: Strategy = name.parse().unwrap();
        let schedule = strategy.schedule(steps).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut ram = RamStore::new();
                let mut disk: Box<dyn SnapshotStore<f64>> = if strategy.budget(steps)[1] > 0 {
                    Box::new(DiskStore::new(&dir).unwrap())
                } else {
                    Box::new(RamStore::new())
                };
                run(&mut sim, &mut objective, &schedule, &x0, [&mut ram, disk.as_mut()]).unwrap().objective
            })
        });
    }
    group.finish();
}

criterion_group!(benches, step, driver);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
