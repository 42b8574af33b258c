//! Every model's inverse problem, for `rewind optimize`: recover the
//! initial state of a twin run from noisy observations of the state's
//! first field at every `stride`-th point after the observation times
//! (`[observations]`), with a smoothness regulariser on each field's
//! departure from the first guess, `½ β w Σ |∇(x₀ − x_start)|²` with `w`
//! a grid cell's size (area, or length in 1D) (`optimize.beta`). The same loss for every model, built from
//! `rewind_sim`'s ready terms; only the twin differs: ns2d recovers field
//! B starting from rest (the flagship's shape), the others their twin's
//! truth starting from their default state.
//!
//! The observation times are the configuration's, which are ns2d's steps:
//! for a model run over another number of steps they are spread over its
//! run the same way. With `--members K` the observations are fitted by K
//! models whose viscosity `nu` is spread over `ν (1 ± spread)`; the
//! objective is their sum over the ensemble (the members on different MPI
//! ranks).

use anyhow::{Context, Result, bail};
use rewind_checkpoint::Strategy;
use rewind_ensemble::Ensemble;
use rewind_field::Par;
use rewind_sim::{Background, Covariance, Layout, Model, Noise, Observations, Problem, Sum};

use crate::common::Common;
use crate::config::Config;
use crate::memory::Need;
use rewind_models::ModelName;
use rewind_models::{Twin, WithModel};

/// The observations and a smoothness regulariser on each field of `x₀`.
type Loss = Sum<Observations, Vec<Background>>;

/// A model's inverse problem, whatever the model.
pub(crate) trait AnyInverse: Send {
    /// The model's name.
    fn model(&self) -> &'static str;
    /// The state's layout.
    fn layout(&self) -> &Layout;
    /// Steps of the run.
    fn steps(&self) -> usize;
    /// The first guess.
    fn start(&self) -> &[f64];
    /// The initial state the observations were made from.
    fn truth(&self) -> &[f64];
    /// The observations.
    fn observations(&self) -> &Observations;
    /// The observation term of `J` alone at `x`.
    fn misfit(&mut self, x: &[f64]) -> Result<f64>;
    /// The members' viscosities (empty without members).
    fn member_nus(&self) -> Vec<f64>;
    /// The objective the solvers see: the problem, or the sum over the
    /// members spread over `ensemble`; with Gauss–Newton products as its
    /// Hessian products if `gauss_newton`.
    fn objective<'a>(
        &'a mut self,
        ensemble: &'a Ensemble,
        gauss_newton: bool,
    ) -> Result<Box<dyn rewind_optim::Hessian + 'a>>;
}

struct Inverse<M> {
    model: &'static str,
    problem: Problem<M, Loss>,
    members: Vec<Problem<M, Loss>>,
    start: Vec<f64>,
    truth: Vec<f64>,
}

impl<M: Model + Clone + Send> AnyInverse for Inverse<M> {
    fn model(&self) -> &'static str {
        self.model
    }
    fn layout(&self) -> &Layout {
        self.problem.layout()
    }
    fn steps(&self) -> usize {
        self.problem.steps()
    }
    fn start(&self) -> &[f64] {
        &self.start
    }
    fn truth(&self) -> &[f64] {
        &self.truth
    }
    fn observations(&self) -> &Observations {
        &self.problem.loss().0
    }
    fn misfit(&mut self, x: &[f64]) -> Result<f64> {
        let observations = self.problem.loss().0.clone();
        Ok(self.problem.value_of(x, observations)?)
    }
    fn member_nus(&self) -> Vec<f64> {
        self.members.iter().filter_map(|p| p.param_set().range("nu").ok().map(|r| p.param_values()[r.start])).collect()
    }
    fn objective<'a>(
        &'a mut self,
        ensemble: &'a Ensemble,
        gauss_newton: bool,
    ) -> Result<Box<dyn rewind_optim::Hessian + 'a>> {
        let members = &mut self.members;
        Ok(match (members.is_empty(), gauss_newton) {
            (true, false) => Box::new(&mut self.problem),
            (true, true) => Box::new(rewind_sim::GaussNewtonProblem(&mut self.problem)),
            (false, false) => Box::new(rewind_ensemble::Sum::new(ensemble, members.iter_mut().collect())?),
            (false, true) => Box::new(rewind_ensemble::Sum::new(
                ensemble,
                members.iter_mut().map(rewind_sim::GaussNewtonProblem).collect(),
            )?),
        })
    }
}

struct Build<'a> {
    name: ModelName,
    c: &'a Config,
    steps: usize,
    strategy: Strategy,
    par: Par,
    members: usize,
    spread: f64,
}

impl WithModel for Build<'_> {
    type Out = Box<dyn AnyInverse>;
    type Error = anyhow::Error;
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<Box<dyn AnyInverse>> {
        let Build { name, c, steps, strategy, par, members, spread } = self;
        if twin.truth_in_parameters() {
            bail!(
                "optimize recovers an initial state, and the {} model's twin differs in its medium (its parameters), \
                 not in its initial state (`rewind fwi` recovers the acoustic model's medium)",
                name.name()
            );
        }
        let o = &c.observations;
        let mut sim = rewind_sim::Sim::<M, f64>::new(model.clone(), par)?;
        let layout = sim.layout().clone();
        let (truth, start) = (twin.truth(&layout), twin.start());
        let grid = *layout.grid();
        if o.stride > grid.nx {
            bail!("observations.stride = {}: the {} grid has {} points per side", o.stride, name.name(), grid.nx);
        }
        // the configuration's times are ns2d's steps, out of simulation.steps
        let times = crate::common::spread_times(&c.observations.times, c.simulation.steps, steps);
        let states = rewind_sim::states_at(&mut sim, &truth, &times).context("the true run failed")?;
        let Some(first) = layout.fields().first() else {
            bail!("the {} model's state has no field to observe", name.name());
        };
        let observed = Observations::of(first).points(grid.strided(o.stride)).sigma(o.sigma);
        let observed = observed.noisy(&layout, &times, &states, &mut Noise::new(o.seed))?;
        // the smoothness of the departure from the first guess (ns2d's is at rest)
        let smooth = |f: &String| -> Result<Background> {
            let b = Background::state(f, layout.part(&start, f)?.to_vec());
            Ok(b.covariance(Covariance::Smoothness(twin.cell())).weight(c.optimize.beta))
        };
        let loss = Sum(observed, layout.fields().iter().map(smooth).collect::<Result<Vec<_>>>()?);
        let disk = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
        let new = |loss: Loss| -> Result<Problem<M, Loss>> {
            Ok(Problem::new(model.clone(), loss, strategy, steps, par)?.with_disk_dir(&disk))
        };
        let problem = new(loss.clone())?;
        let mut ensemble = Vec::new();
        if members > 1 {
            if !(0.0..1.0).contains(&spread) {
                bail!("--member-spread {spread}: must be in [0, 1) (the viscosities ν (1 ± spread) stay positive)");
            }
            let Ok(r) = problem.param_set().range("nu") else {
                bail!(
                    "--members {members}: the members differ in the viscosity nu, which the {} model does not have",
                    name.name()
                );
            };
            let nu = problem.param_values()[r.start];
            for m in 0..members {
                let mut p = new(loss.clone())?;
                p.set_param("nu", &[nu * (1.0 + spread * (2.0 * m as f64 / (members - 1) as f64 - 1.0))])?;
                ensemble.push(p);
            }
        }
        Ok(Box::new(Inverse { model: name.name(), problem, members: ensemble, start, truth }))
    }
}

/// The inverse problem a command runs: the model of `--sim` at the size
/// and steps asked, checked against the memory available first; with
/// `members` models if more than one; and the configuration, its schedule
/// the one chosen.
pub(crate) fn from_args(common: &Common, members: usize, spread: f64) -> Result<(Box<dyn AnyInverse>, Config)> {
    if members == 0 {
        bail!("--members 0: at least one model (1, the default, is no ensemble)");
    }
    let (name, c, n, steps) = crate::models::sized(common, Need::Hvp)?;
    let strategy = crate::common::strategy(&c)?;
    let par = crate::common::par(&c);
    let b = Build { name, c: &c, steps, strategy, par, members, spread };
    let p = rewind_models::with_model(name, &crate::models::physics(&c), n, b)
        .with_context(|| format!("cannot set up the {} inverse problem", name.name()))?;
    Ok((p, c))
}
