//! Pinned bits: the value, gradient and Hessian-vector product of every
//! model on a small grid, hashed, against the hashes of the code that
//! passed every other test.
//!
//! Other tests compare runs with each other (fused with unfused, threads
//! with one, one schedule with another); none notices a change that moves
//! every run's last bits alike — a loop reordered in the engine, say, while
//! it is generalised to three dimensions. This one does. The pins hold on
//! this project's platform (x86_64 Linux, the workspace's toolchain: the
//! models' initial states call libm); a change that is meant to move the
//! bits updates them, and says why in its commit.

use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_sim::{Model, Problem, Terminal};

/// FNV-1a over the values' bits.
fn fnv(hash: &mut u64, xs: &[f64]) {
    for x in xs {
        for b in x.to_bits().to_le_bytes() {
            *hash = (*hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `J = ½‖x_n − x̄‖²` with `x̄` the reversed `0.9 x₀`, under binomial:3:
/// the hash of `J`, `∇J` (state and parameters) and `∇²J v` for a fixed
/// joint direction `v`.
fn bits<M: Model + Clone>(model: M, x0: &[f64], steps: usize, par: Par) -> u64 {
    let target: Vec<f64> = x0.iter().rev().map(|v| 0.9 * v).collect();
    let strategy = Strategy::Binomial { snapshots: 3 };
    let mut p = Problem::new(model, Terminal::state(target), strategy, steps, par).unwrap();
    let v_x: Vec<f64> = (0..x0.len()).map(|k| ((k * 7 % 13) as f64 - 6.0) * 1e-2).collect();
    let v_p: Vec<f64> = (0..p.param_set().len()).map(|k| 0.1 * (k as f64 + 1.0)).collect();
    let value = p.value(x0).unwrap();
    let g = p.gradient(x0).unwrap();
    let h = p.hvp(x0, &v_x, &v_p).unwrap();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for part in [&[value][..], &g.x0, &g.params, &h.gradient.x0, &h.gradient.params, &h.x0, &h.params] {
        fnv(&mut hash, part);
    }
    hash
}

/// The hash of every model, sequential; each checked against two threads.
fn hashes() -> Vec<(&'static str, u64)> {
    fn both<M: Model + Clone>(name: &'static str, m: M, x0: &[f64], steps: usize) -> (&'static str, u64) {
        let seq = bits(m.clone(), x0, steps, Par::Seq);
        assert_eq!(seq, bits(m, x0, steps, Par::Threads(2)), "{name}: threads give other bits");
        (name, seq)
    }
    let ns2d = rewind_ns2d::Ns2d::new(rewind_ns2d::spec::params(rewind_ns2d::spec::Size::S)).unwrap();
    let burgers = rewind_burgers::Burgers::new(rewind_burgers::Params { n: 64, ..Default::default() }).unwrap();
    let dt = rewind_cavity::Params::stable_dt(17, 100.0, 1.0);
    let cavity =
        rewind_cavity::CavityStep::new(rewind_cavity::Params { n: 17, reynolds: 100.0, lid: 1.0, dt }).unwrap();
    let cg = *cavity.grid();
    let l96 = rewind_lorenz96::Lorenz96 { n: 40, ..Default::default() };
    let lorenz = rewind_lorenz96::Lorenz96Field::new(l96, 8.0).unwrap();
    let sw =
        rewind_shallow_water::ShallowWater::new(rewind_shallow_water::Config { n: 32, ..Default::default() }).unwrap();
    let gs = rewind_gray_scott::GrayScott::new(rewind_gray_scott::Config { n: 32, ..Default::default() }).unwrap();
    let acoustic = rewind_acoustic::Acoustic::new(rewind_acoustic::Config {
        n: [12, 10, 11],
        order: 4,
        sponge: 2,
        source: [40.0, 50.0, 45.0],
        ..Default::default()
    })
    .unwrap();
    let x0: Vec<f64> = (0..2 * acoustic.grid().len()).map(|k| 1e-3 * ((k * 7 % 11) as f64 - 5.0)).collect();
    vec![
        both("ns2d", ns2d, &rewind_ns2d::spec::field_a(32), 6),
        both("burgers", burgers.clone(), &burgers.initial(), 10),
        both("cavity", cavity, &cg.sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin()), 6),
        both("lorenz96", lorenz, &rewind_lorenz96::on_attractor(l96, 100), 10),
        both("shallow-water", sw, &sw.bump(0.1).unwrap(), 6),
        both("gray-scott", gs.clone(), &gs.initial().unwrap(), 6),
        both("acoustic", acoustic, &x0, 12),
    ]
}

/// The hashes since the acoustic model's leapfrog update is one pointwise
/// kernel, `(dt² (∇²u + q) + m (2u − u⁻) + E u⁻) / (m + E)`, in place of
/// `[dt² (∇²u + q)/m + 2u − u⁻ + (E/m) u⁻] / (1 + E/m)` (2026-12-07): the
/// same discretisation rounded otherwise — the acoustic spec at 64³ × 300
/// J 14443.533927709868 → 14443.533927709885 (1.2e-15 relative); every
/// other model's bits held through the engine changes of that day (tiles
/// of lines in 3D, fused copies and finiteness checks).
///
/// Before: the hashes since linear stencils are summed as `Σ c_q local_q` in the
/// order of their local inputs on every path (2026-12-06; before, each
/// stencil's own `eval` grouping): every model's last bits moved, its
/// figures did not — ns2d-periodic size S J 12.38718276924786 →
/// 12.387182769247865, ‖∇J‖ and ‖Hv‖ identical; shallow water 64² × 50 J
/// and ‖Hv‖ within 5e-16 relative; the acoustic spec at 32³ × 100 J within
/// 3e-16. (The hashes of 8aa7031, the last commit before the engine went
/// 3D, held until then.)
const PINNED: [(&str, u64); 7] = [
    ("ns2d", 0x974237bc86a0e852),
    ("burgers", 0x9df4903d10c0ed94),
    ("cavity", 0x3913b1a1c6f292a0),
    ("lorenz96", 0xcaba4e1ff77b57bd),
    ("shallow-water", 0x02db509fd4d15e82),
    ("gray-scott", 0xb2158e9198aa2dc4),
    ("acoustic", 0xba80e82dcdf0c77d),
];

#[test]
fn every_model_gives_the_pinned_bits() {
    let now = hashes();
    let table: String = now.iter().map(|(n, h)| format!("    (\"{n}\", {h:#018x}),\n")).collect();
    assert_eq!(now, PINNED, "the bits moved; now:\n{table}");
}
