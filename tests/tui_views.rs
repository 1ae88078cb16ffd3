//! The console's views, drawn into ratatui's TestBackend at 80×24 and 120×40 and compared
//! with snapshots; the state comes from real engine events over the demo drive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::sync::Arc;

use export_repair::demo::scenario;
use export_repair::engine::{Activity, ComponentEvent, Event, Progress, RunMode};
use export_repair::format::Md5;
use export_repair::model::{ComponentId, ComponentStatus, Drive};
use export_repair::tui::action::Action;
use export_repair::tui::app::{App, TextInput};
use export_repair::tui::keymap::Keymap;
use export_repair::tui::theme::Theme;
use export_repair::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app_mid_repair() -> App {
    let sample = scenario::sample_drive();
    let drive = Arc::new(Drive::build(Some(sample.manifest()), None).unwrap());
    let mut app = App::new(Arc::clone(&drive));
    app.on_event(&Event::RunStarted {
        mode: RunMode::Repair,
        drive_id: drive.drive_id.clone(),
        blobs: drive.blobs.len(),
        components: drive.component_count(),
        bytes: drive.data_bytes(),
        started: time::OffsetDateTime::UNIX_EPOCH,
    });
    // Canyon: verified, one block corrupt; redmond: a page repaired.
    let verdicts = [
        (0, 0, ComponentStatus::Verified, None),
        (
            0,
            1,
            ComponentStatus::Corrupt,
            Some("MD5 is 00, the manifest expects 11"),
        ),
        (0, 2, ComponentStatus::Verified, None),
        (1, 2, ComponentStatus::Repaired, None),
        (
            3,
            0,
            ComponentStatus::Missing,
            Some("the file \\backups\\2012\\archive.bin is not on the drive"),
        ),
    ];
    for (blob, component, status, reason) in verdicts {
        let id = ComponentId { blob, component };
        let actual = (status == ComponentStatus::Corrupt).then_some(Md5([0xAB; 16]));
        let reason = reason.map(str::to_string);
        app.on_event(&Event::Component(ComponentEvent::new(
            &drive, id, status, actual, reason,
        )));
    }
    app.on_event(&Event::Progress(Progress {
        components_done: 5,
        components_total: drive.component_count() as u64,
        bytes_done: 4 * 1024 * 1024,
        bytes_total: drive.data_bytes(),
        bytes_per_second: 2 * 1024 * 1024,
        eta_seconds: Some(12),
    }));
    app
}

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let keymap = Keymap::default_keys();
    let theme = Theme::default();
    terminal
        .draw(|frame| view::draw(frame, app, &keymap, &theme))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[test]
fn the_first_screen_at_both_sizes() {
    let app = app_mid_repair();
    let small = render(&app, 80, 24);
    assert!(
        small.contains("4.0 MiB / 27.3 MiB · 1 repaired · 2 damaged"),
        "{small}"
    );
    insta::assert_snapshot!("first_screen_80x24", small);
    insta::assert_snapshot!("first_screen_120x40", render(&app, 120, 40));
}

#[test]
fn a_damaged_blob_selected_with_its_block_map() {
    let mut app = app_mid_repair();
    app.update(Action::DamagedOnly);
    // backups/ 2012/ archive.bin photos/ wild/ canyon.jpg: the filter opens every folder.
    for _ in 0..5 {
        app.update(Action::Down);
    }
    app.update(Action::Focus);
    app.update(Action::Down);
    let screen = render(&app, 120, 40);
    assert!(
        screen.contains("BlobPath  photos/wild/canyon.jpg"),
        "{screen}"
    );
    assert!(screen.contains("block 2: corrupt @2721 +2721"), "{screen}");
    assert!(
        screen.contains("on drive ABABABABABABABABABABABABABABABAB"),
        "{screen}"
    );
    assert!(
        screen.contains("MD5 is 00, the manifest expects 11"),
        "{screen}"
    );
    insta::assert_snapshot!("damaged_blob_120x40", screen);
    // Small, the map keeps its cells and the cursor's line; the legend gives way.
    let small = render(&app, 80, 24);
    assert!(small.contains("■✗■··"), "{small}");
    assert!(small.contains("block 2: corrupt"), "{small}");
    insta::assert_snapshot!("damaged_blob_80x24", small);
}

#[test]
fn help_quit_confirmation_and_a_too_small_terminal() {
    let mut app = app_mid_repair();
    app.update(Action::Help);
    let help = render(&app, 80, 24);
    assert!(help.contains("damaged only"), "{help}");
    insta::assert_snapshot!("help_80x24", help);
    app.update(Action::Down); // any key closes help
    app.update(Action::Quit);
    let confirm = render(&app, 80, 24);
    assert!(confirm.contains("Quit anyway?"), "{confirm}");
    let small = render(&app, 40, 10);
    assert!(small.contains("terminal too small: 40×10"), "{small}");
}

#[test]
fn the_credentials_prompt_masks_what_is_typed() {
    let mut app = app_mid_repair();
    app.on_event(&Event::CredentialsRefused {
        message: "the storage refused the credentials (403 AuthenticationFailed)".into(),
    });
    for c in "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6".chars() {
        app.text_input(TextInput::Char(c));
    }
    let screen = render(&app, 80, 24);
    assert!(!screen.contains("Eby8"), "{screen}");
    assert!(screen.contains(&"•".repeat(44)), "{screen}");
    assert!(screen.contains("waiting for a new key or SAS"), "{screen}");
    insta::assert_snapshot!("credentials_prompt_80x24", screen);
}

#[test]
fn marks_and_work_in_progress_show_in_the_tree_and_the_map() {
    let mut app = app_mid_repair();
    app.update(Action::DamagedOnly);
    for _ in 0..5 {
        app.update(Action::Down);
    }
    app.update(Action::Mark);
    app.on_event(&Event::Working {
        blob: 0,
        components: vec![1],
        activity: Activity::Downloading,
    });
    app.on_event(&Event::Working {
        blob: 0,
        components: vec![3, 4],
        activity: Activity::Queued,
    });
    // Marking moved the cursor on; canyon.jpg is the last row, so it stayed.
    app.update(Action::Focus);
    app.update(Action::Down);
    let screen = render(&app, 120, 40);
    assert!(screen.contains("+ ↓ canyon.jpg"), "{screen}");
    assert!(
        screen.contains("block 2: downloading @2721 +2721 · 1 download(s)"),
        "{screen}"
    );
    insta::assert_snapshot!("work_in_progress_120x40", screen);
}
