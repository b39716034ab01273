#!/usr/bin/env bash
# The GPTQ factor built by 2 and 3 ranks with ScaLAPACK equals the
# one-process LAPACK factor within 1e-6 of max |U| (tests/mpi/dist_factor_check.cc),
# including act-order, dead columns, damping retries and a not-PD failure.
# Skipped in a build without Open MPI or ScaLAPACK, or without mpirun.
#   dist_factor_test.sh SLIM_BINARY SOURCE_DIR
set -uo pipefail
check=$(dirname "$(realpath "$1")")/tests/dist_factor_check
[ -x "$check" ] || { echo "skip: no $check (a build without ScaLAPACK)"; exit 77; }
command -v mpirun > /dev/null || { echo "skip: no mpirun"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_pml=ob1
for n in 2 3; do
  out=$(mpirun -np $n --oversubscribe --bind-to none "$check" 2>&1)
  rc=$?
  echo "$out"
  [ $rc = 0 ] && echo "$out" | grep -q "^$n ranks: all checks passed" || { echo "FAIL: $n ranks"; exit 1; }
done
