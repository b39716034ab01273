#!/usr/bin/env bash
# The main job on the default model (stories260K): perplexity of FP32, GPTQ and
# SliM-LLM at 2 and 3 bits on the TinyStories excerpt, then a greedy story from
# FP32 and from the 3-bit SliM-LLM model. Needs a built build/slim (scripts/build.sh).
#   SLIM_SHARED  folder with data/text/* (default ../shared)
#   SLIM_CALIB   calibration text (default $SLIM_SHARED/data/text/wikitext2_valid_tokenized.txt)
#   SLIM_EVAL    evaluation text  (default $SLIM_SHARED/data/text/tinystories_excerpt.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SLIM_SHARED:-../shared}
CALIB=${SLIM_CALIB:-$SHARED/data/text/wikitext2_valid_tokenized.txt}
TEXT=${SLIM_EVAL:-$SHARED/data/text/tinystories_excerpt.txt}
OUT=${SLIM_DEMO_OUT:-out/demo}
MODEL=${SLIM_DEMO_MODEL:-stories260K}
# stories260K's layers are 64 and 172 wide: groups of 16 give SBA 4-11 groups to move.
GROUP=${SLIM_DEMO_GROUP:-16}
mkdir -p "$OUT"

echo "== greedy story, FP32"
build/slim generate --model "$MODEL" --prompt "Once upon a time" --max-tokens 96 --temperature 0 2>/dev/null

if [ ! -f "$TEXT" ] || [ ! -f "$CALIB" ]; then
  echo "demo: evaluation text ($TEXT) or calibration text ($CALIB) not found;"
  echo "      set SLIM_EVAL / SLIM_CALIB (or SLIM_SHARED) to run the quantization table."
  exit 0
fi

ppl() { build/slim ppl --model "$1" --text "$TEXT" --seqlen 512 --json "$2" >/dev/null 2>&1; python3 -c "import json;print('%.3f' % json.load(open('$2'))['ppl'])" 2>/dev/null || grep -o '"ppl": [0-9.e+]*' "$2" | cut -d' ' -f2; }
bpw() { grep -o '"bits_per_weight": [0-9.]*' "$1/quant_report.json" | tail -1 | cut -d' ' -f2 | cut -c1-5; }

declare -A P B
P[fp32]=$(ppl "$MODEL" "$OUT/fp32.json"); B[fp32]=32
for bits in 3 2; do
  for method in gptq slim; do
    d="$OUT/$method-b$bits"
    echo "== quantizing: $method, $bits bits, group $GROUP" >&2
    build/slim quantize --model "$MODEL" --method $method --bits $bits --group-size $GROUP \
      --calib "$CALIB" --nsamples 32 --seqlen 256 --seed 0 --out "$d" >/dev/null
    P[$method-b$bits]=$(ppl "$d" "$d.ppl.json"); B[$method-b$bits]=$(bpw "$d")
  done
done

echo
echo "stories260K, perplexity on $(basename "$TEXT") (seqlen 512), group size $GROUP, calibration 32 x 256 tokens"
printf "%-10s %6s %14s %10s\n" method bits bits/weight ppl
printf "%-10s %6s %14s %10s\n" FP32 32 32 "${P[fp32]}"
for bits in 3 2; do
  printf "%-10s %6s %14s %10s\n" GPTQ $bits "${B[gptq-b$bits]}" "${P[gptq-b$bits]}"
  printf "%-10s %6s %14s %10s\n" SliM-LLM $bits "${B[slim-b$bits]}" "${P[slim-b$bits]}"
done
echo "(bits/weight counts fp16 scales and zero points; see docs/RESULTS.md)"
echo
echo "== SliM-LLM 3-bit, packed (*.slim.safetensors shards, docs/FORMAT.md): same model, real bit widths"
build/slim quantize --model "$MODEL" --method slim --bits 3 --group-size $GROUP --calib "$CALIB" --nsamples 32 \
  --seqlen 256 --seed 0 --pack --out "$OUT/slim-b3-packed" >/dev/null 2>&1
# The packed model is written as shards (model-0000k-of-0000N.slim.safetensors): count them all.
packed_bytes=$(cat "$OUT/slim-b3-packed"/*.slim.safetensors | wc -c)
echo "packed files ${packed_bytes} bytes (fp32 checkpoint: 1056540);" \
  "perplexity $(ppl "$OUT/slim-b3-packed" "$OUT/slim-b3-packed.ppl.json") (fake-quantized: ${P[slim-b3]})"
echo
echo "== greedy story, SliM-LLM 3-bit (packed)"
build/slim generate --model "$OUT/slim-b3-packed" --prompt "Once upon a time" --max-tokens 96 --temperature 0 2>/dev/null
