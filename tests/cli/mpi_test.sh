#!/usr/bin/env bash
# slim quantize over MPI ranks (issue 15), end to end on stories260K (skipped
# without ../shared, without Open MPI in the build, or without mpirun):
# 1 rank, 2 ranks and 3 ranks (shares of unequal size) give the same
# perplexity to 1e-6 relative (and here the same bytes); a 2-rank run stopped
# after block 2 and resumed with 2 ranks writes what the uninterrupted run
# wrote (each rank checkpoints its own windows; another number of ranks is
# refused); slim+ on 2 ranks matches 1 rank to 1e-3 and is deterministic; rtn is
# refused.
#   mpi_test.sh SLIM_BINARY SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_stories
"$slim" --version | grep -q "Open MPI" || { echo "skip: a single-process build"; exit 77; }
command -v mpirun > /dev/null || { echo "skip: no mpirun"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
# Loopback TCP and shared memory only: no probing of other interfaces or fabrics.
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_pml=ob1
mpi() { local n=$1; shift; mpirun -np "$n" --oversubscribe --bind-to none "$@"; }
args=(quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --method slim --bits 2
      --group-size 16 --calib "$shared/text/wikitext2_valid_tokenized.txt" --nsamples 8 --seqlen 128 --threads 1
      --pack --out o)
ppl() { "$slim" ppl --model "$1/o" --text "$shared/text/tinystories_excerpt.txt" --seqlen 256 --max-chunks 8 --threads 1 \
          --json "$1/ppl.json" > /dev/null 2>&1 || fail "ppl of $1"; grep -o '"ppl": *[0-9.e+-]*' "$1/ppl.json" |
          sed 's/.*: *//'; }
# SBA's error tables with the rows over ranks: byte-identical to one process's
# (tests/mpi/alloc_ranks_check.cc; several row blocks, fewer blocks than ranks).
check=$(dirname "$(realpath "$slim")")/tests/alloc_ranks_check
[ -x "$check" ] || fail "no $check in an Open MPI build"
for n in 2 3; do
  out=$(mpi $n "$check" 2>&1) && echo "$out" | grep -q "^$n ranks: all checks passed" || { echo "$out"; fail "SBA error tables on $n ranks"; }
done
echo "ok: SBA error tables on 2 and 3 ranks byte-identical to one process's"
for n in 1 2 3; do
  mkdir "$work/r$n"
  (cd "$work/r$n" && if [ $n = 1 ]; then "$slim" "${args[@]}"; else mpi $n "$slim" "${args[@]}"; fi > log 2>&1) ||
    { cat "$work/r$n/log"; fail "$n ranks"; }
  [ $n = 1 ] || grep -q ", $n ranks" "$work/r$n/log" || { cat "$work/r$n/log"; fail "not run on $n ranks"; }
  [ "$(grep -c "^wrote " "$work/r$n/log")" = 1 ] || { cat "$work/r$n/log"; fail "$n ranks: not exactly one rank printed"; }
done
p1=$(ppl "$work/r1")
for n in 2 3; do
  pn=$(ppl "$work/r$n")
  awk -v a="$p1" -v b="$pn" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-6) }' ||
    fail "$n ranks: perplexity $pn, 1 rank $p1"
  # Every sum is taken in rank order and the quantized rows travel as codes
  # that decode to the same bits, so no byte may differ (fixed thread count).
  for f in "$work/r1/o"/*.safetensors; do
    cmp -s "$f" "$work/r$n/o/$(basename "$f")" || fail "$n ranks: $(basename "$f") differs from 1 rank's"
  done
  echo "ok: $n ranks perplexity $pn (1 rank $p1); shards byte-identical"
done

# The 172-wide down_proj input factored by all ranks (ScaLAPACK, when built
# in), its Hessian reduced to slices that each rank sends where the block-
# cyclic pieces need them: the factor differs from LAPACK's by rounding only.
if "$slim" quantize --help 2>&1 | grep -q -- "--dist-factor-min"; then
  mkdir "$work/d3"
  (cd "$work/d3" && mpi 3 "$slim" "${args[@]}" --dist-factor-min 100 > log 2>&1) || { cat "$work/d3/log"; fail "3 ranks, shared factor"; }
  pd=$(ppl "$work/d3")
  awk -v a="$p1" -v b="$pd" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-3) }' ||
    fail "3 ranks with the down_proj factor over ranks: perplexity $pd, 1 rank $p1"
  echo "ok: 3 ranks with the down_proj factor over ranks: perplexity $pd (1 rank $p1)"
fi

# --hessian-wire fp32: each rank's partial Hessian sums cross as fp32 (half the
# reduce-scatter), so H moves from 1 rank's by those roundings (2^-24 of each
# summand). Block 0's sites see the same inputs in every run, so their
# reported mean diag(H) agrees with 1 rank's to 1e-6 (a lost or doubled
# partial sum moves it by ~50%); fp64 sums agree exactly. The quantized
# weights need not: 2-bit bit allocation and rounding are step functions of H,
# and a CI machine once moved the perplexity 2.1% (37.07 -> 37.84) where this
# one moved it 0; so the perplexity is only held to 10% (a working model).
# Bytes: per block, rank 0's slice of the four sites' packed triangles (64,
# 64, 64, 172 wide: 3 x 2080 + 14878 = 21118 values, rank 0's 10559) comes
# from rank 1 as fp32 (4 bytes each) or as fp64 packed without loss
# (dist/wire_pack.h; the report's comm_packed_bytes, of comm_packed_raw_bytes
# as fp64). The fp64 summands cover exactly those values more than with fp32
# (whose counts and other sums still go as fp64); everything else received is
# the same in both runs; and the packing saves at least 20% (4 windows a rank:
# ~35%; a packing that drops nothing costs a little more than fp64).
mkdir "$work/w32"
(cd "$work/w32" && mpi 2 "$slim" "${args[@]}" --hessian-wire fp32 > log 2>&1) || { cat "$work/w32/log"; fail "--hessian-wire fp32"; }
diag_means() { awk '/"hessian_diag_mean"/ { v = $2; sub(/,$/, "", v); next } /"layer": *'"$2"',/ && v != "" { print v } { v = "" }' \
                 "$1/o/quant_report.json"; }
[ "$(diag_means "$work/r1" 0 | wc -l)" = 7 ] || fail "1 rank: no hessian_diag_mean for block 0's 7 linears"
[ "$(diag_means "$work/r1" '[0-9]*')" = "$(diag_means "$work/r2" '[0-9]*')" ] || fail "2 ranks (fp64 sums): mean diag(H) differs from 1 rank's"
paste <(diag_means "$work/r1" 0) <(diag_means "$work/w32" 0) |
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (!($1 > 0 && d <= 1e-6)) { print "block 0, linear " NR ": " $2 ", 1 rank " $1; bad = 1 } }
       END { exit bad }' || fail "2 ranks, --hessian-wire fp32: block 0's mean diag(H) is not 1 rank's to 1e-6"
pw=$(ppl "$work/w32")
awk -v a="$p1" -v b="$pw" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 0.1) }' ||
  fail "2 ranks, --hessian-wire fp32: perplexity $pw, 1 rank $p1"
received() { grep -o "\"$2\": *[0-9.e+]*" "$1/o/quant_report.json" | sed 's/.*: *//' |
               awk '{ s += $1 } END { printf "%.0f", s }'; }
r64=$(received "$work/r2" comm_received_bytes) r32=$(received "$work/w32" comm_received_bytes)
raw64=$(received "$work/r2" comm_packed_raw_bytes) raw32=$(received "$work/w32" comm_packed_raw_bytes)
p64=$(received "$work/r2" comm_packed_bytes) p32=$(received "$work/w32" comm_packed_bytes)
[ "$((raw64 - raw32))" = "$((5 * 10559 * 8))" ] ||
  fail "fp64 summands of $raw64 bytes (fp64) with --hessian-wire fp64, $raw32 with fp32"
[ "$((r64 - p64))" = "$((r32 - p32 - 5 * 10559 * 4))" ] ||
  fail "rank 0 received $r64 bytes ($p64 packed) with fp64, $r32 ($p32 packed) with --hessian-wire fp32"
[ "$((p64 * 10))" -le "$((raw64 * 8))" ] || fail "fp64 summands packed to $p64 bytes of $raw64"
echo "ok: fp64 summands packed without loss to $p64 bytes of $raw64 (--hessian-wire fp32: the Hessians' in $((5 * 10559 * 4)))"
echo "ok: 2 ranks, --hessian-wire fp32: block 0 mean diag(H) $(diag_means "$work/w32" 0 | head -1) (1 rank $(diag_means "$work/r1" 0 | head -1)), perplexity $pw (1 rank $p1), rank 0 received $r32 bytes (fp64: $r64)"

# --hessian-wire fp64-raw: the same fp64 summands unpacked. The tensors must be
# the packed run's bit for bit (the shard headers differ: they record the
# command line), and rank 0 must receive the Hessians' raw bytes in place of
# the packed ones (other, small reductions still pack: their bytes cancel).
mkdir "$work/raw"
(cd "$work/raw" && mpi 2 "$slim" "${args[@]}" --hessian-wire fp64-raw > log 2>&1) ||
  { cat "$work/raw/log"; fail "--hessian-wire fp64-raw"; }
data_of() { tail -c +$((9 + $(od -An -t u8 -N8 "$1"))) "$1"; }  # a safetensors file past its header
for f in "$work/r2/o"/*.safetensors; do
  cmp -s <(data_of "$f") <(data_of "$work/raw/o/$(basename "$f")") ||
    fail "--hessian-wire fp64-raw: $(basename "$f")'s tensors differ from the packed run's"
done
rr=$(received "$work/raw" comm_received_bytes) rp=$(received "$work/raw" comm_packed_bytes)
rraw=$(received "$work/raw" comm_packed_raw_bytes)
[ "$((rr - rp + rraw))" = "$((r64 - p64 + raw64))" ] && [ "$rraw" -lt "$((raw64 / 100))" ] ||
  fail "--hessian-wire fp64-raw: rank 0 received $rr bytes ($rp packed of $rraw), packed run $r64 ($p64 of $raw64)"
echo "ok: --hessian-wire fp64-raw: tensors identical to the packed run's; rank 0 received $rr bytes (packed: $r64)"

# Stopped after block 2 of 5 (rank 0 takes SIGTERM, MPI_Abort ends the rest), resumed on 2 ranks.
mkdir "$work/s"
(cd "$work/s" && SLIM_TEST_SIGNAL_AFTER_BLOCK=2:15 mpi 2 "$slim" "${args[@]}" > log 2>&1) &&
  fail "SIGTERM did not stop the 2-rank run"
grep -q "stopped by signal 15 after block 2/5" "$work/s/log" || { cat "$work/s/log"; fail "no stop message"; }
[ -f "$work/s/.o.checkpoint/checkpoint.json" ] && [ ! -e "$work/s/o" ] || fail "no checkpoint, or a partial output"
# Each rank checkpointed its own windows (no gather to rank 0): one part per rank, nothing else.
ck="$work/s/.o.checkpoint"
[ -f "$ck/inputs-00002.rank-0-of-2.bin" ] && [ -f "$ck/inputs-00002.rank-1-of-2.bin" ] &&
  [ "$(ls "$ck" | grep -c '^inputs-')" = 2 ] || { ls -a "$ck"; fail "not one checkpoint part per rank"; }
grep -q '"parts"' "$ck/checkpoint.json" || fail "checkpoint.json lists no parts"
(cd "$work/s" && mpi 3 "$slim" "${args[@]}" --resume > log3 2>&1) && fail "a 2-rank checkpoint resumed on 3 ranks"
grep -q "ranks: 3 now, 2 in the checkpoint" "$work/s/log3" || { cat "$work/s/log3"; fail "no message naming the ranks"; }
(cd "$work/s" && mpi 2 "$slim" "${args[@]}" --resume --hessian-wire fp32 > log3 2>&1) &&
  fail "a checkpoint with fp64 Hessian sums resumed with --hessian-wire fp32"
grep -q 'hessian_wire: "fp32" now, "fp64" in the checkpoint' "$work/s/log3" || { cat "$work/s/log3"; fail "no message naming the wire"; }
(cd "$work/s" && mpi 2 "$slim" "${args[@]}" --resume > log 2>&1) || { cat "$work/s/log"; fail "2-rank resume"; }
grep -q "blocks 0..1 of 5 done" "$work/s/log" || { cat "$work/s/log"; fail "did not resume after block 2"; }
for f in "$work/r2/o"/*; do
  n=$(basename "$f")
  [ "$n" = quant_report.json ] && continue  # timings differ
  cmp -s "$f" "$work/s/o/$n" || fail "resumed 2-rank run: $n differs from the uninterrupted 2-rank run"
done
echo "ok: the resumed 2-rank run is byte-identical to the uninterrupted one"

# SliM-LLM+ on ranks: each AdamW step's windows are divided among the ranks and
# the clipping gradients summed in rank order. The sum is reassociated against
# one rank (fp64 across ranks, fp32 within one), so 1 and 2 ranks agree to a
# tolerance, and two 2-rank runs agree byte for byte.
plus=(quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --method slim+ --bits 2
      --group-size 16 --calib "$shared/text/wikitext2_valid_tokenized.txt" --nsamples 8 --seqlen 128 --threads 1
      --lwc-epochs 4 --lwc-batch 2 --pack --out o)
for d in p1 p2 p2b; do
  mkdir "$work/$d"
  (cd "$work/$d" && if [ $d = p1 ]; then "$slim" "${plus[@]}"; else mpi 2 "$slim" "${plus[@]}"; fi > log 2>&1) ||
    { cat "$work/$d/log"; fail "slim+ $d"; }
done
q1=$(ppl "$work/p1") q2=$(ppl "$work/p2")
awk -v a="$q1" -v b="$q2" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-3) }' ||
  fail "slim+ on 2 ranks: perplexity $q2, 1 rank $q1"
for f in "$work/p2/o"/*.safetensors; do
  cmp -s "$f" "$work/p2b/o/$(basename "$f")" || fail "slim+ on 2 ranks is not deterministic: $(basename "$f") differs"
done
echo "ok: slim+ 2 ranks perplexity $q2 (1 rank $q1); two 2-rank runs byte-identical"
# slim+ resumed on 2 ranks. --lwc-batch 3 over 8 windows gives rank 0 windows
# 0 1 3 4 6 and rank 1 windows 2 5 7 (each step's share, lwc_rank_windows):
# the checkpoint holds both streams in that order and hands them back.
plus3=("${plus[@]:0:21}" --lwc-batch 3 --pack --out o)
mkdir "$work/pr" "$work/ps"
(cd "$work/pr" && mpi 2 "$slim" "${plus3[@]}" > log 2>&1) || { cat "$work/pr/log"; fail "slim+ batch 3"; }
(cd "$work/ps" && SLIM_TEST_SIGNAL_AFTER_BLOCK=2:15 mpi 2 "$slim" "${plus3[@]}" > log 2>&1) &&
  fail "SIGTERM did not stop the 2-rank slim+ run"
ls "$work/ps/.o.checkpoint"/reference-00002.rank-{0,1}-of-2.bin > /dev/null 2>&1 ||
  fail "slim+: no reference stream checkpointed by each rank"
(cd "$work/ps" && mpi 2 "$slim" "${plus3[@]}" --resume > log 2>&1) || { cat "$work/ps/log"; fail "slim+ 2-rank resume"; }
grep -q "blocks 0..1 of 5 done" "$work/ps/log" || { cat "$work/ps/log"; fail "slim+ did not resume after block 2"; }
for f in "$work/pr/o"/*; do
  n=$(basename "$f")
  [ "$n" = quant_report.json ] && continue
  cmp -s "$f" "$work/ps/o/$n" || fail "resumed 2-rank slim+ run: $n differs from the uninterrupted one"
done
echo "ok: slim+ resumed on 2 ranks is byte-identical to the uninterrupted 2-rank run"
(cd "$work" && mpi 2 "$slim" "${plus[@]:0:21}" --lwc-batch 1 --out b1 > log 2>&1) && fail "slim+ ran with --lwc-batch 1 on 2 ranks"
grep -q "lwc-batch must be at least 2" "$work/log" || { cat "$work/log"; fail "no --lwc-batch message"; }
echo "ok: slim+ with fewer windows per step than ranks refused"

# RTN needs no calibration and is not split: refused before any work.
(cd "$work" && mpi 2 "$slim" quantize --model "$shared/models/stories260K.bin" --method rtn --bits 4 --out rtn \
   > log 2>&1) && fail "rtn ran on 2 ranks"
grep -q "method rtn needs no calibration and is not split across ranks" "$work/log" || { cat "$work/log"; fail "no refusal message"; }
echo "ok: rtn refused on 2 ranks"
