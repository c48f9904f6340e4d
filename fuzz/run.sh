#!/usr/bin/env bash
# Runs one fuzz target on one core (one process, no -jobs) until it has made RUNS executions (default 10M), starting
# from the kept corpus; new interesting inputs go to fuzz/corpus-run/<target> (not kept),
# crashes to fuzz/artifacts/<target>/. Build first with fuzz/build.sh.
# Usage: fuzz/run.sh TARGET [RUNS]
set -euo pipefail
cd "$(dirname "$0")"
target=$1
runs=${2:-10000000}
mkdir -p "corpus-run/$target" "artifacts/$target"
exec "target/x86_64-unknown-linux-gnu/release/$target" "corpus-run/$target" "corpus/$target" \
    -runs="$runs" -max_len=4096 -artifact_prefix="artifacts/$target/" -print_final_stats=1
