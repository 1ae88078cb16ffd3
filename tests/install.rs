//! What an installing user puts beside the binary: shell completions that complete, and
//! manual pages that render without a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

use skip::skip;

fn tool(args: &[&str]) -> std::process::Output {
    let output = assert_cmd::Command::cargo_bin("export-repair")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What bash offers for `words` (the last one being completed) with the script loaded, the
/// way bash calls a completion function.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words.len() - 1;
    let program = format!(
        r#"source '{script}'
function=$(complete -p export-repair | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
COMP_WORDS=({words})
COMP_CWORD={current}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" export-repair '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display(),
        words = quoted.join(" "),
        cur = words[current],
        prev = words[current - 1],
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_flags_and_values() {
    if Command::new("bash").arg("--version").output().is_err() {
        skip("needs bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("export-repair.bash");
    std::fs::write(&script, tool(&["completions", "bash"]).stdout).unwrap();

    let commands = bash_completes(&script, &["export-repair", "re"]);
    assert_eq!(commands, ["repair", "report"]);
    // After a command: its flags, and the values a flag takes.
    assert_eq!(
        bash_completes(&script, &["export-repair", "repair", "--au"]),
        ["--auth"]
    );
    assert_eq!(
        bash_completes(&script, &["export-repair", "repair", "--auth", ""]),
        ["env", "azure-cli", "managed-identity"]
    );
    let shells = bash_completes(&script, &["export-repair", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_string()), "{shells:?}");
    }
    assert_eq!(
        bash_completes(&script, &["export-repair", "logs", "--dri"]),
        ["--drive-id"]
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_command_and_flag() {
    let zsh = String::from_utf8(tool(&["completions", "zsh"]).stdout).unwrap();
    assert!(zsh.starts_with("#compdef export-repair\n"), "{zsh}");
    let fish = String::from_utf8(tool(&["completions", "fish"]).stdout).unwrap();
    for command in [
        "verify",
        "repair",
        "report",
        "logs",
        "demo",
        "completions",
        "man",
    ] {
        assert!(zsh.contains(&format!("'{command}:")), "zsh lacks {command}");
        assert!(
            fish.contains(&format!("-a \"{command}\"")),
            "fish lacks {command}"
        );
    }
    assert!(zsh.contains("--auth=[") && fish.contains("-l auth"));
    let refused = assert_cmd::Command::cargo_bin("export-repair")
        .unwrap()
        .args(["completions", "powershell-7"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

/// Renders a manual page with groff as `man` would; panics on any warning.
fn render(page: &Path) -> String {
    let output = Command::new("groff")
        // Wide lines: a phrase is never broken or hyphenated across two.
        .args(["-k", "-man", "-Tutf8", "-ww", "-rLL=400n", "-rHY=0"])
        .arg(page)
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && warnings.is_empty(),
        "{}: {warnings}",
        page.display()
    );
    // Bold and underline are overstrikes in groff's terminal output.
    let text = String::from_utf8_lossy(&output.stdout);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        plain.push(c);
    }
    // Justification pads with spaces.
    plain
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_manual_pages_render_and_document_each_command() {
    if Command::new("groff").arg("--version").output().is_err() {
        skip("needs groff (Debian package groff-base) to render the manual pages");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("from-stdout.1");
    std::fs::write(&page, tool(&["man"]).stdout).unwrap();
    let main = render(&page);
    assert!(
        main.contains("export-repair - Repair and verify drives"),
        "{main}"
    );
    assert!(main.contains("export-repair-repair(1)"), "{main}");

    let pages = dir.path().join("man1");
    tool(&["man", "--out-dir", pages.to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for command in ["verify", "repair", "report", "logs", "demo"] {
        assert!(
            names.contains(&format!("export-repair-{command}.1")),
            "{names:?}"
        );
    }
    assert!(names.contains(&"export-repair.1".to_string()));
    let repair = render(&pages.join("export-repair-repair.1"));
    for words in [
        "--repair-file",
        "--auth",
        "azure-cli",
        "/CopyLogFile:",
        "Exit codes:",
    ] {
        assert!(repair.contains(words), "{words:?} missing:\n{repair}");
    }
}
