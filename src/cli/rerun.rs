//! The command that resumes a run, printed when one ends unfinished: the same repair file
//! and inputs; secrets are named by the environment variables that carry them, never shown.

use std::path::Path;

use crate::ledger::Ledger;

use clap::ValueEnum as _;

use super::args::RepairArgs;

/// A path or word as a POSIX shell reads it back unchanged.
pub(super) fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

pub(super) fn path(path: &Path) -> String {
    quote(&path.display().to_string())
}

/// The program as it was started (`export-repair` from `PATH`, `./target/release/export-repair`,
/// `/opt/tools/export-repair`), quoted: a command printed to run again runs the same binary.
pub(super) fn program() -> String {
    match std::env::args_os().next() {
        Some(started) if !started.is_empty() => quote(&started.to_string_lossy()),
        _ => "export-repair".to_string(),
    }
}

/// The command line that resumes this repair with `program`, and where its secrets go. `typed`:
/// the variable of the credential typed into the console that the run went on with, which
/// replaces the one given (and `--auth`).
pub fn command(
    program: &str,
    args: &RepairArgs,
    typed: Option<&'static str>,
) -> (String, Vec<&'static str>) {
    let mut words = vec![
        format!("{program} repair"),
        format!("--repair-file {}", path(&args.repair_file)),
        format!("--target {}", path(&args.target)),
    ];
    let mut secrets = Vec::new();
    if let Some(account) = &args.account {
        words.push(format!("--account {}", quote(account)));
    }
    let auth = args.auth.filter(|_| typed.is_none());
    if let Some(auth) = auth.and_then(|auth| auth.to_possible_value()) {
        words.push(format!("--auth {}", auth.get_name()));
    }
    if let Some(endpoint) = &args.blob_endpoint {
        words.push(format!("--blob-endpoint {}", quote(endpoint)));
    }
    if let Some(mirror) = &args.source_dir {
        words.push(format!("--source-dir {}", path(mirror)));
    }
    if let Some(copy_log) = &args.copy_log {
        words.push(format!("--copy-log {}", path(copy_log)));
    }
    if let Some(verbose_log) = &args.verbose_log {
        words.push(format!("--verbose-log {}", path(verbose_log)));
    }
    if let Some(manifest) = &args.manifest {
        words.push(format!("--manifest {}", path(manifest)));
    }
    if let Some(log_dir) = &args.log_dir {
        words.push(format!("--log-dir {}", path(log_dir)));
    }
    for report in &args.reports.report {
        words.push(format!("--report {}", path(report)));
    }
    if let Some(format) = args.reports.report_format {
        words.push(format!("--report-format {format}"));
    }
    if args.concurrency != 8 {
        words.push(format!("--concurrency {}", args.concurrency));
    }
    if let Some(seconds) = args.read_timeout {
        words.push(format!("--read-timeout {seconds}"));
    }
    if args.headless {
        words.push("--headless".into());
    }
    if args.json {
        words.push("--json".into());
    }
    match typed {
        Some(variable) => secrets.push(variable),
        None => secrets.extend(given_secret(args)),
    }
    if args.bitlocker_key.is_some() {
        secrets.push("BITLOCKER_KEY");
    }
    (words.join(" "), secrets)
}

/// The variable of the key or SAS the run was given.
fn given_secret(args: &RepairArgs) -> Option<&'static str> {
    match (&args.account_key, &args.sas) {
        (Some(_), _) => Some("AZURE_STORAGE_KEY"),
        (None, Some(_)) => Some("AZURE_STORAGE_SAS"),
        (None, None) => None,
    }
}

/// After a run that did not finish everything (interrupted, refused, or damage left), says
/// how to go on; `typed` as for [`command`].
pub fn tell(ledger: &Ledger, args: &RepairArgs, typed: Option<&'static str>) {
    if ledger.interrupted() || ledger.awaiting_credentials() || ledger.damaged() > 0 {
        say_text!("{}", how_to_go_on(&program(), args, typed));
    }
}

/// The command that resumes the run, and where its secrets go.
fn how_to_go_on(program: &str, args: &RepairArgs, typed: Option<&'static str>) -> String {
    let (line, secrets) = command(program, args, typed);
    let mut text = format!("to go on, rerun with the same repair file:\n  {line}\n");
    for name in secrets {
        text.push_str(&format!(
            "  (with the secret in the environment variable {name})\n"
        ));
    }
    // The credential given was replaced in the console: it must not come back with the rerun.
    if let (Some(given), Some(typed)) = (given_secret(args), typed)
        && given != typed
    {
        text.push_str(&format!(
            "  (and {given} unset: the run went on with the credentials typed in the console)\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Commands};
    use clap::Parser;

    #[test]
    fn the_rerun_command_names_secrets_by_their_variables() {
        let cli = Cli::try_parse_from([
            "export-repair",
            "repair",
            "--repair-file",
            "/r/D 1.rep",
            "--target",
            "/mnt/it's",
            "--account",
            "acct",
            "--account-key",
            "c2VjcmV0",
            "--copy-log",
            "/r/D_error.xml",
            "--verbose-log",
            "/r/o_D_VerboseLog_j.xml",
            "--report",
            "/r/out.json",
        ])
        .unwrap();
        let Commands::Repair(args) = cli.command else {
            panic!("not a repair")
        };
        let (line, secrets) = command("export-repair", &args, None);
        assert_eq!(
            line,
            "export-repair repair --repair-file '/r/D 1.rep' --target '/mnt/it'\\''s' \
             --account acct --copy-log /r/D_error.xml --verbose-log /r/o_D_VerboseLog_j.xml \
             --report /r/out.json"
        );
        assert!(!line.contains("c2VjcmV0"));
        assert_eq!(secrets, ["AZURE_STORAGE_KEY"]);
    }

    #[test]
    fn the_rerun_command_signs_in_the_same_way() {
        let cli = Cli::try_parse_from([
            "export-repair",
            "repair",
            "--repair-file",
            "r.rep",
            "--target",
            "/mnt/d",
            "--account",
            "acct",
            "--auth",
            "azure-cli",
        ])
        .unwrap();
        let Commands::Repair(args) = cli.command else {
            panic!("not a repair")
        };
        let (line, secrets) = command("/opt/tools/export-repair", &args, None);
        assert_eq!(
            line,
            "/opt/tools/export-repair repair --repair-file r.rep --target /mnt/d --account acct \
             --auth azure-cli"
        );
        assert!(secrets.is_empty());
    }

    /// Seen failing: after a SAS typed into the console replaced a refused key, the command
    /// still named AZURE_STORAGE_KEY (the refused key) for the rerun.
    #[test]
    fn the_rerun_command_names_the_credential_typed_in_the_console() {
        let cli = Cli::try_parse_from([
            "export-repair",
            "repair",
            "--repair-file",
            "r.rep",
            "--target",
            "/mnt/d",
            "--account",
            "acct",
            "--account-key",
            "c2VjcmV0",
        ])
        .unwrap();
        let Commands::Repair(args) = cli.command else {
            panic!("not a repair")
        };
        assert_eq!(
            how_to_go_on("export-repair", &args, Some("AZURE_STORAGE_SAS")),
            "to go on, rerun with the same repair file:\n  \
             export-repair repair --repair-file r.rep --target /mnt/d --account acct\n  \
             (with the secret in the environment variable AZURE_STORAGE_SAS)\n  \
             (and AZURE_STORAGE_KEY unset: the run went on with the credentials typed in the \
             console)\n"
        );
        let (_, secrets) = command("export-repair", &args, Some("AZURE_STORAGE_KEY"));
        assert_eq!(secrets, ["AZURE_STORAGE_KEY"]);
    }
}
