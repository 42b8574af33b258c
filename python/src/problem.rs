//! `rewind.Problem`: a registered model's problem or a Python model's,
//! under a checkpoint schedule or a memory budget, with its derivatives,
//! optimisers and 4D-Var — the computation on the problem's threads,
//! without the GIL, stopped by Ctrl-C.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_models::memory::{Footprint, Need, available_memory_bytes, check_fits_in, schedule_for_budget};
use rewind_models::units::parse_bytes;
use rewind_models::{AnyProblem, Method, ModelName, Ns2dPhysics};
use rewind_sim::SimError;

use crate::interrupt::{self, Interruptible};
use crate::model::{PyModel, traced_footprint};
use crate::{RewindError, array, counters, err, one_line, param_parts, state_parts, values};

/// The schedule of a problem of footprint `f`: with a memory budget
/// (`"2GiB"`), the fastest whose HVPs (and so gradients) fit in it; then a
/// run whose gradient cannot fit in the memory available is refused before
/// anything of its size is allocated.
fn plan(f: Footprint, memory: Option<&str>) -> PyResult<Strategy> {
    let mut f = f;
    if let Some(m) = memory {
        let budget = parse_bytes(m).map_err(|e| RewindError::new_err(format!("memory: {e}")))?;
        f.strategy = schedule_for_budget(&f, Need::Hvp, budget).map_err(err)?.0;
    }
    if let Some(available) = available_memory_bytes() {
        check_fits_in(&f, Need::Gradient, available).map_err(err)?;
    }
    Ok(f.strategy)
}

/// Point observations from a dict: `field` (default: the first),
/// `stride` (4), `every` (a quarter of the run), `sigma` (0.01), `seed`
/// (0); any other key is an error.
fn observation(d: &Bound<'_, PyDict>, steps: usize) -> PyResult<rewind_models::Observe> {
    let mut o =
        rewind_models::Observe { field: String::new(), stride: 4, every: (steps / 4).max(1), sigma: 0.01, seed: 0 };
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        let bad = |what: &str| RewindError::new_err(format!("observe[{key:?}]: {what}"));
        match key.as_str() {
            "field" => o.field = v.extract().map_err(|_| bad("a field name"))?,
            "stride" => o.stride = v.extract().map_err(|_| bad("a positive integer"))?,
            "every" => o.every = v.extract().map_err(|_| bad("a positive integer"))?,
            "sigma" => o.sigma = v.extract().map_err(|_| bad("a positive number"))?,
            "seed" => o.seed = v.extract().map_err(|_| bad("a non-negative integer"))?,
            _ => return Err(bad("unknown key (field, stride, every, sigma, seed)")),
        }
    }
    Ok(o)
}

/// A registered model's problem, its model made [`Interruptible`].
struct Build<'a> {
    steps: usize,
    strategy: Strategy,
    par: Par,
    dir: &'a std::path::Path,
    stop: Arc<AtomicBool>,
    /// Point observations instead of the terminal misfit.
    observe: Option<rewind_models::Observe>,
}

impl rewind_models::WithModel for Build<'_> {
    type Out = Box<dyn AnyProblem + Send>;
    type Error = rewind_models::ModelsError;
    fn run<M: rewind_sim::Model + Clone + Send + 'static>(
        self,
        model: M,
        twin: rewind_models::Twin,
    ) -> Result<Box<dyn AnyProblem + Send>, rewind_models::ModelsError> {
        let model = Interruptible { inner: model, stop: self.stop };
        match &self.observe {
            Some(o) => rewind_models::observed_problem(model, twin, o, self.steps, self.strategy, self.par, self.dir),
            None => rewind_models::twin_problem(model, twin, self.steps, self.strategy, self.par, self.dir),
        }
    }
}

/// A model's default problem (a twin experiment: the terminal misfit to
/// the state reached from a shifted initial state) under a checkpoint
/// schedule.
///
/// `Problem(model, n=None, steps=None, schedule="binomial:10", threads=0,
/// disk_dir=None, x0=None, truth=None)`: `model` is a name of
/// `rewind.models()` — `n` grid points per side and `steps` time steps
/// default to the model's own — or a `rewind.Model`, whose problem needs
/// `x0` and `steps` (the target is the state reached from `truth`, by
/// default `x0` shifted by 5 %); `schedule` is `store-all`, `periodic:K`,
/// `binomial:S`, `online:S` or `multilevel:RAM,DISK[,WRITE,READ]` (disk
/// snapshots in `disk_dir`, the system's temporary directory by default);
/// with `observe` (a dict: `field`, `stride`, `every`, `sigma`, `seed`) the
/// objective is the misfit to noisy point observations of the run from the
/// truth instead of the terminal state,
/// or with `memory` (a RAM budget, `"2GiB"`, `"500MB"`) the fastest
/// schedule whose HVPs fit in it; a run that cannot fit in the memory
/// available is refused before it is allocated; `threads` 0 is one per
/// core.
#[pyclass(module = "rewind")]
pub(crate) struct Problem {
    /// The model's name (a registered one, or "python model").
    name: String,
    /// Set on Ctrl-C: the model refuses its next step.
    stop: Arc<AtomicBool>,
    // (a pyclass is shared between threads: the problem's scratch space is
    // not, so it is behind a lock — uncontended, taken once a call)
    inner: Mutex<Box<dyn AnyProblem + Send>>,
    pool: rayon::ThreadPool,
}

impl Problem {
    /// The problem, for a call.
    fn lock(&self) -> MutexGuard<'_, Box<dyn AnyProblem + Send>> {
        // a panic inside a call cannot leave the problem half-changed in a
        // way a later call depends on: every call starts from its inputs
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// `f` on the problem, on the problem's threads, without the GIL.
    /// Ctrl-C stops it at the model's next step ([`interrupt`]).
    fn compute<R: Send, E: std::error::Error + Send + 'static>(
        &mut self,
        py: Python<'_>,
        f: impl FnOnce(&mut dyn AnyProblem) -> Result<R, E> + Send,
    ) -> PyResult<R> {
        let (inner, pool) = (self.inner.get_mut().unwrap_or_else(|e| e.into_inner()), &self.pool);
        interrupt::interruptible(py, &self.stop, || pool.install(|| f(&mut **inner)).map_err(err))
    }
    fn state_len(&self) -> usize {
        self.lock().layout().len()
    }
    fn params_len(&self) -> usize {
        self.lock().param_set().len()
    }
    /// A point and a direction `(x0, v_x, v_p)` as values (`v_p` zero if
    /// not given), each checked against the problem's sizes.
    fn point_and_direction(
        &self,
        x0: &PyReadonlyArrayDyn<'_, f64>,
        v_x: &PyReadonlyArrayDyn<'_, f64>,
        v_p: Option<&PyReadonlyArrayDyn<'_, f64>>,
    ) -> PyResult<[Vec<f64>; 3]> {
        let v_p = match v_p {
            Some(a) => values("v_p", a, self.params_len())?,
            None => vec![0.0; self.params_len()],
        };
        Ok([values("x0", x0, self.state_len())?, values("v_x", v_x, self.state_len())?, v_p])
    }
}

#[pymethods]
impl Problem {
    #[new]
    #[pyo3(signature = (model, n=None, steps=None, schedule="binomial:10", threads=0, disk_dir=None, x0=None, truth=None, memory=None, observe=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &Bound<'_, PyAny>,
        n: Option<usize>,
        steps: Option<usize>,
        schedule: &str,
        threads: usize,
        disk_dir: Option<std::path::PathBuf>,
        x0: Option<PyReadonlyArrayDyn<'_, f64>>,
        truth: Option<PyReadonlyArrayDyn<'_, f64>>,
        memory: Option<&str>,
        observe: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut strategy: Strategy = schedule.parse().map_err(|e: rewind_checkpoint::ScheduleError| {
            RewindError::new_err(format!("bad schedule {schedule:?}: {}", one_line(&e)))
        })?;
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |t| t.get()) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| RewindError::new_err(format!("cannot start {threads} threads: {e}")))?;
        let par = if threads == 1 { Par::Seq } else { Par::Pool };
        let dir = disk_dir.unwrap_or_else(std::env::temp_dir);
        let (py, stop) = (model.py(), Arc::new(AtomicBool::new(false)));
        if let Ok(m) = model.cast::<PyModel>() {
            // a model written in Python: its own grid, the initial state given
            let m = m.get().inner.clone();
            if n.is_some() {
                return Err(RewindError::new_err("n is the Python model's own (Model(..., n=...))"));
            }
            let x0 = x0.ok_or_else(|| RewindError::new_err("a Python model's problem needs x0, its initial state"))?;
            let len = m.fields.len() * m.grid.len();
            let x0 = values("x0", &x0, len)?;
            let steps = steps.ok_or_else(|| RewindError::new_err("a Python model's problem needs steps"))?;
            if steps == 0 {
                return Err(RewindError::new_err("steps = 0: at least one step"));
            }
            let f = traced_footprint(&m, steps, strategy)?;
            strategy = plan(f, memory)?;
            let mut twin = rewind_models::Twin::new(x0, m.grid.dx * m.grid.dy, m.dt);
            if let Some(t) = truth {
                twin = twin.with_truth(values("truth", &t, len)?);
            }
            let observe = observe.map(|d| observation(d, steps)).transpose()?;
            let build = Build { steps, strategy, par, dir: &dir, stop: stop.clone(), observe };
            let inner = interrupt::interruptible(py, &stop, || {
                pool.install(|| rewind_models::WithModel::run(build, m, twin)).map_err(err)
            })?;
            return Ok(Problem { name: "python model".into(), stop, inner: Mutex::new(inner), pool });
        }
        let name: ModelName = model
            .extract::<String>()
            .map_err(|_| RewindError::new_err("model: a registered model's name or a rewind.Model"))?
            .parse()
            .map_err(err)?;
        if x0.is_some() || truth.is_some() {
            return Err(RewindError::new_err(format!(
                "x0 and truth are the {name} problem's own (Problem.x0, .truth)"
            )));
        }
        let (dn, ds) = name.defaults();
        let (n, steps) = (n.unwrap_or(dn), steps.unwrap_or(ds));
        name.check_size(n, steps).map_err(err)?;
        let f = rewind_models::memory::footprint(name, &Ns2dPhysics::default(), n, steps, strategy).map_err(err)?;
        strategy = plan(f, memory)?;
        let observe = observe.map(|d| observation(d, steps)).transpose()?;
        let build = Build { steps, strategy, par, dir: &dir, stop: stop.clone(), observe };
        let inner = interrupt::interruptible(py, &stop, || {
            pool.install(|| rewind_models::with_model(name, &Ns2dPhysics::default(), n, build)).map_err(err)
        })?;
        Ok(Problem { name: name.name().into(), stop, inner: Mutex::new(inner), pool })
    }

    /// The model's name.
    #[getter]
    fn model(&self) -> String {
        self.name.clone()
    }

    /// What the objective is, in words.
    #[getter]
    fn about(&self) -> String {
        self.lock().about().to_string()
    }

    /// Time steps of the run.
    #[getter]
    fn steps(&self) -> usize {
        self.lock().steps()
    }

    /// The checkpoint schedule, as text (settable).
    #[getter]
    fn get_schedule(&self) -> String {
        self.lock().strategy().to_string()
    }

    #[setter]
    fn set_schedule(&mut self, schedule: &str) -> PyResult<()> {
        let s: Strategy = schedule.parse().map_err(|e: rewind_checkpoint::ScheduleError| {
            RewindError::new_err(format!("bad schedule {schedule:?}: {}", one_line(&e)))
        })?;
        self.lock().set_strategy(s).map_err(err)
    }

    /// The state's field and scalar names, in the order of a flat state.
    #[getter]
    fn state_names(&self) -> Vec<String> {
        let p = self.lock();
        let l = p.layout();
        l.fields().iter().chain(l.scalars()).cloned().collect()
    }

    /// The grid: `(nx, ny)`, or `(nx, ny, nz)` in 3D.
    #[getter]
    fn grid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let g = *self.lock().layout().grid();
        PyTuple::new(py, crate::grid_dims(&g))
    }

    /// The parameters and their values: `{name: array}`.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, v) in self.lock().param_set().entries() {
            d.set_item(name, array(py, v.values().to_vec()))?;
        }
        Ok(d)
    }

    /// The default initial state (flat, in the order of `state_names`).
    #[getter]
    fn x0<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array(py, self.lock().x0().to_vec())
    }

    /// Where an optimisation starts (ns2d: at rest; the others: `x0`).
    #[getter]
    fn start<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array(py, self.lock().start().to_vec())
    }

    /// The initial state of the twin run that made the target.
    #[getter]
    fn truth<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array(py, self.lock().truth().to_vec())
    }

    /// The default direction `(v_x, v_p)` of the derivative checks.
    #[getter]
    fn direction<'py>(&self, py: Python<'py>) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let problem = self.lock();
        let (x, p) = problem.direction();
        (array(py, x.to_vec()), array(py, p.to_vec()))
    }

    /// Part `name` of a flat state `x`, shaped as the grid (a scalar as
    /// one value).
    fn part<'py>(&self, py: Python<'py>, x: PyReadonlyArrayDyn<'py, f64>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let x = values("x", &x, self.state_len())?;
        let p = self.lock();
        let l = p.layout();
        let part = l.part(&x, name).map_err(err)?.to_vec();
        let a = array(py, part);
        if l.scalars().iter().any(|s| s == name) {
            return Ok(a.into_any());
        }
        let g = l.grid();
        let shape = crate::field_shape(g);
        Ok(a.reshape(shape)?.into_any())
    }

    /// The objective at `x0` (flat state).
    fn value(&mut self, py: Python<'_>, x0: PyReadonlyArrayDyn<'_, f64>) -> PyResult<f64> {
        let x0 = values("x0", &x0, self.state_len())?;
        self.compute(py, |p| p.value(&x0))
    }

    /// The gradient at `x0` under the schedule: a dict with `objective`,
    /// `x0` (∂J/∂x₀, flat), `params` (∂J/∂p, flat), the same by name —
    /// `state` (each field shaped as the grid) and `param` — `final_state`
    /// and `counters`.
    fn gradient<'py>(&mut self, py: Python<'py>, x0: PyReadonlyArrayDyn<'py, f64>) -> PyResult<Bound<'py, PyDict>> {
        let x0 = values("x0", &x0, self.state_len())?;
        let g = self.compute(py, |p| p.gradient(&x0))?;
        let d = PyDict::new(py);
        {
            let p = self.lock();
            d.set_item("state", state_parts(py, p.layout(), &g.x0)?)?;
            d.set_item("param", param_parts(py, p.param_set(), &g.params)?)?;
        }
        d.set_item("objective", g.objective)?;
        d.set_item("counters", counters(py, &g.counters)?)?;
        d.set_item("x0", array(py, g.x0))?;
        d.set_item("params", array(py, g.params))?;
        d.set_item("final_state", array(py, g.final_state))?;
        Ok(d)
    }

    /// The shortest of `repeats` gradient calls at `x0` timed inside Rust,
    /// in seconds (no conversion of arrays or results): what a call from
    /// Python costs beyond it is the binding's overhead
    /// (`python/examples/overhead.py`).
    fn _gradient_seconds(&mut self, py: Python<'_>, x0: PyReadonlyArrayDyn<'_, f64>, repeats: usize) -> PyResult<f64> {
        let x0 = values("x0", &x0, self.state_len())?;
        self.compute(py, |p| {
            let mut best = f64::INFINITY;
            for _ in 0..repeats.max(1) {
                let t = std::time::Instant::now();
                std::hint::black_box(p.gradient(&x0)?);
                best = best.min(t.elapsed().as_secs_f64());
            }
            Ok::<f64, SimError>(best)
        })
    }

    /// The gradient and the Hessian-vector product `∇²J v` at `x0` for the
    /// direction `v = (v_x, v_p)` (`v_p` zero if not given), by
    /// forward-over-reverse through the same schedule: a dict with
    /// `objective`, `gradient_x0`, `gradient_params`, `x0` and `params`
    /// (the product's parts) and `counters`.
    #[pyo3(signature = (x0, v_x, v_p=None))]
    fn hvp<'py>(
        &mut self,
        py: Python<'py>,
        x0: PyReadonlyArrayDyn<'py, f64>,
        v_x: PyReadonlyArrayDyn<'py, f64>,
        v_p: Option<PyReadonlyArrayDyn<'py, f64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let [x0, v_x, v_p] = self.point_and_direction(&x0, &v_x, v_p.as_ref())?;
        let h = self.compute(py, |p| p.hvp(&x0, &v_x, &v_p))?;
        let d = PyDict::new(py);
        d.set_item("objective", h.gradient.objective)?;
        d.set_item("counters", counters(py, &h.gradient.counters)?)?;
        d.set_item("gradient_x0", array(py, h.gradient.x0))?;
        d.set_item("gradient_params", array(py, h.gradient.params))?;
        d.set_item("x0", array(py, h.x0))?;
        d.set_item("params", array(py, h.params))?;
        Ok(d)
    }

    /// The Gauss–Newton product `G v` at `x0` (the linearisation kept from
    /// the last call at the same point is reused): a dict with `x0` and
    /// `params` (the product's parts), `tangent_steps` and `counters`.
    #[pyo3(signature = (x0, v_x, v_p=None))]
    fn gauss_newton<'py>(
        &mut self,
        py: Python<'py>,
        x0: PyReadonlyArrayDyn<'py, f64>,
        v_x: PyReadonlyArrayDyn<'py, f64>,
        v_p: Option<PyReadonlyArrayDyn<'py, f64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let [x0, v_x, v_p] = self.point_and_direction(&x0, &v_x, v_p.as_ref())?;
        let g = self.compute(py, |p| p.gauss_newton(&x0, &v_x, &v_p))?;
        let d = PyDict::new(py);
        d.set_item("counters", counters(py, &g.counters)?)?;
        d.set_item("tangent_steps", g.tangent_steps)?;
        d.set_item("x0", array(py, g.x0))?;
        d.set_item("params", array(py, g.params))?;
        Ok(d)
    }

    /// Minimises the objective from `x0` (default: `start`, where the
    /// problem's optimisation starts) by `method` — `"lbfgs"`,
    /// `"newton-cg"` (exact HVPs) or `"gauss-newton"` (Newton-CG on
    /// Gauss–Newton products) — until `‖∇J‖ ≤ grad_tol` or `max_iter`
    /// iterations: a dict with `x`, `objective`, `gradient_norm`,
    /// `iterations`, `termination` (`converged`, `max-iterations` or
    /// `stalled`), `evaluations` (`values`, `gradients`, `products`) and
    /// `history` (one `(iteration, J, ‖∇J‖)` an iteration, the start first).
    #[pyo3(signature = (x0=None, method="lbfgs", max_iter=100, grad_tol=1e-8))]
    fn minimize<'py>(
        &mut self,
        py: Python<'py>,
        x0: Option<PyReadonlyArrayDyn<'py, f64>>,
        method: &str,
        max_iter: usize,
        grad_tol: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let method: Method = method.parse().map_err(err)?;
        let x0 = match x0 {
            Some(a) => values("x0", &a, self.state_len())?,
            None => self.lock().start().to_vec(),
        };
        let opts = rewind_optim::Options { grad_tol, max_iter };
        let r = self.compute(py, |p| p.minimize(&x0, method, &opts))?;
        let d = PyDict::new(py);
        d.set_item("objective", r.state.f)?;
        d.set_item("gradient_norm", r.history.last().map_or(f64::NAN, |h| h.grad_norm))?;
        d.set_item("iterations", r.state.iter)?;
        let termination = match r.termination {
            rewind_optim::Termination::Converged => "converged",
            rewind_optim::Termination::MaxIterations => "max-iterations",
            rewind_optim::Termination::Stalled => "stalled",
        };
        d.set_item("termination", termination)?;
        let e = PyDict::new(py);
        e.set_item("values", r.counts.f)?;
        e.set_item("gradients", r.counts.grad)?;
        e.set_item("products", r.counts.hvp)?;
        d.set_item("evaluations", e)?;
        d.set_item("history", r.history.iter().map(|h| (h.iter, h.f, h.grad_norm)).collect::<Vec<_>>())?;
        d.set_item("x", array(py, r.state.x))?;
        Ok(d)
    }

    /// Incremental 4D-Var: the analysis minimising `½‖x₀ − x_b‖²_{B⁻¹} +
    /// J(x₀)`, the problem's objective as the observation term, from the
    /// background `background` (default: `start`) with a spectral
    /// covariance `B` of every field (`kind` `"gaussian"` or `"matern:NU"`,
    /// correlation `length`, `variance`), by Gauss–Newton outer iterations
    /// with CG inner loops in the control variable: a dict with `x`
    /// (the analysis), `objective`, `misfit`, `outer` (one `(J, J_o,
    /// ‖∇J‖, CG iterations, seconds)` a linearisation), `gradients`,
    /// `products` and `seconds`.
    #[pyo3(signature = (background=None, length=0.5, variance=1.0, kind="gaussian", outer=10, inner=30, inner_tol=1e-3, tol=1e-6))]
    #[allow(clippy::too_many_arguments)]
    fn four_d_var<'py>(
        &mut self,
        py: Python<'py>,
        background: Option<PyReadonlyArrayDyn<'py, f64>>,
        length: f64,
        variance: f64,
        kind: &str,
        outer: usize,
        inner: usize,
        inner_tol: f64,
        tol: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let xb = match background {
            Some(a) => values("background", &a, self.state_len())?,
            None => self.lock().start().to_vec(),
        };
        let kind = match kind.split_once(':') {
            None if kind == "gaussian" => rewind_field::CorrelationKind::Gaussian,
            Some(("matern", nu)) => rewind_field::CorrelationKind::Matern {
                nu: nu.parse().map_err(|_| RewindError::new_err(format!("kind {kind:?}: matern:NU, NU a number")))?,
            },
            _ => return Err(RewindError::new_err(format!("kind {kind:?}: \"gaussian\" or \"matern:NU\""))),
        };
        let grid = *self.lock().layout().grid();
        let mut b = rewind_field::Correlation::new(grid, kind, length, variance).map_err(err)?;
        let settings = rewind_sim::Incremental { outer, inner, inner_tol, tol, ..Default::default() };
        let a = self.compute(py, |p| p.four_d_var(&xb, &mut b, settings))?;
        let d = PyDict::new(py);
        d.set_item("objective", a.objective)?;
        d.set_item("misfit", a.misfit)?;
        let steps: Vec<_> =
            a.outer.iter().map(|o| (o.objective, o.misfit, o.grad_norm, o.cg_iterations, o.seconds)).collect();
        d.set_item("outer", steps)?;
        d.set_item("gradients", a.gradients)?;
        d.set_item("products", a.products)?;
        d.set_item("seconds", a.seconds)?;
        d.set_item("x", array(py, a.x0))?;
        Ok(d)
    }

    /// The gradient and the HVP against central differences along the
    /// default direction, with relative steps `fd_step × {10, 1, 0.1}`:
    /// `(gradient_error, hvp_error, report)`, the errors relative, the
    /// report the command line's table.
    #[pyo3(signature = (fd_step=1e-4))]
    fn check(&mut self, py: Python<'_>, fd_step: f64) -> PyResult<(f64, f64, String)> {
        if !(fd_step.is_finite() && fd_step > 0.0) {
            return Err(RewindError::new_err(format!("fd_step = {fd_step}: must be a positive number")));
        }
        let c = self.compute(py, |p| p.check(fd_step))?;
        Ok((c.gradient_error(), c.hvp_error(), c.to_string()))
    }

    fn __repr__(&self) -> String {
        let p = self.lock();
        let grid: Vec<String> = crate::grid_dims(p.layout().grid()).iter().map(|n| n.to_string()).collect();
        format!(
            "rewind.Problem({:?}, grid {}, steps={}, schedule={:?})",
            self.name,
            grid.join("x"),
            p.steps(),
            p.strategy().to_string()
        )
    }
}
