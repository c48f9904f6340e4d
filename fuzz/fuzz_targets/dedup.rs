#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cryodedup_core::fuzzing::dedup(data));
