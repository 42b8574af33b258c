//! Checks of a problem's derivatives against finite differences, part by
//! part: for each part of a direction `v = (v_x, v_p)` — each field and
//! scalar of the initial state, each parameter — the directional
//! derivative `⟨∇J, v⟩` against a central difference of `J`, and the
//! Hessian-vector product against a central difference of gradients.
//!
//! A single step for every part fails on problems whose parts differ in
//! size (an O(1) direction on a viscosity of 5e-3 moves it by 2 % at
//! ε = 1e-4). So each part's direction is scaled to the size of the part
//! itself (its largest value, or 1 for a part that is zero), the steps
//! `ε` are relative to that size, and several are tried: too large a step
//! measures curvature, too small one round-off, and the best of a sweep
//! is what the derivative's accuracy is. [`SWEEP`] is the default.

use rewind_optim::vector::{dot, norm_inf as max_abs};

use crate::{Gradient, Loss, Model, Problem, SecondOrder, SimError};

/// The default relative steps tried.
pub const SWEEP: [f64; 4] = [1e-3, 1e-4, 1e-5, 1e-6];

/// One step of one part's check.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The relative step `ε`.
    pub eps: f64,
    /// `(J(z + εu) − J(z − εu)) / 2ε` for the scaled direction `u`.
    pub directional_fd: f64,
    /// `|⟨∇J, u⟩ − directional_fd| / max(|⟨∇J, u⟩|, |directional_fd|)`.
    pub gradient_error: f64,
    /// `‖Hu − (∇J(z + εu) − ∇J(z − εu)) / 2ε‖∞ / ‖Hu‖∞` over every part
    /// of the output.
    pub hvp_error: f64,
}

/// The check of one part of the direction.
#[derive(Debug, Clone, PartialEq)]
pub struct PartCheck {
    /// `state <name>` or `param <name>`.
    pub part: String,
    /// The factor the given direction was scaled by: `u = scale · v`
    /// on this part, zero elsewhere.
    pub scale: f64,
    /// `⟨∇J, u⟩` from the adjoint.
    pub directional: f64,
    /// `‖Hu‖∞`.
    pub hvp_size: f64,
    /// Every step tried.
    pub steps: Vec<Step>,
}

impl PartCheck {
    /// The smallest gradient error of the sweep, and its step.
    pub fn gradient_error(&self) -> (f64, f64) {
        best(self.steps.iter().map(|s| (s.gradient_error, s.eps)))
    }
    /// The smallest HVP error of the sweep, and its step.
    pub fn hvp_error(&self) -> (f64, f64) {
        best(self.steps.iter().map(|s| (s.hvp_error, s.eps)))
    }
}

fn best(it: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    it.fold((f64::INFINITY, f64::NAN), |b, (e, eps)| if e < b.0 { (e, eps) } else { b })
}

/// What [`check`] measured, part by part.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivativeCheck {
    /// One entry per part in which the direction is not zero, state parts
    /// first, in the layout's and then the parameters' order.
    pub parts: Vec<PartCheck>,
}

impl DerivativeCheck {
    /// The largest over the parts of each part's best gradient error.
    pub fn gradient_error(&self) -> f64 {
        self.parts.iter().map(|p| p.gradient_error().0).fold(0.0, f64::max)
    }
    /// The largest over the parts of each part's best HVP error.
    pub fn hvp_error(&self) -> f64 {
        self.parts.iter().map(|p| p.hvp_error().0).fold(0.0, f64::max)
    }
    /// Every part's best errors within `tol`, and no HVP zero.
    pub fn passes(&self, tol: f64) -> bool {
        self.gradient_error() <= tol && self.hvp_error() <= tol && self.parts.iter().all(|p| p.hvp_size > 0.0)
    }
}

impl std::fmt::Display for DerivativeCheck {
    /// One line per part: the best errors and their steps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.parts {
            let ((ge, gs), (he, hs)) = (p.gradient_error(), p.hvp_error());
            writeln!(f, "{:<20} gradient {ge:.1e} (ε {gs:.0e})  HVP {he:.1e} (ε {hs:.0e})", p.part)?;
        }
        Ok(())
    }
}

/// Checks gradient and HVP of `problem` at the initial state `x0` and its
/// current parameters, part by part of the direction `(v_x, v_p)`, with
/// the relative steps `eps` ([`SWEEP`] if empty); the parameters are put
/// back afterwards. Costs, per part, one HVP and two gradients per step.
pub fn check<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    x0: &[f64],
    v_x: &[f64],
    v_p: &[f64],
    eps: &[f64],
) -> Result<DerivativeCheck, SimError> {
    problem.layout().check_len(x0.len())?;
    problem.layout().check_len(v_x.len())?;
    let p0 = problem.param_values().to_vec();
    if v_p.len() != p0.len() {
        return Err(SimError::Length { what: "parameter direction".into(), expected: p0.len(), got: v_p.len() });
    }
    if let Some(&e) = eps.iter().find(|&&e| !(e.is_finite() && e > 0.0)) {
        return Err(SimError::Settings(format!("check: the step {e} is not a positive number")));
    }
    let eps = if eps.is_empty() { &SWEEP[..] } else { eps };
    let layout = problem.layout().clone();
    let params = problem.param_set().clone();
    let mut parts = Vec::new();
    for name in layout.fields().iter().chain(layout.scalars()) {
        parts.push((format!("state {name}"), true, layout.range(name)?));
    }
    for (name, _) in params.entries() {
        parts.push((format!("param {name}"), false, params.range(name)?));
    }
    let mut out = Vec::new();
    for (part, in_state, r) in parts {
        let (z, v) = if in_state { (&x0[r.clone()], &v_x[r.clone()]) } else { (&p0[r.clone()], &v_p[r.clone()]) };
        let vmax = max_abs(v);
        if vmax == 0.0 {
            continue;
        }
        let size = max_abs(z);
        let scale = if size > 0.0 { size / vmax } else { 1.0 / vmax };
        let (mut ux, mut up) = (vec![0.0; x0.len()], vec![0.0; p0.len()]);
        let u = if in_state { &mut ux[r] } else { &mut up[r] };
        u.iter_mut().zip(v).for_each(|(a, b)| *a = scale * b);
        let steps = check_part(problem, x0, &p0, &ux, &up, eps);
        problem.set_param_values(&p0)?;
        let (directional, hvp_size, steps) = steps?;
        out.push(PartCheck { part, scale, directional, hvp_size, steps });
    }
    if out.is_empty() {
        return Err(SimError::Settings("check: the direction is zero".into()));
    }
    Ok(DerivativeCheck { parts: out })
}

/// `⟨∇J, u⟩`, `‖Hu‖∞` and the steps of one part's check.
fn check_part<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    x0: &[f64],
    p0: &[f64],
    ux: &[f64],
    up: &[f64],
    eps: &[f64],
) -> Result<(f64, f64, Vec<Step>), SimError> {
    let out = problem.hvp(x0, ux, up)?;
    steps_along(&out, x0, p0, ux, up, eps, |x, p| {
        problem.set_param_values(p)?;
        problem.gradient(x)
    })
}

/// `⟨∇J, u⟩`, `‖Hu‖∞` and the steps of one part's check along `u = (ux,
/// up)` from the point `(x0, p0)`, for any objective: `at` is the gradient
/// and `H u` there, `gradient(x, p)` the gradient at another point (each
/// step `ε` asks for `(x0, p0) ± ε u`). What [`check`] does per part; a
/// problem split over ranks (`rewind-models`) checks itself with it.
pub fn steps_along(
    at: &SecondOrder,
    x0: &[f64],
    p0: &[f64],
    ux: &[f64],
    up: &[f64],
    eps: &[f64],
    mut gradient: impl FnMut(&[f64], &[f64]) -> Result<Gradient, SimError>,
) -> Result<(f64, f64, Vec<Step>), SimError> {
    let g = &at.gradient;
    let directional = dot(&g.x0, ux) + dot(&g.params, up);
    let hv: Vec<f64> = at.x0.iter().chain(&at.params).copied().collect();
    let hvp_size = max_abs(&hv);
    let mut steps = Vec::with_capacity(eps.len());
    for &e in eps {
        let mut point = |s: f64| -> Result<_, SimError> {
            let x: Vec<f64> = x0.iter().zip(ux).map(|(a, b)| a + s * e * b).collect();
            let p: Vec<f64> = p0.iter().zip(up).map(|(a, b)| a + s * e * b).collect();
            gradient(&x, &p)
        };
        let (gp, gm) = (point(1.0)?, point(-1.0)?);
        let directional_fd = (gp.objective - gm.objective) / (2.0 * e);
        let fd = gp.x0.iter().chain(&gp.params).zip(gm.x0.iter().chain(&gm.params)).map(|(a, b)| (a - b) / (2.0 * e));
        let diff = hv.iter().zip(fd).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        let gap = (directional - directional_fd).abs();
        steps.push(Step {
            eps: e,
            directional_fd,
            gradient_error: if gap == 0.0 { 0.0 } else { gap / directional.abs().max(directional_fd.abs()) },
            hvp_error: if diff == 0.0 { 0.0 } else { diff / hvp_size.max(f64::MIN_POSITIVE) },
        });
    }
    Ok((directional, hvp_size, steps))
}

#[cfg(test)]
mod tests {
    use rewind_checkpoint::Strategy;
    use rewind_field::{Grid, Par};

    use super::{SWEEP, check};
    use crate::{Layout, Model, Number, ParamSet, Problem, SimError, State, StepAt, Terminal};

    /// `a ← a + dt ν Δa` with a small viscosity, and `b ← b (1 + dt m)` with
    /// `m` the mean of `b` read as a plain number when `broken` (so its
    /// dependence on `b` is missing from the derivatives), recorded otherwise.
    #[derive(Debug, Clone)]
    struct Pair {
        broken: bool,
    }

    fn grid() -> Grid {
        Grid::periodic_square(8, 1.0).unwrap()
    }

    impl Model for Pair {
        fn layout(&self) -> Layout {
            Layout::new(grid()).field("a").field("b")
        }
        fn params(&self) -> ParamSet {
            ParamSet::new().scalar("nu", 5e-3)
        }
        fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
            let p = at.params();
            let [a, b] = x.split()?;
            let dt = 0.01;
            let a1 = a + a.laplacian() * p.scalar("nu")? * dt;
            let b1 = if self.broken {
                let m = b.value().iter().map(|v| v.part(0)).sum::<f64>() / grid().len() as f64;
                b * (1.0 + dt * m)
            } else {
                b * (b.mean() * dt + 1.0)
            };
            Ok(State::from([a1 + b * 0.1, b1]))
        }
    }

    fn run(broken: bool) -> super::DerivativeCheck {
        let g = grid();
        let loss = Terminal::state(vec![0.0; 2 * g.len()]);
        let mut p = Problem::new(Pair { broken }, loss, Strategy::Binomial { snapshots: 2 }, 8, Par::Seq).unwrap();
        let x0 = [g.sample(|x, y| (6.0 * x).sin() + y), g.sample(|x, _| 1.0 + 0.5 * (6.0 * x).cos())].concat();
        // O(1) directions everywhere, ν = 5e-3 included: each part is scaled to its own size
        let v_x: Vec<f64> = (0..x0.len()).map(|k| ((k * 5 % 9) as f64 - 4.0) * 0.5).collect();
        check(&mut p, &x0, &v_x, &[1.0], &SWEEP).unwrap()
    }

    #[test]
    fn every_part_passes_at_its_own_scale() {
        let c = run(false);
        let names: Vec<&str> = c.parts.iter().map(|p| p.part.as_str()).collect();
        assert_eq!(names, ["state a", "state b", "param nu"]);
        assert!(c.passes(1e-7), "{c}");
        // ν's direction was scaled down to ν's size
        assert!((c.parts[2].scale - 5e-3).abs() < 1e-15, "{c:?}");
        assert_eq!(c.parts[0].steps.len(), SWEEP.len());
    }

    #[test]
    fn a_missing_dependence_fails_in_the_part_that_has_it() {
        let c = run(true);
        let (a, b, nu) = (&c.parts[0], &c.parts[1], &c.parts[2]);
        assert!(a.gradient_error().0 < 1e-7, "{c}");
        assert!(nu.gradient_error().0 < 1e-7, "{c}");
        assert!(b.gradient_error().0 > 1e-3, "{c}");
        assert!(!c.passes(1e-6));
    }

    #[test]
    fn bad_settings_are_errors() {
        let g = grid();
        let loss = Terminal::state(vec![0.0; 2 * g.len()]);
        let mut p = Problem::new(Pair { broken: false }, loss, Strategy::StoreAll, 4, Par::Seq).unwrap();
        let x0 = vec![1.0; 2 * g.len()];
        let zero = vec![0.0; x0.len()];
        let e = |r: Result<super::DerivativeCheck, SimError>| r.unwrap_err().to_string();
        assert!(e(check(&mut p, &x0, &zero, &[0.0], &[])).contains("direction is zero"));
        assert!(e(check(&mut p, &x0, &x0, &[1.0], &[-1e-5])).contains("not a positive number"));
        assert!(e(check(&mut p, &x0, &x0, &[1.0, 2.0], &[])).contains("parameter direction"));
        assert!(e(check(&mut p, &x0[1..], &x0, &[1.0], &[])).contains("expected 128"));
    }
}
