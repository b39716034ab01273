#!/usr/bin/env bash
# SliM-LLM+ on stories260K (issue 12): the SliM protocol of results_slim_variants.sh (32 x 256
# calibration tokens from WikiText-2 valid, TinyStories excerpt at seqlen 512, --threads 1, g16).
# Every row of the docs/RESULTS.md SliM-LLM+ tables. Usage: bash scripts/results_slim_plus.sh [filter-regex]
# SEEDS="0 1 2 3" by default; SLIM=path runs another binary (default build/slim), OUT=dir writes there.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=${OUT:-out/slim_plus}; mkdir -p $O
T="--threads ${THREADS:-1}"
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256"
F=${1:-.}
SLIM=${SLIM:-build/slim}
A=${SEEDS:-0 1 2 3}
variant() {  # name bits args...
  local name=$1 bits=$2; shift 2
  [[ $name =~ $F ]] || return 0
  local row="" sum=0 n=0 bpw="" secs=0
  for seed in $A; do
    local d=$O/$name-s$seed
    $SLIM quantize $T --model stories260K --bits $bits --group-size 16 $C --seed $seed "$@" --out $d >/dev/null 2>&1
    local ppl; ppl=$($SLIM ppl $T --model $d --text $S/data/text/tinystories_excerpt.txt --seqlen 512 2>/dev/null | tail -1 | awk '{print $5}')
    bpw=$(python3 -c "import json;print('%.4f'%json.load(open('$d/quant_report.json'))['totals']['bits_per_weight'])")
    secs=$(python3 -c "import json;print('%.1f'%json.load(open('$d/quant_report.json'))['totals']['total_seconds'])")
    row="$row $ppl"; sum=$(awk "BEGIN{print $sum+$ppl}"); n=$((n+1))
  done
  local rss; rss=$(python3 -c "import json;print('%.1f'%(json.load(open('$d/quant_report.json'))['memory']['peak_rss_bytes']/2**20))")
  echo "$name | $* | bits/w $bpw |$row | mean $(awk "BEGIN{printf \"%.2f\", $sum/$n}") | last run ${secs}s, peak RSS ${rss} MiB"
}
for b in 2 3; do
  variant gptq-b$b $b --method gptq
  variant slim-b$b $b --method slim
  variant plus-b$b $b --method slim+  # 50 epochs (the default)
done
# Epochs, learning rate, loss, initialisation (2 bits).
for e in 5 10 20 50; do variant ep$e-b2 2 --method slim+ --lwc-epochs $e; done
variant ep20-b3 3 --method slim+ --lwc-epochs 20
variant ep50-b3 3 --method slim+ --lwc-epochs 50
for lr in 3e-3 3e-2 1e-1; do variant lr$lr-b2 2 --method slim+ --lwc-lr $lr; done
variant lr3e-2-b3 3 --method slim+ --lwc-lr 3e-2
variant aug-lr3e-2-b2 2 --method slim+ --lwc-lr 3e-2 --aug-loss
variant aug-b2 2 --method slim+ --aug-loss
variant init-slim-b2 2 --method slim+ --lwc-init slim
variant w-gptq-b2 2 --method slim+ --lwc-weights gptq
variant w-gptq-init-slim-b2 2 --method slim+ --lwc-weights gptq --lwc-init slim
variant batch4-b2 2 --method slim+ --lwc-batch 4
