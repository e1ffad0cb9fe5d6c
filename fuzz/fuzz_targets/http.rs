#![no_main]
//! cargo-fuzz target `http`: see `tudi_fuzz::http`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::http(data));
