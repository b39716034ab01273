#!/usr/bin/env bash
# Reproduces the RTN / GPTQ table of docs/RESULTS.md on stories260K.
# Calibration: 32 x 256 tokens of wikitext2_valid_tokenized.txt (never a test text).
# Evaluation: TinyStories excerpt and WikiText-2 test at seqlen 512.
# Output: one JSON per run under out/baselines/, and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
CAL=$S/data/text/wikitext2_valid_tokenized.txt
TS=$S/data/text/tinystories_excerpt.txt
WT=$S/data/text/wikitext2_test.txt
O=out/baselines
mkdir -p $O
SEEDS=${SEEDS:-0}
eval_dir() {  # name dir
  build/slim ppl --model "$2" --text $TS --seqlen 512 --json $O/$1.ts.json >/dev/null 2>&1
  build/slim ppl --model "$2" --text $WT --seqlen 512 --json $O/$1.wt.json >/dev/null 2>&1
}
eval_dir fp32 stories260K
for method in rtn gptq; do
  for bits in 2 3 4; do
    for g in 32 -1 16; do
      for seed in $SEEDS; do
        [ $method = rtn ] && [ $seed != 0 ] && continue
        name=$method-b$bits-g$g-s$seed
        build/slim quantize --model stories260K --method $method --bits $bits --group-size $g \
          --calib $CAL --nsamples 32 --seqlen 256 --seed $seed --out $O/$name.model >/dev/null 2>&1
        eval_dir $name $O/$name.model
      done
    done
  done
done
python3 - "$O" <<'PY'
import json, glob, os, sys
o = sys.argv[1]
print(f"{'run':<22} {'bits/w':>7} {'TinyStories':>12} {'WikiText-2':>11}")
for f in sorted(glob.glob(f"{o}/*.ts.json")):
    name = os.path.basename(f)[:-8]
    ts = json.load(open(f))["ppl"]; wt = json.load(open(f"{o}/{name}.wt.json"))["ppl"]
    rep = f"{o}/{name}.model/quant_report.json"
    bpw = json.load(open(rep))["totals"]["bits_per_weight"] if os.path.exists(rep) else 32.0
    print(f"{name:<22} {bpw:>7.3f} {ts:>12.3f} {wt:>11.2f}")
PY
