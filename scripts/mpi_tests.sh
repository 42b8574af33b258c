#!/usr/bin/env bash
# The MPI tests: installs OpenMPI if missing (scripts/setup.sh --mpi),
# builds the ensemble layer and the CLI with the cargo feature `mpi`, and
# runs their tests, which start `mpirun -n 1…4` themselves (more ranks
# than cores: oversubscribed). Called by .ci/run.
#
# As root (CI), OpenMPI refuses to start unless told it may; the tests set
# these for their own mpirun, and so does this script for anything else:
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

scripts/setup.sh --mpi
# the code behind the feature gets the lints the default build gets
cargo clippy -p rewind-ensemble -p rewind-cli --features rewind-ensemble/mpi,rewind-cli/mpi --all-targets -- -D warnings
# one mpirun at a time: the cases time themselves out if a rank hangs
cargo test -p rewind-ensemble --features mpi --test mpi -- --test-threads=1
cargo test -p rewind-cli --features mpi --test mpi -- --test-threads=1
