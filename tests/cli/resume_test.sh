#!/usr/bin/env bash
# slim quantize --resume, end to end on stories260K (skipped without ../shared):
# a run stopped by SIGTERM after block 1, resumed, killed by SIGKILL after
# block 3, resumed again, writes the same bytes as an uninterrupted run (slim
# packed and fake-quantized, slim+ packed: its checkpoint also holds the
# full-precision stream); a checkpoint is never silently reused or discarded.
#   resume_test.sh SLIM_BINARY SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_stories
args=(quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --bits 2
      --group-size 16 --calib "$shared/text/wikitext2_valid_tokenized.txt" --nsamples 8 --seqlen 128 --threads 1)
for pack in pack fake plus; do
  case $pack in
    pack) a=("${args[@]}" --method slim --pack) ;;
    fake) a=("${args[@]}" --method slim) ;;
    plus) a=("${args[@]}" --method slim+ --lwc-epochs 3 --lwc-batch 2 --pack) ;;
  esac
  # The same --out for both runs (the command line is recorded in the output).
  out="$work/out-$pack" ck="$work/.out-$pack.checkpoint"
  "$slim" "${a[@]}" --out "$out" > "$work/log" 2>&1 || { cat "$work/log"; fail "uninterrupted run"; }
  mv "$out" "$work/full-$pack"
  SLIM_TEST_SIGNAL_AFTER_BLOCK=1:15 "$slim" "${a[@]}" --out "$out" > "$work/log" 2>&1 && fail "SIGTERM did not stop the run"
  grep -q "stopped by signal 15 after block 1/5" "$work/log" || { cat "$work/log"; fail "no stop message"; }
  [ -f "$ck/checkpoint.json" ] && [ ! -e "$out" ] || fail "no checkpoint kept, or a partial output published"
  if [ $pack = plus ]; then  # the full-precision stream and the training records are checkpointed
    ls "$ck"/reference-00001.bin > /dev/null 2>&1 || { ls -a "$ck"; fail "slim+: no reference stream in the checkpoint"; }
    grep -q '"blocks"' "$ck/checkpoint.json" || fail "slim+: no training records in the checkpoint"
  fi
  # Without --resume the checkpoint is neither reused nor discarded.
  "$slim" "${a[@]}" --out "$out" > "$work/log" 2>&1 && fail "a checkpoint was silently reused or discarded"
  grep -q "add --resume to continue it" "$work/log" || { cat "$work/log"; fail "no hint to resume"; }
  # Another run's options are refused, naming what differs.
  other=("${a[@]}")
  for i in "${!other[@]}"; do [ "${other[$i]}" = --bits ] && other[$((i + 1))]=3; done
  "$slim" "${other[@]}" --out "$out" --resume > "$work/log" 2>&1 && { cat "$work/log"; echo "${other[*]}"; fail "other options resumed"; }
  grep -q "options.bits" "$work/log" || { cat "$work/log"; fail "differing option not named"; }
  SLIM_TEST_SIGNAL_AFTER_BLOCK=3:9 "$slim" "${a[@]}" --out "$out" --resume > "$work/log" 2>&1
  [ $? -eq 137 ] || { cat "$work/log"; fail "SIGKILL seam did not kill"; }
  grep -q "blocks 0..0 of 5 done" "$work/log" || { cat "$work/log"; fail "did not resume after block 1"; }
  "$slim" "${a[@]}" --out "$out" --resume > "$work/log" 2>&1 || { cat "$work/log"; fail "final resume"; }
  grep -q "blocks 0..2 of 5 done" "$work/log" || { cat "$work/log"; fail "did not resume after block 3"; }
  [ ! -e "$ck" ] || fail "checkpoint directory left after the run finished"
  for f in "$work/full-$pack"/*; do
    n=$(basename "$f")
    [ "$n" = quant_report.json ] && continue  # timings differ
    cmp -s "$f" "$out/$n" || fail "$pack: $n differs from the uninterrupted run"
  done
  [ "$(ls "$work/full-$pack" | wc -l)" = "$(ls "$out" | wc -l)" ] || fail "$pack: different file lists"
  if [ $pack = plus ]; then  # the report keeps the training records of the blocks before the resumes
    [ "$(grep -c '"final_mse"' "$out/quant_report.json")" = 5 ] || fail "slim+: the resumed report lacks training records"
  fi
  echo "ok: $pack output of the resumed run is byte-identical"
done

# SIGKILL at random moments (mid-block, mid-write), resumed each time until the
# run completes: always the uninterrupted bytes.
a=(quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --method gptq --bits 3
   --group-size 32 --calib "$shared/text/wikitext2_valid_tokenized.txt" --nsamples 48 --seqlen 256 --threads 1 --pack)
out="$work/out-kill"
"$slim" "${a[@]}" --out "$out" > "$work/log" 2>&1 || { cat "$work/log"; fail "uninterrupted run (kill test)"; }
mv "$out" "$work/full-kill"
start=$(date +%s%N)
"$slim" "${a[@]}" --out "$out" > /dev/null 2>&1
total_ms=$(( ($(date +%s%N) - start) / 1000000 ))
rm -rf "$out"
seed=${SLIM_TEST_SEED:-$$}  # printed on failure with the run length: the kill times follow from both
RANDOM=$seed
kills=0
for attempt in $(seq 1 40); do
  ms=$(( RANDOM % (total_ms + 1) + 1 ))
  timeout -s KILL "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" "$slim" "${a[@]}" --out "$out" --resume \
    > "$work/log" 2>&1
  rc=$?
  [ $rc -eq 0 ] && break
  [ $rc -eq 137 ] || { cat "$work/log"; fail "run after $kills kills failed with $rc (SLIM_TEST_SEED=$seed, run of ${total_ms} ms)"; }
  kills=$((kills + 1))
done
[ -d "$out" ] || fail "no output after 40 attempts (SLIM_TEST_SEED=$seed, run of ${total_ms} ms)"
for f in "$work/full-kill"/*; do
  n=$(basename "$f")
  [ "$n" = quant_report.json ] && continue
  cmp -s "$f" "$out/$n" || fail "kill test ($kills kills): $n differs from the uninterrupted run (SLIM_TEST_SEED=$seed, run of ${total_ms} ms)"
done
[ "$(ls "$work/full-kill" | wc -l)" = "$(ls "$out" | wc -l)" ] || fail "kill test: different file lists (SLIM_TEST_SEED=$seed, run of ${total_ms} ms)"
echo "ok: killed $kills times at random moments (run of ${total_ms} ms), resumed to the same bytes"
