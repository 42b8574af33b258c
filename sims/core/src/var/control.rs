//! The control-variable transform `x₀ = x_b + B^{1/2} χ` ([`Control`]),
//! Gauss–Newton products in `χ`, and [`ControlProblem`]: the 4D-Var
//! objective over `χ` for the optimizers of `rewind-optim`.

use rewind_field::Correlation;
use rewind_optim::vector::dot;

use crate::{Layout, Loss, Model, Problem, SimError};

/// The map `χ ↦ B^{1/2} χ` on a whole state: `B^{1/2}` on each field,
/// `σ` on each scalar.
pub(crate) struct Control<'b> {
    b: &'b mut Correlation,
    /// Fields of the state (the scalars follow them).
    fields: usize,
}

impl<'b> Control<'b> {
    /// The map for states of `layout`, whose grid must be `b`'s.
    pub(crate) fn new(b: &'b mut Correlation, layout: &Layout) -> Result<Self, SimError> {
        if b.grid() != layout.grid() {
            return Err(SimError::Layout("the background covariance is on another grid than the model".into()));
        }
        Ok(Control { b, fields: layout.fields().len() })
    }

    /// The map for states of `fields` fields on `b`'s grid (then scalars).
    pub(crate) fn with_fields(b: &'b mut Correlation, fields: usize) -> Self {
        Control { b, fields }
    }

    /// `B^{1/2} a`.
    pub(crate) fn sqrt(&mut self, a: &[f64]) -> Result<Vec<f64>, SimError> {
        let n = self.b.grid().len();
        let nf = self.fields;
        if a.len() < nf * n {
            return Err(SimError::Length { what: "control vector".into(), expected: nf * n, got: a.len() });
        }
        let mut out = vec![0.0; a.len()];
        for k in 0..nf {
            self.b.apply_sqrt(&a[k * n..(k + 1) * n], &mut out[k * n..(k + 1) * n])?;
        }
        let sigma = self.b.variance().sqrt();
        for (o, &x) in out[nf * n..].iter_mut().zip(&a[nf * n..]) {
            *o = sigma * x;
        }
        Ok(out)
    }

    /// The fields of the state.
    pub(crate) fn fields(&self) -> usize {
        self.fields
    }

    /// `diag B` for states of length `len`: the variance everywhere.
    pub(crate) fn variance_diagonal(&self, len: usize) -> Vec<f64> {
        vec![self.b.variance(); len]
    }
}

/// The Gauss–Newton product in the control variable,
/// `v + B^{1/2} G(x) B^{1/2} v`, at the state `x` (the problem's
/// parameters fixed).
pub(super) fn control_product<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    control: &mut Control<'_>,
    x: &[f64],
    v: &[f64],
) -> Result<Vec<f64>, SimError> {
    let no_p = vec![0.0; problem.param_set().len()];
    let bv = control.sqrt(v)?;
    let gn = problem.gauss_newton(x, &bv, &no_p)?;
    let mut h = control.sqrt(&gn.x0)?;
    for (hi, a) in h.iter_mut().zip(v) {
        *hi += a;
    }
    Ok(h)
}

/// `J(χ) = ½‖χ‖² + J_o(x_b + B^{1/2} χ)` as a problem of the optimizers
/// of `rewind-optim` over the control variable: the same objective as
/// [`incremental`](super::incremental)'s, for L-BFGS and the Newton methods, whose Hessian
/// product is the Gauss–Newton one `χ̇ ↦ χ̇ + B^{1/2} G B^{1/2} χ̇` (at the
/// point of the last gradient, which [`Problem::linearise`] keeps).
pub struct ControlProblem<'a, M, L> {
    pub(super) problem: &'a mut Problem<M, L>,
    background: Vec<f64>,
    pub(super) control: Control<'a>,
    /// `J_o` at the last gradient.
    pub(super) misfit: f64,
}

impl<M, L> std::fmt::Debug for ControlProblem<'_, M, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlProblem").field("dim", &self.background.len()).finish_non_exhaustive()
    }
}

impl<'a, M: Model + Clone, L: Loss + Clone> ControlProblem<'a, M, L> {
    /// The problem in `χ` around `background`, with the covariance `b`.
    pub fn new(problem: &'a mut Problem<M, L>, background: &[f64], b: &'a mut Correlation) -> Result<Self, SimError> {
        let layout = problem.layout().clone();
        layout.check_len(background.len())?;
        let control = Control::new(b, &layout)?;
        Ok(ControlProblem { problem, background: background.to_vec(), control, misfit: f64::NAN })
    }

    /// The state `x₀ = x_b + B^{1/2} χ`.
    pub fn state(&mut self, chi: &[f64]) -> Result<Vec<f64>, SimError> {
        let d = self.control.sqrt(chi)?;
        Ok(self.background.iter().zip(&d).map(|(a, b)| a + b).collect())
    }

    /// The simulation problem (for its loss and model).
    pub fn problem(&mut self) -> &mut Problem<M, L> {
        self.problem
    }

    /// `(J(χ), J_o)`: one forward run.
    pub fn objective(&mut self, chi: &[f64]) -> Result<(f64, f64), SimError> {
        let x = self.state(chi)?;
        let jo = self.problem.value(&x)?;
        Ok((0.5 * dot(chi, chi) + jo, jo))
    }

    /// `(J(χ), J_o, ∇_χ J = χ + B^{1/2} ∇_x J_o)`, keeping the point for the
    /// products that follow ([`Problem::linearise`]).
    pub fn gradient(&mut self, chi: &[f64]) -> Result<(f64, f64, Vec<f64>), SimError> {
        let x = self.state(chi)?;
        let out = self.problem.linearise(&x)?;
        let mut g = self.control.sqrt(&out.x0)?;
        for (gi, c) in g.iter_mut().zip(chi) {
            *gi += c;
        }
        self.misfit = out.objective;
        Ok((0.5 * dot(chi, chi) + out.objective, out.objective, g))
    }

    /// The Gauss–Newton product `v + B^{1/2} G B^{1/2} v` at `χ`.
    pub fn product(&mut self, chi: &[f64], v: &[f64]) -> Result<Vec<f64>, SimError> {
        let x = self.state(chi)?;
        control_product(self.problem, &mut self.control, &x, v)
    }
}

impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Problem for ControlProblem<'_, M, L> {
    fn dim(&self) -> usize {
        self.background.len()
    }
    fn value(&mut self, chi: &[f64]) -> Result<f64, rewind_optim::OptimError> {
        Ok(self.objective(chi).map_err(rewind_optim::OptimError::objective)?.0)
    }
    fn value_grad(&mut self, chi: &[f64], g: &mut [f64]) -> Result<f64, rewind_optim::OptimError> {
        let (j, _, grad) = self.gradient(chi).map_err(rewind_optim::OptimError::objective)?;
        g.copy_from_slice(&grad);
        Ok(j)
    }
}

impl<M: Model + Clone, L: Loss + Clone> rewind_optim::Hessian for ControlProblem<'_, M, L> {
    fn hvp(&mut self, chi: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), rewind_optim::OptimError> {
        hv.copy_from_slice(&self.product(chi, v).map_err(rewind_optim::OptimError::objective)?);
        Ok(())
    }
}
