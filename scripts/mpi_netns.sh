#!/usr/bin/env bash
# slim quantize on two "hosts" over TCP (issue 15): two network namespaces on
# this machine joined by a veth pair, with loopback-range addresses only
# (127.100.0.1 and 127.100.0.2; nothing is routed off the machine). mpirun
# starts rank 1 inside the second namespace through `ip netns exec` (its
# plm_rsh_agent, where a cluster would use ssh). The 2-rank output is compared
# with a 1-rank run, and the bytes that crossed the veth with slim's own count.
#   sudo scripts/mpi_netns.sh [MODEL.bin TOKENIZER.bin]   (default ../shared stories260K)
#   sudo scripts/mpi_netns.sh --run 'COMMAND'
# The second form sets the two hosts up and runs COMMAND (bash, from the repository root) with
# NETNS_MPIRUN set to the mpirun prefix that starts 2 ranks across them, e.g.
#   --run '$NETNS_MPIRUN build/slim quantize ... --out /tmp/x'
# and NETNS_RX, a command that prints the bytes host A's veth has received so far.
# SLIM_NETNS_RATE=1gbit (tc's units) limits the link to that rate in both directions (a token
# bucket on each end), so that a transfer costs what it would on a slower network.
# Needs root (ip netns), Open MPI and a build with it (build/slim --version says "Open MPI").
set -euo pipefail
cd "$(dirname "$0")/.."
run_cmd=""
if [ "${1:-}" = --run ]; then
  run_cmd=${2:?usage: mpi_netns.sh --run COMMAND}
  set --
fi
S=$(realpath -m ../shared/data)
model=$(realpath "${1:-$S/models/stories260K.bin}") tok=$(realpath "${2:-$S/models/tok512.bin}")
slim=$(realpath build/slim)
"$slim" --version | grep -q "Open MPI" || { echo "build/slim is a single-process build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (ip netns)"; exit 1; }
A=slimnsA B=slimnsB work=""
cleanup() {
  ip netns del $A 2> /dev/null || true
  ip netns del $B 2> /dev/null || true
  rm -rf /etc/netns/$A /etc/netns/$B ${work:+"$work"}
}
trap cleanup EXIT
cleanup  # what a killed earlier run left
work=$(mktemp -d)
ip netns add $A
ip netns add $B
ip link add vethslimA type veth peer name vethslimB
ip link set vethslimA netns $A
ip link set vethslimB netns $B
i=1
for ns in $A $B; do
  dev=vethslim${ns: -1}
  ip netns exec $ns ip link set lo up
  # 127/8 is all local on lo by default: keep only 127.0.0.1 there, so 127.100.0.0/24 goes over the veth.
  ip netns exec $ns ip route del local 127.0.0.0/8 dev lo table local
  ip netns exec $ns ip route add local 127.0.0.1 dev lo table local 2> /dev/null || true
  ip netns exec $ns sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.$dev.route_localnet=1
  ip netns exec $ns ip addr add 127.100.0.$i/24 dev $dev
  ip netns exec $ns ip link set $dev up
  mkdir -p /etc/netns/$ns  # `ip netns exec` bind-mounts this hosts file: the two names resolve inside both
  printf '127.0.0.1 localhost\n127.100.0.1 %s\n127.100.0.2 %s\n' $A $B > /etc/netns/$ns/hosts
  i=$((i + 1))
done
if [ -n "${SLIM_NETNS_RATE:-}" ]; then
  for ns in $A $B; do
    ip netns exec $ns tc qdisc add dev vethslim${ns: -1} root tbf rate "$SLIM_NETNS_RATE" burst 256kb latency 100ms
  done
  echo "link limited to $SLIM_NETNS_RATE each way"
fi
cat > "$work/netns-rsh" <<'EOS'
#!/bin/sh
# mpirun's remote shell: "netns-rsh HOST CMD..." runs CMD in network namespace HOST.
host=$1; shift
exec ip netns exec "$host" /bin/sh -c "$*"
EOS
chmod +x "$work/netns-rsh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
if [ -n "$run_cmd" ]; then
  export NETNS_MPIRUN="ip netns exec $A mpirun -np 2 --host $A:1,$B:1 --mca plm_rsh_agent $work/netns-rsh \
--mca btl self,tcp --mca btl_tcp_if_include 127.100.0.0/24 --mca oob_tcp_if_include 127.100.0.0/24 -x OMP_WAIT_POLICY"
  export NETNS_RX="ip netns exec $A cat /sys/class/net/vethslimA/statistics/rx_bytes"
  bash -c "$run_cmd"
  exit
fi
args=(quantize --model "$model" --tokenizer "$tok" --method slim --bits 2 --group-size 16
      --calib "$S/text/wikitext2_valid_tokenized.txt" --nsamples 16 --seqlen 256 --threads 1 --pack --out o)
mkdir "$work/one" "$work/two"
(cd "$work/one" && "$slim" "${args[@]}" > log 2>&1) || { cat "$work/one/log"; exit 1; }
tx() { ip netns exec $A cat /sys/class/net/vethslimA/statistics/$1_bytes; }
tx0=$(tx tx) rx0=$(tx rx)
(cd "$work/two" && ip netns exec $A mpirun -np 2 --host $A:1,$B:1 --mca plm_rsh_agent "$work/netns-rsh" \
   --mca btl self,tcp --mca btl_tcp_if_include 127.100.0.0/24 --mca oob_tcp_if_include 127.100.0.0/24 \
   -x OMP_WAIT_POLICY "$slim" "${args[@]}" > log 2>&1) || { cat "$work/two/log"; exit 1; }
echo "2 ranks on hosts $A (127.100.0.1) and $B (127.100.0.2), over TCP:"
grep -E "ranks|received|combining|gathering|^wrote" "$work/two/log" | sed 's/^/  /'
echo "  veth of $A: sent $(( $(tx tx) - tx0 )) bytes, received $(( $(tx rx) - rx0 )) bytes (MPI's framing and the launch included)"
same=yes
for f in "$work/one/o"/*.safetensors; do cmp -s "$f" "$work/two/o/$(basename "$f")" || same=no; done
echo "  shards byte-identical to the 1-rank run: $same"
[ $same = yes ]
