//! Every method on the extended Rosenbrock function (n = 2 and 1000), a
//! convex quadratic with a known minimiser and the toy logistic regression.

use rewind_optim::lanczos::extreme_eigenvalues;
use rewind_optim::solver::terminate;
use rewind_optim::{
    Adagrad, Adam, Counted, FirstOrder, GradientDescent, Hessian, Lbfgs, Momentum, Nesterov, NewtonCg, OptimError,
    Options, Problem, Report, RmsProp, Sgd, Solver, State, Stochastic, Termination, TrustRegionCg, minimize,
    minimize_stochastic,
};
use rewind_tape::{Dual, Real, Tape, Var};

/// Extended Rosenbrock through the scalar tape (gradient by reverse mode,
/// HVP by forward-over-reverse).
struct Rosenbrock {
    n: usize,
    tape: Tape<f64>,
    tape2: Tape<Dual<f64>>,
}

fn rosen<T: Real>(x: &[T]) -> T {
    x.chunks_exact(2).map(|p| (p[1] - p[0] * p[0]).powi(2) * 100.0 + (T::one() - p[0]).powi(2)).sum()
}

impl Rosenbrock {
    fn new(n: usize) -> Self {
        Rosenbrock { n, tape: Tape::new(), tape2: Tape::new() }
    }
    fn start(&self) -> Vec<f64> {
        (0..self.n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect()
    }
}

impl Problem for Rosenbrock {
    fn dim(&self) -> usize {
        self.n
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        Ok(rosen(x))
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        self.tape.value_and_grad_into(|x: &[Var<'_, f64>]| rosen(x), x, g).map_err(OptimError::objective)
    }
}

impl Hessian for Rosenbrock {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        let (_, _, h) = self.tape2.grad_and_hvp(|x| rosen(x), x, v).map_err(OptimError::objective)?;
        hv.copy_from_slice(&h);
        Ok(())
    }
}

/// f(x) = ½ xᵀAx − bᵀx with A = diag(1..n) + a coupling, minimiser A⁻¹b.
struct Quadratic {
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
}

impl Quadratic {
    fn new(n: usize) -> Self {
        let mut a = vec![vec![0.0; n]; n];
        for i in 0..n {
            a[i][i] = 1.0 + i as f64;
            if i + 1 < n {
                a[i][i + 1] = 0.3;
                a[i + 1][i] = 0.3;
            }
        }
        Quadratic { a, b: (0..n).map(|i| (i as f64).sin() + 1.0).collect() }
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.a.iter().map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum()).collect()
    }
}

impl Problem for Quadratic {
    fn dim(&self) -> usize {
        self.b.len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        let ax = self.apply(x);
        Ok(0.5 * ax.iter().zip(x).map(|(a, b)| a * b).sum::<f64>()
            - self.b.iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        let ax = self.apply(x);
        for i in 0..g.len() {
            g[i] = ax[i] - self.b[i];
        }
        self.value(x)
    }
}

impl Hessian for Quadratic {
    fn hvp(&mut self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        hv.copy_from_slice(&self.apply(v));
        Ok(())
    }
}

#[test]
fn second_order_methods_solve_rosenbrock_2_and_1000() {
    for n in [2, 1000] {
        let tol = Options { grad_tol: 1e-8, max_iter: 2000 };
        let mut p = Rosenbrock::new(n);
        let x0 = p.start();
        let runs = [
            minimize(&mut Lbfgs::new(10), &mut p, &x0, &tol).unwrap(),
            minimize(&mut NewtonCg::new(50), &mut p, &x0, &tol).unwrap(),
            minimize(&mut TrustRegionCg::new(1.0, 50), &mut p, &x0, &tol).unwrap(),
        ];
        for r in &runs {
            assert_eq!(r.termination, Termination::Converged, "{} n = {n}: {:?}", r.method, r.termination);
            assert!(r.state.x.iter().all(|v| (v - 1.0).abs() < 1e-6), "{} n = {n}", r.method);
        }
        // gradient descent with a line search gets there slowly: just check progress
        let gd = minimize(&mut GradientDescent { step: 1e-3 }, &mut p, &x0, &Options { grad_tol: 1e-8, max_iter: 500 })
            .unwrap();
        assert!(gd.state.f < 0.1 * gd.history[0].f, "gradient descent made no progress");
    }
}

#[test]
fn newton_cg_converges_quadratically() {
    let mut p = Rosenbrock::new(2);
    let x0 = p.start();
    let r = minimize(&mut NewtonCg::new(10), &mut p, &x0, &Options { grad_tol: 1e-13, max_iter: 100 }).unwrap();
    assert_eq!(r.termination, Termination::Converged);
    // near the minimum ‖g_{k+1}‖ ≤ C ‖g_k‖²: C ~ (third derivatives) / λ_min²
    // is large here (λ_min(H) ≈ 0.4 at (1, 1), third derivatives ~1200), so
    // C = 1e4; and the ratio ‖g_{k+1}‖ / ‖g_k‖ must fall (superlinear)
    let g: Vec<f64> = r.history.iter().map(|h| h.grad_norm).collect();
    let tail: Vec<(f64, f64)> = g.windows(2).filter(|w| w[0] < 1e-2 && w[1] > 1e-15).map(|w| (w[0], w[1])).collect();
    assert!(tail.len() >= 2, "{g:?}");
    for &(a, b) in &tail {
        assert!(b <= 1e4 * a * a, "not quadratic: {a:e} -> {b:e} ({g:?})");
    }
    let (a, b) = tail[tail.len() - 1];
    assert!(b / a < 1e-2, "not superlinear at the end: {a:e} -> {b:e}");
}

/// Drives a Newton solver by hand and checks that it made exactly one HVP
/// per CG iteration, every iteration (`last_cg` against the HVP counter).
fn hvps_per_cg_iteration<S: Solver<Rosenbrock>>(solver: &mut S, last_cg: impl Fn(&S) -> usize) -> (u64, u64) {
    let mut p = Rosenbrock::new(100);
    let x0 = p.start();
    let mut cp = Counted::new(&mut p);
    let mut g = vec![0.0; x0.len()];
    let f = cp.value_grad(&x0, &mut g).unwrap();
    let mut st = State { x: x0, f, g, iter: 0, stalled: false };
    let opts = Options { grad_tol: 1e-8, max_iter: 500 };
    let (mut cg_total, mut iters) = (0u64, 0u64);
    while terminate(&st, &opts).is_none() {
        let before = cp.counts.hvp;
        solver.next_iter(&mut cp, &mut st).unwrap();
        st.iter += 1;
        let cg = last_cg(solver) as u64;
        assert!(cg >= 1, "iteration {}: no CG iteration", st.iter);
        assert_eq!(cp.counts.hvp - before, cg, "iteration {}: HVPs vs CG iterations", st.iter);
        cg_total += cg;
        iters += 1;
    }
    assert_eq!(terminate(&st, &opts), Some(Termination::Converged));
    assert_eq!(cp.counts.hvp, cg_total);
    (iters, cg_total)
}

#[test]
fn newton_methods_make_one_hvp_per_cg_iteration() {
    let (it, cg) = hvps_per_cg_iteration(&mut NewtonCg::new(50), |s| s.last_cg);
    assert!(it > 5 && cg > it, "Newton-CG: {it} iterations, {cg} CG iterations");
    let (it, cg) = hvps_per_cg_iteration(&mut TrustRegionCg::new(1.0, 50), |s| s.last_cg);
    assert!(it > 5 && cg > it, "trust region: {it} iterations, {cg} CG iterations");
}

/// An objective that fails with an error (not a NaN) after its first call.
struct Failing {
    calls: usize,
}
impl Problem for Failing {
    fn dim(&self) -> usize {
        2
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        self.calls += 1;
        if self.calls > 1 {
            return Err(OptimError::objective(std::io::Error::other("the simulation diverged at step 17")));
        }
        Ok(x[0] * x[0] + 3.0 * x[1] * x[1])
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        g[0] = 2.0 * x[0];
        g[1] = 6.0 * x[1];
        self.value(x)
    }
}

impl Hessian for Failing {
    fn hvp(&mut self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        hv[0] = 2.0 * v[0];
        hv[1] = 6.0 * v[1];
        Ok(())
    }
}

#[test]
fn an_objective_error_ends_every_method_with_that_error() {
    let x0 = [1.0, 1.0];
    let opts = Options { grad_tol: 1e-300, max_iter: 100 };
    let runs: Vec<(&str, Result<Report, OptimError>)> = vec![
        ("gd", minimize(&mut GradientDescent { step: 0.1 }, &mut Failing { calls: 0 }, &x0, &opts)),
        ("adam", minimize(&mut FirstOrder(Adam::new(0.1)), &mut Failing { calls: 0 }, &x0, &opts)),
        ("lbfgs", minimize(&mut Lbfgs::new(5), &mut Failing { calls: 0 }, &x0, &opts)),
        ("newton-cg", minimize(&mut NewtonCg::new(5), &mut Failing { calls: 0 }, &x0, &opts)),
        ("trust-region", minimize(&mut TrustRegionCg::new(1.0, 5), &mut Failing { calls: 0 }, &x0, &opts)),
    ];
    for (name, r) in runs {
        match r {
            Err(e) => assert!(e.to_string().contains("diverged at step 17"), "{name}: {e}"),
            Ok(rep) => panic!("{name}: finished without the error ({:?})", rep.termination),
        }
    }
}

#[test]
fn every_method_finds_the_quadratic_minimiser() {
    let n = 20;
    let mut q = Quadratic::new(n);
    // the exact minimiser A⁻¹b, by the Thomas algorithm (A is tridiagonal)
    let exact = {
        let (mut c, mut d) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let lower = if i > 0 { q.a[i][i - 1] } else { 0.0 };
            let upper = if i + 1 < n { q.a[i][i + 1] } else { 0.0 };
            let m = q.a[i][i] - lower * if i > 0 { c[i - 1] } else { 0.0 };
            c[i] = upper / m;
            d[i] = (q.b[i] - lower * if i > 0 { d[i - 1] } else { 0.0 }) / m;
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            x[i] = d[i] - if i + 1 < n { c[i] * x[i + 1] } else { 0.0 };
        }
        let res: f64 = q.apply(&x).iter().zip(&q.b).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        assert!(res < 1e-13, "{res}");
        x
    };
    let x0 = vec![0.0; n];
    let opts = Options { grad_tol: 1e-8, max_iter: 20_000 };
    let reports = vec![
        minimize(&mut Lbfgs::new(5), &mut q, &x0, &opts).unwrap(),
        minimize(&mut NewtonCg::new(50), &mut q, &x0, &opts).unwrap(),
        minimize(&mut TrustRegionCg::new(1.0, 100), &mut q, &x0, &opts).unwrap(),
        minimize(&mut GradientDescent { step: 1.0 }, &mut q, &x0, &opts).unwrap(),
        minimize(&mut FirstOrder(Sgd { lr: 0.05 }), &mut q, &x0, &opts).unwrap(),
        minimize(&mut FirstOrder(Momentum::new(0.02, 0.9)), &mut q, &x0, &opts).unwrap(),
        minimize(&mut FirstOrder(Nesterov::new(0.02, 0.9)), &mut q, &x0, &opts).unwrap(),
        minimize(&mut FirstOrder(Adam::new(0.05)), &mut q, &x0, &opts).unwrap(),
        // ε chosen so that the step near the minimum (lr/√ε = 0.05) is a
        // stable gradient step (λ_max ≈ 20.6); with ε = 1e-8 RMSProp circles
        // the minimum at distance ~lr
        minimize(&mut FirstOrder(RmsProp::new(0.005).with_eps(1e-2)), &mut q, &x0, &opts).unwrap(),
        minimize(&mut FirstOrder(Adagrad::new(0.5)), &mut q, &x0, &opts).unwrap(),
    ];
    for r in &reports {
        let err = r.state.x.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-6, "{}: error {err:e}, {:?} after {} iterations", r.method, r.termination, r.state.iter);
    }
    // the Hessian's extreme eigenvalues by Lanczos (A is diag(1..20) + coupling)
    let (lo, hi) = extreme_eigenvalues(&mut q, &x0, &vec![1.0; n], n).unwrap();
    assert!(lo > 0.4 && lo < 1.0 && hi > 20.0 && hi < 20.6, "{lo} {hi}");
}

const INPUTS: [[f64; 3]; 4] = [[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]];
const TARGETS: [bool; 4] = [true, true, false, true];

fn sample_loss<T: Real>(w: &[T], k: usize) -> T {
    let z = w.iter().zip(&INPUTS[k]).map(|(&wi, &xi)| wi * xi).sum::<T>();
    let p = (T::one() + (-z).exp()).recip();
    -(if TARGETS[k] { p } else { T::one() - p }).ln()
}

struct Logistic;

impl Problem for Logistic {
    fn dim(&self) -> usize {
        3
    }
    fn value(&mut self, w: &[f64]) -> Result<f64, OptimError> {
        Ok((0..4).map(|k| sample_loss(w, k)).sum())
    }
    fn value_grad(&mut self, w: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        self.batch_value_grad(w, &[0, 1, 2, 3], g).map(|f| f * 4.0).inspect(|_| g.iter_mut().for_each(|v| *v *= 4.0))
    }
}

impl Stochastic for Logistic {
    fn samples(&self) -> usize {
        4
    }
    fn batch_value_grad(&mut self, w: &[f64], batch: &[usize], g: &mut [f64]) -> Result<f64, OptimError> {
        let m = batch.len() as f64;
        let (f, grad) = rewind_tape::value_and_grad(
            |w| batch.iter().map(|&k| sample_loss(w, k)).sum::<Var<'_, f64>>() * (1.0 / m),
            w,
        )
        .map_err(OptimError::objective)?;
        g.copy_from_slice(&grad);
        Ok(f)
    }
}

#[test]
fn logistic_regression_trains_with_every_first_order_method() {
    let w0 = [0.0; 3];
    let l0 = 4.0 * std::f64::consts::LN_2;
    type Run<'a> = Box<dyn FnMut(&mut Logistic) -> rewind_optim::Report + 'a>;
    let rules: Vec<(&str, Run<'_>)> = vec![
        ("sgd", Box::new(|p| minimize_stochastic(&mut Sgd { lr: 0.1 }, p, &w0, 2, 50, 7).unwrap())),
        ("momentum", Box::new(|p| minimize_stochastic(&mut Momentum::new(0.05, 0.9), p, &w0, 2, 50, 7).unwrap())),
        ("nesterov", Box::new(|p| minimize_stochastic(&mut Nesterov::new(0.05, 0.9), p, &w0, 2, 50, 7).unwrap())),
        ("adagrad", Box::new(|p| minimize_stochastic(&mut Adagrad::new(0.3), p, &w0, 2, 50, 7).unwrap())),
        ("rmsprop", Box::new(|p| minimize_stochastic(&mut RmsProp::new(0.02), p, &w0, 2, 50, 7).unwrap())),
        ("adam", Box::new(|p| minimize_stochastic(&mut Adam::new(0.05), p, &w0, 2, 50, 7).unwrap())),
        (
            "gd",
            Box::new(|p| {
                minimize(&mut FirstOrder(Sgd { lr: 0.05 }), p, &w0, &Options { grad_tol: 1e-6, max_iter: 100 }).unwrap()
            }),
        ),
    ];
    for (name, mut run) in rules {
        let r = run(&mut Logistic);
        assert!((r.history[0].f - l0).abs() < 1e-12, "{name}: initial loss {}", r.history[0].f);
        assert!(r.state.f < 0.6 * l0, "{name}: loss {} after training", r.state.f);
    }
}

struct Broken;
impl Problem for Broken {
    fn dim(&self) -> usize {
        2
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        Ok(if x[0] > 0.5 { f64::NAN } else { x[0] * x[0] + x[1] * x[1] - x[0] })
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        g[0] = 2.0 * x[0] - 1.0;
        g[1] = 2.0 * x[1];
        self.value(x)
    }
}

#[test]
fn a_failing_objective_stops_the_run_with_an_error() {
    // the minimiser x = 0.5 lies where the objective turns NaN
    let r = minimize(&mut FirstOrder(Sgd { lr: 0.6 }), &mut Broken, &[0.0, 0.3], &Options::default());
    assert!(matches!(r, Err(OptimError::NonFinite { .. })), "{r:?}");
    assert!(matches!(
        minimize(&mut Lbfgs::new(3), &mut Broken, &[0.0], &Options::default()),
        Err(OptimError::Invalid { .. })
    ));
    // a problem without HVPs and a Newton method do not compile together:
    // the compile_fail example of rewind_optim::Hessian
}

#[test]
fn a_problem_runs_under_argmin_through_the_adapter() {
    use argmin::core::{Executor, State as _};
    use argmin::solver::linesearch::MoreThuenteLineSearch;
    use argmin::solver::quasinewton::LBFGS;
    let p = Rosenbrock::new(10);
    let x0 = p.start();
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7);
    let res = Executor::new(rewind_optim::ArgminProblem::new(p), solver)
        .configure(|s| s.param(x0).max_iters(200))
        .run()
        .unwrap();
    let best = res.state().get_best_param().unwrap();
    assert!(best.iter().all(|v| (v - 1.0).abs() < 1e-5), "{best:?}");
}

#[test]
fn first_order_methods_reach_the_rosenbrock_minimum() {
    // the curved valley makes them slow: a gradient tolerance of 1e-4 per
    // pair of variables
    for n in [2, 1000] {
        let mut p = Rosenbrock::new(n);
        let x0 = p.start();
        let opts = Options { grad_tol: 1e-4 * (n as f64 / 2.0).sqrt(), max_iter: 100_000 };
        let reports = vec![
            minimize(&mut GradientDescent { step: 1e-3 }, &mut p, &x0, &opts).unwrap(),
            minimize(&mut FirstOrder(Momentum::new(2e-4, 0.9)), &mut p, &x0, &opts).unwrap(),
            minimize(&mut FirstOrder(Nesterov::new(2e-4, 0.9)), &mut p, &x0, &opts).unwrap(),
            minimize(&mut FirstOrder(Adam::new(1e-2)), &mut p, &x0, &opts).unwrap(),
        ];
        // the adaptive and stochastic rules (full batches here)
        let more = vec![
            minimize(&mut FirstOrder(Sgd { lr: 1e-3 }), &mut p, &x0, &opts).unwrap(),
            minimize(&mut FirstOrder(Adagrad::new(0.5)), &mut p, &x0, &opts).unwrap(),
            minimize(&mut FirstOrder(RmsProp::new(1e-3).with_eps(1.0)), &mut p, &x0, &opts).unwrap(),
        ];
        let reports: Vec<_> = reports.into_iter().chain(more).collect();
        for r in &reports {
            assert_eq!(r.termination, Termination::Converged, "{} n = {n}", r.method);
            assert!(r.state.x.iter().all(|v| (v - 1.0).abs() < 1e-3), "{} n = {n}", r.method);
        }
    }
}

/// f(x, y) = x² − y² + y⁴: a saddle at the origin, minima at y = ±1/√2.
struct Saddle;
impl Problem for Saddle {
    fn dim(&self) -> usize {
        2
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        Ok(x[0] * x[0] - x[1] * x[1] + x[1].powi(4))
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        g[0] = 2.0 * x[0];
        g[1] = -2.0 * x[1] + 4.0 * x[1].powi(3);
        self.value(x)
    }
}

impl Hessian for Saddle {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        hv[0] = 2.0 * v[0];
        hv[1] = (-2.0 + 12.0 * x[1] * x[1]) * v[1];
        Ok(())
    }
}

#[test]
fn newton_methods_escape_a_saddle_by_negative_curvature() {
    // near the saddle the Hessian is indefinite: plain Newton would jump to it
    let x0 = [0.3, 0.05];
    let opts = Options { grad_tol: 1e-10, max_iter: 200 };
    for r in [
        minimize(&mut NewtonCg::new(10), &mut Saddle, &x0, &opts).unwrap(),
        minimize(&mut TrustRegionCg::new(0.5, 10), &mut Saddle, &x0, &opts).unwrap(),
    ] {
        assert_eq!(r.termination, Termination::Converged, "{}", r.method);
        assert!(
            (r.state.x[1].abs() - 0.5f64.sqrt()).abs() < 1e-8 && r.state.x[0].abs() < 1e-8,
            "{}: {:?}",
            r.method,
            r.state.x
        );
        assert!(r.state.f < -0.2, "{} stopped at the saddle", r.method);
    }
}
