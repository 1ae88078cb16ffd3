//! The headless reporter: progress on stderr (bars on a terminal, plain lines otherwise),
//! NDJSON events on stdout with `--json`, and a closing summary, all read from the run's
//! ledger.

use crate::sanitize::escape_controls;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{CredentialKind, DownloadPlan, Event, PlannedKind, Progression, RunMode, Work};
use crate::ledger::{Ledger, human};
use crate::model::{ComponentStatus, Outcome};

/// How often plain progress lines are written when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);
/// Damaged components listed in the summary; the report has all of them.
const LISTED_DAMAGE: usize = 20;
/// Requests of a dry run's plan listed; the NDJSON stream (`--json`) has all of them.
const LISTED_DOWNLOADS: usize = 50;

/// Stdout was closed by its reader (`--json | head`): nothing more is written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdoutClosed;

pub struct Reporter {
    json: bool,
    bars: Option<Bars>,
    last_plain: Option<Instant>,
    stdout_closed: bool,
    /// A dry run's plan, told after the summary.
    plan: Option<DownloadPlan>,
}

/// One bar per kind of work, each as long as its plan.
struct Bars {
    all: MultiProgress,
    verify: Option<ProgressBar>,
    download: Option<ProgressBar>,
}

impl Bars {
    fn update(&mut self, ledger: &Ledger) {
        for work in [Work::Verify, Work::Download] {
            let progression = progression(ledger, work);
            if progression.components_total == 0 {
                continue;
            }
            let slot = match work {
                Work::Verify => &mut self.verify,
                Work::Download => &mut self.download,
            };
            let bar = slot.get_or_insert_with(|| self.all.add(new_bar(work)));
            // The share done, as the console's bar and the progress line measure it (by
            // components while the plan has no bytes); the bytes are told in words.
            bar.set_position((progression.fraction_done() * BAR_STEPS as f64) as u64);
            bar.set_message(format!(
                "{} of {} {}",
                human::bytes(progression.bytes_done),
                human::bytes(progression.bytes_total),
                state(ledger, work)
            ));
        }
    }

    fn println(&self, line: &str) {
        let _ = self.all.println(line);
    }

    fn clear(self) {
        for bar in [self.verify, self.download].into_iter().flatten() {
            bar.finish_and_clear();
        }
    }
}

/// How finely a terminal bar is drawn: its length, in steps of the share done.
const BAR_STEPS: u64 = 1000;

#[expect(
    clippy::expect_used,
    reason = "the template is a literal; a test renders it"
)]
fn new_bar(work: Work) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(BAR_STEPS), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(work_name(work));
    bar
}

fn work_name(work: Work) -> &'static str {
    match work {
        Work::Verify => "verify",
        Work::Download => "download",
    }
}

fn progression(ledger: &Ledger, work: Work) -> &Progression {
    match work {
        Work::Verify => ledger.verify(),
        Work::Download => ledger.download(),
    }
}

/// How the work goes: downloads that failed first (a failure is done work, not a repair, as
/// the console says), then [`pace`].
fn state(ledger: &Ledger, work: Work) -> String {
    let pace = pace(progression(ledger, work), ledger.paused());
    match work {
        Work::Download if ledger.failed_downloads() > 0 => {
            format!("{} failed, {pace}", human::count(ledger.failed_downloads()))
        }
        _ => pace,
    }
}

/// Rate and time left, or "paused" (a paused run has neither).
fn pace(progression: &Progression, paused: bool) -> String {
    if paused {
        return "paused".to_string();
    }
    if progression.is_complete() {
        return "done".to_string();
    }
    let rate = progression
        .bytes_per_second
        .map_or_else(|| "…".to_string(), human::rate);
    match progression.eta_seconds {
        Some(eta) => format!("{rate} · ETA {}", human::eta(eta)),
        None => rate,
    }
}

impl Reporter {
    pub fn new(json: bool) -> Self {
        let bars = std::io::stderr().is_terminal().then(|| Bars {
            all: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            verify: None,
            download: None,
        });
        Self {
            json,
            bars,
            last_plain: None,
            stdout_closed: false,
            plan: None,
        }
    }

    /// Shows an event the ledger has just taken in. With `--json`, the event goes to stdout;
    /// once its reader has closed it, this says so (and writes nothing more there).
    pub fn on_event(&mut self, event: &Event, ledger: &Ledger) -> Result<(), StdoutClosed> {
        let written = if self.json && !self.stdout_closed {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, event)
                .map_err(std::io::Error::from)
                .and_then(|()| stdout.write_all(b"\n"))
                .and_then(|()| stdout.flush())
        } else {
            Ok(())
        };
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
                    RunMode::Verify => "verifying",
                    RunMode::Repair => "repairing",
                };
                self.note(&format!(
                    "{verb} drive {drive_id}: {blobs} files, {components} components, {}",
                    human::bytes(*bytes)
                ));
            }
            Event::Warning { message } => self.note(&format!("warning: {message}")),
            Event::WaitingForStorage { message } => self.note(&format!("waiting: {message}")),
            Event::CredentialsRefused {
                message,
                credentials,
            } => self.note(&format!(
                "error: {message}\n  the repair stopped; what was done is recorded in the repair file. {}",
                after_refusal(*credentials)
            )),
            Event::Resumed {
                components,
                repaired,
                verified,
                checked_again,
            } => self.note(&crate::engine::resumed_text(
                *components,
                *repaired,
                *verified,
                *checked_again,
            )),
            Event::Progress(_)
            | Event::Planned { .. }
            | Event::Paused
            | Event::Continued
            | Event::Stopping => {
                self.progress(ledger)
            }
            Event::RunFinished { .. } => match self.bars.take() {
                Some(bars) => bars.clear(),
                // Where the run got to, however short it was (a line every few seconds
                // alone says nothing about the end of a fast run).
                None => say!("{}", progress_line(ledger)),
            },
            Event::WouldDownload(plan) => self.plan = Some(plan.clone()),
            Event::Working { .. }
            | Event::StorageLength { .. }
            | Event::Transferred { .. }
            | Event::DownloadUnneeded { .. }
            | Event::EmptyPages { .. }
            | Event::StorageUnreachable { .. }
            | Event::Component(_)
            | Event::Idle { .. }
            | Event::SourceChanged { .. } => {}
        }
        match written {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                self.stdout_closed = true;
                Err(StdoutClosed)
            }
            _ => Ok(()),
        }
    }

    fn progress(&mut self, ledger: &Ledger) {
        if let Some(bars) = &mut self.bars {
            bars.update(ledger);
            return;
        }
        let due = self
            .last_plain
            .is_none_or(|at| at.elapsed() >= PLAIN_INTERVAL);
        let done = ledger.verify().is_complete() && ledger.download().is_complete();
        if due && !done {
            self.last_plain = Some(Instant::now());
            say!("{}", progress_line(ledger));
        }
    }

    /// A line on stderr that does not tear the bars. Its own line breaks are kept; every other
    /// control character (from the drive's XML) is escaped.
    fn note(&self, line: &str) {
        let escaped: Vec<_> = line.split('\n').map(escape_controls).collect();
        let line = &escaped.join("\n");
        match &self.bars {
            Some(bars) => bars.println(line),
            None => say!("{line}"),
        }
    }

    /// Writes the closing summary: to stdout, or to stderr when stdout carries NDJSON (or
    /// its reader has gone).
    pub fn finish(&mut self, ledger: &Ledger) {
        if let Some(bars) = self.bars.take() {
            bars.clear();
        }
        let mut text = summary(ledger, self.plan.as_ref());
        if let Some(plan) = &self.plan {
            text.push_str(&plan_text(plan));
        }
        if self.json || self.stdout_closed {
            say_text!("{text}");
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
        }
    }
}

/// How to go on after the storage refused the credentials.
fn after_refusal(credentials: CredentialKind) -> &'static str {
    match credentials {
        CredentialKind::KeyOrSas => "Rerun with a valid key or SAS to resume.",
        // The message before says what the identity lacks (the role, or a sign-in).
        CredentialKind::EntraId => {
            "Rerun the same command to resume once the identity may read the blobs (a new role \
             assignment can take a few minutes to apply), or switch to a key or SAS: rerun with \
             the account key (/sk:, --account-key or AZURE_STORAGE_KEY) or a SAS (/csas:, --sas \
             or AZURE_STORAGE_SAS) in place of the Entra ID sign-in."
        }
    }
}

/// The closing summary: the verdict, the counts by status, the damage that remains. A dry
/// run's `plan` is what a repair would do.
pub fn summary(ledger: &Ledger, plan: Option<&DownloadPlan>) -> String {
    let mut text = String::new();
    let totals = ledger.totals();
    // A repair that had nothing to download (a dry run: would have) says so, with what
    // earlier runs did.
    let nothing_downloaded = ledger.mode() == Some(RunMode::Repair)
        && ledger.download().components_total == 0
        && plan.is_none_or(|plan| plan.downloads.is_empty());
    let verdict = match (ledger.interrupted(), ledger.outcome()) {
        (true, _) => "INTERRUPTED: the run stopped before the end (a rerun resumes it)".into(),
        (false, Outcome::Clean | Outcome::Repaired) if nothing_downloaded => {
            let earlier = totals.count(ComponentStatus::Repaired);
            let right = totals.count(ComponentStatus::Verified) + earlier;
            let mut line = format!(
                "nothing to repair: {} components verified",
                human::count(right)
            );
            if earlier > 0 {
                line.push_str(&format!(
                    " ({} repaired in earlier runs)",
                    human::count(earlier)
                ));
            }
            let regenerated = totals.count(ComponentStatus::Regenerated);
            if regenerated > 0 {
                line.push_str(&format!(", {} regenerated", human::count(regenerated)));
            }
            line
        }
        (false, Outcome::Clean) => match totals.count(ComponentStatus::Skipped) {
            0 => "VERIFIED: every component matches its expected hash".into(),
            // Components with no hash to check (copy-log ranges without one) are not claimed.
            skipped => format!(
                "VERIFIED: every component that has an expected hash matches it ({} not \
                 checked)",
                human::count(skipped)
            ),
        },
        // A verify repairs nothing: what it found "repaired" is a side file a repair regenerated.
        (false, Outcome::Repaired) if ledger.mode() == Some(RunMode::Verify) => format!(
            "VERIFIED, with {} (a repair wrote them; see the report)",
            human::regenerated_side_files(totals.count(ComponentStatus::Regenerated))
        ),
        // What `verify` alone would call corrupt is said at once, not claimed repaired.
        (false, Outcome::Repaired) if totals.count(ComponentStatus::Regenerated) > 0 => format!(
            "REPAIRED, with {}: a plain `verify` calls them corrupt, `verify --repair-file` \
             checks them against what was written",
            human::regenerated_side_files(totals.count(ComponentStatus::Regenerated))
        ),
        (false, Outcome::Repaired) => "REPAIRED: all damage was repaired".into(),
        (false, Outcome::Damaged) if ledger.unreachable() > 0 => format!(
            "DAMAGED: damage remains on the drive; the storage could not be reached for {} \
             (after every retry): a rerun with the same repair file resumes",
            human::plural(ledger.unreachable(), "component", "components")
        ),
        (false, Outcome::Damaged) => "DAMAGED: damage remains on the drive".to_string(),
        (false, Outcome::Incomplete) => "INCOMPLETE: not every component was checked (a rerun \
                                         with the same repair file checks the rest)"
            .into(),
    };
    text.push_str(&verdict);
    text.push('\n');
    let counts: Vec<String> = ComponentStatus::ALL
        .iter()
        .filter(|s| totals.count(**s) > 0)
        .map(|s| format!("{} {}", human::count(totals.count(*s)), s.as_str()))
        .collect();
    text.push_str(&format!(
        "{} components ({}): {}\n",
        human::count(totals.components),
        human::bytes(totals.bytes),
        counts.join(", ")
    ));
    let regenerated = totals.count(ComponentStatus::Regenerated);
    if regenerated > 0 {
        text.push_str(&format!(
            "warning: {} (the service's exact form is not documented): `verify` calls them \
             corrupt, `verify --repair-file` checks them against what was written\n",
            human::regenerated_side_files(regenerated)
        ));
    }
    if ledger.run().is_some() && ledger.did_work() {
        text.push_str(&format!(
            "worked {} of {} wall time\n",
            human::duration(ledger.active_seconds()),
            human::duration(ledger.wall_seconds(time::OffsetDateTime::now_utc()))
        ));
    }
    let drive = ledger.drive();
    let damaged = ledger.damaged();
    for id in ledger.damaged_components().take(LISTED_DAMAGE) {
        let blob = &drive.blobs[id.blob as usize];
        let component = drive.component(id);
        let place = if component.kind.is_side_file() {
            String::new()
        } else {
            format!(
                " bytes {}..{}",
                component.offset,
                component.offset + ledger.length(id)
            )
        };
        let status = ledger.status(id).map_or("", |s| s.as_str());
        let reason = ledger
            .details(id)
            .and_then(|d| d.reason())
            .unwrap_or_default();
        text.push_str(&format!(
            "  {status:<8} {} {}{place}: {}\n",
            escape_controls(
                blob.component_file_path(component)
                    .unwrap_or(&blob.file_path)
            ),
            component.kind.as_str(),
            escape_controls(&reason),
        ));
    }
    if damaged > LISTED_DAMAGE as u64 {
        text.push_str(&format!(
            "  … and {} more (see the report)\n",
            human::count(damaged - LISTED_DAMAGE as u64)
        ));
    }
    text
}

/// A dry run's plan: each request, then what they add up to and where from.
fn plan_text(plan: &DownloadPlan) -> String {
    let mut text = String::from("dry run: nothing was downloaded or written");
    if plan.downloads.is_empty() {
        text.push_str("; a repair would download nothing\n");
        return text;
    }
    text.push_str(". A repair would:\n");
    for download in plan.downloads.iter().take(LISTED_DOWNLOADS) {
        let blob = escape_controls(&download.blob);
        let what = match download.what {
            PlannedKind::Range => format!(
                "download bytes {}..{} ({}) from {blob}",
                download.offset,
                download.offset.saturating_add(download.length),
                human::bytes(download.length)
            ),
            // A dry run does not ask the storage: the length is the drive's logs' claim.
            PlannedKind::WholeFile if download.length > 0 => format!(
                "download the whole file from {blob} ({} as listed; a repair asks the storage \
                 for its length first)",
                human::bytes(download.length)
            ),
            PlannedKind::WholeFile => {
                format!("download the whole file from {blob} (as long as the storage says)")
            }
            PlannedKind::SideFile => format!("regenerate it from the properties of {blob}"),
            PlannedKind::Length if download.length > 0 => format!(
                "set its length to that of {blob} ({} by the copy log, if the storage agrees)",
                human::bytes(download.length)
            ),
            PlannedKind::Length => format!("set its length to that of {blob}"),
            PlannedKind::MissingEnd => format!(
                "download its missing end, bytes {}..{} ({}), from {blob}, pinned to the export, \
                 if the storage agrees with the copy log's Length (the ranges in it come with it)",
                download.offset,
                download.offset.saturating_add(download.length),
                human::bytes(download.length)
            ),
            PlannedKind::Chunks => format!(
                "read the whole blob ({}) chunk by chunk from {blob}, writing only the chunks that differ",
                human::bytes(download.length)
            ),
        };
        let file = escape_controls(&download.file_path);
        match &download.refused {
            Some(reason) => text.push_str(&format!(
                "  {file}: would not {what}, refused: {}\n",
                escape_controls(reason)
            )),
            None => text.push_str(&format!("  {file}: {what}\n")),
        }
    }
    if plan.downloads.len() > LISTED_DOWNLOADS {
        text.push_str(&format!(
            "  … and {} more (--json lists them all)\n",
            human::count((plan.downloads.len() - LISTED_DOWNLOADS) as u64)
        ));
    }
    let reads = plan.reads().count();
    let whole_files = plan
        .downloads
        .iter()
        .any(|d| d.what == PlannedKind::WholeFile);
    text.push_str(&format!(
        "in all {}{} in {} request{} for {} file{}, from {}\n",
        human::bytes(plan.bytes()),
        if whole_files {
            " (whole files as listed)"
        } else {
            ""
        },
        human::count(reads as u64),
        if reads == 1 { "" } else { "s" },
        human::count(plan.files() as u64),
        if plan.files() == 1 { "" } else { "s" },
        escape_controls(&plan.source)
    ));
    text
}

/// A plain progress line for a log: each kind of work planned so far.
fn progress_line(ledger: &Ledger) -> String {
    let parts: Vec<String> = [Work::Verify, Work::Download]
        .into_iter()
        .filter_map(|work| {
            let p = progression(ledger, work);
            (p.components_total > 0).then(|| {
                format!(
                    "{}: {} of {} ({}%), {} of {} components, {}",
                    work_name(work),
                    human::bytes(p.bytes_done),
                    human::bytes(p.bytes_total),
                    p.percent_done(),
                    human::count(p.components_done),
                    human::count(p.components_total),
                    state(ledger, work)
                )
            })
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Progress;

    #[test]
    fn the_bar_template_renders_and_pace_says_paused() {
        let _ = new_bar(Work::Verify);
        let running = Progression {
            components_done: 5,
            components_total: 10,
            bytes_done: 512,
            bytes_total: 1024,
            bytes_per_second: Some(2048),
            eta_seconds: Some(3),
        };
        assert_eq!(pace(&running, false), "2.0 KiB/s · ETA 3 s");
        assert_eq!(pace(&running, true), "paused");
    }

    #[test]
    fn plain_progress_lines_follow_the_plan() {
        let sample = crate::demo::scenario::sample_drive();
        let drive =
            std::sync::Arc::new(crate::model::Drive::build(Some(sample.manifest()), None).unwrap());
        let mut ledger = Ledger::new(drive);
        ledger.apply(&Event::Planned {
            work: Work::Verify,
            components: 10,
            bytes: 1024,
        });
        assert_eq!(
            progress_line(&ledger),
            "verify: 0 B of 1.0 KiB (0%), 0 of 10 components, …"
        );
        ledger.apply(&Event::Planned {
            work: Work::Download,
            components: 2,
            bytes: 2048,
        });
        ledger.apply(&Event::Progress(Progress {
            download: Progression {
                bytes_per_second: Some(1024),
                eta_seconds: Some(2),
                ..Progression::default()
            },
            ..Progress::default()
        }));
        assert!(
            progress_line(&ledger)
                .ends_with("download: 0 B of 2.0 KiB (0%), 0 of 2 components, 1.0 KiB/s · ETA 2 s"),
            "{}",
            progress_line(&ledger)
        );
    }

    /// A download that failed is done work: the line says so before "done", as the console
    /// does.
    ///
    /// Seen failing: "download: 16.0 MiB of 16.0 MiB (100%), 1 of 1 components, done" beside
    /// "DAMAGED … 1 failed".
    #[test]
    fn the_download_line_says_how_many_failed() {
        use crate::engine::verify::Finding;
        use crate::engine::{Activity, ComponentEvent};
        use crate::model::ComponentId;
        let sample = crate::demo::scenario::sample_drive();
        let drive =
            std::sync::Arc::new(crate::model::Drive::build(Some(sample.manifest()), None).unwrap());
        let mut ledger = Ledger::new(std::sync::Arc::clone(&drive));
        let id = ComponentId {
            blob: 0,
            component: 0,
        };
        ledger.apply(&Event::Planned {
            work: Work::Download,
            components: 1,
            bytes: drive.component(id).length,
        });
        ledger.apply(&Event::Working {
            blob: 0,
            components: vec![0],
            activity: Activity::Downloading,
        });
        let finding = Finding {
            id,
            status: ComponentStatus::Failed,
            actual_md5: None,
            storage_md5: None,
            crc64: Default::default(),
            reason: Some("blob changed since export".into()),
            bytes: 0,
            identity: None,
        };
        let at = time::OffsetDateTime::UNIX_EPOCH;
        ledger.apply(&Event::Component(ComponentEvent::new(&drive, finding, at)));
        let line = progress_line(&ledger);
        assert!(
            line.ends_with("1 of 1 components, 1 failed, done"),
            "{line}"
        );
    }

    /// A download plan of no bytes yet (a file the copy log lists without a length) is measured
    /// by its components, as the console's bar is: nothing done is 0%, not 100%.
    ///
    /// Seen failing: "download: 0 B of 0 B (100%), 0 of 1 components" before anything was
    /// downloaded, while the console's bar stood empty.
    #[test]
    fn a_plan_of_no_bytes_is_measured_by_its_components() {
        let sample = crate::demo::scenario::sample_drive();
        let drive =
            std::sync::Arc::new(crate::model::Drive::build(Some(sample.manifest()), None).unwrap());
        let mut ledger = Ledger::new(drive);
        ledger.apply(&Event::Planned {
            work: Work::Download,
            components: 2,
            bytes: 0,
        });
        let line = progress_line(&ledger);
        assert!(
            line.starts_with("download: 0 B of 0 B (0%), 0 of 2"),
            "{line}"
        );
    }

    /// A dry run never asks the storage: a whole file's length is the copy log's word, and
    /// the plan says so (a hostile copy log's 10^18 is not passed off as a fact).
    #[test]
    fn a_whole_file_s_length_is_said_to_be_the_copy_log_s() {
        let whole = |file: &str, length| crate::engine::PlannedDownload {
            what: PlannedKind::WholeFile,
            file_path: file.into(),
            blob: format!("c{}", file.replace('\\', "/")),
            offset: 0,
            length,
            refused: None,
        };
        let plan = DownloadPlan {
            source: "local mirror /m".into(),
            downloads: vec![
                whole(r"\a", 1_000_000_000_000_000_000),
                whole(r"\b", 0),
                crate::engine::PlannedDownload {
                    what: PlannedKind::Range,
                    offset: 0,
                    length: 1 << 30,
                    refused: Some("too large to check".into()),
                    ..whole(r"\c", 0)
                },
            ],
        };
        let text = plan_text(&plan);
        assert!(
            text.contains(
                r"  \a: download the whole file from c/a (888.2 PiB as listed; a repair asks the storage for its length first)"
            ),
            "{text}"
        );
        assert!(
            text.contains(r"  \b: download the whole file from c/b (as long as the storage says)"),
            "{text}"
        );
        assert!(
            text.contains(
                r"  \c: would not download bytes 0..1073741824 (1.0 GiB) from c/c, refused: too large to check"
            ),
            "{text}"
        );
        // What a repair would refuse is neither read nor counted.
        assert!(
            text.contains("in all 888.2 PiB (whole files as listed) in 2 requests for 2 files"),
            "{text}"
        );
    }
}
