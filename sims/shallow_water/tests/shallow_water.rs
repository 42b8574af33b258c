//! Rotating shallow water: conservation, and gradients and HVPs in joint
//! directions of the initial state and the parameters under binomial and
//! multi-level checkpointing, against finite differences.

use rewind_checkpoint::{Stepper, Strategy};
use rewind_field::Par;
use rewind_shallow_water::{Config, ShallowWater};
use rewind_sim::{Background, Observations, Problem, Sim, Sum, check};

fn run(m: &ShallowWater, x0: &[f64], steps: usize) -> Vec<f64> {
    rewind_sim::advance(&mut Sim::<_, f64>::new(*m, Par::Seq).unwrap(), x0, steps).unwrap()
}

#[test]
fn mass_is_conserved_to_round_off_and_energy_drifts_little() {
    let m = ShallowWater::new(Config::default()).unwrap();
    let x0 = m.bump(0.1).unwrap();
    let steps = 400; // t = 20: several inertial periods 2π/f
    let x = run(&m, &x0, steps);
    let (m0, m1) = (m.mass(&x0).unwrap(), m.mass(&x).unwrap());
    let (e0, e1) = (m.energy(&x0).unwrap(), m.energy(&x).unwrap());
    let mass_drift = (m1 - m0).abs() / m0;
    let energy_drift = (e1 - e0) / e0;
    println!("shallow water, {steps} steps: mass drift {mass_drift:.2e}, energy drift {energy_drift:.2e}");
    // a few ulps per step at most: Σ h telescopes exactly in exact arithmetic
    assert!(mass_drift < 1e-13, "mass drift {mass_drift}");
    // the spatial scheme conserves energy; what drifts is RK4's (slightly
    // dissipative) time error: -4.4e-9 measured over these 400 steps. The
    // bound leaves a factor 20; a scheme that does not conserve energy
    // (the enstrophy-conserving variant, an upwind flux) drifts by orders
    // of magnitude more.
    assert!(energy_drift.abs() < 1e-7, "energy drift {energy_drift}");
    // the bump adjusts: currents appear, and the layer stays wet
    let (u, h) = (&x[1024..2048], &x[..1024]);
    assert!(u.iter().fold(0.0f64, |a, b| a.max(b.abs())) > 1e-3);
    assert!(h.iter().all(|&d| d > 0.5));
}

/// Point observations of the depth at two times and a prior on `g`:
/// `J = ½ Σₜ Σₖ (h_t[iₖ] − yₖ)² + ½ (g − 1.1)²`.
fn problem(strategy: Strategy, steps: usize) -> (Problem<ShallowWater, Sum<Observations, Background>>, Vec<f64>) {
    let m = ShallowWater::new(Config::default()).unwrap();
    let x0 = m.bump(0.1).unwrap();
    let points: Vec<usize> = (0..1024).step_by(37).collect();
    let truth = run(&m, &m.bump(0.12).unwrap(), steps / 2);
    let data: Vec<f64> = points.iter().map(|&k| truth[k]).collect();
    let observed = Observations::of("h").points(points).at(steps / 2, data.clone()).at(steps, data);
    let loss = observed + Background::param("g", vec![1.1]);
    (Problem::new(m, loss, strategy, steps, Par::Seq).unwrap(), x0)
}

#[test]
fn gradient_and_hvp_in_state_and_parameter_directions_match_differences() {
    let steps = 24;
    let strategies = [
        Strategy::Binomial { snapshots: 4 },
        Strategy::MultiLevel { ram: 2, disk: 2, write_cost: 1.0, read_cost: 1.0 },
    ];
    let (_, x0) = problem(strategies[0], steps);
    let n = x0.len();
    let v_x: Vec<f64> = (0..n).map(|k| ((k * 7 % 13) as f64 - 6.0) * 1e-2).collect();
    let mut reference = None;
    for s in strategies {
        let (mut p, _) = problem(s, steps);
        let v_p = p.param_direction(&[("g", &[0.3]), ("f", &[-0.5])]).unwrap();
        let c = check(&mut p, &x0, &v_x, &v_p, &[1e-5]).unwrap();
        println!("{s}:\n{c}");
        assert!(c.passes(1e-6), "{s}: {c:?}");
        // the same numbers under every schedule, bit for bit
        let h = p.hvp(&x0, &v_x, &v_p).unwrap();
        match &reference {
            None => reference = Some(h),
            Some(r) => {
                assert_eq!(h.x0, r.x0, "{s}");
                assert_eq!(h.params, r.params, "{s}");
                assert_eq!(h.gradient.x0, r.gradient.x0, "{s}");
            }
        }
    }
    // the gradient by name: ∂J/∂g includes the prior's g − 1.1
    let (mut p, _) = problem(strategies[0], steps);
    let g = p.gradient(&x0).unwrap();
    assert_eq!(g.param("g").unwrap().len(), 1);
    assert!(g.param("depth").is_err());
}

#[test]
fn results_are_bit_identical_for_any_thread_count() {
    // 128²: the kernels take their parallel paths
    let m = ShallowWater::new(Config { n: 128, dt: 0.0125, ..Config::default() }).unwrap();
    let x0 = m.bump(0.1).unwrap();
    let loss = rewind_sim::Terminal::state(vec![1.0; x0.len()]);
    let grad = |par: Par, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut p = Problem::new(m, loss.clone(), Strategy::Binomial { snapshots: 2 }, 4, par).unwrap();
            p.gradient(&x0).unwrap()
        })
    };
    let a = grad(Par::Seq, 1);
    let b = grad(Par::Pool, 2);
    assert_eq!(a.x0, b.x0);
    assert_eq!(a.params, b.params);
}

#[test]
fn a_layer_that_runs_dry_is_an_error_naming_the_step() {
    let m = ShallowWater::new(Config { max_cfl: f64::INFINITY, dt: 0.4, ..Config::default() }).unwrap();
    let x0 = m.bump(0.9).unwrap();
    let mut sim = Sim::<_, f64>::new(m, Par::Seq).unwrap();
    let (mut x, mut next) = (x0.clone(), vec![0.0; x0.len()]);
    let mut failed = None;
    for t in 0..500 {
        if let Err(e) = sim.step(t, &x, &mut next) {
            failed = Some((t, e));
            break;
        }
        std::mem::swap(&mut x, &mut next);
    }
    let (t, e) = failed.expect("an unstable step did not fail");
    assert!(e.to_string().contains(&format!("step {t}")), "{e}");
    assert!(ShallowWater::new(Config { dt: -1.0, ..Config::default() }).is_err());
}

#[test]
fn the_benchmark_figures_agree_with_finite_differences() {
    use rewind_shallow_water::spec::{self, Case};
    let case = Case { n: 16, steps: 12 };
    let strategy = Strategy::Binomial { snapshots: 4 };
    let r = spec::run_observed(case, strategy, Par::Seq, |_| {}).unwrap();
    assert_eq!((r.n, r.steps, r.dt), (16, 12, 0.16));
    // J along the joint direction v = (v_x, v_g, v_f), by central differences
    let m = spec::model(case).unwrap();
    let (vx, vp) = spec::direction(&m).unwrap();
    let target = run(&m, &m.bump(0.12).unwrap(), case.steps);
    let xa = m.bump(0.1).unwrap();
    let area = m.grid().dx * m.grid().dy;
    let j = |eps: f64| {
        let mut sim = Sim::<_, f64>::new(m, Par::Seq).unwrap();
        sim.set_param_values(&[1.0 + eps * vp[0], 1.0 + eps * vp[1]]).unwrap();
        let x0: Vec<f64> = xa.iter().zip(&vx).map(|(a, v)| a + eps * v).collect();
        let x = rewind_sim::advance(&mut sim, &x0, case.steps).unwrap();
        0.5 * area * x.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
    };
    assert!((j(0.0) - r.jloss).abs() < 1e-13 * r.jloss, "{} vs {}", j(0.0), r.jloss);
    let h = 1e-5;
    let fd = (j(h) - j(-h)) / (2.0 * h);
    assert!((fd - r.grad_dot_v).abs() < 1e-6 * r.grad_dot_v.abs(), "{fd} vs {}", r.grad_dot_v);
    let fd2 = (j(h) - 2.0 * j(0.0) + j(-h)) / (h * h);
    assert!((fd2 - r.v_dot_hvp).abs() < 1e-3 * r.v_dot_hvp.abs(), "{fd2} vs {}", r.v_dot_hvp);
}
