//! The header: what runs where, its counts with their names, and one progress line per
//! kind of work, each with its own plan, rate and time left.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::engine::{Progression, RunMode, Work};
use crate::ledger::{ComponentState, Phase, human};
use crate::model::{ComponentStatus, Outcome};

use super::super::app::App;
use super::super::theme::Theme;
use super::text;

pub const HEIGHT: u16 = 4;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // A column kept free at the right edge: nothing ever touches it.
    let width = (area.width as usize).saturating_sub(1);
    let lines = vec![
        title_line(app, theme, width),
        Line::from(where_line(app, width)),
        progress_line(app, Work::Verify, theme, width),
        progress_line(app, Work::Download, theme, width),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

/// What the run is doing, in a few words.
pub fn phase_words(app: &App) -> String {
    let ledger = &app.ledger;
    match ledger.phase() {
        Phase::Finished {
            interrupted: true, ..
        } => "interrupted".into(),
        Phase::Finished { outcome, .. } => match outcome {
            Outcome::Clean => "verified".into(),
            Outcome::Repaired => "repaired".into(),
            Outcome::Damaged => "damage remains".into(),
            Outcome::Incomplete => "not every component checked".into(),
        },
        Phase::Stopping => "stopping: finishing what is in flight".into(),
        Phase::Paused => "paused".into(),
        Phase::AwaitingCredentials => "waiting for a new key or SAS".into(),
        Phase::Idle => "done, waiting for you".into(),
        Phase::Starting => "starting".into(),
        Phase::Working => match ledger.mode() {
            Some(RunMode::Repair) => "repairing".into(),
            _ => "verifying".into(),
        },
    }
}

fn title_line(app: &App, theme: &Theme, width: usize) -> Line<'static> {
    let ledger = &app.ledger;
    let phase = phase_words(app);
    let leads = [
        format!(" export-repair · drive {} · {phase}", app.drive().drive_id),
        format!(" drive {} · {phase}", app.drive().drive_id),
        format!(" {phase}"),
    ];
    // Labelled counters, most telling first; whole items only.
    let mut counts = Vec::new();
    for (status, word) in [
        (ComponentStatus::Failed, "failed"),
        (ComponentStatus::Corrupt, "corrupt"),
        (ComponentStatus::Missing, "missing"),
        (ComponentStatus::Repaired, "repaired"),
        (ComponentStatus::Regenerated, "regenerated"),
        (ComponentStatus::Verified, "verified"),
        (ComponentStatus::Skipped, "skipped"),
    ] {
        let n = ledger.count(status);
        if n > 0 {
            let glyph = ComponentState::Done(status).glyph();
            counts.push(format!("{glyph} {} {word}", human::count(n)));
        }
    }
    if ledger.unsettled() > 0 {
        counts.push(format!("{} to check", human::count(ledger.unsettled())));
    }
    if let Some(resumed) = ledger.resumed() {
        counts.push(resumed_count(&resumed));
    }
    // The counts matter more than the names: the lead gives up the program's, then the
    // drive's, until the most telling count fits.
    let first = counts.first().map_or(0, |count| text::width(count));
    let lead = leads
        .iter()
        .find(|lead| text::width(lead) + 3 + first <= width)
        .unwrap_or(&leads[leads.len() - 1])
        .clone();
    let room = width.saturating_sub(text::width(&lead) + 3);
    let tail = text::fit_items(&counts, " · ", room);
    let mut spans = vec![Span::styled(lead, theme.title())];
    if !tail.is_empty() {
        spans.push(Span::raw(format!(" · {tail}")));
    }
    Line::from(spans)
}

/// Target, source, repair file: when room is short, the longest is shortened first (from
/// the left: the end of a path says most), never into the words before its path ("local
/// mirror …/mirror", not "…ror /demo/mirror").
fn where_line(app: &App, width: usize) -> String {
    let Some(run) = app.ledger.run() else {
        return String::new();
    };
    let mut parts = vec![("target", run.target.clone())];
    if let Some(source) = &run.source {
        parts.push(("source", source.clone()));
    }
    if let Some(repair_file) = &run.repair_file {
        parts.push(("repair file", repair_file.clone()));
    }
    // Each value is words, a path (shortened when room is short) and what follows the path
    // ("…, paced to 512.0 KiB/s", " (account key)"), kept whole. A part that cannot fit even
    // with its path at its shortest is left out, the last first.
    let split: Vec<(&str, &str, &str)> =
        parts.iter().map(|(_, value)| around_path(value)).collect();
    let least = |count: usize| -> usize {
        1 + 3 * count.saturating_sub(1)
            + parts[..count]
                .iter()
                .zip(&split)
                .map(|((name, _), (words, path, after))| {
                    name.len()
                        + 1
                        + text::width(words)
                        + text::width(path).min(8)
                        + text::width(after)
                })
                .sum::<usize>()
    };
    let mut shown = parts.len();
    while shown > 1 && least(shown) > width {
        shown -= 1;
    }
    let parts = &parts[..shown];
    let fixed: usize =
        1 + parts.iter().map(|(name, _)| name.len() + 1).sum::<usize>() + 3 * (parts.len() - 1);
    let words: Vec<&str> = split[..shown].iter().map(|(words, _, _)| *words).collect();
    let afters: Vec<&str> = split[..shown].iter().map(|(_, _, after)| *after).collect();
    let budget = width
        .saturating_sub(fixed)
        .saturating_sub(words.iter().map(|w| text::width(w)).sum())
        .saturating_sub(afters.iter().map(|a| text::width(a)).sum());
    let mut paths: Vec<String> = split[..shown]
        .iter()
        .map(|(_, path, _)| path.to_string())
        .collect();
    loop {
        let total: usize = paths.iter().map(|v| text::width(v)).sum();
        if total <= budget {
            break;
        }
        let Some((longest, length)) = paths
            .iter()
            .map(|v| text::width(v))
            .enumerate()
            .max_by_key(|(_, length)| *length)
        else {
            break;
        };
        let shorter = length.saturating_sub(total - budget).max(8);
        if shorter >= length {
            break;
        }
        paths[longest] = text::path_tail(&paths[longest], shorter);
    }
    let values: Vec<String> = words
        .iter()
        .zip(paths)
        .zip(&afters)
        .map(|((w, p), a)| format!("{w}{p}{a}"))
        .collect();
    let texts: Vec<String> = parts
        .iter()
        .zip(values)
        .map(|((name, _), value)| format!("{name} {value}"))
        .collect();
    format!(" {}", texts.join(" · "))
}

/// What earlier runs recorded, taken over or checked again (the closing line counts both
/// among the verdicts): "recorded", not "done", as a failed repair is recorded too.
fn resumed_count(resumed: &crate::ledger::Resumed) -> String {
    let earlier = resumed.components + resumed.checked_again;
    let mut text = format!("resumed: {} recorded earlier", human::count(earlier));
    if resumed.checked_again > 0 {
        text.push_str(&format!(
            ", {} checked again",
            human::count(resumed.checked_again)
        ));
    }
    text
}

/// One kind of work: a bar over its plan, then done of planned, rate and time left (or
/// "paused", which has neither).
fn progress_line(app: &App, work: Work, theme: &Theme, width: usize) -> Line<'static> {
    let ledger = &app.ledger;
    let (name, progression): (&str, &Progression) = match work {
        Work::Verify => ("verify", ledger.verify()),
        Work::Download => ("download", ledger.download()),
    };
    let name = format!(" {name:<9}");
    if progression.components_total == 0 {
        let note = match (work, ledger.mode()) {
            (Work::Download, Some(RunMode::Verify)) => "none: a verification only reads",
            _ => "nothing planned yet",
        };
        return Line::from(vec![
            Span::styled(name, theme.title()),
            Span::styled(
                note.to_string(),
                Style::default().fg(ratatui::style::Color::DarkGray),
            ),
        ]);
    }
    // Failed downloads are done work, not repairs: the line says how many first, in their
    // colour.
    let failed = match work {
        Work::Download => ledger.failed_downloads(),
        Work::Verify => 0,
    };
    let mut facts = Vec::new();
    if failed > 0 {
        facts.push(format!("{} failed", human::count(failed)));
    }
    facts.push(format!(
        "{} of {}",
        human::bytes(progression.bytes_done),
        human::bytes(progression.bytes_total)
    ));
    facts.push(format!(
        "{} of {} components",
        human::count(progression.components_done),
        human::count(progression.components_total)
    ));
    if progression.is_complete() {
        facts.push("done".into());
    } else if ledger.stopping() {
        // Stopping outranks a pause: what is in flight finishes, then the run ends.
    } else if ledger.paused() {
        facts.push("paused".into());
    } else if work == Work::Download && ledger.awaiting_credentials() && !ledger.finished() {
        // Nothing downloads until other credentials are given: no rate to measure.
        facts.push("waiting for credentials".into());
    } else if !ledger.finished() && !ledger.idle() {
        match progression.bytes_per_second {
            Some(rate) => {
                facts.push(human::rate(rate));
                if let Some(eta) = progression.eta_seconds {
                    facts.push(format!("ETA {}", human::eta(eta)));
                }
            }
            None => facts.push("measuring…".into()),
        }
    }
    let bar_width = (width / 4).clamp(10, 40);
    let room = width.saturating_sub(text::width(&name) + bar_width + 1);
    let facts = text::fit_items(&facts, " · ", room);
    let filled = (progression.fraction_done() * bar_width as f64).round() as usize;
    let shown = if failed > 0 {
        ComponentStatus::Failed
    } else {
        ComponentStatus::Verified
    };
    let style = theme.status(ComponentState::Done(shown));
    Line::from(vec![
        Span::styled(name, theme.title()),
        Span::styled("█".repeat(filled), style),
        Span::raw("░".repeat(bar_width - filled)),
        Span::raw(format!(" {facts}")),
    ])
}

/// A value as the words that name it before its path or address ("local mirror " of "local
/// mirror /d/m, paced to 1 MiB/s"; empty for a bare path), the path, and what follows it
/// (", paced to 1 MiB/s", " (account key)"; empty when nothing does).
fn around_path(value: &str) -> (&str, &str, &str) {
    let path_start = value.find(['/', '\\']).unwrap_or(0);
    let words_end = value[..path_start].rfind(' ').map_or(0, |space| space + 1);
    let rest = &value[words_end..];
    let path_end = [", ", " ("]
        .iter()
        .filter_map(|mark| rest.find(mark))
        .min()
        .unwrap_or(rest.len());
    (&value[..words_end], &rest[..path_end], &rest[path_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen failing: a rerun whose earlier run had done all 7 components, all checked again
    /// since, said "resumed: 0 done earlier" above "7 components verified (4 repaired in
    /// earlier runs)".
    #[test]
    fn the_resumed_count_is_everything_earlier_runs_did() {
        let resumed = crate::ledger::Resumed {
            components: 0,
            repaired: 0,
            verified: 0,
            checked_again: 7,
        };
        assert_eq!(
            resumed_count(&resumed),
            "resumed: 7 recorded earlier, 7 checked again"
        );
        let taken = crate::ledger::Resumed {
            components: 5,
            checked_again: 0,
            ..resumed
        };
        assert_eq!(resumed_count(&taken), "resumed: 5 recorded earlier");
    }
}
