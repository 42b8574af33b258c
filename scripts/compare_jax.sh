#!/usr/bin/env bash
# Compares rewind with JAX references (float64, CPU) on the benchmark problems
# `ns2d-periodic` (docs/specs/ns2d-periodic.md, scripts/jax_ns2d.py) and
# `shallow-water` (docs/specs/shallow-water.md, scripts/jax_shallow_water.py):
#
#  1. sets up a Python venv in scripts/.venv with pinned jax[cpu]/jaxlib/numpy;
#  2. builds rewind (cargo build --release -p rewind-cli; SKIP_BUILD=1 skips it);
#  3. runs, for each problem of PROBLEMS and each of its cases (ns2d: SIZES;
#     shallow water: SW_CASES, N:K pairs), `rewind spec ns2d-periodic --size S`
#     or `rewind spec shallow-water --n N --steps K` under each of SCHEDULES
#     (REWIND_REPEATS runs each), and the JAX reference in the formulations
#     that are fastest on this CPU (RK4 stages as a lax.scan), one process per
#     variant and per --what (primal, grad, hvp) so that each peak RSS is its own:
#       remat        jax.checkpoint per step, both cores
#       remat-1core  the same pinned to one core (taskset): XLA:CPU's primal is
#                    faster there, its gradient and HVP slower
#       nested       two-level sqrt(n) checkpointed scan (its best memory saver)
#     plus each reference's --sanity check (ns2d: size S's known answer;
#     shallow water: mass conserved over 100 steps at N = 32).
#     Tried and dropped as slower, ns2d at size M: RK4 written out, --rk
#     unrolled, 2.1x the gradient time; no checkpointing, 1.8x and 10.8 GB;
#     keeping psi, --policy psi, the same time in 2x the memory; XLA_FLAGS for
#     the CPU runtime, thread pools and codegen split: within the noise.
#     Shallow water at N = 128, K = 100 (remat; primal / gradient / HVP, s):
#     stages scanned 0.106 / 0.547 / 1.316 (one core: 0.074 / 0.681 / 2.146);
#     RK4 written out, --rk unrolled, 0.094 / 2.806 / 17.7 (5.1x the gradient,
#     13x the HVP; its primal 1.13x faster on two cores but 0.110 on one);
#     shifts as one wrapped copy sliced, --shift pad, 1.08x the gradient and
#     1.05x the HVP; slices + concatenate, --shift concat, the same as
#     jnp.roll; the state as one stacked (3, N, N) array 0.081 / 0.62 / 1.96
#     (1.13x the gradient, 1.49x the HVP; its primal 0.087 on one core); no
#     checkpointing, --variant store,
#     1.18x the gradient and 1.08x the HVP in 1.5 GB (remat: 0.54 GB);
#     jax.checkpoint on each RK stage instead of each step, the same times
#     (within 2%) in 1.2x (gradient) and 1.6x (HVP) the memory;
#  4. checks that every figure (objective, grad_norm, grad_dot_v, hvp_norm,
#     v_dot_hvp; shallow water also grad_g, grad_f) agrees to 1e-8 relative
#     between every run of a case (exit 1, naming the figures, if not), and
#     prints per problem the side-by-side table of times, peak memory and
#     JAX / rewind ratios, against each JAX variant and against the fastest
#     JAX per figure (scripts/compare_table.py).
#
# Usage: scripts/compare_jax.sh   (ns2d sizes S and M, shallow water 128:100 and 256:50)
# Environment: PROBLEMS="ns2d shallow-water" (either or both),
#   SIZES="S M L:1000" (ns2d: a size, or SIZE:STEPS for its grid and time step
#   over another number of steps), SW_CASES="128:100 256:50" (shallow water:
#   N:K, N points per direction, K steps, dt = 2.56/N),
#   SCHEDULES="binomial:32 store-all", VARIANTS="remat remat-1core nested"
#   (also: store), SKIP_BUILD=1, JAX_REPEATS=3, REWIND_REPEATS=3, THREADS=N
#   (rewind's --threads; default all cores, as JAX), OUT_DIR=folder for the
#   JSON files (default target/compare-jax, emptied first; named
#   <problem>__rewind_<case>_..., <problem>__jax_<case>_..., see compare_table.py),
#   REWIND=path of the rewind binary (default target/release/rewind).
set -euo pipefail
cd "$(dirname "$0")/.."

PROBLEMS="${PROBLEMS:-ns2d shallow-water}"
SIZES="${SIZES:-S M}"
SW_CASES="${SW_CASES:-128:100 256:50}"
SCHEDULES="${SCHEDULES:-binomial:32 store-all}"
VARIANTS="${VARIANTS:-remat remat-1core nested}"
JAX_REPEATS="${JAX_REPEATS:-3}"
REWIND_REPEATS="${REWIND_REPEATS:-3}"
OUT_DIR="${OUT_DIR:-target/compare-jax}"
for problem in $PROBLEMS; do
  case $problem in
    ns2d | shallow-water) ;;
    *) echo "compare_jax: unknown problem $problem in PROBLEMS (ns2d, shallow-water)" >&2; exit 1 ;;
  esac
done
for case in $SW_CASES; do
  if ! [[ $case =~ ^[0-9]+:[0-9]+$ ]]; then
    echo "compare_jax: SW_CASES takes N:K pairs, not $case" >&2
    exit 1
  fi
done
VENV=scripts/.venv
JAX_VERSION=0.10.2
NUMPY_VERSION=2.4.6
PY="$VENV/bin/python"

# ---- 1. the Python environment
if [ ! -x "$PY" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 lacks ensurepip until python3-venv is installed
    rm -rf "$VENV"
    if command -v apt-get >/dev/null 2>&1; then
      sudo=""
      if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
      echo "compare_jax: installing python3-venv with apt-get" >&2
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$VENV"
    else
      echo "compare_jax: python3 -m venv failed; install Python's venv module" >&2
      exit 1
    fi
  fi
fi
if ! "$PY" -c "import jax, jaxlib, numpy, sys; sys.exit(not (jax.__version__ == '$JAX_VERSION' and jaxlib.__version__ == '$JAX_VERSION' and numpy.__version__ == '$NUMPY_VERSION'))" 2>/dev/null; then
  echo "compare_jax: installing jax[cpu]==$JAX_VERSION, numpy==$NUMPY_VERSION into $VENV" >&2
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "jax[cpu]==$JAX_VERSION" "jaxlib==$JAX_VERSION" "numpy==$NUMPY_VERSION"
fi

# ---- 2. rewind
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p rewind-cli
fi
REWIND="${REWIND:-target/release/rewind}"
if [ ! -x "$REWIND" ]; then
  echo "compare_jax: $REWIND is missing (run without SKIP_BUILD=1)" >&2
  exit 1
fi

# ---- 3. the runs
export JAX_PLATFORMS=cpu
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi

run_to() { # run_to FILE CMD...: CMD's stdout to FILE, with the seconds it took on stderr
  local file=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  if ! "$@" >"$file"; then
    echo "compare_jax: failed: $*" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" -v c="$*" 'BEGIN { printf "  %-70s %7.1f s\n", c, b - a }' >&2
}

jax_variants() { # jax_variants PREFIX SCRIPT ARGS...: every variant of VARIANTS, one --what per process
  local prefix=$1 script=$2 variant jv what
  shift 2
  for variant in $VARIANTS; do
    local pin=()
    jv=$variant
    if [ "$variant" = remat-1core ]; then
      pin=(taskset -c 0)
      jv=remat
    fi
    for what in primal grad hvp; do
      run_to "${prefix}_${variant}_${what}.json" \
        ${pin[@]+"${pin[@]}"} "$PY" "$script" "$@" --variant "$jv" --what "$what" --repeats "$JAX_REPEATS"
    done
  done
}

for problem in $PROBLEMS; do
  if [ "$problem" = ns2d ]; then
    for case in $SIZES; do
      size=${case%%:*}
      steps=()
      label=$size
      if [ "$case" != "$size" ]; then
        steps=(--steps "${case#*:}")
        label="$size${case#*:}"
      fi
      echo "compare_jax: ns2d size $case" >&2
      for sched in $SCHEDULES; do
        for k in $(seq 1 "$REWIND_REPEATS"); do
          run_to "$OUT_DIR/ns2d__rewind_${label}_${sched//:/-}_$k.json" \
            "$REWIND" spec ns2d-periodic --size "$size" ${steps[@]+"${steps[@]}"} --schedule "$sched" ${threads[@]+"${threads[@]}"}
        done
      done
      if [ "$case" = S ]; then
        run_to "$OUT_DIR/ns2d__sanity_S.json" "$PY" scripts/jax_ns2d.py --size S --sanity
      fi
      jax_variants "$OUT_DIR/ns2d__jax_${label}" scripts/jax_ns2d.py --size "$size" ${steps[@]+"${steps[@]}"}
    done
  else
    echo "compare_jax: shallow water, the JAX reference's mass conservation (N = 32, 100 steps)" >&2
    run_to "$OUT_DIR/shallow-water__sanity_32x100.json" "$PY" scripts/jax_shallow_water.py --n 32 --steps 100 --sanity
    for case in $SW_CASES; do
      n=${case%%:*}
      nsteps=${case#*:}
      label="${n}x${nsteps}"
      echo "compare_jax: shallow water N = $n, $nsteps steps" >&2
      for sched in $SCHEDULES; do
        for k in $(seq 1 "$REWIND_REPEATS"); do
          run_to "$OUT_DIR/shallow-water__rewind_${label}_${sched//:/-}_$k.json" \
            "$REWIND" spec shallow-water --n "$n" --steps "$nsteps" --schedule "$sched" ${threads[@]+"${threads[@]}"}
        done
      done
      jax_variants "$OUT_DIR/shallow-water__jax_${label}" scripts/jax_shallow_water.py --n "$n" --steps "$nsteps"
    done
  fi
done

# ---- 4. check and tabulate
echo >&2
"$PY" scripts/compare_table.py "$OUT_DIR" --tol 1e-8
