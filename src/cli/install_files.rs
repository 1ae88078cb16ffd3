//! What a package or an installing user puts beside the binary: shell completions
//! (`export-repair completions bash|zsh|fish`) and the manual page (`export-repair man`),
//! generated from the same definitions as `--help`, so they never drift from it.

use std::io::Write as _;

use clap::CommandFactory as _;

use super::args::{CompletionShell, CompletionsArgs, ManArgs};
use super::{CliError, ExitStatus};

/// Writes the completion script for the shell to stdout.
pub fn completions(args: &CompletionsArgs) -> Result<ExitStatus, CliError> {
    let shell = match args.shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut out);
    if shell == clap_complete::Shell::Bash {
        out = mend_bash(&String::from_utf8_lossy(&out)).into_bytes();
    }
    write_stdout(&out)
}

/// The command as installed.
const BIN: &str = "export-repair";

/// clap_complete 4.6 spells the state of a hyphenated binary's subcommands two ways
/// (clap-rs/clap#6421): the dispatch loop arrives at `export__repair__subcmd__repair`, the
/// arms are labelled `export__subcmd__repair__subcmd__repair`, so nothing after a subcommand
/// ever completes. The arms are relabelled the way the loop spells them.
fn mend_bash(script: &str) -> String {
    let escaped = BIN.replace('-', "__");
    let mislabelled = BIN.replace('-', "__subcmd__");
    script.replace(&mislabelled, &escaped)
}

/// Writes the manual page to stdout, or every page into `--out-dir`.
pub fn man(args: &ManArgs) -> Result<ExitStatus, CliError> {
    let command = super::Cli::command();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(command, dir))
                .map_err(|error| {
                    CliError::Usage(format!(
                        "cannot write the manual pages into {}: {error}",
                        dir.display()
                    ))
                })?;
            say!(
                "wrote the manual pages into {} (export-repair.1 and one per command)",
                dir.display()
            );
            Ok(ExitStatus::Verified)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(|error| {
                    CliError::Usage(format!("cannot render the manual page: {error}"))
                })?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<ExitStatus, CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitStatus::Verified),
        // A reader that stopped early (`| head`) is not an error worth a message.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitStatus::Verified),
        Err(error) => Err(CliError::Usage(format!("cannot write to stdout: {error}"))),
    }
}
