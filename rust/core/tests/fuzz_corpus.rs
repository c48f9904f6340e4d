//! Replays the fuzz corpus kept in `fuzz/corpus/<target>/` through the targets' entry points
//! (docs/fuzzing.md): every input, crashes found and fixed included, must run without panic.

use std::fs;
use std::path::PathBuf;

fn replay(target: &str, entry: fn(&[u8])) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{}: no corpus", folder.display());
    for input in inputs {
        let data = fs::read(&input).unwrap();
        if std::panic::catch_unwind(|| entry(&data)).is_err() {
            panic!("{}: the {target} target panics on this input", input.display());
        }
    }
}

#[test]
fn star_corpus() {
    replay("star", cryodedup_core::fuzzing::star);
}

#[test]
fn picks_corpus() {
    replay("picks", cryodedup_core::fuzzing::picks);
}

#[test]
fn dedup_corpus() {
    replay("dedup", cryodedup_core::fuzzing::dedup);
}
