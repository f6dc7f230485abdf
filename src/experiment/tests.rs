//! Unit tests of parsing and validation; the bad-file catalogue runs through
//! the binary in `tests/it/experiments.rs`.

use super::*;

const MINIMAL: &str = r#"
name = "m"
duration = "10s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["a", "b", "c"] }
[workload]
client = "etcd"
endpoints = ["a"]
"#;

#[test]
fn defaults_are_filled_in() {
    let e = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert_eq!(e.workload.clients, 5);
    assert_eq!(e.workload.keys, 8);
    assert_eq!(e.workload.key_ops, 200);
    assert_eq!(e.workload.rate, 100);
    assert_eq!(e.workload.timeout, Duration::from_secs(1));
    assert_eq!(e.workload.read_mode, ReadMode::Linearizable);
    assert_eq!(
        e.workload.mix,
        BTreeMap::from([
            ("read".into(), 50),
            ("write".into(), 30),
            ("cas".into(), 20)
        ])
    );
    assert!(e.cluster.up && !e.cluster.down);
    assert!(e.nemeses.is_empty());
    assert_eq!(e.seed, None);
}

#[test]
fn a_fixed_duration_is_a_range_of_one() {
    let text = format!(
        "{MINIMAL}[[nemesis]]\nfault = \"pause\"\ntargets = {{ component = \"db\" }}\n\
         schedule = {{ interval = \"2s\", duration = [\"1s\", \"3s\"], count = 2 }}\n"
    );
    let e = parse(&text, "m.toml").unwrap().experiment;
    let Timing::Scheduled {
        targets,
        schedule: s,
    } = &e.nemeses[0].timing
    else {
        panic!("a scheduled nemesis");
    };
    assert_eq!(s.interval.min, s.interval.max);
    assert_eq!(s.duration.max, Duration::from_secs(3));
    assert_eq!(s.count, Some(2));
    assert_eq!(*targets, TargetSelector::Component("db".into()));
}

#[test]
fn explicit_faults_are_planned_exactly_as_written() {
    let text = format!(
        "{MINIMAL}[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\n\
         faults = [{{ at = \"2s\", duration = \"3s\", services = [\"b\"] }},\n\
         {{ at = \"6s\", duration = \"1s\", drops = {{ a = [\"c\"] }} }},\n\
         {{ at = \"8s\", duration = \"500ms\", role = \"leader\", component = \"db\" }}]\n\
         [[nemesis]]\nfault = \"kill\"\nfaults = [{{ at = \"1s\", duration = \"1s\", services = [\"a\"] }}]\n"
    );
    let e = parse(&text, "m.toml").unwrap().experiment;
    let p1 = crate::plan::plan(&e, crate::seed::Seed(1));
    let p2 = crate::plan::plan(&e, crate::seed::Seed(2));
    // The seed draws nothing for exact faults.
    assert_eq!(p1.faults, p2.faults);
    let at: Vec<(u64, u64, &str)> = p1
        .faults
        .iter()
        .map(|f| (f.at_ms, f.heal_at_ms, f.fault.name()))
        .collect();
    assert_eq!(
        at,
        [
            (1000, 2000, "kill"),
            (2000, 5000, "partition"),
            (6000, 7000, "partition"),
            (8000, 8500, "partition")
        ]
    );
    use crate::plan::PlannedTargets;
    assert_eq!(
        p1.faults[0].targets,
        PlannedTargets::Services(vec!["a".into()])
    );
    // One node of an isolate-one partition is its cut from its component.
    let PlannedTargets::Partition { drops } = &p1.faults[1].targets else {
        panic!("{:?}", p1.faults[1].targets);
    };
    assert_eq!(drops["b"], ["a", "c"]);
    assert_eq!(drops["a"], ["b"]);
    assert_eq!(drops["c"], ["b"]);
    assert_eq!(
        p1.faults[2].targets,
        PlannedTargets::Partition {
            drops: [("a".to_string(), vec!["c".to_string()])].into()
        }
    );
    assert!(matches!(&p1.faults[3].targets, PlannedTargets::Role { role, .. } if role == "leader"));
    assert_eq!(
        p1.faults.iter().map(|f| f.id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
}

#[test]
fn bad_explicit_faults_point_at_the_field() {
    let case = |nemesis: &str| {
        let text = format!("{MINIMAL}[[nemesis]]\n{nemesis}\n");
        let e = parse(&text, "m.toml").unwrap_err();
        (e.field.clone().unwrap_or_default(), e.to_string())
    };
    let (f, m) =
        case("fault = \"kill\"\nfaults = [{ at = \"9s\", duration = \"5s\", services = [\"a\"] }]");
    assert_eq!(f, "nemesis[0].faults[0].duration", "{m}");
    assert!(m.contains("after the run's end"), "{m}");
    let (f, m) = case("fault = \"kill\"\nfaults = [{ at = \"1s\", duration = \"1s\" }]");
    assert_eq!(f, "nemesis[0].faults[0]", "{m}");
    let (f, m) = case(
        "fault = \"kill\"\nfaults = [{ at = \"1s\", duration = \"1s\", drops = { a = [\"b\"] } }]",
    );
    assert_eq!(f, "nemesis[0].faults[0].drops", "{m}");
    let (f, m) = case(
        "fault = \"partition\"\npartition = \"majority-minority\"\nfaults = [{ at = \"1s\", duration = \"1s\", services = [\"a\"] }]",
    );
    assert_eq!(f, "nemesis[0].faults[0].services", "{m}");
    let (f, m) = case(
        "fault = \"kill\"\ntargets = { services = [\"a\"] }\nfaults = [{ at = \"1s\", duration = \"1s\", services = [\"a\"] }]",
    );
    assert_eq!(f, "nemesis[0].faults", "{m}");
    let (_, m) = case("fault = \"kill\"\nfaults = []");
    assert!(m.contains("empty"), "{m}");
    // Unknown services are caught against the compose file (loader), not
    // here; a role needs a known component.
    let (f, m) = case(
        "fault = \"kill\"\nfaults = [{ at = \"1s\", duration = \"1s\", role = \"leader\", component = \"nope\" }]",
    );
    assert_eq!(f, "nemesis[0].faults[0].component", "{m}");
}

#[test]
fn errors_carry_file_line_and_field() {
    let text = MINIMAL.replace("client = \"etcd\"", "client = \"etcd\"\nclients = 0");
    let err = parse(&text, "m.toml").unwrap_err();
    assert_eq!(err.field.as_deref(), Some("workload.clients"));
    assert_eq!(err.position.map(|p| p.0), Some(10));
    assert_eq!(
        err.to_string(),
        "m.toml:10:11: workload.clients: 0 is too small; expected at least 1"
    );
}

#[test]
fn services_are_checked_against_the_compose_file() {
    let parsed = parse(MINIMAL, "m.toml").unwrap();
    let defined: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    let err = parsed.check_services(&defined).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("cluster.components.db[2]"));
    assert!(err.message.contains("unknown compose service `c`"));
    let all: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    parsed.check_services(&all).unwrap();
}

#[test]
fn the_experiment_serializes_with_readable_durations() {
    let e = parse(MINIMAL, "m.toml").unwrap().experiment;
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["duration"], "10s");
    assert_eq!(json["workload"]["timeout"], "1s");
}

#[test]
fn cluster_env_is_a_table_of_strings() {
    let text = MINIMAL.replace(
        "project = \"p\"",
        "project = \"p\"\nenv = { SURREAL_TIKV_ASYNC_COMMIT = \"false\", _X1 = \"\" }",
    );
    let e = parse(&text, "m.toml").unwrap().experiment;
    assert_eq!(e.cluster.env["SURREAL_TIKV_ASYNC_COMMIT"], "false");
    assert_eq!(e.cluster.env["_X1"], "");
    assert_eq!(
        e.cluster.describe_env().as_deref(),
        Some("cluster env: SURREAL_TIKV_ASYNC_COMMIT=false _X1=")
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["cluster"]["env"]["SURREAL_TIKV_ASYNC_COMMIT"], "false");
    // Without variables: nothing to show, nothing serialized.
    let plain = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert!(plain.cluster.env.is_empty());
    assert_eq!(plain.cluster.describe_env(), None);
    assert!(
        serde_json::to_value(&plain).unwrap()["cluster"]
            .get("env")
            .is_none()
    );
}

#[test]
fn cluster_env_refuses_bad_names_and_values() {
    let check = |env: &str, field: &str, message: &str| {
        let text = MINIMAL.replace("project = \"p\"", &format!("project = \"p\"\n{env}"));
        let err = parse(&text, "m.toml").unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{env}: {err}");
        assert!(err.message.contains(message), "{env}: {err}");
        // The line of the variable, not of the table.
        assert_eq!(err.position.map(|p| p.0), Some(7), "{env}: {err}");
    };
    check("env = { A = false }", "cluster.env.A", "expected a string");
    check("env = { A = 1 }", "cluster.env.A", "quote the value");
    check(
        "env = { \"1A\" = \"x\" }",
        "cluster.env.1A",
        "not a usable variable name",
    );
    check(
        "env = { \"A-B\" = \"x\" }",
        "cluster.env.A-B",
        "not a usable variable name",
    );
    check(
        "env = { COMPOSE_PROJECT_NAME = \"other\" }",
        "cluster.env.COMPOSE_PROJECT_NAME",
        "refused",
    );
    check(
        "env = { DOCKER_HOST = \"tcp://x\" }",
        "cluster.env.DOCKER_HOST",
        "refused",
    );
    check("env = { A = \"x\\u0000y\" }", "cluster.env.A", "NUL");
}

#[test]
fn the_kept_copy_names_the_resolved_compose_file_and_keeps_the_rest() {
    let text = format!("# a comment\n{MINIMAL}");
    let copy = with_compose_file(&text, "m.toml", "/abs/dir/c \"x\".yml").unwrap();
    assert!(copy.starts_with("# a comment\n"), "{copy}");
    assert!(copy.contains("compose_file = "), "{copy}");
    let again = parse(&copy, "copy.toml").unwrap().experiment;
    let orig = parse(&text, "m.toml").unwrap().experiment;
    assert_eq!(again.cluster.compose_file, "/abs/dir/c \"x\".yml");
    assert_eq!(again.workload, orig.workload);
    assert_eq!(again.nemeses, orig.nemeses);
}

#[test]
fn with_strings_sets_array_items_and_refuses_an_absent_field() {
    let text = format!("# keep me\n{MINIMAL}");
    let copy = with_strings(
        &text,
        "m.toml",
        &[("cluster.compose_file", "compose/x.yml")],
    )
    .unwrap();
    assert!(copy.starts_with("# keep me\n"));
    assert_eq!(
        parse(&copy, "c.toml")
            .unwrap()
            .experiment
            .cluster
            .compose_file,
        "compose/x.yml"
    );
    let arr = "a = [\"python3\", \"../x/y.py\", \"--flag\"]\n";
    let edited = with_strings(arr, "a.toml", &[("a[1]", "files/y.py")]).unwrap();
    assert_eq!(edited, "a = [\"python3\", \"files/y.py\", \"--flag\"]\n");
    let err = with_strings(arr, "a.toml", &[("a[3]", "z")]).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("a[3]"));
}

#[test]
fn a_list_append_workload_and_its_model() {
    let text = MINIMAL.replace(
        "client = \"etcd\"",
        "kind = \"list-append\"\nclient = \"etcd\"\nops_per_txn = [2, 3]",
    ) + "[checker]\nmodel = \"serializable\"\n";
    let e = parse(&text, "m.toml").unwrap().experiment;
    assert_eq!(e.workload.kind.name(), "list-append");
    let p: crate::workload::list_append::Params = e.workload.params();
    assert_eq!(p.ops_per_txn, (2, 3));
    assert_eq!(e.workload.weight("append"), 50);
    assert_eq!(e.workload.weight("write"), 0);
    assert_eq!(e.checker.model.as_deref(), Some("serializable"));
    // The default model of a list-append workload.
    let plain = MINIMAL.replace(
        "client = \"etcd\"",
        "kind = \"list-append\"\nclient = \"etcd\"",
    );
    let e = parse(&plain, "m.toml").unwrap().experiment;
    assert_eq!(e.checker.model, None);
    assert_eq!(
        e.checker.model_for(e.workload.kind),
        Some("strict-serializable")
    );
    let bad = |text: &str| parse(text, "m.toml").unwrap_err();
    assert_eq!(
        bad(&format!("{MINIMAL}[checker]\nmodel = \"serializable\"\n"))
            .field
            .as_deref(),
        Some("checker.model")
    );
    let e = bad(&(plain.clone() + "[checker]\nmodel = \"eventual\"\n"));
    assert!(e.to_string().contains("strict-serializable"), "{e}");
    let e = bad(&plain.replace(
        "client = \"etcd\"",
        "client = \"etcd\"\nmix = { write = 5 }",
    ));
    assert_eq!(e.field.as_deref(), Some("workload.mix.write"), "{e}");
    assert!(e.to_string().contains("its mix takes: read, append"), "{e}");
    // A field of another workload says which one it goes with; a typo of a
    // field says what it may have meant.
    let e = bad(&MINIMAL.replace("client = \"etcd\"", "client = \"etcd\"\nclinets = 3"));
    assert_eq!(e.field.as_deref(), Some("workload.clinets"), "{e}");
    assert!(e.to_string().contains("did you mean `clients`?"), "{e}");
    let e = bad(&MINIMAL.replace("client = \"etcd\"", "kind = \"regster\"\nclient = \"etcd\""));
    assert!(e.to_string().contains("did you mean `register`?"), "{e}");
    let e = bad(&MINIMAL.replace("client = \"etcd\"", "client = \"etcd\"\nops_per_txn = 3"));
    assert_eq!(e.field.as_deref(), Some("workload.ops_per_txn"), "{e}");
    let e = bad(&plain.replace(
        "client = \"etcd\"",
        "client = \"etcd\"\nops_per_txn = [4, 2]",
    ));
    assert_eq!(e.field.as_deref(), Some("workload.ops_per_txn"), "{e}");
    let e = bad(&MINIMAL.replace("client = \"etcd\"", "kind = \"kv\"\nclient = \"etcd\""));
    assert_eq!(e.field.as_deref(), Some("workload.kind"), "{e}");
}

const SWARM: &str = r#"
name = "s"
duration = "10s"
[cluster]
orchestrator = "swarm"
stack = "st"
compose_file = "s.yml"
components = { db = ["a", "b", "c"] }
[cluster.nodes]
n1 = { docker = "tcp://127.0.0.1:23871", address = "127.0.0.1" }
n2 = { docker = "unix:///run/n2.sock", address = "10.0.0.2" }
[workload]
client = "etcd"
endpoints = ["a"]
"#;

#[test]
fn a_swarm_cluster_names_its_stack_and_nodes() {
    let e = parse(SWARM, "s.toml").unwrap().experiment;
    assert_eq!(e.cluster.project, "st");
    let nodes = e.cluster.orchestrator.swarm_nodes().unwrap();
    assert_eq!(nodes["n2"].docker, "unix:///run/n2.sock");
    assert_eq!(nodes["n2"].address, "10.0.0.2");
    // A compose experiment keeps the default, unserialized.
    let c = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert!(c.cluster.orchestrator.is_compose());
    assert!(
        !serde_json::to_string(&c.cluster)
            .unwrap()
            .contains("orchestrator")
    );
}

#[test]
fn swarm_nodes_take_a_tls_dir_for_tcp_and_an_ssh_config_for_ssh() {
    let text = SWARM
        .replace(
            "n1 = { docker = \"tcp://127.0.0.1:23871\", ",
            "n1 = { docker = \"tcp://127.0.0.1:23871\", tls_dir = \"~/.docker/n1\", ",
        )
        .replace(
            "n2 = { docker = \"unix:///run/n2.sock\", ",
            "n2 = { docker = \"ssh://root@10.0.0.2:2222\", ssh_config = \"/etc/chaos/ssh\", ",
        );
    let e = parse(&text, "s.toml").unwrap().experiment;
    let nodes = e.cluster.orchestrator.swarm_nodes().unwrap();
    assert_eq!(nodes["n1"].tls_dir.as_deref(), Some("~/.docker/n1"));
    assert_eq!(nodes["n2"].ssh_config.as_deref(), Some("/etc/chaos/ssh"));
    assert_eq!(nodes["n2"].docker, "ssh://root@10.0.0.2:2222");
    // Each option with the other scheme, or relative, is refused at its field.
    let case = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        let e = parse(&text.replace(from, to), "s.toml").unwrap_err();
        (e.field.clone().unwrap_or_default(), e.to_string())
    };
    let (f, m) = case("tls_dir = \"~/.docker/n1\"", "ssh_config = \"/x\"");
    assert_eq!(f, "cluster.nodes.n1.ssh_config", "{m}");
    assert!(m.contains("goes with a `ssh://` engine"), "{m}");
    let (f, m) = case("ssh_config = \"/etc/chaos/ssh\"", "tls_dir = \"/x\"");
    assert_eq!(f, "cluster.nodes.n2.tls_dir", "{m}");
    assert!(m.contains("goes with a `tcp://` engine"), "{m}");
    let (f, m) = case("\"~/.docker/n1\"", "\"certs\"");
    assert_eq!(f, "cluster.nodes.n1.tls_dir", "{m}");
    assert!(m.contains("not an absolute path"), "{m}");
    let (f, m) = case("ssh://root@10.0.0.2:2222", "ssh://root@10.0.0.2:ssh");
    assert_eq!(f, "cluster.nodes.n2.docker", "{m}");
    assert!(m.contains("ssh://[user@]host[:port]"), "{m}");
    let (f, m) = case("tls_dir", "tls");
    assert_eq!(f, "cluster.nodes.n1.tls", "{m}");
    assert!(m.contains("unknown field `tls`"), "{m}");
}

#[test]
fn bad_swarm_clusters_point_at_the_field_and_line() {
    let case = |from: &str, to: &str| {
        assert!(SWARM.contains(from), "{from}");
        let e = parse(&SWARM.replace(from, to), "s.toml").unwrap_err();
        (
            e.field.clone().unwrap_or_default(),
            e.position.map(|p| p.0),
            e.to_string(),
        )
    };
    let (f, line, m) = case("address = \"10.0.0.2\"", "");
    assert_eq!((f.as_str(), line), ("cluster.nodes.n2", Some(11)), "{m}");
    assert!(m.contains("no `address`"), "{m}");
    let (f, _, m) = case("docker = \"unix:///run/n2.sock\", ", "");
    assert_eq!(f, "cluster.nodes.n2", "{m}");
    assert!(m.contains("no `docker`"), "{m}");
    let (f, line, m) = case("unix:///run/n2.sock", "http://x");
    assert_eq!(
        (f.as_str(), line),
        ("cluster.nodes.n2.docker", Some(11)),
        "{m}"
    );
    let (f, _, m) = case("orchestrator = \"swarm\"", "orchestrator = \"nomad\"");
    assert_eq!(f, "cluster.orchestrator", "{m}");
    let (f, _, m) = case("stack = \"st\"", "project = \"st\"");
    assert_eq!(f, "cluster.project", "{m}");
    assert!(m.contains("stack"), "{m}");
    let (f, _, m) = case(
        "n1 = { docker = \"tcp://127.0.0.1:23871\", address = \"127.0.0.1\" }\nn2 = { docker = \"unix:///run/n2.sock\", address = \"10.0.0.2\" }\n",
        "",
    );
    assert_eq!(f, "cluster.nodes", "{m}");
    // Nodes without a Swarm are refused too.
    let text = MINIMAL.replace(
        "[workload]",
        "[cluster.nodes]\nn1 = { docker = \"tcp://h:1\", address = \"h\" }\n[workload]",
    );
    let e = parse(&text, "m.toml").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("cluster.nodes"), "{e}");
}

#[test]
fn type_errors_speak_the_files_terms_not_rusts() {
    let text = MINIMAL.replace("client = \"etcd\"", "client = \"etcd\"\nclients = \"four\"");
    let err = parse(&text, "m.toml").unwrap_err().to_string();
    assert!(err.contains("expected a whole number, 0 or more"), "{err}");
    assert!(!err.contains("u64") && !err.contains("usize"), "{err}");

    assert_eq!(
        in_file_terms(r#"invalid type: string "5%", expected f64"#),
        r#"invalid type: string "5%", expected a number (a percentage is a bare number here: 5)"#
    );
    assert_eq!(
        in_file_terms("invalid type: map, expected a sequence"),
        "invalid type: table, expected an array"
    );
    // Not a percentage, no mend; a word that only starts like a Rust type
    // stays.
    assert_eq!(
        in_file_terms(r#"invalid type: string "x", expected f64"#),
        r#"invalid type: string "x", expected a number"#
    );
    assert_eq!(in_file_terms("expected u80"), "expected u80");
}

#[test]
fn expect_is_valid_unless_a_control_says_invalid() {
    let e = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert_eq!(e.expect, Expect::Valid);
    let control = MINIMAL.replacen("duration", "expect = \"invalid\"\nduration", 1);
    assert_eq!(
        parse(&control, "m.toml").unwrap().experiment.expect,
        Expect::Invalid
    );
    let bad = MINIMAL.replacen("duration", "expect = \"flagged\"\nduration", 1);
    let err = parse(&bad, "m.toml").unwrap_err().to_string();
    assert!(
        err.contains(
            "expect: `flagged` is not an expectation; expected `valid` (the default) or `invalid`"
        ),
        "{err}"
    );
}

#[test]
fn power_loss_disk_full_and_io_errors_can_damage_a_store() {
    let with = |fault: &str| {
        let text = format!(
            "{MINIMAL}[[nemesis]]\nfault = \"{fault}\"\ntargets = {{ component = \"db\" }}\n\
             schedule = {{ interval = \"2s\", duration = \"1s\" }}\n"
        );
        parse(&text, "m.toml")
            .unwrap()
            .experiment
            .can_damage_store()
    };
    assert!(with("power-loss"));
    assert!(with("disk-full"));
    assert!(!with("kill"));
    assert!(!with("pause"));
    assert!(
        !parse(MINIMAL, "m.toml")
            .unwrap()
            .experiment
            .can_damage_store()
    );
}

#[test]
fn netem_takes_duplicate_corrupt_and_reorder_in_percent() {
    let nemesis = |fields: &str| {
        format!(
            "{MINIMAL}[[nemesis]]\nfault = \"netem\"\n{fields}\ntargets = {{ component = \"db\" }}\n\
             schedule = {{ interval = \"2s\", duration = \"1s\" }}\n"
        )
    };
    let fault = |fields: &str| {
        parse(&nemesis(fields), "m.toml")
            .unwrap()
            .experiment
            .nemeses[0]
            .fault
            .clone()
    };
    let f = fault("delay = \"200ms\"\nduplicate = 1\ncorrupt = 0.5\nreorder = 25");
    assert_eq!(
        f,
        Fault::Netem {
            delay: Duration::from_millis(200),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 1.0,
            corrupt: 0.5,
            reorder: 25.0,
        }
    );
    assert_eq!(
        f.describe(),
        "netem delay 200ms±0ms loss 0% duplicate 1% corrupt 0.5% reorder 25%"
    );
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["kind"], "netem");
    assert_eq!(json["duplicate"], 1.0);
    assert_eq!(json["corrupt"], 0.5);
    assert_eq!(json["reorder"], 25.0);
    // The shares default to 0 and are left out of the description; a
    // duplicate or a corrupt alone is a netem that does something.
    let f = fault("loss = 5");
    assert_eq!(f.describe(), "netem delay 0ms±0ms loss 5%");
    assert!(matches!(
        f,
        Fault::Netem { duplicate, corrupt, reorder, .. }
            if duplicate == 0.0 && corrupt == 0.0 && reorder == 0.0
    ));
    assert_eq!(
        fault("duplicate = 100").describe(),
        "netem delay 0ms±0ms loss 0% duplicate 100%"
    );
    fault("corrupt = 0.1");

    // Errors name the field and its line (the fields start at line 13).
    let err = |fields: &str| parse(&nemesis(fields), "m.toml").unwrap_err();
    for field in ["duplicate", "corrupt", "reorder"] {
        let e = err(&format!("delay = \"10ms\"\n{field} = 101"));
        assert_eq!(
            e.field.as_deref(),
            Some(format!("nemesis[0].{field}").as_str())
        );
        assert_eq!(e.position.map(|p| p.0), Some(14), "{e}");
        assert!(
            e.to_string()
                .contains("101 is out of range; expected a percentage from 0 to 100"),
            "{e}"
        );
        let e = err(&format!("delay = \"10ms\"\n{field} = -1"));
        assert!(e.to_string().contains("out of range"), "{e}");
    }
    let e = err("reorder = 25");
    assert_eq!(e.field.as_deref(), Some("nemesis[0].reorder"));
    assert_eq!(e.position.map(|p| p.0), Some(13), "{e}");
    assert!(
        e.to_string().contains("`reorder` needs a `delay` above 0s"),
        "{e}"
    );
    let e = err("delay = \"0s\"\nloss = 1\nreorder = 25");
    assert!(e.to_string().contains("needs a `delay`"), "{e}");
    let e = err("reorder = 0");
    assert_eq!(e.field.as_deref(), Some("nemesis[0].fault"));
    assert!(e.to_string().contains("would do nothing"), "{e}");
    // They belong to netem only.
    let text =
        nemesis("delay = \"10ms\"").replace("\"netem\"", "\"loss\"\nloss = 5\nduplicate = 1");
    let text = text.replace("delay = \"10ms\"\n", "");
    let e = parse(&text, "m.toml").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("nemesis[0].duplicate"), "{e}");
    assert!(
        e.to_string()
            .contains("`duplicate` applies to `fault = \"netem\"` only, not `loss`"),
        "{e}"
    );
}

const PROCESS: &str = r#"
name = "m"
duration = "10s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["a", "b", "c"] }
[workload]
client = "process"
endpoints = ["a"]
[workload.adapter]
command = ["python3", "adapter.py", "--fast"]
port = 5432
options = { isolation = "serializable", retries = 2 }
"#;

#[test]
fn a_process_client_names_its_adapter() {
    let e = parse(PROCESS, "m.toml").unwrap().experiment;
    assert_eq!(e.workload.client, ClientKind::Process);
    let a = e.workload.adapter.as_ref().unwrap();
    assert_eq!(a.command, ["python3", "adapter.py", "--fast"]);
    assert_eq!(a.port, 5432);
    assert_eq!(
        a.options,
        serde_json::json!({"isolation": "serializable", "retries": 2})
    );
    // Other clients have none, and their plan's JSON does not change.
    let etcd = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert_eq!(etcd.workload.adapter, None);
    assert!(!serde_json::to_string(&etcd).unwrap().contains("adapter"));
}

#[test]
fn bad_adapters_point_at_the_field_and_line() {
    let cases: &[(String, &str)] = &[
        (
            PROCESS.replace(
                "[workload.adapter]\ncommand = [\"python3\", \"adapter.py\", \"--fast\"]\nport = 5432\noptions = { isolation = \"serializable\", retries = 2 }\n",
                "",
            ),
            "m.toml:9:10: workload.client: a process client needs `[workload.adapter]`",
        ),
        (
            PROCESS.replace("[\"python3\", \"adapter.py\", \"--fast\"]", "[]"),
            "m.toml:12:11: workload.adapter.command: empty; expected the program",
        ),
        (
            PROCESS.replace("[\"python3\", \"adapter.py\", \"--fast\"]", "[\" \"]"),
            "workload.adapter.command[0]: empty",
        ),
        (
            PROCESS.replace("port = 5432", "port = 0"),
            "m.toml:13:8: workload.adapter.port: 0 is no port",
        ),
        (
            PROCESS.replace("port = 5432", "port = 70000"),
            "m.toml:13:8: workload.adapter.port:",
        ),
        (
            PROCESS.replace("port = 5432", "port = 5432\nprot = 1"),
            "workload.adapter.prot: unknown field `prot`",
        ),
        (
            PROCESS.replace("client = \"process\"", "client = \"etcd\""),
            "workload.adapter: `[workload.adapter]` goes with `client = \"process\"`, not with the etcd client",
        ),
        (
            PROCESS.replace("client = \"process\"", "client = \"proces\""),
            "workload.client: unknown client `proces`; expected one of: etcd, surrealdb, postgres, process; did you mean `process`?",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let e = parse(text, "m.toml").unwrap_err().to_string();
        if !e.contains(want) {
            wrong.push(format!("want {want}\n got {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_adapters_hello_decides_its_workload_and_leader_faults() {
    let leader = format!(
        "{PROCESS}[[nemesis]]\nfault = \"kill\"\ntargets = {{ role = \"leader\", component = \"db\" }}\n\
         schedule = {{ interval = \"2s\", duration = \"1s\" }}\n"
    );
    let p = parse(&leader, "m.toml").unwrap();
    let facts = |serves: &[&str], leader: bool| AdapterFacts {
        serves: serves.iter().map(|s| s.to_string()).collect(),
        leader,
    };
    assert_eq!(p.check_adapter(&facts(&["register"], true)), Ok(()));
    let e = p
        .check_adapter(&facts(&["register"], false))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("m.toml:17:") && e.contains(": nemesis[0].targets.role: a fault on a role needs an adapter that answers `leader`"),
        "{e}"
    );
    let e = p
        .check_adapter(&facts(&["list-append"], true))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("workload.kind: the adapter does not serve a register workload; its hello says it serves: list-append"),
        "{e}"
    );
    // Exact faults on a role too; faults on services need no leader.
    let exact = format!(
        "{PROCESS}[[nemesis]]\nfault = \"kill\"\nfaults = [{{ at = \"1s\", duration = \"1s\", services = [\"a\"] }}, \
         {{ at = \"3s\", duration = \"1s\", role = \"leader\", component = \"db\" }}]\n"
    );
    let p = parse(&exact, "m.toml").unwrap();
    let e = p
        .check_adapter(&facts(&["register"], false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nemesis[0].faults[1].role"), "{e}");
    let services = format!(
        "{PROCESS}[[nemesis]]\nfault = \"kill\"\ntargets = {{ services = [\"a\"] }}\n\
         schedule = {{ interval = \"2s\", duration = \"1s\" }}\n"
    );
    let p = parse(&services, "m.toml").unwrap();
    assert_eq!(p.check_adapter(&facts(&["register"], false)), Ok(()));
    // Another client's experiment is not an adapter's business.
    let p = parse(MINIMAL, "m.toml").unwrap();
    assert_eq!(p.check_adapter(&facts(&[], false)), Ok(()));
}

const POSTGRES: &str = r#"
name = "pg"
duration = "10s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { postgres = ["primary", "replica"] }
[workload]
client = "postgres"
endpoints = ["primary"]
"#;

#[test]
fn postgres_isolation_defaults_to_serializable_and_names_its_levels() {
    let e = parse(POSTGRES, "pg.toml").unwrap().experiment;
    assert_eq!(e.workload.client, ClientKind::Postgres);
    assert_eq!(e.workload.isolation, Some(Isolation::Serializable));
    assert!(e.workload.read_endpoints.is_empty());
    for (text, level) in [
        ("serializable", Isolation::Serializable),
        ("repeatable-read", Isolation::RepeatableRead),
        ("read-committed", Isolation::ReadCommitted),
    ] {
        let t = POSTGRES.replace(
            "endpoints = [\"primary\"]",
            &format!("endpoints = [\"primary\"]\nisolation = \"{text}\""),
        );
        let e = parse(&t, "pg.toml").unwrap().experiment;
        assert_eq!(e.workload.isolation, Some(level), "{text}");
        assert_eq!(level.name(), text);
    }
    // Other clients have no level, and the plan's JSON stays as it was.
    let etcd = parse(MINIMAL, "m.toml").unwrap().experiment;
    assert_eq!(etcd.workload.isolation, None);
    let json = serde_json::to_string(&etcd.workload).unwrap();
    assert!(
        !json.contains("isolation") && !json.contains("read_endpoints"),
        "{json}"
    );
}

#[test]
fn bad_isolation_and_read_endpoints_point_at_the_field() {
    let bad = |text: &str| {
        let e = parse(text, "pg.toml").unwrap_err();
        (e.field.clone().unwrap_or_default(), e.to_string())
    };
    let with = |extra: &str| {
        POSTGRES.replace(
            "endpoints = [\"primary\"]",
            &format!("endpoints = [\"primary\"]\n{extra}"),
        )
    };
    // A misspelt level: file, line, column, the levels, a suggestion.
    let (f, m) = bad(&with("isolation = \"read-comitted\""));
    assert_eq!(f, "workload.isolation");
    assert!(m.starts_with("pg.toml:11:13: workload.isolation: "), "{m}");
    assert!(
        m.contains("serializable, repeatable-read, read-committed")
            && m.contains("did you mean `read-committed`"),
        "{m}"
    );
    // A client without levels refuses the field.
    let etcd = MINIMAL.replace(
        "endpoints = [\"a\"]",
        "endpoints = [\"a\"]\nisolation = \"serializable\"",
    );
    let (f, m) = bad(&etcd);
    assert_eq!(f, "workload.isolation");
    assert!(m.contains("the etcd client has no isolation level"), "{m}");
    // Read endpoints: a node of a component, not serializable (the default
    // included), and only where the client reads elsewhere.
    let (f, m) = bad(&with(
        "isolation = \"read-committed\"\nread_endpoints = [\"nope\"]",
    ));
    assert_eq!(f, "workload.read_endpoints[0]", "{m}");
    let (f, m) = bad(&with("read_endpoints = [\"replica\"]"));
    assert_eq!(f, "workload.read_endpoints", "{m}");
    assert!(
        m.contains("`serializable`") && m.contains("the default"),
        "{m}"
    );
    let (f, m) = bad(&with(
        "isolation = \"serializable\"\nread_endpoints = [\"replica\"]",
    ));
    assert_eq!(f, "workload.isolation", "{m}");
    assert!(m.contains("repeatable-read, read-committed"), "{m}");
    let (f, m) = bad(&with(
        "kind = \"list-append\"\nisolation = \"read-committed\"\nread_endpoints = [\"replica\"]",
    ));
    assert_eq!(f, "workload.read_endpoints", "{m}");
    assert!(m.contains("only in a register workload"), "{m}");
    let etcd = MINIMAL.replace(
        "endpoints = [\"a\"]",
        "endpoints = [\"a\"]\nread_endpoints = [\"b\"]",
    );
    let (f, m) = bad(&etcd);
    assert_eq!(f, "workload.read_endpoints", "{m}");
    assert!(m.contains("reads where it writes"), "{m}");
    // Every workload is served, the bank too; its reads stay on the
    // primary (read endpoints serve registers only).
    let bank = parse(&with("kind = \"bank\""), "pg.toml")
        .unwrap()
        .experiment;
    assert_eq!(bank.workload.kind.name(), "bank");
    let (f, m) = bad(&with("kind = \"bank\"\nread_endpoints = [\"replica\"]"));
    assert_eq!(f, "workload.read_endpoints", "{m}");
    // And the good one.
    let e = parse(
        &with("isolation = \"read-committed\"\nread_endpoints = [\"replica\"]"),
        "pg.toml",
    )
    .unwrap()
    .experiment;
    assert_eq!(e.workload.read_endpoints, ["replica"]);
}
