#!/usr/bin/env bash
# Runs one libFuzzer target for SFC_FUZZ_SECONDS (default 60) from its seed
# corpus and past findings; fails on any crash, leak, UB or timeout, leaving
# the input that caused it in <findings dir> (copy it to
# tests/fuzz/regressions/<target>/ once fixed).
#   run_fuzz.sh <fuzz binary> <corpus dir> <regressions dir> <findings dir>
set -euo pipefail

bin=$1 corpus=$2 regressions=$3 findings=$4
seconds=${SFC_FUZZ_SECONDS:-60}

# libFuzzer adds new inputs to its first directory: let it grow a copy, not
# the checked-in corpus.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus/." "$work/"
mkdir -p "$findings"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$findings/" "$work" "$regressions" \
  >"$findings/run.log" 2>&1 || status=$?

tail -n 40 "$findings/run.log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$findings/run.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$findings/run.log")
echo "fuzz: $(basename "$bin"): ${runs:-?} executions in ${seconds} s (${rate:-?}/s), exit ${status}"
exit "$status"
