#!/usr/bin/env python3
"""Checks and tabulates the rewind-vs-JAX runs of `ns2d-periodic` that
scripts/compare_jax.sh wrote into one folder.

Files read (one JSON object each):
    rewind_<SIZE>_<schedule>_<k>.json   `rewind spec ns2d-periodic` run k
    jax_<SIZE>_<variant>_<what>.json    scripts/jax_ns2d.py, one --what per process
    sanity_<SIZE>.json                  scripts/jax_ns2d.py --sanity (optional)

Every figure (Jloss, grad_norm, grad_dot_v, hvp_norm, v_dot_hvp) of every
run must agree with rewind's first store-all run to --tol relative
(|a - b| / |b|); the exit status is 1 if one does not, and the offending
figures are named. Then prints, per size, the times (rewind: best of its
runs; JAX: best of its --repeats, compile excluded), the peak resident
memory of each, and the ratios JAX / rewind.
"""

import argparse
import glob
import json
import os
import sys

FIGURES = ["Jloss", "grad_norm", "grad_dot_v", "hvp_norm", "v_dot_hvp"]
SIZE_ORDER = {"S": 0, "M": 1, "L": 2}
MIB = 1024.0 * 1024.0


def load(path):
    with open(path) as f:
        return json.load(f)


def fmt_t(x):
    return "-" if x is None else f"{x:.4f}"


def fmt_m(x):
    return "-" if x is None else f"{x / MIB:.1f}"


def fmt_r(x):
    return "-" if x is None else f"{x:.2f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def ordered(variants):
    """The JAX variants, remat first."""
    order = {"remat": 0, "remat-1core": 1, "nested": 2}
    return sorted(variants.items(), key=lambda kv: (order.get(kv[0], 9), kv[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--tol", type=float, default=1e-8)
    args = ap.parse_args()

    rewind = {}  # size -> schedule -> [runs]
    jax = {}  # size -> variant -> what -> run
    sanity = {}
    for path in sorted(glob.glob(os.path.join(args.folder, "*.json"))):
        name = os.path.basename(path)[:-5]
        if name.startswith("sanity_"):
            continue
        kind, size, rest = name.split("_", 2)
        if kind == "rewind":
            sched, _k = rest.rsplit("_", 1)
            rewind.setdefault(size, {}).setdefault(sched, []).append(load(path))
        elif kind == "jax":
            variant, what = rest.split("_")
            jax.setdefault(size, {}).setdefault(variant, {})[what] = load(path)
    for path in sorted(glob.glob(os.path.join(args.folder, "sanity_*.json"))):
        sanity[os.path.basename(path)[7:-5]] = load(path)
    sizes = sorted(set(rewind) | set(jax), key=lambda s: (SIZE_ORDER.get(s[:1], 9), s))
    if not sizes:
        print(f"compare_table: no runs in {args.folder}", file=sys.stderr)
        return 2

    failures = []
    worst = {}  # figure -> (reldiff, where)
    print(f"== agreement of the figures (relative to rewind store-all, tolerance {args.tol:g})")
    for size in sizes:
        runs = rewind.get(size, {})
        ref_runs = runs.get("store-all") or next(iter(runs.values()), None)
        if not ref_runs:
            failures.append(f"size {size}: no rewind run to compare with")
            continue
        ref = ref_runs[0]
        others = [(f"rewind {r.get('schedule', s)} run {k + 1}", r)
                  for s, rs in runs.items() for k, r in enumerate(rs)]
        others += [(f"jax {v} --what {w}", r)
                   for v, ws in ordered(jax.get(size, {})) for w, r in ws.items()]
        for key in ("N", "steps", "dt"):
            for label, r in others:
                if r.get(key) != ref.get(key):
                    failures.append(f"size {size}: {label}: {key} = {r.get(key)} but rewind says {ref.get(key)}")
        for fig in FIGURES:
            b = ref[fig]
            for v, ws in ordered(jax.get(size, {})):
                if all(r.get(fig) is None for r in ws.values()):
                    failures.append(f"size {size}: {fig}: no jax {v} run computed it")
            for label, r in others:
                a = r.get(fig)
                if a is None:
                    continue
                d = abs(a - b) / abs(b) if b != 0 else abs(a - b)
                key = (size, fig)
                if key not in worst or d > worst[key][0]:
                    worst[key] = (d, label)
                if not d <= args.tol:
                    failures.append(f"size {size}: {fig}: {label} gives {a!r}, rewind {b!r} "
                                    f"(relative difference {d:.3e} > {args.tol:g})")
        print(f"-- size {size} (N = {ref['N']}, {ref['steps']} steps, dt = {ref['dt']})")
        print(f"   {'figure':<11} {'rewind store-all':>24}  {'largest rel. diff':>17}  where")
        for fig in FIGURES:
            d, where = worst.get((size, fig), (None, "-"))
            ds = "-" if d is None else f"{d:.2e}"
            print(f"   {fig:<11} {ref[fig]!r:>24}  {ds:>17}  {where}")
        if size in sanity:
            s = sanity[size]
            ok = s["sanity_max_rel_err"] <= args.tol
            print(f"   spec sanity check (alpha = 0, f = 0, cos x cos y) in JAX: max rel err "
                  f"{s['sanity_max_rel_err']:.2e} {'ok' if ok else 'FAILED'}")
            if not ok:
                failures.append(f"size {size}: the JAX sanity check is off by {s['sanity_max_rel_err']:.3e}")

    print()
    print("== times (seconds) and peak resident memory (MiB), measured in this run")
    print("   ratios above 1: rewind is faster (time) or smaller (memory) than that JAX run")
    print("   rewind: best of its runs (each run one process doing primal, gradient and HVP; its")
    print("   peak RSS covers all three). JAX: one process per --what, best of its repeats after")
    print("   compilation (compile time apart); 'peak RSS' is the largest of its three processes,")
    print("   'RSS grad'/'RSS hvp' those of the gradient and HVP processes, 'RSS base' the process")
    print("   after importing JAX and building the fields, before compiling anything.")
    for size in sizes:
        rows = []
        for sched, rs in rewind.get(size, {}).items():
            best = lambda k: min(r[k] for r in rs)  # noqa: E731
            rows.append({
                "name": f"rewind {rs[0].get('schedule', sched)}", "primal": best("primal_s"), "grad": best("grad_s"),
                "hvp": best("hvp_s"), "rss": max(r["peak_rss_bytes"] for r in rs),
                "rss_grad": None, "rss_hvp": None, "rss_base": None, "compile": None,
                "N": rs[0]["N"], "steps": rs[0]["steps"],
                "note": f"{len(rs)} run(s), {rs[0].get('threads', '?')} threads, "
                        f"{rs[0].get('forward_steps', '?')} forward steps",
            })
        for variant, ws in ordered(jax.get(size, {})):
            g = lambda w, k: ws.get(w, {}).get(k)  # noqa: E731
            any_run = next(iter(ws.values()))
            compile_total = sum(r.get("compile_s") or 0.0 for r in ws.values())
            rows.append({
                "name": f"jax {variant}", "primal": g("primal", "primal_s"), "grad": g("grad", "grad_s"),
                "hvp": g("hvp", "hvp_s"), "rss": max(r["peak_rss_bytes"] for r in ws.values()),
                "rss_grad": g("grad", "peak_rss_bytes"), "rss_hvp": g("hvp", "peak_rss_bytes"),
                "rss_base": min(r["baseline_rss_bytes"] for r in ws.values()), "compile": compile_total,
                "N": any_run["N"], "steps": any_run["steps"],
                "note": f"jax {any_run['jax_version']}, {any_run['schedule']}, best of {any_run['repeats']}",
            })
        n = rows[0]["N"]
        print()
        print(f"-- size {size} (N = {n}, {rows[0]['steps']} steps)")
        hdr = (f"   {'run':<22} {'primal_s':>9} {'grad_s':>9} {'hvp_s':>9} {'peak RSS':>9} "
               f"{'RSS grad':>9} {'RSS hvp':>9} {'RSS base':>9} {'compile_s':>9}  notes")
        print(hdr)
        for r in rows:
            print(f"   {r['name']:<22} {fmt_t(r['primal']):>9} {fmt_t(r['grad']):>9} {fmt_t(r['hvp']):>9} "
                  f"{fmt_m(r['rss']):>9} {fmt_m(r['rss_grad']):>9} {fmt_m(r['rss_hvp']):>9} "
                  f"{fmt_m(r['rss_base']):>9} {fmt_t(r['compile']):>9}  {r['note']}")
        rw = [r for r in rows if r["name"].startswith("rewind")]
        jx = [r for r in rows if r["name"].startswith("jax")]
        if len(jx) > 1:
            # the fastest JAX per figure: what a comparison must quote
            best = {"name": "jax fastest", "rss": None}
            picks = []
            for k in ("primal", "grad", "hvp"):
                cands = [r for r in jx if r[k] is not None]
                if cands:
                    b = min(cands, key=lambda r: r[k])
                    best[k] = b[k]
                    picks.append(f"{k}: {b['name'][4:]} ({fmt_m(b['rss_' + k] if k != 'primal' else b['rss'])} MiB)")
                else:
                    best[k] = None
            print(f"   {'jax fastest':<22} {fmt_t(best['primal']):>9} {fmt_t(best['grad']):>9} "
                  f"{fmt_t(best['hvp']):>9}  per figure: {'; '.join(picks)}")
            jx.append(best)
        if rw and jx:
            print(f"   {'ratio JAX / rewind':<40} {'primal':>7} {'grad':>7} {'hvp':>7} {'peak RSS':>9}")
            for j in jx:
                for w in rw:
                    label = f"{j['name']} / {w['name']}"
                    print(f"   {label:<40} {fmt_r(ratio(j['primal'], w['primal'])):>7} "
                          f"{fmt_r(ratio(j['grad'], w['grad'])):>7} {fmt_r(ratio(j['hvp'], w['hvp'])):>7} "
                          f"{fmt_r(ratio(j['rss'], w['rss'])):>9}")

    print()
    if failures:
        print(f"DISAGREEMENT: {len(failures)} figure(s) differ by more than {args.tol:g} (or are missing):")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"all figures agree to {args.tol:g} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
