//! The command line: every knob of the server and of the TCP stack under it.
//!
//! Every value is checked as it is parsed, and one that makes no sense is a
//! one-line error saying what is wanted (clap's `error: invalid value ...`,
//! exit status 2). What only the machine can tell, the root directory and
//! the link's MTU, is checked as the server starts (`main.rs`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use stack::link::faults::Faults;
use stack::link::{check_interface_name, MIN_MTU};
use stack::tcp::Algorithm;
use stack::time::Duration;

/// A static web server whose TCP/IP is its own userspace stack.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    /// Directory served as the site; nothing outside it is ever read.
    #[arg(long, value_name = "DIR", default_value = "./www")]
    pub root: PathBuf,

    /// TCP port the stack listens on, 1 to 65535.
    #[arg(long, value_name = "N", default_value_t = 8080, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// How IP packets reach the stack: Linux's loopback or a TUN device.
    #[arg(long, value_enum, default_value_t = LinkKind::Loopback)]
    pub link: LinkKind,

    /// Name of the TUN device (with --link tun), 1 to 15 bytes.
    #[arg(long, value_name = "NAME", default_value = "tcp0", value_parser = tun_name)]
    pub tun_name: String,

    /// The stack's own IPv4 address on the TUN link, in --host-addr's subnet.
    #[arg(long, value_name = "IPV4", default_value = "10.0.0.2")]
    pub addr: Ipv4Addr,

    /// The host's side of the TUN link, with its prefix length.
    #[arg(long, value_name = "IPV4/PREFIX", default_value = "10.0.0.1/24")]
    pub host_addr: Ipv4Cidr,

    /// The stack's own IPv6 address on the TUN link, in --host-addr6's
    /// subnet (on the loopback link the stack is ::1).
    #[arg(long, value_name = "IPV6", default_value = "fd00::2")]
    pub addr6: Ipv6Addr,

    /// The host's IPv6 side of the TUN link, with its prefix length.
    #[arg(long, value_name = "IPV6/PREFIX", default_value = "fd00::1/64")]
    pub host_addr6: Ipv6Cidr,

    /// Serve IPv4 only (by default the stack also serves IPv6: ::1 on the
    /// loopback link, --addr6 on TUN).
    #[arg(long)]
    pub no_ipv6: bool,

    /// Largest IP packet to send, header included, from 68 (RFC 791) to the
    /// link's MTU; IPv6 needs 1280 (RFC 8200), and is off below [default:
    /// the link's MTU].
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(MIN_MTU as i64..))]
    pub mtu: Option<u16>,

    /// Write every packet sent and received to this pcap file (open it in Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Impair the link, e.g. loss=5%,burst=4,dup=1%,reorder=5%,delay=10ms,corrupt=0.1%,seed=7.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<Faults>,

    /// How TCP's congestion window grows: NewReno (RFC 5681) or CUBIC (RFC 9438).
    #[arg(long, value_name = "ALGORITHM", default_value_t = Algorithm::default(),
          value_parser = PossibleValuesParser::new(["newreno", "cubic"]).map(|s| s.parse::<Algorithm>().unwrap()))]
    pub congestion: Algorithm,

    /// Maximum segment lifetime in seconds (fractions allowed, above 0); TIME-WAIT lasts 2·MSL.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value = "30", value_parser = seconds)]
    pub msl: Duration,

    /// Close a persistent connection idle for this many seconds (above 0).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value = "15", value_parser = seconds)]
    pub keep_alive_timeout: Duration,

    /// Answer 408 and close when a request's headers take longer than this (above 0).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,

    /// Reset a connection whose peer takes none of our bytes for this many
    /// seconds (above 0; in our buffer or sent and unacknowledged), as nginx's send_timeout.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value = "60", value_parser = seconds)]
    pub send_timeout: Duration,

    /// Requests served on one connection before the server closes it (1 or more).
    #[arg(long, value_name = "N", default_value_t = 1000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests: u32,

    /// Bytes of files kept in memory, all together (0: none); a file in
    /// memory costs no system call to serve.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub file_cache: usize,

    /// The largest file kept in memory; larger ones are read a chunk at a time.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub file_cache_max_file: usize,

    /// Connections open at once (1 or more); more are refused.
    #[arg(long, value_name = "N", default_value_t = 10000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Threads, each with its own TCP stack and link on a core of its own
    /// (1 to 64); the kernel shares the connections out between them.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LinkKind {
    /// Packet sockets on Linux's `lo`: browse to http://localhost:PORT/.
    Loopback,
    /// A TUN device: the stack is a separate host at --addr.
    Tun,
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Tun => "tun",
        })
    }
}

/// An address with a prefix length: `10.0.0.1/24`, `fd00::1/64`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Cidr<A> {
    pub addr: A,
    pub prefix: u8,
}

pub type Ipv4Cidr = Cidr<Ipv4Addr>;
pub type Ipv6Cidr = Cidr<Ipv6Addr>;

/// What a `Cidr` needs of its address: its bits as a number, how many,
/// and how to name it in an error.
pub trait CidrAddr: FromStr + Copy {
    const BITS: u8;
    const EXAMPLE: &'static str;
    fn bits(self) -> u128;
}

impl CidrAddr for Ipv4Addr {
    const BITS: u8 = 32;
    const EXAMPLE: &'static str = "10.0.0.1/24";
    fn bits(self) -> u128 {
        u32::from(self).into()
    }
}

impl CidrAddr for Ipv6Addr {
    const BITS: u8 = 128;
    const EXAMPLE: &'static str = "fd00::1/64";
    fn bits(self) -> u128 {
        self.into()
    }
}

impl<A: CidrAddr> FromStr for Cidr<A> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (family, example) = (if A::BITS == 32 { "IPv4" } else { "IPv6" }, A::EXAMPLE);
        let (addr, prefix) =
            s.split_once('/').ok_or_else(|| format!("expected {}/PREFIX, e.g. {example}", family.to_uppercase()))?;
        let addr = addr.parse().map_err(|_| format!("{addr}: expected an {family} address, e.g. {example}"))?;
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if p <= A::BITS => p,
            _ => return Err(format!("prefix /{prefix}: expected a prefix length from 0 to {}", A::BITS)),
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<A: CidrAddr> Cidr<A> {
    /// Whether `addr` is in this subnet: the same first `prefix` bits.
    pub fn contains(&self, addr: A) -> bool {
        let shift = u32::from(A::BITS - self.prefix);
        addr.bits().checked_shr(shift).unwrap_or(0) == self.addr.bits().checked_shr(shift).unwrap_or(0)
    }
}

impl<A: std::fmt::Display> std::fmt::Display for Cidr<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Seconds as a decimal number above 0, e.g. `30` or `0.5`, to the
/// microsecond (the stack's clock): each is a time to wait before acting,
/// and 0 would act at once.
fn seconds(s: &str) -> Result<Duration, String> {
    // NaN is not >= anything.
    let secs = s.parse::<f64>().ok().filter(|&secs| secs >= 1e-6);
    let secs = secs.ok_or("expected a number of seconds above 0 (to the microsecond), e.g. 30 or 0.5")?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("expected at most {} seconds", Duration::MAX.as_secs()))
}

/// `addr` (the value of option `name`) is another host of subnet `host`
/// (option `host_name`'s): in it, and not the host's own address.
fn another_host<A: CidrAddr + PartialEq + std::fmt::Display>(
    name: &str,
    addr: A,
    host_name: &str,
    host: Cidr<A>,
) -> Result<(), String> {
    if addr == host.addr {
        return Err(format!(
            "{name} {addr} is the host's own ({host_name} {host}): give the stack another address of the subnet"
        ));
    }
    if !host.contains(addr) {
        return Err(format!("{name} {addr} is outside {host_name} {host}: give the stack an address of that subnet"));
    }
    Ok(())
}

/// A network interface name the kernel takes.
fn tun_name(s: &str) -> Result<String, String> {
    check_interface_name(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

impl Config {
    /// Parses the command line, then checks what no single option can
    /// tell; exits, as clap does for a bad value, on either.
    pub fn parse_checked() -> Config {
        let config = Config::parse();
        if let Err(message) = config.check() {
            Config::command().error(ErrorKind::ArgumentConflict, message).exit();
        }
        config
    }

    /// With `--workers`, packets are shared between stacks by the loopback
    /// link alone, and a capture is one stack's. On a TUN link the stack is
    /// another host of the host's subnet, of each family: its address must
    /// be in the subnet, and not the host's.
    pub fn check(&self) -> Result<(), String> {
        let workers = self.workers;
        if workers > 1 && self.link == LinkKind::Tun {
            return Err(format!("--workers {workers} needs --link loopback: a TUN device serves one stack"));
        }
        if workers > 1 && self.pcap.is_some() {
            return Err(format!("--pcap captures one stack's link: use it with --workers 1, not {workers}"));
        }
        if self.link != LinkKind::Tun {
            return Ok(());
        }
        another_host("--addr", self.addr, "--host-addr", self.host_addr)?;
        if self.ipv6() {
            another_host("--addr6", self.addr6, "--host-addr6", self.host_addr6)?;
        }
        Ok(())
    }

    /// Whether the stack serves IPv6 too: unless --no-ipv6, or an MTU
    /// below IPv6's least (1280, RFC 8200 §5), which `main` warns of.
    pub fn ipv6(&self) -> bool {
        !self.no_ipv6 && self.mtu.is_none_or(|mtu| usize::from(mtu) >= stack::tcp::IPV6_MIN_MTU)
    }

    /// The TCP stack's configuration: its address on the link, TIME-WAIT's
    /// length, its share of the connection limit, and a random key for the
    /// ISN hash (RFC 9293 §3.4.1), SYN cookies and the challenge ACK budget.
    /// The link fills in the MTU and checksum handling.
    ///
    /// With `--workers`, every stack gets this same configuration, key
    /// included. Each connection's segments come to one stack (the flow
    /// hash), so per-stack keys would work too; but with one key the
    /// server is one host to its peers: a 4-tuple's ISNs grow with the one
    /// clock whichever stack draws them (RFC 9293 §3.4.1 wants them
    /// monotonic per 4-tuple), and a SYN cookie is good at any of them.
    pub fn stack_config(&self, addr: Ipv4Addr, addr6: Option<Ipv6Addr>) -> std::io::Result<stack::Config> {
        let mut config = stack::Config::new(addr);
        config.addr6 = addr6;
        if self.link == LinkKind::Tun {
            config.prefix_len = Some(self.host_addr.prefix); // the stack is on the host's subnet
        }
        getrandom::fill(&mut config.isn_key).map_err(|e| std::io::Error::other(e.to_string()))?;
        config.msl = self.msl;
        config.congestion = self.congestion;
        config.max_connections = self.max_connections_per_worker();
        Ok(config)
    }

    /// `--max-connections` shared out between the workers, rounded up.
    pub fn max_connections_per_worker(&self) -> usize {
        (self.max_connections as usize).div_ceil(usize::from(self.workers))
    }

    /// The parts of the configuration a connection needs.
    pub fn file_cache_limits(&self) -> crate::file_cache::Limits {
        crate::file_cache::Limits { max_bytes: self.file_cache, max_file: self.file_cache_max_file }
    }

    pub fn limits(&self) -> crate::conn::Limits {
        crate::conn::Limits {
            keep_alive_timeout: self.keep_alive_timeout,
            header_timeout: self.header_timeout,
            send_timeout: self.send_timeout,
            max_requests: self.max_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::parse_from(["httpd"]);
        assert_eq!(c.root, PathBuf::from("./www"));
        assert_eq!(c.port, 8080);
        assert_eq!(c.link, LinkKind::Loopback);
        assert_eq!(c.tun_name, "tcp0");
        assert_eq!(c.addr, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(c.host_addr, Ipv4Cidr { addr: Ipv4Addr::new(10, 0, 0, 1), prefix: 24 });
        assert_eq!((c.addr6, c.host_addr6), ("fd00::2".parse().unwrap(), "fd00::1/64".parse().unwrap()));
        assert!(!c.no_ipv6 && c.ipv6());
        assert_eq!(c.msl, Duration::from_secs(30));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(15));
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.send_timeout, Duration::from_secs(60));
        assert_eq!(c.max_requests, 1000);
        assert_eq!(c.max_connections, 10000);
        assert_eq!(c.workers, 1);
        assert_eq!((c.mtu, c.pcap, c.faults), (None, None, None));
        assert_eq!(c.congestion, Algorithm::default());
    }

    #[test]
    fn parses_every_option() {
        let c = Config::try_parse_from([
            "httpd",
            "--root",
            "/srv",
            "--port",
            "80",
            "--link",
            "tun",
            "--tun-name",
            "t1",
            "--addr",
            "10.1.0.2",
            "--host-addr",
            "10.1.0.1/16",
            "--mtu",
            "576",
            "--pcap",
            "x.pcap",
            "--faults",
            "loss=5%,seed=7",
            "--congestion",
            "cubic",
            "--msl",
            "0.5",
            "--keep-alive-timeout",
            "2",
            "--header-timeout",
            "1.5",
            "--send-timeout",
            "2",
            "--max-requests",
            "3",
            "--max-connections",
            "9",
            "--workers",
            "4",
        ])
        .unwrap();
        assert_eq!(c.link, LinkKind::Tun);
        assert_eq!(c.host_addr.prefix, 16);
        assert_eq!(c.mtu, Some(576));
        assert_eq!(c.faults.as_ref().map(|f| (f.loss, f.seed)), Some((0.05, 7)));
        assert_eq!(c.congestion, Algorithm::Cubic);
        assert_eq!(c.msl, Duration::from_millis(500));
        assert_eq!(c.header_timeout, Duration::from_millis(1500));
        assert_eq!(c.send_timeout, Duration::from_secs(2));
        assert_eq!((c.max_requests, c.max_connections, c.workers), (3, 9, 4));
        assert_eq!(c.max_connections_per_worker(), 3);
    }

    #[test]
    fn rejects_bad_values() {
        for args in [
            ["--msl", "-1"],
            ["--msl", "soon"],
            ["--host-addr", "10.0.0.1"],
            ["--host-addr", "10.0.0.1/33"],
            ["--host-addr", "fd00::1/64"],
            ["--host-addr6", "fd00::1/129"],
            ["--host-addr6", "10.0.0.1/24"],
            ["--addr6", "10.0.0.2"],
            ["--max-requests", "0"],
            ["--link", "wifi"],
            ["--congestion", "bbr"],
            ["--workers", "0"],
            ["--workers", "65"],
        ] {
            let argv = std::iter::once("httpd").chain(args);
            assert!(Config::try_parse_from(argv).is_err(), "{args:?} accepted");
        }
    }

    #[test]
    fn on_tun_the_stack_is_another_host_of_the_subnet() {
        let check = |args: &[&str]| Config::parse_from([&["httpd"], args].concat()).check();
        assert_eq!(check(&["--link", "tun"]), Ok(()));
        assert_eq!(check(&["--link", "tun", "--addr", "10.1.2.3", "--host-addr", "10.1.0.1/16"]), Ok(()));
        assert_eq!(check(&["--addr", "10.0.0.1"]), Ok(()), "unused on loopback");
        let err = check(&["--link", "tun", "--addr", "10.0.0.1"]).unwrap_err();
        assert!(err.starts_with("--addr 10.0.0.1 is the host's own (--host-addr 10.0.0.1/24)"), "{err}");
        let err = check(&["--link", "tun", "--addr", "10.0.1.2"]).unwrap_err();
        assert!(err.starts_with("--addr 10.0.1.2 is outside --host-addr 10.0.0.1/24"), "{err}");
        let err = check(&["--link", "tun", "--addr6", "fd00::1"]).unwrap_err();
        assert!(err.starts_with("--addr6 fd00::1 is the host's own (--host-addr6 fd00::1/64)"), "{err}");
        let err = check(&["--link", "tun", "--addr6", "fd01::2"]).unwrap_err();
        assert!(err.starts_with("--addr6 fd01::2 is outside --host-addr6 fd00::1/64"), "{err}");
        assert_eq!(check(&["--link", "tun", "--addr6", "fd01::2", "--no-ipv6"]), Ok(()), "IPv4 only");
    }

    /// IPv6 unless --no-ipv6, or an MTU it cannot run on.
    #[test]
    fn ipv6_needs_an_mtu_of_1280() {
        let ipv6 = |args: &[&str]| Config::parse_from([&["httpd"], args].concat()).ipv6();
        assert!(ipv6(&[]) && ipv6(&["--mtu", "1280"]));
        assert!(!ipv6(&["--mtu", "1279"]) && !ipv6(&["--no-ipv6"]));
    }

    #[test]
    fn workers_need_the_loopback_link_and_no_capture() {
        let check = |args: &[&str]| Config::parse_from([&["httpd"], args].concat()).check();
        assert_eq!(check(&["--workers", "4"]), Ok(()));
        assert_eq!(check(&["--workers", "1", "--link", "tun", "--pcap", "x.pcap"]), Ok(()));
        let err = check(&["--workers", "2", "--link", "tun"]).unwrap_err();
        assert_eq!(err, "--workers 2 needs --link loopback: a TUN device serves one stack");
        let err = check(&["--workers", "2", "--pcap", "x.pcap"]).unwrap_err();
        assert_eq!(err, "--pcap captures one stack's link: use it with --workers 1, not 2");
    }

    #[test]
    fn a_subnet_holds_the_addresses_with_its_prefix() {
        let net: Ipv4Cidr = "10.0.0.1/24".parse().unwrap();
        assert!(net.contains(Ipv4Addr::new(10, 0, 0, 255)) && !net.contains(Ipv4Addr::new(10, 0, 1, 0)));
        let all: Ipv4Cidr = "10.0.0.1/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(192, 0, 2, 1)));
        let one: Ipv4Cidr = "10.0.0.1/32".parse().unwrap();
        assert!(one.contains(Ipv4Addr::new(10, 0, 0, 1)) && !one.contains(Ipv4Addr::new(10, 0, 0, 2)));
        let net: Ipv6Cidr = "fd00::1/64".parse().unwrap();
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert!(net.contains(v6("fd00::ffff:1")) && !net.contains(v6("fd00:0:0:1::1")));
        let all: Ipv6Cidr = "fd00::1/0".parse().unwrap();
        let one: Ipv6Cidr = "fd00::1/128".parse().unwrap();
        assert!(all.contains(v6("2001:db8::1")) && one.contains(v6("fd00::1")) && !one.contains(v6("fd00::2")));
    }
}
