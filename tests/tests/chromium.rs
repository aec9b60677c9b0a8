//! Suite 4, headless Chromium: a real browser loads every page of `www/`
//! from `http://localhost:8080/`, and a screenshot shows the page drawn.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tests::*;

const SUITE: &str = "chromium";
const WINDOW: &str = "1024,768";

/// Every `.html` file under `dir`, as URL paths (`index.html` as its
/// directory).
fn pages(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if p.is_dir() {
            pages(&p, &format!("{prefix}{name}/"), out);
        } else if name == "index.html" {
            out.push(prefix.to_string());
        } else if name.ends_with(".html") {
            out.push(format!("{prefix}{name}"));
        }
    }
}

fn chromium(profile: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args),
        Duration::from_secs(90),
    )
}

/// Chromium loads `http://localhost:8080/` and every page of `www/`, in a
/// namespace whose `/etc/hosts` has `localhost` as ::1 first (as Debian's
/// does; Chromium tries [::1] first anyway): each page's DOM arrives
/// whole, every request the browser made is answered 200 or 304, each one
/// over IPv6 (the access log has them from `::1`: none fell back to
/// 127.0.0.1), and the screenshot is not blank.
#[test]
fn chromium_loads_every_page() {
    e2e(SUITE, &["chromium", "python3-pil", "tshark"], || {
        let _heavy = heavy();
        let _hosts = own_hosts("::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 localhost\n");
        let h = Httpd::start("chromium", Opts::default().pcap());
        let profile = scratch();
        let shot = profile.path().join("shot.png");
        chromium(
            &profile.path().join("p0"),
            &[
                &format!("--screenshot={}", shot.display()),
                &format!("--window-size={WINDOW}"),
                "http://localhost:8080/",
            ],
        );
        let out =
            run_ok(Command::new(python()).arg(py("not_blank.py")).arg(&shot).arg(WINDOW), Duration::from_secs(30));
        say(&format!("chromium: screenshot {}", out.trim()));

        let mut all = Vec::new();
        pages(&www(), "/", &mut all);
        assert!(all.len() >= 3, "pages of www/: {all:?}");
        for (i, page) in all.iter().enumerate() {
            let dom = chromium(
                &profile.path().join(format!("p{}", i + 1)),
                &["--dump-dom", &format!("http://localhost:8080{page}")],
            );
            assert!(dom.contains("<title>") && dom.trim_end().ends_with("</html>"), "{page}: DOM incomplete:\n{dom}");
        }

        let log = h.access_log();
        let from_browser: Vec<_> = log.iter().filter(|(_, line, _)| !line.starts_with("GET /_stack.json")).collect();
        let not_v6: Vec<_> = from_browser.iter().filter(|(peer, _, _)| peer != "::1").collect();
        assert!(not_v6.is_empty(), "requests not over ::1: {not_v6:?}");
        let browser: Vec<(String, u16)> =
            from_browser.iter().map(|(_, line, status)| (line.clone(), *status)).collect();
        for page in &all {
            let line = format!("GET {page} HTTP/1.1");
            assert!(browser.iter().any(|(l, _)| *l == line), "{page} never requested: {browser:?}");
        }
        assert!(browser.iter().any(|(l, _)| l.starts_with("GET /style.css ")), "no stylesheet requested: {browser:?}");
        let bad: Vec<_> = browser.iter().filter(|(_, s)| *s != 200 && *s != 304).collect();
        assert!(bad.is_empty(), "requests not answered 200/304: {bad:?}");
        say(&format!("chromium: {} pages, {} requests from ::1, all 200/304", all.len(), browser.len()));
    });
}
