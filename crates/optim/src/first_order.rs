//! The gradient-descent family as update rules `x ← x + u(g)`.
//!
//! Each rule keeps its own state (velocities, moment estimates). The same
//! rule runs on full gradients ([`FirstOrder`], a [`Solver`]) or on
//! minibatch gradients ([`minimize_stochastic`]).

use crate::problem::{Counted, Problem, Stochastic};
use crate::solver::{Record, Report, Solver, State, Termination};
use crate::vector::norm;
use crate::{OptimError, problem::Counts};

/// An update rule of the gradient-descent family.
pub trait Update {
    /// Its name.
    fn name(&self) -> &'static str;
    /// `x ← x + u(g)`, updating the rule's state.
    fn update(&mut self, x: &mut [f64], g: &[f64]);
}

/// Plain gradient descent with a fixed learning rate (SGD on minibatches).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
}

impl Update for Sgd {
    fn name(&self) -> &'static str {
        "gradient descent"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        x.iter_mut().zip(g).for_each(|(x, g)| *x -= self.lr * g);
    }
}

/// Heavy-ball momentum: `v ← βv − lr g`, `x ← x + v`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Momentum {
    /// Learning rate.
    pub lr: f64,
    /// Momentum `β`.
    pub beta: f64,
    v: Vec<f64>,
}

impl Momentum {
    /// A rule with learning rate `lr` and momentum `beta`.
    pub fn new(lr: f64, beta: f64) -> Self {
        Momentum { lr, beta, v: Vec::new() }
    }
}

impl Update for Momentum {
    fn name(&self) -> &'static str {
        "momentum"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.v.resize(x.len(), 0.0);
        for ((x, v), g) in x.iter_mut().zip(&mut self.v).zip(g) {
            *v = self.beta * *v - self.lr * g;
            *x += *v;
        }
    }
}

/// Nesterov's accelerated gradient, in the look-ahead variable (the
/// gradient is taken at the iterate): `v ← βv − lr g`, `x ← x + βv − lr g`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Nesterov {
    /// Learning rate.
    pub lr: f64,
    /// Momentum `β`.
    pub beta: f64,
    v: Vec<f64>,
}

impl Nesterov {
    /// A rule with learning rate `lr` and momentum `beta`.
    pub fn new(lr: f64, beta: f64) -> Self {
        Nesterov { lr, beta, v: Vec::new() }
    }
}

impl Update for Nesterov {
    fn name(&self) -> &'static str {
        "Nesterov"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.v.resize(x.len(), 0.0);
        for ((x, v), g) in x.iter_mut().zip(&mut self.v).zip(g) {
            *v = self.beta * *v - self.lr * g;
            *x += self.beta * *v - self.lr * g;
        }
    }
}

/// Adagrad: per-coordinate steps `lr / √(Σ g² + ε)`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Adagrad {
    /// Learning rate.
    pub lr: f64,
    /// `ε`.
    pub eps: f64,
    sum: Vec<f64>,
}

impl Adagrad {
    /// A rule with learning rate `lr` (`ε = 1e-8`).
    pub fn new(lr: f64) -> Self {
        Adagrad { lr, eps: 1e-8, sum: Vec::new() }
    }
}

impl Update for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.sum.resize(x.len(), 0.0);
        for ((x, s), g) in x.iter_mut().zip(&mut self.sum).zip(g) {
            *s += g * g;
            *x -= self.lr * g / (*s + self.eps).sqrt();
        }
    }
}

/// RMSProp: steps `lr / √(E[g²] + ε)` with a decaying average.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RmsProp {
    /// Learning rate.
    pub lr: f64,
    /// Decay `ρ`.
    pub rho: f64,
    /// `ε`.
    pub eps: f64,
    avg: Vec<f64>,
}

impl RmsProp {
    /// A rule with learning rate `lr` (`ρ = 0.9`, `ε = 1e-8`).
    pub fn new(lr: f64) -> Self {
        RmsProp { lr, rho: 0.9, eps: 1e-8, avg: Vec::new() }
    }

    /// With a different `ε`. Near a minimum the step tends to
    /// `lr·g/√ε`: with a tiny `ε` RMSProp ends in a limit cycle of size
    /// `~lr` around the minimum; an `ε` with `lr/√ε` below `2/λ_max` makes it
    /// converge like gradient descent there.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl Update for RmsProp {
    fn name(&self) -> &'static str {
        "RMSProp"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.avg.resize(x.len(), 0.0);
        for ((x, a), g) in x.iter_mut().zip(&mut self.avg).zip(g) {
            *a = self.rho * *a + (1.0 - self.rho) * g * g;
            *x -= self.lr * g / (*a + self.eps).sqrt();
        }
    }
}

/// Adam with bias correction (Kingma & Ba).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay `β₁`.
    pub beta1: f64,
    /// Second-moment decay `β₂`.
    pub beta2: f64,
    /// `ε`.
    pub eps: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// A rule with learning rate `lr` (`β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`).
    pub fn new(lr: f64) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: Vec::new(), v: Vec::new(), t: 0 }
    }
}

impl Update for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }
    fn update(&mut self, x: &mut [f64], g: &[f64]) {
        self.m.resize(x.len(), 0.0);
        self.v.resize(x.len(), 0.0);
        self.t = self.t.saturating_add(1);
        let (c1, c2) = (1.0 - self.beta1.powi(self.t), 1.0 - self.beta2.powi(self.t));
        for (((x, m), v), g) in x.iter_mut().zip(&mut self.m).zip(&mut self.v).zip(g) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *x -= self.lr * (*m / c1) / ((*v / c2).sqrt() + self.eps);
        }
    }
}

/// A first-order rule on full gradients, as a [`Solver`].
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FirstOrder<U>(pub U);

impl<U: Update, P: Problem + ?Sized> Solver<P> for FirstOrder<U> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn next_iter(&mut self, p: &mut Counted<'_, P>, s: &mut State) -> Result<(), OptimError> {
        self.0.update(&mut s.x, &s.g);
        s.f = p.value_grad(&s.x, &mut s.g)?;
        Ok(())
    }
}

/// Minibatch training: `epochs` passes over the samples in shuffled
/// batches of `batch` (a fixed-seed shuffle, so runs are reproducible),
/// one update per batch. The history records the full objective after each
/// epoch.
pub fn minimize_stochastic<U: Update, P: Stochastic + ?Sized>(
    rule: &mut U,
    problem: &mut P,
    x0: &[f64],
    batch: usize,
    epochs: usize,
    seed: u64,
) -> Result<Report, OptimError> {
    let n = problem.samples();
    if batch == 0 || n == 0 {
        return Err(OptimError::Invalid { what: "batch", why: "batch size and sample count must be positive".into() });
    }
    let mut x = x0.to_vec();
    let mut g = vec![0.0; x.len()];
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut counts = Counts::default();
    let mut history = Vec::with_capacity(epochs + 1);
    let mut f = full_pass(problem, &x, &mut g, &mut counts, 0, &mut history)?;
    for epoch in 1..=epochs {
        for i in (1..n).rev() {
            // xorshift-style LCG step: a deterministic shuffle
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (rng >> 33) as usize % (i + 1));
        }
        for b in order.chunks(batch) {
            let fb = problem.batch_value_grad(&x, b, &mut g)?;
            counts.grad += 1;
            if !fb.is_finite() || g.iter().any(|v| !v.is_finite()) {
                return Err(OptimError::NonFinite { what: "minibatch loss or gradient" });
            }
            rule.update(&mut x, &g);
        }
        f = full_pass(problem, &x, &mut g, &mut counts, epoch, &mut history)?;
    }
    let state = State { x, f, g, iter: epochs, stalled: false };
    Ok(Report { method: rule.name(), state, termination: Termination::MaxIterations, counts, history })
}

/// The full objective and gradient, recorded in the history.
fn full_pass<P: Problem + ?Sized>(
    problem: &mut P,
    x: &[f64],
    g: &mut [f64],
    counts: &mut Counts,
    iter: usize,
    history: &mut Vec<Record>,
) -> Result<f64, OptimError> {
    let f = Counted::new(problem).value_grad(x, g)?;
    counts.grad += 1;
    history.push(Record { iter, f, grad_norm: norm(g), counts: *counts });
    Ok(f)
}

/// Gradient descent with an Armijo backtracking line search.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GradientDescent {
    /// First trial step.
    pub step: f64,
}

impl<P: Problem + ?Sized> Solver<P> for GradientDescent {
    fn name(&self) -> &'static str {
        "gradient descent (Armijo)"
    }
    fn next_iter(&mut self, p: &mut Counted<'_, P>, s: &mut State) -> Result<(), OptimError> {
        let d: Vec<f64> = s.g.iter().map(|g| -g).collect();
        let st = match crate::linesearch::armijo(p, &s.x, s.f, &s.g, &d, self.step, 1e-4) {
            Ok(st) => st,
            Err(OptimError::LineSearch { .. }) => {
                s.stalled = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if st.f >= s.f {
            s.stalled = true;
        }
        // remember a good first step for next time
        self.step = (st.alpha * 2.0).min(1e6);
        (s.x, s.f, s.g) = (st.x, st.f, st.g);
        Ok(())
    }
}
