#!/usr/bin/env bash
# Times the default particle path (no --plot) of two source trees with the same compiled
# extension, alternating runs. Usage: bash benches/compare_default_path.sh OLD_TREE NEW_TREE [RUNS]
# (a tree is a folder holding python/cryodedup, e.g. from `git archive COMMIT python | tar -x -C OLD`;
# copy python/cryodedup/_core*.so into it).
set -euo pipefail
old=$1 new=$2 runs=${3:-6}
f=$(dirname "$0")/out/particles_1000000.star
[ -f "$f" ] || python -c "import sys; sys.path.insert(0, '$(dirname "$0")/../tests'); from fixtures.synthetic import write_benchmark_file as w; w('$f', 1_000_000)"
for _ in $(seq "$runs"); do
  for tree in "$old" "$new"; do
    out=$(mktemp -d); rmdir "$out"; sync
    s=$(date +%s.%N)
    PYTHONPATH=$tree/python python -m cryodedup.cli particles "$f" -o "$out" --quiet --score rlnMaxValueProbDistribution
    e=$(date +%s.%N)
    echo "$tree $(echo "$e - $s" | bc)"
    rm -rf "$out"
  done
done
