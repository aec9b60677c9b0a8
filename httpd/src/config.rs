//! The command line: every knob of the server and of the TCP stack under it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, ValueEnum};
use stack::link::faults::Faults;
use stack::tcp::Algorithm;
use stack::time::Duration;

/// A static web server whose TCP/IPv4 is its own userspace stack.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    /// Directory served as the site; nothing outside it is ever read.
    #[arg(long, value_name = "DIR", default_value = "./www")]
    pub root: PathBuf,

    /// TCP port the stack listens on.
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,

    /// How IPv4 packets reach the stack: Linux's loopback or a TUN device.
    #[arg(long, value_enum, default_value_t = LinkKind::Loopback)]
    pub link: LinkKind,

    /// Name of the TUN device (with --link tun).
    #[arg(long, value_name = "NAME", default_value = "tcp0")]
    pub tun_name: String,

    /// The stack's own IPv4 address on the TUN link.
    #[arg(long, value_name = "IPV4", default_value = "10.0.0.2")]
    pub addr: Ipv4Addr,

    /// The host's side of the TUN link, with its prefix length.
    #[arg(long, value_name = "IPV4/PREFIX", default_value = "10.0.0.1/24")]
    pub host_addr: Ipv4Cidr,

    /// Largest IPv4 packet to send, header included [default: the link's MTU].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(68..))]
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

    /// Maximum segment lifetime in seconds (fractions allowed); TIME-WAIT lasts 2·MSL.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub msl: Duration,

    /// Close a persistent connection idle for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value = "15", value_parser = seconds)]
    pub keep_alive_timeout: Duration,

    /// Answer 408 and close when a request's headers take longer than this.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,

    /// Reset a connection whose peer takes none of our bytes for this many
    /// seconds (in our buffer or sent and unacknowledged), as nginx's send_timeout.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    pub send_timeout: Duration,

    /// Requests served on one connection before the server closes it.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests: u32,

    /// Connections open at once; more are refused.
    #[arg(long, value_name = "N", default_value_t = 10000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LinkKind {
    /// Raw IPv4 on Linux's `lo`: browse to http://localhost:PORT/.
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

/// An IPv4 address with a prefix length, written `10.0.0.1/24`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').ok_or("expected IPV4/PREFIX, e.g. 10.0.0.1/24")?;
        let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if p <= 32 => p,
            _ => return Err(format!("prefix {prefix}: expected 0 to 32")),
        };
        Ok(Ipv4Cidr { addr, prefix })
    }
}

/// Seconds as a non-negative decimal number, e.g. `30` or `0.5`.
fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s}: expected a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s}: expected 0 or more seconds"))
}

impl Config {
    /// The TCP stack's configuration: its address on the link, TIME-WAIT's
    /// length, the connection limit, and a random key for the ISN hash
    /// (RFC 9293 §3.4.1). The link fills in the MTU and checksum handling.
    pub fn stack_config(&self, addr: Ipv4Addr) -> std::io::Result<stack::Config> {
        let mut config = stack::Config::new(addr);
        getrandom::fill(&mut config.isn_key).map_err(|e| std::io::Error::other(e.to_string()))?;
        config.msl = self.msl;
        config.congestion = self.congestion;
        config.max_connections = self.max_connections as usize;
        Ok(config)
    }

    /// The parts of the configuration a connection needs.
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
        assert_eq!(c.msl, Duration::from_secs(30));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(15));
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.send_timeout, Duration::from_secs(60));
        assert_eq!(c.max_requests, 1000);
        assert_eq!(c.max_connections, 10000);
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
        ])
        .unwrap();
        assert_eq!(c.link, LinkKind::Tun);
        assert_eq!(c.host_addr.prefix, 16);
        assert_eq!(c.mtu, Some(576));
        assert_eq!(c.faults.map(|f| (f.loss, f.seed)), Some((0.05, 7)));
        assert_eq!(c.congestion, Algorithm::Cubic);
        assert_eq!(c.msl, Duration::from_millis(500));
        assert_eq!(c.header_timeout, Duration::from_millis(1500));
        assert_eq!(c.send_timeout, Duration::from_secs(2));
        assert_eq!((c.max_requests, c.max_connections), (3, 9));
    }

    #[test]
    fn rejects_bad_values() {
        for args in [
            ["--msl", "-1"],
            ["--msl", "soon"],
            ["--host-addr", "10.0.0.1"],
            ["--host-addr", "10.0.0.1/33"],
            ["--max-requests", "0"],
            ["--link", "wifi"],
            ["--congestion", "bbr"],
        ] {
            let argv = std::iter::once("httpd").chain(args);
            assert!(Config::try_parse_from(argv).is_err(), "{args:?} accepted");
        }
    }
}
