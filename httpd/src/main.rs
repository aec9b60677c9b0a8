//! `httpd`: serve a directory over HTTP/1.1 on the project's own TCP.
//!
//! The whole server is one thread and one loop: the stack's driver waits on
//! the link and on signals, feeds packets to the stack, and then lets the
//! server act on what happened.

#![forbid(unsafe_code)]

use std::io;
use std::net::SocketAddrV4;
use std::process::ExitCode;

use clap::Parser;
use log::info;
use mio::{Interest, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use stack::link::driver::Driver;
use stack::link::faults::FaultLink;
use stack::link::loopback::LoopbackLink;
use stack::link::pcap::{PcapLink, PcapWriter};
use stack::link::tun::{TunConfig, TunLink};
use stack::link::Link;

use httpd::config::LinkKind;
use httpd::server::Server;
use httpd::{Config, Site};

const SIGNALS: Token = Token(0);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse();
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("httpd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> io::Result<()> {
    let site = Site::new(&config.root).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("--root {}: {e}; point --root at the directory to serve", config.root.display()),
        )
    })?;
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

/// The link the user asked for, wrapped in the fault injector and the pcap
/// writer if asked; and the stack's own address on it.
fn open_link(config: &Config) -> io::Result<(Box<dyn Link>, std::net::Ipv4Addr)> {
    let mtu = config.mtu.map(usize::from);
    let (mut link, addr): (Box<dyn Link>, _) = match config.link {
        LinkKind::Loopback => {
            let addr = std::net::Ipv4Addr::LOCALHOST;
            (Box::new(LoopbackLink::open(SocketAddrV4::new(addr, config.port), mtu)?), addr)
        }
        LinkKind::Tun => {
            let tun = TunConfig {
                name: config.tun_name.clone(),
                host_addr: config.host_addr.addr,
                prefix_len: config.host_addr.prefix,
                mtu: mtu.unwrap_or(1500),
            };
            (Box::new(TunLink::open(&tun)?), config.addr)
        }
    };
    if let Some(faults) = &config.faults {
        link = Box::new(FaultLink::new(link, faults.clone()));
    }
    if let Some(path) = &config.pcap {
        let writer = PcapWriter::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("--pcap {}: {e}", path.display())))?;
        link = Box::new(PcapLink::new(link, writer));
    }
    Ok((link, addr))
}
