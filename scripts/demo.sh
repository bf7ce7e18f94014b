#!/usr/bin/env bash
# make demo: a chain on a namespaced veth topology with live traffic.
#
#   client ns ──veth── "VM" ns (sfcd, XDP chain on eth0/eth1/eth2) ──veth── server ns (x2)
#
# Builds the topology, starts sfcd in the VM namespace, applies
# chains/demo.json with sfcctl, sends traffic, and shows what the chain saw:
# `sfcctl stats`, a `bpftool map dump` of a stats map and `xdp-loader status`.
# Tears everything down at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
SFCD=$BUILD/daemon/sfcd
SFCCTL=$BUILD/cli/sfcctl
P=sfcdemo
NET=77
ROOT=/sys/fs/bpf/sfc
STATE=/var/lib/sfcd-demo
SOCK=/run/sfcd/sfcd.sock
export SFC_SERVER=unix:$SOCK

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
vm() { nsenter --net=/run/netns/${P}v "$@"; }
client() { ip netns exec ${P}c "$@"; }

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: left running. Try: $SFCCTL get chains; ip netns exec ${P}c ping 10.$NET.11.2"
    say "Tear down with: $SFCCTL delete chain demo; pkill -f 'sfcd --bpffs-root $ROOT'; scripts/topo.sh down $P"
    return
  fi
  say "Tearing down"
  $SFCCTL delete chain demo >/dev/null 2>&1 || true
  [ -n "${SFCD_PID:-}" ] && kill "$SFCD_PID" 2>/dev/null && wait "$SFCD_PID" 2>/dev/null || true
  scripts/topo.sh down $P
  rm -rf "$STATE"
}
trap cleanup EXIT

say "Topology: client ${P}c, VM ${P}v, servers ${P}s1 ${P}s2 (10.$NET.0.0/16)"
scripts/topo.sh up $P $NET 2
for s in 1 2; do
  ip netns exec ${P}s$s sh -c "echo 'hello from server $s' > /tmp/sfcdemo-index-$s.html"
  ip netns exec ${P}s$s python3 -m http.server 80 --bind :: --directory /tmp >/dev/null 2>&1 &
  ip netns exec ${P}s$s iperf3 -s -D -1 >/dev/null 2>&1 || true
done

say "Starting sfcd in the VM namespace"
mkdir -p "$(dirname "$SOCK")"
vm "$SFCD" --bpffs-root $ROOT --state-dir $STATE --listen unix:$SOCK > /tmp/sfcdemo-sfcd.log 2>&1 &
SFCD_PID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

say "sfcctl apply -f chains/demo.json"
sed "s/10\.NET\./10.$NET./g" chains/demo.json > /tmp/sfcdemo-chain.json
$SFCCTL apply -f /tmp/sfcdemo-chain.json
$SFCCTL get chains
$SFCCTL describe chain demo

say "Traffic: ping (IPv4, IPv6), HTTP, iperf3 TCP through the chain"
client ping -c 5 -i 0.2 10.$NET.11.2 | tail -2
client ping -6 -c 5 -i 0.2 fd00:$NET:12::2 | tail -2
for s in 1 2; do client curl -s --max-time 5 http://10.$NET.1$s.2/sfcdemo-index-$s.html; done
client iperf3 -c 10.$NET.11.2 -t 3 -f m 2>&1 | grep -E "sender|receiver" || true

say "sfcctl stats demo"
$SFCCTL stats demo

say "bpftool map dump pinned $ROOT/demo/count/stats"
bpftool map dump pinned $ROOT/demo/count/stats | head -40

say "xdp-loader status (VM namespace)"
vm xdp-loader status

say "sfcd log"
cat /tmp/sfcdemo-sfcd.log
