#!/usr/bin/env bash
# Phi-3 fused vs split (issue 13): SliM's SBA with one budget per linear (--sba-scope layer, the
# default: what splitting Phi-3's fused qkv_proj / gate_up_proj into row views gives) against one
# budget per input site (--sba-scope site: q/k/v and gate/up share one width per column group,
# exactly SBA on the fused matrices). Measured on stories260K (LLaMA architecture: the question is
# the same there) with the issue-4 protocol: 32 x 256 calibration tokens of WikiText-2 (valid,
# tokenized), seeds 0-3, 2-bit and 3-bit g16, TinyStories excerpt perplexity at seqlen 512,
# single-threaded (the figures move with the thread count through summation order).
# Prints one docs/RESULTS.md row per (bits, scope). Usage: bash scripts/results_sba_site.sh
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=out/sba_site; mkdir -p $O
T="--threads ${THREADS:-1}"
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256"
row() {  # bits scope
  local bits=$1 scope=$2 line="" sum=0 n=0 bpw=""
  for seed in 0 1 2 3; do
    local d=$O/b$bits-$scope-s$seed
    build/slim quantize $T --model stories260K --method slim --bits $bits --group-size 16 $C --seed $seed \
      --sba-scope $scope --out $d >/dev/null 2>&1
    local ppl; ppl=$(build/slim ppl $T --model $d --text $S/data/text/tinystories_excerpt.txt --seqlen 512 2>/dev/null | tail -1 | awk '{print $5}')
    bpw=$(python3 -c "import json;print('%.4f'%json.load(open('$d/quant_report.json'))['totals']['bits_per_weight'])")
    line="$line $ppl |"; sum=$(awk "BEGIN{print $sum+$ppl}"); n=$((n+1))
  done
  echo "| $bits | $scope | \`--method slim --bits $bits --group-size 16 --sba-scope $scope\` | $bpw |$line **$(awk "BEGIN{printf \"%.2f\", $sum/$n}")** |"
}
echo "| bits | scope | flags (besides the protocol) | bits/weight | seed 0 | 1 | 2 | 3 | mean |"
echo "|---|---|---|---|---|---|---|---|---|"
for bits in 2 3; do
  for scope in layer site; do row $bits $scope; done
done
