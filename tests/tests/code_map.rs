//! The README's code map and the RFC 9293 requirements table stay true:
//! every `path::name` they give (in backticks, e.g.
//! `stack/src/tcp/listener.rs::Listeners::on_segment` or
//! `stack/tests/data.rs::some_test`) names a file that exists and an item
//! defined in it, and every path they give exists. A rename that forgets
//! them fails here.

use std::path::Path;

use tests::workspace;

/// What README.md claims, one backticked reference at a time.
#[derive(Debug, PartialEq)]
enum Claim<'a> {
    /// `some/path.rs` or `some/dir/`.
    Path(&'a str),
    /// `some/path.rs::Type::name`: `Type` is implemented and `name`
    /// defined in that file.
    Item { file: &'a str, owner: Option<&'a str>, name: &'a str },
}

/// The references among the backticked spans of `text`: anything that
/// starts with one of the workspace's top-level folders, less patterns
/// with a placeholder in capitals (`fuzz/artifacts/TARGET/`).
fn claims(text: &str) -> Vec<Claim<'_>> {
    const ROOTS: [&str; 5] = ["stack/", "httpd/", "tests/", "www/", "fuzz/"];
    let placeholder = |part: &str| part.len() > 1 && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| ROOTS.iter().any(|r| span.starts_with(r)) && !span.contains(' '))
        .filter(|span| !span.split('/').any(placeholder))
        .map(|span| match span.split_once(".rs::") {
            None => Claim::Path(span),
            Some((stem, rest)) => {
                let file = &span[..stem.len() + 3];
                match rest.rsplit_once("::") {
                    Some((owner, name)) => Claim::Item { file, owner: Some(owner), name },
                    None => Claim::Item { file, owner: None, name: rest },
                }
            }
        })
        .collect()
}

/// Whether `source` defines `name` as a function, type, constant or module.
fn defines(source: &str, name: &str) -> bool {
    ["fn", "struct", "enum", "trait", "const", "static", "type", "mod"].iter().any(|kw| {
        source.match_indices(&format!("{kw} {name}")).any(|(at, m)| {
            let after = source[at + m.len()..].chars().next();
            !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// Whether `source` has an `impl` block for `owner` (inherent or of a trait).
fn implements(source: &str, owner: &str) -> bool {
    source
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("impl"))
        .any(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word == owner))
}

/// The claims of `readme` that do not hold in the tree at `root`.
fn false_claims(root: &Path, readme: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    for claim in claims(readme) {
        match claim {
            Claim::Path(p) => {
                if !root.join(p).exists() {
                    wrong.push(format!("`{p}`: no such file or folder"));
                }
            }
            Claim::Item { file, owner, name } => {
                let Ok(source) = std::fs::read_to_string(root.join(file)) else {
                    wrong.push(format!("`{file}`: no such file"));
                    continue;
                };
                if !defines(&source, name) {
                    wrong.push(format!("`{file}::…::{name}`: {file} defines no `{name}`"));
                }
                if let Some(owner) = owner.filter(|o| !implements(&source, o)) {
                    wrong.push(format!("`{file}::{owner}::{name}`: {file} has no `impl {owner}`"));
                }
            }
        }
    }
    wrong
}

/// The documents that name code: the README's code map, and the RFC's
/// requirements table (`stack/RFC9293.md`: where each MUST is met and tested).
const DOCUMENTS: [&str; 2] = ["README.md", "stack/RFC9293.md"];

#[test]
fn every_path_and_name_in_the_documents_exists() {
    let root = workspace();
    for doc in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let found = claims(&text).iter().filter(|c| matches!(c, Claim::Item { .. })).count();
        assert!(found >= 10, "{doc} should name functions as `path.rs::name`; found {found}");
        let wrong = false_claims(&root, &text);
        assert!(wrong.is_empty(), "{doc} names what the code does not have:\n{}", wrong.join("\n"));
    }
}

#[test]
fn a_wrong_name_is_caught() {
    let root = workspace();
    let good = "`stack/src/stack.rs::Stack::listen` and `stack/src/tcp/`";
    assert_eq!(false_claims(&root, good), Vec::<String>::new());
    for bad in [
        "`stack/src/stack.rs::Stack::no_such_function`",
        "`stack/src/stack.rs::NoSuchType::listen`",
        "`stack/src/no_such_file.rs::listen`",
        "`stack/src/no_such_folder/`",
        // A prefix of a real name is not that name.
        "`stack/src/stack.rs::Stack::liste`",
    ] {
        assert_eq!(false_claims(&root, bad).len(), 1, "{bad} should be caught");
    }
    assert_eq!(claims("`fuzz/artifacts/TARGET/`"), vec![], "a placeholder is no claim");
}
