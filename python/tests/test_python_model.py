"""A model written in Python: traced once, run by the Rust engine under every
schedule — the same bits as the same model written in Rust."""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

import rewind


# the example's shallow water: sims/shallow_water's right-hand side written
# in Python, operation for operation
_spec = importlib.util.spec_from_file_location(
    "shallow_water_example", pathlib.Path(__file__).parents[1] / "examples" / "shallow_water.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


@pytest.mark.parametrize("schedule", ["store-all", "binomial:3"])
def test_python_shallow_water_gives_the_rust_models_bits(schedule):
    rust = rewind.Problem("shallow-water", n=16, steps=8, schedule=schedule, threads=1)
    py = rewind.Problem(example.model(16), x0=rust.x0, steps=8, schedule=schedule, threads=1)
    x0, (v_x, v_p) = rust.x0, rust.direction
    assert np.array_equal(py.truth, rust.truth)
    g_r, g_p = rust.gradient(x0), py.gradient(x0)
    assert g_p["objective"] == g_r["objective"]
    assert np.array_equal(g_p["x0"], g_r["x0"]) and np.array_equal(g_p["params"], g_r["params"])
    h_r, h_p = rust.hvp(x0, v_x, v_p), py.hvp(x0, v_x, v_p)
    assert np.array_equal(h_p["x0"], h_r["x0"]) and np.array_equal(h_p["params"], h_r["params"])


def test_a_python_diffusion_model_matches_central_differences_and_decays():
    m = rewind.Model(lambda s, p: {"c": p["kappa"] * s["c"].laplacian() - 0.1 * s["c"] ** 3},
                     state=["c"], params={"kappa": 0.05}, n=24, dt=0.01, integrator="ssp-rk3")
    assert m.grid == (24, 24) and m.operations > 3
    c0 = m.sample(lambda x, y: math.sin(x) * math.cos(2 * y))
    p = rewind.Problem(m, x0=c0, steps=20, schedule="binomial:4", threads=1)
    g_err, h_err, report = p.check()
    assert g_err < 1e-6 and h_err < 1e-5, report
    final = p.gradient(c0)["final_state"]
    assert np.abs(final).max() < np.abs(c0).max()


def test_tracing_errors_are_clear():
    with pytest.raises(rewind.RewindError, match='no tendency for "v"'):
        rewind.Model(lambda s, p: {"u": s["u"]}, state=["u", "v"])
    with pytest.raises(rewind.RewindError, match="not a field of the trace"):
        rewind.Model(lambda s, p: {"u": 0.0}, state=["u"])
    with pytest.raises(rewind.RewindError, match="is a scalar"):
        rewind.Model(lambda s, p: {"u": p["k"] * 2.0}, state=["u"], params={"k": 1.0})
    with pytest.raises(TypeError, match="on fields"):
        rewind.Model(lambda s, p: {"u": p["k"].laplacian()}, state=["u"], params={"k": 1.0})
    with pytest.raises(rewind.RewindError, match="integrators are euler"):
        rewind.Model(lambda s, p: {"u": s["u"]}, state=["u"], integrator="rk45")
    m = rewind.Model(lambda s, p: {"u": -s["u"]}, state=["u"], n=8)
    with pytest.raises(rewind.RewindError, match="needs x0"):
        rewind.Problem(m, steps=3)
    with pytest.raises(rewind.RewindError, match="x0 has 3 values"):
        rewind.Problem(m, x0=np.zeros(3), steps=3)
    with pytest.raises(rewind.RewindError, match="blow|finite|NaN|inf"):
        bad = rewind.Problem(m, x0=np.full(64, np.inf), steps=3)
        bad.gradient(np.full(64, np.inf))


def test_a_stencil_from_a_table_is_its_sum_of_shifts():
    five = [(0, 0, -4.0), (1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0)]
    m = rewind.Model(lambda s, p: {"c": s["c"].stencil(five) * 0.1}, state=["c"], n=12, dt=0.01, integrator="euler")
    c0 = m.sample(lambda x, y: math.sin(x) + 0.5 * math.cos(3 * y))
    p = rewind.Problem(m, x0=c0, steps=1, schedule="store-all", threads=1)
    c = c0.reshape(12, 12)
    lap = -4 * c + np.roll(c, -1, 0) + np.roll(c, 1, 0) + np.roll(c, -1, 1) + np.roll(c, 1, 1)
    expected = c + 0.01 * 0.1 * lap
    assert np.allclose(p.gradient(c0)["final_state"].reshape(12, 12), expected, rtol=0, atol=1e-14)
    g_err, h_err, report = p.check()
    assert g_err < 1e-6, report
