//! The pure core stays pure: its modules name no async runtime, Docker,
//! database client, file system or clock. And the layers point one way:
//! nothing below the CLI imports it, prints or exits the process; clients
//! know no faults; the nemesis knows no clients; the engine knows nothing
//! above it. (Enforced on the source, so that a new `use` fails here before
//! it spreads.)

use std::path::{Path, PathBuf};

/// Modules of the pure core: files, or directories (every `.rs` below).
const CORE: &[&str] = &[
    "src/duration.rs",
    "src/error_text.rs",
    "src/experiment",
    "src/seed.rs",
    "src/plan.rs",
    "src/history",
    "src/checker",
    "src/histgen.rs",
    "src/txngen.rs",
    "src/results",
    "src/report.rs",
    "src/html",
    "src/roles",
    "src/daemon/campaign.rs",
    "src/daemon/schedule.rs",
    "src/daemon/metrics.rs",
    "src/daemon/stats.rs",
    "src/shrink/search.rs",
    "src/shrink/file.rs",
    "src/bench",
    "src/workload",
    "src/warnings.rs",
    "src/runs",
    "src/bundle.rs",
    "src/doctor.rs",
    "src/client/process/protocol.rs",
    "src/client/process/conformance.rs",
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

/// Every `.rs` file under `src/<dir>` (or the file `src/<dir>`), with its
/// non-test code and its path for messages.
fn sources(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src").join(dir), &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            (f.strip_prefix(root).unwrap().display().to_string(), code)
        })
        .collect()
}

/// Does `text` contain `word`, not followed by more of an identifier
/// (`crate::cli` is not in `crate::client`)?
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        !text[i + word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}

/// The lines of `code` (comments cut) that contain one of `words`.
fn offending(path: &str, code: &str, words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let code_part = line.split("//").next().unwrap();
        for w in words {
            if contains_word(code_part, w) {
                out.push(format!("{path}:{}: `{w}`: {}", n + 1, line.trim()));
            }
        }
    }
    out
}

/// (what, the modules it applies to, what they must not contain).
const LAYERS: &[(&str, &[&str], &[&str])] = &[
    (
        "only the CLI prints, exits the process or installs signal handlers",
        &[
            "bench",
            "checker",
            "client",
            "demo.rs",
            "docker",
            "duration.rs",
            "engine",
            "error_text.rs",
            "experiment",
            "histgen.rs",
            "history",
            "html",
            "images.rs",
            "journal.rs",
            "loader.rs",
            "lock.rs",
            "nemesis",
            "plan.rs",
            "report.rs",
            "results",
            "roles",
            "runfiles.rs",
            "runs",
            "seed.rs",
            "store.rs",
            "warnings.rs",
        ],
        &[
            "println!",
            "print!(",
            "eprintln!",
            "eprint!(",
            "process::exit",
            "crate::cli",
            "tokio::signal",
        ],
    ),
    (
        "clients know no faults, runs or demos",
        &["client"],
        &["crate::nemesis", "crate::engine", "crate::demo"],
    ),
    (
        "the nemesis knows no clients and nothing above it",
        &["nemesis"],
        &["crate::client", "crate::engine", "crate::demo"],
    ),
    (
        "roles are below clients and the nemesis",
        &["roles"],
        &[
            "crate::client",
            "crate::nemesis",
            "crate::engine",
            "crate::docker",
        ],
    ),
    (
        "the pages are pure: they know no shell",
        &["html"],
        &[
            "crate::store",
            "crate::runfiles",
            "crate::engine",
            "crate::docker",
            "crate::daemon",
            "crate::cli",
            "crate::nemesis",
            "crate::client",
        ],
    ),
    (
        "the engine knows nothing above it",
        &["engine"],
        &["crate::demo", "crate::daemon"],
    ),
    (
        "shrink is below the CLI and beside the daemon",
        &["shrink"],
        &[
            "crate::cli",
            "crate::daemon",
            "println!",
            "eprintln!",
            "process::exit",
            "tokio::signal",
        ],
    ),
    (
        "the daemon is below the CLI",
        &["daemon"],
        &[
            "crate::cli",
            "println!",
            "eprintln!",
            "process::exit",
            "tokio::signal",
        ],
    ),
];

#[test]
fn layers_point_one_way() {
    let mut violations = Vec::new();
    let mut checked = 0;
    for (what, modules, words) in LAYERS {
        for module in *modules {
            for (path, code) in sources(module) {
                checked += 1;
                for v in offending(&path, &code, words) {
                    violations.push(format!("{what}: {v}"));
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} files checked");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_layer_check_catches_a_violation() {
    let code = "fn f() {\n    println!(\"x\"); // fine: not here\n    std::process::exit(1);\n}\n";
    let found = offending("src/x.rs", code, LAYERS[0].2);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[1].starts_with("src/x.rs:3:"));
    assert!(offending("src/x.rs", "// println!(\"no\")", LAYERS[0].2).is_empty());
    assert!(offending("src/x.rs", "use crate::client::AnyClient;", LAYERS[0].2).is_empty());
    assert_eq!(
        offending("src/x.rs", "use crate::cli::Outcome;", LAYERS[0].2).len(),
        1
    );
}

/// The workload rooms' own modules: only a room itself and the clients
/// (which decode a room's ops into their requests) name them; everything
/// else asks a room through the `Workload` trait and the registry.
const ROOMS: &[&str] = &[
    "crate::workload::register",
    "crate::workload::list_append",
    "crate::workload::bank",
    "crate::workload::set",
];

#[test]
fn only_rooms_and_clients_name_a_room() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        if rel.starts_with("src/workload/")
            || rel.starts_with("src/client/")
            || rel.ends_with("/tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for v in offending(&rel, code, ROOMS) {
            violations.push(v);
        }
    }
    assert!(files.len() > 50, "only {} files", files.len());
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert_eq!(
        offending(
            "src/x.rs",
            "use crate::workload::register::OpStream;",
            ROOMS
        )
        .len(),
        1
    );
}
