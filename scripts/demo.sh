#!/usr/bin/env bash
# make demo: a chain on a namespaced veth topology with live traffic.
#
#   client ns ──veth── "VM" ns (sfcd, XDP chain on eth0/eth1/eth2) ──veth── server ns (x2)
#
# Builds the topology, starts sfcd in the VM namespace, applies
# chains/demo.json with sfcctl, sends traffic, and shows what the chain saw:
# `sfcctl stats`, `sfcctl monitor` (drops with their reasons), `sfcctl trace`, an application
# recognised by dpi and dropped by the firewall (`sfcctl dpi`), a `bpftool map
# dump` of a stats map and `xdp-loader status`.
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
  rm -rf "$STATE" /tmp/sfcdemo-www-*
}
trap cleanup EXIT

say "Topology: client ${P}c, VM ${P}v, servers ${P}s1 ${P}s2 (10.$NET.0.0/16)"
# A previous demo that was killed may have left its daemon, socket and pins.
pkill -f "sfcd --bpffs-root $ROOT --state-dir $STATE" 2>/dev/null || true
rm -rf "$ROOT/demo" "$STATE" "$SOCK"
SFC_ENDPOINT_XDP=$BUILD/bpf/endpoint_pass.bpf.o scripts/topo.sh up $P $NET 2
for s in 1 2; do
  mkdir -p /tmp/sfcdemo-www-$s
  echo "hello from server $s" > /tmp/sfcdemo-www-$s/index.html
  ip netns exec ${P}s$s python3 -m http.server 80 --bind 0.0.0.0 --directory /tmp/sfcdemo-www-$s >/dev/null 2>&1 &
  disown  # killed with the namespace at teardown; no job-control noise
  ip netns exec ${P}s$s iperf3 -s -D -1 >/dev/null 2>&1 || true
done
# A TLS server on port 8443 of server 1, which the firewall admits by port but drops as TLS.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=shop.example -keyout /tmp/sfcdemo-www-1/key.pem \
  -out /tmp/sfcdemo-www-1/cert.pem >/dev/null 2>&1
ip netns exec ${P}s1 openssl s_server -accept 8443 -www -quiet -cert /tmp/sfcdemo-www-1/cert.pem \
  -key /tmp/sfcdemo-www-1/key.pem >/dev/null 2>&1 &
disown

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

say "Allowed: ping (IPv4, IPv6) from the client to the servers"
client ping -c 5 -i 0.2 10.$NET.11.2 | tail -2
client ping -6 -c 5 -i 0.2 fd00:$NET:12::2 | tail -2

say "Blocked: TCP to port 8081 is rejected by the firewall (an RST sent from XDP), UDP is dropped"
client curl -sS --max-time 3 http://10.$NET.11.2:8081/ 2>&1 | sed 's/^/  curl: /' || true
client sh -c "echo probe | nc -u -w1 10.$NET.12.2 9999" && echo "  UDP datagram sent; the firewall drops it (default drop)"

say "sfcctl monitor demo --count 3: drops as they happen, with the rule (or default) that decided"
timeout 15 $SFCCTL monitor demo --count 3 &
MON_PID=$!
sleep 1  # the Watch turns the chain's monitor on
for _ in 1 2 3; do client sh -c "echo probe | nc -u -w1 10.$NET.12.2 9999" || true; done
wait $MON_PID || true

say "sfcctl trace: one crafted packet through the live chain, hop by hop (live state untouched)"
$SFCCTL trace demo "tcp 10.$NET.1.2:40000 > 10.$NET.100.10:80 flags S iif eth0"
$SFCCTL trace demo "udp 10.$NET.1.2:40000 > 10.$NET.12.2:9999 iif eth0"

say "Load balanced: 60 HTTP requests to the VIP 10.$NET.100.10 (backend weights 1:2)"
for _ in $(seq 60); do client curl -s --max-time 3 http://10.$NET.100.10/index.html; done | sort | uniq -c

say "Application-aware: dpi names flows with nDPI, the firewall drops TLS by name (rule no-tls)"
echo "  TCP to 10.$NET.11.2:8443 is allowed by port; the TLS handshake starts, nDPI names it from the"
echo "  ClientHello, and from then on the firewall drops the flow:"
client curl -sSk --max-time 3 https://10.$NET.11.2:8443/ 2>&1 | sed 's/^/  curl: /' | head -3 || true
sleep 0.5  # the classifier writes its verdicts within milliseconds
$SFCCTL dpi flows demo --app TLS
$SFCCTL dpi apps demo

say "Bulk TCP: iperf3 through the whole chain for 3 s"
client iperf3 -c 10.$NET.11.2 -t 3 -f m 2>&1 | grep -E "sender|receiver" || true

say "sfcctl stats demo"
$SFCCTL stats demo

say "sfcctl fw list demo fw (per-rule counters)"
$SFCCTL fw list demo fw

say "sfcctl flows demo --top 10 --sort bytes"
$SFCCTL flows demo --top 10 --sort bytes

say "sfcctl lb list demo lb"
$SFCCTL lb list demo lb

say "bpftool map dump pinned $ROOT/demo/fw/stats"
bpftool map dump pinned $ROOT/demo/fw/stats | head -60

say "xdp-loader status (VM namespace)"
vm xdp-loader status

say "sfcd log"
cat /tmp/sfcdemo-sfcd.log
