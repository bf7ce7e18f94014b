#!/usr/bin/env bash
# The eVNF paper's testbed on one host: three "VMs", one VNF each, chained by
# routing — a firewall VM, a flow-monitor VM and a load-balancer VM, each
# running its own sfcd — with a client in front and two servers behind the
# load balancer's VIP. Each namespace pair is joined by a veth (the VFs).
#
#   <p>c        <p>fw               <p>fm               <p>lb                <p>s1 (nginx, iperf3 -s)
#   eth0 ---- eth0  eth1 ------- eth0  eth1 ------- eth0  eth1 ------------ eth0 10.<n>.11.2
#   .1.2      .1.1  .2.1         .2.2  .3.1         .3.2  eth2 ------------ <p>s2 (python http.server)
#                                                                            eth0 10.<n>.12.2
#   VIP 10.<n>.100.10: tcp/80 → s1, s2 (Maglev, weights 1:1); tcp/5201 → s1 (iperf3)
#
# Forward path: client → fw-VM (chains/evnf/fw.json) → fm-VM (fm.json) →
# lb-VM (lb.json, DNAT to a backend), each VM's chain routing with `fib`;
# replies come back the same way (each chain is attached to both sides).
#
# usage: evnf-testbed.sh up PREFIX NET_ID      topology + servers (NET_ID 1..250: 10.NET_ID/16)
#        evnf-testbed.sh chains PREFIX NET_ID DIR   writes DIR/{fw,fm,lb}.json for this NET_ID
#        evnf-testbed.sh down PREFIX             kills what runs in the namespaces, deletes them
# The sfcd instances are the caller's (tests/e2e/evnf_testbed_e2e_test.cc
# starts one per VM with nsenter and applies the chains with the Python
# orchestrator). SFC_ENDPOINT_XDP as for topo.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: evnf-testbed.sh up|chains|down PREFIX [NET_ID] [DIR]}
p=${2:?prefix required}
n=${3:-201}

ns_exec() { ip netns exec "$@"; }

# As topo.sh: sending endpoints without checksum offload (XDP cannot finish a
# CHECKSUM_PARTIAL frame), pfifo for back-pressure, GRO on for redirects.
endpoint_tune() {
  local ns=$1 dev=$2
  ns_exec "$ns" ethtool -K "$dev" tx off gro on >/dev/null 2>&1 || true
  ns_exec "$ns" tc qdisc replace dev "$dev" root pfifo limit 1000
  if [ -n "${SFC_ENDPOINT_XDP:-}" ]; then
    ns_exec "$ns" ip link set dev "$dev" xdpdrv obj "$SFC_ENDPOINT_XDP" sec xdp
  fi
}

link_pair() {  # ns_a dev_a addr_a ns_b dev_b addr_b
  local tmp_a="${p}x$RANDOM" tmp_b="${p}y$RANDOM"
  ip link add "${tmp_a:0:15}" type veth peer name "${tmp_b:0:15}"
  ip link set "${tmp_a:0:15}" netns "$1"
  ip link set "${tmp_b:0:15}" netns "$4"
  ns_exec "$1" ip link set "${tmp_a:0:15}" name "$2"
  ns_exec "$4" ip link set "${tmp_b:0:15}" name "$5"
  ns_exec "$1" ip addr add "$3/24" dev "$2"
  ns_exec "$4" ip addr add "$6/24" dev "$5"
  ns_exec "$1" ip link set "$2" up
  ns_exec "$4" ip link set "$5" up
}

up() {
  for ns in c fw fm lb s1 s2; do
    ip netns add "$p$ns"
    ns_exec "$p$ns" ip link set lo up
  done
  for vm in fw fm lb; do
    ns_exec "$p$vm" sysctl -qw net.ipv4.ip_forward=1
  done
  link_pair "${p}c" eth0 "10.$n.1.2" "${p}fw" eth0 "10.$n.1.1"
  link_pair "${p}fw" eth1 "10.$n.2.1" "${p}fm" eth0 "10.$n.2.2"
  link_pair "${p}fm" eth1 "10.$n.3.1" "${p}lb" eth0 "10.$n.3.2"
  link_pair "${p}lb" eth1 "10.$n.11.1" "${p}s1" eth0 "10.$n.11.2"
  link_pair "${p}lb" eth2 "10.$n.12.1" "${p}s2" eth0 "10.$n.12.2"

  # Routes: towards the servers and the VIP go right, towards the client left.
  ns_exec "${p}c" ip route add default via "10.$n.1.1"
  ns_exec "${p}fw" ip route add "10.$n.0.0/16" via "10.$n.2.2"
  ns_exec "${p}fm" ip route add "10.$n.1.0/24" via "10.$n.2.1"
  ns_exec "${p}fm" ip route add "10.$n.0.0/16" via "10.$n.3.2"
  ns_exec "${p}lb" ip route add "10.$n.1.0/24" via "10.$n.3.1"
  ns_exec "${p}lb" ip route add "10.$n.2.0/24" via "10.$n.3.1"
  ns_exec "${p}s1" ip route add default via "10.$n.11.1"
  ns_exec "${p}s2" ip route add default via "10.$n.12.1"

  for ns in c s1 s2; do endpoint_tune "$p$ns" eth0; done
  # The VMs' veths: GRO on so that an XDP_REDIRECT into them is accepted.
  for vm in fw fm lb; do
    for dev in $(ns_exec "$p$vm" ls /sys/class/net | grep '^eth'); do
      ns_exec "$p$vm" ethtool -K "$dev" gro on >/dev/null 2>&1 || true
    done
  done

  # Servers: nginx on s1 (HTTP and iperf3), Python's http.server on s2. Each
  # page names its server so the client can see the load balancer's split.
  local www=/tmp/${p}-evnf
  mkdir -p "$www/s1" "$www/s2"
  echo "hello from s1 (nginx)" > "$www/s1/index.html"
  echo "hello from s2 (python)" > "$www/s2/index.html"
  cat > "$www/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $www/nginx.pid;
error_log $www/nginx.err;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $www/tmp; proxy_temp_path $www/tmp; fastcgi_temp_path $www/tmp;
  uwsgi_temp_path $www/tmp; scgi_temp_path $www/tmp;
  server { listen 10.$n.11.2:80; root $www/s1; }
}
EOF
  mkdir -p "$www/tmp"
  ns_exec "${p}s1" nginx -c "$www/nginx.conf" -p "$www" 2>/dev/null
  ns_exec "${p}s1" iperf3 -s -D -B "10.$n.11.2"
  ns_exec "${p}s2" sh -c "cd '$www/s2' && exec python3 -m http.server 80 --bind 10.$n.12.2 \
    >/dev/null 2>&1 </dev/null &"
  # Wait until both answer locally.
  for s in "s1 10.$n.11.2" "s2 10.$n.12.2"; do
    set -- $s
    for _ in $(seq 50); do
      ns_exec "$p$1" curl -sf --max-time 1 "http://$2/" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
}

chains() {
  local dir=${1:?chains: DIR required}
  mkdir -p "$dir"
  for vnf in fw fm lb; do
    sed "s/10\.NET\./10.$n./g" "$here/../chains/evnf/$vnf.json" > "$dir/$vnf.json"
  done
}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${p}(c|fw|fm|lb|s1|s2)$" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "/tmp/${p}-evnf"
}

case "$cmd" in
  up) down; up ;;
  chains) chains "${4:-}" ;;
  down) down ;;
  *) echo "usage: evnf-testbed.sh up|chains|down PREFIX [NET_ID] [DIR]" >&2; exit 2 ;;
esac
