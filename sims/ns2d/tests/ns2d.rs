//! The periodic Navier–Stokes benchmark: known answers, gradients and HVPs
//! through time checked against finite differences, schedules and symmetry.

use rewind_checkpoint::{DriverError, StepError, Stepper, Strategy};
use rewind_field::Par;
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Ns2d, Params, stepper};
use rewind_sim::{Problem, SimError, Terminal};

/// The benchmark's terminal misfit `½ area ‖xₙ − target‖²`, kept as its
/// parts so the tests can evaluate it by hand.
#[derive(Debug, Clone)]
struct Misfit {
    target: Vec<f64>,
    area: f64,
}

/// The benchmark's problem: the model at `p`, the misfit, a strategy.
fn problem(p: &Params, obj: &Misfit, s: Strategy, steps: usize) -> Problem<Ns2d, Terminal> {
    let loss = Terminal::state(obj.target.clone()).weight(obj.area);
    Problem::new(Ns2d::new(p.clone()).unwrap(), loss, s, steps, Par::Seq).unwrap()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A small version of the benchmark: N = 16, `steps` steps of the spec's
/// size-S time step, target from field B.
fn small(steps: usize) -> (Params, Vec<f64>, Vec<f64>, Misfit) {
    let n = 16;
    let mut p = spec::params(Size::S);
    p.n = n;
    p.forcing = rewind_field::Grid::periodic_square(n, 2.0 * std::f64::consts::PI)
        .unwrap()
        .sample(|_, y| 0.1 * (4.0 * y).sin());
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let target = spec::advance(&mut st, &spec::field_b(n), steps).unwrap();
    let area = (2.0 * std::f64::consts::PI / n as f64).powi(2);
    (p, spec::field_a(n), spec::direction_v(n), Misfit { target, area })
}

fn objective(p: &Params, obj: &Misfit, steps: usize, w0: &[f64]) -> f64 {
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let w = spec::advance(&mut st, w0, steps).unwrap();
    0.5 * obj.area * w.iter().zip(&obj.target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
}

#[test]
fn single_mode_decays_by_the_rk4_polynomial() {
    let n = 32;
    let mut p = spec::params(Size::S);
    p.alpha = 0.0;
    p.forcing = vec![0.0; n * n];
    let g = rewind_field::Grid::periodic_square(n, 2.0 * std::f64::consts::PI).unwrap();
    let w0 = g.sample(|x, y| x.cos() * y.cos());
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let steps = 25;
    let w = spec::advance(&mut st, &w0, steps).unwrap();
    let h = g.dx;
    let lambda = 2.0 * (2.0 * h.cos() - 2.0) / (h * h);
    let z = p.dt * p.nu * lambda;
    let factor = (1.0 + z + z * z / 2.0 + z.powi(3) / 6.0 + z.powi(4) / 24.0).powi(steps as i32);
    for (a, b) in w.iter().zip(&w0) {
        assert!((a - factor * b).abs() < 1e-14, "{a} vs {}", factor * b);
    }
    assert!(factor < 1.0);
}

#[test]
fn gradient_is_identical_under_every_schedule_and_matches_fd() {
    let steps = 40;
    let (p, wa, v, obj) = small(steps);
    let mut reference: Option<Vec<f64>> = None;
    for s in [
        Strategy::StoreAll,
        Strategy::Periodic { every: 7 },
        Strategy::Binomial { snapshots: 3 },
        Strategy::Online { snapshots: 4 },
    ] {
        let out = problem(&p, &obj, s, steps).gradient(&wa).unwrap();
        match &reference {
            None => reference = Some(out.x0),
            Some(r) => assert_eq!(&out.x0, r, "{s}"),
        }
    }
    let g = reference.unwrap();
    // directional derivative along v and the Taylor remainder
    let gd = dot(&g, &v);
    let eps = 1e-4;
    let shifted = |e: f64| wa.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>();
    let fd = (objective(&p, &obj, steps, &shifted(eps)) - objective(&p, &obj, steps, &shifted(-eps))) / (2.0 * eps);
    assert!((gd - fd).abs() < 1e-7 * gd.abs().max(1e-3), "<g, v> = {gd}, FD = {fd}");
    let j0 = objective(&p, &obj, steps, &wa);
    let taylor = rewind_tape::fd::taylor_test(|w| objective(&p, &obj, steps, w), &wa, &g, &v).unwrap();
    assert!(taylor.passed(), "{taylor:?}");
    assert!(j0 > 0.0);
}

#[test]
fn hvp_matches_fd_of_gradients_and_is_symmetric() {
    let steps = 30;
    let (p, wa, v, obj) = small(steps);
    let u: Vec<f64> =
        rewind_field::Grid::periodic_square(16, 2.0 * std::f64::consts::PI).unwrap().sample(|x, y| (2.0 * x - y).cos());
    let no_p = vec![0.0; problem(&p, &obj, Strategy::StoreAll, steps).param_set().len()];
    let run_hvp = |dir: &[f64], s: Strategy| problem(&p, &obj, s, steps).hvp(&wa, dir, &no_p).unwrap().x0;
    let hv = run_hvp(&v, Strategy::Binomial { snapshots: 4 });
    assert_eq!(hv, run_hvp(&v, Strategy::StoreAll), "HVP identical under schedules");
    let mut five = problem(&p, &obj, Strategy::Binomial { snapshots: 5 }, steps);
    let mut grad_at = |w: &[f64]| five.gradient(w).unwrap().x0;
    let h = 1e-5;
    let gp = grad_at(&wa.iter().zip(&v).map(|(a, b)| a + h * b).collect::<Vec<_>>());
    let gm = grad_at(&wa.iter().zip(&v).map(|(a, b)| a - h * b).collect::<Vec<_>>());
    let size = hv.iter().map(|a| a.abs()).fold(0.0, f64::max);
    for k in 0..wa.len() {
        let fd = (gp[k] - gm[k]) / (2.0 * h);
        assert!((hv[k] - fd).abs() < 1e-6 * size, "k = {k}: {} vs {fd}", hv[k]);
    }
    let hu = run_hvp(&u, Strategy::Binomial { snapshots: 4 });
    let (a, b) = (dot(&u, &hv), dot(&v, &hu));
    assert!((a - b).abs() < 1e-10 * a.abs().max(b.abs()), "<u, Hv> = {a}, <v, Hu> = {b}");
}

#[test]
fn viscosity_and_forcing_gradients_match_fd() {
    let steps = 20;
    let (p, wa, _, obj) = small(steps);
    let out = problem(&p, &obj, Strategy::Binomial { snapshots: 3 }, steps).gradient(&wa).unwrap();
    let with = |nu: f64, df: f64| {
        let mut q = p.clone();
        q.nu = nu;
        q.forcing.iter_mut().enumerate().for_each(|(k, f)| *f += df * ((k % 5) as f64 - 2.0));
        objective(&q, &obj, steps, &wa)
    };
    let h = 1e-6;
    let fd_nu = (with(p.nu + h, 0.0) - with(p.nu - h, 0.0)) / (2.0 * h);
    let ad_nu = out.param("nu").unwrap()[0];
    assert!((ad_nu - fd_nu).abs() < 1e-6 * fd_nu.abs().max(1e-6), "{ad_nu} vs {fd_nu}");
    let fd_f = (with(p.nu, h) - with(p.nu, -h)) / (2.0 * h);
    let ad_f: f64 = out.param("forcing").unwrap().iter().enumerate().map(|(k, g)| g * ((k % 5) as f64 - 2.0)).sum();
    assert!((ad_f - fd_f).abs() < 1e-6 * fd_f.abs().max(1e-6), "{ad_f} vs {fd_f}");
}

#[test]
fn cfl_violation_and_bad_parameters_are_typed_errors() {
    let (mut p, wa, _, obj) = small(10);
    p.dt = 2.0;
    let err = problem(&p, &obj, Strategy::StoreAll, 10).gradient(&wa).unwrap_err();
    assert!(
        matches!(
            err,
            SimError::Driver(DriverError::Step { step: 0, source: StepError::Unstable { step: 0, what: "CFL", .. } })
        ),
        "{err}"
    );
    // with the CFL check relaxed the state blows up, and the step is named
    p.max_cfl = f64::INFINITY;
    p.dt = 5.0;
    let strong: Vec<f64> = wa.iter().map(|w| 30.0 * w).collect();
    match problem(&p, &obj, Strategy::StoreAll, 400).gradient(&strong) {
        Err(SimError::Driver(DriverError::NonFiniteState { step, .. })) => assert!(step < 400),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("an unstable time step did not blow up"),
    }
    for (bad, param) in [
        (Params { n: 2, ..p.clone() }, "n"),
        (Params { dt: -1.0, ..p.clone() }, "dt"),
        (Params { nu: f64::NAN, ..p.clone() }, "nu"),
        (Params { forcing: vec![0.0; 3], ..p.clone() }, "forcing"),
    ] {
        let err = stepper::<f64>(bad, Par::Seq).unwrap_err();
        let names_it = match &err {
            rewind_ns2d::Ns2dError::Param { what, .. } => *what == param,
            rewind_ns2d::Ns2dError::Field(rewind_field::FieldError::Length { what, .. }) => *what == param,
            _ => false,
        };
        assert!(names_it, "{param}: {err}");
    }
    let mut ok = stepper::<f64>(spec::params(Size::S), Par::Seq).unwrap();
    let mut next = vec![0.0; 4];
    let err = ok.step(0, &[0.0; 4], &mut next).unwrap_err();
    assert!(
        matches!(err.model_error::<SimError>(), Some(SimError::Length { got: 4, .. })),
        "wrong state length: {err}"
    );
}

#[test]
fn the_size_s_benchmark_runs_and_its_gradient_agrees_with_fd() {
    let strategy = Strategy::Binomial { snapshots: 10 };
    // the progress hook sees every step evaluation, phase by phase, in order
    let mut ticks: Vec<(spec::Phase, u64)> = Vec::new();
    let r = spec::run_observed(Size::S, strategy, Par::Seq, |p| match ticks.last_mut() {
        Some((q, k)) if *q == p => *k += 1,
        _ => ticks.push((p, 1)),
    })
    .unwrap();
    use spec::Phase::{Gradient, Hvp, Primal, Target};
    assert_eq!(ticks, vec![(Target, 100), (Primal, 300), (Gradient, 322), (Hvp, 322)]);
    assert_eq!(spec::evaluations(Size::S, strategy).unwrap(), 1044);
    assert_eq!(r.forward_steps, 322);
    assert_eq!((r.n, r.steps), (32, 100));
    assert!(r.jloss > 0.0 && r.grad_norm > 0.0 && r.hvp_norm > 0.0);
    // ⟨∇J, v⟩ against a central difference along v
    let p = spec::params(Size::S);
    let mut st = stepper::<f64>(p, Par::Seq).unwrap();
    let target = spec::advance(&mut st, &spec::field_b(32), 100).unwrap();
    let area = (2.0 * std::f64::consts::PI / 32.0f64).powi(2);
    let obj = Misfit { target, area };
    let (wa, v) = (spec::field_a(32), spec::direction_v(32));
    let eps = 1e-5;
    let j = |e: f64| {
        let w: Vec<f64> = wa.iter().zip(&v).map(|(a, b)| a + e * b).collect();
        objective(&spec::params(Size::S), &obj, 100, &w)
    };
    let fd = (j(eps) - j(-eps)) / (2.0 * eps);
    assert!((fd - r.grad_dot_v).abs() < 1e-7 * r.grad_dot_v.abs(), "{fd} vs {}", r.grad_dot_v);
    assert!((j(0.0) - r.jloss).abs() < 1e-13 * r.jloss);
}

#[test]
fn gauss_newton_matches_differences_of_the_linearised_residual_and_drops_the_model_curvature() {
    let steps = 20;
    let (p, wa, v, obj) = small(steps);
    let mut pr = problem(&p, &obj, Strategy::Binomial { snapshots: 4 }, steps);
    let no_p = vec![0.0; pr.param_set().len()];
    let gn = pr.gauss_newton(&wa, &v, &no_p).unwrap();
    // M v, M = ∂xₙ/∂x₀, by central differences of the final state
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let mut at = |e: f64| {
        let w: Vec<f64> = wa.iter().zip(&v).map(|(a, b)| a + e * b).collect();
        spec::advance(&mut st, &w, steps).unwrap()
    };
    let (h, x) = (1e-5, at(0.0));
    let mv: Vec<f64> = at(h).iter().zip(&at(-h)).map(|(a, b)| (a - b) / (2.0 * h)).collect();
    // Mᵀ (a M v) is the gradient of ½ a ‖xₙ − (xₙ(x₀) − M v)‖² at x₀
    let target: Vec<f64> = x.iter().zip(&mv).map(|(a, b)| a - b).collect();
    let linearised = Misfit { target, area: obj.area };
    let fd = problem(&p, &linearised, Strategy::StoreAll, steps).gradient(&wa).unwrap().x0;
    let size = gn.x0.iter().map(|a| a.abs()).fold(0.0, f64::max);
    for (k, (a, b)) in gn.x0.iter().zip(&fd).enumerate() {
        assert!((a - b).abs() < 1e-6 * size, "k = {k}: {a} vs {b}");
    }
    assert!(dot(&v, &gn.x0) > 0.0);
    // the full HVP also holds the model's curvature weighted by the residual
    let hv = pr.hvp(&wa, &v, &no_p).unwrap().x0;
    let gap = hv.iter().zip(&gn.x0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(gap > 1e-3 * size, "the HVP equals the Gauss–Newton product ({gap} vs {size})");
}
