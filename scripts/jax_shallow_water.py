#!/usr/bin/env python3
"""JAX reference implementation of the benchmark problem `shallow-water`.

Implements docs/specs/shallow-water.md to the letter (float64, CPU):
rotating shallow water (h, u, v) on the periodic square [0, 2pi)^2, Arakawa
C-grid, Sadourny's energy-conserving vector-invariant form (the same
operators, in the same order, as `rhs` in sims/shallow_water/src/lib.rs),
classic RK4 with dt = 2.56/N, gravity g = 1 and Coriolis f = 1 (both
differentiable). The objective is
J(x0, g, f) = 1/2 dx dy sum over h, u, v of (Phi_K(x0; g, f) - Phi_K(x_B; 1, 1))^2
at x0 = x_A = bump(0.1), g = f = 1; its gradient with respect to (x0, g, f)
is taken by jax.value_and_grad through lax.scan, its Hessian-vector product
along v = (sin(x + 2y), cos(2x - y), sin 3x cos y, 0.5, -0.3) by
forward-over-reverse (jax.jvp of jax.grad).

Formulation: the fastest we found on XLA:CPU (jax 0.10.2, the 2-core VM,
N = 128, K = 100, remat, best of 3 after compilation, seconds; the
alternatives stay selectable by option):

                                          primal    grad     hvp
    --rk scan --shift roll (default)       0.106   0.547   1.316
      the same on one core (taskset -c 0)  0.074   0.681   2.146
    --rk unrolled                          0.094   2.806  17.725
      the same on one core                 0.110       -       -
    --shift concat                         0.107   0.558   1.307
    --shift pad                            0.104   0.595   1.379
    state stacked as one (3, N, N) array   0.081   0.62    1.96
      the same on one core                 0.087       -       -

* the RK4 step's four stages run as a lax.scan over the stage coefficients
  (``--rk scan``), as in scripts/jax_ns2d.py; writing k1..k4 out
  (``--rk unrolled``) agrees to round-off but its gradient takes 5.1x and
  its HVP 13x as long (compile 27 s instead of 3 s, 1.3 GB); its primal is
  1.13x faster on two cores, but the scanned primal on one core (what
  compare_jax.sh's remat-1core runs) beats both;
* the periodic shifts as jnp.roll (``--shift roll``): the same static
  slices + concatenate as spelling them out (``--shift concat``, within the
  noise), and faster than one wrapped copy sliced per shift (``--shift
  pad``, jax_ns2d.py's way for its 9-point stencils: 1.08x the gradient,
  1.05x the HVP here, where no array is shifted more than twice);
* the state a tuple of three (N, N) arrays: one stacked (3, N, N) array
  (tried in a scratch copy, not kept) has the faster two-core primal but
  1.13x the gradient and 1.49x the HVP, and a slower one-core primal.

Three ways to checkpoint the scan over the steps:

* ``remat``: jax.checkpoint around each step inside the scan; the backward
  pass holds one state per step and recomputes each step's internals.
* ``nested``: a two-level scan, ~sqrt(K) segments of ~sqrt(K) steps, with
  jax.checkpoint on the segment (outer body) and on the step (inner body):
  ~2 sqrt(K) states are held at once, for about one extra forward sweep.
* ``store``: no checkpointing; XLA keeps every step's residuals.

At N = 128, K = 100 (same runs as above; gradient, HVP in s, the process's
peak RSS doing primal, gradient and HVP): remat 0.547, 1.316, 536 MiB;
nested (10x10) 0.637, 1.587, 537 MiB; store 0.644, 1.425, 1507 MiB.
Tried and not kept: jax.checkpoint around each stage's right-hand side
instead of the step (the backward pass then keeps every stage's input):
0.538-0.549 s and 1.327-1.340 s against remat's 0.550 and 1.309-1.312 in
the same quiet window, in 467 MiB against 382 (gradient process) and 729
against 467 (HVP process).

Usage:
    python scripts/jax_shallow_water.py --n N --steps K [--variant remat|nested|store]
                                        [--rk scan|unrolled] [--shift roll|concat|pad]
                                        [--what primal|grad|hvp|all] [--repeats R]
    python scripts/jax_shallow_water.py --n 32 --steps 100 --sanity   (mass, energy)
    python scripts/jax_shallow_water.py --n 32 --steps 100 --check    (finite differences,
                                                                       independent NumPy code)

Prints one JSON object with the keys of `rewind spec shallow-water`
(grid, steps, dt, objective, grad_norm, grad_g, grad_f, grad_dot_v, hvp_norm,
v_dot_hvp, primal_s, grad_s, hvp_s, peak_rss_bytes, ...) plus variant,
jax_version, compile times and the resident memory before any compilation.
Figures that the chosen --what does not compute are null. Times are the best
of --repeats runs of the compiled function (compile time excluded, reported
apart as compile_*_s); peak_rss_bytes is the whole process's peak resident
set (ru_maxrss), so run one --what per process to attribute it.
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

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

G0 = 1.0  # gravity at the figures' point and in the target run
F0 = 1.0  # Coriolis parameter likewise
A_BUMP = 0.1  # x_A = bump(0.1)
B_BUMP = 0.12  # x_B = bump(0.12)
V_G = 0.5  # the direction's g component
V_F = -0.3  # the direction's f component


def peak_rss_bytes():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_step(n):
    return 2.56 / n


# ---------------------------------------------------------------- grid, fields


def grid(n):
    """dx (= dy) and the coordinate arrays X[i, j] = x_i, Y[i, j] = y_j (first index x)."""
    dx = 2.0 * math.pi / n
    c = np.arange(n, dtype=np.float64) * dx
    x, y = np.meshgrid(c, c, indexing="ij")
    return dx, x, y


def bump(x, y, a):
    """A resting layer of unit depth with a Gaussian bump of height a: (h, u, v)."""
    pi = math.pi
    h = 1.0 + a * np.exp(-((x - pi) * (x - pi) + (y - 0.8 * pi) * (y - 0.8 * pi)) / 0.6)
    return h, np.zeros_like(x), np.zeros_like(x)


def direction_v(x, y):
    """The state part of the direction v: (v_h, v_u, v_v); v_g = 0.5, v_f = -0.3."""
    return np.sin(x + 2.0 * y), np.cos(2.0 * x - y), np.sin(3.0 * x) * np.cos(y)


# ---------------------------------------------------------- discrete operators


def make_shift(kind):
    """sh(a, axis, d)[..] = a[.. + d along axis], indices modulo N, d = +1 or -1."""
    if kind == "roll":
        def sh(a, axis, d):
            return jnp.roll(a, -d, axis=axis)
    elif kind == "concat":
        def sh(a, axis, d):
            if axis == 0:
                return jnp.concatenate([a[1:], a[:1]], 0) if d == 1 else jnp.concatenate([a[-1:], a[:-1]], 0)
            return jnp.concatenate([a[:, 1:], a[:, :1]], 1) if d == 1 else jnp.concatenate([a[:, -1:], a[:, :-1]], 1)
    elif kind == "pad":
        # one wrapped copy along the axis, then a static slice
        def sh(a, axis, d):
            n = a.shape[axis]
            w = jnp.concatenate([lax.slice_in_dim(a, n - 1, n, axis=axis), a,
                                 lax.slice_in_dim(a, 0, 1, axis=axis)], axis)
            return lax.slice_in_dim(w, 1 + d, 1 + d + n, axis=axis)
    else:
        raise ValueError(kind)
    return sh


class Ops:
    """The C-grid two-point averages and differences of the spec (periodic)."""

    def __init__(self, dx, dy, shift):
        self.dx, self.dy, self.sh = dx, dy, make_shift(shift)

    # (a[i+1] + a[i]) / 2, ... : the Rust stencils' (a + b) * 0.5
    def ax_p(self, a):
        return (a + self.sh(a, 0, 1)) * 0.5

    def ax_m(self, a):
        return (a + self.sh(a, 0, -1)) * 0.5

    def ay_p(self, a):
        return (a + self.sh(a, 1, 1)) * 0.5

    def ay_m(self, a):
        return (a + self.sh(a, 1, -1)) * 0.5

    # (a[i+1] - a[i]) / dx, (a[i] - a[i-1]) / dx, ...
    def dx_p(self, a):
        return (self.sh(a, 0, 1) - a) / self.dx

    def dx_m(self, a):
        return (a - self.sh(a, 0, -1)) / self.dx

    def dy_p(self, a):
        return (self.sh(a, 1, 1) - a) / self.dy

    def dy_m(self, a):
        return (a - self.sh(a, 1, -1)) / self.dy


class Problem:
    def __init__(self, n, steps, rk="scan", shift="roll"):
        self.n, self.steps = n, steps
        self.dt = time_step(n)
        self.rk = rk
        self.dx, x, y = grid(n)
        self.dy = self.dx
        self.x, self.y = x, y
        self.ops = Ops(self.dx, self.dy, shift)
        self.xa = tuple(jnp.asarray(a) for a in bump(x, y, A_BUMP))
        self.xb = tuple(jnp.asarray(a) for a in bump(x, y, B_BUMP))
        self.vx = tuple(jnp.asarray(a) for a in direction_v(x, y))

    def rhs(self, s, g, f):
        """Sadourny's energy-conserving vector-invariant form, as `rhs` in
        sims/shallow_water/src/lib.rs, operation for operation."""
        o = self.ops
        h, u, v = s
        uu = o.ax_p(h) * u  # U = <h>x+ u, at u points
        vv = o.ay_p(h) * v  # V = <h>y+ v, at v points
        dh = -(o.dx_m(uu) + o.dy_m(vv))
        q = (o.dx_p(v) - o.dy_p(u) + f) / o.ay_p(o.ax_p(h))  # at corners
        b = h * g + (o.ax_m(u * u) + o.ay_m(v * v)) * 0.5  # Bernoulli, at h points
        du = o.ay_m(q * o.ax_p(vv)) - o.dx_p(b)
        dv = -o.ax_m(q * o.ay_p(uu)) - o.dy_p(b)
        return dh, du, dv

    def step_unrolled(self, s, g, f):
        """RK4 with k1..k4 written out (slower under XLA:CPU)."""
        dt = self.dt

        def axpy(a, k, x):
            return tuple(a * ki + xi for ki, xi in zip(k, x))

        k1 = self.rhs(s, g, f)
        k2 = self.rhs(axpy(dt / 2.0, k1, s), g, f)
        k3 = self.rhs(axpy(dt / 2.0, k2, s), g, f)
        k4 = self.rhs(axpy(dt, k3, s), g, f)
        return tuple(xi + (dt / 6.0) * a + (dt / 3.0) * b + (dt / 3.0) * c + (dt / 6.0) * d
                     for xi, a, b, c, d in zip(s, k1, k2, k3, k4))

    def step_scan(self, s, g, f):
        """The same RK4 step with its four stages as a lax.scan over the stage
        coefficients (one compiled right-hand side instead of four)."""
        dt = self.dt
        a = jnp.asarray([0.0, dt / 2.0, dt / 2.0, dt])  # stage input offsets
        b = jnp.asarray([dt / 6.0, dt / 3.0, dt / 3.0, dt / 6.0])  # stage weights

        def stage(carry, ab):
            acc, k = carry
            ai, bi = ab
            k = self.rhs(tuple(si + ai * ki for si, ki in zip(s, k)), g, f)
            return (tuple(ci + bi * ki for ci, ki in zip(acc, k)), k), None

        zeros = tuple(jnp.zeros_like(si) for si in s)
        (acc, _), _ = lax.scan(stage, (s, zeros), (a, b))
        return acc

    def step(self, s, g, f):
        return self.step_scan(s, g, f) if self.rk == "scan" else self.step_unrolled(s, g, f)

    # -- Phi_K: `steps` RK4 steps, scanned three ways

    def advance_plain(self, s0, g, f, steps=None):
        steps = self.steps if steps is None else steps

        def body(s, _):
            return self.step(s, g, f), None

        s, _ = lax.scan(body, s0, None, length=steps)
        return s

    def advance_remat(self, s0, g, f, steps=None):
        steps = self.steps if steps is None else steps
        step = jax.checkpoint(self.step, prevent_cse=False)

        def body(s, _):
            return step(s, g, f), None

        s, _ = lax.scan(body, s0, None, length=steps)
        return s

    def nested_split(self):
        """(segments, segment length, remainder): ~sqrt(K) segments of ~sqrt(K) steps."""
        m = max(1, int(round(math.sqrt(self.steps))))
        k = self.steps // m
        return k, m, self.steps - k * m

    def advance_nested(self, s0, g, f):
        k, m, r = self.nested_split()

        def segment(s, g, f):
            return self.advance_remat(s, g, f, m)

        segment = jax.checkpoint(segment, prevent_cse=False)

        def outer(s, _):
            return segment(s, g, f), None

        s, _ = lax.scan(outer, s0, None, length=k)
        if r:
            s = self.advance_remat(s, g, f, r)
        return s

    def mass(self, s):
        return float(np.sum(np.asarray(s[0]))) * self.dx * self.dy

    def energy(self, s, g):
        h, u, v = (np.asarray(a) for a in s)
        ku = 0.5 * (u * u + np.roll(u, 1, axis=0) ** 2)
        kv = 0.5 * (v * v + np.roll(v, 1, axis=1) ** 2)
        return float(np.sum(0.5 * h * (ku + kv) + 0.5 * g * h * h)) * self.dx * self.dy


def flat(parts):
    """The flat vector [h, u, v, g, f] (numpy, float64)."""
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def make_functions(pb, variant):
    advance = {"remat": pb.advance_remat, "nested": pb.advance_nested, "store": pb.advance_plain}[variant]
    area = pb.dx * pb.dy
    # the target Phi_K(x_B; 1, 1) (not timed), with the plain scan
    target = jax.jit(pb.advance_plain)(pb.xb, G0, F0)
    target = jax.block_until_ready(target)

    def loss(s0, g, f):
        s = advance(s0, g, f)
        return 0.5 * area * sum(jnp.sum((a - t) * (a - t)) for a, t in zip(s, target))

    grad_fn = jax.value_and_grad(loss, argnums=(0, 1, 2))

    def hvp_fn(s0, g, f, vs, vg, vf):
        # forward-over-reverse: the tangent of the gradient along v
        (j, gr), (_, hv) = jax.jvp(grad_fn, (s0, g, f), (vs, vg, vf))
        return j, gr, hv

    return loss, grad_fn, hvp_fn, target


def sanity(n, steps, shift):
    """Mass sum(h) dx dy is conserved to round-off over the run (flux form); the
    energy drifts only by RK4's time error."""
    pb = Problem(n, steps, shift=shift)
    s = jax.jit(pb.advance_plain)(pb.xa, G0, F0)
    m0, m1 = pb.mass(pb.xa), pb.mass(s)
    e0, e1 = pb.energy(pb.xa, G0), pb.energy(s, G0)
    return {"grid": [n, n], "steps": steps, "dt": pb.dt, "mass0": m0, "mass1": m1,
            "mass_rel_drift": abs(m1 - m0) / m0, "energy_rel_drift": (e1 - e0) / e0,
            "min_h": float(np.min(np.asarray(s[0]))), "max_abs_u": float(np.max(np.abs(np.asarray(s[1])))),
            "jax_version": jax.__version__}


def numpy_objective(n, steps):
    """J(x0, g, f) by plain NumPy, written separately from the JAX code above straight
    from the spec's text (np.roll for the shifts, RK4 with k1..k4 written out): an
    independent check of the right-hand side and of the objective."""
    dx = 2.0 * math.pi / n
    dt = time_step(n)
    _, x, y = grid(n)

    def ip(a):  # a[i+1, j]
        return np.roll(a, -1, 0)

    def im(a):  # a[i-1, j]
        return np.roll(a, 1, 0)

    def jp(a):  # a[i, j+1]
        return np.roll(a, -1, 1)

    def jm(a):  # a[i, j-1]
        return np.roll(a, 1, 1)

    def rhs(s, g, f):
        h, u, v = s
        U = 0.5 * (h + ip(h)) * u
        V = 0.5 * (h + jp(h)) * v
        rh = -((U - im(U)) / dx + (V - jm(V)) / dx)
        q = ((ip(v) - v) / dx - (jp(u) - u) / dx + f) / (0.25 * (h + ip(h) + jp(h) + ip(jp(h))))
        B = g * h + 0.5 * (0.5 * (u * u + im(u * u)) + 0.5 * (v * v + jm(v * v)))
        qv = q * 0.5 * (V + ip(V))
        qu = q * 0.5 * (U + jp(U))
        return [rh, 0.5 * (qv + jm(qv)) - (ip(B) - B) / dx, -0.5 * (qu + im(qu)) - (jp(B) - B) / dx]

    def phi(s, g, f):
        for _ in range(steps):
            k1 = rhs(s, g, f)
            k2 = rhs([a + dt / 2 * b for a, b in zip(s, k1)], g, f)
            k3 = rhs([a + dt / 2 * b for a, b in zip(s, k2)], g, f)
            k4 = rhs([a + dt * b for a, b in zip(s, k3)], g, f)
            s = [a + dt / 6 * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(s, k1, k2, k3, k4)]
        return s

    target = phi(list(bump(x, y, B_BUMP)), G0, F0)

    def objective(s0, g, f):
        return 0.5 * dx * dx * sum(float(np.sum((a - t) ** 2)) for a, t in zip(phi(list(s0), g, f), target))

    return objective, [np.asarray(a) for a in bump(x, y, A_BUMP)]


def fd_check(n, steps, shift, rk):
    """The gradient and the HVP against central finite differences in direction v
    (the store variant; all variants agree to round-off), Richardson-extrapolated
    central differences at eps and eps/2 (error O(eps^4)); J, dJ/dg and dJ/df
    against the independent NumPy code of numpy_objective."""
    pb = Problem(n, steps, rk=rk, shift=shift)
    loss, grad_fn, hvp_fn, _ = make_functions(pb, "store")
    loss, grad_fn, hvp_fn = jax.jit(loss), jax.jit(grad_fn), jax.jit(hvp_fn)
    vs, vg, vf = pb.vx, V_G, V_F
    vflat = flat(list(vs) + [vg, vf])
    j, gr, hv = hvp_fn(pb.xa, G0, F0, vs, vg, vf)
    gflat = flat(list(gr[0]) + [gr[1], gr[2]])
    hflat = flat(list(hv[0]) + [hv[1], hv[2]])
    gdv, vhv = float(gflat @ vflat), float(vflat @ hflat)

    def at(t):
        return (tuple(a + t * b for a, b in zip(pb.xa, vs)), G0 + t * vg, F0 + t * vf)

    def central_j(eps):
        return (float(loss(*at(eps))) - float(loss(*at(-eps)))) / (2 * eps)

    def central_g(eps):
        def gvec(t):
            _, g = grad_fn(*at(t))
            return flat(list(g[0]) + [g[1], g[2]])
        return (gvec(eps) - gvec(-eps)) / (2 * eps)

    out = {"grid": [n, n], "steps": steps, "objective": float(j), "grad_g": float(gr[1]), "grad_f": float(gr[2]),
           "grad_dot_v": gdv, "v_dot_hvp": vhv}
    # J, dJ/dg and dJ/df by the independent NumPy code (Richardson-extrapolated
    # central differences at 1e-3 and 5e-4 for the derivatives)
    nj, xa = numpy_objective(n, steps)

    def rich(fun, e):
        def c(e):
            return (fun(e) - fun(-e)) / (2 * e)
        return (4 * c(e / 2) - c(e)) / 3

    nj0 = nj(xa, G0, F0)
    ng = rich(lambda t: nj(xa, G0 + t, F0), 1e-3)
    nf = rich(lambda t: nj(xa, G0, F0 + t), 1e-3)
    out["numpy"] = {"objective": nj0, "objective_rel_diff": abs(nj0 - float(j)) / abs(float(j)),
                    "grad_g_fd": ng, "grad_g_rel_err": abs(ng - float(gr[1])) / abs(float(gr[1])),
                    "grad_f_fd": nf, "grad_f_rel_err": abs(nf - float(gr[2])) / abs(float(gr[2]))}
    out["fd"] = []
    for eps in (1e-2, 1e-3, 1e-4):
        fj = (4 * central_j(eps / 2) - central_j(eps)) / 3
        fg = (4 * central_g(eps / 2) - central_g(eps)) / 3
        out["fd"].append({
            "eps": eps,
            "grad_dot_v_fd": fj, "grad_dot_v_rel_err": abs(fj - gdv) / abs(gdv),
            "v_dot_hvp_fd": float(vflat @ fg), "v_dot_hvp_rel_err": abs(float(vflat @ fg) - vhv) / abs(vhv),
            "hvp_vector_rel_err": float(np.linalg.norm(fg - hflat) / np.linalg.norm(hflat)),
        })
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=32, help="points per direction (dt = 2.56/N)")
    ap.add_argument("--steps", type=int, default=100, help="RK4 steps K")
    ap.add_argument("--variant", default="remat", choices=["remat", "nested", "store"],
                    help="remat: jax.checkpoint per step; nested: two-level sqrt(K) scan; "
                         "store: no checkpointing (XLA keeps every step's residuals)")
    ap.add_argument("--rk", default="scan", choices=["scan", "unrolled"],
                    help="RK4 stages as a lax.scan (fast) or written out")
    ap.add_argument("--shift", default="roll", choices=["roll", "concat", "pad"],
                    help="periodic shifts: jnp.roll, slices + concatenate, or a wrapped copy sliced")
    ap.add_argument("--what", default="all", choices=["primal", "grad", "hvp", "all"])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    ap.add_argument("--sanity", action="store_true",
                    help="only the conservation check: mass and energy drift over the run from x_A")
    ap.add_argument("--check", action="store_true",
                    help="only the finite-difference check of the gradient and the HVP along v")
    args = ap.parse_args()
    if args.n < 3 or args.steps < 1:
        ap.error("--n must be at least 3 and --steps at least 1")
    if args.sanity or args.check:
        r = sanity(args.n, args.steps, args.shift) if args.sanity else fd_check(args.n, args.steps, args.shift, args.rk)
        json.dump(r, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return

    pb = Problem(args.n, args.steps, rk=args.rk, shift=args.shift)
    baseline_rss = peak_rss_bytes()  # interpreter + jax + the fields, before any compilation
    _, grad_fn, hvp_fn, target = make_functions(pb, args.variant)
    g0, f0 = jnp.asarray(G0), jnp.asarray(F0)
    vg, vf = jnp.asarray(V_G), jnp.asarray(V_F)
    vflat = flat(list(pb.vx) + [V_G, V_F])
    area = pb.dx * pb.dy

    def compile_(fn, *xs):
        t0 = time.perf_counter()
        c = jax.jit(fn).lower(*xs).compile()
        return c, time.perf_counter() - t0

    def best_of(c, *xs):
        best, out = math.inf, None
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            out = jax.block_until_ready(c(*xs))
            best = min(best, time.perf_counter() - t0)
        return best, out

    def grad_figures(gr):
        gflat = flat(list(gr[0]) + [gr[1], gr[2]])
        return {"grad_norm": float(math.sqrt(gflat @ gflat)), "grad_g": float(gr[1]), "grad_f": float(gr[2]),
                "grad_dot_v": float(gflat @ vflat)}

    rep = {
        "grid": [pb.n, pb.n], "steps": pb.steps, "dt": pb.dt, "g": G0, "f": F0,
        "objective": None, "grad_norm": None, "grad_g": None, "grad_f": None, "grad_dot_v": None,
        "hvp_norm": None, "v_dot_hvp": None,
        "primal_s": None, "grad_s": None, "hvp_s": None,
        "compile_primal_s": None, "compile_grad_s": None, "compile_hvp_s": None, "compile_s": 0.0,
    }
    if args.what in ("primal", "all"):
        c, ct = compile_(pb.advance_plain, pb.xa, g0, f0)
        t, sfin = best_of(c, pb.xa, g0, f0)
        d = flat(sfin) - flat(target)
        rep.update(primal_s=t, compile_primal_s=ct, objective=float(0.5 * area * (d @ d)))
        rep["compile_s"] += ct
    if args.what in ("grad", "all"):
        c, ct = compile_(grad_fn, pb.xa, g0, f0)
        t, (j, gr) = best_of(c, pb.xa, g0, f0)
        rep.update(grad_s=t, compile_grad_s=ct, objective=float(j), **grad_figures(gr))
        rep["compile_s"] += ct
    if args.what in ("hvp", "all"):
        c, ct = compile_(hvp_fn, pb.xa, g0, f0, pb.vx, vg, vf)
        t, (j, gr, hv) = best_of(c, pb.xa, g0, f0, pb.vx, vg, vf)
        hflat = flat(list(hv[0]) + [hv[1], hv[2]])
        rep.update(hvp_s=t, compile_hvp_s=ct, hvp_norm=float(math.sqrt(hflat @ hflat)),
                   v_dot_hvp=float(vflat @ hflat))
        if rep["grad_norm"] is None:  # the hvp run computes J and the gradient too
            rep.update(objective=float(j), **grad_figures(gr))
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
        "shift": args.shift,
        "cores": len(os.sched_getaffinity(0)),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "x64": bool(jax.config.jax_enable_x64),
    })
    json.dump(rep, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
