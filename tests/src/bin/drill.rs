//! Play packetdrill scripts against the stack (see `tests::drill`).
//!
//! `drill [--json] PATH...`: each PATH a `.pkt` file or a directory searched
//! recursively. One line per script, `PASS`, `FAIL` (the line, what was
//! expected and what came) or `SKIP` (why); with `--json`, one JSON object
//! per script instead. The last line is `N passed, N failed, N skipped`;
//! the exit status is 0 only if nothing failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;
use tests::drill::{run_file, scripts, Outcome};

#[derive(Parser)]
#[command(about = "Play packetdrill scripts against the stack")]
struct Args {
    /// One JSON object per script (with its notes) instead of a text line.
    #[arg(long)]
    json: bool,
    /// `.pkt` files, or directories to search for them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let files = match scripts(&args.paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("drill: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in &files {
        let outcome = run_file(file);
        let path = file.display();
        match &outcome {
            Outcome::Pass { .. } => passed += 1,
            Outcome::Fail { .. } => failed += 1,
            Outcome::Skip(_) => skipped += 1,
        }
        if args.json {
            let line = match outcome {
                Outcome::Pass { notes } => json!({"path": path.to_string(), "result": "PASS", "notes": notes}),
                Outcome::Fail { line, message, notes } => {
                    json!({"path": path.to_string(), "result": "FAIL", "line": line, "message": message, "notes": notes})
                }
                Outcome::Skip(reason) => json!({"path": path.to_string(), "result": "SKIP", "reason": reason}),
            };
            println!("{line}");
        } else {
            match outcome {
                Outcome::Pass { notes } if notes.is_empty() => println!("PASS {path}"),
                Outcome::Pass { notes } => println!("PASS {path} ({} notes, see --json)", notes.len()),
                Outcome::Fail { line, message, .. } => println!("FAIL {path}:{line}: {message}"),
                Outcome::Skip(reason) => println!("SKIP {path}: {reason}"),
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
