//! `httpd`: serve a directory over HTTP/1.1 on the project's own TCP.
//!
//! The whole server is one thread and one loop: the stack's driver waits on
//! the link and on signals, feeds packets to the stack, and then lets the
//! server act on what happened.

#![forbid(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;

use log::info;
use mio::{Interest, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use stack::link::driver::Driver;
use stack::link::tun::TunConfig;
use stack::link::{self, Device, Link};

use httpd::config::LinkKind;
use httpd::server::Server;
use httpd::{Config, Site};

const SIGNALS: Token = Token(0);

/// The exit status of a bad option, as clap gives for the ones it catches.
const USAGE: u8 = 2;

/// Options are checked as they are parsed; what only the machine can tell
/// (a root that is no directory, an MTU larger than the link's) is found
/// as the server starts, and is a one-line `httpd: ...` with the status of
/// a bad option: an error of kind `InvalidInput`.
fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse_checked();
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("httpd: {e}");
            ExitCode::from(if e.kind() == io::ErrorKind::InvalidInput { USAGE } else { 1 })
        }
    }
}

fn run(config: &Config) -> io::Result<()> {
    let site = Site::new(&config.root)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--root {}: {e}: point --root at the directory to serve", config.root.display()),
            )
        })?
        .with_file_cache(config.file_cache_limits());
    let (link, addr) = open_link(config)?;
    let mut driver = Driver::new(link, config.stack_config(addr)?)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    driver.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
    driver.stack_mut().listen(config.port, 1024).map_err(io::Error::other)?;
    let mut server = Server::new(site, config.limits(), config.port, config.max_connections as usize);

    println!(
        "httpd: serving {} at http://{}/ on our own TCP ({} link, MSS {})",
        config.root.display(),
        SocketAddrV4::new(addr, config.port),
        config.link,
        driver.stack().config().mss()
    );
    loop {
        server.set_link_stats(driver.link_stats());
        driver.turn(server.poll_at(), |stack, now, fired| {
            if fired.contains(&SIGNALS) && signals.pending().next().is_some() {
                server.stop(stack, now);
            }
            server.on_turn(stack, now);
        })?;
        if server.finished(driver.stack(), driver.now()) {
            info!("stopped");
            return Ok(());
        }
    }
}

/// The link the user asked for, with the capture and the faults if asked
/// (in the order `link::open` documents); and the stack's own address on it.
fn open_link(config: &Config) -> io::Result<(Box<dyn Link>, Ipv4Addr)> {
    let mtu = config.mtu.map(usize::from);
    let (device, addr) = match config.link {
        LinkKind::Loopback => {
            let served = SocketAddrV4::new(Ipv4Addr::LOCALHOST, config.port);
            (Device::Loopback { served, mtu }, Ipv4Addr::LOCALHOST)
        }
        LinkKind::Tun => {
            let tun = TunConfig {
                name: config.tun_name.clone(),
                host_addr: config.host_addr.addr,
                prefix_len: config.host_addr.prefix,
                mtu: mtu.unwrap_or(TunConfig::default().mtu),
            };
            (Device::Tun(tun), config.addr)
        }
    };
    Ok((link::open(&device, config.faults.clone(), config.pcap.as_deref())?, addr))
}
