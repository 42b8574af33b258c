"""Results from Python are the Rust engine's own: the same bits as the
`rewind` command line's for the same problem (REWIND_BIN: the binary,
which scripts/python_tests.sh builds and sets)."""

import json
import os
import subprocess

import numpy as np
import pytest

import rewind

REWIND = os.environ.get("REWIND_BIN")
pytestmark = pytest.mark.skipif(not REWIND, reason="REWIND_BIN is not set (scripts/python_tests.sh sets it)")


def cli(*args):
    out = subprocess.run([REWIND, *args, "--json", "--no-files", "--threads", "1", "-q"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def norm(a):
    # the command line's: a sum of squares from left to right, then sqrt
    acc = 0.0
    for x in a:
        acc += float(x) * float(x)
    return float(np.sqrt(acc))


@pytest.mark.parametrize("name,n,steps,schedule", [
    ("burgers", 32, 30, "binomial:4"),
    ("shallow-water", 16, 12, "online:3"),
    ("ns2d", 16, 10, "store-all"),
])
def test_gradient_and_hvp_are_the_command_lines_bits(name, n, steps, schedule):
    args = ["--sim", name, "--n", str(n), "--steps", str(steps), "--schedule", schedule]
    g_cli, h_cli = cli("grad", *args), cli("hvp", *args)
    p = rewind.Problem(name, n=n, steps=steps, schedule=schedule, threads=1)
    x0, (v_x, v_p) = p.x0, p.direction
    g = p.gradient(x0)
    h = p.hvp(x0, v_x, v_p)
    assert g["objective"] == g_cli["objective"]
    assert norm(g["x0"]) == g_cli["grad_norm"]
    assert norm(h["x0"]) == h_cli["hvp_norm"]
    at = 0
    for param, values in p.params.items():
        part = g["params"][at:at + values.size]
        at += values.size
        expected = g_cli["grad_params"][param]
        if values.size == 1:
            assert part[0] == expected
        else:
            assert norm(part) == expected["norm"]
    assert at == g["params"].size
