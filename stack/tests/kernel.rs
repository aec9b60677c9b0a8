//! The stack against the real Linux TCP: the echo example's server, in this
//! process, meets kernel clients (`std::net::TcpStream`, `curl`, `ping`)
//! over the loopback and TUN links, each test in a fresh network namespace.
//!
//! They need root (a namespace, raw sockets, TUN), and some `ping`, `curl`
//! or `tshark`. Without them each skips (`netns::skip`: it says so and
//! passes), except where the tests must run (`tests/run` as root, or `CI`),
//! where that is a failure.

#[path = "../examples/echo/server.rs"]
mod echo;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use echo::{pattern, LinkKind, Mode, Options, Server, TUN_STACK_ADDR};
use stack::link::monotonic_now;
use stack::link::netns::{installed, run_isolated_or_skip, skip};
use stack::Counters;

const SUITE: &str = "kernel";
const PORT: u16 = 8080;
const TEN_MB: u64 = 10_000_000;
/// Every test ends within this, or fails.
const LIMIT: Duration = Duration::from_secs(60);

fn options(link: LinkKind, mode: Mode, bytes: u64) -> Options {
    Options { port: PORT, link, mtu: None, pcap: None, faults: None, mode, bytes }
}

fn served(link: LinkKind) -> SocketAddr {
    match link {
        LinkKind::Loopback => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), PORT),
        LinkKind::Tun => SocketAddr::new(TUN_STACK_ADDR.into(), PORT),
    }
}

/// What the server side saw, once the client was done and every connection
/// had finished.
struct Served<T> {
    client: T,
    counters: Counters,
    /// TIME-WAIT entries: the side that closed first holds one.
    time_wait: usize,
}

/// Runs the server in a fresh network namespace and `client` on a thread of
/// its own there, until the client has returned and the server has no
/// connection left. `None` when the test skips for want of root.
fn serve<T: Send + 'static>(opts: Options, client: impl FnOnce() -> T + Send + 'static) -> Option<Served<T>> {
    let run = move || {
        let mut server = Server::open(&opts).expect("opening the server");
        let deadline = monotonic_now() + LIMIT;
        let client = thread::spawn(client);
        while !client.is_finished() || server.driver.stack().connections().next().is_some() {
            assert!(monotonic_now() < deadline, "not done within {LIMIT:?}");
            server.turn(Some(monotonic_now() + Duration::from_millis(50))).expect("event loop");
        }
        let client = client.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let stack = server.driver.stack();
        Served { client, counters: stack.counters().clone(), time_wait: stack.time_wait_count() }
    };
    run_isolated_or_skip(SUITE, run)
}

/// Whether `programs` are all installed; if not, the test skips.
fn have(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !installed(p)).collect();
    if !missing.is_empty() {
        skip(SUITE, &format!("{} not installed", missing.join(", ")));
    }
    missing.is_empty()
}

/// Asserts that `got` is the first `len` bytes of the pattern, naming the
/// first wrong byte rather than printing megabytes.
fn assert_pattern(got: &[u8], len: u64) {
    let mut expected = vec![0; len as usize];
    pattern(0, &mut expected);
    if let Some(at) = got.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("byte {at} is {}, expected {}", got[at], expected[at]);
    }
    assert_eq!(got.len() as u64, len, "length");
}

/// Connects, sends `len` bytes of the pattern while reading until EOF,
/// then closes; returns what it read. It never closes first: EOF is the
/// server's FIN.
fn sink_source_client(addr: SocketAddr, len: u64) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(LIMIT))?;
    stream.set_write_timeout(Some(LIMIT))?;
    let mut writer = stream.try_clone()?;
    let sender = thread::spawn(move || {
        let mut data = vec![0; len as usize];
        pattern(0, &mut data);
        writer.write_all(&data)
    });
    let mut got = Vec::new();
    (&stream).read_to_end(&mut got)?;
    sender.join().unwrap()?;
    Ok(got)
}

/// 10 MB each way with a kernel client; the server closes first.
fn sink_source_10mb(opts: Options) -> Option<Served<Vec<u8>>> {
    let addr = served(opts.link);
    let started = std::time::Instant::now();
    let served = serve(opts, move || sink_source_client(addr, TEN_MB).expect("kernel client"))?;
    eprintln!("10 MB each way in {:?}; {:?}", started.elapsed(), served.counters);
    assert_pattern(&served.client, TEN_MB);
    assert_eq!(served.time_wait, 1, "the server closed first, so it holds the TIME-WAIT");
    assert_eq!(served.counters.rsts_sent, 0);
    Some(served)
}

#[test]
fn kernel_client_over_loopback_10mb_each_way_server_closes_first() {
    sink_source_10mb(options(LinkKind::Loopback, Mode::SinkSource, TEN_MB));
}

#[test]
fn kernel_client_echo_over_loopback_client_closes_first() {
    const LEN: u64 = 1 << 20;
    let client = || -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(served(LinkKind::Loopback))?;
        stream.set_read_timeout(Some(LIMIT))?;
        let mut writer = stream.try_clone()?;
        let sender = thread::spawn(move || {
            let mut data = vec![0; LEN as usize];
            pattern(0, &mut data);
            writer.write_all(&data)?;
            writer.shutdown(Shutdown::Write)
        });
        let mut got = Vec::new();
        stream.read_to_end(&mut got)?;
        sender.join().unwrap()?;
        Ok(got)
    };
    let Some(served) = serve(options(LinkKind::Loopback, Mode::Echo, 0), move || client().expect("kernel client"))
    else {
        return;
    };
    assert_pattern(&served.client, LEN);
    assert_eq!(served.time_wait, 0, "the client closed first: the TIME-WAIT is the kernel's");
}

#[test]
fn kernel_client_over_tun_10mb_each_way_and_ping() {
    if !have(&["ping"]) {
        return;
    }
    let Some(served) = serve(options(LinkKind::Tun, Mode::SinkSource, 1), || {
        let out =
            Command::new("ping").args(["-c", "3", "-W", "2", "-i", "0.2"]).arg(TUN_STACK_ADDR.to_string()).output();
        let out = out.expect("running ping");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }) else {
        return;
    };
    assert!(served.client.contains("3 packets transmitted, 3 received"), "{}", served.client);
    assert_eq!(served.counters.icmp_echo_replies, 3);

    sink_source_10mb(options(LinkKind::Tun, Mode::SinkSource, TEN_MB));
}

#[test]
fn ten_mb_arrive_intact_through_5_percent_loss() {
    let opts = Options {
        faults: Some("loss=5%,seed=7".parse().unwrap()),
        ..options(LinkKind::Loopback, Mode::SinkSource, TEN_MB)
    };
    let Some(served) = sink_source_10mb(opts) else { return };
    assert!(served.counters.retransmissions > 0, "{:?}", served.counters);
}

/// A 1 GiB download from our server to a kernel client over loopback, with
/// window scaling and timestamps in use: every byte is compared with the
/// pattern as it arrives.
#[test]
fn kernel_client_downloads_1_gib_intact() {
    const GIB: u64 = 1 << 30;
    let client = || -> io::Result<u64> {
        let stream = TcpStream::connect(served(LinkKind::Loopback))?;
        stream.set_read_timeout(Some(LIMIT))?;
        (&stream).write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut reader = BufReader::with_capacity(1 << 20, stream);
        let mut line = Vec::new();
        while line != b"\r\n" {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::Error::other("the response head ended early"));
            }
        }
        let (mut offset, mut expected) = (0, vec![0; 1 << 20]);
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(offset);
            }
            let n = chunk.len();
            pattern(offset, &mut expected[..n]);
            if let Some(at) = chunk.iter().zip(&expected).position(|(a, b)| a != b) {
                return Err(io::Error::other(format!("byte {} differs", offset + at as u64)));
            }
            reader.consume(n);
            offset += n as u64;
        }
    };
    let started = std::time::Instant::now();
    let opts = options(LinkKind::Loopback, Mode::Http, GIB);
    let Some(served) = serve(opts, move || client().expect("kernel client")) else { return };
    eprintln!("1 GiB in {:?}; {:?}", started.elapsed(), served.counters);
    assert_eq!(served.client, GIB);
    assert_eq!(served.time_wait, 1, "HTTP/1.0: the server closes first");
}

/// One packet of the capture, as tshark decoded it.
#[derive(Debug)]
struct Decoded {
    from_server: bool,
    syn: bool,
    ack: bool,
    fin: bool,
    len: usize,
    mss: Option<usize>,
    wscale: Option<u8>,
    timestamps: bool,
    /// The window field, and the window tshark computed from it with the
    /// scale the SYNs negotiated.
    window_field: usize,
    window: usize,
    checksums_good: bool,
    malformed: bool,
}

/// The capture at `path` through tshark: one row per packet, one column per
/// field, every occurrence of a field joined by commas.
fn tshark_fields(path: &Path, fields: &[&str], preferences: &[&str]) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command.arg("-r").arg(path);
    for preference in preferences {
        command.args(["-o", preference]);
    }
    command.args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let out = command.output().expect("running tshark");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().map(|line| line.split('\t').map(str::to_string).collect()).collect()
}

/// The capture at `path` through tshark, with checksum verification on.
fn tshark(path: &Path) -> Vec<Decoded> {
    let fields = "tcp.srcport tcp.flags.syn tcp.flags.ack tcp.flags.fin tcp.len tcp.options.mss_val \
                  tcp.options.wscale.shift tcp.options.timestamp.tsval tcp.window_size_value tcp.window_size \
                  tcp.checksum.status ip.checksum.status _ws.malformed";
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let checksums = ["tcp.check_checksum:TRUE", "ip.check_checksum:TRUE"];
    tshark_fields(path, &fields, &checksums)
        .into_iter()
        .map(|row| {
            // The first occurrence: an ICMP error quotes headers too.
            let f: Vec<&str> = row.iter().map(|f| f.split(',').next().unwrap_or("")).collect();
            Decoded {
                from_server: f[0] == PORT.to_string(),
                syn: f[1] == "1",
                ack: f[2] == "1",
                fin: f[3] == "1",
                len: f[4].parse().unwrap(),
                mss: f[5].parse().ok(),
                wscale: f[6].parse().ok(),
                timestamps: !f[7].is_empty(),
                window_field: f[8].parse().unwrap(),
                window: f[9].parse().unwrap(),
                // 1 is "good"; 0 "bad", 2 "unverified".
                checksums_good: f[10] == "1" && f[11] == "1",
                malformed: !f[12].is_empty(),
            }
        })
        .collect()
}

#[test]
fn curl_downloads_10mb_and_the_capture_is_clean() {
    if !have(&["curl", "tshark"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kernel-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pcap, body) = (dir.join("curl.pcap"), dir.join("body"));
    // A 1500-byte MTU makes the MSS (1460) smaller than the window.
    let opts = Options { mtu: Some(1500), pcap: Some(pcap.clone()), ..options(LinkKind::Loopback, Mode::Http, TEN_MB) };
    let url = format!("http://{}/", served(LinkKind::Loopback));
    let output = body.clone();
    let Some(served) = serve(opts, move || {
        let curl = Command::new("curl").args(["-sS", "--max-time", "60", "-o"]).arg(&output).arg(&url).output();
        curl.expect("running curl")
    }) else {
        return;
    };
    assert!(served.client.status.success(), "curl: {}", String::from_utf8_lossy(&served.client.stderr));
    assert_pattern(&std::fs::read(&body).unwrap(), TEN_MB);
    assert_eq!(served.time_wait, 1, "HTTP/1.0: the server closes first");

    let packets = tshark(&pcap);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(packets.len() > 10_000 / 1460, "{} packets captured", packets.len());
    assert!(packets.iter().all(|p| !p.malformed), "tshark found a malformed packet");
    // The kernel's own packets on lo carry partial checksums; ours must not.
    let ours: Vec<&Decoded> = packets.iter().filter(|p| p.from_server).collect();
    let bad = ours.iter().filter(|p| !p.checksums_good).count();
    assert_eq!(bad, 0, "{bad} of our {} packets have a bad or unverified checksum", ours.len());

    // The 3-way handshake, each side offering its MSS, window scale and
    // timestamps (Linux offers them all; so does our SYN,ACK in answer).
    let [syn, syn_ack, ack] = &packets[..3] else { unreachable!() };
    assert!(!syn.from_server && syn.syn && !syn.ack, "{syn:?}");
    assert!(syn_ack.from_server && syn_ack.syn && syn_ack.ack, "{syn_ack:?}");
    assert!(!ack.from_server && !ack.syn && ack.ack, "{ack:?}");
    assert_eq!(syn_ack.mss, Some(1460));
    assert!(syn.wscale.is_some() && syn.timestamps, "{syn:?}");
    assert_eq!(syn_ack.wscale, Some(7), "the shift for a 4 MiB receive buffer");
    assert!(syn_ack.timestamps, "{syn_ack:?}");
    assert!(packets.iter().all(|p| p.timestamps), "a segment without timestamps");
    // The data of a segment: the MSS less the 12 bytes of the timestamps.
    let mss = syn.mss.unwrap().min(1460) - 12;
    let largest = ours.iter().map(|p| p.len).max().unwrap();
    assert!(largest <= mss, "a {largest}-byte segment with a negotiated MSS of {mss}");
    assert!(largest > 0, "we sent no data");
    // Scaled windows in use both ways: past what 16 bits carry, and (after
    // the SYNs) the field scaled by 2^7 in ours.
    assert!(ours[1..].iter().all(|p| p.window == p.window_field << 7), "our windows scaled by 2^7");
    assert!(ours.iter().any(|p| p.window > 65535), "our windows never passed 64 KiB");
    assert!(packets.iter().any(|p| !p.from_server && p.window > 65535), "Linux's windows never passed 64 KiB");

    let first_fin = packets.iter().find(|p| p.fin).expect("no FIN captured");
    assert!(first_fin.from_server, "the first FIN came from the client");
}

/// Linux's SYN offers SACK and our SYN,ACK accepts it. With our packets
/// lost on the way (2 %, both ways), Linux's ACKs carry SACK blocks, and
/// our sender uses them: it never resends a range Linux had reported in
/// three ACKs before (one report might have been lost on the way in).
/// Linux's packets are lost too, and our ACKs carry SACK blocks for it.
/// Both transfers arrive intact.
#[test]
fn kernel_client_sack_blocks_steer_our_retransmissions() {
    const LEN: u64 = 4_000_000;
    if !have(&["tshark"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kernel-sack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("sack.pcap");
    let opts = Options {
        mtu: Some(1500),
        pcap: Some(pcap.clone()),
        faults: Some("loss=2%,seed=5".parse().unwrap()),
        ..options(LinkKind::Loopback, Mode::SinkSource, LEN)
    };
    let addr = served(LinkKind::Loopback);
    let Some(served) = serve(opts, move || sink_source_client(addr, LEN).expect("kernel client")) else {
        return;
    };
    assert_pattern(&served.client, LEN);
    let counters = &served.counters;
    assert!(counters.fast_retransmits > 0 && counters.sack_blocks_ignored == 0, "{counters:?}");

    let fields = [
        "tcp.srcport",
        "tcp.flags.syn",
        "tcp.seq",
        "tcp.len",
        "tcp.option_kind",
        "tcp.options.sack_le",
        "tcp.options.sack_re",
    ];
    let rows = tshark_fields(&pcap, &fields, &["tcp.relative_sequence_numbers:FALSE"]);
    std::fs::remove_dir_all(&dir).unwrap();
    let numbers =
        |f: &str| f.split(',').filter(|n| !n.is_empty()).map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>();
    let ours = |row: &[String]| row[0] == PORT.to_string();
    let syn_offers_sack = |from_us: bool| {
        let syn = rows.iter().find(|r| ours(r) == from_us && r[1] == "1").expect("no SYN captured");
        numbers(&syn[4]).contains(&4)
    };
    assert!(syn_offers_sack(false), "Linux's SYN offers SACK");
    assert!(syn_offers_sack(true), "our SYN,ACK accepts it");
    // Our sequence space, from our ISN.
    let isn = numbers(&rows.iter().find(|r| ours(r) && r[1] == "1").unwrap()[2])[0];
    let (mut highest, mut resent, mut sacks_from_linux, mut sacks_from_us) = (0, 0, 0, 0);
    // Every range Linux reported, and in how many ACKs.
    let mut reported: Vec<(u32, u32)> = Vec::new();
    for row in &rows {
        let (left, right) = (numbers(&row[5]), numbers(&row[6]));
        if !ours(row) {
            sacks_from_linux += !left.is_empty() as usize;
            reported.extend(left.iter().zip(&right).map(|(l, r)| (l.wrapping_sub(isn), r.wrapping_sub(isn))));
            continue;
        }
        sacks_from_us += !left.is_empty() as usize;
        let (start, len) = (numbers(&row[2])[0].wrapping_sub(isn), numbers(&row[3])[0]);
        if len == 0 {
            continue;
        }
        let end = start + len;
        if start < highest {
            resent += 1;
            let reports = reported.iter().filter(|&&(l, r)| l <= start && end <= r).count();
            assert!(reports < 3, "we resent {start}..{end}, which Linux had SACKed in {reports} ACKs");
        }
        highest = highest.max(end);
    }
    eprintln!("{resent} retransmissions seen by Linux, {sacks_from_linux} of its ACKs with SACK blocks, {sacks_from_us} of ours; {counters:?}");
    assert!(resent > 0 && sacks_from_linux > 0 && sacks_from_us > 0);
}
