//! A sum of independent objectives as one problem for the optimizers.
//!
//! `f(x) = Σₘ fₘ(x)` over members that share the control `x` but nothing
//! else — ensemble members under different physics, observation windows
//! with their own runs, independent experiments — is a
//! [`rewind_optim::Problem`] whose values, gradients and products are
//! ensemble sums ([`Ensemble::sum`]): member `m` is evaluated on rank
//! `m mod R` only, and every rank receives the same total, to the bit. An
//! optimizer run on every rank therefore takes the same steps on every
//! rank and on any number of ranks.

use rewind_optim::{Hessian, OptimError, Problem};

use crate::{Ensemble, EnsembleError};

/// `Σₘ membersₘ` (see the [module](self) docs). Every rank holds every
/// member (so that member `m` means the same problem everywhere) but
/// evaluates only its own; building a member should therefore be cheap —
/// defer expensive set-up to its first evaluation.
pub struct Sum<'e, P> {
    ensemble: &'e Ensemble,
    members: Vec<P>,
}

impl<P> std::fmt::Debug for Sum<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sum").field("members", &self.members.len()).field("ensemble", self.ensemble).finish()
    }
}

impl<'e, P: Problem> Sum<'e, P> {
    /// The sum of `members`, which must share one dimension.
    pub fn new(ensemble: &'e Ensemble, members: Vec<P>) -> Result<Self, EnsembleError> {
        let Some(first) = members.first() else {
            return Err(EnsembleError::Comm("a sum of no members".into()));
        };
        let n = first.dim();
        if let Some((m, p)) = members.iter().enumerate().find(|(_, p)| p.dim() != n) {
            return Err(EnsembleError::Length { member: m, expected: n, got: p.dim() });
        }
        Ok(Sum { ensemble, members })
    }

    /// The members.
    pub fn members(&self) -> &[P] {
        &self.members
    }

    /// The members, to change one (each rank should make the same change).
    pub fn members_mut(&mut self) -> &mut [P] {
        &mut self.members
    }
}

fn optim(e: EnsembleError) -> OptimError {
    OptimError::Objective(Box::new(e))
}

impl<P: Problem> Problem for Sum<'_, P> {
    fn dim(&self) -> usize {
        self.members[0].dim()
    }

    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        let members = &mut self.members;
        let v = self.ensemble.sum(members.len(), |m| members[m].value(x).map(|f| vec![f]), |_, _| {}).map_err(optim)?;
        Ok(v[0])
    }

    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        let members = &mut self.members;
        // [f, ∇f] per member: one exchange per round for both
        let v = self
            .ensemble
            .sum(
                members.len(),
                |m| {
                    let mut out = vec![0.0; 1 + x.len()];
                    out[0] = members[m].value_grad(x, &mut out[1..])?;
                    Ok::<_, OptimError>(out)
                },
                |_, _| {},
            )
            .map_err(optim)?;
        g.copy_from_slice(&v[1..]);
        Ok(v[0])
    }
}

impl<P: Hessian> Hessian for Sum<'_, P> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        let members = &mut self.members;
        let s = self
            .ensemble
            .sum(
                members.len(),
                |m| {
                    let mut out = vec![0.0; x.len()];
                    members[m].hvp(x, v, &mut out)?;
                    Ok::<_, OptimError>(out)
                },
                |_, _| {},
            )
            .map_err(optim)?;
        hv.copy_from_slice(&s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rewind_optim::{Lbfgs, Options, minimize};

    use super::*;

    /// `fₘ(x) = ½ aₘ ‖x − cₘ‖² + ¼ ‖x‖⁴`: members of different shapes.
    struct Bowl {
        a: f64,
        c: Vec<f64>,
    }

    impl Problem for Bowl {
        fn dim(&self) -> usize {
            self.c.len()
        }
        fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
            let r2: f64 = x.iter().zip(&self.c).map(|(x, c)| (x - c) * (x - c)).sum();
            let n2: f64 = x.iter().map(|x| x * x).sum();
            Ok(0.5 * self.a * r2 + 0.25 * n2 * n2)
        }
        fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
            let n2: f64 = x.iter().map(|x| x * x).sum();
            for ((g, x), c) in g.iter_mut().zip(x).zip(&self.c) {
                *g = self.a * (x - c) + n2 * x;
            }
            self.value(x)
        }
    }

    impl Hessian for Bowl {
        fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
            let n2: f64 = x.iter().map(|x| x * x).sum();
            let xv: f64 = x.iter().zip(v).map(|(x, v)| x * v).sum();
            for ((h, x), v) in hv.iter_mut().zip(x).zip(v) {
                *h = self.a * v + n2 * v + 2.0 * xv * x;
            }
            Ok(())
        }
    }

    fn members() -> Vec<Bowl> {
        (0..5).map(|m| Bowl { a: 1.0 + m as f64, c: (0..4).map(|i| ((m * 4 + i) as f64).cos()).collect() }).collect()
    }

    #[test]
    fn the_sum_is_the_sum_of_its_members_and_lbfgs_minimises_it() {
        let e = Ensemble::serial();
        let mut s = Sum::new(&e, members()).unwrap();
        let x = [0.3, -0.2, 0.5, 0.1];
        let (mut g, mut gm) = (vec![0.0; 4], vec![0.0; 4]);
        let f = s.value_grad(&x, &mut g).unwrap();
        let (mut f_ref, mut g_ref) = (0.0, vec![0.0; 4]);
        for mut p in members() {
            f_ref += p.value_grad(&x, &mut gm).unwrap();
            g_ref.iter_mut().zip(&gm).for_each(|(a, b)| *a += b);
        }
        assert_eq!((f, g.clone()), (f_ref, g_ref));
        assert_eq!(s.value(&x).unwrap(), f);
        // the gradient against central differences, the product against the gradient's
        let h = 1e-6;
        for i in 0..4 {
            let (mut xp, mut xm) = (x, x);
            xp[i] += h;
            xm[i] -= h;
            let fd = (s.value(&xp).unwrap() - s.value(&xm).unwrap()) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-7 * (1.0 + g[i].abs()), "∂{i}: {fd} vs {}", g[i]);
        }
        let v = [1.0, 0.5, -0.5, 2.0];
        let mut hv = vec![0.0; 4];
        s.hvp(&x, &v, &mut hv).unwrap();
        let (mut gp, mut gmi) = (vec![0.0; 4], vec![0.0; 4]);
        let xp: Vec<f64> = x.iter().zip(&v).map(|(x, v)| x + h * v).collect();
        let xm: Vec<f64> = x.iter().zip(&v).map(|(x, v)| x - h * v).collect();
        s.value_grad(&xp, &mut gp).unwrap();
        s.value_grad(&xm, &mut gmi).unwrap();
        for i in 0..4 {
            let fd = (gp[i] - gmi[i]) / (2.0 * h);
            assert!((fd - hv[i]).abs() < 1e-6 * (1.0 + hv[i].abs()), "Hv{i}: {fd} vs {}", hv[i]);
        }
        let r = minimize(&mut Lbfgs::new(5), &mut s, &[0.0; 4], &Options { grad_tol: 1e-10, max_iter: 200 }).unwrap();
        let mut g = vec![0.0; 4];
        s.value_grad(&r.state.x, &mut g).unwrap();
        assert!(g.iter().all(|g| g.abs() < 1e-9), "∇f at the minimiser: {g:?}");
    }

    #[test]
    fn members_of_different_dimensions_and_failing_members_are_errors() {
        let e = Ensemble::serial();
        let mut m = members();
        m[3].c.push(0.0);
        assert_eq!(Sum::new(&e, m).unwrap_err(), EnsembleError::Length { member: 3, expected: 4, got: 5 });
        assert!(Sum::<Bowl>::new(&e, Vec::new()).is_err());
        struct Failing;
        impl Problem for Failing {
            fn dim(&self) -> usize {
                1
            }
            fn value(&mut self, _: &[f64]) -> Result<f64, OptimError> {
                Err(OptimError::NonFinite { what: "objective" })
            }
            fn value_grad(&mut self, x: &[f64], _: &mut [f64]) -> Result<f64, OptimError> {
                self.value(x)
            }
        }
        let mut s = Sum::new(&e, vec![Failing, Failing]).unwrap();
        let err = s.value(&[0.0]).unwrap_err();
        assert!(err.to_string().contains("member 0"), "{err}");
    }
}
