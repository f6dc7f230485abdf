//! `chaos completions bash|zsh|fish` and `chaos man`: shell completions
//! (clap_complete) and a man page (clap_mangen, roff), both made from the
//! clap definitions in [`super::Cli`], so they name exactly the
//! subcommands and flags this chaos has.
//!
//! Shell only in that it writes to standard output; the text is made by
//! [`completions`] and [`man_page`], which are pure. Exit 0 when written;
//! 2 for a shell it does not know (clap says which it knows); 4 when
//! standard output cannot be written.

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, CliError, CliResult, Outcome};

/// The shells completions are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Arguments of `chaos completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Arguments of `chaos man`.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// The command line as users see it: [`Cli`] without its hidden
/// subcommands (clap_complete would offer them).
fn public_command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("chaos")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    for a in full.get_arguments() {
        cmd = cmd.arg(a.clone());
    }
    cmd.subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// The completion script of `shell` for chaos. Pure.
pub fn completions(shell: Shell) -> String {
    let mut cmd = public_command();
    let mut out = Vec::new();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "chaos", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "chaos", &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "chaos", &mut out)
        }
    }
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// chaos(1) in roff: the top-level page, then a section per subcommand
/// (its about, its options). Pure.
pub fn man_page() -> String {
    let cmd = public_command().after_help(super::AFTER_HELP);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("rendering to memory does not fail");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("chaos {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(name));
        let mut text = Vec::new();
        man.render_synopsis_section(&mut text)
            .and_then(|()| man.render_description_section(&mut text))
            .and_then(|()| man.render_options_section(&mut text))
            .and_then(|()| man.render_subcommands_section(&mut text))
            .and_then(|()| man.render_extra_section(&mut text))
            .expect("rendering to memory does not fail");
        let text = String::from_utf8(text).expect("clap_mangen writes UTF-8");
        // Each subcommand's sections become subsections of its own section.
        let head = format!(".SH \"CHAOS {}\"\n", sub.get_name().to_uppercase());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(text.replace(".SH ", ".SS ").as_bytes());
    }
    String::from_utf8(out).expect("clap_mangen writes UTF-8")
}

pub fn run_completions(args: &CompletionsArgs) -> CliResult {
    super::print_stdout(&completions(args.shell))?;
    Ok(Outcome::Success)
}

pub fn run_man(_: &ManArgs) -> Result<Outcome, CliError> {
    super::print_stdout(&man_page())?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn every_shell_completes_every_subcommand() {
        let subs = visible_subcommands();
        for needed in [
            "run",
            "bundle",
            "doctor",
            "completions",
            "man",
            "runs",
            "daemon",
        ] {
            assert!(subs.iter().any(|s| s == needed), "{needed} in {subs:?}");
        }
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = completions(shell);
            for sub in &subs {
                let named = match shell {
                    // bash: a case arm per subcommand path (`chaos,bundle)`).
                    Shell::Bash => script.contains(&format!("chaos,{sub})")),
                    // zsh: `'bundle:...'` in the subcommand list.
                    Shell::Zsh => script.contains(&format!("'{sub}:")),
                    // fish: `-a "bundle"` offered when no subcommand is given.
                    Shell::Fish => script.contains(&format!("-a \"{sub}\"")),
                };
                assert!(named, "{shell:?} completions lack `{sub}`");
            }
            assert!(
                !script.contains("nemesis-apply"),
                "{shell:?}: a hidden test command is completed"
            );
        }
    }

    #[test]
    fn the_man_page_has_a_section_per_subcommand() {
        let page = man_page();
        assert!(
            page.starts_with(".ie") || page.contains(".TH chaos"),
            "{}",
            &page[..200]
        );
        for sub in visible_subcommands() {
            assert!(
                page.contains(&format!(".SH \"CHAOS {}\"", sub.to_uppercase())),
                "man page lacks {sub}"
            );
        }
        assert!(!page.contains("NEMESIS-APPLY"));
    }
}
