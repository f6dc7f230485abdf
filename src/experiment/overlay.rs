//! The compose override a run lays over the project's compose file when
//! its faults need something of the target's container: chaos-fs under the
//! data for disk faults (the FUSE device, CAP_SYS_ADMIN, an unconfined
//! AppArmor profile and `CHAOS_FS`), libfaketime for clock faults
//! (`CHAOS_FAKETIME`). The images' entrypoint (`chaos-entrypoint`) reads
//! those switches; without them the database runs exactly as before, so an
//! experiment without such faults gets no override at all.
//!
//! Which services: every service a disk or clock fault may strike (a
//! role's or a component's every node, a `one_of` set's every member), so
//! the seed's choice at run time always finds the layer there.
//!
//! Pure: an experiment in, YAML text out. The shell writes it beside the
//! run (`compose.override.yml`) and passes it to compose as a second `-f`.

use std::collections::BTreeMap;

use super::{ChaosFsMode, Experiment, ExplicitTargets, Nemesis, TargetSelector, Timing};

/// What one service needs in its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Run the data through chaos-fs, in this mode.
    pub chaos_fs: Option<ChaosFsMode>,
    /// Preload libfaketime.
    pub faketime: bool,
}

/// Every service a nemesis may strike.
fn candidates(n: &Nemesis, components: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let component = |c: &str| components.get(c).cloned().unwrap_or_default();
    match &n.timing {
        Timing::Scheduled { targets, .. } => match targets {
            TargetSelector::Services(s) | TargetSelector::OneOf(s) => s.clone(),
            TargetSelector::SomeOf { set, .. } => set.clone(),
            TargetSelector::Component(c) => component(c),
            TargetSelector::Role { component: c, .. } => component(c),
        },
        Timing::Explicit(faults) => faults
            .iter()
            .flat_map(|f| match &f.targets {
                ExplicitTargets::Services(s) => s.clone(),
                ExplicitTargets::Role { component: c, .. } => component(c),
                ExplicitTargets::Drops(d) => d.keys().cloned().collect(),
            })
            .collect(),
    }
}

/// The services that need something, and what.
pub fn needs(experiment: &Experiment) -> BTreeMap<String, Needs> {
    let mut out: BTreeMap<String, Needs> = BTreeMap::new();
    for n in &experiment.nemeses {
        let fs = n.fault.needs_chaos_fs();
        let clock = n.fault.needs_faketime();
        if !fs && !clock {
            continue;
        }
        for s in candidates(n, &experiment.cluster.components) {
            let e = out.entry(s).or_default();
            if fs {
                e.chaos_fs = Some(experiment.cluster.chaos_fs);
            }
            e.faketime |= clock;
        }
    }
    out
}

/// The override's YAML (`None` when nothing is needed). `version` is the
/// project file's `version:` (compose v1 refuses files of different
/// versions together), if it has one. `clock_dir` gives a clock fault's
/// target the host directory mounted at `/run/chaos`, where chaos writes
/// its libfaketime offset.
pub fn override_yaml(
    needs: &BTreeMap<String, Needs>,
    version: Option<&str>,
    clock_dir: &dyn Fn(&str) -> std::path::PathBuf,
) -> Option<String> {
    if needs.is_empty() {
        return None;
    }
    let mut out = String::from(
        "# Written by chaos for this run: the layers its faults need in these\n\
         # services' containers (docs/nemesis.md). Laid over the project's\n\
         # compose file with a second -f.\n",
    );
    if let Some(v) = version {
        out.push_str(&format!("version: \"{v}\"\n"));
    }
    out.push_str("services:\n");
    for (service, n) in needs {
        out.push_str(&format!("  {service}:\n"));
        if n.faketime {
            out.push_str(&format!(
                "    volumes: [{:?}]\n",
                format!("{}:/run/chaos", clock_dir(service).display())
            ));
        }
        if n.chaos_fs.is_some() {
            out.push_str("    devices: [\"/dev/fuse\"]\n");
            out.push_str("    cap_add: [\"SYS_ADMIN\"]\n");
            out.push_str("    security_opt: [\"apparmor:unconfined\"]\n");
        }
        out.push_str("    environment:\n");
        if let Some(mode) = n.chaos_fs {
            out.push_str(&format!("      CHAOS_FS: \"{}\"\n", mode.name()));
        }
        if n.faketime {
            out.push_str("      CHAOS_FAKETIME: \"1\"\n");
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "t"
duration = "30s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { etcd = ["e1", "e2", "e3"], other = ["o1"] }
[workload]
client = "etcd"
endpoints = ["e1"]
"#;

    fn parse(nemesis: &str) -> Experiment {
        crate::experiment::parse(&format!("{BASE}{nemesis}"), "t.toml")
            .unwrap()
            .experiment
    }

    fn no_clock(_: &str) -> std::path::PathBuf {
        panic!("no clock fault here")
    }

    #[test]
    fn a_clock_fault_preloads_libfaketime_with_its_offset_directory() {
        let e = parse(
            "[[nemesis]]\nfault = \"clock\"\noffset = \"-30s\"\ntargets = { services = [\"o1\"] }\n\
             schedule = { start = \"5s\", interval = \"5s\", duration = \"1s\" }\n",
        );
        let n = needs(&e);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["o1"]);
        let yaml = override_yaml(&n, None, &|s| format!("/state/clock/p/{s}").into()).unwrap();
        assert!(
            yaml.contains("  o1:\n    volumes: [\"/state/clock/p/o1:/run/chaos\"]\n"),
            "{yaml}"
        );
        assert!(yaml.contains("CHAOS_FAKETIME: \"1\""), "{yaml}");
        assert!(!yaml.contains("/dev/fuse"), "{yaml}");
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(
            v["services"]["o1"]["volumes"][0],
            "/state/clock/p/o1:/run/chaos"
        );
    }

    #[test]
    fn only_disk_and_clock_faults_get_an_override() {
        let e = parse(
            "[[nemesis]]\nfault = \"kill\"\ntargets = { services = [\"e1\"] }\n\
             schedule = { start = \"5s\", interval = \"5s\", duration = \"1s\" }\n",
        );
        assert!(needs(&e).is_empty());
        assert_eq!(override_yaml(&needs(&e), Some("2.4"), &no_clock), None);
    }

    #[test]
    fn every_service_a_disk_fault_may_strike_runs_on_chaos_fs() {
        let e = parse(
            "[[nemesis]]\nfault = \"power-loss\"\ntargets = { role = \"leader\", component = \"etcd\" }\n\
             schedule = { start = \"5s\", interval = \"5s\", duration = \"1s\" }\n",
        );
        let n = needs(&e);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["e1", "e2", "e3"]);
        let yaml = override_yaml(&n, Some("2.4"), &no_clock).unwrap();
        assert!(yaml.contains("version: \"2.4\"\n"), "{yaml}");
        assert!(yaml.contains("  e2:\n    devices: [\"/dev/fuse\"]\n    cap_add: [\"SYS_ADMIN\"]\n    security_opt: [\"apparmor:unconfined\"]\n    environment:\n      CHAOS_FS: \"lazy\"\n"), "{yaml}");
        assert!(!yaml.contains("o1"));
        // It is YAML compose can read: services with those keys.
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["services"]["e1"]["cap_add"][0], "SYS_ADMIN");
    }

    #[test]
    fn strict_mode_follows_the_cluster() {
        let text = format!("{BASE}[[nemesis]]\nfault = \"io-error\"\nshare = 10\ntargets = {{ services = [\"o1\"] }}\nschedule = {{ start = \"5s\", interval = \"5s\", duration = \"1s\" }}\n")
            .replace("project = \"p\"", "project = \"p\"\nchaos_fs = \"strict\"");
        let e = crate::experiment::parse(&text, "t.toml")
            .unwrap()
            .experiment;
        let yaml = override_yaml(&needs(&e), None, &no_clock).unwrap();
        assert!(yaml.contains("CHAOS_FS: \"strict\""), "{yaml}");
        assert!(!yaml.contains("version"), "{yaml}");
    }
}
