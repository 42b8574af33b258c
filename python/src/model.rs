//! `rewind.Model`: a model written in Python, its right-hand side traced
//! once ([`crate::traced`]), and what it will hold (its footprint, measured
//! on its own recorded step).

use std::sync::Arc;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rewind_checkpoint::Strategy;
use rewind_models::memory::{Footprint, footprint_from};
use rewind_sim::Integrator;

use crate::traced::{self, Expr, Node, Traced};
use crate::{RewindError, array, err, one_line};

/// A model written in Python: `Model(rhs, state, params=None, n=32,
/// length=2π, dt=0.05, integrator="rk4")`. `rhs(s, p)` receives the state's
/// fields (`s["h"]`) and the scalar parameters (`p["g"]`) as traced values
/// and returns the tendency of every field, `{"h": dh, ...}`, written with
/// arithmetic, `exp`/`log`/`sqrt`/`sin`/`cos`/`tanh`/`abs`/`**k` and the
/// built-in stencils (`laplacian`, `ddx`, `ddy`, the C-grid `dx_plus`,
/// `dx_minus`, `dy_plus`, `dy_minus`, `avg_x_plus`, … and `shift`). It is
/// called once, here: the operations it records are then run by the Rust
/// engine at every step (`integrator`: `euler`, `ssp-rk3` or `rk4`), on the
/// periodic `n × n` square of side `length`.
#[pyclass(module = "rewind", name = "Model", frozen)]
pub(crate) struct PyModel {
    pub(crate) inner: Traced,
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (rhs, state, params=None, n=32, length=2.0 * std::f64::consts::PI, dt=0.05, integrator="rk4"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rhs: &Bound<'_, PyAny>,
        state: Vec<String>,
        params: Option<&Bound<'_, PyDict>>,
        n: usize,
        length: f64,
        dt: f64,
        integrator: &str,
    ) -> PyResult<Self> {
        let py = rhs.py();
        if state.is_empty() || (1..state.len()).any(|k| state[..k].contains(&state[k])) {
            return Err(RewindError::new_err(format!("state {state:?}: one or more distinct field names")));
        }
        if !(dt.is_finite() && dt > 0.0) {
            return Err(RewindError::new_err(format!("dt = {dt}: must be a positive number")));
        }
        let integrator = match integrator {
            "euler" => Integrator::Euler,
            "ssp-rk3" => Integrator::SspRk3,
            "rk4" => Integrator::Rk4,
            other => {
                return Err(RewindError::new_err(format!(
                    "no integrator is called {other:?}; the integrators are euler, ssp-rk3, rk4"
                )));
            }
        };
        let grid = rewind_field::Grid::periodic_square(n, length).map_err(err)?;
        let mut ps: Vec<(String, f64)> = Vec::new();
        if let Some(d) = params {
            for (k, v) in d.iter() {
                ps.push((
                    k.extract()?,
                    v.extract().map_err(|_| RewindError::new_err(format!("parameter {k}: a number")))?,
                ));
            }
        }
        let graph: traced::Graph = Arc::default();
        let sd = PyDict::new(py);
        for (k, name) in state.iter().enumerate() {
            sd.set_item(name, Expr::leaf(&graph, Node::State(k), true))?;
        }
        let pd = PyDict::new(py);
        for (k, (name, _)) in ps.iter().enumerate() {
            pd.set_item(name, Expr::leaf(&graph, Node::Param(k), false))?;
        }
        let out = rhs.call1((sd, pd))?;
        let out =
            out.cast::<PyDict>().map_err(|_| RewindError::new_err("rhs must return a dict {field name: tendency}"))?;
        let mut outputs = Vec::new();
        for name in &state {
            let t = out
                .get_item(name)?
                .ok_or_else(|| RewindError::new_err(format!("rhs returned no tendency for {name:?}")))?;
            let e = t.cast::<Expr>().map_err(|_| {
                RewindError::new_err(format!(
                    "the tendency of {name:?} is not a field of the trace (a number? write 0 * {name})"
                ))
            })?;
            let e = e.get();
            if !e.is_field() {
                return Err(RewindError::new_err(format!("the tendency of {name:?} is a scalar, not a field")));
            }
            outputs.push(e.id());
        }
        if out.len() != state.len() {
            return Err(RewindError::new_err(format!(
                "rhs returned tendencies of {} fields; the state has {}",
                out.len(),
                state.len()
            )));
        }
        let nodes = graph.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, _)| *n).collect();
        Ok(PyModel {
            inner: Traced { grid, fields: state, params: ps, nodes: Arc::new(nodes), outputs, integrator, dt },
        })
    }

    /// Operations recorded per evaluation of the right-hand side.
    #[getter]
    fn operations(&self) -> usize {
        self.inner.nodes.len()
    }

    /// The grid: `(nx, ny)`.
    #[getter]
    fn grid(&self) -> (usize, usize) {
        (self.inner.grid.nx, self.inner.grid.ny)
    }

    /// `f(x, y)` at every grid point, flat in the state's order of one
    /// field (`f` a Python function of two floats).
    fn sample<'py>(&self, py: Python<'py>, f: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let g = self.inner.grid;
        let mut v = Vec::with_capacity(g.len());
        for i in 0..g.nx {
            for j in 0..g.ny {
                v.push(f.call1((i as f64 * g.dx, j as f64 * g.dy))?.extract::<f64>()?);
            }
        }
        Ok(array(py, v))
    }
}

/// A Python model's footprint: its recorded step's arena measured at two
/// small grids (from a state of ones) and the state's size at its own.
pub(crate) fn traced_footprint(m: &Traced, steps: usize, strategy: Strategy) -> PyResult<Footprint> {
    let side = m.grid.dx * m.grid.nx as f64;
    let measure = |k: usize| -> PyResult<(u64, u64)> {
        let grid = rewind_field::Grid::periodic_square(k, side).map_err(err)?;
        let small = Traced { grid, ..m.clone() };
        let ones = vec![1.0; m.fields.len() * grid.len()];
        rewind_models::step_arena_bytes(small, &ones).map_err(|e| {
            RewindError::new_err(format!("cannot measure the model's step (from a state of ones): {}", one_line(&e)))
        })
    };
    let (fields, points) = (m.fields.len() as u64, m.grid.len() as u64);
    let f = footprint_from(points, fields, steps, strategy, measure(8)?, measure(16)?);
    Ok(Footprint { dims: m.grid.dims() as u32, ..f })
}
