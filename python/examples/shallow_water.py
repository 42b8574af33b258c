"""Shallow water written in Python against the same model written in Rust:
the gradient at 128² × 100 steps under binomial:32 (the JAX comparison's
case), the shortest of N calls each, alternating; the two give the same bits.

    python python/examples/shallow_water.py [N] [THREADS]
"""

import sys
import time

import numpy as np

import rewind


def rhs(s, p):
    # sims/shallow_water's right-hand side, operation for operation
    h, u, v = s["h"], s["u"], s["v"]
    g, f = p["g"], p["f"]
    uu, vv = h.avg_x_plus() * u, h.avg_y_plus() * v
    dh = -(uu.dx_minus() + vv.dy_minus())
    q = (v.dx_plus() - u.dy_plus() + f) / h.avg_x_plus().avg_y_plus()
    b = h * g + ((u * u).avg_x_minus() + (v * v).avg_y_minus()) * 0.5
    du = (q * vv.avg_x_plus()).avg_y_minus() - b.dx_plus()
    dv = -(q * uu.avg_y_plus()).avg_x_minus() - b.dy_plus()
    return {"h": dh, "u": du, "v": dv}



def model(n):
    """The right-hand side above as a rewind.Model on the n x n grid (the
    Rust model's time step)."""
    return rewind.Model(rhs, state=["h", "u", "v"], params={"g": 1.0, "f": 1.0}, n=n, dt=0.05 * min(1.0, 32 / n))


def main(repeats, threads):
    n, steps, schedule = 128, 100, "binomial:32"
    rust = rewind.Problem("shallow-water", n=n, steps=steps, schedule=schedule, threads=threads)
    py = rewind.Problem(model(n), x0=rust.x0, steps=steps, schedule=schedule, threads=threads)
    x0 = rust.x0
    best = {"rust": float("inf"), "python": float("inf")}
    grads = {}
    for _ in range(repeats):
        for name, p in (("rust", rust), ("python", py)):
            t = time.perf_counter()
            grads[name] = p.gradient(x0)["x0"]
            best[name] = min(best[name], time.perf_counter() - t)
    same = np.array_equal(grads["rust"], grads["python"])
    print(f"shallow water {n}² × {steps}, {schedule}, {threads} threads, shortest of {repeats}: "
          f"Rust model {best['rust']:.3f} s, Python model {best['python']:.3f} s, "
          f"ratio {best['python'] / best['rust']:.3f}; same bits: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
