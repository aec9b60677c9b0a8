//! The FreeBSD packetdrill suite, played by `drill`, is what README.md's
//! Conformance section says it is, and passes well enough.
//!
//! The section holds a table (directory | passed | failed | skipped, then
//! the totals of each family's scripts, `total IPv4` and `total IPv6`, the
//! IPv6 twins being named `*-ipv6.pkt`, and the `total`) and one line for
//! every script that does not pass:
//!
//! ```text
//! - FAIL `snd-syn/snd-syn-*-ipv[46].pkt` (9): why, with the RFC section
//! - SKIP `snd-syn/*ecn*-ipv[46].pkt` (4): why
//! ```
//!
//! the pattern relative to the suite's folder. Here every script is played;
//! the table must give today's counts, every failure and every skip must
//! match exactly one line of its kind, each line's count must be the number
//! of scripts it matches, and at least 95 % of the scripts not skipped must
//! pass, in each family and in all. A fix that makes a listed script pass,
//! or a change that breaks one, fails here until the README says so.
//!
//! The suite is `../shared/packetdrill/freebsd/` beside the repository, or
//! `$PACKETDRILL_DIR`; without it the test skips (and fails where
//! `STACK_TESTS_STRICT` is set, as in `tests/run`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use stack::link::netns::skip;
use tests::drill::{run_file, scripts, Outcome};
use tests::workspace;

/// At least this share of the scripts not skipped pass.
const PASS_RATE: f64 = 0.95;

/// One `- FAIL`/`- SKIP` line of the README.
struct Explained {
    kind: &'static str,
    pattern: glob::Pattern,
    count: usize,
    line: String,
}

fn suite() -> PathBuf {
    std::env::var_os("PACKETDRILL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/packetdrill/freebsd"))
}

/// README.md's Conformance section, up to the next `## ` heading.
fn conformance_section() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let start = readme.find("\n## Conformance\n").expect("README.md has a `## Conformance` section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The `- FAIL `glob` (N): why` and `- SKIP ...` lines.
fn explained(section: &str) -> Vec<Explained> {
    let mut lines = Vec::new();
    for line in section.lines() {
        let Some((kind, rest)) = ["FAIL", "SKIP"]
            .into_iter()
            .find_map(|k| Some((k, line.strip_prefix("- ")?.strip_prefix(k)?.strip_prefix(" `")?)))
        else {
            continue;
        };
        let (pattern, rest) = rest.split_once('`').unwrap_or_else(|| panic!("no closing backtick: {line}"));
        let count = rest
            .strip_prefix(" (")
            .and_then(|r| r.split_once(')'))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("expected `(N)` after the pattern: {line}"));
        let pattern = glob::Pattern::new(pattern).unwrap_or_else(|e| panic!("bad pattern in {line}: {e}"));
        lines.push(Explained { kind, pattern, count, line: line.to_string() });
    }
    lines
}

/// The table's rows: directory → (passed, failed, skipped).
fn table(section: &str) -> BTreeMap<String, [usize; 3]> {
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> =
                line.trim().strip_prefix('|')?.strip_suffix('|')?.split('|').map(str::trim).collect();
            let [dir, numbers @ ..] = cells.as_slice() else { return None };
            let numbers: Vec<usize> = numbers.iter().map(|n| n.parse().ok()).collect::<Option<_>>()?;
            Some((dir.to_string(), numbers.try_into().ok()?))
        })
        .collect()
}

#[test]
fn the_freebsd_suite_is_as_the_readme_says() {
    let dir = suite();
    if !dir.is_dir() {
        skip("conformance", &format!("no packetdrill suite at {} (set PACKETDRILL_DIR)", dir.display()));
        return;
    }
    let section = conformance_section();
    let explained = explained(&section);
    let mut matched = vec![0; explained.len()];
    let mut counts: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in scripts(std::slice::from_ref(&dir)).expect("the suite's folder is readable") {
        let name = file.strip_prefix(&dir).expect("under the suite").to_string_lossy().into_owned();
        let outcome = run_file(&file);
        let (column, kind, what) = match &outcome {
            Outcome::Pass { .. } => (0, "PASS", String::new()),
            Outcome::Fail { line, message, .. } => (1, "FAIL", format!("line {line}: {message}")),
            Outcome::Skip(reason) => (2, "SKIP", reason.clone()),
        };
        let top = name.split('/').next().unwrap_or_default().to_string();
        let family = if name.ends_with("-ipv6.pkt") { "total IPv6" } else { "total IPv4" };
        for row in [top.as_str(), family, "total"] {
            counts.entry(row.into()).or_default()[column] += 1;
        }
        if kind == "PASS" {
            continue;
        }
        let hits: Vec<usize> = (0..explained.len())
            .filter(|&i| explained[i].kind == kind && explained[i].pattern.matches(&name))
            .collect();
        match hits.as_slice() {
            [i] => matched[*i] += 1,
            [] => problems.push(format!("{kind} {name} ({what}) has no `- {kind}` line in README.md")),
            _ => problems.push(format!("{kind} {name} matches {} README lines", hits.len())),
        }
    }
    for (e, &n) in explained.iter().zip(&matched) {
        if n != e.count {
            problems.push(format!("README says {} scripts, {n} match: {}", e.count, e.line));
        }
    }
    let claimed = table(&section);
    if claimed != counts {
        problems.push(format!("README's table says {claimed:?}, the run gave {counts:?}"));
    }
    for row in ["total IPv4", "total IPv6", "total"] {
        let [passed, failed, _] = counts.get(row).copied().unwrap_or_default();
        if passed + failed == 0 {
            continue;
        }
        let rate = passed as f64 / (passed + failed).max(1) as f64;
        if rate < PASS_RATE {
            let played = passed + failed;
            problems.push(format!("{row}: {passed} of {played} scripts not skipped pass, under {PASS_RATE}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
