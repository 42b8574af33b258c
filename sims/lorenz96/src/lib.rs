//! # rewind-lorenz96: a chaotic model for data assimilation
//!
//! `dxᵢ/dt = (xᵢ₊₁ − xᵢ₋₂) xᵢ₋₁ − xᵢ + F` on a ring of `N = 40` variables
//! with `F = 8` (chaotic), advanced by classic RK4, written twice on
//! purpose: [`stepper`] differentiates the step with the scalar tape
//! ([`TapedStepper`](rewind_checkpoint::TapedStepper)), which suits a
//! state of 40 numbers; [`field_stepper`] writes it on the field tape like
//! every other simulation (the ring is a periodic 1D field and the index
//! shifts are periodic rolls). Both give the same gradients and HVPs under
//! every schedule (tested), and `F` is a differentiable parameter of both.
//!
//! **Gradients grow exponentially with the horizon.** In the chaotic
//! regime nearby trajectories separate like `e^{λt}` with the leading
//! Lyapunov exponent `λ ≈ 1.7` (for `N = 40`, `F = 8`; the finite-time rate
//! measured between 4 and 8 time units is 1.95), and so does the
//! gradient of a terminal misfit with respect to the initial state: the
//! gradients are exact, but beyond a few time units they describe a
//! landscape too rough to optimise, which is why 4D-Var uses windows of
//! limited length. `cargo run --release -p rewind-examples --example
//! lorenz96_growth` prints the measured growth (README).

#![forbid(unsafe_code)]

use rewind_checkpoint::{LossFn, StepFn, TapedObjective, TapedStepper};
use rewind_field::{Components, Field, FieldError, Grid, Par, Scalar};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, Sim, SimError, State, StepAt};
use rewind_tape::Real;

/// The Lorenz-96 right-hand side and its RK4 step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lorenz96 {
    /// Number of variables (at least 4).
    pub n: usize,
    /// Time step.
    pub dt: f64,
}

impl Default for Lorenz96 {
    /// `N = 40`, `dt = 0.01`.
    fn default() -> Self {
        Lorenz96 { n: 40, dt: 0.01 }
    }
}

fn rhs<T: Real>(x: &[T], f: T, out: &mut [T]) {
    let n = x.len();
    for i in 0..n {
        let (ip, im, imm) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
        out[i] = (x[ip] - x[imm]) * x[im] - x[i] + f;
    }
}

impl StepFn for Lorenz96 {
    fn state_len(&self) -> usize {
        self.n
    }

    /// One RK4 step with forcing `p[0] = F`.
    fn step<T: Real>(&self, _t: usize, x: &[T], p: &[T], out: &mut [T]) {
        let (n, h, f) = (self.n, self.dt, p[0]);
        let mut k = [vec![T::zero(); n], vec![T::zero(); n], vec![T::zero(); n], vec![T::zero(); n]];
        let mut y = vec![T::zero(); n];
        rhs(x, f, &mut k[0]);
        for (stage, c) in [(1, 0.5), (2, 0.5), (3, 1.0)] {
            for i in 0..n {
                y[i] = x[i] + k[stage - 1][i] * (h * c);
            }
            rhs(&y, f, &mut k[stage]);
        }
        for i in 0..n {
            out[i] = x[i] + (k[0][i] + k[1][i] * 2.0 + k[2][i] * 2.0 + k[3][i]) * (h / 6.0);
        }
    }
}

/// A stepper over scalars `T` with forcing `F`.
pub fn stepper<T: Real>(model: Lorenz96, forcing: f64) -> TapedStepper<Lorenz96, T> {
    TapedStepper::new(model, vec![forcing])
}

/// Observations of every other variable at the end of the window:
/// `J = ½ Σ_{i even} (xᵢ(T) − yᵢ)²`.
#[derive(Debug, Clone)]
pub struct EndObservations {
    /// The observed values (one per variable; odd ones unused).
    pub y: Vec<f64>,
}

impl LossFn for EndObservations {
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T> {
        (t == n).then(|| x.iter().zip(&self.y).step_by(2).map(|(&xi, &yi)| (xi - yi) * (xi - yi)).sum::<T>() * 0.5)
    }
}

/// The objective over scalars `T`.
pub fn objective<T: Real>(y: Vec<f64>) -> TapedObjective<EndObservations, T> {
    TapedObjective::new(EndObservations { y })
}

/// A point on the attractor: `F = 8` from a perturbed rest state, spun up
/// for `spin_up` steps.
pub fn on_attractor(model: Lorenz96, spin_up: usize) -> Vec<f64> {
    let mut x: Vec<f64> = (0..model.n).map(|i| 8.0 + if i == 0 { 0.01 } else { 0.0 }).collect();
    let mut next = x.clone();
    for t in 0..spin_up {
        model.step(t, &x, &[8.0], &mut next);
        std::mem::swap(&mut x, &mut next);
    }
    x
}

/// Errors of the field-tape stepper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Lorenz96Error {
    /// Bad parameters.
    #[error("invalid parameter {0}")]
    Param(&'static str),
    /// A field error.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A simulation error.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Lorenz-96 on the field tape: the ring `x₀ … x_{N−1}` is a periodic
/// line of `N` points and `xᵢ₊₁`, `xᵢ₋₁`, `xᵢ₋₂` are periodic rolls of it.
#[derive(Debug, Clone)]
pub struct Lorenz96Field {
    model: Lorenz96,
    forcing: f64,
    grid: Grid,
}

impl Lorenz96Field {
    /// The model with forcing `F`.
    pub fn new(model: Lorenz96, forcing: f64) -> Result<Self, Lorenz96Error> {
        if model.n < 4 {
            return Err(Lorenz96Error::Param("n: need at least 4 variables"));
        }
        if !(model.dt.is_finite() && model.dt > 0.0) {
            return Err(Lorenz96Error::Param("dt: must be positive and finite"));
        }
        if !forcing.is_finite() {
            return Err(Lorenz96Error::Param("forcing: must be finite"));
        }
        Ok(Lorenz96Field { model, forcing, grid: Grid::line(model.n, model.n as f64)? })
    }
}

/// `(xᵢ₊₁ − xᵢ₋₂) xᵢ₋₁ − xᵢ + F` (the roll `shift(d, 0)` gives `xᵢ₋d`).
fn field_rhs<'id, T: Components>(x: Field<'id, T>, f: Scalar<'id, T>) -> Field<'id, T> {
    (x.shift(-1, 0) - x.shift(2, 0)) * x.shift(1, 0) - x + f
}

impl Model for Lorenz96Field {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("x")
    }

    /// `F`.
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("forcing", self.forcing)
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (c, p) = (at.ctx(), at.params());
        let f = p.scalar("forcing")?;
        Integrator::Rk4
            .step(c, x, self.model.dt, |s| Ok::<_, SimError>(State::from([field_rhs(s.split::<1>()?[0], f)])))
    }
}

/// A field-tape stepper over scalars `T` with forcing `F` (parameter
/// `forcing`), its kernels run with `par`.
pub fn field_stepper<T: Components>(
    model: Lorenz96,
    forcing: f64,
    par: Par,
) -> Result<Sim<Lorenz96Field, T>, Lorenz96Error> {
    Ok(Sim::new(Lorenz96Field::new(model, forcing)?, par)?)
}
