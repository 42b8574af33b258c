//! The model layer on its own: integrator orders, layouts and parameters
//! by name, errors for what does not fit.

use rewind_checkpoint::Strategy;
use rewind_field::{Grid, Par, Scalar, SparseSpd};
use rewind_sim::{
    Integrator, Layout, Loss, LossAt, Model, Number, ParamSet, Problem, Sim, SimError, State, StepAt, advance,
};

/// `du/dt = −λ u + s`, `ds/dt = 0` on a line of 4 points, with a scalar
/// in the state: `u(T) = u₀ e^{−λT} + s (1 − e^{−λT}) / λ`.
#[derive(Debug, Clone)]
struct Decay {
    method: Integrator,
    dt: f64,
}

impl Model for Decay {
    fn layout(&self) -> Layout {
        Layout::new(Grid::line(4, 4.0).unwrap()).field("u").scalar("s")
    }
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("lambda", 1.3)
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (c, p) = (at.ctx(), at.params());
        let l = p.scalar("lambda")?;
        self.method.step(c, x, self.dt, |y| {
            let ([u], s) = (y.split()?, y.scalars()[0]);
            Ok::<_, SimError>(State::new(&[-(u * l) + s], &[s * 0.0]))
        })
    }
}

#[test]
fn each_method_converges_at_its_order_on_fields_and_scalars() {
    for (method, order) in [(Integrator::Euler, 1.0), (Integrator::SspRk3, 3.0), (Integrator::Rk4, 4.0)] {
        let err = |steps: usize| {
            let m = Decay { method, dt: 1.0 / steps as f64 };
            let mut sim = Sim::<_, f64>::new(m, Par::Seq).unwrap();
            let x = advance(&mut sim, &[1.0, 2.0, 3.0, 4.0, 0.5], steps).unwrap();
            let e = (-1.3f64).exp();
            assert_eq!(x[4], 0.5, "the scalar stays put");
            (x[1] - (2.0 * e + 0.5 * (1.0 - e) / 1.3)).abs()
        };
        let rate = (err(20) / err(40)).log2();
        assert!((rate - order).abs() < 0.15, "{method:?}: observed order {rate}, expected {order}");
        assert_eq!(method.stages(), order as usize);
    }
}

#[derive(Debug, Clone)]
struct Nothing;

impl Loss for Nothing {
    fn at(&self, t: usize, n: usize) -> bool {
        t == n
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        // asking for a parameter that is not there is an error, not a panic
        let _ = at.params().field("lambda")?;
        at.scalar("s")
    }
}

#[test]
fn names_lengths_and_kinds_are_checked() {
    let g = Grid::line(4, 4.0).unwrap();
    assert!(Layout::new(g).scalar("s").check().is_err(), "no field");
    assert!(Layout::new(g).field("u").field("u").check().is_err(), "a name twice");
    let l = Layout::new(g).field("u").scalar("s");
    assert_eq!(l.len(), 5);
    assert!(matches!(l.pack(&[("u", &[1.0; 4])]), Err(SimError::Missing { .. })));
    assert!(matches!(l.pack(&[("u", &[1.0; 3]), ("s", &[0.0])]), Err(SimError::Length { .. })));
    let e = l.range("w").unwrap_err().to_string();
    assert!(e.contains("u, s"), "{e}");
    let m = Decay { method: Integrator::Rk4, dt: 0.1 };
    let mut sim = Sim::<_, f64>::new(m.clone(), Par::Seq).unwrap();
    assert!(sim.set_param("lambda", &[1.0, 2.0]).is_err());
    assert!(sim.set_param("lambda", &[f64::NAN]).is_err());
    assert!(sim.set_param("mu", &[1.0]).is_err());
    let mut p = Problem::new(m, Nothing, Strategy::StoreAll, 3, Par::Seq).unwrap();
    let e = p.gradient(&[1.0; 5]).unwrap_err().to_string();
    assert!(e.contains("is a scalar, not a field"), "{e}");
    assert!(p.gradient(&[1.0; 4]).is_err(), "a state of the wrong length");
    assert!(p.hvp(&[1.0; 5], &[1.0; 5], &[]).is_err(), "a parameter direction of the wrong length");
}

/// Backward-Euler heat flow in a walled box, `(I + κ dt (−L)) u⁺ = u + dt q`,
/// with the conductivity `κ` and the source `q` as parameters: the
/// operator depends on a parameter.
#[derive(Debug, Clone)]
struct Heat;

impl Model for Heat {
    fn layout(&self) -> Layout {
        Layout::new(Grid::new(8, 6, 1.0 / 9.0, 1.0 / 7.0).unwrap()).field("u")
    }
    fn params(&self) -> ParamSet {
        let g = *self.layout().grid();
        ParamSet::new().scalar("kappa", 0.7).field("q", g.sample(|x, y| x * y))
    }
    fn sparse(&self) -> Result<Option<SparseSpd>, SimError> {
        Ok(Some(SparseSpd::implicit_diffusion(self.layout().grid(), 0.05)?))
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let p = at.params();
        let [u] = x.split()?;
        Ok(State::from([(u + p.field("q")? * 0.05).solve_sparse_at(p.scalar("kappa")?)?]))
    }
}

#[test]
fn a_parameter_dependent_implicit_operator_is_differentiated_in_its_parameter() {
    let g = *Heat.layout().grid();
    let x0 = g.sample(|x, y| (7.0 * x).sin() * (5.0 * y).cos() + 0.5);
    let loss = rewind_sim::Terminal::state(vec![0.2; g.len()]);
    for s in
        [Strategy::Binomial { snapshots: 3 }, Strategy::MultiLevel { ram: 1, disk: 2, write_cost: 1.0, read_cost: 1.0 }]
    {
        let mut p = Problem::new(Heat, loss.clone(), s, 12, Par::Seq).unwrap();
        let v_x: Vec<f64> = (0..g.len()).map(|k| ((k % 5) as f64 - 2.0) * 0.01).collect();
        let v_p = p.param_direction(&[("kappa", &[0.1]), ("q", &vec![0.05; g.len()])]).unwrap();
        let c = rewind_sim::check(&mut p, &x0, &v_x, &v_p, &[1e-5]).unwrap();
        assert!(c.passes(1e-6), "{s}: {c:?}");
        // the κ derivative alone, by name, against a difference with κ set in place
        let gk = p.gradient(&x0).unwrap().param("kappa").unwrap()[0];
        let mut at = |k: f64| {
            p.set_param("kappa", &[k]).unwrap();
            p.value(&x0).unwrap()
        };
        let fd = (at(0.7 + 1e-6) - at(0.7 - 1e-6)) / 2e-6;
        assert!((gk - fd).abs() < 1e-6 * fd.abs(), "{s}: {gk} vs {fd}");
    }
}
