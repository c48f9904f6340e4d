#!/usr/bin/env bash
# Builds the packages a user installs without Rust, into dist/:
#   cryodedup-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#     one wheel for every CPython >= 3.9 on Linux x86_64 (PyO3's abi3, the stable ABI),
#     linked against glibc 2.17 by zig so that it runs on any manylinux2014 system;
#   cryodedup-VERSION.tar.gz
#     the sdist, which builds wherever a Rust toolchain is (pip install cryodedup-*.tar.gz).
# Needs cargo, rustc and python3 (>= 3.9); maturin and zig come from PyPI into .venv-build/.
# The version is the Cargo workspace's ([workspace.package] version in Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-build
# shellcheck disable=SC1091
. .venv-build/bin/activate # maturin --zig runs `python3 -m ziglang` from this venv
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet "maturin>=1.9.4,<2.0" "ziglang>=0.13,<0.16"

mkdir -p dist
rm -f dist/cryodedup-*.whl dist/cryodedup-*.tar.gz
maturin build --release --locked --compatibility manylinux2014 --zig --out dist
maturin sdist --out dist
ls -l dist/cryodedup-*
