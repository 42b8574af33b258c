"""The JAX side of twin_experiment.py (run in an environment with jax and
scipy): the same problem — scripts/jax_shallow_water.py's shallow water,
jax.checkpoint per step inside lax.scan — J(x_A), one gradient's time after
compilation, scipy's L-BFGS-B over the initial state from x_A for ITERS
iterations, the error against x_B, the process's peak RSS; one JSON object.

    python twin_jax.py --n N --steps K --iters ITERS
"""

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

import jax_shallow_water as sw  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--steps", type=int, required=True)
ap.add_argument("--iters", type=int, required=True)
a = ap.parse_args()

pb = sw.Problem(a.n, a.steps)
loss, _, _, _ = sw.make_functions(pb, "remat")
n2 = a.n * a.n


def unflat(x):
    return tuple(x[k * n2:(k + 1) * n2].reshape(a.n, a.n) for k in range(3))


t = time.perf_counter()
vg = jax.jit(jax.value_and_grad(lambda x: loss(unflat(x), sw.G0, sw.F0)))
xa = jnp.asarray(sw.flat(pb.xa))
j0, _ = jax.block_until_ready(vg(xa))
compile_s = time.perf_counter() - t
grad_s = math.inf
for _ in range(3):
    t = time.perf_counter()
    jax.block_until_ready(vg(xa))
    grad_s = min(grad_s, time.perf_counter() - t)


def fun_grad(x):
    j, g = vg(jnp.asarray(x))
    return float(j), np.asarray(g, dtype=np.float64)


hist = [(0.0, float(j0))]
t0 = time.perf_counter()


def callback(intermediate_result):
    hist.append((time.perf_counter() - t0, float(intermediate_result.fun)))


res = scipy.optimize.minimize(fun_grad, np.asarray(xa), jac=True, method="L-BFGS-B", callback=callback,
                              options={"maxiter": a.iters, "maxcor": 10, "gtol": 0.0, "ftol": 0.0})
xb = sw.flat(pb.xb)
err = float(np.linalg.norm(res.x - xb) / np.linalg.norm(np.asarray(xa) - xb))
json.dump({"objective": float(j0), "compile_s": compile_s, "grad_s": grad_s, "history": hist,
           "final": float(res.fun), "evaluations": int(res.nfev), "error": err,
           "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, sys.stdout)
