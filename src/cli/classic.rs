//! The v1 tool's command line: `RepairExport /r:<file> /d:<dir> /sn:<account> /sk:<key> …`.
//! Switch names are case-insensitive, as on Windows. Each switch becomes its modern flag,
//! so both forms go through one parser and one configuration.

use std::ffi::{OsStr, OsString};

use clap::CommandFactory as _;

/// `/switch` as the v1 tool's documentation spells it (any case is taken) → the modern flag.
pub(super) const SWITCHES: &[(&str, &str)] = &[
    ("r", "--repair-file"),
    ("d", "--target"),
    ("sn", "--account"),
    ("sk", "--account-key"),
    ("csas", "--sas"),
    ("CopyLogFile", "--copy-log"),
    ("ManifestFile", "--manifest"),
    ("VerboseLogFile", "--verbose-log"),
    ("logdir", "--log-dir"),
    ("bk", "--bitlocker-key"),
    ("BlobEndpoint", "--blob-endpoint"),
    ("ReportFile", "--report"),
];

/// `None` when the command line is not the v1 form; otherwise the modern arguments, or a
/// message naming the switch that is wrong.
pub fn translate(args: &[OsString]) -> Option<Result<Vec<OsString>, String>> {
    let command = args.get(1)?.to_str()?;
    if command.eq_ignore_ascii_case("RepairImport") {
        return Some(Err(
            "RepairImport is not supported: this tool repairs export drives (RepairExport)".into(),
        ));
    }
    if !command.eq_ignore_ascii_case("RepairExport") {
        return None;
    }
    let mut modern = vec![args[0].clone(), OsString::from("repair")];
    let mut value_expected = false;
    for arg in &args[2..] {
        let Some(text) = arg.to_str() else {
            return Some(Err(format!("argument {arg:?} is not valid text")));
        };
        if value_expected || !text.starts_with('/') {
            // Modern flags (--headless, --source-dir /abs/path, …) may follow the v1
            // switches; a value of a modern flag is passed on whatever it starts with.
            value_expected = !value_expected && takes_a_value(text);
            modern.push(arg.clone());
            continue;
        }
        let (name, value) = text[1..].split_once(':').unwrap_or((&text[1..], ""));
        let Some((_, flag)) = SWITCHES
            .iter()
            .find(|(switch, _)| switch.eq_ignore_ascii_case(name))
        else {
            let known: Vec<String> = SWITCHES.iter().map(|(s, _)| format!("/{s}:")).collect();
            return Some(Err(format!(
                "unknown RepairExport switch /{name}: (known: {}; `export-repair RepairExport \
                 --help` shows each with its modern flag)",
                known.join(" ")
            )));
        };
        if value.is_empty() {
            return Some(Err(format!(
                "the switch /{name}: needs a value after the colon"
            )));
        }
        modern.push(OsString::from(flag));
        modern.push(OsStr::new(value).to_os_string());
    }
    Some(Ok(modern))
}

/// Whether `arg` is a modern flag of `repair` written without `=` that takes a value (long,
/// or a lone short one such as `-m`), so that the next argument is that value.
fn takes_a_value(arg: &str) -> bool {
    let long = arg.strip_prefix("--").filter(|name| !name.contains('='));
    let short = arg
        .strip_prefix('-')
        .filter(|name| !name.starts_with('-'))
        .and_then(|name| {
            let mut chars = name.chars();
            chars.next().filter(|_| chars.next().is_none())
        });
    if long.is_none() && short.is_none() {
        return false;
    }
    let command = super::Cli::command();
    command.find_subcommand("repair").is_some_and(|repair| {
        repair.get_arguments().any(|a| {
            let named = (long.is_some() && a.get_long() == long)
                || (short.is_some() && a.get_short() == short);
            named && a.get_action().takes_values()
        })
    })
}

/// The v1 switches and the modern flag each becomes, then the exit codes: the end of
/// `repair --help` (and of `RepairExport --help`, which is the same command).
pub fn repair_help() -> String {
    let mut text = String::from(
        "The v1 form: export-repair RepairExport /r:<file> /d:<dir> /sn:<account> /sk:<key> …\n\
         Switch names are case-insensitive; modern flags may follow them.\n",
    );
    for (switch, flag) in SWITCHES {
        text.push_str(&format!("  {:<18} {flag}\n", format!("/{switch}:")));
    }
    text.push('\n');
    text.push_str(super::exit::EXIT_CODES_HELP);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &[&str]) -> Vec<OsString> {
        text.iter().map(OsString::from).collect()
    }

    #[test]
    fn maps_switches_case_insensitively_keeping_colons_in_values() {
        let modern = translate(&args(&[
            "export-repair",
            "repairexport",
            r"/r:C:\WAImportExport\9WM35C3U.rep",
            r"/D:G:\",
            "/sn:bobmediaaccount",
            "/SK:a2V5+/==",
            r"/CopyLogFile:C:\9WM35C3U.log",
            r"/manifestfile:G:\9WM35C3U.manifest",
            "/BlobEndpoint:http://127.0.0.1:10000/devstoreaccount1",
            "--headless",
        ]))
        .unwrap()
        .unwrap();
        let text: Vec<&str> = modern.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text,
            [
                "export-repair",
                "repair",
                "--repair-file",
                r"C:\WAImportExport\9WM35C3U.rep",
                "--target",
                r"G:\",
                "--account",
                "bobmediaaccount",
                "--account-key",
                "a2V5+/==",
                "--copy-log",
                r"C:\9WM35C3U.log",
                "--manifest",
                r"G:\9WM35C3U.manifest",
                "--blob-endpoint",
                "http://127.0.0.1:10000/devstoreaccount1",
                "--headless",
            ]
        );
    }

    #[test]
    fn leaves_modern_commands_alone_and_names_bad_switches() {
        assert!(translate(&args(&["x", "verify", "--target", "d"])).is_none());
        let error = translate(&args(&["x", "RepairExport", "/zz:1"]))
            .unwrap()
            .unwrap_err();
        assert!(error.contains("/zz:"), "{error}");
        let error = translate(&args(&["x", "RepairExport", "/r"]))
            .unwrap()
            .unwrap_err();
        assert!(error.contains("needs a value"), "{error}");
        assert!(translate(&args(&["x", "RepairImport"])).unwrap().is_err());
    }

    /// Long or short. Seen failing with long flags only: `-m /tmp/m.xml` was read as a v1
    /// switch ("unknown RepairExport switch /tmp/m.xml:").
    #[test]
    fn a_modern_flag_s_value_may_start_with_a_slash() {
        let modern = translate(&args(&[
            "x",
            "RepairExport",
            "/r:/tmp/r.db",
            "--source-dir",
            "/srv/mirror",
            "-m",
            "/tmp/m.xml",
            "--report=/tmp/a.json",
            "--headless",
            "/d:/mnt/drive",
        ]))
        .unwrap()
        .unwrap();
        let text: Vec<&str> = modern.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text,
            [
                "x",
                "repair",
                "--repair-file",
                "/tmp/r.db",
                "--source-dir",
                "/srv/mirror",
                "-m",
                "/tmp/m.xml",
                "--report=/tmp/a.json",
                "--headless",
                "--target",
                "/mnt/drive"
            ]
        );
    }

    #[test]
    fn the_help_lists_every_switch_with_its_flag() {
        let help = repair_help();
        for (switch, flag) in SWITCHES {
            assert!(
                help.lines()
                    .any(|line| line.contains(&format!("/{switch}:"))
                        && line.trim_end().ends_with(flag)),
                "/{switch}: → {flag} missing in\n{help}"
            );
        }
    }
}
