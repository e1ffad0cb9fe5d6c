#![no_main]
//! cargo-fuzz target `shp_zip`: see `tudi_fuzz::shp_zip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::shp_zip(data));
