//! httpd's request handling on arbitrary bytes: see `fuzz::http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::http::check(data));
