#!/usr/bin/env bash
# The benchmark in one command: sfc against the kernel's SFC, bare XDP and
# plain kernel forwarding on the same namespaced topology, alternating, plus
# BPF_PROG_TEST_RUN microbenchmarks.
#
#   bench/run.sh            full run (~25 min): results in bench/results/<UTC time>.json,
#                           copied to docs/perf/latest.json; docs/PERFORMANCE.md,
#                           docs/perf/*.png and the generated performance blocks of
#                           docs/{firewall,flowmon,loadbalancer}.md rewritten from it
#   bench/run.sh --smoke    < 2 min: 1 repetition, every variant briefly, 1 CPU, quick
#                           micro, two blocklist sizes; the report (and copies of the
#                           VNF docs) go to a scratch directory, docs/ untouched
#   bench/run.sh ARGS...    a targeted run: ARGS go to bench/bench.py (--reps N,
#                           --seconds S, --variants a,b, --no-micro, --no-scaling,
#                           --scaling-variants a,b, --rule-counts 10,1000, ...); like
#                           --smoke, it reports to a scratch directory unless REPORT_DIR
#                           says otherwise
#   BUILD=<dir>             build directory with daemon/sfcd, cli/sfcctl, bench/sfc-bench
#   OUT=<file>              results file instead of bench/results/<time>.json
#   REPORT_DIR=<dir>        where the report goes (default: docs/ for a full run)
#   PREFIX=<name>           namespace prefix (default: b or s + 3 characters unique to the run)
#   NET=<n>                 topology addresses 10.<n>.0.0/16 (default 213, 214 for --smoke)
#
# Needs root (XDP, BPF, namespaces). Never fails on a timing: a non-zero exit
# means the benchmark itself broke. Cleans up on every exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
PY=/usr/bin/python3   # Debian's python: matplotlib comes from python3-matplotlib
SMOKE=0
FULL=$([ $# -eq 0 ] && echo 1 || echo 0)
for a in "$@"; do [ "$a" = --smoke ] && SMOKE=1; done

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: must run as root (XDP, BPF, network namespaces)" >&2
  exit 1
fi
for bin in daemon/sfcd cli/sfcctl bench/sfc-bench; do
  if [ ! -x "$BUILD/$bin" ]; then
    echo "bench: $BUILD/$bin missing; build first (make bench, or cmake --build $BUILD)" >&2
    exit 1
  fi
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
OUT=${OUT:-bench/results/$stamp.json}
# Namespace names unique to this run (two runs at once, e.g. a CI check next
# to `make bench`, must not tear down each other's topology): a letter and
# three base-36 digits of our PID. Addresses may repeat: each topology's
# 10.NET/16 lives only inside its own namespaces.
b36=0123456789abcdefghijklmnopqrstuvwxyz
uniq=${b36:$(($$ / 1296 % 36)):1}${b36:$(($$ / 36 % 36)):1}${b36:$(($$ % 36)):1}
if [ "$SMOKE" = 1 ]; then
  REPORT_DIR=${REPORT_DIR:-$(mktemp -d /tmp/sfb-report.XXXXXX)}
  PREFIX=${PREFIX:-s$uniq}
  NET=${NET:-214}
else
  # Only a full run may rewrite the committed docs by default.
  if [ "$FULL" = 1 ]; then REPORT_DIR=${REPORT_DIR:-docs}; else REPORT_DIR=${REPORT_DIR:-$(mktemp -d /tmp/sfb-report.XXXXXX)}; fi
  PREFIX=${PREFIX:-b$uniq}
  NET=${NET:-213}
fi
case "$PREFIX" in *[!a-z0-9]* | "" | ?????*) echo "bench: PREFIX must be 1-4 of [a-z0-9]" >&2; exit 2 ;; esac

BENCH_PID=
cleanup() {
  local rc=$?
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$BENCH_PID" 2>/dev/null || true
  fi
  # Backstop for a bench.py that died hard: its namespaces (and every process
  # in them, sfcd included), its pins and its scratch files.
  scripts/topo.sh down "$PREFIX" >/dev/null 2>&1 || true
  rm -rf /sys/fs/bpf/"$PREFIX"-* /tmp/"$PREFIX" 2>/dev/null || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Bounded even if something hangs: 5 min for a smoke run, 45 for the others
# (bench.py stops itself at the limit, cleaning up). nice -20 (and, in
# bench.py, its scheduling autogroup): other work on the measured CPUs is noise.
limit=$([ "$SMOKE" = 1 ] && echo 300 || echo 2700)
nice -n -20 $PY bench/bench.py --time-limit "$limit" --build "$BUILD" --prefix "$PREFIX" --net "$NET" \
  -o "$OUT" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=

mkdir -p "$REPORT_DIR/perf"
RESULTS=$OUT
if [ "$REPORT_DIR" = docs ]; then
  cp "$OUT" docs/perf/latest.json
  RESULTS=docs/perf/latest.json
else
  # The VNF docs' generated blocks are rewritten in copies: the generator
  # runs (and is checked) without touching docs/.
  for d in firewall flowmon loadbalancer; do cp "docs/$d.md" "$REPORT_DIR/$d.md"; done
fi
$PY bench/report.py "$RESULTS" --doc "$REPORT_DIR/PERFORMANCE.md" --figures "$REPORT_DIR/perf" \
  --vnf-doc "firewall=$REPORT_DIR/firewall.md" --vnf-doc "flowmon=$REPORT_DIR/flowmon.md" \
  --vnf-doc "loadbalancer=$REPORT_DIR/loadbalancer.md"
echo "bench: results $OUT, report $REPORT_DIR/PERFORMANCE.md"
