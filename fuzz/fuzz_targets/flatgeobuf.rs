#![no_main]
//! cargo-fuzz target `flatgeobuf`: see `tudi_fuzz::flatgeobuf`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tudi_fuzz::flatgeobuf(data));
