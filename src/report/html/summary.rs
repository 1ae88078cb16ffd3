//! The top of the page: the outcome in a banner, the facts of the run, the totals by status.

use time::OffsetDateTime;

use crate::engine::RunMode;
use crate::ledger::human::{self, bytes as human_bytes, count, duration, plural};
use crate::model::{ComponentStatus, Outcome};

use super::super::Report;
use super::status::Look;

/// What the banner says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Repaired,
    Damaged,
    Interrupted,
    /// Written while the run still works (the console's export): not every verdict is in yet.
    UnderWay,
}

/// The banner's white glyph (an inline SVG path).
pub struct Mark {
    pub path: &'static str,
    pub width: f64,
}

impl Verdict {
    pub fn of(report: &Report) -> Self {
        if report.interrupted {
            return Verdict::Interrupted;
        }
        match report.outcome {
            Outcome::Clean => Verdict::Clean,
            Outcome::Repaired => Verdict::Repaired,
            Outcome::Damaged => Verdict::Damaged,
            Outcome::Incomplete if report.finished.is_none() => Verdict::UnderWay,
            // Stopped before every component was looked at, however it stopped.
            Outcome::Incomplete => Verdict::Interrupted,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Repaired => "repaired",
            Verdict::Damaged => "damaged",
            Verdict::Interrupted => "interrupted",
            Verdict::UnderWay => "underway",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Clean => "CLEAN",
            Verdict::Repaired => "REPAIRED",
            Verdict::Damaged => "DAMAGED",
            Verdict::Interrupted => "INTERRUPTED",
            Verdict::UnderWay => "UNDER WAY",
        }
    }

    pub fn mark(self) -> Mark {
        let (path, width) = match self {
            Verdict::Clean => ("M15 28 l8 8 l16 -18", 5.0),
            Verdict::Repaired => (
                "M16 22 a12 12 0 0 1 22 -1 M38 14 v8 h-8 M38 32 a12 12 0 0 1 -22 1 M16 40 v-8 h8",
                4.0,
            ),
            Verdict::Damaged => ("M27 13 v18 M27 39 v1", 5.5),
            Verdict::Interrupted => ("M21 17 v20 M33 17 v20", 5.5),
            Verdict::UnderWay => ("M17 27 v1 M27 27 v1 M37 27 v1", 5.5),
        };
        Mark { path, width }
    }
}

/// "Verification report", "Repair report".
pub fn kind(report: &Report) -> &'static str {
    match report.mode {
        Some(RunMode::Verify) => "Verification report",
        Some(RunMode::Repair) => "Repair report",
        None => "Report",
    }
}

/// When the page is of: "finished …", or "under way, started …" for a run still going (a
/// report has no end only while its run goes on).
pub fn when(report: &Report) -> String {
    match (report.finished, report.started) {
        (Some(finished), _) => format!("finished {}", timestamp(Some(finished))),
        (None, Some(started)) => format!("under way, started {}", timestamp(Some(started))),
        (None, None) => "under way".into(),
    }
}

pub fn timestamp(at: Option<OffsetDateTime>) -> String {
    at.map_or_else(|| "—".to_string(), human::timestamp)
}

fn tally(report: &Report, status: ComponentStatus) -> (u64, u64) {
    report
        .totals
        .by_status
        .get(&status)
        .map_or((0, 0), |t| (t.components, t.bytes))
}

/// The banner's headline and the line under it.
pub fn banner(report: &Report, verdict: Verdict, damaged_files: u64) -> (String, String) {
    let totals = &report.totals;
    let damaged = totals.damaged();
    let damaged_bytes: u64 = ComponentStatus::ALL
        .iter()
        .filter(|s| s.is_damage())
        .map(|s| tally(report, *s).1)
        .fold(0, u64::saturating_add);
    let (repaired, repaired_bytes) = tally(report, ComponentStatus::Repaired);
    let (regenerated, _) = tally(report, ComponentStatus::Regenerated);
    let (skipped, _) = tally(report, ComponentStatus::Skipped);
    let headline = match verdict {
        Verdict::Clean if skipped > 0 => format!(
            "Every component that has an expected hash matches it: {} verified, {} not \
             checked.",
            plural(totals.components - skipped, "component", "components"),
            count(skipped)
        ),
        Verdict::Clean => format!(
            "Every component matches its expected hash: {} verified.",
            plural(totals.components, "component", "components")
        ),
        Verdict::Repaired => format!(
            "All damage repaired: {} ({}) downloaded again and verified.",
            plural(repaired, "component", "components"),
            human_bytes(repaired_bytes)
        ),
        Verdict::Damaged => format!(
            "{} ({}) in {} still damaged.",
            plural(damaged, "component", "components"),
            human_bytes(damaged_bytes),
            plural(damaged_files, "file is", "files are")
        ),
        Verdict::Interrupted => format!(
            "The run stopped before every component was checked: {} not checked.",
            count(skipped)
        ),
        Verdict::UnderWay => format!(
            "Written while the run was under way: {} not checked so far.",
            count(skipped)
        ),
    };
    let mut sub = vec![
        format!("Drive {}", report.drive_id),
        plural(report.files.len() as u64, "file", "files"),
        human_bytes(totals.bytes),
    ];
    if verdict == Verdict::Interrupted {
        sub.push(format!(
            "damaged so far: {}",
            plural(damaged, "component", "components")
        ));
    } else if verdict == Verdict::Damaged && repaired > 0 {
        sub.push(format!(
            "{} repaired",
            plural(repaired, "component", "components")
        ));
    }
    if regenerated > 0 {
        sub.push(format!(
            "{} regenerated (warning)",
            plural(regenerated, "side file", "side files")
        ));
    }
    if skipped > 0 && !matches!(verdict, Verdict::Interrupted | Verdict::Clean) {
        sub.push(format!("{} not checked", count(skipped)));
    }
    (headline, sub.join(" · "))
}

/// One fact of the run: a term, its value, and a word on what the value is.
pub struct Fact {
    pub term: &'static str,
    pub value: String,
    pub unit: Option<String>,
}

fn fact(term: &'static str, value: String, unit: Option<String>) -> Fact {
    Fact { term, value, unit }
}

pub fn facts(report: &Report, damaged_files: u64) -> Vec<Fact> {
    let throughput = &report.throughput;
    let speed = throughput.bytes_per_second.map_or_else(
        || "—".to_string(),
        |rate| format!("{}/s", human_bytes(rate)),
    );
    let run = match report.mode {
        Some(RunMode::Verify) => "verify",
        Some(RunMode::Repair) => "repair",
        None => "—",
    };
    let fourth = if report.mode == Some(RunMode::Repair) {
        fact(
            "Repaired",
            count(tally(report, ComponentStatus::Repaired).0),
            None,
        )
    } else {
        fact(
            "Not checked",
            count(tally(report, ComponentStatus::Skipped).0),
            None,
        )
    };
    let active = if throughput.active_seconds > 0.0 {
        duration(throughput.active_seconds)
    } else {
        "—".to_string()
    };
    let wall = if report.started.is_some() {
        duration(throughput.elapsed_seconds)
    } else {
        "—".to_string()
    };
    vec![
        fact("Drive", report.drive_id.clone(), None),
        fact("Run", run.to_string(), None),
        fact("Started", timestamp(report.started), None),
        fact("Finished", timestamp(report.finished), None),
        fact(
            "Files",
            count(report.files.len() as u64),
            Some(format!("{} damaged", count(damaged_files))),
        ),
        fact(
            "Components",
            count(report.totals.components),
            Some(format!("{} damaged", count(report.totals.damaged()))),
        ),
        fact(
            "Data",
            human_bytes(report.totals.bytes),
            Some(format!("{} B", count(report.totals.bytes))),
        ),
        fourth,
        fact(
            "Active time",
            active,
            Some("working, not paused or waiting".to_string()),
        ),
        fact("Wall time", wall, Some("start to finish".to_string())),
        fact("Throughput", speed, None),
        fact(
            "Bytes read or downloaded",
            human_bytes(throughput.bytes),
            None,
        ),
        fact(
            "Tool",
            format!("export-repair {}", report.tool_version),
            None,
        ),
    ]
}

/// A row of the totals: a status with its components and bytes, and its share of the bytes.
pub struct TotalRow {
    pub look: Look,
    pub components: String,
    pub bytes: String,
    pub size: String,
    /// Percent of all bytes, to one decimal (the tooltip) and to two (the bar's width).
    pub share: String,
    pub width: String,
}

/// The statuses that have components, in the ledger's order.
pub fn totals(report: &Report) -> Vec<TotalRow> {
    let all = report.totals.bytes;
    ComponentStatus::ALL
        .iter()
        .filter_map(|&status| {
            let (components, bytes) = tally(report, status);
            if components == 0 {
                return None;
            }
            let share = if all == 0 {
                0.0
            } else {
                bytes as f64 * 100.0 / all as f64
            };
            Some(TotalRow {
                look: Look::of(status),
                components: count(components),
                bytes: count(bytes),
                size: human_bytes(bytes),
                share: format!("{share:.1}%"),
                width: format!("{share:.2}%"),
            })
        })
        .collect()
}
