//! `httpd`: serve a directory over HTTP/1.1 on the project's own TCP.
//!
//! The server is one loop per worker thread (`--workers N`, default 1,
//! worker 0 on the main thread), each pinned to a core: the stack's driver
//! waits on the worker's link and on signals, feeds packets to its own
//! stack, and then lets its own server act on what happened. The kernel
//! shares the connections out between the workers' links by flow
//! (`stack::link::open_group`). SIGINT and SIGTERM stop them all.

#![forbid(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use log::{info, warn};
use mio::{Interest, Token, Waker};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use stack::link::driver::Driver;
use stack::link::tun::TunConfig;
use stack::link::{self, Device, Link};

use httpd::config::LinkKind;
use httpd::server::Server;
use httpd::shards::{Board, Shard};
use httpd::{Config, Site};

const SIGNALS: Token = Token(0);
/// The token that wakes a worker to look at `Stop`.
const WAKE: Token = Token(1);

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

/// Opens every worker's link here, so that all of them share the port's
/// packets before the first is served; then runs worker 0 on this thread
/// and the others on their own, until all have stopped, after a signal or
/// the first error. A server of one worker is one thread, as before there
/// were workers: glibc's malloc takes no locks in a process of one thread.
fn run(config: &Config) -> io::Result<()> {
    // Worker 0's site, made first: a bad --root is the first error.
    let mut first_site = Some(site(config)?);
    let (links, addr) = open_links(config)?;
    let stack_config = config.stack_config(addr)?;
    let stop = Arc::new(Stop::default());
    let board = Board::new(links.len());
    let cores = cores();
    let mut workers = links.into_iter().enumerate().map(|(i, link)| Worker {
        link,
        site: first_site.take(),
        config: config.clone(),
        stack_config: stack_config.clone(),
        shard: Shard::new(Arc::clone(&board), i),
        core: cores.get(i % cores.len().max(1)).copied(),
        stop: Arc::clone(&stop),
    });
    let first = workers.next().expect("one worker at least");
    let (ready_tx, ready) = mpsc::channel();
    let others = workers
        .enumerate()
        .map(|(i, worker)| {
            let ready = ready_tx.clone();
            std::thread::Builder::new().name(format!("worker {}", i + 1)).spawn(move || {
                let stop = Arc::clone(&worker.stop);
                let started = worker.start();
                let _ = ready.send(started.is_ok());
                let result = started.and_then(|(mut driver, server)| serve(&mut driver, server, &stop, None));
                if result.is_err() {
                    stop.request();
                }
                result
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    drop(ready_tx);

    let result = first.start().and_then(|(mut driver, server)| {
        // Every worker listens before the server says it serves.
        if !ready.iter().take(others.len()).all(|started| started) {
            return Ok(()); // the one that failed says why
        }
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        driver.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        println!(
            "httpd: serving {} at http://{}/ on our own TCP ({} link, MSS {}, {} worker(s))",
            config.root.display(),
            SocketAddrV4::new(addr, config.port),
            config.link,
            driver.stack().config().mss(addr.into()),
            config.workers
        );
        serve(&mut driver, server, &stop, Some(&mut signals))
    });
    stop.request();
    let mut results = vec![result];
    results.extend(others.into_iter().map(|t| t.join().unwrap_or_else(|_| Err(io::Error::other("a worker panicked")))));
    results.into_iter().collect::<io::Result<()>>()?;
    info!("stopped");
    Ok(())
}

/// The site to serve, or why `--root` cannot be one.
fn site(config: &Config) -> io::Result<Site> {
    let site = Site::new(&config.root).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--root {}: {e}: point --root at the directory to serve", config.root.display()),
        )
    })?;
    Ok(site.with_file_cache(config.file_cache_limits()))
}

/// What one worker starts from: its link, its place on the board, its core.
struct Worker {
    link: Box<dyn Link + Send>,
    /// Made on the worker's thread if not given.
    site: Option<Site>,
    config: Config,
    stack_config: stack::Config,
    shard: Shard,
    core: Option<usize>,
    stop: Arc<Stop>,
}

impl Worker {
    /// On the worker's own thread: pinned to its core, its stack listening.
    fn start(self) -> io::Result<(Driver<Box<dyn Link + Send>>, Server)> {
        pin(self.core);
        let config = &self.config;
        let mut driver = Driver::new(self.link, self.stack_config)?;
        self.stop.wakers.lock().unwrap_or_else(|p| p.into_inner()).push(Waker::new(driver.registry(), WAKE)?);
        driver.stack_mut().listen(config.port, 1024).map_err(io::Error::other)?;
        let site = self.site.map_or_else(|| site(config), Ok)?;
        let server = Server::new(site, config.limits(), config.port, config.max_connections_per_worker(), self.shard);
        Ok((driver, server))
    }
}

/// One worker's loop, the same for one worker as for many: until it has
/// stopped and its connections have finished. The worker that has the
/// `signals` stops them all on SIGINT or SIGTERM.
fn serve(
    driver: &mut Driver<Box<dyn Link + Send>>,
    mut server: Server,
    stop: &Stop,
    mut signals: Option<&mut Signals>,
) -> io::Result<()> {
    loop {
        server.set_link_stats(driver.link_stats());
        driver.turn(server.poll_at(), |stack, now, fired| {
            if fired.contains(&SIGNALS) && signals.as_mut().is_some_and(|s| s.pending().next().is_some()) {
                stop.request();
            }
            if stop.requested() {
                server.stop(stack, now);
            }
            server.on_turn(stack, now);
        })?;
        if server.finished(driver.stack(), driver.now()) {
            return Ok(());
        }
    }
}

/// A stop asked of every worker: after SIGINT or SIGTERM, or when one of
/// them failed. Each worker looks at it every turn, and is woken to.
#[derive(Default)]
struct Stop {
    requested: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Stop {
    fn request(&self) {
        self.requested.store(true, Ordering::Relaxed);
        for waker in self.wakers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            // A worker that cannot be woken sees the stop on its next turn.
            let _ = waker.wake();
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}

/// The cores this process may run on (all of them, or what `taskset`
/// left it); worker i runs on the (i mod n)th.
fn cores() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect(),
        Err(e) => {
            warn!("the cores this process may use are unknown ({e}): workers are not pinned");
            Vec::new()
        }
    }
}

/// Pins the calling thread to `core`: its stack's data stays in that
/// core's caches.
fn pin(core: Option<usize>) {
    let Some(core) = core else { return };
    let mut set = CpuSet::new();
    if let Err(e) = set.set(core).and_then(|()| sched_setaffinity(Pid::from_raw(0), &set)) {
        warn!("worker not pinned to core {core}: {e}");
    }
}

/// The link the user asked for, one per worker, with the capture and the
/// faults if asked (in the order `link::open` documents); and the stack's
/// own address on it.
fn open_links(config: &Config) -> io::Result<(Vec<Box<dyn Link + Send>>, Ipv4Addr)> {
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
    let links = match config.workers {
        1 => vec![link::open(&device, config.faults.clone(), config.pcap.as_deref())?],
        n => link::open_group(&device, usize::from(n), config.faults.clone())?,
    };
    Ok((links, addr))
}
