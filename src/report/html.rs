//! The HTML report: one self-contained page (inline CSS, no script, no external asset) a
//! technician can open, e-mail or print. The outcome first, in a coloured banner; then the
//! totals, a map of the drive, the damaged files with their reasons, every file with its
//! components on demand (`<details>`), and the run's inputs and options.
//!
//! The page layout and style live in `assets/report.html`; this module fills its
//! `{{name}}` slots. Every string from the report is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use time::OffsetDateTime;

use crate::engine::RunMode;
use crate::ledger::ComponentState;
use crate::ledger::human::{self, bytes as human_bytes, count, duration, plural};
use crate::model::{ComponentKind, ComponentStatus, FileVerdict, Outcome};

use super::{ComponentReport, FileReport, Report};

const TEMPLATE: &str = include_str!("../../assets/report.html");

/// Cells of the drive map.
const MAP_CELLS: u64 = 512;
/// Most segments one file's bar is drawn with; more are merged, the worst status winning.
const BAR_SEGMENTS: usize = 120;
/// Rows of damaged ranges listed per file under "Needs attention".
const ATTENTION_ROWS: usize = 40;
/// Rows listed per file under "All files": every damaged one, then good ones up to this.
const FILE_ROWS: usize = 400;

/// Writes the page.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let view = View::new(report);
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find("{{") {
        out.write_all(&rest.as_bytes()[..start])?;
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| io::Error::other("unclosed {{ in the report template"))?;
        view.slot(&after[..end], out)?;
        rest = &after[end + 2..];
    }
    out.write_all(rest.as_bytes())
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let text = crate::sanitize::escape_controls(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the banner says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Clean,
    Repaired,
    Damaged,
    Interrupted,
}

impl Verdict {
    fn of(report: &Report) -> Self {
        if report.interrupted {
            return Verdict::Interrupted;
        }
        match report.outcome {
            Outcome::Clean => Verdict::Clean,
            Outcome::Repaired => Verdict::Repaired,
            Outcome::Damaged => Verdict::Damaged,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Repaired => "repaired",
            Verdict::Damaged => "damaged",
            Verdict::Interrupted => "interrupted",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Clean => "CLEAN",
            Verdict::Repaired => "REPAIRED",
            Verdict::Damaged => "DAMAGED",
            Verdict::Interrupted => "INTERRUPTED",
        }
    }

    /// A white glyph for the banner (inline SVG).
    fn mark(self) -> String {
        let (path, width) = match self {
            Verdict::Clean => ("M15 28 l8 8 l16 -18", 5.0),
            Verdict::Repaired => (
                "M16 22 a12 12 0 0 1 22 -1 M38 14 v8 h-8 M38 32 a12 12 0 0 1 -22 1 M16 40 v-8 h8",
                4.0,
            ),
            Verdict::Damaged => ("M27 13 v18 M27 39 v1", 5.5),
            Verdict::Interrupted => ("M21 17 v20 M33 17 v20", 5.5),
        };
        format!(
            "<svg class=\"mark\" viewBox=\"0 0 54 54\" aria-hidden=\"true\"><circle cx=\"27\" cy=\"27\" r=\"25\" fill=\"rgba(255,255,255,.18)\"/><path d=\"{path}\" fill=\"none\" stroke=\"#fff\" stroke-width=\"{width}\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/></svg>"
        )
    }
}

/// A status as the page shows it; `None` is a byte range no component covers.
fn class(status: Option<ComponentStatus>) -> &'static str {
    match status {
        None => "s-none",
        Some(ComponentStatus::Verified) => "s-verified",
        Some(ComponentStatus::Repaired) => "s-repaired",
        Some(ComponentStatus::Regenerated) => "s-regenerated",
        Some(ComponentStatus::Corrupt) => "s-corrupt",
        Some(ComponentStatus::Missing) => "s-missing",
        Some(ComponentStatus::Failed) => "s-failed",
        Some(ComponentStatus::Skipped) => "s-skipped",
    }
}

fn label(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Skipped => "not checked",
        other => other.as_str(),
    }
}

/// Which status a cell shared by several shows: the ledger's order of severity (damage
/// first); bytes no component covers give way to anything.
fn worst(a: Option<ComponentStatus>, b: Option<ComponentStatus>) -> Option<ComponentStatus> {
    let severity =
        |status: Option<ComponentStatus>| status.map_or(0, |s| ComponentState::Done(s).severity());
    if severity(b) > severity(a) { b } else { a }
}

/// The glyph that tells a status without colour (as the console's map under NO_COLOR).
fn glyph(status: Option<ComponentStatus>) -> char {
    status.map_or(' ', |s| ComponentState::Done(s).glyph())
}

fn is_good(status: ComponentStatus) -> bool {
    matches!(
        status,
        ComponentStatus::Verified | ComponentStatus::Repaired | ComponentStatus::Regenerated
    )
}

fn timestamp(at: Option<OffsetDateTime>) -> String {
    at.map_or_else(|| "—".to_string(), human::timestamp)
}

/// The byte range a component covers, for people: `5,442–8,163`.
fn range_text(component: &ComponentReport) -> String {
    if component.kind.is_side_file() {
        return "whole file".to_string();
    }
    format!(
        "{}–{}",
        count(component.offset),
        count(component.offset + component.length)
    )
}

fn kind_name(kind: ComponentKind, n: usize) -> String {
    let name = match kind {
        ComponentKind::Block => "block",
        ComponentKind::Page => "page range",
        ComponentKind::Properties => "properties file",
        ComponentKind::Metadata => "metadata file",
        ComponentKind::File => "whole file",
        ComponentKind::Chunk => "chunk",
        ComponentKind::Crc64 => "whole-file CRC-64",
    };
    if n == 1 {
        name.to_string()
    } else if kind == ComponentKind::Page {
        format!("{n} page ranges")
    } else {
        format!("{n} {name}s")
    }
}

fn chip(status: ComponentStatus) -> String {
    format!(
        "<span class=\"chip {}\">{} {}</span>",
        class(Some(status)),
        glyph(Some(status)),
        label(status)
    )
}

/// How a file is shown: its verdict, or "not checked" when nothing of it was.
fn file_chip(file: &FileReport) -> String {
    let all_skipped = !file.components.is_empty()
        && file
            .components
            .iter()
            .all(|c| c.status == ComponentStatus::Skipped);
    if all_skipped {
        return chip(ComponentStatus::Skipped);
    }
    let (class, text, status) = match file.status {
        FileVerdict::Verified => ("s-verified", "verified", ComponentStatus::Verified),
        FileVerdict::Repaired => ("s-repaired", "repaired", ComponentStatus::Repaired),
        FileVerdict::Damaged => ("s-damaged", "damaged", ComponentStatus::Corrupt),
        FileVerdict::Failed => ("s-failed", "failed", ComponentStatus::Failed),
    };
    format!(
        "<span class=\"chip {class}\">{} {text}</span>",
        glyph(Some(status))
    )
}

/// Files in the order the page lists them: failures first, then damage, repairs, the rest;
/// the report's order within each group.
fn rank(file: &FileReport) -> u8 {
    match file.status {
        FileVerdict::Failed => 0,
        FileVerdict::Damaged => 1,
        FileVerdict::Repaired => 2,
        FileVerdict::Verified => 3,
    }
}

fn has_damage(file: &FileReport) -> bool {
    file.components.iter().any(|c| c.status.is_damage())
}

struct View<'a> {
    report: &'a Report,
    verdict: Verdict,
    damaged_files: u64,
}

impl<'a> View<'a> {
    fn new(report: &'a Report) -> Self {
        Self {
            report,
            verdict: Verdict::of(report),
            damaged_files: report.files.iter().filter(|f| has_damage(f)).count() as u64,
        }
    }

    fn slot(&self, name: &str, out: &mut dyn Write) -> io::Result<()> {
        let text = match name {
            "generator" => escape(&format!("export-repair {}", self.report.tool_version)),
            "title" => escape(&format!(
                "{} — drive {} — {}",
                self.verdict.word(),
                self.report.drive_id,
                self.kind()
            )),
            "kind" => escape(self.kind()),
            "when" => escape(&format!(
                "finished {}",
                timestamp(self.report.finished.or(self.report.started))
            )),
            "banner" => self.banner(),
            "facts" => self.facts(),
            "totals" => self.totals(),
            "map_caption" => escape(&self.map_caption()),
            "map" => self.map(),
            "attention" => self.attention(),
            "files" => return self.files(out),
            "run" => self.run(),
            "footer_left" => escape(&format!(
                "export-repair {} · {}",
                self.report.tool_version, self.report.schema
            )),
            "footer_right" => escape(&format!("drive {}", self.report.drive_id)),
            other => {
                return Err(io::Error::other(format!(
                    "the report template names an unknown slot {other:?}"
                )));
            }
        };
        out.write_all(text.as_bytes())
    }

    fn kind(&self) -> &'static str {
        match self.report.mode {
            Some(RunMode::Verify) => "Verification report",
            Some(RunMode::Repair) => "Repair report",
            None => "Report",
        }
    }

    fn tally(&self, status: ComponentStatus) -> (u64, u64) {
        self.report
            .totals
            .by_status
            .get(&status)
            .map_or((0, 0), |t| (t.components, t.bytes))
    }

    fn banner(&self) -> String {
        let totals = &self.report.totals;
        let damaged = totals.damaged();
        let damaged_bytes: u64 = ComponentStatus::ALL
            .iter()
            .filter(|s| s.is_damage())
            .map(|s| self.tally(*s).1)
            .sum();
        let (repaired, repaired_bytes) = self.tally(ComponentStatus::Repaired);
        let (regenerated, _) = self.tally(ComponentStatus::Regenerated);
        let (skipped, _) = self.tally(ComponentStatus::Skipped);
        let headline = match self.verdict {
            Verdict::Clean => format!(
                "Every component matches the manifest: {} verified.",
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
                plural(self.damaged_files, "file is", "files are")
            ),
            Verdict::Interrupted => format!(
                "The run stopped before every component was checked: {} not checked.",
                count(skipped)
            ),
        };
        let mut sub = format!(
            "Drive {} · {} · {}",
            self.report.drive_id,
            plural(self.report.files.len() as u64, "file", "files"),
            human_bytes(totals.bytes)
        );
        if self.verdict == Verdict::Interrupted {
            let _ = write!(
                sub,
                " · damaged so far: {}",
                plural(damaged, "component", "components")
            );
        } else if self.verdict == Verdict::Damaged && repaired > 0 {
            let _ = write!(
                sub,
                " · {} repaired",
                plural(repaired, "component", "components")
            );
        }
        if regenerated > 0 {
            let _ = write!(
                sub,
                " · {} regenerated (warning)",
                plural(regenerated, "side file", "side files")
            );
        }
        if skipped > 0 && self.verdict != Verdict::Interrupted {
            let _ = write!(sub, " · {} not checked", count(skipped));
        }
        format!(
            "<div class=\"banner {}\" role=\"status\">{}<div class=\"word\">{}</div><div><div class=\"headline\">{}</div><div class=\"sub\">{}</div></div></div>",
            self.verdict.class(),
            self.verdict.mark(),
            self.verdict.word(),
            escape(&headline),
            escape(&sub)
        )
    }

    fn facts(&self) -> String {
        let report = self.report;
        let throughput = &report.throughput;
        let speed = throughput.bytes_per_second.map_or_else(
            || "—".to_string(),
            |rate| format!("{}/s", human_bytes(rate)),
        );
        let (repaired, _) = self.tally(ComponentStatus::Repaired);
        let facts: [(&str, String, String); 13] = [
            ("Drive", escape(&report.drive_id), String::new()),
            (
                "Run",
                escape(match report.mode {
                    Some(RunMode::Verify) => "verify",
                    Some(RunMode::Repair) => "repair",
                    None => "—",
                }),
                String::new(),
            ),
            ("Started", escape(&timestamp(report.started)), String::new()),
            (
                "Finished",
                escape(&timestamp(report.finished)),
                String::new(),
            ),
            (
                "Files",
                count(report.files.len() as u64),
                format!(
                    " <span class=\"unit\">{} damaged</span>",
                    count(self.damaged_files)
                ),
            ),
            (
                "Components",
                count(report.totals.components),
                format!(
                    " <span class=\"unit\">{} damaged</span>",
                    count(report.totals.damaged())
                ),
            ),
            (
                "Data",
                escape(&human_bytes(report.totals.bytes)),
                format!(
                    " <span class=\"unit\">{} B</span>",
                    count(report.totals.bytes)
                ),
            ),
            if report.mode == Some(RunMode::Repair) {
                ("Repaired", count(repaired), String::new())
            } else {
                (
                    "Not checked",
                    count(self.tally(ComponentStatus::Skipped).0),
                    String::new(),
                )
            },
            (
                "Active time",
                escape(&if throughput.active_seconds > 0.0 {
                    duration(throughput.active_seconds)
                } else {
                    "—".to_string()
                }),
                " <span class=\"unit\">working, not paused or waiting</span>".to_string(),
            ),
            (
                "Wall time",
                escape(&if report.started.is_some() {
                    duration(throughput.elapsed_seconds)
                } else {
                    "—".to_string()
                }),
                " <span class=\"unit\">start to finish</span>".to_string(),
            ),
            ("Throughput", escape(&speed), String::new()),
            (
                "Bytes read or downloaded",
                escape(&human_bytes(throughput.bytes)),
                String::new(),
            ),
            (
                "Tool",
                escape(&format!("export-repair {}", report.tool_version)),
                String::new(),
            ),
        ];
        let mut out = String::from("<dl class=\"facts\">");
        for (term, value, extra) in facts {
            let _ = write!(out, "<div><dt>{term}</dt><dd>{value}{extra}</dd></div>");
        }
        out.push_str("</dl>");
        out
    }

    fn totals(&self) -> String {
        let totals = &self.report.totals;
        let mut out = String::from(
            "<div class=\"card\"><table><thead><tr><th>Status</th><th class=\"num\">Components</th><th class=\"num\">Bytes</th><th>Share of bytes</th></tr></thead><tbody>",
        );
        for status in ComponentStatus::ALL {
            let (components, bytes) = self.tally(status);
            if components == 0 {
                continue;
            }
            let share = if totals.bytes == 0 {
                0.0
            } else {
                bytes as f64 * 100.0 / totals.bytes as f64
            };
            let _ = write!(
                out,
                "<tr><td><span class=\"sw {class}\">{glyph}</span>{label}</td><td class=\"num\">{components}</td><td class=\"num\" title=\"{exact} bytes\">{human}</td><td><div class=\"share\" title=\"{share:.1}%\"><span class=\"{class}\" style=\"width:{share:.2}%\"></span></div></td></tr>",
                class = class(Some(status)),
                glyph = glyph(Some(status)),
                label = label(status),
                components = count(components),
                exact = count(bytes),
                human = human_bytes(bytes),
            );
        }
        let _ = write!(
            out,
            "</tbody><tfoot><tr><td>All</td><td class=\"num\">{}</td><td class=\"num\" title=\"{} bytes\">{}</td><td></td></tr></tfoot></table></div>",
            count(totals.components),
            count(totals.bytes),
            human_bytes(totals.bytes)
        );
        out
    }

    /// The drive's bytes in file order (data ranges, a file's side files at its end).
    fn drive_bytes(&self) -> u64 {
        self.report.files.iter().map(|f| f.length).sum()
    }

    fn map_caption(&self) -> String {
        let bytes = self.drive_bytes();
        if bytes == 0 {
            return "no data bytes".to_string();
        }
        format!(
            "{} cells of {} each, files in order",
            MAP_CELLS,
            human_bytes(bytes.div_ceil(MAP_CELLS))
        )
    }

    fn map(&self) -> String {
        let total = self.drive_bytes();
        let mut out = String::from("<div class=\"card pad\">");
        if total == 0 {
            out.push_str("<p class=\"muted\">The drive's files hold no data bytes.</p>");
        } else {
            let mut cells: Vec<Option<ComponentStatus>> = vec![None; MAP_CELLS as usize];
            let cell_of = |byte: u64| {
                ((byte as u128 * MAP_CELLS as u128 / total as u128) as usize)
                    .min(MAP_CELLS as usize - 1)
            };
            let mut start = 0u64;
            for file in &self.report.files {
                let ranged = has_ranges(file);
                for component in &file.components {
                    let (first, last) = if !spans_bytes(ranged, component) || component.length == 0
                    {
                        let at = cell_of((start + file.length).saturating_sub(1));
                        (at, at)
                    } else {
                        let from = start + component.offset.min(file.length);
                        let to = start + (component.offset + component.length).min(file.length);
                        (cell_of(from), cell_of(to.saturating_sub(1).max(from)))
                    };
                    for cell in &mut cells[first..=last] {
                        *cell = worst(*cell, Some(component.status));
                    }
                }
                start += file.length;
            }
            out.push_str("<div class=\"map\" role=\"img\" aria-label=\"drive map\">");
            for (index, cell) in cells.iter().enumerate() {
                let from = (index as u128 * total as u128 / MAP_CELLS as u128) as u64;
                let _ = write!(
                    out,
                    "<i class=\"{}\" title=\"from byte {}: {}\">{}</i>",
                    class(*cell),
                    count(from),
                    cell.map_or("not listed", label),
                    glyph(*cell)
                );
            }
            out.push_str("</div>");
        }
        out.push_str("<div class=\"legend\">");
        for state in ComponentState::BY_SEVERITY {
            let Some(status) = state.verdict() else {
                continue;
            };
            let _ = write!(
                out,
                "<span><span class=\"sw {}\">{}</span>{}</span>",
                class(Some(status)),
                glyph(Some(status)),
                label(status)
            );
        }
        out.push_str(
            "<span><span class=\"sw s-none\"></span>not listed (page-blob gaps)</span></div></div>",
        );
        out
    }

    fn attention(&self) -> String {
        let mut damaged: Vec<&FileReport> =
            self.report.files.iter().filter(|f| has_damage(f)).collect();
        damaged.sort_by_key(|f| rank(f));
        let mut out = format!(
            "<h2>Needs attention <span class=\"count\">{}</span></h2>",
            escape(&plural(
                damaged.len() as u64,
                "damaged file",
                "damaged files"
            ))
        );
        if damaged.is_empty() {
            let text = if self.verdict == Verdict::Interrupted {
                "No damage found in what was checked."
            } else {
                "Nothing: no damage remains on the drive."
            };
            let _ = write!(out, "<div class=\"card ok-note\">{text}</div>");
            return out;
        }
        for file in damaged {
            let class = if file.status == FileVerdict::Failed {
                "p-failed"
            } else {
                "p-damaged"
            };
            let _ = write!(
                out,
                "<article class=\"card problem {class}\">{}",
                file_heading(file, Heading::Card)
            );
            out.push_str(
                "<table><thead><tr><th>What</th><th>Bytes</th><th>Status</th><th>Reason</th></tr></thead><tbody>",
            );
            let runs = damage_runs(file);
            for run in runs.iter().take(ATTENTION_ROWS) {
                let first = run[0];
                let last = run[run.len() - 1];
                let bytes = if first.kind.is_side_file() {
                    escape(first.file_path.as_deref().unwrap_or("whole file"))
                } else {
                    format!(
                        "{}–{}",
                        count(first.offset),
                        count(last.offset + last.length)
                    )
                };
                let mut reason = escape(first.reason.as_deref().unwrap_or("—"));
                if run.len() > 1 && run.iter().any(|c| c.reason != first.reason) {
                    let _ = write!(
                        reason,
                        " <span class=\"muted\">(and {} similar)</span>",
                        run.len() - 1
                    );
                }
                if run.len() == 1 {
                    reason.push_str(&hashes(first));
                }
                let _ = write!(
                    out,
                    "<tr><td class=\"nowrap\">{}</td><td class=\"mono nowrap\">{}</td><td>{}</td><td class=\"reason break\">{}</td></tr>",
                    escape(&kind_name(first.kind, run.len())),
                    bytes,
                    chip(first.status),
                    reason
                );
            }
            out.push_str("</tbody></table>");
            if runs.len() > ATTENTION_ROWS {
                let _ = write!(
                    out,
                    "<div class=\"more\">… and {} more damaged ranges: the file's entry below and the CSV report list every component.</div>",
                    count((runs.len() - ATTENTION_ROWS) as u64)
                );
            }
            out.push_str("</article>");
        }
        out
    }

    fn files(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut files: Vec<&FileReport> = self.report.files.iter().collect();
        files.sort_by_key(|f| rank(f));
        write!(
            out,
            "<h2>All files <span class=\"count\">{} · failures first · select a file for its components</span></h2><div class=\"card\"><div class=\"listhead\"><span></span><span>Status</span><span>File</span><span class=\"num\">Size</span><span class=\"barhead\">Components by bytes</span></div>",
            escape(&plural(files.len() as u64, "file", "files"))
        )?;
        for file in files {
            write!(
                out,
                "<details class=\"file\">{}<div class=\"body\">",
                file_heading(file, Heading::ListRow)
            )?;
            out.write_all(component_table(file).as_bytes())?;
            out.write_all(b"</div></details>\n")?;
        }
        out.write_all(b"</div>")
    }

    fn run(&self) -> String {
        let report = self.report;
        let md5 = |m: Option<crate::format::Md5>| {
            m.map_or_else(
                || "<span class=\"muted\">not given</span>".to_string(),
                |m| format!("<code>{m}</code>"),
            )
        };
        let mut out = String::from("<div class=\"card\"><table class=\"kv\"><tbody>");
        let _ = write!(
            out,
            "<tr><th>Tool</th><td>export-repair {}</td></tr><tr><th>Report schema</th><td><code>{}</code></td></tr><tr><th>Manifest MD5</th><td>{}</td></tr><tr><th>Copy log MD5</th><td>{}</td></tr>",
            escape(&report.tool_version),
            escape(&report.schema),
            md5(report.run.manifest_md5),
            md5(report.run.copy_log_md5)
        );
        for (name, value) in &report.run.options {
            let _ = write!(
                out,
                "<tr><th>{}</th><td class=\"mono break\">{}</td></tr>",
                escape(name),
                escape(value)
            );
        }
        out.push_str("</tbody></table>");
        if !report.warnings.is_empty() {
            out.push_str("<ul class=\"warnings\">");
            for warning in &report.warnings {
                let _ = write!(out, "<li>{}</li>", escape(warning));
            }
            out.push_str("</ul>");
        }
        out.push_str("</div>");
        out
    }
}

/// Where a file's heading stands.
#[derive(Clone, Copy)]
enum Heading {
    /// On the file's card under "Needs attention".
    Card,
    /// As the summary of the file's entry in the list of all files.
    ListRow,
}

/// A file's heading: status chip, path, blob (and snapshot), size and component bar.
fn file_heading(file: &FileReport, heading: Heading) -> String {
    let chip = file_chip(file);
    let path = escape(&file.file_path);
    let blob = format!(
        "{}{}",
        escape(&file.blob_path),
        file.snapshot
            .as_deref()
            .map(|s| format!(" · snapshot {}", escape(s)))
            .unwrap_or_default()
    );
    let bytes = count(file.length);
    let size = human_bytes(file.length);
    let bar = file_bar(file);
    match heading {
        Heading::Card => format!(
            "<div class=\"head\">{chip}<div class=\"break\"><code class=\"path\">{path}</code> <span class=\"muted small\">blob {blob}</span></div><span class=\"muted nowrap\" title=\"{bytes} bytes\">{size}</span></div>{bar}"
        ),
        Heading::ListRow => format!(
            "<summary><span>{chip}</span><span class=\"break\"><code>{path}</code><span class=\"blob\">{blob}</span></span><span class=\"num\" title=\"{bytes} bytes\">{size}</span>{bar}</summary>"
        ),
    }
}

/// Runs of consecutive damaged components of one kind and status.
fn damage_runs(file: &FileReport) -> Vec<Vec<&ComponentReport>> {
    let mut runs: Vec<Vec<&ComponentReport>> = Vec::new();
    let mut previous_damaged = false;
    for component in &file.components {
        if !component.status.is_damage() {
            previous_damaged = false;
            continue;
        }
        let joins = previous_damaged
            && !component.kind.is_side_file()
            && runs.last().is_some_and(|run| {
                let last = run[run.len() - 1];
                last.kind == component.kind
                    && last.status == component.status
                    && last.offset + last.length == component.offset
            });
        match runs.last_mut() {
            Some(run) if joins => run.push(component),
            _ => runs.push(vec![component]),
        }
        previous_damaged = true;
    }
    runs
}

fn hashes(component: &ComponentReport) -> String {
    match (component.expected_md5, component.actual_md5) {
        (Some(expected), Some(actual))
            if expected != actual
                && !component
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains(&expected.to_string())) =>
        {
            format!(
                "<div class=\"hashes mono\">expected (manifest) {expected} · on the drive {actual}</div>"
            )
        }
        _ => String::new(),
    }
}

/// Whether a file lists blocks or page ranges.
fn has_ranges(file: &FileReport) -> bool {
    file.components.iter().any(|c| {
        matches!(
            c.kind,
            ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk
        )
    })
}

/// Whether a component is drawn as the bytes it covers: blocks and page ranges, and the
/// whole-file component of a file that lists no ranges. The others (properties and
/// metadata files, a length check beside listed ranges) are marks beside the bar.
fn spans_bytes(file_has_ranges: bool, component: &ComponentReport) -> bool {
    match component.kind {
        ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk => true,
        ComponentKind::File | ComponentKind::Crc64 => !file_has_ranges,
        ComponentKind::Properties | ComponentKind::Metadata => false,
    }
}

/// A file's components as one horizontal bar in offset order (bytes to scale), then a small
/// square per properties/metadata file.
fn file_bar(file: &FileReport) -> String {
    let mut segments: Vec<(Option<ComponentStatus>, u64)> = Vec::new();
    let mut push = |status: Option<ComponentStatus>, bytes: u64| {
        if bytes == 0 {
            return;
        }
        match segments.last_mut() {
            Some((last, length)) if *last == status => *length += bytes,
            _ => segments.push((status, bytes)),
        }
    };
    let mut position = 0u64;
    let ranged = has_ranges(file);
    let (mut data, marks): (Vec<&ComponentReport>, Vec<&ComponentReport>) =
        file.components.iter().partition(|c| spans_bytes(ranged, c));
    data.sort_by_key(|c| c.offset);
    for component in data {
        let start = component.offset.min(file.length).max(position);
        let end = (component.offset + component.length).min(file.length);
        if start > position {
            push(None, start - position);
        }
        if end > start {
            push(Some(component.status), end - start);
            position = end;
        }
    }
    if file.length > position {
        push(None, file.length - position);
    }
    let segments = merge_segments(segments, BAR_SEGMENTS);
    let mut out = String::from("<div class=\"filebar\">");
    if segments.is_empty() {
        out.push_str("<div class=\"bar empty\" title=\"no data bytes\"></div>");
    } else {
        out.push_str("<div class=\"bar\">");
        for (status, bytes) in segments {
            let _ = write!(
                out,
                "<span class=\"{}\" style=\"flex-grow:{bytes}\" title=\"{}: {}\"></span>",
                class(status),
                status.map_or("not listed", label),
                human_bytes(bytes)
            );
        }
        out.push_str("</div>");
    }
    if !marks.is_empty() {
        out.push_str("<span class=\"sides\">");
        for mark in marks {
            let (letter, what) = match mark.kind {
                ComponentKind::Properties => ('P', "properties file"),
                ComponentKind::Metadata => ('M', "metadata file"),
                _ => ('L', "file length"),
            };
            let _ = write!(
                out,
                "<b class=\"{}\" title=\"{what}: {}\">{letter}</b>",
                class(Some(mark.status)),
                label(mark.status)
            );
        }
        out.push_str("</span>");
    }
    out.push_str("</div>");
    out
}

/// Merges neighbouring segments until at most `max` remain; a merged segment takes the
/// worst status of what it covers, so damage never disappears from the picture.
fn merge_segments(
    segments: Vec<(Option<ComponentStatus>, u64)>,
    max: usize,
) -> Vec<(Option<ComponentStatus>, u64)> {
    if segments.len() <= max {
        return segments;
    }
    let total: u64 = segments.iter().map(|(_, bytes)| bytes).sum();
    let bucket = total.div_ceil(max as u64).max(1);
    let mut out: Vec<(Option<ComponentStatus>, u64)> = Vec::new();
    let mut current: Option<(Option<ComponentStatus>, u64)> = None;
    for (status, bytes) in segments {
        let (worst_status, length) = current.get_or_insert((status, 0));
        *worst_status = worst(*worst_status, status);
        *length += bytes;
        if *length >= bucket {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// The three MD5s, each named: what the manifest expects, what the drive holds, what the
/// storage gave. One that equals the expected one is a tick.
fn md5_cell(component: &ComponentReport) -> String {
    let Some(expected) = component.expected_md5 else {
        let found = [
            ("on the drive", component.actual_md5),
            ("from storage", component.storage_md5),
        ]
        .iter()
        .filter_map(|(name, md5)| md5.map(|m| format!("{name} {m}")))
        .collect::<Vec<_>>();
        return if found.is_empty() {
            "—".to_string()
        } else {
            format!("no expected MD5<br>{}", found.join("<br>"))
        };
    };
    let mut out = expected.to_string();
    let mut all_same = true;
    for (name, md5) in [
        ("on the drive", component.actual_md5),
        ("from storage", component.storage_md5),
    ] {
        match md5 {
            Some(m) if m == expected => {}
            Some(m) => {
                all_same = false;
                let _ = write!(out, "<br><span class=\"differs\">{name} {m}</span>");
            }
            None => {}
        }
    }
    if all_same && component.actual_md5.is_some() {
        out.push_str(" <span class=\"same\">✓</span>");
    }
    out
}

/// Why, and for a repair verified again, when.
fn reason_text(component: &ComponentReport) -> String {
    let mut text = component.reason.clone().unwrap_or_default();
    if let Some(at) = component.verified_again {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("verified again at {}", human::timestamp(at)));
    }
    text
}

fn component_table(file: &FileReport) -> String {
    if file.components.is_empty() {
        return "<p class=\"muted small\">No components: nothing to check.</p>".to_string();
    }
    let good_allowed = FILE_ROWS.saturating_sub(
        file.components
            .iter()
            .filter(|c| !is_good(c.status))
            .count(),
    );
    let mut good_shown = 0usize;
    let mut hidden = 0u64;
    let mut out = String::from(
        "<table class=\"components\"><thead><tr><th class=\"num\">#</th><th>Kind</th><th>Bytes</th><th class=\"num\">Length</th><th>Status</th><th>MD5: expected (manifest) / on the drive / from storage</th><th>Reason</th></tr></thead><tbody>",
    );
    for (index, component) in file.components.iter().enumerate() {
        if is_good(component.status) {
            if good_shown >= good_allowed {
                hidden += 1;
                continue;
            }
            good_shown += 1;
        }
        let md5 = md5_cell(component);
        let what = if component.kind.is_side_file() {
            escape(component.file_path.as_deref().unwrap_or("—"))
        } else {
            escape(&range_text(component))
        };
        let _ = write!(
            out,
            "<tr><td class=\"num muted\">{}</td><td>{}</td><td class=\"mono {}\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"mono small nowrap\">{}</td><td class=\"break\">{}</td></tr>",
            index + 1,
            component.kind.as_str(),
            if component.kind.is_side_file() {
                "break"
            } else {
                "nowrap"
            },
            what,
            count(component.length),
            chip(component.status),
            md5,
            escape(&reason_text(component))
        );
    }
    out.push_str("</tbody></table>");
    if hidden > 0 {
        let _ = write!(
            out,
            "<p class=\"muted small\">{} more good components not shown: the CSV and JSON reports list every one.</p>",
            count(hidden)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"\a<b>&"c"'d'"#),
            r"\a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;"
        );
    }

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(10_884), "10.6 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(75.0), "1 min 15 s");
        assert_eq!(duration(7260.0), "2 h 01 min");
    }

    #[test]
    fn merging_keeps_the_worst_status_and_every_byte() {
        let mut segments = Vec::new();
        for i in 0..1000u64 {
            let status = if i == 517 {
                ComponentStatus::Failed
            } else if i % 2 == 0 {
                ComponentStatus::Verified
            } else {
                ComponentStatus::Repaired
            };
            segments.push((Some(status), 10));
        }
        let merged = merge_segments(segments, 50);
        assert!(merged.len() <= 50, "{}", merged.len());
        assert_eq!(merged.iter().map(|(_, b)| b).sum::<u64>(), 10_000);
        assert_eq!(
            merged
                .iter()
                .filter(|(s, _)| *s == Some(ComponentStatus::Failed))
                .count(),
            1
        );
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
                "Every component matches",
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
    }

    #[test]
    fn every_template_slot_is_known() {
        let report = crate::report::Report {
            schema: crate::report::SCHEMA.into(),
            tool_version: "9.9.9".into(),
            drive_id: "D<1>".into(),
            mode: None,
            run: Default::default(),
            started: None,
            finished: None,
            throughput: Default::default(),
            outcome: Outcome::Clean,
            interrupted: false,
            totals: Default::default(),
            warnings: vec!["<script>alert(1)</script>".into()],
            files: Vec::new(),
        };
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("{{"), "an unfilled slot remains");
        assert!(html.contains("D&lt;1&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn states_differ_in_pattern_and_glyph_not_only_in_colour() {
        let mut patterned = 0;
        for status in ComponentStatus::ALL {
            let class = class(Some(status));
            let pattern = TEMPLATE.lines().any(|line| {
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
                last_modified: None,
                status: FileVerdict::Failed,
                components: [ComponentStatus::Failed, ComponentStatus::Repaired]
                    .iter()
                    .enumerate()
                    .map(|(i, status)| ComponentReport {
                        kind: ComponentKind::Block,
                        offset: i as u64 * 10,
                        length: 10,
                        status: *status,
                        expected_md5: None,
                        actual_md5: None,
                        storage_md5: None,
                        reason: None,
                        verified_again: None,
                        file_path: None,
                        block_id: None,
                    })
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
