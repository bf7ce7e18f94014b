#!/usr/bin/env bash
# Install every Debian package sfc needs to build, test, demo and benchmark.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang clang-format llvm libelf-dev zlib1g-dev
  libbpf-dev libxdp-dev xdp-tools bpftool linux-libc-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  nlohmann-json3-dev libgtest-dev libgmock-dev
  prometheus-cpp-dev  # sfcd --metrics-listen (prometheus-cpp core + pull)
  libndpi-dev  # the dpi VNF: application classification with nDPI
  dpkg-dev systemd  # packaging: cpack -G DEB (dpkg-shlibdeps), systemd-analyze verify
  # runtime / tests
  iproute2 ethtool iputils-ping netcat-openbsd iperf3 python3 python3-scapy
  curl nftables iptables nfdump python3-jsonschema python3-grpcio util-linux procps openssl
  wrk nginx-light python3-matplotlib conntrack ipset  # benchmarks (bench/run.sh)
  python3-grpc-tools python3-protobuf python3-grpcio python3-yaml  # clients/python, deploy/kubernetes check
  prometheus  # e2e: a real Prometheus server scrapes sfcd's /metrics
  dnsmasq-base bind9-dnsutils  # e2e: real protocols the dpi VNF classifies (with nginx, curl, openssl)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (apt-get)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
  apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
