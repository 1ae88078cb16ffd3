//! The v1 tool's command line: `RepairExport /r:<file> /d:<dir> /sn:<account> /sk:<key> …`.
//! Switch names are case-insensitive, as on Windows. Each switch becomes its modern flag,
//! so both forms go through one parser and one configuration.

use std::ffi::{OsStr, OsString};

/// `/switch` (lower case) → the modern flag.
const SWITCHES: &[(&str, &str)] = &[
    ("r", "--repair-file"),
    ("d", "--target"),
    ("sn", "--account"),
    ("sk", "--account-key"),
    ("csas", "--sas"),
    ("copylogfile", "--copy-log"),
    ("manifestfile", "--manifest"),
    ("verboselogfile", "--verbose-log"),
    ("logdir", "--log-dir"),
    ("bk", "--bitlocker-key"),
    ("blobendpoint", "--blob-endpoint"),
    ("reportfile", "--report"),
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
    for arg in &args[2..] {
        let Some(text) = arg.to_str() else {
            return Some(Err(format!("argument {arg:?} is not valid text")));
        };
        if !text.starts_with('/') {
            // Modern flags (--headless, --json, …) may follow the v1 switches.
            modern.push(arg.clone());
            continue;
        }
        let (name, value) = text[1..].split_once(':').unwrap_or((&text[1..], ""));
        let lower = name.to_ascii_lowercase();
        let Some((_, flag)) = SWITCHES.iter().find(|(switch, _)| *switch == lower) else {
            let known: Vec<String> = SWITCHES.iter().map(|(s, _)| format!("/{s}:")).collect();
            return Some(Err(format!(
                "unknown RepairExport switch /{name}: (known: {})",
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
}
