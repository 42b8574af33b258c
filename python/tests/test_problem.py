"""rewind from Python: the registry, derivatives against finite differences
and against each other, errors as one-line exceptions, numpy in and out."""

import threading

import numpy as np
import pytest

import rewind


def test_models_lists_every_registered_model():
    names = [m["name"] for m in rewind.models()]
    assert names == ["ns2d", "burgers", "cavity", "lorenz96", "shallow-water", "gray-scott", "acoustic"]
    sw = next(m for m in rewind.models() if m["name"] == "shallow-water")
    assert sw["state"] == ["h", "u", "v"]
    assert sw["default_steps"] > 0


@pytest.mark.parametrize("name", ["burgers", "shallow-water", "gray-scott"])
def test_gradient_matches_central_differences(name):
    p = rewind.Problem(name, n=16, steps=12, schedule="binomial:3", threads=1)
    x0 = p.x0
    g = p.gradient(x0)
    assert g["x0"].shape == x0.shape and g["x0"].dtype == np.float64
    v = p.direction[0]
    eps = 1e-6 * np.abs(x0).max() / np.abs(v).max()
    fd = (p.value(x0 + eps * v) - p.value(x0 - eps * v)) / (2 * eps)
    exact = float(g["x0"] @ v)
    assert abs(fd - exact) <= 1e-5 * abs(exact), (fd, exact)
    assert g["objective"] == p.value(x0)


def test_hvp_is_symmetric_and_its_gradient_is_the_gradient():
    p = rewind.Problem("shallow-water", n=16, steps=10, schedule="binomial:4", threads=1)
    x0 = p.x0
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(x0.size), rng.standard_normal(x0.size)
    ha, hb = p.hvp(x0, a), p.hvp(x0, b)
    # ⟨H a, b⟩ = ⟨a, H b⟩ (to round-off)
    assert abs(ha["x0"] @ b - a @ hb["x0"]) <= 1e-9 * abs(ha["x0"] @ b)
    g = p.gradient(x0)
    assert np.array_equal(ha["gradient_x0"], g["x0"])  # the same bits
    assert ha["objective"] == g["objective"]


def test_every_schedule_gives_the_same_gradient_bits():
    p = rewind.Problem("burgers", n=32, steps=30, threads=1)
    x0 = p.x0
    results = []
    for s in ["store-all", "binomial:4", "periodic:5", "online:3"]:
        p.schedule = s
        assert p.schedule == s
        results.append(p.gradient(x0)["x0"])
    for r in results[1:]:
        assert np.array_equal(r, results[0])


def test_gauss_newton_product_is_symmetric_positive():
    p = rewind.Problem("burgers", n=32, steps=20, schedule="binomial:4", threads=1)
    x0, v = p.x0, p.direction[0]
    gv = p.gauss_newton(x0, v)["x0"]
    assert v @ gv > 0


def test_part_shapes_a_state_as_the_grid():
    p = rewind.Problem("shallow-water", n=16, steps=2)
    h = p.part(p.x0, "h")
    assert h.shape == (16, 16)
    g = p.gradient(p.x0)
    assert np.array_equal(g["state"]["u"], p.part(g["x0"], "u"))
    assert list(g["param"]) == ["g", "f"] and g["param"]["f"] == g["params"][1]
    gs = rewind.Problem("gray-scott", n=16, steps=2).gradient(rewind.Problem("gray-scott", n=16, steps=2).x0)
    assert any(isinstance(v, np.ndarray) and v.size == 256 for v in gs["param"].values())
    assert p.grid == (16, 16)
    assert set(p.params) == {"g", "f"}


def test_a_3d_model_shapes_its_fields_as_its_volume():
    p = rewind.Problem("acoustic", n=12, steps=4, threads=1)
    assert p.grid == (12, 12, 12)
    assert p.part(p.x0, "u").shape == (12, 12, 12)
    g = p.gradient(p.x0)
    assert g["state"]["u_prev"].shape == (12, 12, 12)
    # the truth is another medium: the gradient in m = 1/c² is not zero
    assert g["param"]["m"].size == 12**3 and np.abs(g["param"]["m"]).max() > 0


def test_check_passes():
    p = rewind.Problem("lorenz96", steps=20, schedule="binomial:4", threads=1)
    g_err, h_err, report = p.check()
    assert g_err < 1e-6 and h_err < 1e-5, report


def test_bad_input_raises_one_line_rewind_errors():
    with pytest.raises(rewind.RewindError, match="no model is called 'swe'|no model is called \"swe\""):
        rewind.Problem("swe")
    with pytest.raises(rewind.RewindError, match="bad schedule \"binomial:x\""):
        rewind.Problem("burgers", schedule="binomial:x")
    with pytest.raises(rewind.RewindError, match="binomial snapshots must be at least 1"):
        rewind.Problem("burgers", schedule="binomial:0")
    with pytest.raises(rewind.RewindError, match="at least 8"):
        rewind.Problem("cavity", n=4)
    p = rewind.Problem("burgers", n=16, steps=4)
    with pytest.raises(rewind.RewindError, match="x0 has 3 values"):
        p.gradient(np.zeros(3))
    bad = p.x0.copy()
    bad[0] = np.nan
    with pytest.raises(rewind.RewindError) as e:
        p.gradient(bad)
    assert "\n" not in str(e.value)


def test_other_threads_run_while_a_gradient_is_computed():
    # the GIL is released during the computation: a Python thread counts
    p = rewind.Problem("shallow-water", n=32, steps=60, schedule="binomial:4", threads=1)
    x0, ticks, done = p.x0, [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        p.gradient(x0)
    finally:
        done.set()
        t.join()
    assert ticks[0] > 1000


def test_a_memory_budget_picks_a_schedule_that_fits_and_too_little_is_an_error():
    big = rewind.Problem("shallow-water", n=32, steps=200, memory="100MB", threads=1)
    assert big.schedule == "store-all"
    small = rewind.Problem("shallow-water", n=32, steps=200, memory="3MB", threads=1)
    assert small.schedule != "store-all"
    assert np.array_equal(small.gradient(small.x0)["x0"], big.gradient(big.x0)["x0"])
    with pytest.raises(rewind.RewindError, match="too small"):
        rewind.Problem("shallow-water", n=32, steps=200, memory="10kB")
    with pytest.raises(rewind.RewindError, match="memory: cannot read"):
        rewind.Problem("shallow-water", memory="lots")
    with pytest.raises(rewind.RewindError, match="does not fit"):
        rewind.Problem("ns2d", n=32, steps=10**9, schedule="store-all")
