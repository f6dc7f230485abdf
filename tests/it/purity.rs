//! The pure core stays pure: its modules name no async runtime, Docker,
//! database client, file system or clock. (Enforced on the source, so that a
//! new `use` fails here before it spreads.)

use std::path::{Path, PathBuf};

/// Modules of the pure core: files, or directories (every `.rs` below).
const CORE: &[&str] = &[
    "src/duration.rs",
    "src/experiment",
    "src/seed.rs",
    "src/plan.rs",
    "src/history",
    "src/checker",
    "src/histgen.rs",
    "src/txngen.rs",
    "src/results.rs",
    "src/report.rs",
];

const FORBIDDEN: &[&str] = &[
    "tokio",
    "bollard",
    "surrealdb::",
    "std::fs",
    "fs::",
    "File::",
    "Instant",
    "SystemTime",
    "UNIX_EPOCH",
    "thread_rng",
    "rand::rng(",
    "OsRng",
    "std::net",
    "std::process",
    "std::env",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn core_modules_do_no_io_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for module in CORE {
        // A module of the list that does not exist yet is skipped; the count
        // below keeps the check from passing on nothing.
        let path = root.join(module);
        if path.exists() {
            rust_files(&path, &mut files);
        }
    }
    // The core must exist: an empty list would make this test vacuous.
    assert!(files.len() >= 5, "core modules not found: {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Test modules inside a core file may use the file system for fixtures.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let code_part = line.split("//").next().unwrap();
            for word in FORBIDDEN {
                if code_part.contains(word) {
                    violations.push(format!(
                        "{}:{}: `{word}` in a pure module: {}",
                        file.strip_prefix(root).unwrap().display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_purity_check_catches_a_violation() {
    // The check itself must be able to fail: run its matcher on a bad line.
    let line = "use std::fs::read_to_string;";
    assert!(FORBIDDEN.iter().any(|w| line.contains(w)));
    let line = "let t = std::time::Instant::now();";
    assert!(FORBIDDEN.iter().any(|w| line.contains(w)));
}
