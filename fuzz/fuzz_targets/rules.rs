#![no_main]
//! cargo-fuzz target `rules`: see `tudi_fuzz::rules`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::rules(data));
