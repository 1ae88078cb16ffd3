//! The console end to end: the real binary in a terminal (tmux), driven by keys and read from
//! the screen.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn tmux(args: &[&str]) -> String {
    let output = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn screen(session: &str) -> String {
    tmux(&["capture-pane", "-p", "-t", session])
}

/// Waits until the screen shows `text`; panics with the screen if it never does.
pub fn wait_for(session: &str, text: &str) -> String {
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

pub fn keys(session: &str, keys: &[&str]) {
    // Tab and Enter are key names; everything else is sent as typed.
    for key in keys {
        tmux(&["send-keys", "-t", session, key]);
        std::thread::sleep(Duration::from_millis(150));
    }
}

pub struct Session(pub String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

pub fn tmux_present() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    super::skip::skip("needs tmux (Debian: apt-get install tmux; .ci/run installs it)");
    false
}

/// Starts `command` in a detached 120×40 tmux session.
pub fn start(name: &str, command: &str) -> Session {
    tmux(&[
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        "120",
        "-y",
        "40",
        command,
    ]);
    Session(name.to_string())
}

/// Waits for the exit code the session's shell wrote.
pub fn exit_code(done: &Path) -> String {
    written(done).trim().to_string()
}

/// What the session's shell wrote to `path`, once it is there (20 s at most).
pub fn written(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(path).expect("the shell wrote it")
}

/// The text inside the box titled `title` on `screen`, its lines joined by single spaces
/// (wrapping moves words from line to line; the words stay in order).
pub fn boxed_text(screen: &str, title: &str) -> String {
    let lines: Vec<Vec<char>> = screen.lines().map(|line| line.chars().collect()).collect();
    let corner: Vec<char> = format!("┌{title}").chars().collect();
    let Some((top, left)) = lines.iter().enumerate().find_map(|(row, line)| {
        line.windows(corner.len())
            .position(|w| w == corner.as_slice())
            .map(|column| (row, column))
    }) else {
        return String::new();
    };
    let right = left
        + lines[top][left..]
            .iter()
            .position(|c| *c == '┐')
            .unwrap_or(lines[top].len() - left);
    let mut words = Vec::new();
    for line in &lines[top + 1..] {
        if line.get(left) == Some(&'└') {
            break;
        }
        let inside: String = line
            .get(left + 1..right.min(line.len()))
            .unwrap_or_default()
            .iter()
            .collect();
        words.extend(inside.split_whitespace().map(str::to_owned));
    }
    words.join(" ")
}
