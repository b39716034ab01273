#!/usr/bin/env bash
# Issue 11 side by side (docs/RESULTS.md, "End to end: GENERATED model of TinyLlama-1.1B's shape vs llama.cpp"):
# llama.cpp (scripts/llama_cpp.sh: AVX2-only build) and slim (SLIM_CPU_TARGET=avx2, OpenBLAS forced to its
# Haswell kernels), the same generated TinyLlama-1.1B-shaped bf16 weights, llama-bench's protocol, alternated
# pair by pair, ROUNDS rounds:
#   pp512          llama-bench -p 512            | slim generate, a 512-token prompt (WikiText-2 test), prefill rate
#   tg128          llama-bench -n 128            | slim generate -n 128 from BOS alone (empty context)
#   tg128 @ d512   llama-bench -n 128 -d 512     | the same slim run as pp512: 128 tokens after the 512-token prompt
#   tg128, 1 thr.  llama-bench -n 128 -t 1       | slim generate -n 128 --threads 1
# llama-bench runs with -r 1 --no-warmup (one measurement per round, as slim; the rounds are the repeats).
# Models (all under $SLIM_SYNTH, default /work/synth, never in the repo): the bf16 checkpoint, written as a
# BF16 GGUF by scripts/gguf_from_hf.py and llama-quantized to Q2_K / Q3_K_S / Q4_K_M; slim's packed as
# scripts/results_packed.sh packs them (SliM 2/3-bit and RTN 4-bit, g128, head and embedding RTN 4-bit: -h4e4).
# Usage: scripts/results_peer.sh [ROUNDS]     (env: THREADS=2 T1=1 PAIRS SLIM_SYNTH LLAMA_PEER SLIM_SHARED)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLIM_SHARED:-../shared}
SYN=${SLIM_SYNTH:-/work/synth}
PEER=${LLAMA_PEER:-/work/llama.cpp-peer}
O=${SLIM_OUT:-out/peer}
THREADS=${THREADS:-2}
ROUNDS=${1:-3}
T1=${T1:-1}        # T1=0 skips the 1-thread decode runs
export OMP_WAIT_POLICY=passive
mkdir -p "$O" "$SYN"

# ---- setup (idempotent)
bash scripts/llama_cpp.sh >/dev/null
LB=$PEER/build/bin
M=$SYN/tinyllama-bf16
if [[ ! -f $M/config.json ]]; then
  build/bench/make_synthetic_model --shape tinyllama --dtype bf16 --out "$M"
  cp "$S/data/models/tokenizer_llama2_32k.model" "$M/tokenizer.model"
fi
[[ -f $SYN/tinyllama-bf16.gguf ]] || python3 scripts/gguf_from_hf.py "$M" "$SYN/tinyllama-bf16.gguf"
for q in Q2_K Q3_K_S Q4_K_M; do
  [[ -f $SYN/tinyllama-$q.gguf ]] || "$LB/llama-quantize" "$SYN/tinyllama-bf16.gguf" "$SYN/tinyllama-$q.gguf" $q 2 >/dev/null 2>&1
done
# Pairs compared (llama.cpp quant : slim model under $SYN/tl-*): the k-quants against slim's packed models of
# no larger files. slimN = SliM N-bit (g128, --no-sqc as results_packed.sh), rtnN = RTN N-bit g128; -h4e4 = head
# and embedding packed by RTN at 4 bits.
PAIRS=${PAIRS:-"Q2_K:slim2-h4e4 Q3_K_S:slim3-h4e4 Q4_K_M:rtn4-h4e4"}
TL="--calib $S/data/text/wikitext2_valid_tokenized.txt --nsamples 8 --seqlen 128 --seed 0"
for pair in $PAIRS; do
  v=${pair#*:}; base=${v%-h4e4}; b=${base: -1}
  if [[ ! -d $SYN/tl-$base ]]; then
    case $base in
      slim?) build/slim quantize --model "$M" --method slim --no-sqc --bits $b --group-size 128 $TL --pack --out "$SYN/tl-$base" ;;
      rtn?) build/slim quantize --model "$M" --method rtn --bits $b --group-size 128 --pack --out "$SYN/tl-$base" ;;
      *) echo "error: PAIRS: unknown slim model '$v' (slimN or rtnN, optionally -h4e4)" >&2; exit 1 ;;
    esac
  fi
  [[ $v == $base || -d $SYN/tl-$v ]] || build/slim pack --model "$SYN/tl-$base" --head-bits 4 --embed-bits 4 --out "$SYN/tl-$v"
done

echo "llama.cpp: $(cat "$PEER/COMMIT"); slim: $(git rev-parse --short HEAD) $(build/slim --version)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $THREADS threads; $ROUNDS rounds"

# ---- measurements
PROMPT="--prompt-file $S/data/text/wikitext2_test.txt --prompt-tokens 512"
llama() {  # gguf tag: one llama-bench line per test, into $O/$tag.jsonl
  local m=$1 tag=$2
  { env -u OMP_WAIT_POLICY "$LB/llama-bench" -m "$m" -p 512 -n 128 -t $THREADS -r 1 --no-warmup -o jsonl
    env -u OMP_WAIT_POLICY "$LB/llama-bench" -m "$m" -p 0 -n 128 -d 512 -t $THREADS -r 1 --no-warmup -o jsonl
    [[ $T1 == 0 ]] || env -u OMP_WAIT_POLICY "$LB/llama-bench" -m "$m" -p 0 -n 128 -t 1 -r 1 --no-warmup -o jsonl; } > "$O/$tag.jsonl" 2>"$O/$tag.log"
}
# Both programs run with their own defaults, without the passive policy exported above for the quantize
# setup: slim's start-up then sets GOMP_SPINCOUNT=1000 (README: "GOMP_SPINCOUNT"); llama.cpp (built with
# GGML_OPENMP by scripts/llama_cpp.sh) keeps libgomp's. Passive cost slim's decode 8-23% here (RESULTS, 7 Dec 2026).
slim_run() {  # model-dir tag
  local m=$1 tag=$2
  local g=(env -u OMP_WAIT_POLICY build/slim generate --model "$m" --temperature 0 --ignore-eos -n 128)
  SLIM_CPU_TARGET=avx2 OPENBLAS_CORETYPE=Haswell "${g[@]}" --threads $THREADS $PROMPT --json "$O/$tag.pp" >/dev/null 2>"$O/$tag.log"
  SLIM_CPU_TARGET=avx2 OPENBLAS_CORETYPE=Haswell "${g[@]}" --threads $THREADS --prompt-tokens 1 --json "$O/$tag.tg" >/dev/null 2>>"$O/$tag.log"
  rm -f "$O/$tag.tg1"
  [[ $T1 == 0 ]] || SLIM_CPU_TARGET=avx2 OPENBLAS_CORETYPE=Haswell "${g[@]}" --threads 1 --prompt-tokens 1 --json "$O/$tag.tg1" >/dev/null 2>>"$O/$tag.log"
}
report() {  # side size-bytes tag round
  python3 - "$@" <<'PY'
import json, sys
side, size, tag, rnd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = sys.argv[3]
if side == "llama.cpp":
    rows = [json.loads(l) for l in open(base + ".jsonl") if l.strip()]
    def get(p, n, d, t):
        for r in rows:
            if r["n_prompt"] == p and r["n_gen"] == n and r.get("n_depth", 0) == d and r["n_threads"] == t:
                return r["avg_ts"]
        return float("nan")
    t = max(r["n_threads"] for r in rows)
    pp, tg, tgd, tg1 = get(512, 0, 0, t), get(0, 128, 0, t), get(0, 128, 512, t), get(0, 128, 0, 1)
else:
    import os
    a, b = (json.load(open(base + x)) for x in (".pp", ".tg"))
    c = json.load(open(base + ".tg1")) if os.path.exists(base + ".tg1") else {"decode_tokens_per_second": float("nan"), "generated_tokens": 128}
    assert a["kernel_target"] == "AVX2" and a["prompt_tokens"] == 512 and a["generated_tokens"] == 128, a
    assert b["generated_tokens"] == 128 and c["generated_tokens"] == 128
    pp, tg, tgd, tg1 = a["prefill_tokens_per_second"], b["decode_tokens_per_second"], a["decode_tokens_per_second"], c["decode_tokens_per_second"]
label = base.rsplit("/", 1)[1].split(".r")[0]
print("%s %-10s %-16s %8.1f %8.1f %8.1f %10.1f %10.1f" % (rnd, side, label, size / 2**20, pp, tg, tgd, tg1), flush=True)
PY
}
printf "%s %-10s %-16s %8s %8s %8s %10s %10s\n" r side model MiB pp512 tg128 "tg128@d512" "tg128 1thr"
for r in $(seq 1 "$ROUNDS"); do
  echo "# round $r, $(date -u +%H:%M:%S) UTC, load: $(uptime | sed 's/.*load average: //')"
  for pair in $PAIRS; do
    set -- ${pair%:*} ${pair#*:}
    for side in $( ((r % 2)) && echo "llama.cpp slim" || echo "slim llama.cpp"); do  # who goes first alternates
      if [[ $side == slim ]]; then
        slim_run "$SYN/tl-$2" "$2.r$r"
        report slim "$(du -cb --apparent-size "$SYN/tl-$2"/*.slim.safetensors | tail -1 | cut -f1)" "$O/$2.r$r" $r
      else
        llama "$SYN/tinyllama-$1.gguf" "$1.r$r"
        report llama.cpp "$(stat -c %s "$SYN/tinyllama-$1.gguf")" "$O/$1.r$r" $r
      fi
    done
  done
done
echo "# end $(date -u +%H:%M:%S) UTC, load: $(uptime | sed 's/.*load average: //')"
