//! TCP as RFC 9293 describes it.

pub mod seq;
