#!/usr/bin/env bash
# Runs one Python fuzz target (atheris) on one core until it has made RUNS executions
# (default 10M), starting from the kept corpus fuzz/corpus/<target>; new inputs go to
# fuzz/corpus-run/<target> (not kept), crashes to fuzz/artifacts/<target>/. The files a
# target writes per execution go to a folder on tmpfs (/dev/shm), removed at the end.
# Needs `pip install atheris` in the environment where cryodedup is installed. A hang is an
# input that runs 300 s (-timeout): on a shared machine a niced process can wait for the CPU
# for minutes (a run at -timeout=10 stopped on such a wait, its input taking 0.2 s alone).
# Usage: fuzz/python/run.sh TARGET [RUNS] [more libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
runs=${2:-10000000}
shift $(($# < 2 ? $# : 2))
mkdir -p "corpus-run/$target" "artifacts/$target"
shm=/dev/shm
[ -d "$shm" ] || shm=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$shm/cryodedup-fuzz-$target.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
dict=()
[ -f "python/$target.dict" ] && dict=(-dict="python/$target.dict")
# One core: the Rust core reads picker files on one thread.
CRYODEDUP_FUZZ_SCRATCH=$scratch RAYON_NUM_THREADS=1 python "python/$target.py" "corpus-run/$target" "corpus/$target" \
    -runs="$runs" -max_len=8192 -timeout=300 -rss_limit_mb=2048 "${dict[@]}" \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1 "$@"
