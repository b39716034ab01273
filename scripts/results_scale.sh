#!/usr/bin/env bash
# Issue 10 figures (docs/RESULTS.md, "Real scale"): memory and time of the
# streaming pipeline on GENERATED bf16 checkpoints (weights are noise: the
# perplexities mean nothing, memory and time do), and the resume demo.
#   scripts/results_scale.sh [tinyllama|7b|7b-wide|opt|gemma3|resume|all]   (default all)
# opt: a generated OPT-1.3B (issue 13) through inspect, ppl, generate, gptq + pack, packed ppl
# (the LLaMA-2 32k tokenizer stands in for GPT-2's: its ids fit OPT's 50272-row embedding).
# gemma3: the same for a generated Gemma-3-1B (262144-token vocabulary; the same stand-in tokenizer;
# ppl at seqlen 1024, twice the 512 window of its sliding layers).
# Needs ../shared (tokenizer, calibration text); ~20 GB free under $SCRATCH (default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
S=../shared/data
T=${SCRATCH:-/tmp}/slim-scale
mkdir -p "$T"
export OMP_WAIT_POLICY=passive
TIME=(/usr/bin/time -f "%e s wall, maxrss %M KB")
CAL=(--calib $S/text/wikitext2_valid_tokenized.txt)
gen() {  # gen DIR SHAPE [LAYERS]
  [ -f "$1/config.json" ] && return
  build/bench/make_synthetic_model --shape "$2" ${3:+--layers $3} --dtype bf16 --out "$1"
  cp $S/models/tokenizer_llama2_32k.model "$1/tokenizer.model"
}
if [[ $what == tinyllama || $what == all ]]; then
  gen $T/tinyllama tinyllama
  "${TIME[@]}" build/slim inspect --model $T/tinyllama > /dev/null
  "${TIME[@]}" build/slim generate --model $T/tinyllama --prompt-file $S/text/wikitext2_test.txt --prompt-tokens 128 \
    -n 32 --temperature 0 --threads 2 > /dev/null
  rm -rf $T/tl-rtn && "${TIME[@]}" build/slim quantize --model $T/tinyllama --method rtn --bits 4 --pack --out $T/tl-rtn --threads 2
  rm -rf $T/tl-gptq && "${TIME[@]}" build/slim quantize --model $T/tinyllama --method gptq --bits 4 --pack "${CAL[@]}" \
    --nsamples 8 --seqlen 256 --out $T/tl-gptq --threads 2
fi
if [[ $what == 7b || $what == all ]]; then
  gen $T/llama2-7b llama2-7b
  rm -rf $T/7b-rtn && "${TIME[@]}" build/slim quantize --model $T/llama2-7b --method rtn --bits 4 --pack --out $T/7b-rtn --threads 2
  head -c 12000 $S/text/wikitext2_test.txt > $T/wt-12k.txt
  "${TIME[@]}" build/slim ppl --model $T/llama2-7b --text $T/wt-12k.txt --seqlen 2048 --max-chunks 1 --threads 2
fi
if [[ $what == 7b-wide || $what == all ]]; then
  for L in 2 4; do
    gen $T/7b-wide-$L llama2-7b $L
    rm -rf $T/7b-wide-$L-gptq && "${TIME[@]}" build/slim quantize --model $T/7b-wide-$L --method gptq --bits 4 --pack \
      "${CAL[@]}" --nsamples 8 --seqlen 512 --out $T/7b-wide-$L-gptq --threads 2
  done
fi
if [[ $what == opt || $what == all ]]; then
  gen $T/opt-1.3b opt-1.3b
  head -c 12000 $S/text/wikitext2_test.txt > $T/wt-12k.txt
  "${TIME[@]}" build/slim inspect --model $T/opt-1.3b > $T/opt-inspect.txt && head -4 $T/opt-inspect.txt
  "${TIME[@]}" build/slim ppl --model $T/opt-1.3b --text $T/wt-12k.txt --seqlen 1024 --max-chunks 1 --threads 2
  "${TIME[@]}" build/slim generate --model $T/opt-1.3b --prompt-file $S/text/wikitext2_test.txt --prompt-tokens 128 \
    -n 32 --temperature 0 --threads 2 > /dev/null
  rm -rf $T/opt-gptq && "${TIME[@]}" build/slim quantize --model $T/opt-1.3b --method gptq --bits 4 --pack "${CAL[@]}" \
    --nsamples 8 --seqlen 256 --out $T/opt-gptq --threads 2
  du -sh $T/opt-1.3b $T/opt-gptq
  "${TIME[@]}" build/slim ppl --model $T/opt-gptq --text $T/wt-12k.txt --seqlen 1024 --max-chunks 1 --threads 2
fi
if [[ $what == gemma3 || $what == all ]]; then
  gen $T/gemma3-1b gemma3-1b
  head -c 12000 $S/text/wikitext2_test.txt > $T/wt-12k.txt
  "${TIME[@]}" build/slim inspect --model $T/gemma3-1b > $T/gemma3-inspect.txt && head -5 $T/gemma3-inspect.txt
  "${TIME[@]}" build/slim ppl --model $T/gemma3-1b --text $T/wt-12k.txt --seqlen 1024 --max-chunks 1 --threads 2
  "${TIME[@]}" build/slim generate --model $T/gemma3-1b --prompt-file $S/text/wikitext2_test.txt --prompt-tokens 128 \
    -n 32 --temperature 0 --threads 2 > /dev/null
  rm -rf $T/gemma3-gptq && "${TIME[@]}" build/slim quantize --model $T/gemma3-1b --method gptq --bits 4 --pack "${CAL[@]}" \
    --nsamples 8 --seqlen 256 --out $T/gemma3-gptq --threads 2
  du -sh $T/gemma3-1b $T/gemma3-gptq
  "${TIME[@]}" build/slim ppl --model $T/gemma3-gptq --text $T/wt-12k.txt --seqlen 1024 --max-chunks 1 --threads 2
fi
if [[ $what == resume || $what == all ]]; then
  d=$T/resume && rm -rf $d && mkdir -p $d && cd $d
  Q=("$OLDPWD/build/slim" quantize --model "$OLDPWD/$S/models/stories260K.bin" --tokenizer "$OLDPWD/$S/models/tok512.bin"
     --method slim --bits 2 --group-size 16 --calib "$OLDPWD/$S/text/wikitext2_valid_tokenized.txt" --nsamples 32
     --seqlen 256 --threads 1 --pack --out out)
  "${Q[@]}" > /dev/null 2>&1 && mv out full
  SLIM_TEST_SIGNAL_AFTER_BLOCK=2:9 "${Q[@]}" > /dev/null 2>&1 || echo "killed (SIGKILL) after block 2: exit $?"
  "${Q[@]}" 2>&1 | tail -1 || true
  "${Q[@]}" --resume 2>&1 | grep -E "resuming|wrote"
  for f in full/*; do
    n=$(basename "$f")
    if [ "$n" != quant_report.json ]; then cmp "$f" "out/$n" && echo "identical: $n"; fi
  done
fi
