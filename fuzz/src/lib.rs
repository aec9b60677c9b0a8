//! What the fuzz targets run, kept out of the targets so that the seed
//! generator (`tests/seeds.rs`) can drive the same code on stable Rust.
//!
//! - [`wire`]: the parsers of `stack::wire`, and their round trips.
//! - [`tcp`]: a whole `Stack` as a server, fed a script of segments, packets,
//!   time and socket calls, with its invariants checked after every step.
//! - [`http`]: one httpd connection fed arbitrary bytes, its responses checked.
//!
//! A violated property panics, which is what libFuzzer reports as a crash.

#![forbid(unsafe_code)]

pub mod http;
pub mod tcp;
pub mod wire;
