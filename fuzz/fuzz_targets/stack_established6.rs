//! The `stack_established` target over IPv6: a connection from `PEERS6[0]`. See `fuzz::tcp`.
#![no_main]

use fuzz::tcp::{Harness, Setup};

libfuzzer_sys::fuzz_target!(|data: &[u8]| Harness::run(Setup::Established6, data));
