//! The console, the headless summary and the JSON report say the same of any run: random
//! event sequences over the demo drive (verdicts in any order, retries, verifying again,
//! pauses, refused credentials and new ones, idle spells, cancel or finish) are fed to the
//! console (its header and its tree's rows are drawn and read back), to the headless summary and to the JSON
//! report, and all three are checked against a plain model of what the events say: the last
//! verdict counts, except that a repaired component looked at again and found good stays
//! repaired.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::collections::BTreeMap;
use std::sync::Arc;

use export_repair::cli::reporter;
use export_repair::demo::scenario;
use export_repair::engine::{
    Activity, ComponentEvent, CredentialKind, Event, Finding, Progress, Progression, RunMode, Work,
};
use export_repair::ledger::Ledger;
use export_repair::model::{ComponentId, ComponentStatus, Drive, Outcome};
use export_repair::report::{Report, RunInfo};
use export_repair::tui::action::Action;
use export_repair::tui::app::App;
use export_repair::tui::keymap::Keymap;
use export_repair::tui::theme::Theme;
use export_repair::tui::view;
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use time::OffsetDateTime;

fn drive() -> Arc<Drive> {
    Arc::new(Drive::build(Some(scenario::sample_drive().manifest()), None).unwrap())
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    Work(usize, Activity),
    Verdict(usize, ComponentStatus),
    Plan(Work, u64),
    Progress(u64),
    Pause,
    Continue,
    Refuse,
    NewSource,
    Idle,
}

fn step(components: usize) -> impl Strategy<Value = Step> {
    let status = prop::sample::select(ComponentStatus::ALL.to_vec());
    let activity = prop::sample::select(vec![
        Activity::Queued,
        Activity::Verifying,
        Activity::Downloading,
    ]);
    prop_oneof![
        4 => (0..components, activity).prop_map(|(c, a)| Step::Work(c, a)),
        8 => (0..components, status).prop_map(|(c, s)| Step::Verdict(c, s)),
        1 => (prop::sample::select(vec![Work::Verify, Work::Download]), 1u64..20)
            .prop_map(|(w, n)| Step::Plan(w, n)),
        1 => (0u64..1_000_000).prop_map(Step::Progress),
        1 => Just(Step::Pause),
        1 => Just(Step::Continue),
        1 => Just(Step::Refuse),
        1 => Just(Step::NewSource),
        1 => Just(Step::Idle),
    ]
}

/// The events of a run: its start, the steps, and perhaps its end.
fn events(drive: &Drive, steps: &[Step], ending: Option<bool>) -> Vec<Event> {
    let ids: Vec<ComponentId> = drive.components().map(|(id, _, _)| id).collect();
    let at = |n: usize| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(n as i64);
    let mut out = vec![Event::RunStarted {
        mode: RunMode::Repair,
        drive_id: drive.drive_id.clone(),
        blobs: drive.blobs.len(),
        components: drive.component_count(),
        bytes: drive.data_bytes(),
        started: at(0),
        target: "/drive".into(),
        source: Some("local mirror /mirror".into()),
        repair_file: Some("/D.rep".into()),
    }];
    for (n, step) in steps.iter().enumerate() {
        out.push(match step {
            Step::Work(c, activity) => Event::Working {
                blob: ids[*c].blob,
                components: vec![ids[*c].component],
                activity: *activity,
            },
            Step::Verdict(c, status) => {
                let finding = Finding {
                    id: ids[*c],
                    status: *status,
                    actual_md5: None,
                    storage_md5: None,
                    crc64: Default::default(),
                    reason: status.is_damage().then(|| format!("reason {n}")),
                    bytes: drive.component(ids[*c]).length,
                    identity: None,
                };
                Event::Component(ComponentEvent::new(drive, finding, at(n + 1)))
            }
            Step::Plan(work, components) => Event::Planned {
                work: *work,
                components: *components,
                bytes: components * 1000,
            },
            Step::Progress(rate) => Event::Progress(Progress {
                verify: Progression {
                    bytes_per_second: Some(*rate),
                    ..Progression::default()
                },
                download: Progression::default(),
                active_seconds: n as f64,
            }),
            Step::Pause => Event::Paused,
            Step::Continue => Event::Continued,
            Step::Refuse => Event::CredentialsRefused {
                message: "storage refused the credentials (HTTP 403)".into(),
                credentials: CredentialKind::KeyOrSas,
            },
            Step::NewSource => Event::SourceChanged {
                source: "Azure http://127.0.0.1:1/a (account key)".into(),
            },
            Step::Idle => Event::Idle {
                outcome: Outcome::Clean,
                totals: Default::default(),
                active_seconds: n as f64,
            },
        });
    }
    if let Some(interrupted) = ending {
        out.push(Event::RunFinished {
            outcome: Outcome::Clean,
            totals: Default::default(),
            finished: at(steps.len() + 1),
            interrupted,
            repair_file_error: None,
            active_seconds: steps.len() as f64,
        });
    }
    out
}

/// The plain model: components by the status every view must show ("skipped" for those
/// never reached).
fn expected_counts(drive: &Drive, steps: &[Step]) -> BTreeMap<String, u64> {
    let ids: Vec<ComponentId> = drive.components().map(|(id, _, _)| id).collect();
    let mut last: Vec<Option<ComponentStatus>> = vec![None; ids.len()];
    let mut repaired = vec![false; ids.len()];
    for step in steps {
        if let Step::Verdict(c, status) = step {
            let shown = match status {
                ComponentStatus::Verified | ComponentStatus::Skipped if repaired[*c] => {
                    ComponentStatus::Repaired
                }
                other => *other,
            };
            repaired[*c] |= *status == ComponentStatus::Repaired;
            last[*c] = Some(shown);
        }
    }
    let mut counts = BTreeMap::new();
    for status in last {
        let name = status
            .unwrap_or(ComponentStatus::Skipped)
            .as_str()
            .to_string();
        *counts.entry(name).or_default() += 1;
    }
    counts
}

/// The console's header, drawn and read back: "! 2 failed · ✗ 1 corrupt · … · 5 to check".
fn console_counts(app: &App) -> BTreeMap<String, u64> {
    let mut terminal = Terminal::new(TestBackend::new(200, 40)).unwrap();
    terminal
        .draw(|frame| view::draw(frame, app, &Keymap::default_keys(), &Theme::monochrome()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let title: String = (0..buffer.area.width)
        .map(|x| buffer[(x, 0)].symbol().to_string())
        .collect();
    let mut counts = BTreeMap::new();
    for part in title.split(" · ") {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (number, name) = match words.as_slice() {
            [_, n, name] if ComponentStatus::ALL.iter().any(|s| s.as_str() == *name) => (n, *name),
            [n, "to", "check"] => (n, "skipped"),
            _ => continue,
        };
        *counts.entry(name.to_string()).or_default() +=
            number.replace(',', "").parse::<u64>().unwrap();
    }
    counts
}

/// The console's tree with every folder open, read back: each blob's row ends with its counts
/// ("✗1 ◆2 ◇1 /7"); summed over the rows, by the status each glyph stands for.
fn tree_counts(app: &mut App) -> BTreeMap<String, u64> {
    app.update(Action::ExpandAll);
    app.settle();
    let mut terminal = Terminal::new(TestBackend::new(200, 80)).unwrap();
    terminal
        .draw(|frame| view::draw(frame, app, &Keymap::default_keys(), &Theme::monochrome()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut counts = BTreeMap::new();
    let mut blob_rows = 0;
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        // The tree is the leftmost pane (its borders double when focused): its row lies
        // between the first two borders.
        let Some(row) = line.split(['│', '║']).nth(1) else {
            continue;
        };
        let words: Vec<&str> = row.split_whitespace().collect();
        let ends_with_total = words.last().is_some_and(|last| {
            last.strip_prefix('/')
                .is_some_and(|n| n.parse::<u64>().is_ok())
        });
        if !ends_with_total {
            continue;
        }
        blob_rows += 1;
        for word in words {
            let mut chars = word.chars();
            let glyph = chars.next();
            let Ok(n) = chars.as_str().parse::<u64>() else {
                continue;
            };
            let name = match glyph {
                Some('✗') => "damaged",
                Some('◆') => "repaired",
                Some('◇') => "regenerated",
                _ => continue,
            };
            *counts.entry(name.to_string()).or_default() += n;
        }
    }
    assert_eq!(
        blob_rows,
        app.drive().blobs.len(),
        "every blob's row is drawn"
    );
    counts
}

/// The demo drive's components: blocks, pages, side files and each file's length.
const DEMO_COMPONENTS: usize = 34;

/// The headless summary's count line: "29 components (27.3 MiB): 17 verified, 12 repaired".
fn summary_counts(ledger: &Ledger) -> BTreeMap<String, u64> {
    let text = reporter::summary(ledger, None);
    let line = text.lines().nth(1).unwrap();
    let (_, list) = line.split_once("): ").unwrap();
    list.split(", ")
        .map(|part| {
            let (n, name) = part.split_once(' ').unwrap();
            (name.to_string(), n.replace(',', "").parse().unwrap())
        })
        .collect()
}

/// The JSON report's totals by status.
fn report_counts(ledger: &Ledger) -> (BTreeMap<String, u64>, serde_json::Value) {
    let json = serde_json::to_value(Report::of(ledger, RunInfo::default())).unwrap();
    let counts = json["totals"]["by_status"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, tally)| (name.clone(), tally["components"].as_u64().unwrap()))
        .collect();
    (counts, json)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    })]

    #[test]
    fn console_summary_and_report_agree_with_what_the_events_say(
        steps in prop::collection::vec(step(DEMO_COMPONENTS), 0..120),
        ending in prop::option::of(any::<bool>()),
    ) {
        let drive = drive();
        // Steps name components by index: a demo that changes must fail here, not pass idly.
        prop_assert_eq!(drive.component_count(), DEMO_COMPONENTS);
        let events = events(&drive, &steps, ending);
        let mut app = App::new(Arc::clone(&drive));
        let mut headless = Ledger::new(Arc::clone(&drive));
        for event in &events {
            app.on_event(event);
            headless.apply(event);
        }
        let expected = expected_counts(&drive, &steps);
        let (report, json) = report_counts(&headless);
        prop_assert_eq!(&report, &expected, "JSON report");
        prop_assert_eq!(&summary_counts(&headless), &expected, "headless summary");
        prop_assert_eq!(&console_counts(&app), &expected, "console header");
        let mut in_tree: BTreeMap<String, u64> = BTreeMap::new();
        for (name, n) in &expected {
            let row = match name.as_str() {
                "corrupt" | "missing" | "failed" => "damaged",
                "repaired" | "regenerated" => name.as_str(),
                _ => continue,
            };
            *in_tree.entry(row.to_string()).or_default() += n;
        }
        prop_assert_eq!(&tree_counts(&mut app), &in_tree, "console tree");
        // Whether the run finished, and how.
        let interrupted = ending == Some(true);
        prop_assert_eq!(json["interrupted"].as_bool(), Some(interrupted));
        let verdict = reporter::summary(&headless, None);
        prop_assert_eq!(verdict.starts_with("INTERRUPTED"), interrupted, "{}", verdict);
        let damaged = ["corrupt", "missing", "failed"]
            .iter()
            .map(|s| expected.get(*s).copied().unwrap_or(0))
            .sum::<u64>();
        let outcome = json["outcome"].as_str().unwrap();
        prop_assert_eq!(outcome == "damaged", damaged > 0);
        if !interrupted {
            prop_assert_eq!(verdict.starts_with("DAMAGED"), damaged > 0, "{}", verdict);
        }
    }
}
