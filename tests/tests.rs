//! Integration tests: one binary, a module per area. They start the real
//! server (in-process on port 0, or the `tudi` binary) and talk HTTP to it.

mod it;
