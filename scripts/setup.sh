#!/usr/bin/env bash
# Installs what a fresh Debian machine with Rust stable lacks for building,
# testing and running rewind. Idempotent; run by the README's commands'
# wrapper and by CI. (System libraries, e.g. HDF5, join here when used.)
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  echo "rewind needs Rust (cargo) on PATH: install it with rustup first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for comp in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${comp}"; then
      rustup component add "$comp"
    fi
  done
fi
