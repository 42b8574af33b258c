//! A simulation as an optimisation problem: a [`Model`], a [`Loss`], a
//! checkpoint [`Strategy`] and a number of steps, with the objective's
//! gradient by name and Hessian-vector products in any direction of the
//! initial state and the parameters jointly — the one home for what the
//! command line's `optimize` and the examples need.

use std::path::PathBuf;

use rewind_checkpoint::{
    Counters, DriverError, Kept, Objective, Observed, Outcome, SnapshotStore, Strategy, run, run_strategy,
};
use rewind_field::{Dual, Par};
use rewind_optim::OptimError;

use crate::{Layout, Loss, LossObjective, Model, ParamSet, Sim, SimError};

mod gauss_newton;
pub use gauss_newton::{GaussNewton, GaussNewtonProblem};

/// `J`, `∂J/∂x₀` and `∂J/∂p` (flat; by name with [`Gradient::param`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// `J`.
    pub objective: f64,
    /// `∂J/∂x₀`, in the layout's order.
    pub x0: Vec<f64>,
    /// `∂J/∂p`, in the parameters' order.
    pub params: Vec<f64>,
    /// `xₙ`.
    pub final_state: Vec<f64>,
    /// What it cost.
    pub counters: Counters,
    names: Parts,
}

/// The names of a result's parts: the state's fields and scalars, the
/// parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parts {
    layout: Layout,
    params: ParamSet,
}

impl Parts {
    fn state<'a>(&self, x: &'a [f64], name: &str) -> Result<&'a [f64], SimError> {
        self.layout.part(x, name)
    }
    fn param<'a>(&self, p: &'a [f64], name: &str) -> Result<&'a [f64], SimError> {
        Ok(&p[self.params.range(name)?])
    }
}

impl Gradient {
    /// The gradient a run of a model of state `layout` and parameters
    /// `params` gave (`out.grad_params` in `params`' order): for drivers
    /// of a model other than [`Problem`] (a run split over ranks, say).
    pub fn new(layout: &Layout, params: &ParamSet, out: Outcome<f64>) -> Result<Self, SimError> {
        layout.check_len(out.grad_x0.len())?;
        if out.grad_params.len() != params.len() {
            let (expected, got) = (params.len(), out.grad_params.len());
            return Err(SimError::Length { what: "parameter gradient".into(), expected, got });
        }
        Ok(Gradient {
            objective: out.objective,
            x0: out.grad_x0,
            params: out.grad_params,
            final_state: out.final_state,
            counters: out.counters,
            names: Parts { layout: layout.clone(), params: params.clone() },
        })
    }
    /// `∂J/∂p` for the parameter `name`.
    pub fn param(&self, name: &str) -> Result<&[f64], SimError> {
        self.names.param(&self.params, name)
    }
    /// `∂J/∂x₀` for the state field or scalar `name`.
    pub fn state(&self, name: &str) -> Result<&[f64], SimError> {
        self.names.state(&self.x0, name)
    }
}

/// The gradient and the product `∇²J (v_x, v_p)` at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondOrder {
    /// The gradient at the point.
    pub gradient: Gradient,
    /// The initial-state part of `∇²J v`.
    pub x0: Vec<f64>,
    /// The parameter part of `∇²J v`.
    pub params: Vec<f64>,
}

impl SecondOrder {
    /// The part of `∇²J v` for the parameter `name`.
    pub fn param(&self, name: &str) -> Result<&[f64], SimError> {
        self.gradient.names.param(&self.params, name)
    }
    /// The part of `∇²J v` for the state field or scalar `name`.
    pub fn state(&self, name: &str) -> Result<&[f64], SimError> {
        self.gradient.names.state(&self.x0, name)
    }
}

/// Why [`Problem::run`] stopped: the loop's own error, or the caller's.
enum Stop<E> {
    Loop(DriverError),
    Caller(E),
}

impl<E> From<DriverError> for Stop<E> {
    fn from(e: DriverError) -> Self {
        Stop::Loop(e)
    }
}

/// A model, a loss and a checkpoint strategy over `steps` steps.
#[derive(Debug)]
pub struct Problem<M, L> {
    primal: Sim<M, f64>,
    dual: Sim<M, Dual<f64>>,
    loss: LossObjective<L, f64>,
    loss_dual: LossObjective<L, Dual<f64>>,
    strategy: Strategy,
    steps: usize,
    disk_dir: PathBuf,
    /// The first forward sweep kept at a linearisation point.
    kept: Option<Kept<f64>>,
    /// Whether Gauss–Newton products keep it.
    reuse: bool,
}

impl<M: Model + Clone, L: Loss + Clone> Problem<M, L> {
    /// The problem at the model's default parameters; a disk level (if
    /// the strategy has one) goes to the system's temporary directory.
    pub fn new(model: M, loss: L, strategy: Strategy, steps: usize, par: Par) -> Result<Self, SimError> {
        strategy.schedule(steps)?;
        let primal = Sim::new(model.clone(), par)?;
        let dual = Sim::new(model, par)?;
        let (layout, params) = (primal.layout().clone(), primal.param_set().clone());
        let values = primal.param_values().to_vec();
        let loss_f = LossObjective::new(loss.clone(), layout.clone(), params.clone(), values, steps, par)?;
        let loss_dual = LossObjective::new(loss, layout, params, dual.param_values().to_vec(), steps, par)?;
        Ok(Problem {
            primal,
            dual,
            loss: loss_f,
            loss_dual,
            strategy,
            steps,
            disk_dir: std::env::temp_dir(),
            kept: None,
            reuse: true,
        })
    }

    /// Snapshots of the disk level go to `dir`.
    pub fn with_disk_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk_dir = dir.into();
        self.kept = None;
        self
    }
    /// The primal stepper (for running the model on its own).
    pub fn sim(&mut self) -> &mut Sim<M, f64> {
        &mut self.primal
    }
    /// The state's layout.
    pub fn layout(&self) -> &Layout {
        self.primal.layout()
    }
    /// The names of a result's parts.
    pub(crate) fn parts(&self) -> Parts {
        Parts { layout: self.layout().clone(), params: self.param_set().clone() }
    }
    /// The parameters' names and defaults.
    pub fn param_set(&self) -> &ParamSet {
        self.primal.param_set()
    }
    /// The loss.
    pub fn loss(&self) -> &L {
        self.loss.loss()
    }
    /// The model.
    pub fn model(&self) -> &M {
        self.primal.model()
    }
    /// The number of steps.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }
    /// Changes the strategy (checked against the number of steps).
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<(), SimError> {
        strategy.schedule(self.steps)?;
        self.strategy = strategy;
        self.kept = None;
        Ok(())
    }

    /// Sets the parameter `name` everywhere (no plan is rebuilt).
    pub fn set_param(&mut self, name: &str, value: &[f64]) -> Result<(), SimError> {
        self.kept = None;
        self.primal.set_param(name, value)?;
        let d: Vec<Dual<f64>> = value.iter().map(|&v| Dual::constant(v)).collect();
        self.dual.set_param(name, &d)?;
        self.loss.set_param_values(self.primal.param_values());
        self.loss_dual.set_param_values(self.dual.param_values());
        Ok(())
    }

    /// The flat parameter values.
    pub fn param_values(&self) -> &[f64] {
        self.primal.param_values()
    }

    /// Sets every parameter from a flat vector.
    pub fn set_param_values(&mut self, values: &[f64]) -> Result<(), SimError> {
        self.kept = None;
        self.primal.set_param_values(values)?;
        let d: Vec<Dual<f64>> = values.iter().map(|&v| Dual::constant(v)).collect();
        self.dual.set_param_values(&d)?;
        self.loss.set_param_values(self.primal.param_values());
        self.loss_dual.set_param_values(self.dual.param_values());
        Ok(())
    }

    /// A flat parameter direction from some parameters by name (the
    /// others zero).
    pub fn param_direction(&self, parts: &[(&str, &[f64])]) -> Result<Vec<f64>, SimError> {
        let ps = self.param_set();
        let mut v = vec![0.0; ps.len()];
        for &(name, d) in parts {
            let r = ps.range(name)?;
            if d.len() != r.len() {
                return Err(SimError::Length { what: format!("direction of {name}"), expected: r.len(), got: d.len() });
            }
            v[r].copy_from_slice(d);
        }
        Ok(v)
    }

    /// The states after the steps `at` (ascending, each at most
    /// [`steps`](Self::steps); 0 is `x₀` itself) of a run from `x0` at the
    /// current parameters: no loss, no tape — what making observations of a
    /// twin experiment needs. A state blowing up is the error the
    /// checkpointed runs give.
    pub fn states_at(&mut self, x0: &[f64], at: &[usize]) -> Result<Vec<Vec<f64>>, SimError> {
        self.check_point(x0)?;
        if at.windows(2).any(|w| w[0] >= w[1]) || at.last().is_some_and(|&s| s > self.steps) {
            return Err(SimError::Settings(format!(
                "states at steps {at:?}: they must be increasing and at most the problem's {} steps",
                self.steps
            )));
        }
        crate::states_at(&mut self.primal, x0, at)
    }

    /// A run of `steps` steps from `x0` at the current parameters, no loss
    /// and no tape, calling `each(t, xₜ)` on every state from `x₀` on (to
    /// write frames, make observations, watch a quantity); a failed step or
    /// a state blowing up is the error the checkpointed runs give.
    pub fn run<E: From<SimError>>(
        &mut self,
        x0: &[f64],
        steps: usize,
        mut each: impl FnMut(usize, &[f64]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_point(x0)?;
        match crate::run_from(&mut self.primal, x0, steps, |t, x| each(t, x).map_err(Stop::Caller)) {
            Ok(()) => Ok(()),
            Err(Stop::Loop(e)) => Err(SimError::from(e).into()),
            Err(Stop::Caller(e)) => Err(e),
        }
    }

    /// `J(x₀)` alone: one forward run, no snapshots, no reverse sweep.
    pub fn value(&mut self, x0: &[f64]) -> Result<f64, SimError> {
        self.check_point(x0)?;
        value(&mut self.primal, &mut self.loss, x0, self.steps)
    }

    /// The value of another loss over this problem's run from `x0` (one
    /// term of `J` alone — the misfit without the background, say — or a
    /// diagnostic), checked against the model first.
    pub fn value_of<L2: Loss>(&mut self, x0: &[f64], loss: L2) -> Result<f64, SimError> {
        self.check_point(x0)?;
        let mut objective = self.primal.objective(loss, self.steps)?;
        value(&mut self.primal, &mut objective, x0, self.steps)
    }

    /// `J(x₀)` and its gradient with respect to the initial state and the
    /// parameters, through the checkpointed loop.
    pub fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError> {
        self.check_point(x0)?;
        let out = run_strategy(&mut self.primal, &mut self.loss, self.strategy, self.steps, x0, &self.disk_dir)?;
        Ok(self.gradient_of(out))
    }

    /// [`gradient`](Self::gradient) with the snapshots in `stores` (the
    /// schedule's RAM and disk levels; a caller's own, e.g. a disk store
    /// in a chosen directory) and `tick` called once per step evaluation
    /// (a progress bar).
    pub fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError> {
        self.check_point(x0)?;
        let schedule = self.strategy.schedule(self.steps)?;
        let mut observed = Observed { inner: &mut self.primal, tick };
        let out = run(&mut observed, &mut self.loss, &schedule, x0, stores)?;
        Ok(self.gradient_of(out))
    }

    /// Checks a point: its length, and that it is finite (a NaN handed in
    /// is reported as the input it is, at its index, by every entry point
    /// alike — not as a blow-up).
    pub(crate) fn check_point(&self, x0: &[f64]) -> Result<(), SimError> {
        self.layout().check_len(x0.len())?;
        match x0.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(DriverError::NonFiniteInput { index }.into()),
            None => Ok(()),
        }
    }

    /// Checks the lengths of a point and a direction `(v_x, v_p)`, and
    /// that all are finite.
    fn check_direction(&self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<(), SimError> {
        self.check_point(x0)?;
        self.layout().check_len(v_x.len()).map_err(|_| SimError::Length {
            what: "direction v_x".into(),
            expected: x0.len(),
            got: v_x.len(),
        })?;
        let np = self.param_set().len();
        if v_p.len() != np {
            return Err(SimError::Length { what: "direction v_p".into(), expected: np, got: v_p.len() });
        }
        for (what, v) in [("direction v_x", v_x), ("direction v_p", v_p)] {
            if let Some(i) = v.iter().position(|a| !a.is_finite()) {
                return Err(SimError::NonFinite { what: format!("{what} (value {i})") });
            }
        }
        Ok(())
    }

    fn gradient_of(&self, out: Outcome<f64>) -> Gradient {
        Gradient {
            objective: out.objective,
            x0: out.grad_x0,
            params: out.grad_params,
            final_state: out.final_state,
            counters: out.counters,
            names: self.parts(),
        }
    }

    /// The gradient and `∇²J v` for the direction `v = (v_x, v_p)`
    /// (initial state, flat parameters), by forward-over-reverse through
    /// the same schedule: the state and the parameters become duals.
    pub fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError> {
        let (strategy, steps, dir) = (self.strategy, self.steps, self.disk_dir.clone());
        self.hvp_with(x0, v_x, v_p, |dual, loss, xd| Ok(run_strategy(dual, loss, strategy, steps, xd, &dir)?))
    }

    /// [`hvp`](Self::hvp) with the (dual) snapshots in `stores` and `tick`
    /// called once per step evaluation, as [`gradient_on`](Self::gradient_on).
    pub fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError> {
        let schedule = self.strategy.schedule(self.steps)?;
        self.hvp_with(x0, v_x, v_p, |dual, loss, xd| {
            Ok(run(&mut Observed { inner: dual, tick }, loss, &schedule, xd, stores)?)
        })
    }

    /// The HVP with the dual run made by `drive`.
    fn hvp_with(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        drive: impl FnOnce(
            &mut Sim<M, Dual<f64>>,
            &mut LossObjective<L, Dual<f64>>,
            &[Dual<f64>],
        ) -> Result<Outcome<Dual<f64>>, SimError>,
    ) -> Result<SecondOrder, SimError> {
        self.check_direction(x0, v_x, v_p)?;
        let pd: Vec<Dual<f64>> = self.primal.param_values().iter().zip(v_p).map(|(&a, &b)| Dual::new(a, b)).collect();
        self.dual.set_param_values(&pd)?;
        self.loss_dual.set_param_values(&pd);
        let xd: Vec<Dual<f64>> = x0.iter().zip(v_x).map(|(&a, &b)| Dual::new(a, b)).collect();
        let out = drive(&mut self.dual, &mut self.loss_dual, &xd);
        // back to constants, whatever happened
        let pc: Vec<Dual<f64>> = self.primal.param_values().iter().map(|&a| Dual::constant(a)).collect();
        self.dual.set_param_values(&pc)?;
        self.loss_dual.set_param_values(&pc);
        let out = out?;
        let re = |v: &[Dual<f64>]| v.iter().map(|d| d.re).collect::<Vec<_>>();
        let eps = |v: &[Dual<f64>]| v.iter().map(|d| d.eps).collect::<Vec<_>>();
        let gradient = Gradient {
            objective: out.objective.re,
            x0: re(&out.grad_x0),
            params: re(&out.grad_params),
            final_state: re(&out.final_state),
            counters: out.counters,
            names: self.parts(),
        };
        Ok(SecondOrder { gradient, x0: eps(&out.grad_x0), params: eps(&out.grad_params) })
    }
}

/// `J(x₀)` by one forward run of `primal` over `n` steps with the
/// objective `loss`: the same errors as the checkpointed runs give for the
/// same input, in their order — a state that blows up is reported before a
/// loss that is not finite (their forward sweep comes first).
fn value<M: Model, L: Loss>(
    primal: &mut Sim<M, f64>,
    loss: &mut LossObjective<L, f64>,
    x0: &[f64],
    n: usize,
) -> Result<f64, SimError> {
    let (mut xbar, mut pbar) = (vec![0.0; x0.len()], vec![0.0; primal.param_set().len()]);
    let mut j = 0.0;
    let mut bad_loss = None;
    crate::run_from(primal, x0, n, |t, x| -> Result<(), SimError> {
        let l =
            Objective::loss(loss, t, n, x, &mut xbar, &mut pbar).map_err(|source| SimError::At { step: t, source })?;
        if !l.is_finite() {
            bad_loss.get_or_insert(t);
        }
        j += l;
        Ok(())
    })?;
    if let Some(step) = bad_loss {
        return Err(DriverError::NonFiniteLoss { step }.into());
    }
    Ok(j)
}

/// The problem over the initial state (parameters fixed), for the
/// optimizers.
impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Problem for Problem<M, L> {
    fn dim(&self) -> usize {
        self.layout().len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        Problem::value(self, x).map_err(OptimError::objective)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        let out = self.gradient(x).map_err(OptimError::objective)?;
        g.copy_from_slice(&out.x0);
        Ok(out.objective)
    }
}

impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Hessian for Problem<M, L> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        let zeros = vec![0.0; self.param_set().len()];
        let out = Problem::hvp(self, x, v, &zeros).map_err(OptimError::objective)?;
        hv.copy_from_slice(&out.x0);
        Ok(())
    }
}
