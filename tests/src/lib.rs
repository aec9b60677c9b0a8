//! End-to-end tests against real peers (see the tests issue).
//!
//! Each test runs the real `httpd` binary in a fresh network namespace and
//! drives it with real clients: the kernel's TCP through curl, wrk, ab,
//! Python and Chromium, and Scapy as a packet-level peer. This module is
//! the shared harness:
//!
//! - [`e2e`] runs a test body on a thread moved into a private network
//!   namespace (`unshare(CLONE_NEWNET)`, `lo` up), so every process the body
//!   starts — `httpd`, `curl`, `python3` — meets the others there and
//!   nowhere else, tests run in parallel on the same port, and the namespace
//!   vanishes with its last process. Not root, or a tool it runs not
//!   installed: the test skips (`stack::link::netns::skip`: a `SKIPPED:`
//!   line, which `tests/run` counts), or, where tests must run (`tests/run`
//!   as root, `CI`), fails.
//! - [`Httpd`] starts the server with given options, waits until it serves,
//!   reads `/_stack.json`, and on drop kills it; when the test failed it
//!   keeps its log and capture under `<target>/e2e-failures/` and says where.
//! - [`own_hosts`] gives a test's thread, and what it starts, an
//!   `/etc/hosts` of its own (`localhost` as ::1 first, say).
//! - [`run`] runs a command with a time limit, in its own process group,
//!   killed whole if it overstays.
//! - [`drill`] plays packetdrill scripts against the stack itself, on
//!   virtual time, no namespace needed (the `drill` binary).

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use serde_json::Value;
use stack::link::netns::{installed, run_isolated, skip};

/// The address the harness asks `/_stack.json` from on `lo`; the clients
/// under test use 127.0.0.1.
pub const ASKER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// Where the server listens inside its namespace.
pub const PORT: u16 = 8080;

/// The workspace's root (the parent of this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The served site of the repository.
pub fn www() -> PathBuf {
    workspace().join("www")
}

/// The Python scripts of the suites.
pub fn py(script: &str) -> PathBuf {
    workspace().join("tests/py").join(script)
}

/// Debian's Python, which has the Debian packages (Scapy, PIL) whatever
/// `python3` comes first on `PATH`.
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A program newer than Debian's own, which `tests/install` unpacks from
/// Debian's backports (`bpo:` lines of its table): `backport("curl")`.
pub fn backport(program: &str) -> PathBuf {
    Path::new("/opt/httpd-tests-bpo/bin").join(program)
}

/// The cargo target directory this test binary was built into:
/// `<target>/<profile>/deps/<test>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(|| workspace().join("target"))
}

/// The `httpd` binary: `$HTTPD_BIN`, else the release build next to this
/// test binary (`tests/run` builds it), else the debug one.
pub fn httpd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HTTPD_BIN") {
        return PathBuf::from(p);
    }
    let target = target_dir();
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("httpd");
        if p.exists() {
            return p;
        }
    }
    panic!("no httpd binary under {}: run `cargo build --release -p httpd` (tests/run does)", target.display());
}

/// Writes past libtest's output capture, so a line is seen on a passing run.
pub fn say(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// Runs `body` as a test of `suite` in a fresh network namespace, once the
/// programs (or Debian Python modules, as `python3-scapy`) in `tools` are
/// there; the test skips when they are not, or when not root.
pub fn e2e(suite: &str, tools: &[&str], body: impl FnOnce() + Send + 'static) {
    if !nix::unistd::geteuid().is_root() {
        return skip(suite, "needs root (network namespaces, raw sockets, TUN): run `sudo bash tests/run`");
    }
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        let why = format!("{} not installed: run `sudo bash tests/run`, which installs them", missing.join(", "));
        return skip(suite, &why);
    }
    run_isolated(body).expect("a private network namespace");
}

/// Whether `tool` is on `PATH` (or, for a Python module like `scapy`,
/// importable by [`python`]; for `bpo:PROGRAM`, at [`backport`]).
pub fn have(tool: &str) -> bool {
    if let Some(program) = tool.strip_prefix("bpo:") {
        return backport(program).exists();
    }
    if let Some(module) = tool.strip_prefix("python3-") {
        return imports(python(), if module == "pil" { "PIL" } else { module });
    }
    installed(tool)
}

/// Whether `python` can import `module`.
fn imports(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Serialises the heavy load suites within one test binary, so two of them
/// do not share two cores and measure each other.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `cmd` to completion within `limit`, in its own process group; on
/// overstay the whole group is killed and the test fails.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = spawn_group(cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()));
    wait_within(child, limit, &format!("{cmd:?}"))
}

/// Like [`run`], and the command must exit 0; returns its stdout.
pub fn run_ok(cmd: &mut Command, limit: Duration) -> String {
    let out = run(cmd, limit);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wrk -t<threads> -c100` for `seconds` on a 1 KiB file at `base` (e.g.
/// `http://127.0.0.1:8080`, `Httpd::base`), with `extra` options: no
/// socket errors, no non-2xx, more than 1,000 responses; returns their
/// number.
pub fn wrk(base: &str, threads: u32, seconds: u32, extra: &[&str]) -> u64 {
    let out = run_ok(
        Command::new("wrk")
            .args([format!("-t{threads}"), "-c100".into(), format!("-d{seconds}s"), "--timeout".into(), "5s".into()])
            .args(extra)
            .arg(format!("{base}/files/1KiB.txt")),
        Duration::from_secs(u64::from(seconds) + 30),
    );
    assert!(!out.contains("Socket errors"), "wrk saw socket errors:\n{out}");
    assert!(!out.contains("Non-2xx"), "wrk saw non-2xx responses:\n{out}");
    let requests = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse::<u64>().ok()))
        .unwrap_or_else(|| panic!("no request count in wrk's report:\n{out}"));
    assert!(requests > 1000, "only {requests} requests in {seconds} s:\n{out}");
    say(&format!("wrk {base} {extra:?}: {requests} requests in {seconds} s"));
    requests
}

/// Gives the calling thread, and every program it starts from then on, an
/// `/etc/hosts` whose text is `hosts`: the thread moves into a mount
/// namespace of its own (`unshare(CLONE_NEWNS)`, every mount made private
/// so that nothing it mounts reaches the machine) and a file is bind-mounted
/// over `/etc/hosts` there. The machine, and the other tests, keep theirs.
/// Call it in an [`e2e`] body; keep what it returns until the programs are
/// done (it holds the file).
pub fn own_hosts(hosts: &str) -> tempfile::TempDir {
    use nix::mount::{mount, MsFlags};
    let dir = scratch();
    let file = dir.path().join("hosts");
    std::fs::write(&file, hosts).expect("writing the hosts file");
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("a private mount namespace (needs root)");
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .expect("making the mounts private");
    mount(Some(&file), "/etc/hosts", None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind-mounting /etc/hosts");
    dir
}

fn spawn_group(cmd: &mut Command) -> Child {
    cmd.process_group(0).spawn().unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

/// A child's stdout and stderr read on threads, so a full pipe cannot stall
/// it while we wait.
fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(&mut child, Signal::SIGKILL);
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!("{what} overstayed {limit:?}; stderr:\n{}", String::from_utf8_lossy(&stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}

fn kill_group(child: &mut Child, signal: Signal) {
    // The group is the child's own (it was started in a new process group).
    let _ = killpg(Pid::from_raw(child.id() as i32), signal);
}

/// Options for [`Httpd::start`].
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Extra command-line options, e.g. `["--msl", "1"]`.
    pub args: Vec<String>,
    /// Serve this directory instead of the repository's `www/`.
    pub root: Option<PathBuf>,
    /// Record a pcap (checked by tshark when the test ends: list `tshark`
    /// in the test's tools).
    pub pcap: bool,
    /// Use the TUN link: the stack is 10.0.0.2, the namespace's kernel 10.0.0.1.
    pub tun: bool,
}

impl Opts {
    pub fn args(args: &[&str]) -> Opts {
        Opts { args: args.iter().map(|s| s.to_string()).collect(), ..Opts::default() }
    }
    pub fn pcap(mut self) -> Opts {
        self.pcap = true;
        self
    }
    pub fn tun(mut self) -> Opts {
        self.tun = true;
        self
    }
    pub fn root(mut self, root: &Path) -> Opts {
        self.root = Some(root.to_path_buf());
        self
    }
}

/// The real `httpd`, running in the calling thread's namespace.
pub struct Httpd {
    name: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Address the server is reached at (127.0.0.1 or 10.0.0.2).
    pub addr: SocketAddr,
    /// Its IPv6 address ([::1] or [fd00::2]).
    pub addr6: SocketAddr,
}

impl Httpd {
    /// Starts `httpd` and waits until it answers `/_stack.json`. `name`
    /// names the test in failure reports.
    pub fn start(name: &str, opts: Opts) -> Httpd {
        let dir = tempfile::Builder::new().prefix("e2e-").tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("httpd.log")).expect("log file");
        let mut cmd = Command::new(httpd_bin());
        cmd.arg("--root").arg(opts.root.unwrap_or_else(www)).arg("--port").arg(PORT.to_string());
        if opts.pcap {
            cmd.arg("--pcap").arg(dir.path().join("httpd.pcap"));
        }
        let (ip, ip6) = if opts.tun {
            cmd.args(["--link", "tun"]);
            ("10.0.0.2", "fd00::2")
        } else {
            ("127.0.0.1", "::1")
        };
        cmd.args(&opts.args);
        cmd.env("RUST_LOG", "info").stdin(Stdio::null()).stdout(log.try_clone().expect("dup")).stderr(log);
        let child = spawn_group(&mut cmd);
        let mut httpd = Httpd {
            name: name.to_string(),
            child: Some(child),
            dir,
            addr: SocketAddr::new(ip.parse().expect("ip"), PORT),
            addr6: SocketAddr::new(ip6.parse().expect("ip"), PORT),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = httpd.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("httpd exited at start ({status}):\n{}", httpd.log());
            }
            if httpd.try_get("/_stack.json").is_ok() {
                return httpd;
            }
            assert!(Instant::now() < deadline, "httpd did not serve within 10 s:\n{}", httpd.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's resident memory now (VmRSS of /proc/<pid>/status), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("httpd is running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in:\n{status}"))
    }

    /// `http://127.0.0.1:8080/path` (or the TUN address).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://[::1]:8080/path` (or the TUN address).
    pub fn url6(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr6)
    }

    /// The address of `family`'s, as `Httpd::addr` or `Httpd::addr6`.
    pub fn addr_of(&self, family: Family) -> SocketAddr {
        match family {
            Family::V4 => self.addr,
            Family::V6 => self.addr6,
        }
    }

    /// `http://127.0.0.1:8080` or `http://[::1]:8080`: `family`'s, no path.
    pub fn base(&self, family: Family) -> String {
        format!("http://{}", self.addr_of(family))
    }

    /// One `GET` over a kernel socket, which then closes first (so the
    /// server's side of it never enters TIME-WAIT and skews the count):
    /// the whole response. On `lo` the socket is bound to [`ASKER`], so the
    /// asker's connections are told apart from the ones under test.
    pub fn try_get(&self, path: &str) -> io::Result<Vec<u8>> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        if self.addr.ip().is_loopback() {
            sock.bind(&SocketAddr::new(ASKER.into(), 0).into())?;
        }
        // Generous: on a lossy link (--faults) a SYN or two may be lost.
        sock.connect_timeout(&self.addr.into(), Duration::from_secs(10))?;
        let mut s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr)?;
        let mut buf = Vec::new();
        let mut chunk = [0; 65536];
        loop {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the whole response"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return Ok(buf);
                }
            }
        }
    }

    /// `/_stack.json`, with the asker's own connections left out.
    pub fn stack(&self) -> Value {
        let resp = self.try_get("/_stack.json").expect("GET /_stack.json");
        let resp = String::from_utf8(resp).expect("utf-8");
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_else(|| panic!("no body: {resp}"));
        let mut v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let asker = format!("{ASKER}:");
        if let Some(conns) = v["connections"].as_array_mut() {
            conns.retain(|c| !c["remote"].as_str().is_some_and(|r| r.starts_with(&asker)));
        }
        v
    }

    /// Connections in `state` (e.g. "ESTABLISHED"), other than the asker's.
    pub fn in_state(&self, state: &str) -> Vec<Value> {
        let v = self.stack();
        v["connections"].as_array().unwrap().iter().filter(|c| c["state"] == state).cloned().collect()
    }

    /// Connections in TIME-WAIT.
    pub fn time_wait(&self) -> u64 {
        self.stack()["time_wait"].as_u64().expect("time_wait")
    }

    /// Polls `f` every 100 ms until it holds or `limit` passes.
    pub fn wait_for(&self, limit: Duration, what: &str, mut f: impl FnMut(&Httpd) -> bool) {
        let deadline = Instant::now() + limit;
        while !f(self) {
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}; /_stack.json: {}", self.stack());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log so far (stdout and stderr, access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("httpd.log")).unwrap_or_default()
    }

    /// Status codes of the access log, in order.
    pub fn access_statuses(&self) -> Vec<(String, u16)> {
        self.access_log().into_iter().map(|(_, line, status)| (line, status)).collect()
    }

    /// The access log, in order: each line's client address (as written:
    /// `127.0.0.1`, `::1`), request line and status.
    pub fn access_log(&self) -> Vec<(String, String, u16)> {
        self.log()
            .lines()
            // Access-log lines are plain combined-log lines; the server's
            // other log lines start with env_logger's "[time LEVEL target]".
            .filter(|l| !l.starts_with('['))
            .filter_map(|l| {
                let (peer, rest) = l.split_once(" - - [")?;
                let (_, rest) = rest.split_once("] \"")?;
                let (line, rest) = rest.split_once("\" ")?;
                let status = rest.split(' ').next()?.parse().ok()?;
                Some((peer.to_string(), line.to_string(), status))
            })
            .collect()
    }

    /// The capture, if one was asked for.
    pub fn pcap(&self) -> PathBuf {
        self.dir.path().join("httpd.pcap")
    }

    /// Stops the server with SIGTERM, waits for it, and checks the
    /// capture (if any) with tshark. Returns the log.
    pub fn stop(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() >= deadline {
                    kill_group(&mut child, Signal::SIGKILL);
                    let _ = child.wait();
                    panic!("httpd did not stop within 10 s of SIGTERM:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if self.pcap().exists() {
            check_capture(&self.pcap(), &[self.addr, self.addr6]);
        }
        self.log()
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child, Signal::SIGKILL);
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let keep = target_dir().join("e2e-failures").join(format!("{}-{}", self.name, std::process::id()));
            let _ = std::fs::create_dir_all(&keep);
            for f in ["httpd.log", "httpd.pcap"] {
                let _ = std::fs::copy(self.dir.path().join(f), keep.join(f));
            }
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
            say(&format!(
                "{}: httpd's log and capture kept in {}; last lines of the log:\n{}",
                self.name,
                keep.display(),
                tail.join("\n")
            ));
        }
    }
}

/// tshark over a capture, with checksum validation and expert info: no
/// packet may be malformed, and none of the server's (`servers` are its
/// addresses, IPv4 and IPv6) may have a bad IP or TCP checksum, or
/// retransmit data that differs from the original.
/// (On `lo` the kernel's own segments carry partial checksums, so only the
/// server's are judged for those.)
pub fn check_capture(pcap: &Path, servers: &[SocketAddr]) {
    let out = run_ok(
        Command::new("tshark")
            .args(["-n", "-r"])
            .arg(pcap)
            .args(["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields"])
            .args(["-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"])
            .args(["-e", "frame.number", "-e", "ip.src", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"])
            .args(["-e", "_ws.expert.severity", "-e", "_ws.expert.message", "-e", "tcp.srcport", "-e", "ipv6.src"]),
        Duration::from_secs(120),
    );
    let mut bad = Vec::new();
    let mut frames = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 8 {
            continue;
        }
        frames += 1;
        // IPv4's source, or IPv6's (an ICMP error quoting a header has two).
        let src = f[1].split(';').next().filter(|s| !s.is_empty()).or_else(|| f[7].split(';').next()).unwrap_or("");
        let ours = servers.iter().any(|s| src == s.ip().to_string() && f[6] == s.port().to_string());
        let bad_sum = f[2].split(';').chain(f[3].split(';')).any(|s| s == "0");
        // Expert errors are judged by what they say: a retransmission's
        // overlap is normal TCP, but data that differs from what it
        // retransmits is not.
        let mangled = ["Malformed", "differs", "does not match"].iter().any(|m| f[5].contains(m));
        if mangled || (ours && bad_sum) {
            bad.push(line.to_string());
        }
    }
    assert!(frames > 0, "empty capture {}", pcap.display());
    assert!(
        bad.is_empty(),
        "tshark: malformed packets or server packets with errors in {} (frame|src|ip sum|tcp sum|severity|message|src port):\n{}",
        pcap.display(),
        bad.join("\n")
    );
}

/// `curl` with a time limit and the usual quiet options; returns stdout.
pub fn curl(args: &[&str]) -> String {
    run_ok(Command::new("curl").args(["-sS", "--max-time", "20"]).args(args), Duration::from_secs(30))
}

/// A fresh directory for a test's own files (a site, a profile).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("e2e-").tempdir().expect("tempdir")
}

/// SHA-256 as lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The capture's packets as rows of tshark fields (absolute sequence
/// numbers), e.g. `["ip.src", "tcp.srcport", "tcp.flags"]`.
pub fn tshark_fields(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap).args([
        "-o",
        "tcp.relative_sequence_numbers:FALSE",
        "-T",
        "fields",
        "-E",
        "separator=|",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run_ok(&mut cmd, Duration::from_secs(60));
    out.lines().map(|l| l.split('|').map(str::to_string).collect()).collect()
}

/// An IP version, for the tests run once over each.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// curl's and wrk's option for it.
    pub fn flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// tshark's name of the family's IP layer: `ip` or `ipv6`, as in
    /// `ipv6.src`.
    pub fn tshark(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ipv6",
        }
    }

    /// The loopback address of the family, as the access log writes it.
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => std::net::Ipv4Addr::LOCALHOST.into(),
            Family::V6 => Ipv6Addr::LOCALHOST.into(),
        }
    }
}

pub mod drill;
