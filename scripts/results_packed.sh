#!/usr/bin/env bash
# Issue 5 figures (docs/RESULTS.md, "Packed format and CPU inference"):
#   1. exactness: perplexity of the packed model vs the fake-quantized one (stories260K), every bit mix;
#   2. end to end on stories260K: file size, bits/weight, decode and prefill tok/s, peak RSS;
#   3. end to end on a GENERATED model of TinyLlama-1.1B's shape (bf16 source), fp32 vs packed 2/3/4-bit.
# The kernel benchmark is separate: build/bench/bench_kernels.
# Usage: scripts/results_packed.sh [exact|stories|tinyllama|all]   (default all; run on an idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
O=${SLIM_OUT:-out/packed}
SYN=${SLIM_SYNTH:-out/synth}
THREADS=${THREADS:-2}
what=${1:-all}
mkdir -p "$O" "$SYN"
C="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 32 --seqlen 256 --seed 0"
TXT=$S/data/text/tinystories_excerpt.txt
ppl_of() { python3 -c "import json;print(json.load(open('$1'))['ppl'])"; }
j() { python3 -c "import json;d=json.load(open('$1'));print(d$2)"; }

if [[ $what == exact || $what == all ]]; then
  echo "== exactness: fake-quantized vs packed perplexity (stories260K, TinyStories excerpt, seqlen 512)"
  printf "%-6s %4s %5s %14s %14s %10s\n" method bits group fake-quant packed rel.diff
  for spec in "rtn 1 16" "rtn 2 16" "rtn 3 32" "rtn 4 16" "rtn 8 16" "gptq 2 16" "gptq 3 32" "slim 2 16" "slim 3 16" "slim 4 32" "slim+ 2 16" "slim+ 3 16"; do
    set -- $spec
    for mode in fq pk; do
      extra=""; [[ $mode == pk ]] && extra="--pack"
      build/slim quantize --model stories260K --method $1 --bits $2 --group-size $3 $C $extra --out $O/$1-b$2-g$3-$mode >/dev/null 2>&1
      build/slim ppl --model $O/$1-b$2-g$3-$mode --text $TXT --seqlen 512 --json $O/$1-b$2-g$3-$mode.json >/dev/null 2>&1
    done
    a=$(ppl_of $O/$1-b$2-g$3-fq.json); b=$(ppl_of $O/$1-b$2-g$3-pk.json)
    python3 -c "print('%-6s %4s %5s %14.8f %14.8f %10.2e' % ('$1', $2, $3, $a, $b, abs($a-$b)/$a))"
  done
fi

gen() {  # model out.json extra-args...: prefill of the given prompt (1 token generated), then, as llama-bench's
         # tg128, 128 tokens decoded from an empty context (BOS only); both land in out.json
  local model=$1 json=$2; shift 2
  build/slim generate --model "$model" --threads $THREADS --temperature 0 --ignore-eos -n 1 --json "$json.pp" "$@" >/dev/null 2>"$json.log"
  build/slim generate --model "$model" --threads $THREADS --temperature 0 --ignore-eos -n 128 --prompt-tokens 1 \
    --json "$json.tg" >/dev/null 2>>"$json.log"
  python3 - "$json" <<'PY'
import json, sys
j = sys.argv[1]
pp, tg = json.load(open(j + ".pp")), json.load(open(j + ".tg"))
pp["decode_tokens_per_second"] = tg["decode_tokens_per_second"]
pp["peak_rss_mib"] = max(pp["peak_rss_mib"], tg["peak_rss_mib"])
json.dump(pp, open(j, "w"), indent=1)
PY
}
row() {  # label model-dir-or-file json
  local bytes; bytes=$(du -sb --apparent-size "$2" | cut -f1)
  python3 - "$1" "$bytes" "$3" <<'PY'
import json, sys
label, size, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = json.load(open(path))
print("%-28s %10.1f %12.1f %12.1f %10.1f" % (label, size / 2**20, d["prefill_tokens_per_second"],
      d["decode_tokens_per_second"], d["peak_rss_mib"]))
PY
}
header() { printf "%-28s %10s %12s %12s %10s\n" model "MiB" "prefill t/s" "decode t/s" "RSS MiB"; }

if [[ $what == stories || $what == all ]]; then
  echo "== stories260K end to end ($THREADS threads; prefill: the TinyStories excerpt cut to 256 tokens; decode: 128 tokens from BOS)"
  header
  gen stories260K $O/gen-fp32.json --prompt-file $TXT --prompt-tokens 256
  row "stories260K fp32" $S/data/models/stories260K.bin $O/gen-fp32.json
  for b in 2 3 4; do
    build/slim quantize --model stories260K --method slim --bits $b --group-size 16 $C --pack --out $O/e2e-slim$b >/dev/null 2>&1 || \
      build/slim quantize --model stories260K --method gptq --bits $b --group-size 16 $C --pack --out $O/e2e-slim$b >/dev/null 2>&1
    gen $O/e2e-slim$b $O/gen-slim$b.json --prompt-file $TXT --prompt-tokens 256
    row "packed slim ${b}-bit g16" $O/e2e-slim$b/model.slim.safetensors $O/gen-slim$b.json
  done
fi

if [[ $what == tinyllama || $what == all ]]; then
  echo "== GENERATED TinyLlama-1.1B-shaped model (random bf16 weights; speed and size only), $THREADS threads"
  echo "   prefill: WikiText-2 test cut to 512 tokens (pp512); decode: 128 tokens from an empty context (tg128, as llama-bench)"
  M=$SYN/tinyllama-bf16
  if [[ ! -f $M/config.json ]]; then  # make_synthetic_model writes shards (model-0000N-of-00023)
    build/bench/make_synthetic_model --shape tinyllama --dtype bf16 --out $M
    cp $S/data/models/tokenizer_llama2_32k.model $M/tokenizer.model
  fi
  # SliM's default bit allocation (SBA, hessian criterion) with plain GPTQ group fits (--no-sqc, the
  # scale search only changes values, not the bit mix or the speed) and a small calibration set: the
  # weights are random, only the packed layout and its bit mix matter here (~20 min per model on 2 cores).
  TL="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 8 --seqlen 128 --seed 0"
  [[ -d $SYN/tl-rtn4 ]] || build/slim quantize --model $M --method rtn --bits 4 --group-size 128 --pack --out $SYN/tl-rtn4
  for b in 2 3; do
    [[ -d $SYN/tl-slim$b ]] || build/slim quantize --model $M --method slim --no-sqc --bits $b --group-size 128 $TL --pack --out $SYN/tl-slim$b
  done
  # The same models with the output head (-h4), and the embedding too (-h4e4), packed at 4 bits by RTN
  # (groups of 128), as llama.cpp's k-quants quantize both.
  for v in slim2 slim3 rtn4; do
    [[ -d $SYN/tl-$v-h4 ]] || build/slim pack --model $SYN/tl-$v --head-bits 4 --out $SYN/tl-$v-h4
    [[ -d $SYN/tl-$v-h4e4 ]] || build/slim pack --model $SYN/tl-$v --head-bits 4 --embed-bits 4 --out $SYN/tl-$v-h4e4
  done
  header
  P="--prompt-file $S/data/text/wikitext2_test.txt --prompt-tokens 512"
  gen $M $O/tl-fp32.json $P; row "bf16 file, fp32 compute" $M $O/tl-fp32.json
  for v in slim2 slim2-h4 slim2-h4e4 slim3 slim3-h4 slim3-h4e4 rtn4 rtn4-h4 rtn4-h4e4; do
    gen $SYN/tl-$v $O/tl-$v.json $P
    row "packed $v" $SYN/tl-$v/model.slim.safetensors $O/tl-$v.json
  done
  for v in slim2 slim3 rtn4; do
    build/slim inspect --model $SYN/tl-$v | grep -A1 '^packed'
  done
fi
