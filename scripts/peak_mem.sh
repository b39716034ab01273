#!/usr/bin/env bash
# Runs a command and reports its peak memory, sampled from /proc every 0.1 s:
# peak anonymous (RssAnon: heap and buffers, what the machine must really have)
# and peak resident (VmHWM, the kernel's own peak, which also counts the pages
# of memory-mapped model files that the kernel can drop and re-read).
#   bash scripts/peak_mem.sh build/slim quantize ...
# Prints "peak_mem: anonymous X GiB, resident Y GiB, wall Z s, exit N" on stderr at the end;
# exits with the command's status. The sampling can miss a peak shorter than 0.1 s.
set -uo pipefail
start=$(date +%s.%N)
"$@" &
pid=$!
peak_anon=0
hwm=0
while kill -0 "$pid" 2>/dev/null; do
  if read -r a h < <(awk '/^RssAnon:/{a=$2} /^VmHWM:/{h=$2} END{print a+0, h+0}' "/proc/$pid/status" 2>/dev/null); then
    [ "$a" -gt "$peak_anon" ] && peak_anon=$a
    [ "$h" -gt "$hwm" ] && hwm=$h
  fi
  sleep 0.1
done
wait "$pid"
rc=$?
end=$(date +%s.%N)
awk -v a="$peak_anon" -v h="$hwm" -v s="$start" -v e="$end" -v rc="$rc" 'BEGIN{
  printf "peak_mem: anonymous %.2f GiB, resident %.2f GiB, wall %.0f s, exit %d\n", a/1048576, h/1048576, e-s, rc}' >&2
exit "$rc"
