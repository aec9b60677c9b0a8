//! A minimal server on the stack: accepts connections and echoes.
//!
//! ```text
//! sudo cargo run --example echo -- --port 8080
//! nc 127.0.0.1 8080                     # type, and read it back
//! sudo cargo run --example echo -- --mode http --bytes 1000000
//! curl -o /dev/null http://127.0.0.1:8080/
//! ```
//!
//! How to drive the stack is in `server.rs`: open a link, hand it to a
//! `Driver`, listen, and on every turn of the loop act on the stack's events.

mod server;

use clap::Parser;

fn main() {
    let opts = server::Options::parse();
    let mut server = server::Server::open(&opts).unwrap_or_else(|err| {
        eprintln!("echo: {err}");
        std::process::exit(1);
    });
    eprintln!("echo: {:?} mode on port {}, link {:?}", opts.mode, opts.port, opts.link);
    loop {
        if let Err(err) = server.turn(None) {
            eprintln!("echo: {err}");
            std::process::exit(1);
        }
    }
}
