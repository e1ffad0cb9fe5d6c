#![no_main]
//! cargo-fuzz target `gpkg`: see `tudi_fuzz::gpkg`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::gpkg(data));
