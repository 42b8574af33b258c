"""Optimisers from Python: rewind's own on a Problem, and the objective and
gradient handed to scipy.optimize.minimize as a user would."""

import numpy as np
import pytest
import scipy.optimize

import rewind


@pytest.mark.parametrize("method", ["lbfgs", "newton-cg", "gauss-newton"])
def test_rewinds_optimisers_reduce_the_misfit(method):
    p = rewind.Problem("burgers", n=32, steps=20, schedule="binomial:4", threads=1)
    start = p.start
    r = p.minimize(method=method, max_iter=15)
    assert r["objective"] < 1e-3 * p.value(start), r["termination"]
    assert r["iterations"] == len(r["history"]) - 1
    assert r["history"][0][1] == p.value(start)
    # towards the twin's truth
    assert np.linalg.norm(r["x"] - p.truth) < 0.5 * np.linalg.norm(start - p.truth)


def test_scipy_minimize_with_rewinds_gradient():
    p = rewind.Problem("burgers", n=32, steps=20, schedule="binomial:4", threads=1)
    start = p.start

    def fun(x):
        g = p.gradient(x)
        return g["objective"], g["x0"]

    res = scipy.optimize.minimize(fun, start, jac=True, method="L-BFGS-B", options={"maxiter": 30})
    assert res.fun < 1e-3 * p.value(start)
    hessp = lambda x, v: p.hvp(x, v)["x0"]
    res2 = scipy.optimize.minimize(lambda x: p.value(x), start, jac=lambda x: p.gradient(x)["x0"],
                                   hessp=hessp, method="trust-ncg", options={"maxiter": 15})
    assert res2.fun < 1e-3 * p.value(start)


def test_unknown_method_is_a_rewind_error():
    p = rewind.Problem("burgers", n=16, steps=4)
    with pytest.raises(rewind.RewindError, match="lbfgs"):
        p.minimize(method="bfgs")


def test_four_d_var_from_a_background():
    p = rewind.Problem("shallow-water", n=16, steps=10, schedule="binomial:4", threads=1)
    a = p.four_d_var(length=0.5, variance=1.0, outer=4)
    first, last = a["outer"][0], a["outer"][-1]
    assert a["objective"] < first[0]
    assert last[2] < 1e-2 * first[2]
    assert a["x"].shape == p.x0.shape and a["products"] > 0
    with pytest.raises(rewind.RewindError, match="matern:NU"):
        p.four_d_var(kind="exponential")


def test_point_observations_of_a_python_model_are_assimilated():
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location(
        "shallow_water_example", pathlib.Path(__file__).parents[1] / "examples" / "shallow_water.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rust = rewind.Problem("shallow-water", n=16, steps=12)
    obs = {"field": "h", "stride": 2, "every": 4, "sigma": 1e-3, "seed": 3}
    p = rewind.Problem(example.model(16), x0=rust.x0, steps=12, schedule="binomial:3", threads=1, observe=obs)
    assert "observations of h" in p.about
    g_err, h_err, report = p.check()
    assert g_err < 1e-6 and h_err < 1e-5, report
    r = p.minimize(method="lbfgs", max_iter=20)
    assert r["objective"] < 0.01 * p.value(p.start)
    # the registry's models take observations too; bad ones are errors
    q = rewind.Problem("burgers", n=32, steps=8, observe={"stride": 4}, threads=1)
    assert q.value(q.x0) > 0
    with pytest.raises(rewind.RewindError, match="unknown key"):
        rewind.Problem("burgers", observe={"strid": 4})
    with pytest.raises(rewind.RewindError, match="no field"):
        rewind.Problem("burgers", observe={"field": "h"})
