#!/usr/bin/env python3
"""Checks and tabulates the rewind-vs-JAX runs that scripts/compare_jax.sh
wrote into one folder, for the benchmark problems `ns2d-periodic`
(docs/specs/ns2d-periodic.md) and `shallow-water`
(docs/specs/shallow-water.md).

Files read (one JSON object each), <problem> being `ns2d` or `shallow-water`:
    <problem>__rewind_<CASE>_<schedule>_<k>.json   `rewind spec ...` run k
    <problem>__jax_<CASE>_<variant>_<what>.json    the JAX reference, one --what per process
    <problem>__sanity_<CASE>.json                  the JAX reference's --sanity (optional)
where CASE is the ns2d size (S, M, L, or e.g. L1000 for size L over 1000
steps) or the shallow-water NxK (e.g. 128x100: N = 128, K = 100 steps).
Files without the `<problem>__` prefix (the layout before shallow water was
added) are ns2d's.

Every figure of every run (ns2d: objective, grad_norm, grad_dot_v, hvp_norm,
v_dot_hvp; shallow water: also grad_g and grad_f) must agree with rewind's
first store-all run of the same case to --tol relative (|a - b| / |b|); the
exit status is 1 if one does not, and the offending figures are named. Then
prints, per problem and case, the times (rewind: best of its runs; JAX: best
of its --repeats, compile excluded), the peak resident memory of each, and
the ratios JAX / rewind, against each JAX variant and against the fastest
JAX per figure.
"""

import argparse
import glob
import json
import os
import re
import sys

MIB = 1024.0 * 1024.0
SIZE_ORDER = {"S": 0, "M": 1, "L": 2}
MASS_TOL = 1e-13  # shallow water: relative drift of sum(h) over the sanity run


def ns2d_case_key(size):
    return (SIZE_ORDER.get(size[:1], 9), size)


def sw_case_key(case):
    m = re.fullmatch(r"(\d+)x(\d+)", case)
    return (int(m.group(1)), int(m.group(2)), case) if m else (1 << 30, 0, case)


def ns2d_sanity(s, tol):
    ok = s["sanity_max_rel_err"] <= tol
    text = (f"spec sanity check (alpha = 0, f = 0, cos x cos y) in JAX: max rel err "
            f"{s['sanity_max_rel_err']:.2e} {'ok' if ok else 'FAILED'}")
    fail = None if ok else f"the JAX sanity check is off by {s['sanity_max_rel_err']:.3e}"
    return text, fail


def sw_sanity(s, tol):
    ok = s["mass_rel_drift"] <= MASS_TOL
    text = (f"mass conservation in JAX (N = {s['grid'][0]}, {s['steps']} steps from x_A): relative drift of "
            f"sum(h) {s['mass_rel_drift']:.2e} {'ok' if ok else 'FAILED'} (bound {MASS_TOL:g}); "
            f"energy drift {s['energy_rel_drift']:.2e}")
    fail = None if ok else f"sum(h) drifts by {s['mass_rel_drift']:.3e} in the JAX sanity run"
    return text, fail


PROBLEMS = {
    "ns2d": {
        "title": "ns2d-periodic (docs/specs/ns2d-periodic.md)",
        "figures": ["objective", "grad_norm", "grad_dot_v", "hvp_norm", "v_dot_hvp"],
        "case_key": ns2d_case_key,
        "case_word": "size",
        "sanity": ns2d_sanity,
    },
    "shallow-water": {
        "title": "shallow-water (docs/specs/shallow-water.md)",
        "figures": ["objective", "grad_norm", "grad_g", "grad_f", "grad_dot_v", "hvp_norm", "v_dot_hvp"],
        "case_key": sw_case_key,
        "case_word": "case",
        "sanity": sw_sanity,
    },
}


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
    order = {"remat": 0, "remat-1core": 1, "nested": 2, "store": 3}
    return sorted(variants.items(), key=lambda kv: (order.get(kv[0], 9), kv[0]))


def read_folder(folder):
    """problem -> {"rewind": case -> schedule -> [runs], "jax": case -> variant -> what -> run,
    "sanity": case -> run}"""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        name = os.path.basename(path)[:-5]
        problem, name = name.split("__", 1) if "__" in name else ("ns2d", name)
        if problem not in PROBLEMS:
            print(f"compare_table: skipping {path}: unknown problem {problem!r}", file=sys.stderr)
            continue
        d = out.setdefault(problem, {"rewind": {}, "jax": {}, "sanity": {}})
        if name.startswith("sanity_"):
            d["sanity"][name[len("sanity_"):]] = load(path)
            continue
        kind, case, rest = name.split("_", 2)
        if kind == "rewind":
            sched, _k = rest.rsplit("_", 1)
            d["rewind"].setdefault(case, {}).setdefault(sched, []).append(load(path))
        elif kind == "jax":
            variant, what = rest.split("_")
            d["jax"].setdefault(case, {}).setdefault(variant, {})[what] = load(path)
    return out


def agreement(pdef, rewind, jax, sanity, cases, tol, failures):
    figures, word = pdef["figures"], pdef["case_word"]
    worst = {}  # (case, figure) -> (reldiff, where)
    width = max(11, max(len(f) for f in figures))
    print(f"== agreement of the figures (relative to rewind store-all, tolerance {tol:g})")
    for case in cases:
        runs = rewind.get(case, {})
        ref_runs = runs.get("store-all") or next(iter(runs.values()), None)
        if not ref_runs:
            failures.append(f"{word} {case}: no rewind run to compare with")
            continue
        ref = ref_runs[0]
        others = [(f"rewind {r.get('schedule', s)} run {k + 1}", r)
                  for s, rs in runs.items() for k, r in enumerate(rs)]
        others += [(f"jax {v} --what {w}", r)
                   for v, ws in ordered(jax.get(case, {})) for w, r in ws.items()]
        for key in ("grid", "steps", "dt"):
            for label, r in others:
                if r.get(key) != ref.get(key):
                    failures.append(f"{word} {case}: {label}: {key} = {r.get(key)} but rewind says {ref.get(key)}")
        for fig in figures:
            b = ref.get(fig)
            if b is None:
                failures.append(f"{word} {case}: {fig}: rewind does not report it")
                continue
            for v, ws in ordered(jax.get(case, {})):
                if all(r.get(fig) is None for r in ws.values()):
                    failures.append(f"{word} {case}: {fig}: no jax {v} run computed it")
            for label, r in others:
                a = r.get(fig)
                if a is None:
                    continue
                d = abs(a - b) / abs(b) if b != 0 else abs(a - b)
                key = (case, fig)
                if key not in worst or d > worst[key][0]:
                    worst[key] = (d, label)
                if not d <= tol:
                    failures.append(f"{word} {case}: {fig}: {label} gives {a!r}, rewind {b!r} "
                                    f"(relative difference {d:.3e} > {tol:g})")
        print(f"-- {word} {case} (N = {ref['grid'][0]}, {ref['steps']} steps, dt = {ref['dt']})")
        print(f"   {'figure':<{width}} {'rewind store-all':>24}  {'largest rel. diff':>17}  where")
        for fig in figures:
            d, where = worst.get((case, fig), (None, "-"))
            ds = "-" if d is None else f"{d:.2e}"
            print(f"   {fig:<{width}} {ref.get(fig)!r:>24}  {ds:>17}  {where}")
        if case in sanity:
            text, fail = pdef["sanity"](sanity[case], tol)
            print(f"   {text}")
            if fail:
                failures.append(f"{word} {case}: {fail}")
    for case in sorted(set(sanity) - set(cases), key=pdef["case_key"]):
        text, fail = pdef["sanity"](sanity[case], tol)
        print(f"-- {text}")
        if fail:
            failures.append(f"{word} {case}: {fail}")


def times(pdef, rewind, jax, cases):
    word = pdef["case_word"]
    print()
    print("== times (seconds) and peak resident memory (MiB), measured in this run")
    print("   ratios above 1: rewind is faster (time) or smaller (memory) than that JAX run")
    print("   rewind: best of its runs (each run one process doing primal, gradient and HVP; its")
    print("   peak RSS covers all three). JAX: one process per --what, best of its repeats after")
    print("   compilation (compile time apart); 'peak RSS' is the largest of its three processes,")
    print("   'RSS grad'/'RSS hvp' those of the gradient and HVP processes, 'RSS base' the process")
    print("   after importing JAX and building the fields, before compiling anything.")
    for case in cases:
        rows = []
        for sched, rs in rewind.get(case, {}).items():
            best = lambda k: min(r[k] for r in rs)  # noqa: E731
            rows.append({
                "name": f"rewind {rs[0].get('schedule', sched)}", "primal": best("primal_s"), "grad": best("grad_s"),
                "hvp": best("hvp_s"), "rss": max(r["peak_rss_bytes"] for r in rs),
                "rss_grad": None, "rss_hvp": None, "rss_base": None, "compile": None,
                "grid": rs[0]["grid"], "steps": rs[0]["steps"],
                "note": f"{len(rs)} run(s), {rs[0].get('threads', '?')} threads, "
                        f"{rs[0].get('forward_steps', '?')} forward steps",
            })
        for variant, ws in ordered(jax.get(case, {})):
            g = lambda w, k: ws.get(w, {}).get(k)  # noqa: E731
            any_run = next(iter(ws.values()))
            compile_total = sum(r.get("compile_s") or 0.0 for r in ws.values())
            rows.append({
                "name": f"jax {variant}", "primal": g("primal", "primal_s"), "grad": g("grad", "grad_s"),
                "hvp": g("hvp", "hvp_s"), "rss": max(r["peak_rss_bytes"] for r in ws.values()),
                "rss_grad": g("grad", "peak_rss_bytes"), "rss_hvp": g("hvp", "peak_rss_bytes"),
                "rss_base": min(r["baseline_rss_bytes"] for r in ws.values()), "compile": compile_total,
                "grid": any_run["grid"], "steps": any_run["steps"],
                "note": f"jax {any_run['jax_version']}, {any_run['schedule']}, best of {any_run['repeats']}",
            })
        if not rows:
            continue
        n = rows[0]["grid"][0]
        print()
        print(f"-- {word} {case} (N = {n}, {rows[0]['steps']} steps)")
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--tol", type=float, default=1e-8)
    args = ap.parse_args()

    found = read_folder(args.folder)
    if not found:
        print(f"compare_table: no runs in {args.folder}", file=sys.stderr)
        return 2
    failures = []
    first = True
    for problem in [p for p in PROBLEMS if p in found]:
        pdef, d = PROBLEMS[problem], found[problem]
        cases = sorted(set(d["rewind"]) | set(d["jax"]), key=pdef["case_key"])
        if not first:
            print()
        first = False
        print(f"######## {pdef['title']}")
        fails = []
        agreement(pdef, d["rewind"], d["jax"], d["sanity"], cases, args.tol, fails)
        times(pdef, d["rewind"], d["jax"], cases)
        failures += [f"{problem}: {f}" for f in fails]

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
