//! rewind from Python: every registered model by name as a [`Problem`]
//! with its value, gradient, Hessian-vector product and Gauss–Newton
//! product through a checkpointed run, numpy arrays in and out.
//!
//! Each call copies its input arrays (so that the computation can run
//! without the GIL while other Python threads go on) and hands its results
//! to numpy without a copy. Errors are `rewind.RewindError` with the same
//! one-line message the command line prints. The computation runs on a
//! thread pool of the problem's own (`threads`), as the command line's
//! does.

mod interrupt;
mod model;
mod problem;
mod traced;

use model::PyModel;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use problem::Problem;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rewind_checkpoint::{Counters, Strategy};
use rewind_field::Par;
use rewind_models::{ModelName, Ns2dPhysics};
use traced::Expr;

create_exception!(rewind, RewindError, PyException, "An error of rewind: bad input, a failed run, a bad schedule.");

/// The error and its causes on one line, as the command line prints it.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut at = e.source();
    while let Some(c) = at {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        at = c.source();
    }
    s
}

fn err(e: impl std::error::Error + 'static) -> PyErr {
    RewindError::new_err(one_line(&e))
}

/// An input array as `f64` values in C order (any shape), or a clear
/// error naming the argument and the length it should have.
fn values(name: &str, a: &PyReadonlyArrayDyn<'_, f64>, len: usize) -> PyResult<Vec<f64>> {
    let v: Vec<f64> = a.as_array().iter().copied().collect();
    if v.len() != len {
        return Err(RewindError::new_err(format!(
            "{name} has {} values (shape {:?}); the problem needs {len}",
            v.len(),
            a.shape()
        )));
    }
    Ok(v)
}

fn array<'py>(py: Python<'py>, v: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, v)
}

fn counters<'py>(py: Python<'py>, c: &Counters) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("forward_steps", c.forward_steps)?;
    d.set_item("vjps", c.vjps)?;
    d.set_item("ram_writes", c.writes[0])?;
    d.set_item("disk_writes", c.writes[1])?;
    d.set_item("ram_reads", c.reads[0])?;
    d.set_item("disk_reads", c.reads[1])?;
    d.set_item("peak_snapshot_bytes", c.peak_snapshot_bytes)?;
    d.set_item("reused_steps", c.reused_steps)?;
    Ok(d)
}

/// The grid's sizes: `[nx, ny]`, or `[nx, ny, nz]` in 3D.
fn grid_dims(g: &rewind_field::Grid) -> Vec<usize> {
    if g.nz > 1 { vec![g.nx, g.ny, g.nz] } else { vec![g.nx, g.ny] }
}

/// A field's array shape on `g`: `(nx,)` on a line, `(nx, ny)` on a
/// plane, `(nx, ny, nz)` in 3D (rewind's layout, x slowest).
fn field_shape(g: &rewind_field::Grid) -> Vec<usize> {
    if g.nz > 1 {
        vec![g.nx, g.ny, g.nz]
    } else if g.ny == 1 {
        vec![g.nx]
    } else {
        vec![g.nx, g.ny]
    }
}

/// A flat state by name: each field shaped as the grid, each scalar a
/// number.
fn state_parts<'py>(py: Python<'py>, l: &rewind_sim::Layout, x: &[f64]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let g = l.grid();
    let shape = crate::field_shape(g);
    for f in l.fields() {
        d.set_item(f, array(py, l.part(x, f).map_err(err)?.to_vec()).reshape(shape.clone())?)?;
    }
    for s in l.scalars() {
        d.set_item(s, l.part(x, s).map_err(err)?[0])?;
    }
    Ok(d)
}

/// Flat parameter values by name: a field parameter as an array, a
/// scalar as a number.
fn param_parts<'py>(py: Python<'py>, ps: &rewind_sim::ParamSet, v: &[f64]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let mut at = 0;
    for (name, p) in ps.entries() {
        let part = &v[at..at + p.values().len()];
        at += part.len();
        if p.is_field() {
            d.set_item(name, array(py, part.to_vec()))?;
        } else {
            d.set_item(name, part[0])?;
        }
    }
    Ok(d)
}

/// The models, each as a dict: `name`, `about`, `state` (field and scalar
/// names), `params` (parameter names), `grid` (the default grid: `[nx,
/// ny]`, or `[nx, ny, nz]` in 3D),
/// `default_n` and `default_steps`.
#[pyfunction]
fn models(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let mut out = Vec::new();
    for m in ModelName::ALL {
        let (n, steps) = m.defaults();
        let p = rewind_models::build(
            m,
            &Ns2dPhysics::default(),
            n,
            steps,
            Strategy::StoreAll,
            Par::Seq,
            &std::env::temp_dir(),
        )
        .map_err(err)?;
        let l = p.layout();
        let d = PyDict::new(py);
        d.set_item("name", m.name())?;
        d.set_item("about", m.about())?;
        d.set_item("state", l.fields().iter().chain(l.scalars()).cloned().collect::<Vec<_>>())?;
        d.set_item("params", p.param_set().entries().iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())?;
        d.set_item("grid", grid_dims(l.grid()))?;
        d.set_item("default_n", n)?;
        d.set_item("default_steps", steps)?;
        out.push(d);
    }
    Ok(out)
}

/// Exact gradients, Hessian-vector products and Gauss–Newton products
/// through checkpointed simulations, computed by rewind's Rust engine.
#[pymodule]
fn rewind(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RewindError", m.py().get_type::<RewindError>())?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_class::<Problem>()?;
    m.add_class::<PyModel>()?;
    m.add_class::<Expr>()?;
    Ok(())
}
