//! Experiment files through the binary: every shipped experiment plans
//! deterministically, and bad files are refused with exit 2 and a message
//! that names the file and the line or field.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::chaos;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_experiment_plans_the_same_bytes_for_a_seed() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "expected the shipped experiments, got {files:?}"
    );
    for file in files {
        for json in [false, true] {
            let run = |seed: &str| {
                let mut args = vec![
                    "plan".to_string(),
                    file.display().to_string(),
                    "--seed".into(),
                    seed.into(),
                ];
                if json {
                    args.push("--json".into());
                }
                let out = chaos(&args);
                assert!(
                    out.status.success(),
                    "{}: {}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            };
            let a = run("42");
            assert_eq!(
                a,
                run("42"),
                "{}: same seed, different plan",
                file.display()
            );
            assert_ne!(a, run("43"), "{}: another seed, same plan", file.display());
        }
    }
}

#[test]
fn a_plan_without_seed_prints_the_seed_it_drew() {
    let file = repo().join("experiments/etcd-pause.toml");
    let out = chaos(&["plan".into(), file.display().to_string()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rerun = text
        .lines()
        .find_map(|l| l.strip_prefix("rerun: "))
        .expect("a rerun line");
    let seed = rerun.rsplit(' ').next().unwrap();
    // Rerunning with the printed seed gives the same plan.
    let again = chaos(&[
        "plan".into(),
        file.display().to_string(),
        "--seed".into(),
        seed.into(),
    ]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
}

const COMPOSE: &str =
    "services:\n  n1: {image: x}\n  n2: {image: x}\n  n3: {image: x}\n  solo: {image: x}\n";

/// A valid experiment; each bad case edits it.
const GOOD: &str = r#"name = "t"
duration = "30s"

[cluster]
compose_file = "compose.yml"
project = "p"
components = { db = ["n1", "n2", "n3"], one = ["solo"] }

[workload]
client = "etcd"
endpoints = ["n1", "n2", "n3"]
clients = 3
rate = 10
keys = 2
timeout = "1s"
mix = { read = 1, write = 1, cas = 1 }

[[nemesis]]
fault = "kill"
targets = { one_of = ["n1", "n2"] }
schedule = { start = "1s", interval = ["2s", "3s"], duration = ["1s", "2s"] }
"#;

/// Run `chaos plan` on `text` in a fresh directory; return (exit code,
/// stderr, what else appeared in the directory).
fn plan_text(text: &str) -> (Option<i32>, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), COMPOSE).unwrap();
    let file = dir.path().join("exp.toml");
    std::fs::write(&file, text).unwrap();
    plan_file(&file, dir.path())
}

fn plan_file(file: &Path, dir: &Path) -> (Option<i32>, String, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("plan")
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap();
    let mut extra: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "compose.yml" && n != "exp.toml")
        .collect();
    extra.sort();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        extra,
    )
}

#[test]
fn the_good_file_is_good() {
    let (code, err, _) = plan_text(GOOD);
    assert_eq!(code, Some(0), "{err}");
}

/// (what is wrong, edit of GOOD, text the message must contain).
fn bad_cases() -> Vec<(&'static str, String, &'static str)> {
    let r = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "case edits a line GOOD lacks: {from}");
        GOOD.replacen(from, to, 1)
    };
    vec![
        (
            "toml syntax",
            r("name = \"t\"", "name = \"t"),
            "exp.toml:1:",
        ),
        (
            "toml syntax, bad table",
            r("[workload]", "[workload"),
            "exp.toml:9:",
        ),
        (
            "unknown top-level field",
            r("name = \"t\"", "name = \"t\"\nnmae = 1"),
            "unknown field `nmae`",
        ),
        (
            "unknown nested field",
            r("clients = 3", "clients = 3\nthreads = 4"),
            "unknown field `threads`",
        ),
        (
            "missing field",
            r("name = \"t\"\n", ""),
            "missing field `name`",
        ),
        (
            "wrong type",
            r("clients = 3", "clients = \"three\""),
            "workload.clients",
        ),
        (
            "negative duration",
            r("duration = \"30s\"", "duration = \"-30s\""),
            "negative",
        ),
        (
            "zero duration",
            r("duration = \"30s\"", "duration = \"0s\""),
            "zero",
        ),
        (
            "unparseable duration",
            r("timeout = \"1s\"", "timeout = \"1 fortnight\""),
            "workload.timeout",
        ),
        (
            "too long duration",
            r("duration = \"30s\"", "duration = \"48h\""),
            "maximum",
        ),
        (
            "interval min > max",
            r("interval = [\"2s\", \"3s\"]", "interval = [\"5s\", \"3s\"]"),
            "nemesis[0].schedule.interval: min 5s is greater than max 3s",
        ),
        (
            "fault duration min > max",
            r("duration = [\"1s\", \"2s\"]", "duration = [\"3s\", \"2s\"]"),
            "nemesis[0].schedule.duration",
        ),
        (
            "range of three",
            r(
                "interval = [\"2s\", \"3s\"]",
                "interval = [\"1s\", \"2s\", \"3s\"]",
            ),
            "expected one duration or two",
        ),
        (
            "unknown fault kind",
            r("fault = \"kill\"", "fault = \"explode\""),
            "unknown fault `explode`",
        ),
        (
            "misspelt fault kind",
            r("fault = \"kill\"", "fault = \"bandwith\""),
            "did you mean `bandwidth`?",
        ),
        (
            "unknown nemesis field: its whole path and a suggestion",
            r("fault = \"kill\"", "fault = \"kill\"\ngarce = \"1s\""),
            "nemesis[0].garce: unknown field `garce`",
        ),
        (
            "unknown nemesis field: did you mean",
            r("fault = \"kill\"", "fault = \"kill\"\ngarce = \"1s\""),
            "did you mean `grace`?",
        ),
        (
            "unknown workload field: its whole path",
            r("clients = 3", "clients = 3\nread_mod = \"linearizable\""),
            "workload.read_mod",
        ),
        (
            "loss out of range",
            r("fault = \"kill\"", "fault = \"loss\"\nloss = 120"),
            "nemesis[0].loss: 120 is out of range",
        ),
        (
            "loss without a share",
            r("fault = \"kill\"", "fault = \"loss\""),
            "loss needs `loss`",
        ),
        (
            "bandwidth without a unit",
            r("fault = \"kill\"", "fault = \"bandwidth\"\nrate = \"1000\""),
            "nemesis[0].rate: `1000` has no unit",
        ),
        (
            "cpu out of range",
            r("fault = \"kill\"", "fault = \"cpu\"\ncpus = 0"),
            "nemesis[0].cpus",
        ),
        (
            "memory under the engine's minimum",
            r("fault = \"kill\"", "fault = \"memory\"\nmemory = \"1MiB\""),
            "expected at least 6MiB",
        ),
        (
            "a rate on a kill",
            r("fault = \"kill\"", "fault = \"kill\"\nrate = \"1mbit\""),
            "`rate` applies to `fault = \"bandwidth\"` only",
        ),
        (
            "disconnect from a network the target is not on",
            r(
                "fault = \"kill\"",
                "fault = \"disconnect\"\nnetwork = \"backend\"",
            ),
            "nemesis[0].network: `n1` is not on network `backend`",
        ),
        (
            "unknown compose service",
            r("one_of = [\"n1\", \"n2\"]", "one_of = [\"n1\", \"n9\"]"),
            "unknown compose service `n9`",
        ),
        (
            "unknown endpoint",
            r(
                "endpoints = [\"n1\", \"n2\", \"n3\"]",
                "endpoints = [\"n1\", \"nx\"]",
            ),
            "workload.endpoints[1]",
        ),
        (
            "empty target set",
            r("one_of = [\"n1\", \"n2\"]", "one_of = []"),
            "empty target set",
        ),
        (
            "no target",
            r("targets = { one_of = [\"n1\", \"n2\"] }", "targets = {}"),
            "no target",
        ),
        (
            "two selectors",
            r(
                "targets = { one_of = [\"n1\", \"n2\"] }",
                "targets = { one_of = [\"n1\"], services = [\"n2\"] }",
            ),
            "several selectors",
        ),
        (
            "majority partition of 2",
            r(
                "fault = \"kill\"\ntargets = { one_of = [\"n1\", \"n2\"] }",
                "fault = \"partition\"\npartition = \"majority-minority\"\ntargets = { services = [\"n1\", \"n2\"] }",
            ),
            "at least 3 nodes",
        ),
        (
            "isolating a lone node",
            r(
                "fault = \"kill\"\ntargets = { one_of = [\"n1\", \"n2\"] }",
                "fault = \"partition\"\npartition = \"isolate-one\"\ntargets = { services = [\"solo\"] }",
            ),
            "only node of component",
        ),
        (
            "unknown partition",
            r(
                "fault = \"kill\"",
                "fault = \"partition\"\npartition = \"split-brain\"",
            ),
            "unknown partition `split-brain`",
        ),
        (
            "parameter of another fault",
            r("fault = \"kill\"", "fault = \"kill\"\ndelay = \"10ms\""),
            "applies to `fault = \"netem\" or \"io-delay\"` only",
        ),
        (
            "unknown role",
            r(
                "targets = { one_of = [\"n1\", \"n2\"] }",
                "targets = { role = \"boss\", component = \"db\" }",
            ),
            "unknown role `boss`",
        ),
        (
            "unknown component",
            r(
                "targets = { one_of = [\"n1\", \"n2\"] }",
                "targets = { role = \"leader\", component = \"dbx\" }",
            ),
            "unknown component `dbx`",
        ),
        (
            "some_of count too large",
            r(
                "targets = { one_of = [\"n1\", \"n2\"] }",
                "targets = { some_of = [\"n1\", \"n2\"], count = 3 }",
            ),
            "out of range",
        ),
        (
            "zero clients",
            r("clients = 3", "clients = 0"),
            "workload.clients: 0 is too small",
        ),
        ("zero keys", r("keys = 2", "keys = 0"), "workload.keys"),
        ("zero rate", r("rate = 10", "rate = 0"), "workload.rate"),
        (
            "negative clients",
            r("clients = 3", "clients = -3"),
            "workload.clients",
        ),
        (
            "no positive weight",
            r(
                "mix = { read = 1, write = 1, cas = 1 }",
                "mix = { read = 0, write = 0 }",
            ),
            "no op has a positive weight",
        ),
        (
            "missing compose file",
            r(
                "compose_file = \"compose.yml\"",
                "compose_file = \"nope.yml\"",
            ),
            "cluster.compose_file",
        ),
        (
            "negative seed",
            r("name = \"t\"", "name = \"t\"\nseed = -1"),
            "seed: -1 is negative",
        ),
        (
            "seed not an integer",
            r("name = \"t\"", "name = \"t\"\nseed = \"abc\""),
            "seed",
        ),
        (
            "seed a float",
            r("name = \"t\"", "name = \"t\"\nseed = 1.5"),
            "seed",
        ),
        (
            "absurd client count",
            r("clients = 3", "clients = 1000000000"),
            "too large; expected at most 1000",
        ),
        (
            "absurd integer",
            r("rate = 10", "rate = 99999999999999999999999"),
            "workload.rate",
        ),
        (
            "unknown client",
            r("client = \"etcd\"", "client = \"redis\""),
            "unknown client `redis`",
        ),
        (
            "unknown read mode",
            r(
                "client = \"etcd\"",
                "client = \"etcd\"\nread_mode = \"eventual\"",
            ),
            "not a read mode of etcd",
        ),
        (
            "start after the end",
            r("start = \"1s\"", "start = \"40s\""),
            "expected a start inside the run",
        ),
        (
            "bad project name",
            r("project = \"p\"", "project = \"My Project\""),
            "cluster.project",
        ),
        (
            "service in two components",
            r("one = [\"solo\"]", "one = [\"n1\"]"),
            "listed twice",
        ),
        (
            "netem loss over 100",
            r("fault = \"kill\"", "fault = \"netem\"\nloss = 150.0"),
            "percentage",
        ),
        (
            "netem reorder without a delay",
            r(
                "fault = \"kill\"",
                "fault = \"netem\"\nloss = 1\nreorder = 25",
            ),
            "`reorder` needs a `delay` above 0s",
        ),
        (
            "cluster.env value not a string",
            r("project = \"p\"", "project = \"p\"\nenv = { X = false }"),
            "cluster.env.X: expected a string",
        ),
        (
            "cluster.env value a number",
            r("project = \"p\"", "project = \"p\"\nenv = { X = 1 }"),
            "quote the value",
        ),
        (
            "cluster.env bad variable name",
            r(
                "project = \"p\"",
                "project = \"p\"\nenv = { \"1X\" = \"a\" }",
            ),
            "cluster.env.1X: `1X` is not a usable variable name",
        ),
        (
            "cluster.env variable name with a dash",
            r(
                "project = \"p\"",
                "project = \"p\"\nenv = { \"A-B\" = \"a\" }",
            ),
            "not a usable variable name",
        ),
        (
            "cluster.env overriding the compose project",
            r(
                "project = \"p\"",
                "project = \"p\"\nenv = { COMPOSE_PROJECT_NAME = \"other\" }",
            ),
            "cluster.env.COMPOSE_PROJECT_NAME: `COMPOSE_PROJECT_NAME` is refused",
        ),
        (
            "cluster.env not a table",
            r("project = \"p\"", "project = \"p\"\nenv = \"X=1\""),
            "cluster.env",
        ),
    ]
}

#[test]
fn bad_experiments_exit_2_with_a_pointed_message() {
    let cases = bad_cases();
    assert!(cases.len() >= 20);
    for (what, text, expected) in cases {
        let (code, err, extra) = plan_text(&text);
        assert_eq!(code, Some(2), "{what}: exit {code:?}, stderr: {err}");
        assert!(
            err.contains("exp.toml"),
            "{what}: message does not name the file: {err}"
        );
        assert!(
            err.contains(expected),
            "{what}: expected `{expected}` in: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{what}: not one line: {err}");
        assert!(extra.is_empty(), "{what}: created {extra:?}");
    }
}

/// Run `chaos plan` (with `args`) on `text`: exit code and stderr.
fn plan_with(text: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), COMPOSE).unwrap();
    let file = dir.path().join("exp.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("plan")
        .arg(&file)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_warns_and_strict_refuses() {
    // The good file draws no warning.
    let (code, err) = plan_with(GOOD, &["--strict", "--seed", "1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let exact = |fault: &str, at: &str, services: &str| {
        format!(
            "\n[[nemesis]]\nfault = \"{fault}\"\nfaults = [{{ at = \"{at}\", duration = \"5s\", services = [{services}] }}]\n"
        )
    };
    let cases = [
        (
            "a pause of a killed container",
            format!(
                "{GOOD}{}{}",
                exact("kill", "2s", "\"n1\""),
                exact("pause", "4s", "\"n1\"")
            ),
            "both strike n1",
        ),
        (
            "a majority down at once",
            format!("{GOOD}{}", exact("stop", "2s", "\"n2\", \"n3\"")),
            "members of `db` are down at once",
        ),
        (
            "a timeout longer than the run",
            GOOD.replacen("timeout = \"1s\"", "timeout = \"45s\"", 1),
            "longer than the run",
        ),
    ];
    for (what, text, expected) in cases {
        let (code, err) = plan_with(&text, &["--seed", "1"]);
        assert_eq!(code, Some(0), "{what}: a warning is not an error: {err}");
        assert!(
            err.contains("warning: ") && err.contains(expected),
            "{what}: {err}"
        );
        let (code, err) = plan_with(&text, &["--seed", "1", "--strict"]);
        assert_eq!(code, Some(2), "{what}: --strict: {err}");
        assert!(err.contains("refused with --strict"), "{what}: {err}");
    }
    // No fault within a shortened run.
    let (code, err) = plan_with(GOOD, &["--seed", "1", "--duration", "500ms", "--strict"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the plan has no fault"), "{err}");
    // A one-node component is exempt from the quorum warning.
    let solo = format!("{GOOD}{}", exact("kill", "2s", "\"solo\""));
    let (code, err) = plan_with(&solo, &["--seed", "1", "--strict"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn errors_point_at_the_line_of_the_field() {
    let text = GOOD.replacen("rate = 10", "rate = 0", 1);
    let (_, err, _) = plan_text(&text);
    let line = GOOD.lines().position(|l| l == "rate = 10").unwrap() + 1;
    assert!(err.contains(&format!("exp.toml:{line}:")), "{err}");
}

#[test]
fn a_directory_or_missing_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, _) = plan_file(dir.path(), dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("is a directory"), "{err}");
    let (code, err, _) = plan_file(&dir.path().join("nope.toml"), dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("nope.toml: no such file"), "{err}");
}

#[test]
fn a_bad_seed_flag_is_a_usage_error() {
    for seed in ["-1", "abc", "1.5", "99999999999999999999999"] {
        let out = chaos(&[
            "plan".into(),
            repo()
                .join("experiments/etcd-pause.toml")
                .display()
                .to_string(),
            "--seed".into(),
            seed.into(),
        ]);
        assert_eq!(out.status.code(), Some(2), "--seed {seed}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--seed"));
    }
}
