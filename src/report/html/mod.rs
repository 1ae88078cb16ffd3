//! The HTML report: one self-contained page (inline CSS, no script, no external asset) a
//! technician can open, e-mail or print. The outcome first, in a coloured banner; then the
//! totals, a map of the drive, the damaged files with their reasons, every file with its
//! components on demand (`<details>`), and the run's inputs and options.
//!
//! The page is an askama template compiled into the program (`templates/report/`: the page,
//! its pieces, its style sheet); the modules here work out what it shows. Every value enters
//! the page through [`escape::PageText`], markup and control characters escaped.

mod bar;
mod escape;
mod files;
mod map;
mod status;
mod summary;

use std::io::{self, Write};

use askama::Template;

use crate::ledger::human::{bytes as human_bytes, count, plural};

use super::{FileReport, Report};
pub use escape::escape;
use files::{DamagedFile, ExportFact, FileEntry, has_damage, in_order};
use map::DriveMap;
use summary::{Fact, TotalRow, Verdict};

/// Writes the page.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    Page::new(report).write_into(out)
}

#[derive(Template)]
#[template(path = "report/page.html", config = "templates/askama.toml")]
struct Page<'a> {
    report: &'a Report,
    verdict: Verdict,
    kind: &'static str,
    when: String,
    headline: String,
    sub: String,
    facts: Vec<Fact>,
    totals: Vec<TotalRow>,
    all_components: String,
    all_bytes: String,
    all_size: String,
    map: DriveMap,
    damaged_count: String,
    files_count: String,
    /// The files in the order the page lists them.
    files: Vec<&'a FileReport>,
}

impl<'a> Page<'a> {
    fn new(report: &'a Report) -> Self {
        let verdict = Verdict::of(report);
        let damaged_files = report.files.iter().filter(|f| has_damage(f)).count() as u64;
        let (headline, sub) = summary::banner(report, verdict, damaged_files);
        Self {
            report,
            verdict,
            kind: summary::kind(report),
            when: summary::when(report),
            headline,
            sub,
            facts: summary::facts(report, damaged_files),
            totals: summary::totals(report),
            all_components: count(report.totals.components),
            all_bytes: count(report.totals.bytes),
            all_size: human_bytes(report.totals.bytes),
            map: DriveMap::of(report),
            damaged_count: plural(damaged_files, "damaged file", "damaged files"),
            files_count: plural(report.files.len() as u64, "file", "files"),
            files: in_order(&report.files),
        }
    }

    /// The damaged files' cards, worked out one at a time as the page is written.
    fn damaged(&self) -> impl Iterator<Item = DamagedFile> + '_ {
        self.files
            .iter()
            .filter(|file| has_damage(file))
            .map(|file| DamagedFile::of(file))
    }

    /// Every file's entry, worked out one at a time as the page is written.
    fn entries(&self) -> impl Iterator<Item = FileEntry> + '_ {
        self.files.iter().map(|file| FileEntry::of(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::model::{ComponentKind, ComponentStatus, FileVerdict, Outcome};
    use crate::report::ComponentReport;
    use time::OffsetDateTime;

    const STYLE: &str = include_str!("../../../templates/report/style.css");

    /// A component of ten bytes with no checksum, reason or side file.
    fn component(kind: ComponentKind, offset: u64, status: ComponentStatus) -> ComponentReport {
        ComponentReport::bare(kind, offset, 10, status)
    }

    #[test]
    fn the_banner_says_the_outcome() {
        use crate::engine::Totals;
        let mut totals = Totals::default();
        totals.add(ComponentStatus::Verified, 100);
        totals.add(ComponentStatus::Repaired, 50);
        totals.add(ComponentStatus::Skipped, 25);
        let report = |outcome, interrupted| crate::report::Report {
            schema: crate::report::SCHEMA.into(),
            tool_version: "9.9.9".into(),
            drive_id: "D1".into(),
            mode: Some(RunMode::Repair),
            run: Default::default(),
            started: None,
            finished: None,
            throughput: Default::default(),
            outcome,
            interrupted,
            totals: totals.clone(),
            warnings: Vec::new(),
            files: Vec::new(),
        };
        for (outcome, interrupted, class, word, says) in [
            (
                Outcome::Clean,
                false,
                "clean",
                "CLEAN",
                // One was skipped: the claim is of those with a hash.
                "Every component that has an expected hash matches it",
            ),
            (
                Outcome::Repaired,
                false,
                "repaired",
                "REPAIRED",
                "1 component (50 B)",
            ),
            (
                Outcome::Damaged,
                false,
                "damaged",
                "DAMAGED",
                "still damaged",
            ),
            (
                Outcome::Repaired,
                true,
                "interrupted",
                "INTERRUPTED",
                "1 not checked",
            ),
            // Written mid-run (no end yet, not stopped): not called interrupted.
            (
                Outcome::Incomplete,
                false,
                "underway",
                "UNDER WAY",
                "Written while the run was under way: 1 not checked so far.",
            ),
        ] {
            let html = crate::report::render_to_string(
                &report(outcome, interrupted),
                crate::report::ReportFormat::Html,
            );
            assert!(
                html.contains(&format!("class=\"banner {class}\"")),
                "{word}"
            );
            assert!(html.contains(&format!("<div class=\"word\">{word}</div>")));
            assert!(html.contains(says), "{word}: {says}");
            assert!(html.contains("<title>"), "{word}");
        }
        // Not every component checked, and the run ended: interrupted, whenever it ended.
        let ended = crate::report::Report {
            finished: Some(time::OffsetDateTime::UNIX_EPOCH),
            ..report(Outcome::Incomplete, false)
        };
        let html = crate::report::render_to_string(&ended, crate::report::ReportFormat::Html);
        assert!(html.contains("<div class=\"word\">INTERRUPTED</div>"));
        assert!(html.contains("finished 1970-01-01 00:00:00 UTC"), "{html}");
    }

    /// Whatever a drive's XML, a blob name, the storage or the command line puts in a
    /// report comes out as text: markup characters as entities, control characters written
    /// visibly, in every place the page shows a value.
    #[test]
    fn every_value_is_escaped_markup_quotes_and_control_characters() {
        use crate::report::ExportReport;
        let hostile =
            |place: &str| format!("<script>{place}(\"x\")</script> & 'q' \u{7}\u{1b}[2J\n\u{202e}");
        let shown = |place: &str| {
            format!(
                "&lt;script&gt;{place}(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; \\u{{7}}\\u{{1b}}[2J\\n\\u{{202e}}"
            )
        };
        let report = crate::report::Report {
            schema: crate::report::SCHEMA.into(),
            tool_version: "9.9.9".into(),
            drive_id: hostile("drive"),
            mode: Some(RunMode::Repair),
            run: crate::report::RunInfo {
                options: [(hostile("option"), hostile("value"))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            started: None,
            finished: None,
            throughput: Default::default(),
            outcome: Outcome::Damaged,
            interrupted: false,
            totals: Default::default(),
            warnings: vec![hostile("warning")],
            files: vec![FileReport {
                file_path: hostile("file"),
                blob_path: hostile("blob"),
                snapshot: Some(hostile("snapshot")),
                length: 20,
                length_known: true,
                last_modified: None,
                status: FileVerdict::Failed,
                export: Some(ExportReport {
                    cloud_format: Some(hostile("format")),
                    etag: Some(hostile("etag")),
                    size: None,
                    crc64: None,
                    category: Some(hostile("category")),
                    error_code: None,
                    error_message: Some(hostile("message")),
                    action: Some(hostile("action")),
                    advice: Some(hostile("advice")),
                    new_name: Some(hostile("name")),
                }),
                components: vec![
                    ComponentReport {
                        reason: Some(hostile("reason")),
                        ..component(ComponentKind::Block, 0, ComponentStatus::Failed)
                    },
                    ComponentReport {
                        reason: Some(hostile("side")),
                        file_path: Some(hostile("side_file")),
                        ..component(ComponentKind::Properties, 20, ComponentStatus::Corrupt)
                    },
                ],
            }],
        };
        let html = crate::report::render_to_string(&report, crate::report::ReportFormat::Html);
        for place in [
            "drive",
            "option",
            "value",
            "warning",
            "file",
            "blob",
            "snapshot",
            "format",
            "etag",
            "category",
            "message",
            "action",
            "advice",
            "name",
            "reason",
            "side",
            "side_file",
        ] {
            assert!(html.contains(&shown(place)), "{place} is not shown escaped");
            assert!(
                !html.contains(&format!("{place}(\"x\")")),
                "{place} unescaped"
            );
        }
        for raw in ["<script", "\u{7}", "\u{1b}", "\u{202e}", "'q'"] {
            assert!(!html.contains(raw), "{raw:?} reached the page");
        }
    }

    #[test]
    fn states_differ_in_pattern_and_glyph_not_only_in_colour() {
        let mut patterned = 0;
        for status in ComponentStatus::ALL {
            let class = status::class(Some(status));
            let pattern = STYLE.lines().any(|line| {
                line.contains(&format!(".bar .{class}")) && line.contains("background-image")
            });
            // One state may stay plain: every other one has a pattern of its own.
            patterned += usize::from(pattern);
        }
        assert_eq!(patterned, ComponentStatus::ALL.len() - 1);
        let report = crate::report::Report {
            schema: crate::report::SCHEMA.into(),
            tool_version: "9.9.9".into(),
            drive_id: "D1".into(),
            mode: Some(RunMode::Repair),
            run: Default::default(),
            started: Some(OffsetDateTime::UNIX_EPOCH),
            finished: None,
            throughput: crate::report::Throughput {
                bytes: 1024,
                elapsed_seconds: 35.3,
                active_seconds: 0.5,
                bytes_per_second: Some(2048),
            },
            outcome: Outcome::Damaged,
            interrupted: false,
            totals: Default::default(),
            warnings: Vec::new(),
            files: vec![FileReport {
                file_path: "\\c\\a".into(),
                blob_path: "c/a".into(),
                snapshot: None,
                length: 20,
                length_known: true,
                last_modified: None,
                status: FileVerdict::Failed,
                export: None,
                components: [ComponentStatus::Failed, ComponentStatus::Repaired]
                    .iter()
                    .enumerate()
                    .map(|(i, status)| component(ComponentKind::Block, i as u64 * 10, *status))
                    .collect(),
            }],
        };
        let html = crate::report::render_to_string(&report, crate::report::ReportFormat::Html);
        assert!(
            html.contains("title=\"from byte 0: failed\">!</i>"),
            "a map cell shows its glyph"
        );
        assert!(html.contains(">◆</i>"), "the repaired half of the map");
        assert!(html.contains("<span class=\"chip s-failed\">! failed</span>"));
        // Active time and wall time, each named; the rate is over the active time.
        assert!(
            html.contains("<dt>Active time</dt><dd>500 ms"),
            "active time"
        );
        assert!(html.contains("<dt>Wall time</dt><dd>35.3 s"), "wall time");
    }
}
