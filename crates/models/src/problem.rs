//! A model's default problem behind one object-safe trait, whatever the
//! model's type, and the registry that builds it from a name.

use std::path::Path;
use std::str::FromStr;

use rewind_checkpoint::{SnapshotStore, StepError, Strategy};
use rewind_field::{Dual, Par};
use rewind_sim::{
    DerivativeCheck, GaussNewton, Gradient, Layout, Loss, Model, Noise, Observations, ParamSet, Problem, SecondOrder,
    SimError, Terminal,
};

use crate::twin::{WithModel, direction, with_model};
use crate::{ModelName, ModelsError, Ns2dPhysics, Twin};

/// An error of a caller's per-step function ([`AnyProblem::run`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`AnyProblem::run`] calls on every state: `(step, state)`.
pub type EachState<'a> = dyn FnMut(usize, &[f64]) -> Result<(), BoxError> + 'a;

/// A model's default problem, whatever the model.
pub trait AnyProblem {
    /// What the objective is, in words.
    fn about(&self) -> &str;
    /// The state's layout.
    fn layout(&self) -> &Layout;
    /// The parameters and their values.
    fn param_set(&self) -> &ParamSet;
    /// The default initial state.
    fn x0(&self) -> &[f64];
    /// The default direction `(v_x, v_p)`.
    fn direction(&self) -> (&[f64], &[f64]);
    /// Steps of the run.
    fn steps(&self) -> usize;
    /// The time step.
    fn dt(&self) -> f64;
    /// The checkpoint schedule.
    fn strategy(&self) -> Strategy;
    /// Sets the checkpoint schedule.
    fn set_strategy(&mut self, strategy: Strategy) -> Result<(), SimError>;
    /// The objective at `x0`.
    fn value(&mut self, x0: &[f64]) -> Result<f64, SimError>;
    /// The gradient at `x0` under the problem's schedule.
    fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError>;
    /// Gradient at `x0` with the snapshots in `stores`, `tick` once per step.
    fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError>;
    /// The gradient and `∇²J v` at `x0` for `v = (v_x, v_p)` under the
    /// problem's schedule.
    fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError>;
    /// The same with the snapshots in `stores`, `tick` once per step.
    fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError>;
    /// The Gauss–Newton product `Jᵀ H J v` at `x0` (the linearisation kept
    /// from the last call at the same point is reused).
    fn gauss_newton(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<GaussNewton, SimError>;
    /// The derivatives against central differences along the default
    /// direction, part by part, with the relative steps `fd_step × {10, 1,
    /// 0.1}` ([`rewind_sim::check`]).
    fn check(&mut self, fd_step: f64) -> Result<DerivativeCheck, SimError>;
    /// `xₙ` from `x0`, calling `each(step, state)` on every state from the
    /// initial one on; an error `each` returns stops the run and is
    /// returned as [`ModelsError::Caller`].
    fn run(&mut self, x0: &[f64], steps: usize, each: &mut EachState<'_>) -> Result<(), ModelsError>;
    /// [`AnyProblem::run`] calling `each` only on the states whose step
    /// `at` picks (a split problem gathers those alone).
    fn run_at(
        &mut self,
        x0: &[f64],
        steps: usize,
        at: &dyn Fn(usize) -> bool,
        each: &mut EachState<'_>,
    ) -> Result<(), ModelsError> {
        self.run(x0, steps, &mut |t, x| if at(t) { each(t, x) } else { Ok(()) })
    }
    /// The initial state of the twin run that made the target (what an
    /// optimisation from `x0` should recover).
    fn truth(&self) -> &[f64];
    /// Where an optimisation starts (ns2d: at rest; the others: `x0`).
    fn start(&self) -> &[f64];
    /// Incremental 4D-Var: the analysis minimising `½‖x₀ − x_b‖²_{B⁻¹} +
    /// J(x₀)` (the problem's objective as the observation term) from the
    /// background `background` with the covariance `b`
    /// ([`rewind_sim::incremental`]).
    fn four_d_var(
        &mut self,
        background: &[f64],
        b: &mut rewind_field::Correlation,
        settings: rewind_sim::Incremental,
    ) -> Result<rewind_sim::Analysis, SimError>;
    /// Minimises the objective from `x` by `method` until `opts` say stop.
    fn minimize(
        &mut self,
        x: &[f64],
        method: Method,
        opts: &rewind_optim::Options,
    ) -> Result<rewind_optim::Report, ModelsError>;
    /// The low-rank Laplace posterior at `x` with the background covariance
    /// `b`, its products spread over `e`.
    fn posterior(
        &mut self,
        x: &[f64],
        b: &mut rewind_field::Correlation,
        s: rewind_sim::Spectrum,
        e: &rewind_sim::Ensemble,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<rewind_sim::Posterior, SimError>;
}

struct Built<M, L> {
    about: String,
    problem: Problem<M, L>,
    dt: f64,
    x0: Vec<f64>,
    truth: Vec<f64>,
    start: Vec<f64>,
    v_x: Vec<f64>,
    v_p: Vec<f64>,
}

impl<M: Model + Clone + Send, L: Loss + Clone + Send> AnyProblem for Built<M, L> {
    fn about(&self) -> &str {
        &self.about
    }
    fn layout(&self) -> &Layout {
        self.problem.layout()
    }
    fn param_set(&self) -> &ParamSet {
        self.problem.param_set()
    }
    fn x0(&self) -> &[f64] {
        &self.x0
    }
    fn direction(&self) -> (&[f64], &[f64]) {
        (&self.v_x, &self.v_p)
    }
    fn steps(&self) -> usize {
        self.problem.steps()
    }
    fn dt(&self) -> f64 {
        self.dt
    }
    fn strategy(&self) -> Strategy {
        self.problem.strategy()
    }
    fn set_strategy(&mut self, strategy: Strategy) -> Result<(), SimError> {
        self.problem.set_strategy(strategy)
    }
    fn value(&mut self, x0: &[f64]) -> Result<f64, SimError> {
        self.problem.value(x0)
    }
    fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError> {
        self.problem.gradient(x0)
    }
    fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError> {
        self.problem.gradient_on(x0, stores, tick)
    }
    fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError> {
        self.problem.hvp(x0, v_x, v_p)
    }
    fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError> {
        self.problem.hvp_on(x0, v_x, v_p, stores, tick)
    }
    fn gauss_newton(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<GaussNewton, SimError> {
        self.problem.gauss_newton(x0, v_x, v_p)
    }
    fn check(&mut self, fd_step: f64) -> Result<DerivativeCheck, SimError> {
        let sweep = [10.0 * fd_step, fd_step, 0.1 * fd_step];
        rewind_sim::check(&mut self.problem, &self.x0, &self.v_x, &self.v_p, &sweep)
    }
    fn run(&mut self, x0: &[f64], steps: usize, each: &mut EachState<'_>) -> Result<(), ModelsError> {
        self.problem.run(x0, steps, |t, x| each(t, x).map_err(ModelsError::Caller))
    }
    fn truth(&self) -> &[f64] {
        &self.truth
    }
    fn start(&self) -> &[f64] {
        &self.start
    }
    fn four_d_var(
        &mut self,
        background: &[f64],
        b: &mut rewind_field::Correlation,
        settings: rewind_sim::Incremental,
    ) -> Result<rewind_sim::Analysis, SimError> {
        rewind_sim::incremental(&mut self.problem, background, b, None, settings)
    }
    fn minimize(
        &mut self,
        x: &[f64],
        method: Method,
        opts: &rewind_optim::Options,
    ) -> Result<rewind_optim::Report, ModelsError> {
        use rewind_optim::{NewtonCg, minimize};
        let p = &mut self.problem;
        match method {
            Method::GaussNewton { max_cg } => {
                Ok(minimize(&mut NewtonCg::new(max_cg), &mut rewind_sim::GaussNewtonProblem(p), x, opts)?)
            }
            m => minimize_by(p, x, m, opts),
        }
    }
    fn posterior(
        &mut self,
        x: &[f64],
        b: &mut rewind_field::Correlation,
        s: rewind_sim::Spectrum,
        e: &rewind_sim::Ensemble,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<rewind_sim::Posterior, SimError> {
        rewind_sim::posterior(&mut self.problem, x, b, s, e, progress)
    }
}

/// `p` minimised from `x` by L-BFGS or Newton-CG (`method`; Newton-CG on
/// `p`'s own products for `GaussNewton` too: a caller with Gauss–Newton
/// products passes their view of the problem).
pub(crate) fn minimize_by<P: rewind_optim::Hessian>(
    p: &mut P,
    x: &[f64],
    method: Method,
    opts: &rewind_optim::Options,
) -> Result<rewind_optim::Report, ModelsError> {
    use rewind_optim::{Lbfgs, NewtonCg, minimize};
    Ok(match method {
        Method::Lbfgs { memory } => minimize(&mut Lbfgs::new(memory), p, x, opts)?,
        Method::NewtonCg { max_cg } | Method::GaussNewton { max_cg } => {
            minimize(&mut NewtonCg::new(max_cg), p, x, opts)?
        }
    })
}

/// An optimisation method of [`AnyProblem::minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// L-BFGS with `memory` pairs and a strong-Wolfe line search.
    Lbfgs {
        /// Pairs kept.
        memory: usize,
    },
    /// Newton-CG on exact Hessian-vector products.
    NewtonCg {
        /// CG iterations per step at most.
        max_cg: usize,
    },
    /// Newton-CG on Gauss–Newton products, the linearisation of each
    /// outer iteration kept and replayed by its products.
    GaussNewton {
        /// CG iterations per step at most.
        max_cg: usize,
    },
}

impl FromStr for Method {
    type Err = ModelsError;
    /// `lbfgs`, `newton-cg` or `gauss-newton` (defaults: 10 pairs, 20 CG
    /// iterations).
    fn from_str(s: &str) -> Result<Self, ModelsError> {
        match s {
            "lbfgs" | "l-bfgs" => Ok(Method::Lbfgs { memory: 10 }),
            "newton-cg" => Ok(Method::NewtonCg { max_cg: 20 }),
            "gauss-newton" => Ok(Method::GaussNewton { max_cg: 20 }),
            _ => Err(ModelsError::Method { name: s.into() }),
        }
    }
}

/// The problem of `model` made as `twin` says (any model: the registry's
/// and a caller's own).
pub fn twin_problem<M: Model + Clone + Send + 'static>(
    model: M,
    twin: Twin,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &Path,
) -> Result<Box<dyn AnyProblem + Send>, ModelsError> {
    let mut sim = rewind_sim::Sim::<_, f64>::new(twin.truth_model(model.clone())?, par)?;
    let truth = twin.checked_truth(sim.layout())?;
    let start = twin.start();
    let x0 = twin.x0;
    let target = rewind_sim::advance(&mut sim, &truth, steps).map_err(ModelsError::Target)?;
    let v_p = if twin.move_params {
        // each parameter moved by about 1 % of its own size (the phase keeps
        // a scalar parameter's direction off zero: sin(0) would leave it out)
        model
            .params()
            .entries()
            .iter()
            .enumerate()
            .flat_map(|(k, (_, v))| direction(v.values(), k as f64 + 0.7))
            .collect()
    } else {
        vec![0.0; sim.param_set().len()]
    };
    let loss = Terminal::state(target).weight(twin.area);
    let problem = Problem::new(model, loss, strategy, steps, par)?.with_disk_dir(disk_dir);
    let v_x = twin.v_x.unwrap_or_else(|| direction(&x0, 0.4));
    let about = if twin.about.is_empty() {
        "the terminal misfit ½ w ‖xₙ − x̂ₙ‖² to the state reached from a shifted initial state".into()
    } else {
        twin.about
    };
    Ok(Box::new(Built { about, problem, dt: twin.dt, x0, truth, start, v_x, v_p }))
}

/// Point observations of a twin experiment (plain data): field `field`
/// (empty: the state's first) at every `stride`-th grid point along each axis, after every `every`
/// steps, with Gaussian noise of standard deviation `sigma` (drawn from
/// `seed`); the loss weighs each misfit by `1/σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observe {
    /// The observed field.
    pub field: String,
    /// Every `stride`-th point along each axis.
    pub stride: usize,
    /// After every `every` steps.
    pub every: usize,
    /// The noise's standard deviation.
    pub sigma: f64,
    /// The noise's seed.
    pub seed: u64,
}

/// The problem of `model` whose objective is the misfit to noisy point
/// observations (`observe`) of the run from the twin's truth.
pub fn observed_problem<M: Model + Clone + Send + 'static>(
    model: M,
    twin: Twin,
    observe: &Observe,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &Path,
) -> Result<Box<dyn AnyProblem + Send>, ModelsError> {
    let o = observe;
    let mut sim = rewind_sim::Sim::<_, f64>::new(twin.truth_model(model.clone())?, par)?;
    let layout = sim.layout().clone();
    let grid = *layout.grid();
    let bad = |why: String| ModelsError::from(SimError::Settings(format!("observations: {why}")));
    let field = if o.field.is_empty() { layout.fields().first().cloned().unwrap_or_default() } else { o.field.clone() };
    let o = &Observe { field, ..o.clone() };
    if !layout.fields().contains(&o.field) {
        return Err(bad(format!("no field {:?} (the fields are {})", o.field, layout.fields().join(", "))));
    }
    if o.stride == 0 || o.stride > grid.nx {
        return Err(bad(format!("stride {}: from 1 to the {} points of a side", o.stride, grid.nx)));
    }
    if o.every == 0 || o.every > steps {
        return Err(bad(format!("every {} steps: from 1 to the run's {steps}", o.every)));
    }
    if !(o.sigma.is_finite() && o.sigma > 0.0) {
        return Err(bad(format!("sigma {}: a positive number", o.sigma)));
    }
    let truth = twin.checked_truth(&layout)?;
    let times: Vec<usize> = (o.every..=steps).step_by(o.every).collect();
    let states = rewind_sim::states_at(&mut sim, &truth, &times)?;
    let loss = Observations::of(&o.field).points(grid.strided(o.stride)).sigma(o.sigma);
    let loss = loss.noisy(&layout, &times, &states, &mut Noise::new(o.seed))?;
    let problem = Problem::new(model, loss, strategy, steps, par)?.with_disk_dir(disk_dir);
    let v_x = twin.v_x.clone().unwrap_or_else(|| direction(&twin.x0, 0.4));
    let v_p = vec![0.0; problem.param_set().len()];
    let about = format!(
        "the misfit to noisy observations of {} (σ = {}) at every {}th point after every {} steps",
        o.field, o.sigma, o.stride, o.every
    );
    let start = twin.start();
    Ok(Box::new(Built { about, problem, dt: twin.dt, x0: twin.x0, truth, start, v_x, v_p }))
}

/// The arena bytes of one step of `model` from `x` recorded and swept, and
/// the state's values.
pub fn step_arena_bytes<M: Model + Clone + Send + 'static>(model: M, x: &[f64]) -> Result<(u64, u64), SimError> {
    let mut sim = rewind_sim::Sim::<M, f64>::new(model, Par::Seq)?;
    let (mut next, mut xbar, mut pbar) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; sim.param_set().len()]);
    let mut seed = |y: &[f64], yb: &mut [f64]| -> Result<(), StepError> {
        yb.copy_from_slice(y);
        Ok(())
    };
    use rewind_checkpoint::Stepper;
    sim.step_vjp(0, x, &mut next, &mut seed, &mut xbar, &mut pbar)
        .map_err(|source| SimError::At { step: 0, source })?;
    Ok((sim.arena_used_bytes() as u64, x.len() as u64))
}

/// The problem, built.
struct Build<'a> {
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &'a Path,
}

impl WithModel for Build<'_> {
    type Out = Box<dyn AnyProblem + Send>;
    type Error = ModelsError;
    fn run<M: Model + Clone + Send + 'static>(
        self,
        model: M,
        twin: Twin,
    ) -> Result<Box<dyn AnyProblem + Send>, ModelsError> {
        twin_problem(model, twin, self.steps, self.strategy, self.par, self.disk_dir)
    }
}

/// The default problem of `name` at grid size `n` (ns2d: with the physics
/// `ns2d`) over `steps` steps under `strategy`, the kernels on `par`, disk
/// snapshots (of multilevel schedules) in `disk_dir`. The size is checked
/// first ([`ModelName::check_size`]).
pub fn build(
    name: ModelName,
    ns2d: &Ns2dPhysics,
    n: usize,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &Path,
) -> Result<Box<dyn AnyProblem + Send>, ModelsError> {
    name.check_size(n, steps)?;
    with_model(name, ns2d, n, Build { steps, strategy, par, disk_dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_builds_and_its_gradient_agrees_with_its_hvp_gradient() {
        let dir = std::env::temp_dir();
        for name in ModelName::ALL {
            let (n, _) = name.defaults();
            let mut p = build(name, &Ns2dPhysics::default(), n, 6, Strategy::Binomial { snapshots: 2 }, Par::Seq, &dir)
                .unwrap();
            let x0 = p.x0().to_vec();
            let g = p.gradient(&x0).unwrap();
            let (v_x, v_p) = (p.direction().0.to_vec(), p.direction().1.to_vec());
            let h = p.hvp(&x0, &v_x, &v_p).unwrap();
            assert_eq!(g.objective.to_bits(), h.gradient.objective.to_bits(), "{name}");
            assert!(g.objective > 0.0, "{name}: the twin's misfit is positive");
            assert_eq!(p.value(&x0).unwrap().to_bits(), g.objective.to_bits(), "{name}");
        }
    }

    #[test]
    fn every_method_recovers_the_burgers_twin() {
        let dir = std::env::temp_dir();
        for method in ["lbfgs", "newton-cg", "gauss-newton"] {
            let mut p =
                build(ModelName::Burgers, &Ns2dPhysics::default(), 32, 20, Strategy::StoreAll, Par::Seq, &dir).unwrap();
            let start = p.start().to_vec();
            let j0 = p.value(&start).unwrap();
            let opts = rewind_optim::Options { grad_tol: 1e-10, max_iter: 15 };
            let r = p.minimize(&start, method.parse().unwrap(), &opts).unwrap();
            assert!(r.state.f < 1e-3 * j0, "{method}: J {} from {j0}", r.state.f);
        }
        assert!("bfgs".parse::<Method>().unwrap_err().to_string().contains("lbfgs, newton-cg"));
    }

    #[test]
    fn four_d_var_from_a_background_lowers_the_objective() {
        let dir = std::env::temp_dir();
        let mut p = build(ModelName::ShallowWater, &Ns2dPhysics::default(), 16, 10, Strategy::StoreAll, Par::Seq, &dir)
            .unwrap();
        let xb = p.x0().to_vec();
        let g = *p.layout().grid();
        let mut b = rewind_field::Correlation::new(g, rewind_field::CorrelationKind::Gaussian, 0.5, 1.0).unwrap();
        let a = p.four_d_var(&xb, &mut b, rewind_sim::Incremental { outer: 4, ..Default::default() }).unwrap();
        let (first, last) = (&a.outer[0], &a.outer[a.outer.len() - 1]);
        assert!(a.objective < first.objective, "J {} from {}", a.objective, first.objective);
        assert!(last.grad_norm < 1e-2 * first.grad_norm, "‖∇J‖ {} from {}", last.grad_norm, first.grad_norm);
        assert!(a.products > 0 && a.gradients >= 2);
    }

    #[test]
    fn an_observed_twin_has_exact_derivatives_and_is_recovered() {
        let dir = std::env::temp_dir();
        let m = rewind_shallow_water::ShallowWater::new(rewind_shallow_water::Config { n: 16, ..Default::default() })
            .unwrap();
        let twin = Twin::new(m.bump(0.1).unwrap(), 1.0, 0.05);
        let o = Observe { field: "h".into(), stride: 2, every: 4, sigma: 1e-3, seed: 7 };
        let mut p =
            observed_problem(m, twin.clone(), &o, 12, Strategy::Binomial { snapshots: 3 }, Par::Seq, &dir).unwrap();
        let c = p.check(1e-4).unwrap();
        assert!(c.gradient_error() < 1e-6 && c.hvp_error() < 1e-5, "{c}");
        let start = p.start().to_vec();
        let j0 = p.value(&start).unwrap();
        let opts = rewind_optim::Options { grad_tol: 1e-12, max_iter: 20 };
        let r = p.minimize(&start, Method::Lbfgs { memory: 10 }, &opts).unwrap();
        assert!(r.state.f < 0.01 * j0, "J {} from {j0}", r.state.f);
        let bad = Observe { field: "q".into(), ..o };
        let e = observed_problem(m, twin, &bad, 12, Strategy::StoreAll, Par::Seq, &dir).err().unwrap().to_string();
        assert!(e.contains("no field \"q\"") && e.contains("h, u, v"), "{e}");
    }

    #[test]
    fn a_truth_in_another_medium_has_the_models_parameters() {
        let dir = std::env::temp_dir();
        let m = rewind_shallow_water::ShallowWater::new(rewind_shallow_water::Config { n: 8, ..Default::default() })
            .unwrap();
        let mut t = Twin::new(m.bump(0.1).unwrap(), 1.0, 0.05);
        t.truth_params = Some(ParamSet::new().scalar("g", 9.0));
        let e = twin_problem(m, t, 4, Strategy::StoreAll, Par::Seq, &dir).err().unwrap().to_string();
        assert!(e.contains("the truth's parameters [g] are not the model's [g, f]"), "{e}");
    }

    #[test]
    fn a_setup_error_names_the_model() {
        let dir = std::env::temp_dir();
        let e = build(ModelName::Cavity, &Ns2dPhysics::default(), 4, 10, Strategy::StoreAll, Par::Seq, &dir)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cavity") && e.contains("at least 8"), "{e}");
    }
}
