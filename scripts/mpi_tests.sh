#!/usr/bin/env bash
# The MPI tests: installs OpenMPI if missing (scripts/setup.sh --mpi),
# builds the ensemble layer, the domain decomposition and the CLI with the
# cargo feature `mpi`, and runs their tests, which start `mpirun -n 1…4`
# themselves (more ranks than cores: oversubscribed). Called by .ci/run.
#
# As root (CI), OpenMPI refuses to start unless told it may; the tests set
# these for their own mpirun, and so does this script for anything else:
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

scripts/setup.sh --mpi
# Whole-workspace commands with the feature added: dependencies keep the
# features of the default build (a `-p` build resolves them anew and
# recompiles much of the tree), so only the crates above rewind-ensemble
# are built again.
features=rewind-ensemble/mpi,rewind-decompose/mpi,rewind-cli/mpi
# the code behind the feature gets the lints the default build gets
cargo clippy --workspace --all-targets --features "$features" -- -D warnings
# one mpirun at a time: the cases time themselves out if a rank hangs
cargo test --workspace --features "$features" --test mpi -- --test-threads=1
