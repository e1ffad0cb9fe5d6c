#![no_main]
//! cargo-fuzz target `tile_url`: see `tudi_fuzz::tile_url`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::tile_url(data));
