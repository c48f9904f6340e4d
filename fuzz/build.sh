#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on a stable toolchain
# (what `cargo fuzz build -s none` does, without needing cargo-fuzz or nightly).
# Usage: fuzz/build.sh            -> fuzz/target/x86_64-unknown-linux-gnu/release/<target>
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps these flags off build scripts (libfuzzer-sys compiles libFuzzer).
cargo build --release --target x86_64-unknown-linux-gnu --bins
