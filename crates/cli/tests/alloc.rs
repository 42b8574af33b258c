//! Every model of the workspace — recorded and reversed, over `f64` (the
//! gradient's steps) and over dual numbers (the HVP's), and evaluated
//! alone (the checkpoint driver's forward sweeps) — performs no heap
//! allocation in steady state, fused loops included: counted with a global
//! allocator that counts, on this test's thread only (the kernels run on
//! it: `Par::Seq`). The models are those `rewind sims` lists, at their
//! default problems.

#[path = "../../field/tests/counting/mod.rs"]
mod counting;

use rewind_checkpoint::{StepError, Stepper};
use rewind_field::{Components, Dual, Par};
use rewind_sim::{Model, Sim};

/// Allocations in 5 steady-state steps (recorded and reversed, then alone)
/// of `model` from `x0` over scalars `T`.
fn steady_state<M: Model + Clone, T: Components + 'static>(model: &M, x0: &[T]) -> usize {
    let mut sim = Sim::<M, T>::new(model.clone(), Par::Seq).unwrap();
    let zero = T::zero();
    let (mut next, mut xbar, mut pbar) = (x0.to_vec(), vec![zero; x0.len()], vec![zero; sim.param_len()]);
    let mut seed = |y: &[T], ybar: &mut [T]| -> Result<(), StepError> {
        ybar.copy_from_slice(y);
        Ok(())
    };
    let mut round = |sim: &mut Sim<M, T>, t: usize| {
        sim.step_vjp(t, x0, &mut next, &mut seed, &mut xbar, &mut pbar).unwrap();
        sim.step(t, x0, &mut next).unwrap();
    };
    for t in 0..3 {
        round(&mut sim, t); // warm-up: the arena and the tiles' scratch grow
    }
    counting::mark(true);
    let before = counting::allocations();
    for t in 0..5 {
        round(&mut sim, t);
    }
    let n = counting::allocations() - before;
    counting::mark(false);
    n
}

/// Both scalar types, the dual state's tangent a fraction of the state.
fn both<M: Model + Clone>(name: &str, model: M, x0: &[f64]) {
    assert_eq!(steady_state(&model, x0), 0, "{name} over f64");
    let xd: Vec<Dual<f64>> = x0.iter().map(|&a| Dual::new(a, 0.1 * a + 0.01)).collect();
    assert_eq!(steady_state(&model, &xd), 0, "{name} over dual numbers");
}

#[test]
fn every_model_allocates_nothing_in_steady_state() {
    let p = rewind_ns2d::spec::params(rewind_ns2d::spec::Size::S);
    let n = p.n;
    both("ns2d", rewind_ns2d::Ns2d::new(p).unwrap(), &rewind_ns2d::spec::field_a(n));
    let b = rewind_burgers::Burgers::new(rewind_burgers::Params::default()).unwrap();
    both("burgers", b.clone(), &b.initial());
    let c = rewind_cavity::CavityStep::new(rewind_cavity::Params {
        n: 17,
        reynolds: 100.0,
        lid: 1.0,
        dt: rewind_cavity::Params::stable_dt(17, 100.0, 1.0),
    })
    .unwrap();
    let x0 = c.grid().sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin());
    both("cavity", c, &x0);
    let l = rewind_lorenz96::Lorenz96::default();
    both("lorenz96", rewind_lorenz96::Lorenz96Field::new(l, 8.0).unwrap(), &rewind_lorenz96::on_attractor(l, 500));
    let sw = rewind_shallow_water::ShallowWater::new(Default::default()).unwrap();
    both("shallow water", sw, &sw.bump(0.1).unwrap());
    let gs = rewind_gray_scott::GrayScott::new(Default::default()).unwrap();
    both("gray-scott", gs.clone(), &gs.initial().unwrap());
    let ac = rewind_acoustic::Acoustic::new(rewind_acoustic::Config {
        n: [16; 3],
        sponge: 3,
        source: [80.0; 3],
        ..Default::default()
    })
    .unwrap();
    // a wavefield, not rest: every kernel sees values
    let x0: Vec<f64> = (0..2 * 16usize.pow(3)).map(|k| (0.37 * k as f64).sin()).collect();
    both("acoustic", ac, &x0);
}
