//! How long the core takes to parse a picker's per-micrograph STAR files held in memory:
//! on one thread, then on all, then read from the disk as the job reads them (benches/RESULTS.md,
//! session 11).
//!
//! Usage: cargo run --release -p cryodedup-core --example read_picks -- FOLDER_OF_STAR_FILES

#![allow(clippy::print_stdout)] // an example that reports its timings

use std::path::PathBuf;
use std::time::Instant;

use cryodedup_core::io::picks::{self, Layout, Request};
use rayon::prelude::*;

fn main() {
    let folder = std::env::args().nth(1).expect("usage: read_picks FOLDER_OF_STAR_FILES");
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(&folder).expect("a folder").map(|entry| entry.expect("an entry").path()).collect();
    paths.sort();
    let data: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("a readable file")).collect();
    let numbers = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"].map(String::from).to_vec();
    let request =
        Request { layout: Layout::Star { label: "rlnCoordinateX".into() }, numbers, key: None, missing: None };
    let rows_of = |(bytes, path): (&Vec<u8>, &PathBuf)| {
        picks::read_bytes(path, bytes, &request).expect("a picks file").spans.len()
    };
    for _ in 0..3 {
        let start = Instant::now();
        let rows: usize = data.iter().zip(&paths).map(rows_of).sum();
        let one_thread = start.elapsed();
        let start = Instant::now();
        let _: usize = data.par_iter().zip(&paths).map(rows_of).sum();
        let all_threads = start.elapsed();
        let start = Instant::now();
        picks::read_files(&paths, &request).expect("the files");
        let from_disk = start.elapsed();
        println!(
            "{} files, {rows} rows: one thread {one_thread:.3?}, all threads {all_threads:.3?}, read_files {from_disk:.3?}",
            paths.len()
        );
    }
}
