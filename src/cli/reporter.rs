//! The headless reporter: progress on stderr (a bar on a terminal, plain lines otherwise),
//! NDJSON events on stdout with `--json`, and a closing summary.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{ComponentEvent, Event, Progress};
use crate::model::human_bytes;
use crate::model::{ComponentId, ComponentStatus, Outcome};

/// How often plain progress lines are written when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);
/// Damaged components listed in the summary; the report has all of them.
const LISTED_DAMAGE: usize = 20;

pub struct Reporter {
    json: bool,
    bar: Option<ProgressBar>,
    last_plain: Option<Instant>,
    /// The latest verdict of every component found damaged, so that a later repair
    /// takes it off the list.
    damage: BTreeMap<ComponentId, ComponentEvent>,
}

impl Reporter {
    #[expect(
        clippy::expect_used,
        reason = "the template is a literal; a test renders it"
    )]
    pub fn new(json: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            json,
            bar,
            last_plain: None,
            damage: BTreeMap::new(),
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            if serde_json::to_writer(&mut stdout, event).is_ok() {
                let _ = stdout.write_all(b"\n");
            }
        }
        match event {
            Event::RunStarted {
                drive_id,
                blobs,
                components,
                bytes,
                mode,
                ..
            } => {
                let verb = match mode {
                    crate::engine::RunMode::Verify => "verifying",
                    crate::engine::RunMode::Repair => "repairing",
                };
                self.note(&format!(
                    "{verb} drive {drive_id}: {blobs} files, {components} components, {}",
                    human_bytes(*bytes)
                ));
                if let Some(bar) = &self.bar {
                    bar.set_length(*bytes);
                    bar.set_message(verb.to_string());
                }
            }
            Event::Warning { message } => self.note(&format!("warning: {message}")),
            Event::Resumed {
                taken,
                checked_again,
            } => self.note(&crate::engine::resumed_text(*taken, *checked_again)),
            Event::CredentialsRefused { message } => self.note(&format!(
                "error: {message}\n  the repair stopped; what was done is recorded in the repair file. \
                 Rerun with a valid key or SAS to resume."
            )),
            Event::Component(component) => {
                if component.status.is_damage() {
                    self.damage.insert(component.id, component.clone());
                } else {
                    self.damage.remove(&component.id);
                }
            }
            Event::Progress(progress) => self.progress(progress),
            Event::Working { .. } | Event::Idle { .. } => {}
            Event::RunFinished { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    fn progress(&mut self, progress: &Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(progress.bytes_done);
            return;
        }
        let due = self
            .last_plain
            .is_none_or(|at| at.elapsed() >= PLAIN_INTERVAL);
        let done = progress.components_done == progress.components_total;
        if due && !done {
            self.last_plain = Some(Instant::now());
            eprintln!("{}", progress_line(progress));
        }
    }

    /// A line on stderr that does not tear the bar.
    fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// The closing summary (stdout, or stderr when stdout carries NDJSON).
    pub fn summary(&self, outcome: Outcome, totals: &crate::engine::Totals, interrupted: bool) {
        let mut text = String::new();
        let verdict = match (interrupted, outcome) {
            (true, _) => "INTERRUPTED: the run stopped before the end (a rerun resumes it)",
            (false, Outcome::Clean) => "VERIFIED: every component matches the manifest",
            (false, Outcome::Repaired) => "REPAIRED: all damage was repaired",
            (false, Outcome::Damaged) => "DAMAGED: damage remains on the drive",
        };
        text.push_str(verdict);
        text.push('\n');
        let counts: Vec<String> = ComponentStatus::ALL
            .iter()
            .filter(|s| totals.count(**s) > 0)
            .map(|s| format!("{} {}", totals.count(*s), s.as_str()))
            .collect();
        text.push_str(&format!(
            "{} components ({}): {}\n",
            totals.components,
            human_bytes(totals.bytes),
            counts.join(", ")
        ));
        for component in self.damage.values().take(LISTED_DAMAGE) {
            let place = if component.kind.is_side_file() {
                String::new()
            } else {
                format!(
                    " bytes {}..{}",
                    component.offset,
                    component.offset + component.length
                )
            };
            text.push_str(&format!(
                "  {:<8} {} {}{place}: {}\n",
                component.status.as_str(),
                component.file_path,
                component.kind.as_str(),
                component.reason.as_deref().unwrap_or("")
            ));
        }
        if self.damage.len() > LISTED_DAMAGE {
            text.push_str(&format!(
                "  … and {} more (see the report)\n",
                self.damage.len() - LISTED_DAMAGE
            ));
        }
        if self.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
}

fn progress_line(progress: &Progress) -> String {
    let percent = (progress.bytes_done * 100)
        .checked_div(progress.bytes_total)
        .unwrap_or(100);
    let eta = progress
        .eta_seconds
        .map(|s| format!(", ETA {s}s"))
        .unwrap_or_default();
    format!(
        "{} of {} ({percent}%), {} of {} components, {}/s{eta}",
        human_bytes(progress.bytes_done),
        human_bytes(progress.bytes_total),
        progress.components_done,
        progress.components_total,
        human_bytes(progress.bytes_per_second)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn plain_progress_line() {
        let line = progress_line(&Progress {
            components_done: 5,
            components_total: 10,
            bytes_done: 512,
            bytes_total: 1024,
            bytes_per_second: 2048,
            eta_seconds: Some(3),
        });
        assert_eq!(
            line,
            "512 B of 1.0 KiB (50%), 5 of 10 components, 2.0 KiB/s, ETA 3s"
        );
    }
}
