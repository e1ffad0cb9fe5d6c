#![no_main]
//! cargo-fuzz target `review`: see `tudi_fuzz::review`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::review(data));
