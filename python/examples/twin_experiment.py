"""A twin experiment in Python, notebook-style: your own model, a target,
the gradient checked against finite differences, L-BFGS, a picture — and
the same problem in JAX, its time and peak memory beside rewind's.

The model is rotating shallow water written in Python (shallow_water.py
beside this file), the benchmark problem of docs/specs/shallow-water.md:
N² points, K steps of RK4 with dt = 2.56/N, the initial state x_A = bump(0.1)
and the target Φ_K(x_B), x_B = bump(0.12). Starting from x_A, both sides
minimise J(x₀) = ½ dx dy ‖Φ_K(x₀) − Φ_K(x_B)‖² over the initial state with
scipy's L-BFGS-B on their own value and gradient (rewind: checkpointed
binomially; JAX: jax.checkpoint per step inside lax.scan, the fastest JAX
formulation of scripts/jax_shallow_water.py), and rewind's own L-BFGS runs
too. JAX runs in a child process of its own environment (scripts/.venv,
which scripts/compare_jax.sh makes) so that each side's peak memory is its
own.

    pip install matplotlib scipy          # beside the rewind package
    python python/examples/twin_experiment.py [--n 64] [--steps 100] [--iters 20]
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.optimize

import rewind

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import shallow_water  # noqa: E402  (the right-hand side, written in Python)


def bump(n, a):
    """(h, u, v) flat: a resting layer with a Gaussian bump of height a."""
    c = np.arange(n) * (2 * math.pi / n)
    x, y = np.meshgrid(c, c, indexing="ij")
    h = 1.0 + a * np.exp(-((x - math.pi) ** 2 + (y - 0.8 * math.pi) ** 2) / 0.6)
    return np.concatenate([h.ravel(), np.zeros(n * n), np.zeros(n * n)])


def lbfgs(fun_grad, x0, iters):
    """scipy's L-BFGS-B for `iters` iterations: the result and (seconds, J)
    at the start and after each iteration."""
    hist = [(0.0, fun_grad(x0)[0])]
    t0 = time.perf_counter()

    def callback(intermediate_result):
        hist.append((time.perf_counter() - t0, float(intermediate_result.fun)))

    res = scipy.optimize.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", callback=callback,
                                  options={"maxiter": iters, "maxcor": 10, "gtol": 0.0, "ftol": 0.0})
    return res, hist


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="rewind's threads (0: one per core, as JAX)")
    ap.add_argument("--schedule", default="binomial:32")
    ap.add_argument("--out", default="rewind-out", help="where the picture goes")
    ap.add_argument("--jax-python", default=str(HERE.parents[1] / "scripts" / ".venv" / "bin" / "python"),
                    help="a Python with jax and scipy (scripts/compare_jax.sh makes scripts/.venv)")
    a = ap.parse_args()
    n, k = a.n, a.steps

    # 1. the model, written in Python, and the twin problem
    model = rewind.Model(shallow_water.rhs, state=["h", "u", "v"], params={"g": 1.0, "f": 1.0},
                         n=n, dt=2.56 / n)
    xa, xb = bump(n, 0.1), bump(n, 0.12)
    p = rewind.Problem(model, x0=xa, truth=xb, steps=k, schedule=a.schedule, threads=a.threads)
    print(f"shallow water written in Python: {model.operations} field operations a right-hand side, "
          f"{n}² points, {k} steps, {a.schedule}")

    # 2. the gradient against central differences along a direction
    g_err, h_err, _ = p.check()
    print(f"gradient vs central differences: relative error {g_err:.1e}; HVP {h_err:.1e}")

    # 3. L-BFGS: scipy's on rewind's value and gradient, and rewind's own
    def fun_grad(x):
        g = p.gradient(x)
        return g["objective"], g["x0"]

    j0 = p.value(xa)
    grad_s = math.inf
    for _ in range(3):  # the best of 3, as the JAX side
        t = time.perf_counter()
        g = p.gradient(xa)
        grad_s = min(grad_s, time.perf_counter() - t)
    res, hist = lbfgs(fun_grad, xa, a.iters)
    own = p.minimize(x0=xa, method="lbfgs", max_iter=a.iters)
    err = lambda x: np.linalg.norm(x - xb) / np.linalg.norm(xa - xb)  # noqa: E731
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r = {"objective": j0, "grad_norm": float(np.linalg.norm(g["x0"])), "grad_s": grad_s,
         "history": hist, "final": float(res.fun), "evaluations": int(res.nfev), "error": float(err(res.x)),
         "own_final": own["objective"], "own_error": float(err(own["x"])), "own_iterations": own["iterations"],
         "peak_rss": rss}
    print(f"rewind: J(x_A) = {j0:.10e}, one gradient {grad_s:.3f} s; L-BFGS-B {a.iters} iterations "
          f"in {hist[-1][0]:.2f} s: J {j0:.2e} -> {res.fun:.2e}, error {r['error']:.3f} of the start's; "
          f"rewind's L-BFGS: J {own['objective']:.2e}, error {r['own_error']:.3f}; peak RSS {rss / 2**20:.0f} MiB")

    # 4. the same in JAX, in its own process
    jx = None
    if Path(a.jax_python).exists():
        cmd = [a.jax_python, str(HERE / "twin_jax.py"), "--n", str(n), "--steps", str(k), "--iters", str(a.iters)]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "JAX_ENABLE_X64": "1"})
        if out.returncode == 0:
            jx = json.loads(out.stdout)
            print(f"JAX:    J(x_A) = {jx['objective']:.10e} (rewind's relative difference "
                  f"{abs(jx['objective'] - j0) / j0:.1e}), one gradient {jx['grad_s']:.3f} s after "
                  f"{jx['compile_s']:.1f} s of compilation; L-BFGS-B {a.iters} iterations in "
                  f"{jx['history'][-1][0]:.2f} s: J -> {jx['final']:.2e}, error {jx['error']:.3f}; "
                  f"peak RSS {jx['peak_rss'] / 2**20:.0f} MiB")
        else:
            print("JAX run failed:", out.stderr.strip().splitlines()[-1:])
    else:
        print(f"(no JAX: {a.jax_python} is missing; scripts/compare_jax.sh makes that environment)")

    # 5. the picture
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no picture: pip install matplotlib)")
        return
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    h = lambda x: x[: n * n].reshape(n, n).T  # noqa: E731  (y up)
    lo, hi = min(xa[: n * n].min(), xb[: n * n].min()), max(xa[: n * n].max(), xb[: n * n].max())
    for axi, (title, x) in zip(ax, [("truth h (x_B)", xb), ("start h (x_A)", xa),
                                    (f"recovered h ({a.iters} L-BFGS its)", res.x)]):
        im = axi.imshow(h(x), origin="lower", vmin=lo, vmax=hi, cmap="viridis")
        axi.set_title(title)
        axi.set_xticks([]), axi.set_yticks([])
    fig.colorbar(im, ax=ax[:3], shrink=0.8)
    ax[3].semilogy([t for t, _ in hist], [j for _, j in hist], "o-", label="rewind (model in Python)")
    if jx:
        ax[3].semilogy([t for t, _ in jx["history"]], [j for _, j in jx["history"]], "s-",
                       label="JAX (compilation not counted)")
    ax[3].set_xlabel("wall time [s]")
    ax[3].set_ylabel("J")
    ax[3].set_title("L-BFGS-B (scipy) convergence")
    ax[3].legend()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    path = Path(a.out) / "twin_experiment.png"
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    os.replace(tmp, path)  # atomic: no half-written picture
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
