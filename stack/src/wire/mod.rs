//! The wire format: zero-copy views over byte slices for parsing, plain
//! structs for building.
