#!/usr/bin/env bash
# Peak memory of --method slim+ on a generated 8-block model (docs/RESULTS.md, "SliM-LLM+ in the streaming
# driver"): dim 1024, FFN 2816, bf16. Usage: bash scripts/results_slim_plus_memory.sh [SLIM_BINARY...]
# (default build/slim; give an older build's binary too to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}/data
M=${MODEL_DIR:-/tmp/slim-mid8}
if [ ! -f $M/config.json ]; then
  build/bench/make_synthetic_model --shape mid --layers 8 --dtype bf16 --out $M > /dev/null
  cp $S/models/tokenizer_llama2_32k.model $M/tokenizer.model
fi
for B in "${@:-build/slim}"; do
  out=$(mktemp -d)/o
  /usr/bin/time -v $B quantize --threads 1 --model $M --method slim+ --bits 2 --group-size 16 \
    --calib $S/text/wikitext2_valid_tokenized.txt --nsamples 4 --seqlen 128 --lwc-epochs 1 --out $out > $out.log 2>&1
  echo "$B: $(grep -E 'peak RSS|Maximum resident|Elapsed' $out.log | tr '\n' ' ')"
  rm -rf "$(dirname $out)"
done
