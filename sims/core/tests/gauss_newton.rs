//! Gauss–Newton products: equal to the Hessian in the directions in which
//! the model is affine, symmetric and positive semidefinite,
//! the same bits under every schedule and when a kept first sweep is
//! replayed; gradients and HVPs on a caller's snapshot stores; bad input
//! reported alike by every entry point; results by part, states at chosen
//! steps.

use rewind_checkpoint::Strategy;
use rewind_field::{Grid, Par};
use rewind_sim::{
    Background, Ensemble, Layout, Model, Number, Observations, ParamSet, Problem, SimError, State, StepAt, Sum,
};

/// `u ← u + dt (κ Δu + q)` (forward Euler), periodic: affine in `(u, q)`
/// at fixed `κ`.
#[derive(Debug, Clone)]
struct Diffuse;

fn grid() -> Grid {
    Grid::periodic_square(8, 1.0).unwrap()
}

impl Model for Diffuse {
    fn layout(&self) -> Layout {
        Layout::new(grid()).field("u")
    }
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("kappa", 0.01).field("q", grid().sample(|x, y| (6.0 * x).sin() + y))
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let p = at.params();
        let [u] = x.split()?;
        let dt = 0.002;
        Ok(State::from([u + (u.laplacian() * p.scalar("kappa")? + p.field("q")?) * dt]))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

type FourDVar = Sum<Sum<Observations, Background>, Background>;

/// A background term on `u₀`, a regularisation of `q`, and observations
/// of the whole field every third state: every term quadratic, each
/// divided by the number of points.
fn problem(s: Strategy) -> Problem<Diffuse, FourDVar> {
    let g = grid();
    let (data, w) = (g.sample(|x, y| (x - y).sin()), 1.0 / g.len() as f64);
    let mut observed = Observations::of("u").weight(w);
    for t in (0..=20).step_by(3) {
        observed = observed.at(t, data.iter().map(|d| d * (1.0 + 0.1 * t as f64)).collect());
    }
    let loss = observed
        + Background::state("u", g.sample(|x, _| x.cos())).weight(4.0 * w)
        + Background::param("q", vec![0.0; g.len()]).weight(0.6 * w);
    Problem::new(Diffuse, loss, s, 20, Par::Seq).unwrap()
}

#[test]
fn on_an_affine_model_the_gauss_newton_product_is_the_hessian() {
    let g = grid();
    let x0 = g.sample(|x, y| (2.0 * x).sin() * y);
    let v_x = g.sample(|x, y| (3.0 * y).cos() + x);
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let v_p = p.param_direction(&[("q", &g.sample(|x, _| 1.0 - x))]).unwrap();
    let gn = p.gauss_newton(&x0, &v_x, &v_p).unwrap();
    let h = p.hvp(&x0, &v_x, &v_p).unwrap();
    // the rows of u₀ and q (in which the model is affine) agree; the row of
    // κ, which multiplies u, holds the model's curvature in the Hessian only
    let (gq, hq) = (gn.param("q").unwrap(), h.param("q").unwrap());
    let size = max_abs(&h.x0).max(max_abs(hq));
    assert!(size > 0.0);
    for (a, b) in gn.x0.iter().zip(&h.x0).chain(gq.iter().zip(hq)) {
        assert!((a - b).abs() <= 1e-12 * size, "{a} vs {b}");
    }
    let (gk, hk) = (gn.param("kappa").unwrap()[0], h.param("kappa").unwrap()[0]);
    assert!((gk - hk).abs() > 1e-3 * hk.abs(), "κ row: {gk} vs {hk}");
    assert_eq!(gn.tangent_steps, 20);
}

#[test]
fn products_are_symmetric_semidefinite_schedule_independent_and_replayed_to_the_same_bits() {
    let g = grid();
    let x0 = g.sample(|x, y| (2.0 * x).sin() * y);
    let (u, v) = (g.sample(|x, y| (5.0 * x).cos() - y), g.sample(|x, y| (3.0 * y).cos() + x));
    let mut reference = problem(Strategy::StoreAll);
    reference.set_reuse(false);
    let np = reference.param_set().len();
    let (u_p, v_p) = ((0..np).map(|k| (k as f64 * 0.37).sin()).collect::<Vec<_>>(), vec![0.1; np]);
    let gv = reference.gauss_newton(&x0, &v, &v_p).unwrap();
    let gu = reference.gauss_newton(&x0, &u, &u_p).unwrap();
    let (a, b) = (dot(&u, &gv.x0) + dot(&u_p, &gv.params), dot(&v, &gu.x0) + dot(&v_p, &gu.params));
    assert!((a - b).abs() < 1e-12 * a.abs().max(b.abs()), "⟨u, Gv⟩ = {a}, ⟨v, Gu⟩ = {b}");
    assert!(dot(&v, &gv.x0) + dot(&v_p, &gv.params) > 0.0);
    assert_eq!(gv.counters.reused_steps, 0);
    for s in
        [Strategy::Binomial { snapshots: 3 }, Strategy::MultiLevel { ram: 1, disk: 2, write_cost: 1.0, read_cost: 1.0 }]
    {
        let mut p = problem(s);
        let first = p.gauss_newton(&x0, &v, &v_p).unwrap();
        assert_eq!((&first.x0, &first.params), (&gv.x0, &gv.params), "{s}");
        assert!(p.is_linearised_at(&x0));
        // at the same point the first forward sweep is replayed
        let second = p.gauss_newton(&x0, &u, &u_p).unwrap();
        assert_eq!((&second.x0, &second.params), (&gu.x0, &gu.params), "{s}");
        assert!(second.counters.reused_steps > 0, "{s}");
        assert_eq!(second.counters.forward_steps + second.counters.reused_steps, first.counters.forward_steps, "{s}");
        // a gradient by `linearise` keeps the point too; a parameter change drops it
        let x1: Vec<f64> = x0.iter().map(|a| a + 0.01).collect();
        let (kept, plain) = (p.linearise(&x1).unwrap(), p.gradient(&x1).unwrap());
        assert_eq!((kept.objective, &kept.x0, &kept.params), (plain.objective, &plain.x0, &plain.params), "{s}");
        assert!(kept.counters.kept_bytes > 0 && plain.counters.kept_bytes == 0);
        assert!(p.is_linearised_at(&x1) && !p.is_linearised_at(&x0));
        let at_x1 = p.gauss_newton(&x1, &v, &v_p).unwrap();
        assert!(at_x1.counters.reused_steps > 0);
        p.set_param("kappa", &[0.02]).unwrap();
        assert!(!p.is_linearised_at(&x1));
    }
}

#[test]
fn a_direction_of_the_wrong_length_is_a_typed_error() {
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let n = grid().len();
    let np = p.param_set().len();
    let err = p.gauss_newton(&vec![0.0; n], &vec![0.0; n - 1], &vec![0.0; np]).unwrap_err();
    assert!(matches!(err, SimError::Length { .. }), "{err}");
    let err = p.gauss_newton(&vec![0.0; n], &vec![0.0; n], &[0.0]).unwrap_err();
    assert!(matches!(err, SimError::Length { .. }), "{err}");
}

#[test]
fn incremental_4dvar_on_an_affine_model_reaches_the_minimum_in_one_outer_iteration() {
    use rewind_field::{Correlation, CorrelationKind};
    use rewind_sim::{Incremental, incremental};
    let g = grid();
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let mut b = Correlation::new(g, CorrelationKind::Gaussian, 0.15, 0.5).unwrap();
    let background = g.sample(|x, y| 0.3 * (x + y).sin());
    let settings = Incremental { outer: 3, inner: 64, inner_tol: 1e-10, tol: 1e-8, coarse_outer: 0 };
    let a = incremental(&mut p, &background, &mut b, None, settings).unwrap();
    // J is quadratic in χ: one Gauss–Newton (= Newton) step solves it
    assert!(a.outer.len() >= 2, "{:?}", a.outer);
    assert!(a.outer[1].grad_norm <= 1e-7 * a.outer[0].grad_norm, "{:?}", a.outer);
    assert!(a.objective < a.outer[0].objective && a.outer[0].halvings == 0);
    assert_eq!(a.products, a.outer.iter().map(|s| s.cg_iterations).sum::<usize>());
    // the analysis is x_b + B^½ χ, and J(χ) = ½‖χ‖² + J_o(x₀)
    let mut bchi = vec![0.0; g.len()];
    b.apply_sqrt(&a.chi, &mut bchi).unwrap();
    for k in 0..g.len() {
        assert!((a.x0[k] - background[k] - bchi[k]).abs() < 1e-12);
    }
    let jo = p.value(&a.x0).unwrap();
    assert!((a.objective - (0.5 * a.chi.iter().map(|c| c * c).sum::<f64>() + jo)).abs() < 1e-12 * a.objective);
    // a covariance on another grid is refused
    let mut other =
        Correlation::new(Grid::periodic_square(4, 1.0).unwrap(), CorrelationKind::Gaussian, 0.2, 1.0).unwrap();
    assert!(matches!(incremental(&mut p, &background, &mut other, None, settings), Err(SimError::Layout(_))));
}

#[test]
fn the_low_rank_laplace_posterior_of_an_affine_model_is_the_inverse_of_the_gauss_newton_hessian() {
    use rewind_field::{Correlation, CorrelationKind};
    use rewind_sim::{Spectrum, posterior};
    let g = grid();
    let n = g.len();
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let mut b = Correlation::new(g, CorrelationKind::Gaussian, 0.15, 0.5).unwrap();
    let xa = g.sample(|x, y| 0.2 * (x - y).cos());
    // full rank: Γ (B⁻¹ + G) w = w exactly
    let full =
        posterior(&mut p, &xa, &mut b, Spectrum { k: n, oversample: 0, seed: 3 }, &Ensemble::serial(), |_, _| {})
            .unwrap();
    assert_eq!(full.products, 2 * n);
    let no_p = vec![0.0; p.param_set().len()];
    for w in [g.sample(|x, y| (4.0 * x).sin() + y), g.sample(|x, _| (x - 0.5).abs())] {
        let (mut half, mut binv) = (vec![0.0; n], vec![0.0; n]);
        b.apply_inv_sqrt(&w, &mut half).unwrap();
        b.apply_inv_sqrt(&half, &mut binv).unwrap();
        let gw = p.gauss_newton(&xa, &w, &no_p).unwrap().x0;
        let h: Vec<f64> = binv.iter().zip(&gw).map(|(a, b)| a + b).collect();
        let back = full.covariance(&mut b, &h).unwrap();
        let size = max_abs(&w);
        for (a, b) in back.iter().zip(&w) {
            assert!((a - b).abs() < 1e-8 * size, "{a} vs {b}");
        }
    }
    // the data shrink the variance below the background's everywhere
    assert!(full.std.iter().zip(&full.background_std).all(|(s, b)| *s < *b && *s > 0.0));
    // samples: x_a + S z with S Sᵀ = Γ
    let columns: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let mut z = vec![0.0; n];
            z[j] = 1.0;
            let s = full.sample(&mut b, &z).unwrap();
            s.iter().zip(&xa).map(|(a, m)| a - m).collect()
        })
        .collect();
    let w = g.sample(|x, y| (2.0 * y).cos() * x);
    let st_w: Vec<f64> = columns.iter().map(|c| dot(c, &w)).collect();
    let mut sst_w = vec![0.0; n];
    for (c, &a) in columns.iter().zip(&st_w) {
        for (o, v) in sst_w.iter_mut().zip(c) {
            *o += a * v;
        }
    }
    let gamma_w = full.covariance(&mut b, &w).unwrap();
    for (a, b) in sst_w.iter().zip(&gamma_w) {
        assert!((a - b).abs() < 1e-10 * max_abs(&gamma_w), "{a} vs {b}");
    }
    // a few pairs by the randomized method: Rayleigh–Ritz values, so lower
    // bounds of the true ones (this spectrum decays slowly, in clusters: its
    // accuracy on a decaying spectrum is tested in rewind-optim)
    let few = posterior(&mut p, &xa, &mut b, Spectrum { k: 4, oversample: 8, seed: 5 }, &Ensemble::serial(), |_, _| {})
        .unwrap();
    assert_eq!(few.products, 24);
    for (i, (a, e)) in few.eigenvalues.iter().zip(&full.eigenvalues).enumerate() {
        assert!(*a <= e * (1.0 + 1e-9) && *a > 0.0, "λ{i}: {a} vs {e}");
    }
    // each pair can only take variance away from the background
    assert!(few.std.iter().zip(&few.background_std).all(|(s, b)| s <= b));
    assert!(full.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn the_problem_in_the_control_variable_has_the_gradient_and_hessian_of_its_differences() {
    use rewind_field::{Correlation, CorrelationKind};
    use rewind_optim::{Hessian as _, Problem as _};
    use rewind_sim::ControlProblem;
    let g = grid();
    let n = g.len();
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let mut b = Correlation::new(g, CorrelationKind::Matern { nu: 1.0 }, 0.2, 0.4).unwrap();
    let background = g.sample(|x, y| (x * y).sin());
    let mut cp = ControlProblem::new(&mut p, &background, &mut b).unwrap();
    let chi = g.sample(|x, y| 0.3 * (5.0 * x).cos() - y);
    let v = g.sample(|x, y| (2.0 * y).sin() + x * x);
    let mut grad = vec![0.0; n];
    cp.value_grad(&chi, &mut grad).unwrap();
    let h = 1e-5;
    let at = |s: f64| chi.iter().zip(&v).map(|(a, b)| a + s * b).collect::<Vec<_>>();
    let fd = (cp.value(&at(h)).unwrap() - cp.value(&at(-h)).unwrap()) / (2.0 * h);
    let ad = dot(&grad, &v);
    assert!((fd - ad).abs() < 1e-7 * ad.abs(), "{fd} vs {ad}");
    // J(χ) is quadratic here (an affine model): the Gauss–Newton product is
    // the difference of gradients
    let mut hv = vec![0.0; n];
    cp.hvp(&chi, &v, &mut hv).unwrap();
    let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
    cp.value_grad(&at(h), &mut gp).unwrap();
    cp.value_grad(&at(-h), &mut gm).unwrap();
    let size = max_abs(&hv);
    for k in 0..n {
        let d = (gp[k] - gm[k]) / (2.0 * h);
        assert!((hv[k] - d).abs() < 1e-6 * size, "k = {k}: {} vs {d}", hv[k]);
    }
    // χ = 0 is the background
    assert_eq!(cp.state(&vec![0.0; n]).unwrap(), background);
}

#[test]
fn gradient_and_hvp_on_callers_stores_are_the_same_bits_and_tick_each_step() {
    use rewind_checkpoint::RamStore;
    use rewind_field::Dual;
    let s = Strategy::Binomial { snapshots: 3 };
    let mut p = problem(s);
    let g = grid();
    let x0 = g.sample(|x, y| (x + 2.0 * y).sin());
    let v_x = g.sample(|x, _| x.cos());
    let v_p = vec![0.3; p.param_set().len()];
    let (want, want2) = (p.gradient(&x0).unwrap(), p.hvp(&x0, &v_x, &v_p).unwrap());
    let (mut ram, mut disk) = (RamStore::<f64>::new(), RamStore::<f64>::new());
    let mut ticks = 0;
    let got = p.gradient_on(&x0, [&mut ram, &mut disk], &mut || ticks += 1).unwrap();
    assert_eq!(got, want);
    assert_eq!(ticks, got.counters.forward_steps, "one tick per step evaluation");
    let (mut ram, mut disk) = (RamStore::<Dual<f64>>::new(), RamStore::<Dual<f64>>::new());
    let mut ticks = 0;
    let got2 = p.hvp_on(&x0, &v_x, &v_p, [&mut ram, &mut disk], &mut || ticks += 1).unwrap();
    assert_eq!(got2, want2);
    assert_eq!(ticks, got2.gradient.counters.forward_steps);
    // and the parameters are constants again afterwards
    assert_eq!(p.gradient(&x0).unwrap(), want);
}

#[test]
fn a_non_finite_input_is_the_same_typed_error_from_every_entry_point() {
    use rewind_checkpoint::DriverError;
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let g = grid();
    let mut x0 = g.sample(|x, y| (x + 2.0 * y).sin());
    x0[37] = f64::NAN;
    let v_x = g.sample(|x, _| x.cos());
    let v_p = vec![0.3; p.param_set().len()];
    let input = |e: SimError| matches!(e, SimError::Driver(DriverError::NonFiniteInput { index: 37 }));
    assert!(input(p.value(&x0).unwrap_err()));
    assert!(input(p.gradient(&x0).unwrap_err()));
    assert!(input(p.hvp(&x0, &v_x, &v_p).unwrap_err()));
    assert!(input(p.gauss_newton(&x0, &v_x, &v_p).unwrap_err()));
    assert!(input(p.linearise(&x0).unwrap_err()));
    let e = p.gradient(&x0).unwrap_err().to_string();
    assert!(e.contains("index 37") && e.contains("not a blow-up"), "{e}");
    // a non-finite direction, and parameters, set one way or the other
    let x0 = g.sample(|x, y| (x + 2.0 * y).sin());
    let mut bad_v = v_x.clone();
    bad_v[5] = f64::INFINITY;
    let e = p.hvp(&x0, &bad_v, &v_p).unwrap_err().to_string();
    assert!(e.contains("direction v_x (value 5)"), "{e}");
    let mut values = p.param_values().to_vec();
    values[0] = f64::NAN;
    let e = p.set_param_values(&values).unwrap_err().to_string();
    assert!(e.contains("parameter kappa"), "{e}");
    assert!(p.set_param("kappa", &[f64::NAN]).is_err());
    // a run that blows up (explicit diffusion far beyond its stability
    // bound): value and gradient name the same step and index
    p.set_param("kappa", &[1e20]).unwrap();
    let (a, b) = (p.value(&x0).unwrap_err(), p.gradient(&x0).unwrap_err());
    let state = |e: &SimError| match e {
        SimError::Driver(DriverError::NonFiniteState { step, index }) => Some((*step, *index)),
        _ => None,
    };
    assert!(state(&a).is_some() && state(&a) == state(&b), "{a} vs {b}");
}

#[test]
fn results_by_part_and_the_states_of_a_run_at_chosen_steps() {
    let mut p = problem(Strategy::Binomial { snapshots: 3 });
    let g = grid();
    let x0 = g.sample(|x, y| (x + 2.0 * y).sin());
    let v_x = g.sample(|x, _| x.cos());
    let v_p = vec![0.3; p.param_set().len()];
    let gr = p.gradient(&x0).unwrap();
    assert_eq!(gr.state("u").unwrap(), &gr.x0[..]);
    assert!(matches!(gr.state("q"), Err(SimError::Unknown { .. })), "q is a parameter, not a state field");
    assert_eq!(gr.param("q").unwrap().len(), g.len());
    let h = p.hvp(&x0, &v_x, &v_p).unwrap();
    assert_eq!(h.state("u").unwrap(), &h.x0[..]);
    let gn = p.gauss_newton(&x0, &v_x, &v_p).unwrap();
    assert_eq!(gn.state("u").unwrap(), &gn.x0[..]);
    // the run alone: x₀ at step 0, the gradient's final state at the last step, same bits
    let states = p.states_at(&x0, &[0, 7, p.steps()]).unwrap();
    assert_eq!(states[0], x0);
    assert_eq!(states[2], gr.final_state);
    for bad in [&[3usize, 3][..], &[5, 2], &[p.steps() + 1]] {
        assert!(matches!(p.states_at(&x0, bad), Err(SimError::Settings(_))), "{bad:?}");
    }
}
