#!/usr/bin/env bash
# First SliM-LLM figures on stories260K (issue 4, in progress): 2-bit g16 over seeds 0-3 and
# 3-bit g16 seed 0; GPTQ vs SliM (SBA+SQC) vs SQC only vs SBA only. TinyStories excerpt, seqlen 512.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=out/slim_first; mkdir -p $O
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256"
run() {  # name seed bits args...
  local name=$1 seed=$2 bits=$3; shift 3
  build/slim quantize --model stories260K --bits $bits --group-size 16 $C --seed $seed "$@" --out $O/$name >/dev/null 2>&1
  local ppl; ppl=$(build/slim ppl --model $O/$name --text $S/data/text/tinystories_excerpt.txt --seqlen 512 --json $O/$name.json 2>/dev/null | tail -1 | awk '{print $5}')
  local bpw; bpw=$(python3 -c "import json;print('%.3f'%json.load(open('$O/$name/quant_report.json'))['totals']['bits_per_weight'])")
  echo "$name bits/w=$bpw ppl=$ppl"
}
for seed in 0 1 2 3; do
  run gptq-b2-s$seed $seed 2 --method gptq
  run slim-b2-s$seed $seed 2 --method slim
  run sqc-b2-s$seed $seed 2 --method slim --no-sba
  run sba-b2-s$seed $seed 2 --method slim --no-sqc
done
run gptq-b3-s0 0 3 --method gptq
run slim-b3-s0 0 3 --method slim
run sqc-b3-s0 0 3 --method slim --no-sba
