#!/usr/bin/env bash
# Issue 12's open question: SliM-LLM+ loses to SliM at 3 bits on TinyStories when calibrated on
# WikiText-2. Is that the training fitting the calibration domain? Direct test: calibrate on in-domain
# TinyStories text and evaluate on held-out TinyStories text. The excerpt is split at the line end
# nearest its middle: the second half is the calibration text, the first half the evaluation text
# (no byte of one is in the other). Both calibrations, both methods, seeds 0-3, --threads 1, g16,
# 32 x 256 calibration windows (random windows of the ~7.7k-token half, so they overlap).
# Usage: bash scripts/results_slim_plus_domain.sh [BITS...]   (default: 3 2); JOBS=2 runs in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=${OUT:-out/slim_plus_domain}; mkdir -p "$O"
SLIM=${SLIM:-build/slim}
JOBS=${JOBS:-2}
python3 - "$S/data/text/tinystories_excerpt.txt" "$O" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
mid = b.index(b'\n', len(b) // 2) + 1
open(sys.argv[2] + '/ts_eval.txt', 'wb').write(b[:mid])
open(sys.argv[2] + '/ts_calib.txt', 'wb').write(b[mid:])
PY
declare -A CAL=([wiki]="$S/data/text/wikitext2_valid_tokenized.txt" [ts]="$O/ts_calib.txt")
run() {  # calib method bits seed -> prints "calib method bits seed ppl"
  local d=$O/$1-$2-b$3-s$4
  "$SLIM" quantize --threads 1 --model stories260K --method "$2" --bits "$3" --group-size 16 --calib "${CAL[$1]}" \
    --nsamples 32 --seqlen 256 --seed "$4" --out "$d" > /dev/null 2>&1
  echo "$1 $2 $3 $4 $("$SLIM" ppl --threads 1 --model "$d" --text "$O/ts_eval.txt" --seqlen 512 2>/dev/null |
    tail -1 | awk '{print $5}')"
}
export -f run; export O SLIM; export CAL_wiki="${CAL[wiki]}" CAL_ts="${CAL[ts]}"
for bits in ${@:-3 2}; do
  for cal in wiki ts; do for m in slim slim+; do for s in 0 1 2 3; do echo "$cal $m $bits $s"; done; done; done
done | xargs -P "$JOBS" -L 1 bash -c 'declare -A CAL=([wiki]="$CAL_wiki" [ts]="$CAL_ts"); run "$@"' _ | sort > "$O/results.txt"
fp=$("$SLIM" ppl --threads 1 --model stories260K --text "$O/ts_eval.txt" --seqlen 512 2>/dev/null | tail -1 | awk '{print $5}')
echo "held-out TinyStories half ($(wc -c < "$O/ts_eval.txt") bytes), seqlen 512; FP32 $fp"
echo "| bits | calibration | method | seed 0 | 1 | 2 | 3 | mean |"
echo "|---|---|---|---|---|---|---|---|"
awk '{k=$3" | "($1=="ts"?"TinyStories 2nd half":"WikiText-2 valid")" | "$2; v[k]=v[k]" | "$5; s[k]+=$5; n[k]++}
     END {for (k in v) printf "| %s%s | **%.3f** |\n", k, v[k], s[k]/n[k]}' "$O/results.txt" | sort
