#!/usr/bin/env bash
# SLIM_CPU_TARGET reaches the kernels of a whole slim run: slim generate on a
# packed stories260K reports the forced target in its JSON, and an unknown
# target ends the run with an error that names the variable and the target.
#   cpu_target_test.sh SLIM_BINARY SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_stories
grep -qw avx2 /proc/cpuinfo || { echo "skip: no AVX2 on this CPU"; exit 77; }
"$slim" quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --method rtn --bits 4 \
  --group-size 16 --pack --threads 1 --out "$work/m" > "$work/log" 2>&1 || { cat "$work/log"; fail "quantize"; }
gen() { "$slim" generate --model "$work/m" --tokenizer "$shared/models/tok512.bin" -n 4 --temperature 0 --threads 1 --json "$1"; }
SLIM_CPU_TARGET=AVX2 gen "$work/avx2.json" > "$work/log" 2>&1 || { cat "$work/log"; fail "generate with SLIM_CPU_TARGET=AVX2"; }
grep -q '"kernel_target": *"AVX2"' "$work/avx2.json" || { cat "$work/avx2.json"; fail "kernel_target is not AVX2"; }
gen "$work/default.json" > "$work/log" 2>&1 || { cat "$work/log"; fail "generate"; }
# The same greedy tokens whichever target (the kernels are exact to rounding; 4 tokens of a tiny model).
python3 -c "import json,sys;a,b=(json.load(open(f))['text'] for f in sys.argv[1:]);sys.exit(a!=b)" \
  "$work/avx2.json" "$work/default.json" || fail "AVX2 and default targets generated different text"
SLIM_CPU_TARGET=avx9000 gen "$work/bad.json" > "$work/log" 2>&1 && fail "an unknown target was accepted"
grep -q "SLIM_CPU_TARGET: SIMD target 'avx9000'" "$work/log" || { cat "$work/log"; fail "no clear error"; }
echo "ok"
