//! The IPv4, TCP and ICMP parsers and their round trips: see `fuzz::wire`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::wire::check(data));
