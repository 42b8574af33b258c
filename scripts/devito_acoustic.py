#!/usr/bin/env python3
"""Devito implementation of the benchmark problem `acoustic` (the peer
comparison for `rewind spec acoustic`; scripts/compare_devito.sh runs both).

The problem (scripts/acoustic_reference.py states it in full and is the plain
NumPy reference this script is validated against): 3D acoustic wave
m u_tt + eta u_t = lap u + q on N^3 points, h = 10 m, 8th-order Laplacian
with zero values outside the grid, damping sponge of 10 points, leapfrog with
dt = 0.002 s over K steps, a Ricker source at (N/2, N/2, 12), a plane of
receivers at depth 12, J = 1/2 sum of the squared traces, gradient dJ/dm.

Written the way Devito runs fastest: its own symbolic operators (the
equations of Devito's examples/seismic/acoustic), OpenMP, opt='advanced',
the time loop inside the generated C, float64 by default:

    forward   Eq(u.forward, solve(m*u.dt2 - u.laplace + damp*u.dtc, u.forward))
              src.inject(field=u.forward, expr=src*dt**2/m)
              rec.interpolate(expr=u.forward)
    gradient  Eq(v.backward, solve(m*v.dt2 - v.laplace + damp*v.dtc.T, v.backward))
              res.inject(field=v.backward, expr=res*dt**2/m)
              Inc(grad, -u*v.dt2)

Three departures from Devito's examples, each needed to solve the spec's
problem exactly and none changing the work done (--stock undoes the first
two, for comparison):
* damp*u.dtc, the centered first derivative (u[t+1] - u[t-1]) / (2 dt), as
  the spec's update; Devito's examples write damp*u.dt, which in Devito 4.8
  is the first-order forward difference (u[t+1] - u[t]) / dt (the adjoint
  then uses v.dt.T; here v.dtc.T). With it J is off the spec by 1.0e-6
  (N = 32, K = 80): the sponge damps differently and reflects differently;
* the FD weights kept to 17 significant digits (--fd-digits): Devito rounds
  every weight to 9 (devito.finite_differences.finite_difference._PRECISION,
  "to avoid variations in results"), which puts J off by 1.9e-9 at N = 32,
  K = 80 and makes the weights no longer sum to zero;
* a halo of 4 points on u and v (space_order=(8, 4, 4), all that the 8th-
  order stencil reads) instead of Devito's default halo of 8 for space
  order 8: each level takes (N+8)^3 points instead of (N+16)^3, which is
  what the store-all gradient and the snapshots hold (--halo 8 restores
  Devito's default; the results are the same bit for bit). The halo is
  zeroed at allocation and nothing writes it: the zero values outside the
  grid of the spec.

Time alignment. Devito's time index n holds u_{n-1} of the spec (u[0] =
u_{-1} = 0, u[1] = u_0 = 0): the forward runs time_m = 1 .. time_M = K,
iteration n computing u[n+1] = u_n from src[n] = q_{n-1} = ricker((n-1) dt).
Recording u.forward (not u) at iteration n puts u_n into rec[n], so
rec[1..K] are exactly the spec's traces for t = 1..K with K steps and no
extra one (recording u would need iteration K+1). The gradient operator runs
n = K+1 down to 2: iteration n injects the residual of u[n] (res[n] =
rec[n-1], a copy shifted by one) into v[n-1] and adds -u[n] v.dt2[n].
With V[n-1] = dt^2 P_n, P the adjoint state of the discrete update (the
injection factor dt^2/m equals dt^2/(m+E) at the receivers, which lie
outside the sponge), -u[n] (V[n+1] - 2 V[n] + V[n-1]) / dt^2 is term for
term the exact discrete adjoint gradient -sum_n U_n (P_n - 2 P_{n+1} + P_{n+2})
(summation by parts of -sum_s P_s (U_s - 2 U_{s-1} + U_{s-2}), U_0 = U_1 = 0,
P_{K+2} = P_{K+3} = 0): Devito's standard gradient, aligned this way, *is*
the exact gradient of the discrete forward, no change needed; --sanity
measures it against the NumPy reverse-mode gradient.

Gradient, two ways:
* store all (default): the forward saves every state (save = K+2 levels),
  then the gradient operator runs once backwards;
* --checkpoint S: Devito's Revolve checkpointing through pyrevolve
  (`from devito import DevitoCheckpoint, CheckpointOperator, Revolver`;
  devito.checkpointing since 4.x, examples.checkpointing is a deprecated
  alias; Revolver is pyrevolve's MemoryRevolver, classic binomial Revolve
  (CRevolve), S snapshots in memory). The forward and gradient operators are
  the buffered ones (3 time levels); pyrevolve step c (c = 0..K-1) is forward
  iteration n = c+1 (CheckpointOperator offset time_m = 1) and gradient
  iteration n = c+2 (offset time_m = 2): pyrevolve recomputes forward step c
  (u[c+2]) right before the reverse step c, so u[c+2] is in the buffer when
  the gradient reads it. A snapshot holds u's two time levels with halo
  (DevitoCheckpoint), the state the buffered operator resumes from.
  J and the residual are taken after apply_forward (the forward sweep covers
  every step), then apply_reverse runs; the recomputations inside it write
  the same traces again.

Times: operator application only (op.apply; the pyrevolve sweeps), after
building (symbolic lowering, build_s) and JIT compilation (compile_s, the
first access of op.cfunction; Devito caches the shared object, so a second
run compiles nothing). Field allocation and zeroing (Devito zeroes a field
at its first data access) are done before the clock starts and reported as
alloc_s: for the store-all gradient that is the (K+2) (N+8)^3 saved
wavefield. primal_sections_s and grad_sections_s are what Devito's own
timers measured inside the C (op.apply's Python argument handling left out;
pyrevolve calls the C directly, without them).

Usage:
    python scripts/devito_acoustic.py [--n 64] [--steps 1000] [--what forward|gradient]
        [--checkpoint S] [--dtype float64|float32] [--threads T] [--out FILE.npz]
    python scripts/devito_acoustic.py --sanity   (N = 32, K = 80: Devito against NumPy)

Prints one JSON object: problem, n, steps, dt, dtype, what, objective,
grad_norm, primal_s (forward), grad_s (forward sweep + reverse sweep),
grad_forward_s, grad_reverse_s, build_s, compile_s, alloc_s,
peak_rss_bytes, checkpoint_snapshots, peak_snapshot_bytes, threads,
devito/pyrevolve/numpy versions. --out saves traces [K][receiver] (t = 1..K,
receivers i-major then j), the gradient [N, N, N] ([i, j, k], k = depth) and J.
"""

import argparse
import json
import math
import os
import resource
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description="Devito reference for the `acoustic` benchmark problem")
    ap.add_argument("--n", type=int, default=None, help="grid points per axis, >= 23 (default 64; --sanity: 32)")
    ap.add_argument("--steps", type=int, default=None, help="time steps K (default 1000; --sanity: 80)")
    ap.add_argument("--what", choices=["forward", "gradient"], default="forward")
    ap.add_argument("--checkpoint", type=int, default=None, metavar="S",
                    help="gradient with pyrevolve Revolve checkpointing, S snapshots (default: store all)")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS (default: OpenMP's, all cores)")
    ap.add_argument("--opt", default="advanced", help="Devito's opt level (default advanced)")
    ap.add_argument("--fd-digits", type=int, default=17,
                    help="significant digits Devito keeps of the FD weights (default 17: exact in "
                         "float64; Devito's own default is 9)")
    ap.add_argument("--halo", type=int, default=4,
                    help="halo points on each side of u and v (default 4, all the 8th-order stencil "
                         "reads; Devito's default for space order 8 is 8)")
    ap.add_argument("--stock", action="store_true",
                    help="Devito's examples/seismic/acoustic as they are, for comparison: damp*u.dt "
                         "(a first-order forward difference in Devito 4.8) and FD weights rounded "
                         "to 9 digits; not the spec")
    ap.add_argument("--out", help="save traces, gradient and J to this .npz")
    ap.add_argument("--sanity", action="store_true",
                    help="compare with the NumPy reference (scripts/acoustic_reference.py) at N = 32, K = 80")
    args = ap.parse_args()
    if args.n is None:
        args.n = 32 if args.sanity else 64
    if args.steps is None:
        args.steps = 80 if args.sanity else 1000
    if args.n < 23:
        ap.error(f"--n {args.n}: must be at least 23 (the source and the receivers, at depth 12, "
                 f"must lie outside the 10-point sponge)")
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    if args.checkpoint is not None:
        if args.what != "gradient" and not args.sanity:
            ap.error("--checkpoint applies to --what gradient")
        if args.checkpoint < 1:
            ap.error("--checkpoint S needs S >= 1 snapshots")
    if args.fd_digits < 1:
        ap.error("--fd-digits must be at least 1")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be at least 1")
    if not 4 <= args.halo <= 16:
        ap.error("--halo must be between 4 (the stencil's reach) and 16")
    if args.stock:
        args.fd_digits = 9
    if args.sanity and args.dtype != "float64":
        ap.error("--sanity compares with the float64 NumPy reference: use --dtype float64")
    return args


ARGS = parse_args()
if ARGS.threads is not None:
    os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["DEVITO_LANGUAGE"] = "openmp"
os.environ.setdefault("DEVITO_LOGGING", "WARNING")  # stdout carries the JSON only

import numpy as np  # noqa: E402
import devito  # noqa: E402
from devito import (Eq, Function, Grid, Inc, Operator, SparseTimeFunction,  # noqa: E402
                    TimeFunction, solve)

import devito.finite_differences.finite_difference as _devito_fd  # noqa: E402

sys.dont_write_bytecode = True  # no scripts/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acoustic_reference as ref  # noqa: E402

SPACE_ORDER = 8
SO = (SPACE_ORDER, ARGS.halo, ARGS.halo)  # (order, left halo, right halo)
STOCK = ARGS.stock


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Model:
    """Grid, medium, source and receivers as Devito objects for one case."""

    def __init__(self, prob, dtype, save_u, stock=False):
        n, K = prob.n, prob.steps
        self.stock = stock
        self.prob, self.dtype = prob, dtype
        self.nt = K + 2  # time indices 0..K+1: u[n] = u_{n-1}
        self.grid = Grid(shape=(n, n, n), extent=((n - 1) * prob.h,) * 3, origin=(0.0, 0.0, 0.0),
                         dtype=dtype)
        g = self.grid
        self.m = Function(name="m", grid=g, space_order=1)
        self.damp = Function(name="damp", grid=g, space_order=1)
        self.src = SparseTimeFunction(name="src", grid=g, npoint=1, nt=self.nt,
                                      coordinates=prob.src_coords)
        self.rec = SparseTimeFunction(name="rec", grid=g, npoint=prob.nrec, nt=self.nt,
                                      coordinates=prob.rec_coords)
        self.u = TimeFunction(name="u", grid=g, time_order=2, space_order=SO,
                              save=self.nt if save_u else None)
        self.dt_sym = g.stepping_dim.spacing

    def fill(self):
        """Allocate (Devito zeroes at first access) and set the data."""
        p = self.prob
        self.m.data[:] = p.m0
        self.damp.data[:] = p.eta
        self.src.data[:] = 0.0
        self.src.data[1:p.steps + 1, 0] = p.q  # src[n] = q_{n-1}
        self.rec.data[:] = 0.0
        self.u.data_with_halo[:] = 0.0

    def forward_op(self, opt):
        u, m, dt = self.u, self.m, self.dt_sym
        pde = m * u.dt2 - u.laplace + self.damp * (u.dt if self.stock else u.dtc)
        eqs = [Eq(u.forward, solve(pde, u.forward)),
               self.src.inject(field=u.forward, expr=self.src * dt ** 2 / m),
               self.rec.interpolate(expr=u.forward)]
        return Operator(eqs, subs=self.grid.spacing_map, opt=opt, name="Forward")

    def gradient_op(self, opt):
        g, m, dt, u = self.grid, self.m, self.dt_sym, self.u
        self.v = TimeFunction(name="v", grid=g, time_order=2, space_order=SO)
        self.grad = Function(name="grad", grid=g)
        self.res = SparseTimeFunction(name="res", grid=g, npoint=self.prob.nrec, nt=self.nt,
                                      coordinates=self.prob.rec_coords)
        v = self.v
        pde = m * v.dt2 - v.laplace + self.damp * (v.dt.T if self.stock else v.dtc.T)
        eqs = [Eq(v.backward, solve(pde, v.backward)),
               self.res.inject(field=v.backward, expr=self.res * dt ** 2 / m),
               Inc(self.grad, -u * v.dt2)]
        return Operator(eqs, subs=g.spacing_map, opt=opt, name="Gradient")

    def fill_adjoint(self):
        self.v.data_with_halo[:] = 0.0
        self.grad.data[:] = 0.0
        self.res.data[:] = 0.0

    def objective_and_residual(self):
        """J from rec[1..K] (= u_1..u_K); res[n] = rec[n-1] for n = 2..K+1."""
        K = self.prob.steps
        tr = self.rec.data[1:K + 1]
        J = 0.5 * float(np.sum(np.square(tr, dtype=np.float64)))
        if hasattr(self, "res"):
            self.res.data[2:K + 2] = tr
        return J

    def traces(self):
        return np.array(self.rec.data[1:self.prob.steps + 1], dtype=np.float64)


def timed(f):
    t0 = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t0


def sections(summary):
    """The time Devito's own timers measured inside the generated C (sum of its sections)."""
    try:
        return float(sum(v.time for v in summary.values()))
    except (AttributeError, TypeError):
        return None


def compile_ops(ops):
    """JIT-compile (and load) each operator: the first access of op.cfunction."""
    t0 = time.perf_counter()
    for op in ops:
        op.cfunction  # noqa: B018
    return time.perf_counter() - t0


def run_forward(prob, dtype, opt):
    M, build_s = timed(lambda: Model(prob, dtype, save_u=False, stock=STOCK))
    op, b = timed(lambda: M.forward_op(opt))
    compile_s = compile_ops([op])
    _, alloc_s = timed(M.fill)
    K = prob.steps
    summary, secs = timed(lambda: op.apply(time_m=1, time_M=K, dt=prob.dt))
    J = M.objective_and_residual()
    return {"objective": J, "primal_s": secs, "primal_sections_s": sections(summary),
            "build_s": build_s + b, "compile_s": compile_s, "alloc_s": alloc_s}, M.traces(), None


def run_gradient_store(prob, dtype, opt):
    K = prob.steps
    M, build_s = timed(lambda: Model(prob, dtype, save_u=True, stock=STOCK))
    (fw, gr), b = timed(lambda: (M.forward_op(opt), M.gradient_op(opt)))
    compile_s = compile_ops([fw, gr])

    def alloc():
        M.fill()
        M.fill_adjoint()
    _, alloc_s = timed(alloc)
    t0 = time.perf_counter()
    s1 = fw.apply(time_m=1, time_M=K, dt=prob.dt)
    J = M.objective_and_residual()
    t1 = time.perf_counter()
    s2 = gr.apply(time_m=2, time_M=K + 1, dt=prob.dt)
    t2 = time.perf_counter()
    c1, c2 = sections(s1), sections(s2)
    saved = M.u._data.nbytes if hasattr(M.u, "_data") else None
    return {"objective": J, "grad_s": t2 - t0, "grad_forward_s": t1 - t0, "grad_reverse_s": t2 - t1,
            "build_s": build_s + b, "compile_s": compile_s, "alloc_s": alloc_s,
            "grad_sections_s": None if c1 is None or c2 is None else c1 + c2,
            "checkpoint_snapshots": None, "peak_snapshot_bytes": saved,
            "schedule": "store-all"}, M.traces(), np.array(M.grad.data, dtype=np.float64)


def run_gradient_revolve(prob, dtype, opt, snapshots):
    from devito import CheckpointOperator, DevitoCheckpoint, Revolver
    K = prob.steps
    M, build_s = timed(lambda: Model(prob, dtype, save_u=False, stock=STOCK))
    (fw, gr), b = timed(lambda: (M.forward_op(opt), M.gradient_op(opt)))
    compile_s = compile_ops([fw, gr])

    def alloc():
        M.fill()
        M.fill_adjoint()
        cp = DevitoCheckpoint([M.u])
        wrap_fw = CheckpointOperator(fw, time_m=1, time_M=K, dt=prob.dt)
        wrap_rev = CheckpointOperator(gr, time_m=2, time_M=K + 1, dt=prob.dt)
        return cp, Revolver(cp, wrap_fw, wrap_rev, snapshots, K)
    (cp, wrp), alloc_s = timed(alloc)
    t0 = time.perf_counter()
    wrp.apply_forward()
    J = M.objective_and_residual()
    t1 = time.perf_counter()
    wrp.apply_reverse()
    t2 = time.perf_counter()
    return {"objective": J, "grad_s": t2 - t0, "grad_forward_s": t1 - t0, "grad_reverse_s": t2 - t1,
            "build_s": build_s + b, "compile_s": compile_s, "alloc_s": alloc_s,
            "checkpoint_snapshots": wrp.n_checkpoints,
            "snapshot_bytes": cp.nbytes, "peak_snapshot_bytes": cp.nbytes * wrp.n_checkpoints,
            "schedule": f"revolve:{wrp.n_checkpoints}"}, M.traces(), np.array(M.grad.data, dtype=np.float64)


def rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def versions():
    out = {"devito_version": devito.__version__, "numpy_version": np.__version__}
    try:
        import pyrevolve
        out["pyrevolve_version"] = pyrevolve.__version__
    except ImportError:
        out["pyrevolve_version"] = None
    return out


def sanity(args, dtype):
    """Devito against the NumPy reference, float64, one process."""
    prob = ref.Problem(args.n, args.steps)
    Jn, tr_n, grad_n = ref.gradient(prob)
    fd = ref.fd_check(prob, grad_n)
    fd_err = min(r[3] for r in fd)
    fwd, tr_d, _ = run_forward(prob, dtype, args.opt)
    gs, tr_gs, grad_gs = run_gradient_store(prob, dtype, args.opt)
    S = args.checkpoint or 8
    gr, tr_gr, grad_gr = run_gradient_revolve(prob, dtype, args.opt, S)
    res = {
        "problem": "acoustic", "what": "sanity", "n": args.n, "steps": args.steps, "dt": prob.dt,
        "dtype": args.dtype, "opt": args.opt, "nrec": prob.nrec, "stock": args.stock,
        "fd_digits": args.fd_digits, "halo": args.halo,
        "objective_numpy": Jn, "objective_devito": fwd["objective"],
        "objective_rel_diff": abs(fwd["objective"] - Jn) / abs(Jn),
        "traces_rel_l2": rel_l2(tr_d, tr_n),
        "traces_max_abs_diff_over_max": float(np.max(np.abs(tr_d - tr_n)) / np.max(np.abs(tr_n))),
        "grad_norm_numpy": float(np.linalg.norm(grad_n)),
        "grad_store_rel_l2": rel_l2(grad_gs, grad_n),
        "grad_revolve_rel_l2": rel_l2(grad_gr, grad_n),
        "grad_revolve_vs_store_rel_l2": rel_l2(grad_gr, grad_gs),
        "objective_gradient_runs_rel_diff": max(abs(gs["objective"] - Jn), abs(gr["objective"] - Jn)) / abs(Jn),
        "revolve_snapshots": gr["checkpoint_snapshots"],
        "numpy_fd_rel_err": fd_err,
        "numpy_fd_check": [{"rel_step": e, "fd": f, "adjoint": a, "rel_err": err} for e, f, a, err in fd],
        "peak_rss_bytes": peak_rss(),
    }
    res.update(versions())
    if args.out:
        np.savez(args.out, traces_numpy=tr_n, gradient_numpy=grad_n, traces_devito=tr_d,
                 gradient_devito_store=grad_gs, gradient_devito_revolve=grad_gr)
    print(json.dumps(res))
    bad = []
    if not res["objective_rel_diff"] <= 1e-10:
        bad.append(f"J differs by {res['objective_rel_diff']:.3e}")
    if not res["traces_rel_l2"] <= 1e-10:
        bad.append(f"traces differ by {res['traces_rel_l2']:.3e}")
    if not fd_err <= 1e-6:
        bad.append(f"the NumPy adjoint is off finite differences by {fd_err:.3e}")
    for k in ("grad_store_rel_l2", "grad_revolve_rel_l2", "objective_gradient_runs_rel_diff"):
        if not res[k] <= 1e-10:
            bad.append(f"{k} = {res[k]:.3e}")
    if bad and args.stock:
        print("devito_acoustic --sanity --stock: differs from the spec, as expected: " + "; ".join(bad),
              file=sys.stderr)
    elif bad:
        print("devito_acoustic --sanity: FAILED: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


def set_fd_digits(digits):
    """Devito rounds every FD weight to _PRECISION = 9 significant digits
    (devito/finite_differences/finite_difference.py, "to avoid variations in
    results"); 17 keeps the spec's weights to the last bit of a double."""
    if not hasattr(_devito_fd, "_PRECISION"):
        sys.exit("devito_acoustic: this Devito has no finite_difference._PRECISION; "
                 "check how it rounds FD weights before using --fd-digits")
    _devito_fd._PRECISION = digits


def main(args):
    set_fd_digits(args.fd_digits)
    dtype = np.float64 if args.dtype == "float64" else np.float32
    if args.sanity:
        return sanity(args, dtype)
    prob = ref.Problem(args.n, args.steps)
    res = {"problem": "acoustic", "implementation": "devito", "n": args.n, "grid": [args.n] * 3,
           "steps": args.steps, "dt": prob.dt, "dtype": args.dtype, "what": args.what, "opt": args.opt,
           "stock": args.stock, "fd_digits": args.fd_digits, "halo": args.halo,
           # Devito's own default (devito/types/parallel.py): OMP_NUM_THREADS, else the
           # physical cores of a NUMA domain
           "threads": int(os.environ.get("OMP_NUM_THREADS",
                                         devito.configuration["platform"].cores_physical_per_numa_domain)),
           "nrec": prob.nrec}
    if args.what == "forward":
        fig, traces, grad = run_forward(prob, dtype, args.opt)
    elif args.checkpoint is None:
        fig, traces, grad = run_gradient_store(prob, dtype, args.opt)
    else:
        fig, traces, grad = run_gradient_revolve(prob, dtype, args.opt, args.checkpoint)
    res.update(fig)
    res.setdefault("checkpoint_snapshots", None)
    if grad is not None:
        res["grad_norm"] = float(np.linalg.norm(grad))
    res["peak_rss_bytes"] = peak_rss()
    res.update(versions())
    J = res["objective"]
    bad = not math.isfinite(J) or (grad is not None and not math.isfinite(res["grad_norm"]))
    if args.out:
        extra = {} if grad is None else {"gradient": grad}
        np.savez(args.out, traces=traces, objective=J, **extra)
    print(json.dumps(res))
    if bad:
        print(f"devito_acoustic: non-finite result (J = {J}, grad_norm = {res.get('grad_norm')})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
