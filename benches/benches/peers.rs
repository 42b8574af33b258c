//! The extended Rosenbrock gradient and HVP against another Rust AD crate:
//! `ad_trait` (reverse mode on a global, thread-local computation graph;
//! Hessian-vector products by its reverse-over-forward hyper-dual type
//! `HyperAD_ADR<1>`, the mechanism of its own Hessians, with one
//! tangent). Before timing, each peer's gradient and HVP are checked
//! against rewind's (to 1e-12 relative), so the two compute the same
//! thing.
//!
//! `cargo bench -p rewind-benches --bench peers`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use ad_trait::AD;
use ad_trait::forward_ad::ForwardADTrait;
use ad_trait::hyper_ad::hyper_adr::HyperAD_ADR;
use ad_trait::reverse_ad::adr::adr;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rewind_examples::{rosenbrock, rosenbrock_start};
use rewind_tape::{Dual, Tape};

/// The same function as `rewind_examples::rosenbrock`, over ad_trait's
/// scalar trait.
fn rosenbrock_ad<T: AD>(x: &[T]) -> T {
    let (hundred, one) = (T::constant(100.0), T::constant(1.0));
    let mut s = T::constant(0.0);
    for p in x.chunks_exact(2) {
        let a = p[1] - p[0] * p[0];
        let b = one - p[0];
        s = s + hundred * a * a + b * b;
    }
    s
}

fn peer_grad(x: &[f64], g: &mut [f64]) -> f64 {
    let vars: Vec<adr> = x.iter().enumerate().map(|(i, &v)| adr::new_variable(v, i == 0)).collect();
    let f = rosenbrock_ad(&vars);
    let grad = f.get_backwards_mode_grad();
    for (gi, v) in g.iter_mut().zip(&vars) {
        *gi = grad.wrt(v);
    }
    f.value()
}

fn peer_hvp(x: &[f64], v: &[f64], hv: &mut [f64]) {
    let vars: Vec<adr> = x.iter().enumerate().map(|(i, &xi)| adr::new_variable(xi, i == 0)).collect();
    let inputs: Vec<HyperAD_ADR<1>> = vars
        .iter()
        .zip(v)
        .map(|(&a, &vi)| {
            let mut h = HyperAD_ADR::<1>::new_inner_constant(a);
            h.set_tangent_value(0, vi);
            h
        })
        .collect();
    let f = rosenbrock_ad(&inputs);
    let grad = f.inner_tangent()[0].get_backwards_mode_grad();
    for (h, a) in hv.iter_mut().zip(&vars) {
        *h = grad.wrt(a);
    }
}

fn close(a: &[f64], b: &[f64]) -> bool {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * scale)
}

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("rosenbrock_peers");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for n in [100usize, 10_000, 1_000_000] {
        let x = rosenbrock_start(n);
        let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) * 0.25).collect();
        let mut tape = Tape::<f64>::new();
        let mut tape2 = Tape::<Dual<f64>>::new();
        let mut g = vec![0.0; n];
        let mut g_peer = vec![0.0; n];
        let mut hv_peer = vec![0.0; n];
        // the two libraries compute the same derivatives
        tape.value_and_grad_into(|x| rosenbrock(x), &x, &mut g).unwrap();
        peer_grad(&x, &mut g_peer);
        assert!(close(&g_peer, &g), "ad_trait's gradient differs from rewind's at n = {n}");
        let (_, _, hv) = tape2.grad_and_hvp(|x| rosenbrock(x), &x, &v).unwrap();
        peer_hvp(&x, &v, &mut hv_peer);
        assert!(close(&hv_peer, &hv), "ad_trait's HVP differs from rewind's at n = {n}");

        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("rewind_grad", n), &x, |b, x| {
            b.iter(|| tape.value_and_grad_into(|x| rosenbrock(x), black_box(x), &mut g).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("ad_trait_grad", n), &x, |b, x| {
            b.iter(|| peer_grad(black_box(x), &mut g_peer))
        });
        group.bench_with_input(BenchmarkId::new("rewind_hvp", n), &x, |b, x| {
            b.iter(|| tape2.grad_and_hvp(|x| rosenbrock(x), black_box(x), &v).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("ad_trait_hvp", n), &x, |b, x| {
            b.iter(|| peer_hvp(black_box(x), &v, &mut hv_peer))
        });
    }
    group.finish();
}

criterion_group!(benches, peers);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
