#!/usr/bin/env bash
# SliM-LLM variants on stories260K, 2-bit g16 over seeds 0-3 (TinyStories excerpt, seqlen 512):
# SQC lambda sweep and the reference-faithful mode; plus g32 at 2 and 3 bits, seed 0.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=out/slim_variants; mkdir -p $O
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256"
run() {  # name seed bits group args...
  local name=$1 seed=$2 bits=$3 g=$4; shift 4
  build/slim quantize --model stories260K --bits $bits --group-size $g $C --seed $seed "$@" --out $O/$name >/dev/null 2>&1
  local ppl; ppl=$(build/slim ppl --model $O/$name --text $S/data/text/tinystories_excerpt.txt --seqlen 512 2>/dev/null | tail -1 | awk '{print $5}')
  echo "$name $ppl"
}
for seed in 0 1 2 3; do
  for lam in 2 5 20; do run slim-l$lam-b2-s$seed $seed 2 16 --method slim --sqc-lambda $lam; done
  run faithful-b2-s$seed $seed 2 16 --method slim --faithful
done
for bits in 2 3; do
  run gptq-b$bits-g32 0 $bits 32 --method gptq
  run slim-b$bits-g32 0 $bits 32 --method slim
  run sqc-b$bits-g32 0 $bits 32 --method slim --no-sba
  run sba-b$bits-g32 0 $bits 32 --method slim --no-sqc
done
