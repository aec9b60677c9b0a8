//! The shipped site: every page's links and assets answer 200.

use std::path::Path;

use httpd::files::{resolve, Lookup};

#[test]
fn every_link_in_www_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www").canonicalize().unwrap();
    let pages = ["/", "/tcp.html", "/files/"];
    let mut checked = 0;
    for page in pages {
        let Lookup::File(file, _) = resolve(&root, page) else { panic!("{page} missing") };
        let html = std::fs::read_to_string(&file).unwrap();
        for attr in ["href=\"", "src=\""] {
            for link in html.split(attr).skip(1).filter_map(|s| s.split('"').next()) {
                if link == "/_stack.json" {
                    continue; // answered by the stack, not by a file
                }
                let target = if link.starts_with('/') { link.to_string() } else { format!("{page}{link}") };
                assert!(
                    matches!(resolve(&root, &target), Lookup::File(..)),
                    "{page} links to {link}, which is not served"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} links found");
    // Browsers ask for these whether or not a page links them.
    for asset in ["/favicon.ico", "/files/1MiB.bin"] {
        assert!(matches!(resolve(&root, asset), Lookup::File(..)), "{asset}");
    }
    let big = std::fs::metadata(root.join("files/1MiB.bin")).unwrap().len();
    assert_eq!(big, 1 << 20);
}
