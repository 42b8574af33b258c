//! The ready loss terms: a terminal misfit, observations at chosen steps
//! and points, a background (prior) term. Every term is
//! `½ w × (a squared distance)`, its weight `w` set by `.weight(w)`
//! (a cell area, a scaling) and 1 by default.

use rewind_field::{Components, Field, Scalar};

use super::{Loss, LossAt};
use crate::model::Handle;
use crate::{Layout, Number, ParamSet, SimError};

/// `J = ½ w Σ (xₙ − target)²` at the final state: over the whole state
/// ([`Terminal::state`], the target flat in the layout's order) or over
/// one of its parts ([`Terminal::of`]). Terms of several parts with their
/// own weights add with `+`.
#[derive(Debug, Clone)]
pub struct Terminal {
    part: Option<String>,
    target: Vec<f64>,
    weight: f64,
}

impl Terminal {
    /// A misfit of the whole final state to `target`.
    pub fn state(target: Vec<f64>) -> Self {
        Terminal { part: None, target, weight: 1.0 }
    }
    /// A misfit of the final state's part `name` (a field or a scalar) to
    /// `target`.
    pub fn of(name: &str, target: Vec<f64>) -> Self {
        Terminal { part: Some(name.to_string()), target, weight: 1.0 }
    }
    /// The weight `w` (a cell area `h²`, say).
    pub fn weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }
    /// The target.
    pub fn target(&self) -> &[f64] {
        &self.target
    }
}

impl Loss for Terminal {
    fn at(&self, t: usize, n: usize) -> bool {
        t == n
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        let j = match &self.part {
            Some(name) => part_misfit(at, name, &self.target)?,
            None => {
                let x = at.state();
                let n = at.ctx().grid().len();
                let mut j = at.zero();
                for (k, f) in x.fields().iter().enumerate() {
                    j = j + f.misfit(&self.target[k * n..(k + 1) * n])?;
                }
                for (k, &s) in x.scalars().iter().enumerate() {
                    let d = s - self.target[x.fields().len() * n + k];
                    j = j + d * d;
                }
                j
            }
        };
        Ok(j * (0.5 * self.weight))
    }
    fn check(&self, layout: &Layout, _params: &ParamSet, _steps: usize) -> Result<(), SimError> {
        check_weight("terminal misfit", self.weight)?;
        let (what, len) = match &self.part {
            Some(name) => (format!("terminal target of `{name}`"), layout.range(name)?.len()),
            None => ("terminal target".to_string(), layout.len()),
        };
        check_values(&what, &self.target, len)
    }
}

/// `J = ½ (w / σ²) Σₜ Σₖ (xₜ(pₖ) − yₜₖ)²`: observations `yₜ` of the
/// state's part `name` after chosen steps `t`, at the points `pₖ` — grid
/// points (linear indices into the field), positions between them (read
/// by n-linear interpolation, [`rewind_field::Points`]: receivers), or
/// every point by default — or of a scalar part, with noise standard
/// deviation `σ` (1 by default).
#[derive(Debug, Clone)]
pub struct Observations {
    part: String,
    points: Option<Vec<usize>>,
    positions: Option<Vec<[f64; 3]>>,
    /// The positions' interpolation, made once when the term is checked
    /// against the model (not at every step).
    located: std::sync::OnceLock<rewind_field::Points>,
    data: Vec<(usize, Vec<f64>)>,
    sigma: f64,
    weight: f64,
}

impl Observations {
    /// Observations of the state's part `name`, none yet.
    pub fn of(name: &str) -> Self {
        Observations {
            part: name.to_string(),
            points: None,
            positions: None,
            located: std::sync::OnceLock::new(),
            data: Vec::new(),
            sigma: 1.0,
            weight: 1.0,
        }
    }
    /// The observed points (linear indices into the field), the same at
    /// every step; every point if neither these nor
    /// [`positions`](Self::positions) are given.
    pub fn points(mut self, points: Vec<usize>) -> Self {
        self.points = Some(points);
        self
    }
    /// The observed positions `(x, y, z)` in the grid's physical
    /// coordinates (as [`rewind_field::Points::new`] takes them), between
    /// grid points, the same at every step: the field is read there by
    /// n-linear interpolation, whose adjoint injects the residuals.
    pub fn positions(mut self, positions: Vec<[f64; 3]>) -> Self {
        self.positions = Some(positions);
        self.located = std::sync::OnceLock::new();
        self
    }
    /// Adds the observed values after `step` steps (one per point).
    pub fn at(mut self, step: usize, values: Vec<f64>) -> Self {
        self.data.push((step, values));
        self
    }
    /// The noise standard deviation `σ`.
    pub fn sigma(mut self, sigma: f64) -> Self {
        self.sigma = sigma;
        self
    }
    /// The weight `w`.
    pub fn weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }
    /// Synthetic observations for a twin experiment: the observed part of
    /// each state of `states` (flat, in `layout`'s order, after the steps
    /// `steps`, as [`states_at`](crate::states_at) gives them) at the
    /// observed points, plus Gaussian noise of this term's `σ` from
    /// `noise` (drawn step by step, point by point).
    pub fn noisy(
        mut self,
        layout: &Layout,
        steps: &[usize],
        states: &[Vec<f64>],
        noise: &mut crate::Noise,
    ) -> Result<Self, SimError> {
        if steps.len() != states.len() {
            return Err(SimError::Length {
                what: "states to observe".into(),
                expected: steps.len(),
                got: states.len(),
            });
        }
        self.observed_len(layout)?;
        let at = self.located_on(layout.grid())?;
        for (&t, x) in steps.iter().zip(states) {
            let part = layout.part(x, &self.part)?;
            let y: Vec<f64> = match (&self.points, &at) {
                (Some(points), _) => points.iter().map(|&k| part[k]).collect(),
                (_, Some(at)) => at.read(part)?,
                (None, None) => part.to_vec(),
            };
            self.data.push((t, y.iter().map(|v| v + self.sigma * noise.normal()).collect()));
        }
        Ok(self)
    }
    /// The positions' interpolation on `grid`, if positions are given.
    fn located_on(&self, grid: &rewind_field::Grid) -> Result<Option<rewind_field::Points>, SimError> {
        self.positions.as_ref().map(|p| self.locate(grid, p)).transpose()
    }
    /// The interpolation of `positions` on `grid`.
    fn locate(&self, grid: &rewind_field::Grid, positions: &[[f64; 3]]) -> Result<rewind_field::Points, SimError> {
        rewind_field::Points::new(grid, positions)
            .map_err(|e| SimError::Settings(format!("observations of `{}`: {e}", self.part)))
    }
    /// Values observed per step: the points' or the positions' count
    /// (checked against the part and the grid), or the whole part.
    fn observed_len(&self, layout: &Layout) -> Result<usize, SimError> {
        let name = &self.part;
        let part = layout.range(name)?.len();
        let count = match (&self.points, &self.positions) {
            (None, None) => return Ok(part),
            (Some(_), Some(_)) => {
                return Err(SimError::Settings(format!(
                    "observations of `{name}`: both grid points and positions; one or the other"
                )));
            }
            _ if !layout.fields().contains(name) => {
                return Err(SimError::Settings(format!("observations of `{name}`: points of a scalar part")));
            }
            (Some(points), None) => match points.iter().find(|&&i| i >= part) {
                Some(&bad) => {
                    return Err(SimError::Settings(format!(
                        "observations of `{name}`: point {bad} is outside the grid's {part} points"
                    )));
                }
                None => points.len(),
            },
            (None, Some(positions)) => {
                let p = self.locate(layout.grid(), positions)?;
                // kept for the steps (a clone made later keeps it too)
                let _ = self.located.set(p);
                positions.len()
            }
        };
        if count == 0 {
            return Err(SimError::Settings(format!("observations of `{name}`: no points")));
        }
        Ok(count)
    }
    /// The observed part's name.
    pub fn part(&self) -> &str {
        &self.part
    }
    /// The observed grid points (`None`: every point, or positions).
    pub fn observed_points(&self) -> Option<&[usize]> {
        self.points.as_deref()
    }
    /// The observed positions between grid points, if given.
    pub fn observed_positions(&self) -> Option<&[[f64; 3]]> {
        self.positions.as_deref()
    }
    /// The observations: `(step, values)`.
    pub fn data(&self) -> &[(usize, Vec<f64>)] {
        &self.data
    }
    /// The noise standard deviation `σ`.
    pub fn noise_sigma(&self) -> f64 {
        self.sigma
    }
    /// The number of observed values.
    pub fn count(&self) -> usize {
        self.data.iter().map(|(_, y)| y.len()).sum()
    }
}

impl Loss for Observations {
    fn at(&self, t: usize, _n: usize) -> bool {
        self.data.iter().any(|(s, _)| *s == t)
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        let mut j = at.zero();
        for (_, y) in self.data.iter().filter(|(s, _)| *s == at.t()) {
            j = j + match (&self.points, &self.positions) {
                (Some(points), _) => at.field(&self.part)?.sample(points)?.misfit(y)?,
                (_, Some(positions)) => {
                    let f = at.field(&self.part)?;
                    match self.located.get() {
                        Some(p) if p.grid() == f.grid() => f.interpolate(p)?,
                        _ => f.interpolate(&self.locate(f.grid(), positions)?)?,
                    }
                    .misfit(y)?
                }
                (None, None) => part_misfit(at, &self.part, y)?,
            };
        }
        Ok(j * (0.5 * self.weight / (self.sigma * self.sigma)))
    }
    fn check(&self, layout: &Layout, _params: &ParamSet, steps: usize) -> Result<(), SimError> {
        let name = &self.part;
        check_weight(&format!("observations of `{name}`"), self.weight)?;
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(SimError::Settings(format!("observations of `{name}`: σ = {} is not positive", self.sigma)));
        }
        let len = self.observed_len(layout)?;
        if self.data.is_empty() {
            return Err(SimError::Settings(format!("observations of `{name}`: none given")));
        }
        for (step, y) in &self.data {
            if *step > steps {
                return Err(SimError::Settings(format!(
                    "observations of `{name}` after step {step}, but the run has {steps} steps"
                )));
            }
            check_values(&format!("observations of `{name}` after step {step}"), y, len)?;
        }
        Ok(())
    }
}

/// A background (prior) covariance `B` of [`Background`].
#[derive(Debug, Clone, PartialEq)]
pub enum Covariance {
    /// `B = σ² I`.
    Sigma(f64),
    /// `B = diag(v)`: one variance per value.
    Variances(Vec<f64>),
    /// `B⁻¹ = −β Δ` with the 5-point Laplacian `Δ` (periodic), for a
    /// field: `½ β Σ |∇(v − v_b)|²` in the grid's differences, a
    /// smoothness penalty that leaves the mean free (an improper prior).
    Smoothness(f64),
}

/// What a [`Background`] term is about.
#[derive(Debug, Clone)]
enum Of {
    State(String),
    Param(String),
}

/// `J = ½ w (v − v_b)ᵀ B⁻¹ (v − v_b)` for `v` a part of the initial state
/// ([`Background::state`]) or a parameter ([`Background::param`]), with
/// background (prior mean) `v_b` and covariance `B` (`I` by default).
#[derive(Debug, Clone)]
pub struct Background {
    of: Of,
    mean: Vec<f64>,
    covariance: Covariance,
    weight: f64,
}

impl Background {
    /// A background `mean` for the initial state's part `name`.
    pub fn state(name: &str, mean: Vec<f64>) -> Self {
        Background { of: Of::State(name.to_string()), mean, covariance: Covariance::Sigma(1.0), weight: 1.0 }
    }
    /// A prior `mean` for the parameter `name`.
    pub fn param(name: &str, mean: Vec<f64>) -> Self {
        Background { of: Of::Param(name.to_string()), mean, covariance: Covariance::Sigma(1.0), weight: 1.0 }
    }
    /// The covariance `B`.
    pub fn covariance(mut self, b: Covariance) -> Self {
        self.covariance = b;
        self
    }
    /// The weight `w`.
    pub fn weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }
    fn name(&self) -> String {
        match &self.of {
            Of::State(n) => format!("background of `{n}`"),
            Of::Param(n) => format!("prior of parameter `{n}`"),
        }
    }
}

impl Loss for Background {
    fn at(&self, t: usize, _n: usize) -> bool {
        t == 0
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        let handle = match &self.of {
            Of::State(name) if at.layout.fields().contains(name) => Handle::Field(at.field(name)?),
            Of::State(name) => Handle::Scalar(at.scalar(name)?),
            Of::Param(name) => at.params().find(name)?,
        };
        let j = match (handle, &self.covariance) {
            (Handle::Field(f), Covariance::Sigma(s)) => f.misfit(&self.mean)? * (1.0 / (s * s)),
            (Handle::Scalar(v), Covariance::Sigma(s)) => scalar_misfit(v, &self.mean) * (1.0 / (s * s)),
            (Handle::Field(f), Covariance::Variances(var)) => {
                // Σ (v − m)² / σ² as ‖v/σ − m/σ‖²
                let inv: Vec<f64> = var.iter().map(|v| 1.0 / v.sqrt()).collect();
                let scaled: Vec<f64> = self.mean.iter().zip(&inv).map(|(m, i)| m * i).collect();
                f.mask(&inv)?.misfit(&scaled)?
            }
            (Handle::Scalar(v), Covariance::Variances(var)) => scalar_misfit(v, &self.mean) * (1.0 / var[0]),
            (Handle::Field(f), Covariance::Smoothness(beta)) => {
                let d = deviation(at, f, &self.mean)?;
                d.dot(d.laplacian()) * -*beta
            }
            (Handle::Scalar(_), Covariance::Smoothness(_)) => {
                return Err(SimError::Settings(format!("{}: a smoothness covariance needs a field", self.name())));
            }
        };
        Ok(j * (0.5 * self.weight))
    }
    fn check(&self, layout: &Layout, params: &ParamSet, _steps: usize) -> Result<(), SimError> {
        let what = self.name();
        check_weight(&what, self.weight)?;
        let (len, field) = match &self.of {
            Of::State(name) => (layout.range(name)?.len(), layout.fields().contains(name)),
            Of::Param(name) => {
                let r = params.range(name)?;
                (r.len(), params.get(name).is_some_and(|p| p.is_field()))
            }
        };
        check_values(&what, &self.mean, len)?;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        match &self.covariance {
            Covariance::Sigma(s) if !positive(*s) => {
                Err(SimError::Settings(format!("{what}: σ = {s} is not positive")))
            }
            Covariance::Variances(v) => {
                if v.len() != len {
                    return Err(SimError::Length { what: format!("{what}: variances"), expected: len, got: v.len() });
                }
                match v.iter().position(|&x| !positive(x)) {
                    Some(k) => Err(SimError::Settings(format!("{what}: variance {k} = {} is not positive", v[k]))),
                    None => Ok(()),
                }
            }
            Covariance::Smoothness(_) if !field => {
                Err(SimError::Settings(format!("{what}: a smoothness covariance needs a field")))
            }
            Covariance::Smoothness(b) if !positive(*b) => {
                Err(SimError::Settings(format!("{what}: β = {b} is not positive")))
            }
            _ => Ok(()),
        }
    }
}

/// `‖part − y‖²` for the state's part `name`, a field or a scalar.
fn part_misfit<'id, T: Components>(at: &LossAt<'_, 'id, T>, name: &str, y: &[f64]) -> Result<Scalar<'id, T>, SimError> {
    if at.layout.fields().iter().any(|f| f == name) {
        Ok(at.field(name)?.misfit(y)?)
    } else {
        Ok(scalar_misfit(at.scalar(name)?, y))
    }
}

fn scalar_misfit<'id, T: Components>(s: Scalar<'id, T>, y: &[f64]) -> Scalar<'id, T> {
    let d = s - y[0];
    d * d
}

/// `f − mean` (just `f` for a zero mean).
fn deviation<'id, T: Components>(
    at: &LossAt<'_, 'id, T>,
    f: Field<'id, T>,
    mean: &[f64],
) -> Result<Field<'id, T>, SimError> {
    if mean.iter().all(|&m| m == 0.0) {
        return Ok(f);
    }
    let m: Vec<T> = mean.iter().map(|&v| T::from_f64(v)).collect();
    Ok(f - at.ctx().input(&m)?)
}

fn check_weight(what: &str, w: f64) -> Result<(), SimError> {
    if w.is_finite() && w >= 0.0 {
        Ok(())
    } else {
        Err(SimError::Settings(format!("{what}: weight {w} is not a finite non-negative number")))
    }
}

fn check_values(what: &str, v: &[f64], len: usize) -> Result<(), SimError> {
    if v.len() != len {
        return Err(SimError::Length { what: what.to_string(), expected: len, got: v.len() });
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(SimError::NonFinite { what: what.to_string() });
    }
    Ok(())
}
