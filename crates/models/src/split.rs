//! A model's default problem split over ranks ([`split`]): the same twin
//! experiment as [`crate::build`]'s — the terminal misfit `½ w ‖xₙ − x̂ₙ‖²`
//! to the state reached from the truth — with every field cut into slabs
//! of x-planes, one per rank, and stepped by `rewind_decompose`
//! ([`Decomposed`]): each rank holds its slab of the state, of the
//! snapshots and of a recorded step — about `1/R` of what dominates a
//! checkpointed gradient's memory — besides a few whole states at its
//! interface (the initial state, the truth, the gathered results:
//! [`crate::memory::per_rank`] counts them).
//!
//! At its interface the problem is any other [`AnyProblem`]: whole vectors
//! in and out, the same on every rank (each is cut into this rank's slab
//! on the way in and gathered on the way out), so that the command line
//! and the optimizers run it unchanged — every rank the same calls in the
//! same order, as the collectives inside require. The results are the same
//! bits on any number of ranks (the target too is made by a split run);
//! against the unsplit problem they agree to rounding (the misfit adds its
//! terms plane by plane, [`Misfit`]).
//!
//! What differs: the parameters are held fixed — their set is the model's
//! **field** parameters alone, whose gradient (and the parameter part of
//! `H v` for a direction of the initial state) is computed slab by slab;
//! a scalar parameter's gradient is a sum over the whole grid that the
//! slabs' ghost planes would count twice (not built), and the direction
//! moves the initial state only. Gauss–Newton products, incremental 4D-Var
//! and the posterior are not built for split runs and say so. A step that
//! cannot be split (a sparse solve, sampling at points) is refused when
//! the problem is made, by name.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use rewind_checkpoint::{Objective, Observed, SnapshotStore, Stepper, Strategy};
use rewind_decompose::{Comm, Decomposed, Misfit, Slabs, gather, run_on, slab_of};
use rewind_field::{Components, Dual, Par};
use rewind_sim::{DerivativeCheck, GaussNewton, Gradient, Layout, Model, ParamSet, ParamValue, SecondOrder, SimError};

use crate::problem::{Method, minimize_by};
use crate::twin::direction;
use crate::{AnyProblem, EachState, ModelName, ModelsError, Ns2dPhysics, Twin, WithModel, with_model};

/// What [`Split::advance`] calls on each state: `(step, this rank's slab)`,
/// its error said as text (it is agreed by every rank).
type EachSlab<'a> = dyn FnMut(usize, &[f64]) -> Result<(), String> + 'a;

/// The split problem of one model.
struct Split<M> {
    comm: Rc<dyn Comm>,
    model: M,
    about: String,
    layout: Layout,
    /// The model's field parameters (the others held fixed).
    params: ParamSet,
    /// The x-planes this rank owns.
    own: std::ops::Range<usize>,
    /// This rank's slab of the target state.
    target: Vec<f64>,
    weight: f64,
    steps: usize,
    dt: f64,
    strategy: Strategy,
    par: Par,
    disk_dir: PathBuf,
    x0: Vec<f64>,
    truth: Vec<f64>,
    start: Vec<f64>,
    v_x: Vec<f64>,
    v_p: Vec<f64>,
}

/// A split run's error as the problem's: the agreed failure (naming the
/// rank and the step) is kept as the source.
fn failed(e: impl std::error::Error + Send + Sync + 'static) -> SimError {
    SimError::Step(rewind_checkpoint::StepError::model(e))
}

impl<M: Model + Clone + 'static> Split<M> {
    fn comm(&self) -> &Rc<dyn Comm> {
        &self.comm
    }

    /// This rank's slab of a whole state.
    fn slab(&self, whole: &[f64]) -> Result<Vec<f64>, SimError> {
        slab_of(&self.layout, self.own.clone(), whole).map_err(failed)
    }

    /// The whole state from every rank's slab (on every rank).
    fn whole(&self, slab: &[f64]) -> Result<Vec<f64>, SimError> {
        gather(self.comm(), &self.layout, slab).map_err(failed)
    }

    /// Each field parameter gathered whole from its slabs, in order.
    fn whole_params(&self, slabs: &[f64]) -> Result<Vec<f64>, SimError> {
        let g = self.layout.grid();
        let per = self.own.len() * g.ny * g.nz;
        let one = Layout::new(*g).field("p");
        let mut out = Vec::with_capacity(self.params.len());
        for p in slabs.chunks(per.max(1)).take(self.params.entries().len()) {
            out.extend(gather(self.comm(), &one, p).map_err(failed)?);
        }
        Ok(out)
    }

    /// `model` stepping this rank's slab, probed from the slab `x0`.
    fn stepper<N: Model + Clone, T: Components>(
        &self,
        model: N,
        x0: &[f64],
    ) -> Result<Decomposed<'_, N, T, Rc<dyn Comm>>, SimError> {
        Decomposed::new(model, self.comm(), self.par, x0).map_err(failed)
    }

    fn misfit(&self) -> Result<Misfit<'_, Rc<dyn Comm>>, SimError> {
        Misfit::from_slab(self.comm(), &self.layout, self.target.clone())
            .and_then(|m| m.weight(self.weight))
            .map_err(failed)
    }

    /// The slab of `x_steps` from the slab `x`, `each(t, slab)` on every
    /// state from the initial one on (its error agreed by every rank).
    fn advance(&self, x: Vec<f64>, steps: usize, each: &mut EachSlab<'_>) -> Result<Vec<f64>, SimError> {
        self.advance_by(self.model.clone(), x, steps, each)
    }

    /// [`Split::advance`] stepped by `model` (the truth's, for the target).
    fn advance_by<N: Model + Clone>(
        &self,
        model: N,
        x: Vec<f64>,
        steps: usize,
        each: &mut EachSlab<'_>,
    ) -> Result<Vec<f64>, SimError> {
        let mut st = self.stepper::<N, f64>(model, &x)?;
        let (mut x, mut next) = (x, vec![0.0; st.state_len()]);
        for t in 0..=steps {
            let r = each(t, &x);
            rewind_decompose::agree(self.comm(), t, r).map_err(failed)?;
            if t < steps {
                st.step(t, &x, &mut next).map_err(|source| SimError::At { step: t, source })?;
                std::mem::swap(&mut x, &mut next);
            }
        }
        Ok(x)
    }

    /// The driver over this rank's slabs: `x0` (values, or values and a
    /// tangent) and the stores given, `tick` once per step.
    fn drive<T: Components + 'static>(
        &self,
        x0: &[T],
        stores: [&mut dyn SnapshotStore<T>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<rewind_checkpoint::Outcome<T>, SimError> {
        let values: Vec<f64> = x0.iter().map(|v| v.part(0)).collect();
        let mut st = self.stepper::<M, T>(self.model.clone(), &values)?;
        let mut loss = self.misfit()?;
        let schedule = self.strategy.schedule(self.steps).map_err(|e| SimError::Settings(e.to_string()))?;
        let mut observed = Observed { inner: &mut st, tick: || tick() };
        Ok(run_on(self.comm(), &mut observed, &mut loss, &schedule, x0, stores)?)
    }

    fn not_built(what: &str) -> SimError {
        SimError::Settings(format!("{what} is not built for a run split over ranks"))
    }
}

impl<M: Model + Clone + 'static> AnyProblem for Split<M> {
    fn about(&self) -> &str {
        &self.about
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn param_set(&self) -> &ParamSet {
        &self.params
    }
    fn x0(&self) -> &[f64] {
        &self.x0
    }
    fn direction(&self) -> (&[f64], &[f64]) {
        (&self.v_x, &self.v_p)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn dt(&self) -> f64 {
        self.dt
    }
    fn strategy(&self) -> Strategy {
        self.strategy
    }
    fn set_strategy(&mut self, strategy: Strategy) -> Result<(), SimError> {
        strategy.schedule(self.steps).map_err(|e| SimError::Settings(e.to_string()))?;
        self.strategy = strategy;
        Ok(())
    }
    fn value(&mut self, x0: &[f64]) -> Result<f64, SimError> {
        let last = self.advance(self.slab(x0)?, self.steps, &mut |_, _| Ok(()))?;
        let mut xbar = vec![0.0; last.len()];
        Ok(self.misfit()?.loss(self.steps, self.steps, &last, &mut xbar, &mut [])?)
    }
    fn gradient(&mut self, x0: &[f64]) -> Result<Gradient, SimError> {
        let (mut ram, mut disk) = (rewind_checkpoint::RamStore::new(), self.disk()?);
        self.gradient_on(x0, [&mut ram, disk.as_mut()], &mut || ())
    }
    fn gradient_on(
        &mut self,
        x0: &[f64],
        stores: [&mut dyn SnapshotStore<f64>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<Gradient, SimError> {
        let out = self.drive(&self.slab(x0)?, stores, tick)?;
        let out = rewind_checkpoint::Outcome {
            grad_x0: self.whole(&out.grad_x0)?,
            grad_params: self.whole_params(&out.grad_params)?,
            final_state: self.whole(&out.final_state)?,
            ..out
        };
        Gradient::new(&self.layout, &self.params, out)
    }
    fn hvp(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<SecondOrder, SimError> {
        let (mut ram, mut disk) = (rewind_checkpoint::RamStore::new(), self.disk()?);
        self.hvp_on(x0, v_x, v_p, [&mut ram, disk.as_mut()], &mut || ())
    }
    fn hvp_on(
        &mut self,
        x0: &[f64],
        v_x: &[f64],
        v_p: &[f64],
        stores: [&mut dyn SnapshotStore<Dual<f64>>; 2],
        tick: &mut dyn FnMut(),
    ) -> Result<SecondOrder, SimError> {
        if v_p.len() != self.params.len() {
            let (expected, got) = (self.params.len(), v_p.len());
            return Err(SimError::Length { what: "parameter direction".into(), expected, got });
        }
        if v_p.iter().any(|&a| a != 0.0) {
            return Err(SimError::Settings(
                "a run split over ranks holds its parameters fixed: the direction moves the initial state only".into(),
            ));
        }
        self.layout.check_len(v_x.len())?;
        let (xs, vs) = (self.slab(x0)?, self.slab(v_x)?);
        let xd: Vec<Dual<f64>> = xs.iter().zip(&vs).map(|(&a, &b)| Dual::new(a, b)).collect();
        let out = self.drive(&xd, stores, tick)?;
        let re = |v: &[Dual<f64>]| v.iter().map(|d| d.re).collect::<Vec<_>>();
        let eps = |v: &[Dual<f64>]| v.iter().map(|d| d.eps).collect::<Vec<_>>();
        let gradient = Gradient::new(
            &self.layout,
            &self.params,
            rewind_checkpoint::Outcome {
                steps: out.steps,
                objective: out.objective.re,
                grad_x0: self.whole(&re(&out.grad_x0))?,
                grad_params: self.whole_params(&re(&out.grad_params))?,
                final_state: self.whole(&re(&out.final_state))?,
                counters: out.counters,
            },
        )?;
        let (hx, hp) = (self.whole(&eps(&out.grad_x0))?, self.whole_params(&eps(&out.grad_params))?);
        Ok(SecondOrder { gradient, x0: hx, params: hp })
    }
    fn gauss_newton(&mut self, _x0: &[f64], _v_x: &[f64], _v_p: &[f64]) -> Result<GaussNewton, SimError> {
        Err(Self::not_built("the Gauss–Newton product"))
    }
    fn check(&mut self, fd_step: f64) -> Result<DerivativeCheck, SimError> {
        let sweep = [10.0 * fd_step, fd_step, 0.1 * fd_step];
        let (x0, v_x) = (self.x0.clone(), self.v_x.clone());
        check_state(self, &x0, &v_x, &sweep)
    }
    fn run(&mut self, x0: &[f64], steps: usize, each: &mut EachState<'_>) -> Result<(), ModelsError> {
        self.run_at(x0, steps, &|_| true, each)
    }
    fn run_at(
        &mut self,
        x0: &[f64],
        steps: usize,
        at: &dyn Fn(usize) -> bool,
        each: &mut EachState<'_>,
    ) -> Result<(), ModelsError> {
        let mut caller = None;
        let r = self.advance(self.slab(x0)?, steps, &mut |t, slab| {
            if !at(t) {
                return Ok(());
            }
            // a collective: every rank gathers the states picked
            let whole = gather(self.comm(), &self.layout, slab).map_err(|e| e.to_string())?;
            each(t, &whole).map_err(|e| {
                let said = e.to_string();
                caller = Some(e);
                said
            })
        });
        match (r, caller) {
            (Err(_), Some(e)) => Err(ModelsError::Caller(e)),
            (r, _) => r.map(|_| ()).map_err(ModelsError::from),
        }
    }
    fn truth(&self) -> &[f64] {
        &self.truth
    }
    fn start(&self) -> &[f64] {
        &self.start
    }
    fn four_d_var(
        &mut self,
        _background: &[f64],
        _b: &mut rewind_field::Correlation,
        _settings: rewind_sim::Incremental,
    ) -> Result<rewind_sim::Analysis, SimError> {
        Err(Self::not_built("incremental 4D-Var"))
    }
    fn minimize(
        &mut self,
        x: &[f64],
        method: Method,
        opts: &rewind_optim::Options,
    ) -> Result<rewind_optim::Report, ModelsError> {
        match method {
            Method::GaussNewton { .. } => Err(Self::not_built("Gauss–Newton").into()),
            m => minimize_by(&mut Whole(self), x, m, opts),
        }
    }
    fn posterior(
        &mut self,
        _x: &[f64],
        _b: &mut rewind_field::Correlation,
        _s: rewind_sim::Spectrum,
        _e: &rewind_sim::Ensemble,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<rewind_sim::Posterior, SimError> {
        Err(Self::not_built("the Laplace posterior"))
    }
}

impl<M> Split<M> {
    /// The disk level's store, if the schedule has one (this rank's
    /// directory), else a second RAM store; a rank that cannot make its
    /// directory fails every rank.
    fn disk<T: rewind_checkpoint::DiskScalar + 'static>(&self) -> Result<Box<dyn SnapshotStore<T>>, SimError> {
        if self.strategy.budget(self.steps)[1] == 0 {
            return Ok(Box::new(rewind_checkpoint::RamStore::new()));
        }
        let d = rewind_checkpoint::DiskStore::new(&self.disk_dir);
        rewind_decompose::agree(&self.comm, 0, d.as_ref().map(|_| ()).map_err(|e| e.to_string())).map_err(failed)?;
        Ok(Box::new(d.map_err(|e| SimError::Settings(e.to_string()))?))
    }
}

/// The split problem as an optimizer's problem over whole vectors (every
/// rank runs the same optimizer on the same values).
struct Whole<'a, M>(&'a mut Split<M>);

impl<M: Model + Clone + 'static> rewind_optim::Problem for Whole<'_, M> {
    fn dim(&self) -> usize {
        self.0.layout.len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, rewind_optim::OptimError> {
        AnyProblem::value(self.0, x).map_err(rewind_optim::OptimError::objective)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, rewind_optim::OptimError> {
        let out = AnyProblem::gradient(self.0, x).map_err(rewind_optim::OptimError::objective)?;
        g.copy_from_slice(&out.x0);
        Ok(out.objective)
    }
}

impl<M: Model + Clone + 'static> rewind_optim::Hessian for Whole<'_, M> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), rewind_optim::OptimError> {
        let zeros = vec![0.0; self.0.params.len()];
        let out = AnyProblem::hvp(self.0, x, v, &zeros).map_err(rewind_optim::OptimError::objective)?;
        hv.copy_from_slice(&out.x0);
        Ok(())
    }
}

/// The derivatives of `p` against central differences along the state
/// direction `v_x`, field by field, as [`rewind_sim::check`] checks an
/// unsplit problem's state parts: each part's direction scaled to the
/// part's size, the steps `eps` relative to it.
fn check_state(p: &mut dyn AnyProblem, x0: &[f64], v_x: &[f64], eps: &[f64]) -> Result<DerivativeCheck, SimError> {
    use rewind_optim::vector::norm_inf;
    let layout = p.layout().clone();
    let zeros = vec![0.0; p.param_set().len()];
    let mut parts = Vec::new();
    for name in layout.fields() {
        let r = layout.range(name)?;
        let vmax = norm_inf(&v_x[r.clone()]);
        if vmax == 0.0 {
            continue;
        }
        let size = norm_inf(&x0[r.clone()]);
        let scale = if size > 0.0 { size / vmax } else { 1.0 / vmax };
        let mut u = vec![0.0; x0.len()];
        u[r.clone()].iter_mut().zip(&v_x[r]).for_each(|(a, b)| *a = scale * b);
        let h = p.hvp(x0, &u, &zeros)?;
        // the parameters held fixed: no parameter part, no parameter steps
        let (directional, hvp_size, steps) =
            rewind_sim::steps_along(&h, x0, &zeros, &u, &zeros, eps, |x, _| p.gradient(x))?;
        parts.push(rewind_sim::PartCheck { part: format!("state {name}"), scale, directional, hvp_size, steps });
    }
    if parts.is_empty() {
        return Err(SimError::Settings("check: the direction is zero".into()));
    }
    Ok(DerivativeCheck { parts })
}

/// How a split problem is made.
struct Make<'a> {
    comm: Rc<dyn Comm>,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &'a Path,
}

impl WithModel for Make<'_> {
    type Out = Box<dyn AnyProblem>;
    type Error = ModelsError;
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<Box<dyn AnyProblem>, ModelsError> {
        let layout = model.layout();
        let truth = twin.checked_truth(&layout)?;
        let truth_model = twin.truth_model(model.clone())?;
        let g = *layout.grid();
        let slabs = Slabs::new(g.nx, self.comm.size()).map_err(|e| ModelsError::Sim(failed(e)))?;
        let own = slabs.owned(self.comm.rank());
        // the field parameters: differentiated; the scalars held fixed
        let mut params = ParamSet::new();
        for (name, v) in model.params().entries() {
            if let ParamValue::Field(f) = v {
                params = params.field(name, f.clone());
            }
        }
        let v_x = twin.v_x.clone().unwrap_or_else(|| direction(&twin.x0, 0.4));
        let about = format!(
            "{}; split over {} rank(s) in slabs of x-planes, the parameters held fixed",
            if twin.about.is_empty() {
                "the terminal misfit ½ w ‖xₙ − x̂ₙ‖² to the state reached from a shifted initial state"
            } else {
                &twin.about
            },
            self.comm.size()
        );
        let mut p = Split {
            comm: self.comm,
            model,
            about,
            layout,
            v_p: vec![0.0; params.len()],
            params,
            own,
            target: Vec::new(),
            weight: twin.area,
            steps: self.steps,
            dt: twin.dt,
            strategy: self.strategy,
            par: self.par,
            disk_dir: self.disk_dir.to_path_buf(),
            start: twin.start(),
            x0: twin.x0,
            truth,
            v_x,
        };
        // the target: the truth's run, split the same way
        p.target = p.advance_by(truth_model, p.slab(&p.truth)?, p.steps, &mut |_, _| Ok(())).map_err(|e| match e {
            SimError::At { step, source } => ModelsError::Target(rewind_checkpoint::DriverError::Step { step, source }),
            e => ModelsError::Sim(e),
        })?;
        Ok(Box::new(p))
    }
}

/// The default problem of `name` (as [`crate::build`] makes it) split over
/// the ranks of `comm`: a collective, every rank calls it (see the
/// [module](self) docs). `par` is each rank's kernels' parallelism.
#[allow(clippy::too_many_arguments)]
pub fn split(
    name: ModelName,
    ns2d: &Ns2dPhysics,
    n: usize,
    steps: usize,
    strategy: Strategy,
    par: Par,
    disk_dir: &Path,
    comm: Rc<dyn Comm>,
) -> Result<Box<dyn AnyProblem>, ModelsError> {
    name.check_size(n, steps)?;
    with_model(name, ns2d, n, Make { comm, steps, strategy, par, disk_dir })
}

/// The x-planes a step of `name` reads below and above a point (measured
/// on one step at the model's default size: the reach does not depend on
/// the grid's size); a model that cannot be split is refused here, by the
/// operation it cannot split.
pub fn reach(name: ModelName, ns2d: &Ns2dPhysics) -> Result<[usize; 2], ModelsError> {
    struct Reach;
    impl WithModel for Reach {
        type Out = [usize; 2];
        type Error = ModelsError;
        fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<[usize; 2], ModelsError> {
            rewind_decompose::reach(model, twin.x0()).map(|r| r.planes).map_err(|e| ModelsError::Sim(failed(e)))
        }
    }
    let (n, _) = name.defaults();
    with_model(name, ns2d, n, Reach).map_err(|e| ModelsError::Setup {
        model: name.name(),
        source: format!("it cannot be split over ranks: {e}").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_decompose::{Serial, Threads};

    fn one_rank() -> Rc<dyn Comm> {
        Rc::new(Serial)
    }

    /// `f` on every rank of a group of `size` threads, results in rank order.
    fn on_ranks<R: Send>(size: usize, f: impl Fn(Rc<dyn Comm>) -> R + Sync) -> Vec<R> {
        std::thread::scope(|s| {
            let f = &f;
            let hs: Vec<_> =
                Threads::group(size).into_iter().map(|c| s.spawn(move || f(Rc::new(c) as Rc<dyn Comm>))).collect();
            hs.into_iter().map(|h| h.join().expect("a rank panicked")).collect()
        })
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn a_split_problem_gives_the_same_bits_on_one_to_three_ranks() {
        let dir = std::env::temp_dir();
        // Gray–Scott 24²: a field parameter (feed) differentiated, a scalar
        // (kill) held fixed
        let run = |comm: Rc<dyn Comm>| {
            let strategy = Strategy::Binomial { snapshots: 2 };
            let name = ModelName::GrayScott;
            let mut p = split(name, &Ns2dPhysics::default(), 24, 5, strategy, Par::Seq, &dir, comm).unwrap();
            let x0 = p.x0().to_vec();
            let (v_x, v_p) = (p.direction().0.to_vec(), p.direction().1.to_vec());
            let h = p.hvp(&x0, &v_x, &v_p).unwrap();
            let mut last = Vec::new();
            p.run(&x0, 5, &mut |_, x| {
                last = x.to_vec();
                Ok(())
            })
            .unwrap();
            let names: Vec<String> = p.param_set().entries().iter().map(|(n, _)| n.clone()).collect();
            (p.value(&x0).unwrap(), h, last, names)
        };
        let (j, h, last, names) = run(one_rank());
        assert_eq!(names, ["feed"], "the field parameter alone");
        assert_eq!(j.to_bits(), h.gradient.objective.to_bits());
        assert_eq!(bits(&last), bits(&h.gradient.final_state));
        assert!(h.gradient.params.iter().any(|&g| g != 0.0) && h.params.iter().any(|&g| g != 0.0));
        for ranks in 2..=3 {
            for (r, (j2, h2, last2, _)) in on_ranks(ranks, run).into_iter().enumerate() {
                let at = format!("rank {r} of {ranks}");
                assert_eq!(j2.to_bits(), j.to_bits(), "{at}");
                assert_eq!(bits(&h2.gradient.x0), bits(&h.gradient.x0), "{at}: gradient");
                assert_eq!(bits(&h2.gradient.params), bits(&h.gradient.params), "{at}: feed's gradient");
                assert_eq!(bits(&h2.x0), bits(&h.x0), "{at}: H v");
                assert_eq!(bits(&h2.params), bits(&h.params), "{at}: feed's part of H v");
                assert_eq!(bits(&last2), bits(&last), "{at}: the run's last state");
            }
        }
    }

    #[test]
    fn the_acoustic_twin_split_over_two_ranks_is_the_whole_problem_bit_for_bit() {
        let dir = std::env::temp_dir();
        // 16³: two slabs of 8 planes, walls along x; the target is the run
        // through the truth's medium, split the same way
        let run = |comm: Rc<dyn Comm>| {
            let strategy = Strategy::Binomial { snapshots: 2 };
            let mut p =
                split(ModelName::Acoustic, &Ns2dPhysics::default(), 16, 6, strategy, Par::Seq, &dir, comm).unwrap();
            let x0 = p.x0().to_vec();
            p.gradient(&x0).unwrap()
        };
        let one = run(one_rank());
        assert!(one.objective > 0.0 && one.params.iter().any(|&g| g != 0.0), "another medium: a misfit");
        let mut whole =
            crate::build(ModelName::Acoustic, &Ns2dPhysics::default(), 16, 6, Strategy::StoreAll, Par::Seq, &dir)
                .unwrap();
        let x0 = whole.x0().to_vec();
        let w = whole.gradient(&x0).unwrap();
        // the unsplit problem agrees to rounding (its misfit sums in another order)
        let diff = w.params.iter().zip(&one.params).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        let size = w.params.iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!(diff <= 1e-12 * size, "m's gradient: {diff} apart, of {size}");
        for (r, two) in on_ranks(2, run).into_iter().enumerate() {
            assert_eq!(two.objective.to_bits(), one.objective.to_bits(), "rank {r}");
            assert_eq!(bits(&two.x0), bits(&one.x0), "rank {r}: gradient");
            assert_eq!(bits(&two.params), bits(&one.params), "rank {r}: m's gradient");
        }
    }

    #[test]
    fn a_split_problem_is_checked_and_minimised_like_any_other() {
        let dir = std::env::temp_dir();
        let mut p =
            split(ModelName::Burgers, &Ns2dPhysics::default(), 32, 20, Strategy::StoreAll, Par::Seq, &dir, one_rank())
                .unwrap();
        let c = p.check(1e-4).unwrap();
        assert!(c.gradient_error() < 1e-6 && c.hvp_error() < 1e-5, "{c}");
        let start = p.start().to_vec();
        let j0 = p.value(&start).unwrap();
        let opts = rewind_optim::Options { grad_tol: 1e-10, max_iter: 15 };
        let r = p.minimize(&start, Method::Lbfgs { memory: 10 }, &opts).unwrap();
        assert!(r.state.f < 1e-3 * j0, "J {} from {j0}", r.state.f);
        // what is not built says so
        let e = p.minimize(&start, Method::GaussNewton { max_cg: 5 }, &opts).unwrap_err().to_string();
        assert!(e.contains("not built for a run split over ranks"), "{e}");
        let v = vec![1.0; p.param_set().len() + 1];
        assert!(p.hvp(&start, &start, &v).is_err());
    }

    #[test]
    fn a_model_that_cannot_be_split_is_refused_before_it_is_built() {
        let e = reach(ModelName::Cavity, &Ns2dPhysics::default()).unwrap_err().to_string();
        assert!(e.contains("cannot be split over ranks") && e.contains("a sparse solve"), "{e}");
        assert_eq!(reach(ModelName::ShallowWater, &Ns2dPhysics::default()).unwrap(), [4, 4]);
    }
}
