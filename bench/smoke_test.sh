#!/usr/bin/env bash
# ctest Bench.SmokeRunsAndWritesResults: runs `bench/run.sh --smoke` and
# checks that it produced a complete results file and report. Fails when the
# benchmark breaks (crash, a variant that cannot carry traffic, missing output),
# never on a timing.
#   usage: smoke_test.sh BUILD_DIR SCRATCH_DIR
set -euo pipefail
build=${1:?build dir}
scratch=${2:?scratch dir}
cd "$(dirname "$0")/.."
rm -rf "$scratch"
mkdir -p "$scratch"
BUILD=$build OUT=$scratch/results.json REPORT_DIR=$scratch/report bench/run.sh --smoke
/usr/bin/python3 - "$scratch" <<'PY'
import json, os, sys
d = sys.argv[1]
doc = json.load(open(os.path.join(d, "results.json")))
problems = []
micro = doc.get("micro") or {}
cases = {c["name"]: c for c in micro.get("cases", [])}
for name in ("xdp_pass", "entry_only", "full_chain"):
    c = cases.get(name)
    if not c or "error" in c or not c.get("single", {}).get("ns"):
        problems.append(f"micro case {name}: {c}")
runs = doc.get("runs", [])
for variant in ("xdp-bare", "sfc-fib", "kernel-nft"):
    mine = [r for r in runs if r.get("variant") == variant]
    if not mine or any("error" in r and "workload" not in r for r in mine):
        problems.append(f"variant {variant} did not run: {mine}")
        continue
    for r in mine:
        w = r.get("workload")
        if w and w.startswith("udp") and "error" not in r and r.get("delivered", 0) == 0:
            problems.append(f"{variant} {w}: nothing delivered")
    if all("error" in r for r in mine):
        problems.append(f"{variant}: every workload failed: {[r.get('error') for r in mine]}")
if not os.path.getsize(os.path.join(d, "report", "PERFORMANCE.md")):
    problems.append("empty report")
for p in problems:
    print("smoke:", p)
print(f"smoke: {len(runs)} runs, {len(cases)} micro cases, {len(problems)} problems")
sys.exit(1 if problems else 0)
PY
