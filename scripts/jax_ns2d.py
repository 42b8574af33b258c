#!/usr/bin/env python3
"""JAX reference implementation of the benchmark problem `ns2d-periodic`.

Implements docs/specs/ns2d-periodic.md to the letter (float64, CPU):
vorticity-streamfunction Navier-Stokes on the periodic square [0, 2pi)^2,
5-point Laplacian, zero-mean Poisson solve exact for that Laplacian (FFT),
Arakawa Jacobian, classic RK4 with a fixed step, nu = 1e-3, alpha = 0.1,
f = 0.1 sin(4y). The objective is J(w0) = 1/2 h^2 sum (Phi(w0) - Phi(w_B))^2
at w0 = w_A; its gradient is taken by jax.grad through lax.scan, its
Hessian-vector product along v = sin(x + 2y) by forward-over-reverse
(jax.jvp of jax.grad).

The RK4 step's four stages run as a lax.scan over the stage coefficients
(``--rk scan``, the default): the same arithmetic as writing k1..k4 out
(``--rk unrolled``), agreeing to round-off, but XLA:CPU compiles one
right-hand side instead of four and its VJP/JVP run ~2x (gradient) and ~3x
(HVP) faster. This is the fastest JAX formulation we know; see
scripts/compare_jax.sh for the others that were tried.

Three ways to checkpoint the scan over the steps:

* ``remat``: jax.checkpoint around each step inside the scan; the backward
  pass holds one state per step and recomputes each step's internals.
* ``nested``: a two-level scan, ~sqrt(n) segments of ~sqrt(n) steps, with
  jax.checkpoint on the segment (outer body) and on the step (inner body):
  ~2 sqrt(n) states are held at once, for about one extra forward sweep.
* ``store``: no checkpointing; XLA keeps every step's residuals (10.8 GB at
  size M, and slower than remat on this CPU).

``--policy psi`` lets jax.checkpoint keep each stage's streamfunction (no
FFT recomputed in the backward pass, 2x the memory).

Usage:
    python scripts/jax_ns2d.py --size S|M|L [--steps K] [--variant remat|nested|store]
                               [--rk scan|unrolled] [--policy nothing|psi]
                               [--what primal|grad|hvp|all] [--repeats K]

Prints one JSON object with the keys of `rewind spec ns2d-periodic`
(grid, steps, dt, objective, grad_norm, grad_dot_v, hvp_norm, v_dot_hvp, primal_s,
grad_s, hvp_s, peak_rss_bytes, ...) plus variant, jax_version, compile
times and the resident memory before any compilation. Figures that the
chosen --what does not compute are null. Times are the best of --repeats
runs of the compiled function (compile time excluded, reported apart as
compile_*_s); peak_rss_bytes is the whole process's peak resident set
(ru_maxrss), so run one --what per process to attribute it.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from jax.ad_checkpoint import checkpoint_name  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

SIZES = {"S": (32, 100, 0.02), "M": (128, 1000, 0.01), "L": (256, 10000, 0.005)}
NU = 1e-3
ALPHA = 0.1


def peak_rss_bytes():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------- grid, fields


def grid(n):
    """h and the coordinate arrays X[i, j] = x_i, Y[i, j] = y_j (first index x)."""
    h = 2.0 * math.pi / n
    c = np.arange(n, dtype=np.float64) * h
    x, y = np.meshgrid(c, c, indexing="ij")
    return h, x, y


def field_a(x, y):
    return (np.cos(x) * np.cos(y)
            + 0.3 * np.sin(2.0 * x + 0.5) * np.cos(3.0 * y)
            + 0.2 * np.cos(5.0 * x) * np.sin(4.0 * y + 1.0))


def field_b(x, y):
    return np.sin(2.0 * x) * np.cos(y) - 0.5 * np.cos(x + y) + 0.25 * np.sin(3.0 * x - 2.0 * y)


def direction_v(x, y):
    return np.sin(x + 2.0 * y)


def forcing(x, y):
    return 0.1 * np.sin(4.0 * y)


# ---------------------------------------------------------- discrete operators


def wrap(a):
    """`a` with one periodic ghost layer on each side: wrap(a)[1 + i, 1 + j] = a[i mod N, j mod N]."""
    a = jnp.concatenate([a[-1:], a, a[:1]], axis=0)
    return jnp.concatenate([a[:, -1:], a, a[:, :1]], axis=1)


def shifter(a):
    """sh(di, dj)[i, j] = a[i + di, j + dj] (indices modulo N, |di|, |dj| <= 1), as static
    slices of one wrapped copy of `a`. (Faster under XLA CPU, forward and backward, than
    one jnp.roll per shift; the values are the same.)"""
    n = a.shape[0]
    w = wrap(a)

    def sh(di, dj):
        return w[1 + di:1 + di + n, 1 + dj:1 + dj + n]

    return sh


def laplacian(a, h):
    s = shifter(a)
    return (s(1, 0) + s(-1, 0) + s(0, 1) + s(0, -1) - 4.0 * a) / (h * h)


def poisson_eigenvalues(n, h):
    """lambda(k) of the 5-point Laplacian on the rfft2 half-spectrum; lambda(0) := 1
    (the zero mode is dropped by the mask)."""
    kx = 2.0 * math.pi * np.fft.fftfreq(n)  # k_x h, k_x = 0..N-1 (aliased)
    ky = 2.0 * math.pi * np.fft.rfftfreq(n)  # k_y h
    lam = ((2.0 * np.cos(kx)[:, None] - 2.0) + (2.0 * np.cos(ky)[None, :] - 2.0)) / (h * h)
    mask = np.ones_like(lam)
    mask[0, 0] = 0.0
    lam[0, 0] = 1.0
    return lam, mask


def poisson(w, lam, mask):
    """The zero-mean psi with L(psi) = -(w - mean(w)): psi_hat = -w_hat / lambda, psi_hat(0) = 0."""
    n = w.shape[0]
    what = jnp.fft.rfft2(w)
    return jnp.fft.irfft2(-(what * mask) / lam, s=(n, n))


def arakawa(p, q, h):
    """Arakawa Jacobian J(p, q) = (J1 + J2 + J3)/3, each over 4h^2 (spec's stencils)."""
    sp, sq = shifter(p), shifter(q)
    p_ip, p_im, p_jp, p_jm = sp(1, 0), sp(-1, 0), sp(0, 1), sp(0, -1)
    q_ip, q_im, q_jp, q_jm = sq(1, 0), sq(-1, 0), sq(0, 1), sq(0, -1)
    p_pp, p_pm, p_mp, p_mm = sp(1, 1), sp(1, -1), sp(-1, 1), sp(-1, -1)
    q_pp, q_pm, q_mp, q_mm = sq(1, 1), sq(1, -1), sq(-1, 1), sq(-1, -1)
    j1 = (p_ip - p_im) * (q_jp - q_jm) - (p_jp - p_jm) * (q_ip - q_im)
    j2 = (p_ip * (q_pp - q_pm) - p_im * (q_mp - q_mm)
          - p_jp * (q_pp - q_mp) + p_jm * (q_pm - q_mm))
    j3 = (q_jp * (p_pp - p_mp) - q_jm * (p_pm - p_mm)
          - q_ip * (p_pp - p_pm) + q_im * (p_mp - p_mm))
    return (j1 + j2 + j3) / (3.0 * 4.0 * h * h)


class Problem:
    def __init__(self, size, alpha=ALPHA, forced=True, steps=None, rk="scan", policy="nothing"):
        self.size = size
        self.n, self.steps, self.dt = SIZES[size]
        if steps is not None:
            self.steps = steps
        self.rk = rk
        # what jax.checkpoint may keep of a step for its backward pass: nothing
        # (recompute the whole step), or the streamfunction of each stage
        self.policy = None if policy == "nothing" else jax.checkpoint_policies.save_only_these_names("psi")
        self.alpha = alpha
        self.h, x, y = grid(self.n)
        self.x, self.y = x, y
        lam, mask = poisson_eigenvalues(self.n, self.h)
        self.lam11 = float(lam[1, 1])
        self.lam = jnp.asarray(lam)
        self.mask = jnp.asarray(mask)
        self.f = jnp.asarray(forcing(x, y) if forced else np.zeros_like(x))
        self.wa = jnp.asarray(field_a(x, y))
        self.wb = jnp.asarray(field_b(x, y))
        self.v = jnp.asarray(direction_v(x, y))

    def rhs(self, w):
        psi = checkpoint_name(poisson(w, self.lam, self.mask), "psi")
        return arakawa(psi, w, self.h) + NU * laplacian(w, self.h) - self.alpha * w + self.f

    def step_unrolled(self, w):
        """RK4 with k1..k4 written out (XLA:CPU fuses its VJP poorly: slower)."""
        dt = self.dt
        k1 = self.rhs(w)
        k2 = self.rhs(w + (dt / 2.0) * k1)
        k3 = self.rhs(w + (dt / 2.0) * k2)
        k4 = self.rhs(w + dt * k3)
        return w + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def step_scan(self, w):
        """The same RK4 step with its four stages as a lax.scan over the stage
        coefficients (one compiled right-hand side instead of four: XLA:CPU
        compiles its VJP and JVP into much faster code). Agrees with
        step_unrolled to round-off."""
        dt = self.dt
        a = jnp.asarray([0.0, 0.5, 0.5, 1.0]) * dt  # stage input offsets
        b = jnp.asarray([1.0, 2.0, 2.0, 1.0]) * (dt / 6.0)  # stage weights

        def stage(carry, ab):
            acc, k = carry
            ai, bi = ab
            k = self.rhs(w + ai * k)
            return (acc + bi * k, k), None

        (acc, _), _ = lax.scan(stage, (w, jnp.zeros_like(w)), (a, b))
        return acc

    def step(self, w):
        return self.step_scan(w) if self.rk == "scan" else self.step_unrolled(w)

    # -- Phi: `steps` RK4 steps, scanned three ways

    def advance_plain(self, w0):
        def body(w, _):
            return self.step(w), None

        w, _ = lax.scan(body, w0, None, length=self.steps)
        return w

    def advance_remat(self, w0, steps=None):
        steps = self.steps if steps is None else steps
        step = jax.checkpoint(self.step, prevent_cse=False, policy=self.policy)

        def body(w, _):
            return step(w), None

        w, _ = lax.scan(body, w0, None, length=steps)
        return w

    def nested_split(self):
        """(segments, segment length, remainder): ~sqrt(n) segments of ~sqrt(n) steps."""
        m = max(1, int(round(math.sqrt(self.steps))))
        k = self.steps // m
        return k, m, self.steps - k * m

    def advance_nested(self, w0):
        k, m, r = self.nested_split()

        def segment(w):
            return self.advance_remat(w, m)

        segment = jax.checkpoint(segment, prevent_cse=False)

        def outer(w, _):
            return segment(w), None

        w, _ = lax.scan(outer, w0, None, length=k)
        if r:
            w = self.advance_remat(w, r)
        return w


def sanity(size):
    """The spec's check with a known answer: alpha = 0, f = 0, w0 = cos x cos y; each RK4
    step multiplies the field by 1 + z + z^2/2 + z^3/6 + z^4/24, z = dt nu lambda(1, 1)."""
    pb = Problem(size, alpha=0.0, forced=False)
    w0 = np.cos(pb.x) * np.cos(pb.y)
    w = np.asarray(jax.jit(pb.advance_plain)(jnp.asarray(w0)))
    z = pb.dt * NU * pb.lam11
    g = 1.0 + z + z * z / 2.0 + z ** 3 / 6.0 + z ** 4 / 24.0
    exact = w0 * g ** pb.steps
    err = float(np.max(np.abs(w - exact)) / np.max(np.abs(exact)))
    return {"grid": [pb.n, pb.n], "steps": pb.steps, "dt": pb.dt, "growth_per_step": g,
            "sanity_max_rel_err": err, "jax_version": jax.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="S", choices=sorted(SIZES))
    ap.add_argument("--variant", default="remat", choices=["remat", "nested", "store"],
                    help="remat: jax.checkpoint per step; nested: two-level sqrt(n) scan; "
                         "store: no checkpointing (XLA keeps every step's residuals)")
    ap.add_argument("--steps", type=int, default=None,
                    help="override the size's step count (same N and dt)")
    ap.add_argument("--rk", default="scan", choices=["scan", "unrolled"],
                    help="RK4 stages as a lax.scan (fast) or written out")
    ap.add_argument("--policy", default="nothing", choices=["nothing", "psi"],
                    help="jax.checkpoint policy of remat/nested: save nothing, or each stage's psi")
    ap.add_argument("--what", default="all", choices=["primal", "grad", "hvp", "all"])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    ap.add_argument("--sanity", action="store_true",
                    help="run only the spec's sanity check with a known answer")
    args = ap.parse_args()
    if args.sanity:
        json.dump(sanity(args.size), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return

    pb = Problem(args.size, steps=args.steps, rk=args.rk, policy=args.policy)
    advance = {"remat": pb.advance_remat, "nested": pb.advance_nested, "store": pb.advance_plain}[args.variant]
    area = pb.h * pb.h

    baseline_rss = peak_rss_bytes()  # interpreter + jax + the fields, before any compilation
    # the target Phi(w_B) (not timed), with the plain scan
    target = jax.jit(pb.advance_plain)(pb.wb).block_until_ready()

    def loss(w0):
        d = advance(w0) - target
        return 0.5 * area * jnp.sum(d * d)

    grad_fn = jax.value_and_grad(loss)

    def hvp_fn(w0, v):
        # forward-over-reverse: the tangent of the gradient along v
        (j, g), (_, hv) = jax.jvp(grad_fn, (w0,), (v,))
        return j, g, hv

    def compile_(f, *xs):
        t0 = time.perf_counter()
        c = jax.jit(f).lower(*xs).compile()
        return c, time.perf_counter() - t0

    def best_of(c, *xs):
        best, out = math.inf, None
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            out = jax.block_until_ready(c(*xs))
            best = min(best, time.perf_counter() - t0)
        return best, out

    def dot(a, b):
        return float(jnp.vdot(a, b))

    rep = {
        "grid": [pb.n, pb.n], "steps": pb.steps, "dt": pb.dt,
        "objective": None, "grad_norm": None, "grad_dot_v": None, "hvp_norm": None, "v_dot_hvp": None,
        "primal_s": None, "grad_s": None, "hvp_s": None,
        "compile_primal_s": None, "compile_grad_s": None, "compile_hvp_s": None, "compile_s": 0.0,
    }
    if args.what in ("primal", "all"):
        c, ct = compile_(pb.advance_plain, pb.wa)
        t, wfin = best_of(c, pb.wa)
        d = np.asarray(wfin) - np.asarray(target)
        rep.update(primal_s=t, compile_primal_s=ct, objective=float(0.5 * area * np.sum(d * d)))
        rep["compile_s"] += ct
    if args.what in ("grad", "all"):
        c, ct = compile_(grad_fn, pb.wa)
        t, (j, g) = best_of(c, pb.wa)
        rep.update(grad_s=t, compile_grad_s=ct, objective=float(j),
                   grad_norm=math.sqrt(dot(g, g)), grad_dot_v=dot(g, pb.v))
        rep["compile_s"] += ct
    if args.what in ("hvp", "all"):
        c, ct = compile_(hvp_fn, pb.wa, pb.v)
        t, (j, g, hv) = best_of(c, pb.wa, pb.v)
        rep.update(hvp_s=t, compile_hvp_s=ct, hvp_norm=math.sqrt(dot(hv, hv)), v_dot_hvp=dot(pb.v, hv))
        if rep["grad_norm"] is None:  # the hvp run computes J and the gradient too
            rep.update(objective=float(j), grad_norm=math.sqrt(dot(g, g)), grad_dot_v=dot(g, pb.v))
        rep["compile_s"] += ct
    if rep["primal_s"] and rep["grad_s"]:
        rep["grad_over_primal"] = rep["grad_s"] / rep["primal_s"]
    if rep["grad_s"] and rep["hvp_s"]:
        rep["hvp_over_grad"] = rep["hvp_s"] / rep["grad_s"]
    k, m, r = pb.nested_split()
    rep.update({
        "peak_rss_bytes": peak_rss_bytes(),
        "baseline_rss_bytes": baseline_rss,
        "variant": args.variant,
        "what": args.what,
        "repeats": args.repeats,
        "schedule": {"remat": "remat per step", "store": "no checkpoint",
                     "nested": f"nested {k}x{m}" + (f"+{r}" if r else "")}[args.variant],
        "rk": args.rk,
        "policy": args.policy,
        "cores": len(os.sched_getaffinity(0)),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "x64": bool(jax.config.jax_enable_x64),
    })
    json.dump(rep, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
