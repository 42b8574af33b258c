#!/usr/bin/env python3
"""Plain NumPy reference for the benchmark problem `acoustic` (float64).

The 3D constant-density acoustic wave equation m u_tt + eta u_t = lap u + q
with an 8th-order Laplacian, a damping sponge and leapfrog time stepping,
exactly as the spec that `rewind spec acoustic` and scripts/devito_acoustic.py
implement (summarised here; the literal update formula is `step` below):

* grid N^3, h = 10 m, point (i, j, k) at (i h, j h, k h), arrays [i, j, k]
  row-major (k fastest, k is depth), m = 1/c^2 with c = 1500 m/s;
* Laplacian: per axis the weights [-205/72, 8/5, -1/5, 8/315, -1/560] for
  offsets 0, +-1, .., +-4, over h^2, summed over the three axes; values
  outside the grid are zero (the matrix L is symmetric);
* sponge of w = 10 points on every face: eta = eta_max max(p(i), p(j), p(k)),
  p(i) = (1 - d/w)^2 if d < w else 0, d = min(i, N-1-i),
  eta_max = gamma_max / c^2 with the rate gamma_max = 0.75 c ln(1000) / (w h)
  (1/s), E = eta dt / 2;
* dt = 0.002 s, u_0 = u_{-1} = 0, for t = 0..K-1
      u_{t+1} = [dt^2 (L u_t + q_t) / m + 2 u_t - u_{t-1} + (E/m) u_{t-1}] / (1 + E/m);
* q_t = ricker(t dt) at the single point (N/2, N/2, w+2) (integer division),
  ricker(tau) = (1 - 2a) exp(-a), a = (pi f0 (tau - 1/f0))^2, f0 = 10 Hz;
* receivers: (i, j, w+2) for w <= i, j < N-w, i-major then j; traces
  d_r(t) = u_t at the receiver for t = 1..K, shape [K][receiver];
* J = 1/2 sum_{t=1..K} sum_r d_r(t)^2; the gradient is dJ/dm.

`gradient` is the exact discrete adjoint of `forward`, derived by hand as
reverse mode through the literal update (all states stored, a reverse time
loop); `fd_check` tests it against central finite differences of J in m
along a random direction.

As a script (needs only numpy):
    python scripts/acoustic_reference.py --n 32 --steps 80 [--check] [--out FILE.npz]
prints one JSON object (objective, grad_norm, and with --check the finite
difference test); --out saves traces [K][receiver], the gradient [N, N, N]
and J, for comparing with Devito or rewind number for number.
"""

import argparse
import json
import math
import sys
import time

import numpy as np

H = 10.0  # m
C = 1500.0  # m/s
DT = 0.002  # s
F0 = 10.0  # Hz
WIDTH = 10  # sponge points per face
# 8th-order second-derivative weights for offsets 0, 1, 2, 3, 4
WEIGHTS = (-205.0 / 72.0, 8.0 / 5.0, -1.0 / 5.0, 8.0 / 315.0, -1.0 / 560.0)
HALF = 4  # stencil half-width


def ricker(tau, f0=F0):
    a = (math.pi * f0 * (tau - 1.0 / f0)) ** 2
    return (1.0 - 2.0 * a) * math.exp(-a)


class Problem:
    """The fixed data of one case: sizes, sponge, source, receivers, wavelet."""

    def __init__(self, n, steps, w=WIDTH, h=H, dt=DT, c=C, f0=F0):
        if n < 2 * w + 3:
            raise ValueError(f"N = {n}: the source and receivers at depth {w + 2} lie in the sponge of "
                             f"width {w} (need N >= {2 * w + 3})")
        if steps < 1:
            raise ValueError(f"steps = {steps}: need at least one step")
        self.n, self.steps, self.w, self.h, self.dt, self.c, self.f0 = n, steps, w, h, dt, c, f0
        self.m0 = np.full((n, n, n), 1.0 / (c * c))
        self.eta_max = 0.75 * c * math.log(1000.0) / (w * h) / (c * c)
        d = np.minimum(np.arange(n), n - 1 - np.arange(n)).astype(float)
        p = np.where(d < w, (1.0 - d / w) ** 2, 0.0)
        prof = np.maximum(np.maximum(p[:, None, None], p[None, :, None]), p[None, None, :])
        self.eta = self.eta_max * prof
        self.E = self.eta * dt / 2.0
        self.src = (n // 2, n // 2, w + 2)
        self.src_coords = np.array([[self.src[0] * h, self.src[1] * h, self.src[2] * h]])
        ri, rj = np.meshgrid(np.arange(w, n - w), np.arange(w, n - w), indexing="ij")
        self.rec_i = ri.ravel()
        self.rec_j = rj.ravel()
        self.rec_k = np.full(self.rec_i.shape, w + 2)
        self.rec_coords = np.stack([self.rec_i * h, self.rec_j * h, self.rec_k * h], axis=1).astype(float)
        self.nrec = self.rec_i.size
        # q_t for t = 0..K-1
        self.q = np.array([ricker(t * dt, f0) for t in range(steps)])
        if self.E[self.src] != 0.0 or np.any(self.E[self.rec_i, self.rec_j, self.rec_k] != 0.0):
            raise ValueError("the source or a receiver lies in the sponge")

    def record(self, u):
        return u[self.rec_i, self.rec_j, self.rec_k]


def laplacian(u, h=H):
    """8th-order Laplacian with zero values outside the grid."""
    n0, n1, n2 = u.shape
    p = np.zeros((n0 + 2 * HALF, n1 + 2 * HALF, n2 + 2 * HALF))
    p[HALF:-HALF, HALF:-HALF, HALF:-HALF] = u
    out = (3.0 * WEIGHTS[0]) * u
    for o in range(1, HALF + 1):
        lo, hi = HALF - o, HALF + o
        out += WEIGHTS[o] * (p[lo:lo + n0, HALF:HALF + n1, HALF:HALF + n2]
                             + p[hi:hi + n0, HALF:HALF + n1, HALF:HALF + n2]
                             + p[HALF:HALF + n0, lo:lo + n1, HALF:HALF + n2]
                             + p[HALF:HALF + n0, hi:hi + n1, HALF:HALF + n2]
                             + p[HALF:HALF + n0, HALF:HALF + n1, lo:lo + n2]
                             + p[HALF:HALF + n0, HALF:HALF + n1, hi:hi + n2])
    return out / (h * h)


def step(prob, m, u, u_prev, t):
    """u_{t+1} from u_t = u and u_{t-1} = u_prev: the spec's update, literally."""
    lq = laplacian(u, prob.h)
    lq[prob.src] += prob.q[t]
    e = prob.E / m
    return (prob.dt ** 2 * lq / m + 2.0 * u - u_prev + e * u_prev) / (1.0 + e), lq


def forward(prob, m=None, store=False):
    """Returns (J, traces [K][nrec], states or None); states[s] = u_{s-1}, s = 0..K+1."""
    m = prob.m0 if m is None else m
    n = prob.n
    u_prev = np.zeros((n, n, n))
    u = np.zeros((n, n, n))
    traces = np.empty((prob.steps, prob.nrec))
    states = [u_prev, u] if store else None
    for t in range(prob.steps):
        u_next, _ = step(prob, m, u, u_prev, t)
        traces[t] = prob.record(u_next)
        u_prev, u = u, u_next
        if store:
            states.append(u)
    J = 0.5 * float(np.sum(traces * traces))
    return J, traces, states


def gradient(prob, m=None):
    """(J, traces, dJ/dm): reverse mode through `step`, all states stored.

    With B_t = dt^2 (L u_t + q_t)/m + 2 u_t - u_{t-1} + e u_{t-1}, e = E/m,
    D = 1 + e, u_{t+1} = B_t / D, and g = ubar_{t+1} / D:
      ubar_t     += L(dt^2 g / m) + 2 g         (L is symmetric)
      ubar_{t-1} += (e - 1) g
      mbar       += g (e u_{t+1} - dt^2 (L u_t + q_t) / m - e u_{t-1}) / m
    (d(1/D)/dm = e / (m D^2), d(dt^2/m)/dm = -dt^2/m^2, de/dm = -e/m), and J
    adds the trace itself to ubar_t at the receivers for t = 1..K.
    """
    m = prob.m0 if m is None else m
    J, traces, states = forward(prob, m, store=True)
    n = prob.n
    dt2 = prob.dt ** 2
    e = prob.E / m
    inv_d = 1.0 / (1.0 + e)
    mbar = np.zeros((n, n, n))
    ubar_next = np.zeros((n, n, n))  # ubar_{t+1}, complete once J's term is in
    ubar_cur = np.zeros((n, n, n))  # ubar_t, partial
    for t in range(prob.steps - 1, -1, -1):
        u_next, u, u_prev = states[t + 2], states[t + 1], states[t]
        ubar_next[prob.rec_i, prob.rec_j, prob.rec_k] += traces[t]
        g = ubar_next * inv_d
        lq = laplacian(u, prob.h)
        lq[prob.src] += prob.q[t]
        mbar += g * (e * u_next - dt2 * lq / m - e * u_prev) / m
        ubar_cur += laplacian(dt2 * g / m, prob.h) + 2.0 * g
        ubar_next, ubar_cur = ubar_cur, (e - 1.0) * g
    return J, traces, mbar


def fd_check(prob, grad, m=None, seed=1234, rel_steps=(1e-4, 1e-5, 1e-6)):
    """Central differences of J along a random direction dm = m * r, r ~ N(0, 1).

    Returns a list of (rel_step, fd, adjoint, relative error)."""
    m = prob.m0 if m is None else m
    r = np.random.default_rng(seed).standard_normal(m.shape)
    dm = m * r
    adj = float(np.sum(grad * dm))
    out = []
    for eps in rel_steps:
        jp = forward(prob, m + eps * dm)[0]
        jm = forward(prob, m - eps * dm)[0]
        fd = (jp - jm) / (2.0 * eps)
        out.append((eps, fd, adj, abs(fd - adj) / abs(adj)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=32, help="grid points per axis (default 32; >= 23)")
    ap.add_argument("--steps", type=int, default=80, help="time steps K (default 80)")
    ap.add_argument("--check", action="store_true", help="finite-difference test of the adjoint")
    ap.add_argument("--out", help="save traces, gradient and J to this .npz")
    args = ap.parse_args()
    if args.n < 2 * WIDTH + 3:
        ap.error(f"--n must be at least {2 * WIDTH + 3} (the source and receivers, at depth {WIDTH + 2}, "
                 f"must lie outside the {WIDTH}-point sponge)")
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    prob = Problem(args.n, args.steps)
    t0 = time.perf_counter()
    J, traces, grad = gradient(prob)
    secs = time.perf_counter() - t0
    if not math.isfinite(J):
        print(f"acoustic_reference: J is not finite ({J})", file=sys.stderr)
        return 1
    res = {"problem": "acoustic", "implementation": "numpy-reference", "n": args.n, "steps": args.steps,
           "dt": DT, "dtype": "float64", "objective": J, "grad_norm": float(np.linalg.norm(grad)),
           "seconds": secs, "numpy_version": np.__version__}
    if args.check:
        rows = fd_check(prob, grad)
        res["fd_check"] = [{"rel_step": e, "fd": fd, "adjoint": a, "rel_err": err} for e, fd, a, err in rows]
        res["fd_rel_err"] = min(r[3] for r in rows)
    if args.out:
        np.savez(args.out, traces=traces, gradient=grad, objective=J)
    print(json.dumps(res))
    if args.check and not res["fd_rel_err"] <= 1e-6:
        print(f"acoustic_reference: adjoint vs finite differences {res['fd_rel_err']:.3e} > 1e-6", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
