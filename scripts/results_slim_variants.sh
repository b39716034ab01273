#!/usr/bin/env bash
# SliM-LLM variants on stories260K (issue 4): 2-bit g16 over calibration seeds 0-3, TinyStories
# excerpt at seqlen 512; then 3-bit g16 and g32 (2 and 3 bits) for the default, seed 0.
# Every row of the docs/RESULTS.md issue-4 tables. Runs single-threaded (THREADS to change): the
# figures depend on the thread count through summation order (e.g. seed 0 old default: 51.1 at 1
# thread, 55.8 at 2), so the table was made with --threads 1.
# Usage: bash scripts/results_slim_variants.sh [filter-regex]   (e.g. 'sqc|hess')
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=out/slim_variants; mkdir -p $O
T="--threads ${THREADS:-1}"
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256"
F=${1:-.}
# The reference's SQC grid and 1-bit fit, to measure SBA criteria as they were before the new defaults.
OLD="--sqc-p-min 0.9 --sqc-binary-iters 0"
variant() {  # name "seeds" bits group args...
  local name=$1 seeds=$2 bits=$3 g=$4; shift 4
  [[ $name =~ $F ]] || return 0
  local row="" sum=0 n=0 bpw=""
  for seed in $seeds; do
    local d=$O/$name-s$seed
    build/slim quantize $T --model stories260K --bits $bits --group-size $g $C --seed $seed "$@" --out $d >/dev/null 2>&1
    local ppl; ppl=$(build/slim ppl $T --model $d --text $S/data/text/tinystories_excerpt.txt --seqlen 512 2>/dev/null | tail -1 | awk '{print $5}')
    bpw=$(python3 -c "import json;print('%.4f'%json.load(open('$d/quant_report.json'))['totals']['bits_per_weight'])")
    row="$row $ppl"; sum=$(awk "BEGIN{print $sum+$ppl}"); n=$((n+1))
  done
  echo "$name | $* | bits/w $bpw |$row | mean $(awk "BEGIN{printf \"%.2f\", $sum/$n}")"
}
A="0 1 2 3"
variant gptq "$A" 2 16 --method gptq
variant faithful "$A" 2 16 --method slim --faithful
# Reference SQC grid (0.9-1.1) and binary-with-mean 1-bit groups: SBA criteria and scopes.
variant old-sqc-only "$A" 2 16 --method slim --no-sba $OLD
variant old-kl "$A" 2 16 --method slim --sba-criterion kl $OLD
variant old-obs "$A" 2 16 --method slim --sba-criterion obs $OLD
variant old-hess "$A" 2 16 --method slim --sba-criterion hessian $OLD
variant old-hess-up2 "$A" 2 16 --method slim --sba-criterion hessian --sba-max-up 2 $OLD
variant old-obs-up2 "$A" 2 16 --method slim --sba-criterion obs --sba-max-up 2 $OLD
variant old-hess-depth "$A" 2 16 --method slim --sba-criterion hessian --sba-scope depth --sba-normalize none $OLD
variant old-obs-depth "$A" 2 16 --method slim --sba-criterion obs --sba-scope depth --sba-normalize none $OLD
variant old-hess-model-raw "$A" 2 16 --method slim --sba-criterion hessian --sba-scope model --sba-normalize none $OLD
variant old-obs-model-raw "$A" 2 16 --method slim --sba-criterion obs --sba-scope model --sba-normalize none $OLD
variant old-hess-model-rel "$A" 2 16 --method slim --sba-criterion hessian --sba-scope model $OLD
variant old-obs-model-rel "$A" 2 16 --method slim --sba-criterion obs --sba-scope model $OLD
# Lloyd 1-bit fit, reference grid.
variant lloyd-kl "$A" 2 16 --method slim --sba-criterion kl --sqc-p-min 0.9
variant lloyd-hess "$A" 2 16 --method slim --sba-criterion hessian --sqc-p-min 0.9
variant lloyd-hess-depth "$A" 2 16 --method slim --sba-criterion hessian --sba-scope depth --sba-normalize none --sqc-p-min 0.9
variant lloyd-hess-model "$A" 2 16 --method slim --sba-criterion hessian --sba-scope model --sqc-p-min 0.9
# SQC grid down to p_min (default 0.5) with the Lloyd 1-bit fit.
variant sqc-only "$A" 2 16 --method slim --no-sba
variant kl "$A" 2 16 --method slim --sba-criterion kl
variant obs "$A" 2 16 --method slim --sba-criterion obs
variant default "$A" 2 16 --method slim
variant hess-up2 "$A" 2 16 --method slim --sba-max-up 2
variant hess-depth "$A" 2 16 --method slim --sba-scope depth --sba-normalize none
variant hess-model "$A" 2 16 --method slim --sba-scope model
variant pmin0.3 "$A" 2 16 --method slim --sqc-p-min 0.3
variant pmin0.4 "$A" 2 16 --method slim --sqc-p-min 0.4
variant pmin0.6 "$A" 2 16 --method slim --sqc-p-min 0.6
variant pmin0.7 "$A" 2 16 --method slim --sqc-p-min 0.7
variant bin0 "$A" 2 16 --method slim --sqc-binary-iters 0
for lam in 2 5; do variant lambda$lam "$A" 2 16 --method slim --sqc-lambda $lam; done
variant sba-only "$A" 2 16 --method slim --no-sqc
# Other widths, seed 0.
for b in 2 3; do
  for g in 16 32; do
    [[ $b$g == 216 ]] && continue
    variant gptq-b$b-g$g 0 $b $g --method gptq
    variant old-kl-b$b-g$g 0 $b $g --method slim --sba-criterion kl $OLD
    variant sqc-only-b$b-g$g 0 $b $g --method slim --no-sba
    variant default-b$b-g$g 0 $b $g --method slim
  done
done
