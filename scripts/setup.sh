#!/usr/bin/env bash
# Installs what a fresh Debian machine with Rust stable lacks for building,
# testing and running rewind. Idempotent; run by the README's commands and
# by CI.
#
# System library: HDF5 (Debian 12: 1.10.8) and pkg-config, which the hdf5
# bindings (hdf5-metno) use to find it.
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

if ! { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hdf5; }; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "rewind needs the HDF5 C library and pkg-config (e.g. libhdf5-dev); install them with your package manager" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "setup: installing libhdf5-dev and pkg-config with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libhdf5-dev pkg-config >/dev/null
fi
