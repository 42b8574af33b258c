#!/usr/bin/env bash
# Compares rewind with a JAX reference (scripts/jax_ns2d.py: float64, CPU) on
# the benchmark problem `ns2d-periodic` (docs/specs/ns2d-periodic.md):
#
#  1. sets up a Python venv in scripts/.venv with pinned jax[cpu]/jaxlib/numpy;
#  2. builds rewind (cargo build --release -p rewind-cli; SKIP_BUILD=1 skips it);
#  3. runs, for each size, `rewind spec ns2d-periodic` under each of SCHEDULES
#     (REWIND_REPEATS runs each), and the JAX reference in the formulations
#     that are fastest on this CPU (RK4 stages as a lax.scan), one process per
#     variant and per --what (primal, grad, hvp) so that each peak RSS is its own:
#       remat        jax.checkpoint per step, both cores
#       remat-1core  the same pinned to one core (taskset): XLA:CPU's primal is
#                    faster there, its gradient and HVP slower
#       nested       two-level sqrt(n) checkpointed scan (its best memory saver)
#     (tried and dropped as slower at size M: RK4 written out, --rk unrolled,
#     2.1x the gradient time; no checkpointing, 1.8x and 10.8 GB; keeping psi,
#     --policy psi, the same time in 2x the memory; XLA_FLAGS for the CPU
#     runtime, thread pools and codegen split: within the noise);
#  4. checks that Jloss, grad_norm, grad_dot_v, hvp_norm and v_dot_hvp agree to
#     1e-8 relative between every run (exit 1, naming the figures, if not), and
#     prints the side-by-side table of times, peak memory and JAX / rewind
#     ratios, against each JAX variant and against the fastest JAX per figure.
#
# Usage: scripts/compare_jax.sh            (sizes S and M)
# Environment: SIZES="S M L:1000" (a size, or SIZE:STEPS for its grid and time
#   step over another number of steps), SCHEDULES="binomial:32 store-all",
#   VARIANTS="remat remat-1core nested", SKIP_BUILD=1, JAX_REPEATS=3,
#   REWIND_REPEATS=3, THREADS=N (rewind's --threads; default all cores, as JAX),
#   OUT_DIR=folder for the JSON files (default target/compare-jax, emptied first).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-S M}"
SCHEDULES="${SCHEDULES:-binomial:32 store-all}"
VARIANTS="${VARIANTS:-remat remat-1core nested}"
JAX_REPEATS="${JAX_REPEATS:-3}"
REWIND_REPEATS="${REWIND_REPEATS:-3}"
OUT_DIR="${OUT_DIR:-target/compare-jax}"
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
REWIND=target/release/rewind
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

for case in $SIZES; do
  size=${case%%:*}
  steps=()
  label=$size
  if [ "$case" != "$size" ]; then
    steps=(--steps "${case#*:}")
    label="$size${case#*:}"
  fi
  echo "compare_jax: size $case" >&2
  for sched in $SCHEDULES; do
    for k in $(seq 1 "$REWIND_REPEATS"); do
      run_to "$OUT_DIR/rewind_${label}_${sched//:/-}_$k.json" \
        "$REWIND" spec ns2d-periodic --size "$size" ${steps[@]+"${steps[@]}"} --schedule "$sched" ${threads[@]+"${threads[@]}"}
    done
  done
  if [ "$case" = S ]; then
    run_to "$OUT_DIR/sanity_S.json" "$PY" scripts/jax_ns2d.py --size S --sanity
  fi
  for variant in $VARIANTS; do
    pin=()
    jv=$variant
    if [ "$variant" = remat-1core ]; then
      pin=(taskset -c 0)
      jv=remat
    fi
    for what in primal grad hvp; do
      run_to "$OUT_DIR/jax_${label}_${variant}_${what}.json" \
        ${pin[@]+"${pin[@]}"} "$PY" scripts/jax_ns2d.py --size "$size" ${steps[@]+"${steps[@]}"} --variant "$jv" --what "$what" --repeats "$JAX_REPEATS"
    done
  done
done

# ---- 4. check and tabulate
echo >&2
"$PY" scripts/compare_table.py "$OUT_DIR" --tol 1e-8
