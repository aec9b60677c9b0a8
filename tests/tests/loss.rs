//! Suite 6, loss: downloads over a link that loses, duplicates, reorders
//! and delays packets arrive whole, and in bounded time.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::*;

const SUITE: &str = "loss";
const FAULTS: &str = "loss=5%,dup=1%,reorder=5%,delay=5ms,seed=7";

/// With `--faults loss=5%,dup=1%,reorder=5%,delay=5ms`: 100 downloads of a
/// 1 MiB random file, 10 at a time; every one's SHA-256 equals the file's
/// and none takes over 30 s.
#[test]
fn downloads_survive_loss() {
    e2e(SUITE, &["curl"], || {
        let _heavy = heavy();
        let root = scratch();
        let mut data = vec![0; 1 << 20];
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut data).unwrap();
        std::fs::write(root.path().join("random.bin"), &data).unwrap();
        let want = sha256(&data);
        let h = Httpd::start("loss", Opts::args(&["--faults", FAULTS]).root(root.path()));
        let url = h.url("/random.bin");
        let start = Instant::now();
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .map(|_| {
                            let t = Instant::now();
                            let out = run(
                                Command::new("curl").args(["-sS", "-f", "--max-time", "30", "-o", "-", &url]),
                                Duration::from_secs(40),
                            );
                            let took = t.elapsed();
                            assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
                            (sha256(&out.stdout), out.stdout.len(), took)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        assert_eq!(results.len(), 100);
        for (i, (sum, len, took)) in results.iter().enumerate() {
            assert_eq!((sum, *len), (&want, data.len()), "download {i} differs from the file");
            assert!(*took <= Duration::from_secs(30), "download {i} took {took:?}");
        }
        let slowest = results.iter().map(|r| r.2).max().unwrap();
        let v = h.stack();
        let c = &v["counters"];
        say(&format!(
            "loss: 100 × 1 MiB in {:?}, slowest {slowest:?}; retransmissions {}, timeouts {}, \
             RACK losses {}, loss probes {}",
            start.elapsed(),
            c["retransmissions"],
            c["rto_expirations"],
            c["rack_losses"],
            c["tlp_probes"]
        ));
        assert!(c["retransmissions"].as_u64().unwrap() > 0, "no retransmission: were faults injected? {v}");
    });
}
