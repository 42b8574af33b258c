//! Checks of a problem's derivatives against finite differences: the
//! directional derivative `⟨∇J, v⟩` against a central difference of `J`,
//! and the Hessian-vector product against a central difference of
//! gradients, both in a joint direction `v = (v_x, v_p)` of the initial
//! state and the parameters.

use crate::{Loss, Model, Problem, SimError};

/// What [`check`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivativeCheck {
    /// `⟨∇J, v⟩` from the adjoint.
    pub directional: f64,
    /// `(J(z + εv) − J(z − εv)) / 2ε`.
    pub directional_fd: f64,
    /// `|directional − directional_fd| / max(|directional_fd|, tiny)`.
    pub gradient_error: f64,
    /// `‖Hv − (∇J(z + εv) − ∇J(z − εv)) / 2ε‖∞ / ‖Hv‖∞`, over the state and
    /// parameter parts together.
    pub hvp_error: f64,
    /// `‖Hv‖∞`.
    pub hvp_size: f64,
    /// The finite-difference step.
    pub eps: f64,
}

impl DerivativeCheck {
    /// Both errors within `tol`.
    pub fn passes(&self, tol: f64) -> bool {
        self.gradient_error <= tol && self.hvp_error <= tol && self.hvp_size > 0.0
    }
}

/// Checks gradient and HVP of `problem` at the initial state `x0` and its
/// current parameters in the direction `(v_x, v_p)` with step `eps`; the
/// parameters are put back afterwards.
pub fn check<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    x0: &[f64],
    v_x: &[f64],
    v_p: &[f64],
    eps: f64,
) -> Result<DerivativeCheck, SimError> {
    let p0 = problem.param_values().to_vec();
    let out = problem.hvp(x0, v_x, v_p)?;
    let g = &out.gradient;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let directional = dot(&g.x0, v_x) + dot(&g.params, v_p);
    let shifted = |s: f64| {
        let x: Vec<f64> = x0.iter().zip(v_x).map(|(a, b)| a + s * eps * b).collect();
        let p: Vec<f64> = p0.iter().zip(v_p).map(|(a, b)| a + s * eps * b).collect();
        (x, p)
    };
    let mut at = |s: f64| -> Result<_, SimError> {
        let (x, p) = shifted(s);
        problem.set_param_values(&p)?;
        problem.gradient(&x)
    };
    let (gp, gm) = (at(1.0), at(-1.0));
    problem.set_param_values(&p0)?;
    let (gp, gm) = (gp?, gm?);
    let directional_fd = (gp.objective - gm.objective) / (2.0 * eps);
    let hv: Vec<f64> = out.x0.iter().chain(&out.params).copied().collect();
    let fd: Vec<f64> = gp
        .x0
        .iter()
        .chain(&gp.params)
        .zip(gm.x0.iter().chain(&gm.params))
        .map(|(a, b)| (a - b) / (2.0 * eps))
        .collect();
    let hvp_size = hv.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let diff = hv.iter().zip(&fd).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    Ok(DerivativeCheck {
        directional,
        directional_fd,
        gradient_error: (directional - directional_fd).abs() / directional_fd.abs().max(1e-300),
        hvp_error: diff / hvp_size.max(1e-300),
        hvp_size,
        eps,
    })
}
