//! A stack listening on a port, fed a script of segments: see `fuzz::tcp`.
#![no_main]

use fuzz::tcp::{Harness, Setup};

libfuzzer_sys::fuzz_target!(|data: &[u8]| Harness::run(Setup::Listen, data));
