//! Gauss–Newton products through the checkpointed loop, at a kept
//! linearisation point.
//!
//! For an objective that is a sum of losses of the states and the
//! parameters, `J = Σₜ ℓₜ(xₜ, p)`, the Gauss–Newton matrix keeps the
//! curvature of the losses and drops that of the model:
//!
//! `G = Σₜ Jₜᵀ ∇²ℓₜ Jₜ`,  `Jₜ = ∂(xₜ, p)/∂(x₀, p)`.
//!
//! It is positive semidefinite where every `ℓₜ` is convex — a misfit
//! `½‖H xₜ − y‖²_W` with a linear `H` and `W ⪰ 0`, a background
//! `½‖x₀ − x_b‖²_{B⁻¹}` — and equals the Hessian for a linear model. (It is
//! the *generalised* Gauss–Newton matrix: a loss with a nonlinear
//! observation operator keeps that operator's curvature in `∇²ℓₜ`.) One
//! product `G v` is
//!
//! 1. one tangent-linear run over dual numbers from `(x₀ + ε v_x, p + ε v_p)`
//!    — steps without recording, no snapshots — which at every loss takes
//!    the seed `∇²ℓₜ (δxₜ, δp)` from the loss differentiated by the duals;
//! 2. one adjoint sweep in `f64` through the checkpoint schedule whose
//!    losses are those seeds: `G v = Σₜ Jₜᵀ seedₜ`.
//!
//! The adjoint sweep runs on the primal trajectory, which does not depend
//! on `v`: the first forward sweep of its schedule is kept
//! ([`rewind_checkpoint::reuse`]) and every later product at the same
//! point (a CG solve, an eigensolver's block) replays only the reverse
//! part. [`Problem::linearise`] makes the gradient that starts such a
//! sequence keep it too.

use rewind_checkpoint::{Counters, Objective, StepError, Stepper, replay, run_keeping, run_strategy};
use rewind_field::{Dual, Real};

use super::{Gradient, Problem};
use crate::{Loss, Model, SimError};

/// The product `G v = (Gᵥ_x, Gᵥ_p)` of the Gauss–Newton matrix with a
/// direction of (initial state, parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussNewton {
    /// The initial-state part of `G v`.
    pub x0: Vec<f64>,
    /// The parameter part of `G v` (flat; by name with [`GaussNewton::param`]).
    pub params: Vec<f64>,
    /// Steps of the tangent-linear run (over dual numbers, not recorded).
    pub tangent_steps: u64,
    /// Wall seconds of the tangent-linear run (the rest of the product is
    /// the adjoint sweep).
    pub tangent_seconds: f64,
    /// What the adjoint sweep cost; `reused_steps` counts the primal steps
    /// not run because the point's first forward sweep was kept.
    pub counters: Counters,
    names: super::Parts,
}

impl GaussNewton {
    /// The part of `G v` for the parameter `name`.
    pub fn param(&self, name: &str) -> Result<&[f64], SimError> {
        self.names.param(&self.params, name)
    }
    /// The part of `G v` for the state field or scalar `name`.
    pub fn state(&self, name: &str) -> Result<&[f64], SimError> {
        self.names.state(&self.x0, name)
    }
}

/// The losses of the adjoint sweep: a seed added to `x̄ₜ` at chosen states.
///
/// A seed is `∇²ℓₜ δxₜ`, nonzero only where the loss looks: at the
/// observed points of a misfit. Kept sparse where that is most of the
/// state (a plane of receivers in a volume), so that a run with a loss at
/// every step holds its observations' size of seeds, not a state per step.
struct Seeds {
    /// `(t, seed)`, increasing in `t`.
    at: Vec<(usize, Seed)>,
}

/// One step's seed.
#[derive(Debug, Clone, PartialEq)]
enum Seed {
    /// Every entry.
    Dense(Vec<f64>),
    /// The nonzero entries: `(index, value)`, increasing in index.
    Sparse(Vec<(usize, f64)>),
}

impl Seed {
    /// The seed of the tangents `eps`: sparse if under a quarter of them
    /// are nonzero — then it takes at most half the dense room (an entry
    /// is an index and a value), which pays for the scattered adds; `None`
    /// if all are zero.
    fn of(eps: impl Iterator<Item = f64> + Clone, len: usize) -> Option<Seed> {
        let nonzero = eps.clone().filter(|e| *e != 0.0).count();
        match nonzero {
            0 => None,
            k if 4 * k < len => {
                let mut s = Vec::with_capacity(k);
                s.extend(eps.enumerate().filter(|(_, e)| *e != 0.0));
                Some(Seed::Sparse(s))
            }
            _ => Some(Seed::Dense(eps.collect())),
        }
    }

    /// Adds the seed to `xbar`.
    fn add_to(&self, xbar: &mut [f64]) {
        match self {
            Seed::Dense(s) => xbar.iter_mut().zip(s).for_each(|(b, s)| *b += s),
            Seed::Sparse(s) => s.iter().for_each(|&(i, v)| xbar[i] += v),
        }
    }
}

impl Objective<f64> for Seeds {
    fn loss(&mut self, t: usize, _n: usize, _x: &[f64], xbar: &mut [f64], _pbar: &mut [f64]) -> Result<f64, StepError> {
        if let Ok(k) = self.at.binary_search_by_key(&t, |(s, _)| *s) {
            self.at[k].1.add_to(xbar);
        }
        Ok(0.0)
    }
}

impl<M: Model + Clone, L: Loss + Clone> Problem<M, L> {
    /// The gradient at `x₀`, like [`Problem::gradient`], keeping the
    /// schedule's first forward sweep so that the Gauss–Newton products
    /// that follow at the same point replay only its reverse part (at most
    /// the strategy's snapshot budget is copied; see
    /// [`rewind_checkpoint::reuse`]). Changing a parameter or the strategy
    /// drops what is kept.
    pub fn linearise(&mut self, x0: &[f64]) -> Result<Gradient, SimError> {
        self.check_point(x0)?;
        let (out, kept) = run_keeping(&mut self.primal, &mut self.loss, self.strategy, self.steps, x0, &self.disk_dir)?;
        self.kept = Some(kept);
        Ok(self.gradient_of(out))
    }

    /// Bytes held by the kept first forward sweep (0 if none is kept).
    pub fn kept_bytes(&self) -> usize {
        self.kept.as_ref().map_or(0, |k| k.bytes())
    }

    /// Drops the kept first forward sweep (its snapshots' memory).
    pub fn forget_linearisation(&mut self) {
        self.kept = None;
    }

    /// Whether [`Problem::gauss_newton`] keeps the first forward sweep of a
    /// new point for the products that follow (the default; costs the
    /// copies of at most the strategy's snapshot budget).
    pub fn set_reuse(&mut self, reuse: bool) {
        self.reuse = reuse;
        if !reuse {
            self.kept = None;
        }
    }

    /// Whether a first forward sweep from exactly `x0` is kept.
    pub fn is_linearised_at(&self, x0: &[f64]) -> bool {
        self.kept.as_ref().is_some_and(|k| {
            let kx = k.x0();
            kx.len() == x0.len() && kx.iter().zip(x0).all(|(a, b)| a.to_bits() == b.to_bits())
        })
    }

    /// `G v` for the direction `v = (v_x, v_p)` at `x₀` (see the
    /// [module](self) docs): a tangent-linear run, then an adjoint sweep
    /// that replays the kept first forward sweep if one from `x₀` is kept,
    /// and keeps its own otherwise.
    pub fn gauss_newton(&mut self, x0: &[f64], v_x: &[f64], v_p: &[f64]) -> Result<GaussNewton, SimError> {
        self.check_direction(x0, v_x, v_p)?;
        let pd: Vec<Dual<f64>> = self.primal.param_values().iter().zip(v_p).map(|(&a, &b)| Dual::new(a, b)).collect();
        self.dual.set_param_values(&pd)?;
        self.loss_dual.set_param_values(&pd);
        let start = std::time::Instant::now();
        let tangent = self.tangent_seeds(x0, v_x);
        let tangent_seconds = start.elapsed().as_secs_f64();
        // back to constants, whatever happened
        let pc: Vec<Dual<f64>> = self.primal.param_values().iter().map(|&a| Dual::constant(a)).collect();
        self.dual.set_param_values(&pc)?;
        self.loss_dual.set_param_values(&pc);
        let (mut seeds, pseed) = tangent?;
        let hit = self.is_linearised_at(x0);
        let out = match self.kept.as_mut() {
            Some(kept) if hit => replay(&mut self.primal, &mut seeds, kept)?,
            _ if self.reuse => {
                let (out, kept) =
                    run_keeping(&mut self.primal, &mut seeds, self.strategy, self.steps, x0, &self.disk_dir)?;
                self.kept = Some(kept);
                out
            }
            _ => run_strategy(&mut self.primal, &mut seeds, self.strategy, self.steps, x0, &self.disk_dir)?,
        };
        let mut params = out.grad_params;
        for (p, s) in params.iter_mut().zip(&pseed) {
            *p += s;
        }
        Ok(GaussNewton {
            x0: out.grad_x0,
            params,
            tangent_steps: self.steps as u64,
            tangent_seconds,
            counters: out.counters,
            names: self.parts(),
        })
    }

    /// The tangent-linear run: the seeds `∇²ℓₜ (δxₜ, δp)` for the states
    /// with a loss, and the parameter part of the losses' curvature
    /// `Σₜ ∇²_{p·}ℓₜ (δxₜ, δp)`. The dual parameters are set by the caller.
    fn tangent_seeds(&mut self, x0: &[f64], v_x: &[f64]) -> Result<(Seeds, Vec<f64>), SimError> {
        let n = self.steps;
        let zero = Dual::constant(0.0);
        let mut x: Vec<Dual<f64>> = x0.iter().zip(v_x).map(|(&a, &b)| Dual::new(a, b)).collect();
        let (mut next, mut xbar) = (vec![zero; x.len()], vec![zero; x.len()]);
        let np = self.param_set().len();
        let (mut pbar, mut pseed) = (vec![zero; np], vec![0.0; np]);
        let mut at = Vec::new();
        for t in 0..=n {
            xbar.fill(zero);
            pbar.fill(zero);
            Objective::loss(&mut self.loss_dual, t, n, &x, &mut xbar, &mut pbar)
                .map_err(|source| SimError::At { step: t, source })?;
            if let Some(seed) = Seed::of(xbar.iter().map(|d| d.eps), xbar.len()) {
                at.push((t, seed));
            }
            for (s, d) in pseed.iter_mut().zip(&pbar) {
                *s += d.eps;
            }
            if t < n {
                self.dual.step(t, &x, &mut next).map_err(|source| SimError::At { step: t, source })?;
                // (the stepper refuses a non-finite state itself when it checks)
                if !self.dual.checks_finite()
                    && let Some(index) = next.iter().position(|v| !Real::is_finite(v))
                {
                    return Err(SimError::At { step: t, source: StepError::NonFinite { index } });
                }
                std::mem::swap(&mut x, &mut next);
            }
        }
        Ok((Seeds { at }, pseed))
    }
}

/// The problem over the initial state (parameters fixed) whose Hessian
/// products are Gauss–Newton products, for the optimizers: Newton-CG on it
/// is a Gauss–Newton method. Its gradients keep their point
/// ([`Problem::linearise`]), so the CG products that follow replay the
/// first forward sweep.
#[derive(Debug)]
pub struct GaussNewtonProblem<'a, M, L>(pub &'a mut Problem<M, L>);

impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Problem for GaussNewtonProblem<'_, M, L> {
    fn dim(&self) -> usize {
        self.0.layout().len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, rewind_optim::OptimError> {
        self.0.value(x).map_err(rewind_optim::OptimError::objective)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, rewind_optim::OptimError> {
        let out = self.0.linearise(x).map_err(rewind_optim::OptimError::objective)?;
        g.copy_from_slice(&out.x0);
        Ok(out.objective)
    }
}

impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Hessian for GaussNewtonProblem<'_, M, L> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), rewind_optim::OptimError> {
        let zeros = vec![0.0; self.0.param_set().len()];
        let out = self.0.gauss_newton(x, v, &zeros).map_err(rewind_optim::OptimError::objective)?;
        hv.copy_from_slice(&out.x0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Seed;

    #[test]
    fn a_seed_is_sparse_where_few_entries_are_nonzero_and_adds_the_same() {
        let few: Vec<f64> = (0..100).map(|i| if i % 10 == 3 { i as f64 } else { 0.0 }).collect();
        let many: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 1.0 + i as f64 } else { 0.0 }).collect();
        for (eps, sparse) in [(&few, true), (&many, false)] {
            let seed = Seed::of(eps.iter().copied(), eps.len()).unwrap();
            assert_eq!(matches!(seed, Seed::Sparse(_)), sparse);
            let mut xbar: Vec<f64> = (0..100).map(|i| 0.5 * i as f64).collect();
            let expected: Vec<f64> = xbar.iter().zip(eps.iter()).map(|(b, e)| b + e).collect();
            seed.add_to(&mut xbar);
            assert_eq!(xbar, expected);
        }
        assert_eq!(Seed::of([0.0; 5].into_iter(), 5), None);
    }
}
