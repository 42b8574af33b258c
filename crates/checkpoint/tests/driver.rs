//! The driver on small steppers with known answers: gradients and HVPs are
//! identical under every schedule, equal to finite differences and to the
//! closed forms, and pass the dot-product test.

use rewind_checkpoint::{
    DriverError, LossFn, RamStore, StepFn, Strategy, TapedObjective, TapedStepper, gradient, hvp, replay, run,
    run_keeping, run_online,
};
use rewind_tape::{Dual, Real};

fn strategies(n: usize) -> Vec<Strategy> {
    vec![
        Strategy::StoreAll,
        Strategy::Periodic { every: 7 },
        Strategy::Periodic { every: n },
        Strategy::Binomial { snapshots: 1 },
        Strategy::Binomial { snapshots: 2 },
        Strategy::Binomial { snapshots: 5 },
        Strategy::Online { snapshots: 4 },
        Strategy::MultiLevel { ram: 2, disk: 6, write_cost: 1.0, read_cost: 1.0 },
    ]
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

// ---------- Lorenz-63, RK4, parameters (σ, ρ, β) ----------

struct Lorenz {
    dt: f64,
}

fn lorenz_rhs<T: Real>(x: &[T], p: &[T]) -> [T; 3] {
    [p[0] * (x[1] - x[0]), x[0] * (p[1] - x[2]) - x[1], x[0] * x[1] - p[2] * x[2]]
}

impl StepFn for Lorenz {
    fn state_len(&self) -> usize {
        3
    }
    fn step<T: Real>(&self, _t: usize, x: &[T], p: &[T], out: &mut [T]) {
        let h = self.dt;
        let add = |a: &[T], k: &[T; 3], c: f64| [a[0] + k[0] * c, a[1] + k[1] * c, a[2] + k[2] * c];
        let k1 = lorenz_rhs(x, p);
        let k2 = lorenz_rhs(&add(x, &k1, h / 2.0), p);
        let k3 = lorenz_rhs(&add(x, &k2, h / 2.0), p);
        let k4 = lorenz_rhs(&add(x, &k3, h), p);
        for i in 0..3 {
            out[i] = x[i] + (k1[i] + k2[i] * 2.0 + k3[i] * 2.0 + k4[i]) * (h / 6.0);
        }
    }
}

/// 4D-Var-like misfit: observations of x₀ component at every 10th state,
/// and the full state at the end.
struct Misfit;

impl LossFn for Misfit {
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T> {
        if t == n {
            Some(x.iter().map(|&v| (v - 1.0) * (v - 1.0)).sum::<T>() * 0.5)
        } else if t % 10 == 5 {
            let obs = (t as f64 * 0.1).sin() * 5.0;
            Some((x[0] - obs) * (x[0] - obs) * 0.5)
        } else {
            None
        }
    }
}

const PARAMS: [f64; 3] = [10.0, 28.0, 8.0 / 3.0];
const X0: [f64; 3] = [1.0, 1.5, 20.0];

fn lorenz_objective(x0: &[f64], n: usize) -> f64 {
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Misfit);
    gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 3 }, n, x0).unwrap().objective
}

#[test]
fn lorenz_gradient_is_identical_under_every_schedule_and_matches_fd() {
    let n = 150;
    let mut reference = None;
    for s in strategies(n) {
        let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
        let mut ob = TapedObjective::<_, f64>::new(Misfit);
        let out = gradient(&mut st, &mut ob, s, n, &X0).unwrap();
        let c = s.schedule(n).unwrap();
        let counts = rewind_checkpoint::check(&c, s.budget(n)).unwrap();
        assert_eq!(out.counters.forward_steps, counts.forward_steps, "{s}: driver and checker disagree");
        assert_eq!(out.counters.vjps, n as u64);
        assert_eq!(out.counters.peak_snapshots, counts.peak_snapshots, "{s}");
        match &reference {
            None => reference = Some(out),
            Some(r) => {
                // bit-for-bit: same steps, same reverse order
                assert_eq!(out.objective, r.objective, "{s}");
                assert_eq!(out.grad_x0, r.grad_x0, "{s}");
                assert_eq!(out.grad_params, r.grad_params, "{s}");
                assert_eq!(out.final_state, r.final_state, "{s}");
            }
        }
    }
    let r = reference.unwrap();
    for i in 0..3 {
        let h = 1e-6;
        let mut xp = X0;
        let mut xm = X0;
        xp[i] += h;
        xm[i] -= h;
        let fd = (lorenz_objective(&xp, n) - lorenz_objective(&xm, n)) / (2.0 * h);
        assert!(close(r.grad_x0[i], fd, 1e-6), "component {i}: {} vs {fd}", r.grad_x0[i]);
    }
    // parameter gradient against finite differences in σ, ρ, β
    for i in 0..3 {
        let f = |p: [f64; 3]| {
            let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, p.to_vec());
            let mut ob = TapedObjective::<_, f64>::new(Misfit);
            gradient(&mut st, &mut ob, Strategy::StoreAll, n, &X0).unwrap().objective
        };
        let h = 1e-6 * PARAMS[i];
        let (mut pp, mut pm) = (PARAMS, PARAMS);
        pp[i] += h;
        pm[i] -= h;
        let fd = (f(pp) - f(pm)) / (2.0 * h);
        assert!(close(r.grad_params[i], fd, 1e-6), "param {i}: {} vs {fd}", r.grad_params[i]);
    }
}

#[test]
fn lorenz_hvp_is_identical_under_every_schedule_matches_fd_and_is_symmetric() {
    let n = 120;
    let u = [0.3, -1.0, 0.5];
    let v = [1.0, 0.2, -0.7];
    let run_hvp = |s: Strategy, dir: &[f64]| {
        let mut st = TapedStepper::<_, Dual<f64>>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
        let mut ob = TapedObjective::<_, Dual<f64>>::new(Misfit);
        hvp(&mut st, &mut ob, s, n, &X0, dir).unwrap()
    };
    let reference = run_hvp(Strategy::StoreAll, &v);
    for s in strategies(n) {
        let out = run_hvp(s, &v);
        assert_eq!(out.hvp, reference.hvp, "{s}");
        assert_eq!(out.gradient, reference.gradient, "{s}");
    }
    // the gradient part equals the f64 run's gradient
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Misfit);
    let g = gradient(&mut st, &mut ob, Strategy::StoreAll, n, &X0).unwrap();
    for i in 0..3 {
        assert!(close(reference.gradient[i], g.grad_x0[i], 1e-13));
    }
    // H v against a central difference of gradients
    let grad_at = |x: &[f64]| {
        let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
        let mut ob = TapedObjective::<_, f64>::new(Misfit);
        gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 4 }, n, x).unwrap().grad_x0
    };
    let h = 1e-6;
    let xp: Vec<f64> = X0.iter().zip(&v).map(|(a, b)| a + h * b).collect();
    let xm: Vec<f64> = X0.iter().zip(&v).map(|(a, b)| a - h * b).collect();
    let (gp, gm) = (grad_at(&xp), grad_at(&xm));
    for i in 0..3 {
        let fd = (gp[i] - gm[i]) / (2.0 * h);
        assert!(close(reference.hvp[i], fd, 1e-5), "component {i}: {} vs {fd}", reference.hvp[i]);
    }
    // ⟨u, H v⟩ = ⟨v, H u⟩
    let hu = run_hvp(Strategy::Binomial { snapshots: 3 }, &u);
    let (a, b) = (dot(&u, &reference.hvp), dot(&v, &hu.hvp));
    assert!(close(a, b, 1e-11), "{a} vs {b}");
}

/// Terminal loss ⟨w, xₙ⟩: its gradient is Jᵀw with J = ∂xₙ/∂x₀.
struct Linear([f64; 3]);
impl LossFn for Linear {
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T> {
        (t == n).then(|| x.iter().zip(&self.0).map(|(&xi, &wi)| xi * wi).sum())
    }
}

#[test]
fn dot_product_test_of_the_driver_adjoint() {
    let n = 200;
    let w = [0.7, -1.1, 0.4];
    let v = [-0.2, 0.9, 1.3];
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.005 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Linear(w));
    let jtw = gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 6 }, n, &X0).unwrap().grad_x0;
    // J v by forward mode: the primal over duals seeded with v
    let mut x: Vec<Dual<f64>> = X0.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let p: Vec<Dual<f64>> = PARAMS.iter().map(|&a| Dual::constant(a)).collect();
    let lor = Lorenz { dt: 0.005 };
    let mut next = x.clone();
    for t in 0..n {
        lor.step(t, &x, &p, &mut next);
        std::mem::swap(&mut x, &mut next);
    }
    let jv: Vec<f64> = x.iter().map(|d| d.eps).collect();
    let (lhs, rhs) = (dot(&jv, &w), dot(&v, &jtw));
    assert!(close(lhs, rhs, 1e-12), "<Jv, w> = {lhs}, <v, J^T w> = {rhs}");
}

// ---------- a linear map with a closed-form gradient and Hessian ----------

struct LinearMap;
const A: [[f64; 3]; 3] = [[0.9, 0.2, 0.0], [-0.1, 0.8, 0.3], [0.05, 0.0, 0.95]];
impl StepFn for LinearMap {
    fn state_len(&self) -> usize {
        3
    }
    fn step<T: Real>(&self, _t: usize, x: &[T], _p: &[T], out: &mut [T]) {
        for i in 0..3 {
            out[i] = (0..3).map(|j| x[j] * A[i][j]).sum();
        }
    }
}
struct HalfSquare;
impl LossFn for HalfSquare {
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T> {
        (t == n).then(|| x.iter().map(|&v| v * v).sum::<T>() * 0.5)
    }
}

fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

#[test]
fn linear_map_gradient_and_hvp_equal_the_closed_form() {
    let n = 37;
    let mut m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..n {
        m = matmul(&A, &m);
    }
    // H = MᵀM, ∇J = MᵀM x₀
    let mtm = |x: &[f64]| -> Vec<f64> {
        let y: Vec<f64> = (0..3).map(|i| (0..3).map(|j| m[i][j] * x[j]).sum()).collect();
        (0..3).map(|j| (0..3).map(|i| m[i][j] * y[i]).sum()).collect()
    };
    let x0 = [1.0, -2.0, 0.5];
    let v = [0.1, 0.4, -0.3];
    for s in strategies(n) {
        let mut st = TapedStepper::<_, Dual<f64>>::new(LinearMap, vec![]);
        let mut ob = TapedObjective::<_, Dual<f64>>::new(HalfSquare);
        let out = hvp(&mut st, &mut ob, s, n, &x0, &v).unwrap();
        let (g, hv) = (mtm(&x0), mtm(&v));
        for i in 0..3 {
            assert!(close(out.gradient[i], g[i], 1e-13), "{s}: {:?} vs {g:?}", out.gradient);
            assert!(close(out.hvp[i], hv[i], 1e-13), "{s}: {:?} vs {hv:?}", out.hvp);
        }
    }
}

// ---------- a scalar nonlinear recurrence, checked by forward mode ----------

struct Recurrence;
impl StepFn for Recurrence {
    fn state_len(&self) -> usize {
        1
    }
    fn step<T: Real>(&self, _t: usize, x: &[T], p: &[T], out: &mut [T]) {
        out[0] = x[0] + (p[0] * x[0].sin() - x[0] * x[0] * x[0] / 3.0) * 0.05;
    }
}
struct Terminal;
impl LossFn for Terminal {
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T> {
        (t == n).then(|| x[0].powi(2))
    }
}

#[test]
fn scalar_recurrence_gradient_matches_forward_mode() {
    let n = 500;
    let p = 1.7;
    // d/dx₀ of xₙ² by a dual number carried through all steps
    let fwd = rewind_tape::derivative(
        |x0| {
            let mut x = [x0];
            let mut next = x;
            let pd = [Dual::constant(p)];
            for t in 0..n {
                Recurrence.step(t, &x, &pd, &mut next);
                x = next;
            }
            x[0].powi(2)
        },
        0.8,
    );
    // J(x₀, p) by plain f64 steps, for finite differences
    let j = |x0: f64, p: f64| {
        let (mut x, mut next) = ([x0], [0.0]);
        for t in 0..n {
            Recurrence.step(t, &x, &[p], &mut next);
            x = next;
        }
        x[0] * x[0]
    };
    // d²J/dx₀² by nesting: a dual of duals carried through all steps
    let second = {
        let mut x = [Dual::new(Dual::new(0.8, 1.0), Dual::new(1.0, 0.0))];
        let mut next = x;
        let pd = [Dual::constant(Dual::constant(p))];
        for t in 0..n {
            Recurrence.step(t, &x, &pd, &mut next);
            x = next;
        }
        x[0].powi(2).eps.eps
    };
    let h = 1e-6;
    let fd_x = (j(0.8 + h, p) - j(0.8 - h, p)) / (2.0 * h);
    let fd_p = (j(0.8, p + h) - j(0.8, p - h)) / (2.0 * h);
    assert!(close(fwd, fd_x, 1e-7), "forward mode {fwd} vs FD {fd_x}");
    let mut reference: Option<(Vec<f64>, Vec<f64>)> = None;
    for s in strategies(n) {
        let mut st = TapedStepper::<_, f64>::new(Recurrence, vec![p]);
        let mut ob = TapedObjective::<_, f64>::new(Terminal);
        let g = gradient(&mut st, &mut ob, s, n, &[0.8]).unwrap();
        assert!(close(g.grad_x0[0], fwd, 1e-13), "{s}: {} vs {fwd}", g.grad_x0[0]);
        assert!(close(g.grad_params[0], fd_p, 1e-7), "{s}: dJ/dp {} vs FD {fd_p}", g.grad_params[0]);
        match &reference {
            None => reference = Some((g.grad_x0, g.grad_params)),
            Some((gx, gp)) => assert!(&g.grad_x0 == gx && &g.grad_params == gp, "{s}: not identical"),
        }
        // the HVP (a 1×1 Hessian times v = 1) against the nested forward mode
        let mut st = TapedStepper::<_, Dual<f64>>::new(Recurrence, vec![p]);
        let mut ob = TapedObjective::<_, Dual<f64>>::new(Terminal);
        let out = hvp(&mut st, &mut ob, s, n, &[0.8], &[1.0]).unwrap();
        assert!(close(out.hvp[0], second, 1e-12), "{s}: H = {} vs {second}", out.hvp[0]);
    }
}

// ---------- online runs of unknown length ----------

#[test]
fn online_run_stops_by_itself_and_matches_the_offline_gradient() {
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Misfit);
    let mut store = RamStore::new();
    // run until the trajectory first crosses x = 0 (not known in advance)
    let out = run_online(&mut st, &mut ob, 5, 10_000, &X0, &mut store, |_, x| x[0] < 0.0).unwrap();
    let n = out.steps;
    assert!(n > 10 && n < 10_000, "n = {n}");
    assert!(out.counters.peak_snapshots[0] <= 5);
    let off = gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 5 }, n, &X0).unwrap();
    assert_eq!(out.grad_x0, off.grad_x0);
    assert_eq!(out.objective, off.objective);
    assert!(out.counters.forward_steps > off.counters.forward_steps);
    let counted = rewind_checkpoint::check(&Strategy::Online { snapshots: 5 }.schedule(n).unwrap(), [5, 0]).unwrap();
    assert_eq!(out.counters.forward_steps, counted.forward_steps);
}

// ---------- bad input ----------

struct Explodes;
impl StepFn for Explodes {
    fn state_len(&self) -> usize {
        1
    }
    fn step<T: Real>(&self, _t: usize, x: &[T], _p: &[T], out: &mut [T]) {
        out[0] = x[0] * x[0] * 10.0;
    }
}

#[test]
fn a_blow_up_names_the_step() {
    let mut st = TapedStepper::<_, f64>::new(Explodes, vec![]);
    let mut ob = TapedObjective::<_, f64>::new(Terminal);
    // x₀ = 2 → 40 → 1.6e4 → 2.6e9 → 6.6e19 → 4.3e40 → 1.8e82 → 3.4e165 → inf:
    // step 7 (from x₇ to x₈) overflows
    let err = gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 3 }, 20, &[2.0]).unwrap_err();
    assert!(matches!(err, DriverError::NonFiniteState { step: 7, .. }), "{err}");
    assert!(err.to_string().contains("after step 7"), "{err}");
    // also when the blow-up happens only in the recorded re-run of the last step
    let err = gradient(&mut st, &mut ob, Strategy::StoreAll, 8, &[2.0]).unwrap_err();
    assert!(matches!(err, DriverError::NonFiniteState { step: 7, .. }), "{err}");
    // one step fewer, the state is finite but its loss x₇² overflows
    let err = gradient(&mut st, &mut ob, Strategy::StoreAll, 7, &[2.0]).unwrap_err();
    assert!(matches!(err, DriverError::NonFiniteLoss { step: 7 }), "{err}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Misfit);
    assert!(matches!(gradient(&mut st, &mut ob, Strategy::StoreAll, 0, &X0), Err(DriverError::Schedule(_))));
    assert!(matches!(
        gradient(&mut st, &mut ob, Strategy::Binomial { snapshots: 0 }, 10, &X0),
        Err(DriverError::Schedule(_))
    ));
    assert!(matches!(gradient(&mut st, &mut ob, Strategy::StoreAll, 10, &[1.0, 2.0]), Err(DriverError::Length { .. })));
    assert!(matches!(
        gradient(&mut st, &mut ob, Strategy::StoreAll, 10, &[1.0, f64::NAN, 2.0]),
        Err(DriverError::NonFiniteInput { index: 1 })
    ));
    // a hand-made schedule that reads a state never stored is refused before running
    let mut bad = Strategy::Binomial { snapshots: 2 }.schedule(10).unwrap();
    bad.actions.insert(1, rewind_checkpoint::Action::Restore { step: 4, level: rewind_checkpoint::Level::Ram });
    let (mut ram, mut disk) = (RamStore::new(), RamStore::new());
    assert!(matches!(run(&mut st, &mut ob, &bad, &X0, [&mut ram, &mut disk]), Err(DriverError::Check(_))));
}

/// `x ↦ 0.99 x`, except that step 1234 adds `√(2x₀ − x₀ − x₀)`: its value
/// is 0 (the argument is exactly 0), its derivative infinite, so a tangent becomes
/// `0 · ∞ = NaN` while every value stays finite.
struct PoisonsTheTangent;

impl StepFn for PoisonsTheTangent {
    fn state_len(&self) -> usize {
        2
    }
    fn step<T: Real>(&self, t: usize, x: &[T], _p: &[T], out: &mut [T]) {
        out[0] = x[0] * 0.99;
        out[1] = x[1] * 0.99;
        if t == 1234 {
            out[1] += (x[0] * 2.0 - x[0] - x[0]).sqrt();
        }
    }
}

#[test]
fn a_tangent_that_blows_up_alone_names_the_step() {
    for s in [Strategy::StoreAll, Strategy::Binomial { snapshots: 5 }, Strategy::Online { snapshots: 4 }] {
        let mut st = TapedStepper::<_, Dual<f64>>::new(PoisonsTheTangent, vec![]);
        let mut ob = TapedObjective::<_, Dual<f64>>::new(Terminal);
        let err = hvp(&mut st, &mut ob, s, 2000, &[1.0, 2.0], &[1.0, -1.0]).unwrap_err();
        assert!(matches!(err, DriverError::NonFiniteTangent { step: 1234, index: 1 }), "{s}: {err}");
        assert!(err.to_string().contains("after step 1234"), "{err}");
    }
    // the same run without the poisoned step is fine
    let mut st = TapedStepper::<_, Dual<f64>>::new(PoisonsTheTangent, vec![]);
    let mut ob = TapedObjective::<_, Dual<f64>>::new(Terminal);
    assert!(hvp(&mut st, &mut ob, Strategy::Binomial { snapshots: 5 }, 1000, &[1.0, 2.0], &[1.0, -1.0]).is_ok());
}

#[test]
fn a_kept_first_sweep_replays_to_the_same_bits_with_any_objective() {
    let n = 60;
    let dir = std::env::temp_dir();
    for s in strategies(n) {
        let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
        let mut ob = TapedObjective::<_, f64>::new(Misfit);
        let (full, mut kept) = run_keeping(&mut st, &mut ob, s, n, &X0, &dir).unwrap();
        let plain = gradient(&mut st, &mut ob, s, n, &X0).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!((&full.grad_x0, &full.grad_params), (&plain.grad_x0, &plain.grad_params), "{s}");
        // the same run, plus the kept copies
        let kept_bytes = full.counters.kept_bytes;
        assert_eq!(kept_bytes, kept.bytes(), "{s}");
        assert_eq!(full.counters.peak_snapshot_bytes, plain.counters.peak_snapshot_bytes + kept_bytes, "{s}");
        assert_eq!(
            (full.counters.forward_steps, full.counters.writes),
            (plain.counters.forward_steps, plain.counters.writes)
        );
        assert!(kept.saved_steps() > 0 && kept.saved_steps() < full.counters.forward_steps, "{s}: {kept:?}");
        // the same objective again: the same bits, the first sweep not run
        let again = replay(&mut st, &mut ob, &mut kept).unwrap();
        assert_eq!(
            (&again.grad_x0, &again.grad_params, &again.final_state, again.objective),
            (&full.grad_x0, &full.grad_params, &full.final_state, full.objective),
            "{s}"
        );
        assert_eq!(again.counters.reused_steps, kept.saved_steps(), "{s}");
        assert_eq!(again.counters.forward_steps + kept.saved_steps(), full.counters.forward_steps, "{s}");
        assert_eq!(again.counters.vjps, n as u64, "{s}");
        assert!(again.counters.kept_bytes > 0 && again.counters.peak_snapshot_bytes >= again.counters.kept_bytes);
        // another objective (other adjoint seeds) on the kept trajectory
        let mut lin = TapedObjective::<_, f64>::new(Linear([0.3, -1.0, 2.0]));
        let replayed = replay(&mut st, &mut lin, &mut kept).unwrap();
        let direct = gradient(&mut st, &mut lin, s, n, &X0).unwrap();
        assert_eq!((replayed.grad_x0, replayed.grad_params), (direct.grad_x0, direct.grad_params), "{s}");
    }
}

#[test]
fn a_replay_with_a_stepper_of_another_length_is_an_error() {
    let mut st = TapedStepper::<_, f64>::new(Lorenz { dt: 0.01 }, PARAMS.to_vec());
    let mut ob = TapedObjective::<_, f64>::new(Misfit);
    let (_, mut kept) =
        run_keeping(&mut st, &mut ob, Strategy::Binomial { snapshots: 3 }, 20, &X0, &std::env::temp_dir()).unwrap();
    let mut other = TapedStepper::<_, f64>::new(Recurrence, vec![]);
    let mut lin = TapedObjective::<_, f64>::new(Terminal);
    let err = replay(&mut other, &mut lin, &mut kept).unwrap_err();
    assert!(matches!(err, DriverError::Length { .. }), "{err}");
}
