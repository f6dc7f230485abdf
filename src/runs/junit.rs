//! Runs as JUnit XML (`chaos run --junit FILE`, for one run or a sweep), so
//! that a CI server shows chaos runs as tests: one test suite per
//! experiment, one test case per run (`seed N`) and one per anomaly kind a
//! run found (`seed N: stale-read`). A case passes when its run met the
//! experiment's expectation (`expect`): for a known-bad control
//! (`expect = "invalid"`), a run with anomalies passes and one without
//! fails. A run chaos could not carry out is an `<error>`.
//!
//! Pure: runs in, XML text out (the shell writes the file). Must not depend
//! on the store, the engine or the CLI.

use std::fmt::Write as _;

use super::sweep::SweepRun;
use super::{Judgement, judge};
use crate::experiment::Expect;

/// Text safe inside an XML attribute or element: the five entities
/// escaped, characters XML 1.0 cannot hold dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// One test case, before it is written.
struct Case {
    name: String,
    time_s: f64,
    /// `None`: passed; else (element, type, message, details).
    problem: Option<(&'static str, &'static str, String, String)>,
    out: String,
}

fn cases(expect: Expect, run: &SweepRun) -> Vec<Case> {
    match run {
        SweepRun::Failed { seed, error } => vec![Case {
            name: format!("seed {seed}"),
            time_s: 0.0,
            problem: Some((
                "error",
                "chaos-failed",
                super::first_line(error),
                error.clone(),
            )),
            out: String::new(),
        }],
        SweepRun::Ran { summary: s, .. } => {
            let out = format!("run directory: {}\nrerun: {}\n", s.run_dir, s.rerun);
            let problem = match judge(expect, s) {
                Judgement::Met => None,
                Judgement::NotMet(why) => Some(("failure", "not-as-expected", why, String::new())),
                Judgement::Undecided(why) => Some(("failure", "unknown", why, String::new())),
                Judgement::Incomplete(why) => Some(("error", "incomplete", why, String::new())),
            };
            let mut list = vec![Case {
                name: format!("seed {}", s.seed),
                time_s: s.duration_s,
                problem,
                out: out.clone(),
            }];
            for k in &s.anomaly_kinds {
                let why = format!("{} anomalies of kind {}", k.count, k.kind);
                list.push(Case {
                    name: format!("seed {}: {}", s.seed, k.kind),
                    time_s: 0.0,
                    problem: match expect {
                        // A control's anomalies are what it is there for.
                        Expect::Invalid => None,
                        Expect::Valid => Some(("failure", "anomaly", why, k.example.clone())),
                    },
                    out: out.clone(),
                });
            }
            list
        }
    }
}

/// One experiment's runs, for [`render_suites`].
#[derive(Debug, Clone)]
pub struct Suite {
    pub experiment: String,
    /// The experiment file.
    pub file: String,
    pub expect: Expect,
    pub runs: Vec<SweepRun>,
    /// The first run's start (RFC 3339).
    pub timestamp: String,
}

/// The JUnit XML of an experiment's runs. `timestamp` is the first run's
/// start (RFC 3339), `file` the experiment file.
pub fn render(
    experiment: &str,
    file: &str,
    expect: Expect,
    runs: &[SweepRun],
    timestamp: &str,
) -> String {
    render_suites(&[Suite {
        experiment: experiment.to_string(),
        file: file.to_string(),
        expect,
        runs: runs.to_vec(),
        timestamp: timestamp.to_string(),
    }])
}

/// The JUnit XML of several experiments' runs (a campaign's): one test
/// suite per experiment, in the order given.
pub fn render_suites(suites: &[Suite]) -> String {
    let all: Vec<Vec<Case>> = suites
        .iter()
        .map(|s| s.runs.iter().flat_map(|r| cases(s.expect, r)).collect())
        .collect();
    let count = |cases: &[Case], what: &str| {
        cases
            .iter()
            .filter(|c| c.problem.as_ref().is_some_and(|p| p.0 == what))
            .count()
    };
    let time = |cases: &[Case]| -> f64 { cases.iter().map(|c| c.time_s).sum() };
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"chaos\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
        all.iter().map(Vec::len).sum::<usize>(),
        all.iter().map(|c| count(c, "failure")).sum::<usize>(),
        all.iter().map(|c| count(c, "error")).sum::<usize>(),
        all.iter().map(|c| time(c)).sum::<f64>()
    );
    for (suite, cases) in suites.iter().zip(&all) {
        write_suite(
            &mut x,
            suite,
            cases,
            time(cases),
            count(cases, "failure"),
            count(cases, "error"),
        );
    }
    x.push_str("</testsuites>\n");
    x
}

fn write_suite(x: &mut String, s: &Suite, all: &[Case], time: f64, failures: usize, errors: usize) {
    let class = escape(&format!("chaos.{}", s.experiment));
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\">",
        escape(&s.experiment),
        all.len(),
        escape(s.timestamp.trim_end_matches('Z'))
    );
    x.push_str("    <properties>\n");
    for (k, v) in [("file", s.file.as_str()), ("expect", s.expect.as_str())] {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", escape(v));
    }
    x.push_str("    </properties>\n");
    for c in all {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{class}\" time=\"{:.3}\">",
            escape(&c.name),
            c.time_s
        );
        if let Some((element, kind, message, details)) = &c.problem {
            let _ = write!(
                x,
                "\n      <{element} type=\"{kind}\" message=\"{}\">{}</{element}>",
                escape(message),
                escape(details)
            );
        }
        if !c.out.is_empty() {
            let _ = write!(x, "\n      <system-out>{}</system-out>", escape(&c.out));
        }
        if c.problem.is_some() || !c.out.is_empty() {
            x.push_str("\n    ");
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("  </testsuite>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::tests::summary;

    /// The attribute `name` of the first element `tag` in `xml`.
    fn attr(xml: &str, tag: &str, name: &str) -> String {
        let start = xml.find(&format!("<{tag} ")).expect("the element is there");
        let rest = &xml[start..];
        let at = rest
            .find(&format!(" {name}=\""))
            .expect("the attribute is there")
            + name.len()
            + 3;
        rest[at..].split('"').next().unwrap().to_string()
    }

    #[test]
    fn escaping_keeps_xml_well_formed() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("x\u{1b}[31my\n"), "x[31my\n");
    }

    #[test]
    fn a_correct_setup_fails_on_each_anomaly_kind() {
        let v = Expect::Valid;
        let runs = vec![
            SweepRun::ran(v, summary("kill")),
            SweepRun::ran(v, summary("stale")),
            SweepRun::Failed {
                seed: 9,
                error: "Docker <unreachable>".into(),
            },
        ];
        let x = render(
            "etcd-x",
            "experiments/x.toml",
            v,
            &runs,
            "2026-12-07T18:00:00.000Z",
        );
        // seed 1, seed 3, seed 3: stale-read, seed 9.
        assert_eq!(attr(&x, "testsuite", "tests"), "4");
        assert_eq!(attr(&x, "testsuite", "failures"), "2");
        assert_eq!(attr(&x, "testsuite", "errors"), "1");
        assert_eq!(
            attr(&x, "testsuite", "timestamp"),
            "2026-12-07T18:00:00.000"
        );
        assert!(
            x.contains("<testcase name=\"seed 1\" classname=\"chaos.etcd-x\""),
            "{x}"
        );
        assert!(
            x.contains(
                "<failure type=\"not-as-expected\" message=\"anomalies found: stale-read\">"
            ),
            "{x}"
        );
        assert!(x.contains("<testcase name=\"seed 3: stale-read\""), "{x}");
        assert!(x.contains("<failure type=\"anomaly\""), "{x}");
        assert!(
            x.contains("<error type=\"chaos-failed\" message=\"Docker &lt;unreachable&gt;\">"),
            "{x}"
        );
        assert!(
            x.contains("<system-out>run directory: results/stale\nrerun: chaos run"),
            "{x}"
        );
        assert_eq!(
            x.matches("<testcase ").count(),
            x.matches("</testcase>").count()
        );
    }

    #[test]
    fn a_campaign_has_a_suite_per_experiment_and_the_totals_of_all() {
        let v = Expect::Valid;
        let suite = |name: &str, expect, runs| Suite {
            experiment: name.into(),
            file: format!("experiments/{name}.toml"),
            expect,
            runs,
            timestamp: "2026-12-07T18:00:00.000Z".into(),
        };
        let x = render_suites(&[
            suite(
                "etcd-kill",
                v,
                vec![
                    SweepRun::ran(v, summary("kill")),
                    SweepRun::ran(v, summary("stale")),
                ],
            ),
            suite(
                "control",
                Expect::Invalid,
                vec![
                    SweepRun::ran(Expect::Invalid, summary("stale")),
                    SweepRun::Failed {
                        seed: 4,
                        error: "the project is in use".into(),
                    },
                ],
            ),
        ]);
        // etcd-kill: seed 1, seed 3, seed 3: stale-read (2 failures);
        // control: seed 3, seed 3: stale-read (passed), seed 4 (error).
        assert_eq!(attr(&x, "testsuites", "tests"), "6");
        assert_eq!(attr(&x, "testsuites", "failures"), "2");
        assert_eq!(attr(&x, "testsuites", "errors"), "1");
        assert_eq!(x.matches("<testsuite ").count(), 2);
        let control = &x[x.find("<testsuite name=\"control\"").unwrap()..];
        assert_eq!(attr(control, "testsuite", "tests"), "3");
        assert_eq!(attr(control, "testsuite", "failures"), "0");
        assert_eq!(attr(control, "testsuite", "errors"), "1");
        assert!(control.contains("classname=\"chaos.control\""), "{x}");
        assert!(x.contains("classname=\"chaos.etcd-kill\""), "{x}");
        // One suite is what a single experiment's render gives.
        let one = render(
            "etcd-kill",
            "experiments/etcd-kill.toml",
            v,
            &[SweepRun::ran(v, summary("kill"))],
            "t",
        );
        let same = render_suites(&[suite(
            "etcd-kill",
            v,
            vec![SweepRun::ran(v, summary("kill"))],
        )]);
        assert_eq!(
            one.replace("timestamp=\"t\"", ""),
            same.replace("timestamp=\"2026-12-07T18:00:00.000\"", "")
        );
    }

    #[test]
    fn a_control_passes_when_it_finds_its_anomaly() {
        let c = Expect::Invalid;
        let caught = render("c", "c.toml", c, &[SweepRun::ran(c, summary("stale"))], "t");
        assert_eq!(attr(&caught, "testsuite", "tests"), "2");
        assert_eq!(attr(&caught, "testsuite", "failures"), "0");
        assert!(!caught.contains("<failure"), "{caught}");
        assert!(caught.contains("<property name=\"expect\" value=\"invalid\"/>"));
        let missed = render("c", "c.toml", c, &[SweepRun::ran(c, summary("kill"))], "t");
        assert_eq!(attr(&missed, "testsuite", "failures"), "1");
        assert!(missed.contains("known-bad control"), "{missed}");
    }
}
