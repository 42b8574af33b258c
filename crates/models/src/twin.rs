//! How a model's twin experiment is made ([`Twin`]): the truth it starts
//! from — another initial state, or for a model whose unknown is its
//! medium, other parameter values run by [`Reparam`] — the default
//! direction, where an optimisation starts; and the registry's models with
//! their twins ([`with_model`]).

use rewind_field::Grid;
use rewind_sim::{Layout, Model, ParamSet, SimError};

use crate::{ModelName, ModelsError, Ns2dPhysics};

/// A deterministic direction moving each value by about 1 % of the
/// largest magnitude in `x` (or by 0.01 where `x` is all zero).
pub(crate) fn direction(x: &[f64], phase: f64) -> Vec<f64> {
    let s = x.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let s = if s > 0.0 { s } else { 1.0 };
    (0..x.len()).map(|k| 0.01 * s * (1.3 * k as f64 + phase).sin()).collect()
}

/// How a model's twin experiment is made.
#[derive(Debug, Clone)]
pub struct Twin {
    /// The objective, in words.
    pub(crate) about: String,
    /// The default initial state.
    pub(crate) x0: Vec<f64>,
    /// The truth, `x̂₀` (default: [`Twin::truth`]).
    pub(crate) truth: Option<Vec<f64>>,
    /// The truth's parameters, if they are not the model's own.
    pub(crate) truth_params: Option<ParamSet>,
    /// Where an optimisation starts (default: `x₀`; ns2d: at rest).
    pub(crate) start: Option<Vec<f64>>,
    /// The state part of the direction (default: 1 % of the largest value).
    pub(crate) v_x: Option<Vec<f64>>,
    /// Whether the direction moves the parameters too (by 1 % each).
    pub(crate) move_params: bool,
    /// The misfit's weight (a cell's area or length).
    pub(crate) area: f64,
    /// The time step.
    pub(crate) dt: f64,
}

impl Twin {
    /// The twin experiment of a model from `x0`, a cell's area (the
    /// misfit's weight) and the time step: the truth is `x0` shifted
    /// ([`Twin::truth`]), the direction moves every value and parameter by
    /// about 1 %, an optimisation starts at `x0`.
    pub fn new(x0: Vec<f64>, area: f64, dt: f64) -> Self {
        Twin {
            about: String::new(),
            x0,
            truth: None,
            truth_params: None,
            start: None,
            v_x: None,
            move_params: true,
            area,
            dt,
        }
    }
    /// The twin made from `truth` instead of the shifted `x0`.
    pub fn with_truth(mut self, truth: Vec<f64>) -> Self {
        self.truth = Some(truth);
        self
    }
    /// Whether the truth differs in the model's parameters (a medium), not
    /// in its initial state alone: what recovering an initial state cannot
    /// explain.
    pub fn truth_in_parameters(&self) -> bool {
        self.truth_params.is_some()
    }
    /// The default initial state.
    pub fn x0(&self) -> &[f64] {
        &self.x0
    }
    /// The time step.
    pub fn dt(&self) -> f64 {
        self.dt
    }
    /// The truth `x̂₀` of a model of state `layout`: by default `x₀`
    /// plus a smooth, domain-scale shift of each field by 5 % of the
    /// field's largest value (one wave across the domain, a phase of its
    /// own per field) and of each scalar by 5 %.
    pub fn truth(&self, layout: &Layout) -> Vec<f64> {
        if let Some(t) = &self.truth {
            return t.clone();
        }
        let g = layout.grid();
        let (lx, ly) = (g.nx as f64 * g.dx, g.ny as f64 * g.dy);
        let tau = 2.0 * std::f64::consts::PI;
        let mut x = self.x0.clone();
        for (k, f) in layout.fields().iter().chain(layout.scalars()).enumerate() {
            let Ok(r) = layout.range(f) else { continue };
            let part = &mut x[r];
            let s = part.iter().fold(0.0f64, |m, a| m.max(a.abs()));
            let s = if s > 0.0 { s } else { 1.0 };
            if part.len() == 1 {
                part[0] += 0.05 * s;
                continue;
            }
            let phase = 0.7 * k as f64;
            let wave = g.sample(|x, y| (tau * x / lx + phase).sin() * (tau * y / ly - phase).cos());
            part.iter_mut().zip(wave).for_each(|(a, w)| *a += 0.05 * s * w);
        }
        x
    }
    /// The model the truth runs: `model`, with the truth's parameters if
    /// they differ from its own (a twin whose truth is another medium, not
    /// another initial state); they must be the same parameters.
    pub(crate) fn truth_model<M: Model + Clone>(&self, model: M) -> Result<Reparam<M>, SimError> {
        let own = model.params();
        let params = match &self.truth_params {
            None => own,
            Some(p) => {
                let shape = |s: &ParamSet| -> Vec<(String, bool, usize)> {
                    s.entries().iter().map(|(n, v)| (n.clone(), v.is_field(), v.values().len())).collect()
                };
                if shape(p) != shape(&own) {
                    return Err(SimError::Settings(format!(
                        "the truth's parameters [{}] are not the model's [{}]",
                        p.names().join(", "),
                        own.names().join(", ")
                    )));
                }
                p.clone()
            }
        };
        Ok(Reparam { model, params })
    }
    /// [`Twin::truth`], after checking that `x0` and a given truth are
    /// states of `layout`.
    pub(crate) fn checked_truth(&self, layout: &Layout) -> Result<Vec<f64>, SimError> {
        for (what, len) in [("initial state", Some(self.x0.len())), ("truth", self.truth.as_ref().map(Vec::len))] {
            if let Some(len) = len.filter(|&l| l != layout.len()) {
                let want = layout.len();
                return Err(SimError::Layout(format!("the {what} has {len} values; the model's state has {want}")));
            }
        }
        Ok(self.truth(layout))
    }
    /// Where an optimisation starts.
    pub fn start(&self) -> Vec<f64> {
        self.start.clone().unwrap_or_else(|| self.x0.clone())
    }
    /// A grid cell's area (or length, in 1D).
    pub fn cell(&self) -> f64 {
        self.area
    }
}

/// Something done with a model, whatever its type.
pub trait WithModel {
    /// What it gives.
    type Out;
    /// Its error (a setup error of the model converts into it).
    type Error: From<ModelsError>;
    /// Does it with `model` and its twin experiment.
    fn run<M: Model + Clone + Send + 'static>(self, model: M, twin: Twin) -> Result<Self::Out, Self::Error>;
}

/// The model `name` at grid size `n` (ns2d: with the physics `ns2d`) and
/// the twin experiment that goes with it, handed to `f`.
pub fn with_model<F: WithModel>(name: ModelName, ns2d: &Ns2dPhysics, n: usize, f: F) -> Result<F::Out, F::Error> {
    let cell = |g: &Grid| g.dx * g.dy;
    // scaled so that the model's default stability margin holds at n
    let finer = |n0: usize, p: i32| (n0 as f64 / n as f64).powi(p).min(1.0);
    let setup = |e: Box<dyn std::error::Error + Send + Sync>| {
        F::Error::from(ModelsError::Setup { model: name.name(), source: e })
    };
    match name {
        ModelName::Ns2d => {
            use rewind_ns2d::spec;
            let p = ns2d.params(n);
            let dt = p.dt;
            let m = rewind_ns2d::Ns2d::new(p).map_err(|e| setup(e.into()))?;
            let mut t = Twin::new(spec::field_a(n), cell(m.grid()), dt);
            t.about = "the ns2d-periodic objective J = ½ h² Σ (Φ(ω₀) − Φ(ω_B))² at ω₀ = field A, \
                       direction v = sin(x + 2y) (docs/specs/ns2d-periodic.md)"
                .into();
            t.truth = Some(spec::field_b(n));
            t.start = Some(vec![0.0; n * n]);
            t.v_x = Some(spec::direction_v(n));
            t.move_params = false;
            f.run(m, t)
        }
        ModelName::Burgers => {
            let dt = 0.01 * finer(128, 2);
            let m = rewind_burgers::Burgers::new(rewind_burgers::Params { n, dt, ..Default::default() })
                .map_err(|e| setup(e.into()))?;
            let t = Twin::new(m.initial(), m.grid().dx, dt);
            f.run(m, t)
        }
        ModelName::Cavity => {
            let dt = rewind_cavity::Params::stable_dt(n, 100.0, 1.0);
            let m = rewind_cavity::CavityStep::new(rewind_cavity::Params { n, reynolds: 100.0, lid: 1.0, dt })
                .map_err(|e| setup(e.into()))?;
            let g = *m.grid();
            let t = Twin::new(g.sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin()), cell(&g), dt);
            f.run(m, t)
        }
        ModelName::Lorenz96 => {
            let l = rewind_lorenz96::Lorenz96 { n, ..Default::default() };
            let m = rewind_lorenz96::Lorenz96Field::new(l, 8.0).map_err(|e| setup(e.into()))?;
            let t = Twin::new(rewind_lorenz96::on_attractor(l, 500), 1.0, l.dt);
            f.run(m, t)
        }
        ModelName::ShallowWater => {
            let dt = 0.05 * finer(32, 1);
            let m =
                rewind_shallow_water::ShallowWater::new(rewind_shallow_water::Config { n, dt, ..Default::default() })
                    .map_err(|e| setup(e.into()))?;
            let t = Twin::new(m.bump(0.1).map_err(|e| setup(e.into()))?, cell(m.grid()), dt);
            f.run(m, t)
        }
        ModelName::GrayScott => {
            let m = rewind_gray_scott::GrayScott::new(rewind_gray_scott::Config { n, ..Default::default() })
                .map_err(|e| setup(e.into()))?;
            let dt = m.config().dt;
            let t = Twin::new(m.initial().map_err(|e| setup(e.into()))?, cell(m.grid()), dt);
            f.run(m, t)
        }
        ModelName::Acoustic => {
            let h = 10.0;
            let mid = h * (n / 2) as f64;
            // a sponge of up to 6 points, a fifth of the side on small grids
            let config = rewind_acoustic::Config {
                n: [n; 3],
                h,
                sponge: (n / 5).min(6),
                source: [mid; 3],
                ..Default::default()
            };
            let m = rewind_acoustic::Acoustic::new(config).map_err(|e| setup(e.into()))?;
            let (g, c0) = (*m.grid(), m.config().velocity);
            // the truth: a sphere 10 % faster, of radius n/8, centred n/4
            // below the source
            let (centre, radius) = ([mid, mid, mid + h * (n / 4) as f64], h * n as f64 / 8.0);
            let mut velocity = vec![c0; g.len()];
            for i in 0..g.nx {
                for j in 0..g.ny {
                    for k in 0..g.nz {
                        let p = [i as f64 * g.dx, j as f64 * g.dy, k as f64 * g.dz];
                        let d2: f64 = p.iter().zip(centre).map(|(a, b)| (a - b) * (a - b)).sum();
                        if d2 <= radius * radius {
                            velocity[g.idx3(i, j, k)] = 1.1 * c0;
                        }
                    }
                }
            }
            let truth_m = rewind_acoustic::Acoustic::slowness_squared(&velocity);
            let mut t = Twin::new(m.at_rest(), g.dx * g.dy * g.dz, m.config().dt);
            t.about = "the terminal misfit ½ h³ ‖xₙ − x̂ₙ‖² of the wavefield (u and u_prev) of a Ricker source at the \
                       centre, from rest, to the wavefield through a medium with a sphere 10 % faster below the source"
                .into();
            t.truth = Some(m.at_rest());
            t.truth_params = Some(ParamSet::new().field("m", truth_m));
            f.run(m, t)
        }
    }
}

/// `model` with other parameter values: the model a twin's truth runs when
/// its truth is another medium ([`Twin::truth_model`]).
#[derive(Debug, Clone)]
pub(crate) struct Reparam<M> {
    model: M,
    params: ParamSet,
}

impl<M: Model> Model for Reparam<M> {
    fn layout(&self) -> Layout {
        self.model.layout()
    }
    fn params(&self) -> ParamSet {
        self.params.clone()
    }
    fn sparse(&self) -> Result<Option<rewind_field::SparseSpd>, SimError> {
        self.model.sparse()
    }
    fn fixed(&self) -> impl Iterator<Item = &[f64]> {
        self.model.fixed()
    }
    fn step<'id, T: rewind_sim::Number>(
        &self,
        at: &rewind_sim::StepAt<'_, 'id, T>,
        x: &rewind_sim::State<'id, T>,
    ) -> Result<rewind_sim::State<'id, T>, SimError> {
        self.model.step(at, x)
    }
}
