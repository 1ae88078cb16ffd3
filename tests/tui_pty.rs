//! The console end to end: the real binary in a terminal (tmux), driven by keys, read from
//! the screen, checked on disk.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let output = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn screen(session: &str) -> String {
    tmux(&["capture-pane", "-p", "-t", session])
}

/// Waits until the screen shows `text`; panics with the screen if it never does.
fn wait_for(session: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = screen(session);
        if shown.contains(text) {
            return shown;
        }
        assert!(Instant::now() < deadline, "never showed {text:?}:\n{shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(session: &str, keys: &[&str]) {
    for key in keys {
        tmux(&["send-keys", "-t", session, key]);
        std::thread::sleep(Duration::from_millis(150));
    }
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[test]
fn the_demo_in_the_console_navigate_search_and_quit() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tmux is missing (.ci/run installs it)"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let done = dir.path().join("exit-code");
    let name = format!("er-{}", std::process::id());
    let command = format!(
        "NO_COLOR=1 '{}' demo --dir '{}'; echo $? > '{}'; sleep 60",
        binary.display(),
        root.display(),
        done.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    let session = Session(name.clone());
    let first = wait_for(&name, "finished: all damage repaired");
    assert!(first.contains("drive DEMO0001"), "{first}");
    assert!(first.contains("? help"), "{first}");

    // Search for the archive, open it, look at its map.
    keys(&name, &["/", "a", "r", "c", "h", "Enter"]);
    let searched = wait_for(&name, "archive.bin");
    assert!(!searched.contains("canyon.jpg"), "{searched}");
    keys(&name, &["j", "j"]);
    let selected = wait_for(&name, "BlobPath  backups/2012/archive.bin");
    assert!(selected.contains("copy log FileNotFound"), "{selected}");
    assert!(
        selected.contains("◆◆◆◆◆◆"),
        "six repaired blocks on the map: {selected}"
    );
    keys(&name, &["?"]);
    wait_for(&name, "any key closes this help");
    keys(&name, &["Escape", "q"]);
    let summary = wait_for(&name, "REPAIRED: all damage was repaired");
    assert!(!summary.contains("panicked"), "{summary}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "0");
    assert!(Path::new(&root.join("report.json")).is_file());
    let mirror = std::fs::read(root.join("mirror/backups/2012/archive.bin")).unwrap();
    let drive = std::fs::read(root.join("drive/backups/2012/archive.bin")).unwrap();
    assert!(mirror == drive, "the archive was repaired byte for byte");
    drop(session);
}
