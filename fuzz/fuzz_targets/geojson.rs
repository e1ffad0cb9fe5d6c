#![no_main]
//! cargo-fuzz target `geojson`: see `tudi_fuzz::geojson`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::geojson(data));
