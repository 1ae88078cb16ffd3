//! The console's state and its update function: actions and engine events in, commands for
//! the engine out. No terminal here, so all of it is tested without one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::engine::{Command, Event, Progress, RunMode};
use crate::model::tree::{NodeKind, Tree};
use crate::model::{ComponentId, ComponentStatus, Drive, Outcome};

use super::action::Action;
use super::theme::CellState;

/// Log lines kept for the log pane.
const LOG_LINES: usize = 200;
/// Rows a page key moves.
const PAGE: usize = 10;

/// Which pane keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Map,
}

/// What the console is showing on top of the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a search; Enter keeps it, Esc drops it.
    Search,
    /// Quit asked while work is running.
    ConfirmQuit,
}

/// What the update function asks the outside to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send(Command),
    Quit,
}

/// Per-blob counts for the tree's badges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobCounts {
    pub bad: u32,
    pub repaired: u32,
    pub checked: u32,
    pub total: u32,
}

/// The whole console state.
pub struct App {
    pub drive: Arc<Drive>,
    pub tree: Tree,
    expanded: Vec<bool>,
    /// Node indexes in display order (expanded, filtered).
    pub visible: Vec<usize>,
    /// Index into `visible`.
    pub selected: usize,
    pub states: Vec<Vec<CellState>>,
    pub reasons: HashMap<ComponentId, String>,
    pub counts: Vec<BlobCounts>,
    pub progress: Progress,
    pub mode: Mode,
    pub focus: Focus,
    pub damaged_only: bool,
    pub search: String,
    /// Index of the component under the map cursor (in the selected blob).
    pub map_cursor: usize,
    pub log: VecDeque<String>,
    pub run_mode: Option<RunMode>,
    pub paused: bool,
    /// Set when the engine finished: (outcome, interrupted).
    pub finished: Option<(Outcome, bool)>,
}

impl App {
    pub fn new(drive: Arc<Drive>) -> Self {
        let tree = Tree::of(&drive);
        let mut expanded = vec![false; tree.nodes.len()];
        // Containers start open: the first screen shows blobs, not one folded line.
        expanded[0] = true;
        for &child in &tree.nodes[0].children {
            expanded[child] = true;
        }
        let states = drive
            .blobs
            .iter()
            .map(|blob| vec![None; blob.components.len()])
            .collect();
        let counts = drive
            .blobs
            .iter()
            .map(|blob| BlobCounts {
                total: blob.components.len() as u32,
                ..BlobCounts::default()
            })
            .collect();
        let mut app = Self {
            drive,
            tree,
            expanded,
            visible: Vec::new(),
            selected: 0,
            states,
            reasons: HashMap::new(),
            counts,
            progress: Progress::default(),
            mode: Mode::Normal,
            focus: Focus::Tree,
            damaged_only: false,
            search: String::new(),
            map_cursor: 0,
            log: VecDeque::new(),
            run_mode: None,
            paused: false,
            finished: None,
        };
        app.refresh_visible();
        app
    }

    /// The blob under the tree cursor, if the cursor is on a blob.
    pub fn selected_blob(&self) -> Option<usize> {
        let node = *self.visible.get(self.selected)?;
        match self.tree.nodes[node].kind {
            NodeKind::Blob(blob) => Some(blob),
            _ => None,
        }
    }

    pub fn is_expanded(&self, node: usize) -> bool {
        self.expanded[node]
    }

    /// The worst state under a node (for directory glyphs).
    pub fn node_state(&self, node: usize) -> (u32, u32) {
        self.tree
            .blobs_under(node)
            .iter()
            .map(|&b| (self.counts[b].bad, self.counts[b].total))
            .fold((0, 0), |(bad, total), (b, t)| (bad + b, total + t))
    }

    fn blob_matches(&self, blob: usize) -> bool {
        let counts = self.counts[blob];
        let damaged = counts.bad > 0;
        let searched = self.search.is_empty()
            || self.drive.blobs[blob]
                .blob_path
                .to_lowercase()
                .contains(&self.search.to_lowercase());
        (!self.damaged_only || damaged) && searched
    }

    /// Rebuilds the display order after expanding, filtering or new verdicts.
    fn refresh_visible(&mut self) {
        let keep = self.visible.get(self.selected).copied();
        let filtering = self.damaged_only || !self.search.is_empty();
        let mut visible = Vec::new();
        let mut stack: Vec<usize> = self.tree.nodes[0].children.iter().rev().copied().collect();
        while let Some(node) = stack.pop() {
            let shown = match self.tree.nodes[node].kind {
                NodeKind::Blob(blob) => self.blob_matches(blob),
                _ => {
                    !filtering
                        || self
                            .tree
                            .blobs_under(node)
                            .iter()
                            .any(|&b| self.blob_matches(b))
                }
            };
            if !shown {
                continue;
            }
            visible.push(node);
            if self.expanded[node] || filtering {
                stack.extend(self.tree.nodes[node].children.iter().rev());
            }
        }
        self.visible = visible;
        self.selected = keep
            .and_then(|node| self.visible.iter().position(|&n| n == node))
            .unwrap_or_else(|| self.selected.min(self.visible.len().saturating_sub(1)));
    }

    /// Applies a user action.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match (&self.mode, action) {
            (Mode::Help, _) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            (Mode::ConfirmQuit, Action::Quit) => return vec![Effect::Quit],
            (Mode::ConfirmQuit, _) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            _ => {}
        }
        let moves_in_map = self.focus == Focus::Map && self.selected_blob().is_some();
        match action {
            Action::Up if moves_in_map => self.map_cursor = self.map_cursor.saturating_sub(1),
            Action::Down if moves_in_map => self.move_map(1),
            Action::Collapse if moves_in_map => self.map_cursor = self.map_cursor.saturating_sub(1),
            Action::Expand if moves_in_map => self.move_map(1),
            Action::Up => self.move_tree(-1),
            Action::Down => self.move_tree(1),
            Action::PageUp => self.move_tree(-(PAGE as isize)),
            Action::PageDown => self.move_tree(PAGE as isize),
            Action::Top => self.move_tree(isize::MIN / 2),
            Action::Bottom => self.move_tree(isize::MAX / 2),
            Action::Collapse => self.set_expanded(false),
            Action::Expand => self.set_expanded(true),
            Action::Toggle => {
                if let Some(&node) = self.visible.get(self.selected) {
                    let open = !self.expanded[node];
                    self.set_expanded(open);
                }
            }
            Action::Focus => {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Map,
                    Focus::Map => Focus::Tree,
                }
            }
            Action::DamagedOnly => {
                self.damaged_only = !self.damaged_only;
                self.refresh_visible();
            }
            Action::Search => {
                self.search.clear();
                self.mode = Mode::Search;
            }
            Action::Help => self.mode = Mode::Help,
            Action::Pause => {
                if self.finished.is_none() {
                    self.paused = !self.paused;
                    let command = if self.paused {
                        Command::Pause
                    } else {
                        Command::Resume
                    };
                    return vec![Effect::Send(command)];
                }
            }
            Action::Cancel => {
                if self.finished.is_none() {
                    self.push_log("cancelling: finishing the writes in flight".into());
                    return vec![Effect::Send(Command::Cancel)];
                }
            }
            Action::Quit => {
                if self.finished.is_some() {
                    return vec![Effect::Quit];
                }
                self.mode = Mode::ConfirmQuit;
            }
        }
        Vec::new()
    }

    /// A typed character while searching (Enter and Esc end the search).
    pub fn search_input(&mut self, input: SearchInput) {
        match input {
            SearchInput::Char(c) => self.search.push(c),
            SearchInput::Backspace => {
                self.search.pop();
            }
            SearchInput::Done => self.mode = Mode::Normal,
            SearchInput::Abort => {
                self.search.clear();
                self.mode = Mode::Normal;
            }
        }
        self.refresh_visible();
    }

    fn move_tree(&mut self, by: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() as isize - 1;
        self.selected = (self.selected as isize + by).clamp(0, last) as usize;
        self.map_cursor = 0;
    }

    fn move_map(&mut self, by: usize) {
        if let Some(blob) = self.selected_blob() {
            let last = self.drive.blobs[blob].components.len().saturating_sub(1);
            self.map_cursor = (self.map_cursor + by).min(last);
        }
    }

    fn set_expanded(&mut self, open: bool) {
        if let Some(&node) = self.visible.get(self.selected)
            && !matches!(self.tree.nodes[node].kind, NodeKind::Blob(_))
        {
            self.expanded[node] = open;
            self.refresh_visible();
        }
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Applies an engine event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { mode, .. } => self.run_mode = Some(*mode),
            Event::Warning { message } => self.push_log(format!("warning: {message}")),
            Event::CredentialsRefused { message } => self.push_log(format!("error: {message}")),
            Event::Component(component) => {
                let id = component.id;
                let slot = &mut self.states[id.blob as usize][id.component as usize];
                let before = *slot;
                *slot = Some(component.status);
                let counts = &mut self.counts[id.blob as usize];
                if before.is_none() {
                    counts.checked += 1;
                }
                if before.is_some_and(ComponentStatus::is_damage) {
                    counts.bad -= 1;
                }
                if component.status.is_damage() {
                    counts.bad += 1;
                }
                if component.status == ComponentStatus::Repaired
                    && before != Some(ComponentStatus::Repaired)
                {
                    counts.repaired += 1;
                }
                match &component.reason {
                    Some(reason) => {
                        self.reasons.insert(id, reason.clone());
                    }
                    None => {
                        self.reasons.remove(&id);
                    }
                }
                if component.status.is_damage() || component.status == ComponentStatus::Repaired {
                    self.push_log(format!(
                        "{} {} {} @{}",
                        component.status.as_str(),
                        component.file_path,
                        component.kind.as_str(),
                        component.offset
                    ));
                }
                // Only a filter can make a verdict change what is listed.
                if self.damaged_only
                    && before.is_some_and(ComponentStatus::is_damage)
                        != component.status.is_damage()
                {
                    self.refresh_visible();
                }
            }
            Event::Progress(progress) => self.progress = progress.clone(),
            Event::RunFinished {
                outcome,
                interrupted,
                ..
            } => {
                self.finished = Some((*outcome, *interrupted));
                self.push_log(match (interrupted, outcome) {
                    (true, _) => {
                        "run interrupted: rerun with the same repair file to resume".into()
                    }
                    (false, Outcome::Clean) => "finished: every component verified".into(),
                    (false, Outcome::Repaired) => "finished: all damage repaired".into(),
                    (false, Outcome::Damaged) => "finished: damage remains".into(),
                });
            }
        }
    }
}

/// Keys while typing a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchInput {
    Char(char),
    Backspace,
    Done,
    Abort,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ComponentEvent;
    use crate::model::ComponentKind;

    pub(crate) fn demo_app() -> App {
        let sample = crate::demo::scenario::sample_drive();
        let drive = Drive::build(Some(sample.manifest()), None).unwrap();
        App::new(Arc::new(drive))
    }

    fn verdict(app: &App, blob: u32, component: u32, status: ComponentStatus) -> Event {
        let id = ComponentId { blob, component };
        let c = app.drive.component(id);
        Event::Component(ComponentEvent {
            id,
            file_path: app.drive.blobs[blob as usize].file_path.clone(),
            kind: c.kind,
            offset: c.offset,
            length: c.length,
            status,
            expected_md5: c.expected_md5,
            actual_md5: None,
            reason: status.is_damage().then(|| "bad".to_string()),
        })
    }

    fn names(app: &App) -> Vec<String> {
        app.visible
            .iter()
            .map(|&n| app.tree.nodes[n].name.clone())
            .collect()
    }

    #[test]
    fn navigates_expands_and_collapses() {
        let mut app = demo_app();
        // Containers start open.
        assert_eq!(
            names(&app),
            [
                "backups",
                "2012",
                "empty.log",
                "photos",
                "city",
                "wild",
                "zürich"
            ]
        );
        app.update(Action::Down);
        app.update(Action::Toggle);
        assert_eq!(
            names(&app)[..4],
            ["backups", "2012", "archive.bin", "empty.log"]
        );
        app.update(Action::Down);
        assert_eq!(app.selected_blob(), Some(3));
        app.update(Action::Bottom);
        assert_eq!(names(&app)[app.selected], "zürich");
        app.update(Action::Top);
        app.update(Action::Collapse);
        assert_eq!(names(&app), ["backups", "photos", "city", "wild", "zürich"]);
    }

    #[test]
    fn damaged_filter_and_search_narrow_the_tree() {
        let mut app = demo_app();
        let event = verdict(&app, 0, 1, ComponentStatus::Corrupt);
        app.on_event(&event);
        assert_eq!(app.counts[0].bad, 1);
        app.update(Action::DamagedOnly);
        assert_eq!(names(&app), ["photos", "wild", "canyon.jpg"]);
        // Repaired, it leaves the filtered list.
        let event = verdict(&app, 0, 1, ComponentStatus::Repaired);
        app.on_event(&event);
        assert_eq!(app.counts[0].bad, 0);
        assert_eq!(app.counts[0].repaired, 1);
        assert!(app.visible.is_empty());
        app.update(Action::DamagedOnly);
        app.update(Action::Search);
        for c in "ARCHIVE".chars() {
            app.search_input(SearchInput::Char(c));
        }
        app.search_input(SearchInput::Done);
        assert_eq!(names(&app), ["backups", "2012", "archive.bin"]);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn quit_asks_while_running_and_pause_sends_commands() {
        let mut app = demo_app();
        assert_eq!(app.update(Action::Pause), [Effect::Send(Command::Pause)]);
        assert_eq!(app.update(Action::Pause), [Effect::Send(Command::Resume)]);
        assert!(app.update(Action::Quit).is_empty());
        assert_eq!(app.mode, Mode::ConfirmQuit);
        assert!(app.update(Action::Down).is_empty());
        assert_eq!(app.mode, Mode::Normal);
        app.update(Action::Quit);
        assert_eq!(app.update(Action::Quit), [Effect::Quit]);
        let mut done = demo_app();
        done.on_event(&Event::RunFinished {
            outcome: Outcome::Clean,
            totals: Default::default(),
            finished: time::OffsetDateTime::UNIX_EPOCH,
            interrupted: false,
        });
        assert_eq!(done.update(Action::Quit), [Effect::Quit]);
        assert_eq!(done.update(Action::Cancel), []);
    }

    #[test]
    fn the_map_cursor_moves_within_the_selected_blob() {
        let mut app = demo_app();
        app.update(Action::Bottom); // photos
        app.update(Action::Down); // stays on last
        app.update(Action::Top);
        // backups/empty.log is the first blob row.
        app.update(Action::Down);
        app.update(Action::Down);
        assert_eq!(app.selected_blob(), Some(4));
        app.update(Action::Focus);
        app.update(Action::Down);
        app.update(Action::Down);
        let total = app.drive.blobs[4].components.len();
        assert_eq!(app.map_cursor, (2).min(total - 1));
        assert_eq!(
            app.drive.blobs[4].components[app.map_cursor].kind,
            ComponentKind::Properties
        );
    }
}
