#!/usr/bin/env bash
# Builds the Python package (python/: PyO3 + maturin, one abi3 wheel for
# CPython >= 3.9), installs it into a virtual environment with numpy and
# pytest, lints the extension's Rust (fmt, clippy -D warnings: it is its
# own workspace, outside `cargo clippy --workspace`) and runs its tests.
# Part of the README's test command and of CI.
#
#   VENV=dir   the virtual environment (default: python/.venv)
#   PYTHON=py  the interpreter that makes it (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-python/.venv}"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 9)' 2>/dev/null; then
  # (Debian splits venv and pip out of python3)
  scripts/setup.sh --python
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade "pip>=23" >/dev/null
"$VENV/bin/python" -m pip install -q "maturin>=1.9,<2" "numpy>=1.23" "pytest>=7" "scipy>=1.10"

cargo fmt --manifest-path python/Cargo.toml --check
cargo clippy --manifest-path python/Cargo.toml --all-targets -- -D warnings

# the wheel, built in the repository's target directory (shared with the
# workspace's release builds), then installed over any earlier one
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
rm -f "$CARGO_TARGET_DIR"/wheels/rewind-*.whl
"$VENV/bin/maturin" build --release --quiet -m python/Cargo.toml
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$CARGO_TARGET_DIR"/wheels/rewind-*.whl
# the command line, whose figures the tests compare bit for bit: the test
# build's (`cargo test` has built it; the same bits as a release build —
# no fast-math anywhere — and a release build of the CLI would add minutes
# to CI for seconds saved in these tests)
cargo build -q -p rewind-cli
REWIND_BIN="$CARGO_TARGET_DIR/debug/rewind" "$VENV/bin/python" -m pytest -q python/tests
