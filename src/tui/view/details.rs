//! The details: the component under the map cursor (where, its state and downloads, the
//! three hashes by name, its history, its whole reason) and the blob it belongs to; or, on a
//! folder, what is under it.

use crate::sanitize::escape_controls;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::format::Md5;
use crate::ledger::{ComponentState, human};
use crate::model::{ComponentId, ComponentKind, ComponentStatus};

use super::super::action::Action;
use super::super::app::App;
use super::super::theme::Theme;
use super::{pane, text};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = pane(" details ".into(), false, theme);
    let inner = block.inner(area);
    // One column kept free before the border: text never runs into it.
    let width = (inner.width as usize).saturating_sub(1);
    let lines = match app.selected_blob() {
        Some(blob) => blob_lines(app, blob, width, theme),
        None => folder_lines(app, width),
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// `label` then `value`, the value wrapped under itself.
fn labelled(label: &str, value: &str, width: usize) -> Vec<Line<'static>> {
    aligned(label, value, width, 10)
}

/// `label` padded to `pad` columns, then `value` (control characters escaped: it may come
/// from the drive's XML) wrapped under itself.
fn aligned(label: &str, value: &str, width: usize, pad: usize) -> Vec<Line<'static>> {
    text::wrap(&escape_controls(value), width.saturating_sub(pad).max(10))
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let head = if index == 0 { label } else { "" };
            Line::from(format!("{head:<pad$}{part}"))
        })
        .collect()
}

fn md5_text(md5: Option<Md5>, none: &str) -> String {
    md5.map_or_else(|| none.to_string(), |m| m.to_string())
}

fn blob_lines(app: &App, index: usize, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let drive = app.drive();
    let blob = &drive.blobs[index];
    let mut lines = labelled("BlobPath", &blob.blob_path, width);
    if let Some(component) = blob.components.get(app.map_cursor) {
        let id = ComponentId {
            blob: index as u32,
            component: app.map_cursor as u32,
        };
        let state = app.ledger.state(id);
        let details = app.ledger.details(id);
        let length = app.ledger.length(id);
        let place = match component.kind {
            ComponentKind::Properties | ComponentKind::Metadata => blob
                .component_file_path(component)
                .unwrap_or_default()
                .to_string(),
            _ => format!(
                "bytes {}–{} ({})",
                human::count(component.offset),
                human::count(component.offset + length),
                human::bytes(length)
            ),
        };
        let mut head = format!(
            "{} {} of {} · ",
            component.kind.as_str(),
            app.map_cursor + 1,
            blob.components.len()
        );
        let state_word = match (state, details.and_then(|d| d.verified_again())) {
            (ComponentState::Done(ComponentStatus::Repaired), Some(at)) => {
                format!("repaired (verified again at {})", human::clock(at))
            }
            _ => state.name().to_string(),
        };
        let downloads = app.ledger.downloads(id);
        let tail = if downloads > 0 {
            format!(
                " · {}",
                human::plural(downloads.into(), "download", "downloads")
            )
        } else {
            String::new()
        };
        head.push_str(&state_word);
        let about = format!("{} {head} · {place}{tail}", state.glyph());
        for (row, part) in text::wrap(&about, width).into_iter().enumerate() {
            lines.push(if row == 0 {
                Line::from(Span::styled(part, theme.status(state)))
            } else {
                Line::from(part)
            });
        }
        if let Some(reason) = details.and_then(|d| d.reason()) {
            lines.extend(labelled("why", &reason, width));
        }
        let verified = state == ComponentState::Done(ComponentStatus::Verified);
        // Without a storage MD5: a download that failed bringing nothing (a blob not found) is
        // not "not downloaded"; one under way has none yet; one that ended well without an MD5
        // of its own (a file's missing end) has none to show.
        let no_storage_value = match state {
            _ if downloads == 0 => "not downloaded in this run",
            ComponentState::Done(ComponentStatus::Failed) => "nothing came from storage",
            ComponentState::Done(_) => "none recorded for it",
            _ => "not downloaded yet",
        };
        // The three MD5s (CRC-64s for a file checked by CRC-64), named for what they are of;
        // short names when room is short.
        let long = width >= 21 + 32;
        let (pad, names, values) =
            if matches!(component.kind, ComponentKind::Chunk | ComponentKind::Crc64) {
                let expected = blob.expected_crc64(component);
                let drive_crc = details
                    .and_then(|d| d.drive_crc64)
                    .or(verified.then_some(expected).flatten());
                let crc_text = |crc: Option<u64>, none: &str| {
                    crc.map_or_else(|| none.to_string(), |crc| crc.to_string())
                };
                let names = if long {
                    ["CRC-64 (verbose log)", "on the drive", "from storage"]
                } else {
                    ["CRC-64", "on drive", "storage"]
                };
                let values = [
                    crc_text(expected, "none: a chunk is checked with its whole file"),
                    crc_text(drive_crc, "not read yet"),
                    crc_text(details.and_then(|d| d.storage_crc64), no_storage_value),
                ];
                (if long { 21 } else { 10 }, names, values)
            } else {
                let drive_md5 = details.and_then(|d| d.drive_md5).or(
                    // A plain "verified" holds exactly the manifest's bytes.
                    verified.then_some(component.expected_md5).flatten(),
                );
                let values = [
                    md5_text(component.expected_md5, "none: the manifest gives no MD5"),
                    md5_text(drive_md5, "not read yet"),
                    md5_text(details.and_then(|d| d.storage_md5), no_storage_value),
                ];
                if long {
                    (
                        21,
                        ["expected (manifest)", "on the drive", "from storage"],
                        values,
                    )
                } else {
                    (10, ["manifest", "on drive", "storage"], values)
                }
            };
        for (name, value) in names.iter().zip(values) {
            lines.extend(aligned(name, &value, width, pad));
        }
        if let Some(details) = details.filter(|d| d.verdicts() > 1) {
            lines.extend(labelled("history", &details.story(), width));
        }
    }
    lines.extend(labelled("FilePath", &blob.file_path, width));
    let side = |kind: ComponentKind| {
        blob.components
            .iter()
            .position(|c| c.kind == kind)
            .map(|c| {
                app.ledger
                    .state(ComponentId {
                        blob: index as u32,
                        component: c as u32,
                    })
                    .name()
                    .to_string()
            })
            .unwrap_or_else(|| "none".into())
    };
    lines.extend(labelled(
        "Length",
        &format!(
            "{} · modified {} · copy log {}",
            human::exact_bytes(app.ledger.file_length(index)),
            blob.last_modified.as_deref().unwrap_or("unknown"),
            blob.copy_log_status
                .as_ref()
                .map_or("not listed", |s| s.as_str())
        ),
        width,
    ));
    lines.extend(labelled(
        "Files",
        &format!(
            "properties {} · metadata {}",
            side(ComponentKind::Properties),
            side(ComponentKind::Metadata)
        ),
        width,
    ));
    if let Some(record) = blob.export.as_deref() {
        lines.extend(export_lines(record, width));
    }
    lines
}

/// What the 2021 logs say about the file: the verbose log's check, the copy log's category.
fn export_lines(record: &crate::model::ExportRecord, width: usize) -> Vec<Line<'static>> {
    let mut facts = Vec::new();
    if let Some(format) = &record.cloud_format {
        facts.push(format.as_str().to_string());
    }
    if let Some(check) = record.check {
        facts.push(format!(
            "{} · CRC-64 {}",
            human::exact_bytes(check.size),
            check.crc64
        ));
    }
    if let Some(etag) = &record.etag {
        facts.push(format!("ETag {etag}"));
    }
    let mut lines = labelled("Verbose", &facts.join(" · "), width);
    if let (Some(error), Some(advice)) = (&record.error, record.advice()) {
        let renamed = error
            .new_name
            .as_deref()
            .map(|name| format!(" (now {name})"))
            .unwrap_or_default();
        let text = format!(
            "{}{renamed} · {}: {}",
            error.describe().trim_start_matches("the copy log reports "),
            error.action.as_str(),
            advice
        );
        lines.extend(labelled("Copy log", &text, width));
    }
    lines
}

fn folder_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let node = app.visible.get(app.selected).copied().unwrap_or(0);
    let blobs = app.tree.blobs_under(node);
    let name = if node == 0 {
        "the drive".to_string()
    } else {
        format!("{}/", app.tree.nodes[node].name)
    };
    let bytes: u64 = blobs
        .iter()
        .map(|&b| app.ledger.file_length(b))
        .fold(0, u64::saturating_add);
    let mut damaged = 0u64;
    let mut damaged_blobs = 0u64;
    let mut repaired = 0u64;
    let mut regenerated = 0u64;
    let mut to_check = 0u64;
    for &blob in &blobs {
        let tally = app.ledger.blob(blob);
        damaged += u64::from(tally.damaged());
        damaged_blobs += u64::from(tally.damaged() > 0);
        repaired += u64::from(tally.repaired());
        regenerated += u64::from(tally.regenerated());
        to_check += u64::from(tally.components - tally.settled());
    }
    let mut lines = labelled(
        "Folder",
        &format!(
            "{name} · {} · {}",
            human::plural(blobs.len() as u64, "blob", "blobs"),
            human::bytes(bytes)
        ),
        width,
    );
    let mut facts = Vec::new();
    if damaged > 0 {
        facts.push(format!(
            "✗ {} damaged in {}",
            human::plural(damaged, "component", "components"),
            human::plural(damaged_blobs, "blob", "blobs")
        ));
    }
    if repaired > 0 {
        facts.push(format!("◆ {} repaired", human::count(repaired)));
    }
    if regenerated > 0 {
        facts.push(format!("◇ {} regenerated", human::count(regenerated)));
    }
    if to_check > 0 {
        facts.push(format!("· {} still to check", human::count(to_check)));
    }
    if facts.is_empty() {
        facts.push("nothing is damaged here".to_string());
    }
    lines.extend(labelled("State", &facts.join(" · "), width));
    let hint: Vec<String> = match damaged > 0 {
        true => [
            app.key_does(Action::NextDamage, "goes to the next damaged blob"),
            app.key_does(Action::Toggle, "opens the folder"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        false => app
            .key_does(Action::Toggle, "opens the folder")
            .into_iter()
            .chain(["the map shows one cell per blob".to_string()])
            .collect(),
    };
    if !hint.is_empty() {
        lines.extend(labelled("", &hint.join("; "), width));
    }
    lines
}
