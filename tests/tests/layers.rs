//! The layers depend one way, and no two files need each other.
//!
//! ```text
//!   httpd  ─> link/ ─> stack.rs ─> tcp/ ─> wire/      (and time.rs, copy.rs,
//!                                                       which everyone may use)
//! ```
//!
//! Read from the sources: every `crate::…` and `super::…` path a file
//! names. A lower layer naming a higher one fails, and so does a circle of
//! files that are not parent and child (a module's `mod.rs` and the files
//! below it share one namespace: that is Rust's module tree, not a circle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tests::workspace;

/// The layer of a module path of the stack crate, by its first part.
fn layer(first: &str) -> Option<u8> {
    Some(match first {
        "time" | "copy" => 0,
        "wire" => 1,
        "tcp" | "Config" | "Counters" | "Error" | "Ready" | "FourTuple" | "SocketHandle" => 2,
        "stack" | "Stack" | "Event" | "ConnectionInfo" => 3,
        "link" => 4,
        _ => return None,
    })
}

/// The stack crate's source files, each with its module path
/// (`["tcp", "tcb", "output"]`).
fn modules(src: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let mut found = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                    parts.pop();
                }
                found.push((path, parts));
            }
        }
    }
    found
}

/// The code of `source` without comments, so prose that names a module
/// is not taken for a use of it.
fn code(source: &str) -> String {
    source.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every module path `source` (of module `me`) names through `crate::` or
/// `super::`, resolved from the crate root: `use super::seq::SeqNum` in
/// `wire/tcp.rs` gives `["wire", "seq", "SeqNum"]`. Grouped imports
/// (`crate::tcp::{a, b}`) give their common prefix.
fn paths(source: &str, me: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let code = code(source);
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        if at > 0 && code[..at].ends_with(|c: char| ident(c) || c == ':') {
            continue; // `$crate::`, or the middle of `super::super::`
        }
        let text = &code[at..];
        let mut parts: Vec<&str> = Vec::new();
        let mut rest = text;
        loop {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            parts.push(&rest[..end]);
            match rest[end..].strip_prefix("::") {
                Some(more) if more.starts_with(ident) => rest = more,
                _ => break,
            }
        }
        // A file's `super` is its parent module; a mod.rs's is the grandparent.
        let mut base: Vec<String> = me.to_vec();
        if !is_mod_file {
            base.pop();
        }
        let mut resolved = Vec::new();
        let mut parts = parts.into_iter().peekable();
        match parts.next() {
            Some("crate") => {}
            _ => {
                // `super`: one level, and more for each `super` after it.
                if is_mod_file {
                    base.pop();
                }
                while parts.peek() == Some(&"super") {
                    parts.next();
                    base.pop();
                }
                resolved = base;
            }
        }
        resolved.extend(parts.map(str::to_string));
        out.push(resolved);
    }
    out
}

#[test]
fn no_layer_names_a_higher_one() {
    let src = workspace().join("stack/src");
    let mut wrong = Vec::new();
    for (file, me) in modules(&src) {
        let Some(mine) = me.first().and_then(|m| layer(m)) else { continue };
        let source = std::fs::read_to_string(&file).expect("source");
        let is_mod = file.file_name().is_some_and(|n| n == "mod.rs");
        for path in paths(&source, &me, is_mod) {
            if let Some(theirs) = path.first().and_then(|p| layer(p)) {
                if theirs > mine {
                    wrong.push(format!("{}: names crate::{}", file.display(), path.join("::")));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports that run up the layers:\n{}", wrong.join("\n"));
}

/// Files of one module tree that name each other, other than a child and
/// its parent: the circles.
fn circles(src: &Path) -> Vec<String> {
    let files = modules(src);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(_, m)| m.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (file, me) in &files {
        let source = std::fs::read_to_string(file).expect("source");
        let is_mod = file.file_name().is_some_and(|n| n == "mod.rs");
        for path in paths(&source, me, is_mod) {
            // The longest prefix that is a file of the crate.
            let target = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p));
            if let Some(target) = target {
                let related = target.starts_with(me) || me.starts_with(&target);
                if !related {
                    edges.entry(me.clone()).or_default().insert(target);
                }
            }
        }
    }
    let mut found = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if a < b && edges.get(b).is_some_and(|back| back.contains(a)) {
                found.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    found
}

#[test]
fn no_two_files_name_each_other() {
    for krate in ["stack/src", "httpd/src"] {
        let found = circles(&workspace().join(krate));
        assert!(found.is_empty(), "{krate}: files that import each other:\n{}", found.join("\n"));
    }
}

#[test]
fn the_checks_see_what_they_look_for() {
    let me: Vec<String> = vec!["wire".into(), "tcp".into()];
    assert_eq!(paths("use super::seq::SeqNum;", &me, false), vec![vec!["wire", "seq", "SeqNum"]]);
    assert_eq!(paths("use crate::tcp::{a, b};", &me, false), vec![vec!["tcp"]]);
    assert_eq!(paths("// crate::link in prose\nlet x = 1;", &me, false), Vec::<Vec<String>>::new());
    let tcb: Vec<String> = vec!["tcp".into(), "tcb".into()];
    assert_eq!(paths("use super::Config;", &tcb, true), vec![vec!["tcp", "Config"]]);
    assert_eq!(layer("link"), Some(4));
    assert!(layer("link") > layer("tcp"));
}
