#!/usr/bin/env bash
# Issue 15 figures (docs/RESULTS.md, "Ranks over MPI"): one rank against two on
# a GENERATED 2-layer LLaMA-2-7B-wide bf16 checkpoint (weights are noise: the
# time, bytes and equality of the outputs mean something, perplexity does not).
#   [METHODS="gptq slim"] scripts/results_mpi.sh [7b-wide|stories|all]   (default all)
# With ScaLAPACK the 11008-wide down_proj factor is built by both ranks
# (--dist-factor-min 8192): the 7B-wide shards then differ by rounding, and
# the count of differing bytes is printed.
# Needs ../shared (tokenizer, calibration text), jq, Open MPI; ~4 GB under $SCRATCH (default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
S=$(realpath ../shared/data)
T=${SCRATCH:-/tmp}/slim-mpi
mkdir -p "$T"
export OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# On a shared, loaded machine a rank that busy-polls while the other is descheduled
# stalls ScaLAPACK's many small messages: waiting ranks yield the core.
export OMPI_MCA_mpi_yield_when_idle=1
slim=$(realpath build/slim)
TIME=(/usr/bin/time -f "%e s wall, maxrss %M KB")
# blocks: layer, Hessian pass, reduce, quantize, propagate, MB received / sent by rank 0
blocks() {
  jq -r '.blocks[] | "  block \(.layer): hessian pass \(.hessian_pass_seconds|.*10|round/10) s, reduce \(.reduce_seconds|.*100|round/100) s, quantize \(.quantize_seconds|.*10|round/10) s, propagate \(.propagate_seconds|.*10|round/10) s, rank 0 received \(.comm_received_bytes/1e3|round) kB, sent \(.comm_sent_bytes/1e3|round) kB"' "$1"
  jq -r '"  factors \([.layers[].factor_seconds]|add|.*10|round/10) s, GPTQ loop \([.layers[].gptq_seconds]|add|.*10|round/10) s, allocation \([.layers[].allocation_seconds]|add|.*10|round/10) s, total \(.totals.total_seconds|.*10|round/10) s"' "$1"
}
compare() {  # compare DIR1 DIR2: shards byte-identical? else how many bytes differ
  local same=yes diff=0 total=0
  for f in "$1"/*.safetensors; do
    cmp -s "$f" "$2/$(basename "$f")" && continue
    same=no
    diff=$((diff + $(cmp -l "$f" "$2/$(basename "$f")" | wc -l)))
  done
  for f in "$1"/*.safetensors; do total=$((total + $(stat -c %s "$f"))); done
  echo "  shards byte-identical, 1 rank and 2 ranks: $same ($diff of $total bytes differ)"
}
# 1 rank on 1 core, then 2 ranks on 1 core each (the output depends on the thread count, not on the ranks)
run_pair() {  # run_pair NAME ARGS...: same --out name
  local name=$1; shift
  rm -rf "$T/$name-1" "$T/$name-2" && mkdir -p "$T/$name-1" "$T/$name-2"
  (cd "$T/$name-1" && "${TIME[@]}" "$slim" "$@" --threads 1 --out o > log 2>&1) || { cat "$T/$name-1/log"; exit 1; }
  (cd "$T/$name-2" && "${TIME[@]}" mpirun -np 2 --bind-to none "$slim" "$@" --threads 1 --out o > log 2>&1) ||
    { cat "$T/$name-2/log"; exit 1; }
  for n in 1 2; do
    echo "$name, $n rank(s): $(tail -1 "$T/$name-$n/log")"
    blocks "$T/$name-$n/o/quant_report.json"
  done
  compare "$T/$name-1/o" "$T/$name-2/o"
}
if [[ $what == stories || $what == all ]]; then
  run_pair stories quantize --model $S/models/stories260K.bin --tokenizer $S/models/tok512.bin --method slim --bits 2 \
    --group-size 16 --calib $S/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256 --pack
fi
if [[ $what == 7b-wide || $what == all ]]; then
  if [ ! -f $T/7b-wide-2/config.json ]; then
    build/bench/make_synthetic_model --shape llama2-7b --layers 2 --dtype bf16 --out $T/7b-wide-2
    cp $S/models/tokenizer_llama2_32k.model $T/7b-wide-2/tokenizer.model
  fi
  for m in ${METHODS:-gptq slim}; do
    run_pair 7b-wide-$m quantize --model $T/7b-wide-2 --method $m --bits 4 --pack --calib \
      $S/text/wikitext2_valid_tokenized.txt --nsamples 8 --seqlen 512
  done
fi
