#!/usr/bin/env bash
# The namespaced test topology shared by `make demo`, the e2e tests and the
# benchmarks: a client, the SFC host ("VM", whose veths play the SR-IOV VFs)
# and N servers, each in its own network namespace.
#
#   <p>c (client)            <p>v (VM: sfcd attaches here)           <p>s1..sN
#   eth0 10.<n>.1.2 ----- eth0 10.<n>.1.1
#                          eth1 10.<n>.11.1 ---------------------- eth0 10.<n>.11.2
#                          eth2 10.<n>.12.1 ---------------------- eth0 10.<n>.12.2 ...
#   (and fd00:<n>:1::/64, fd00:<n>:11::/64, ... for IPv6)
#
# usage: topo.sh up PREFIX NET_ID [SERVERS]   (NET_ID 1..250 picks 10.NET_ID.0.0/16)
#        topo.sh down PREFIX
# Only addresses inside these namespaces are ever used.
#
# SFC_ENDPOINT_XDP=<object>: attach that XDP program (an XDP_PASS, see
# bpf/tools/endpoint_pass.bpf.c) to the client and server ends, so replies
# a chain sends with XDP_TX are delivered at once.
set -euo pipefail

cmd=${1:?usage: topo.sh up|down PREFIX [NET_ID] [SERVERS]}
p=${2:?prefix required}
n=${3:-200}
servers=${4:-2}

ns_exec() { ip netns exec "$@"; }

# Endpoints that send TCP through XDP redirect: no checksum/segmentation
# offload (a redirected CHECKSUM_PARTIAL frame arrives with a bad checksum),
# a pfifo for back-pressure, and GRO on so frames redirected to them are
# accepted (docs/deployment.md).
endpoint_tune() {
  local ns=$1 dev=$2
  ns_exec "$ns" ethtool -K "$dev" tx off gro on >/dev/null 2>&1 || true
  ns_exec "$ns" tc qdisc replace dev "$dev" root pfifo limit 1000
  if [ -n "${SFC_ENDPOINT_XDP:-}" ]; then
    ns_exec "$ns" ip link set dev "$dev" xdpdrv obj "$SFC_ENDPOINT_XDP" sec xdp
  fi
}

link_pair() {  # ns_a dev_a ns_b dev_b
  local tmp_a="${p}x$RANDOM" tmp_b="${p}y$RANDOM"
  ip link add "${tmp_a:0:15}" type veth peer name "${tmp_b:0:15}"
  ip link set "${tmp_a:0:15}" netns "$1"
  ip link set "${tmp_b:0:15}" netns "$3"
  ns_exec "$1" ip link set "${tmp_a:0:15}" name "$2"
  ns_exec "$3" ip link set "${tmp_b:0:15}" name "$4"
  ns_exec "$1" ip link set "$2" up
  ns_exec "$3" ip link set "$4" up
}

up() {
  ip netns add "${p}c"
  ip netns add "${p}v"
  for ns in "${p}c" "${p}v"; do ns_exec "$ns" ip link set lo up; done
  ns_exec "${p}v" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

  link_pair "${p}c" eth0 "${p}v" eth0
  ns_exec "${p}c" ip addr add "10.$n.1.2/24" dev eth0
  ns_exec "${p}c" ip -6 addr add "fd00:$n:1::2/64" dev eth0 nodad
  ns_exec "${p}v" ip addr add "10.$n.1.1/24" dev eth0
  ns_exec "${p}v" ip -6 addr add "fd00:$n:1::1/64" dev eth0 nodad
  ns_exec "${p}c" ip route add default via "10.$n.1.1"
  ns_exec "${p}c" ip -6 route add default via "fd00:$n:1::1"
  endpoint_tune "${p}c" eth0

  for i in $(seq 1 "$servers"); do
    local s="${p}s$i" net=$((10 + i))
    ip netns add "$s"
    ns_exec "$s" ip link set lo up
    link_pair "$s" eth0 "${p}v" "eth$i"
    ns_exec "$s" ip addr add "10.$n.$net.2/24" dev eth0
    ns_exec "$s" ip -6 addr add "fd00:$n:$net::2/64" dev eth0 nodad
    ns_exec "${p}v" ip addr add "10.$n.$net.1/24" dev "eth$i"
    ns_exec "${p}v" ip -6 addr add "fd00:$n:$net::1/64" dev "eth$i" nodad
    ns_exec "$s" ip route add default via "10.$n.$net.1"
    ns_exec "$s" ip -6 route add default via "fd00:$n:$net::1"
    endpoint_tune "$s" eth0
  done
  # The VM's own veths: GRO on so XDP_REDIRECT between them is accepted.
  for dev in $(ns_exec "${p}v" ls /sys/class/net | grep '^eth'); do
    ns_exec "${p}v" ethtool -K "$dev" gro on >/dev/null 2>&1 || true
  done
}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${p}(c|v|s[0-9]+)$" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

case "$cmd" in
  up) down; up ;;
  down) down ;;
  *) echo "usage: topo.sh up|down PREFIX [NET_ID] [SERVERS]" >&2; exit 2 ;;
esac
