//! Tells the code which compiler builds it, where a faster path needs a newer one than the
//! crate's minimum (`rust-version`): `cryodedup_avx512` when Rust 1.89 or later compiles it
//! (AVX-512 intrinsics and target features are stable from 1.89; older compilers build the
//! AVX2 path alone).

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cryodedup_avx512)");
    println!("cargo::rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("--version").output().ok().and_then(|o| String::from_utf8(o.stdout).ok());
    if version.as_deref().and_then(minor).is_some_and(|minor| minor >= 89) {
        println!("cargo::rustc-cfg=cryodedup_avx512");
    }
}

/// The minor version of `rustc 1.MINOR.PATCH ...`.
fn minor(version: &str) -> Option<u32> {
    let number = version.split_whitespace().nth(1)?;
    let mut parts = number.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
