//! The console's state and its update function: actions and engine events in, commands for
//! the engine out. What the run says comes from its ledger; the console keeps only what is
//! its own (the tree's folding, the cursor, marks, filters, prompts, the log). No terminal
//! here, so all of it is tested without one.

mod events;
mod navigation;
mod prompt;
#[cfg(test)]
mod tests;
mod work;

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::Command;
use crate::ledger::Ledger;
use crate::model::Drive;
use crate::model::tree::{NodeKind, Tree};
use crate::report::ReportFormat;

use super::action::Action;
use super::keymap::Keymap;

pub use prompt::{Prompt, PromptKind, TextInput, next_format};

/// Log lines kept for the log pane.
const LOG_LINES: usize = 500;
/// Components a page key moves the block map's cursor by.
const MAP_PAGE: usize = 64;

/// Which pane keys move in; Tab goes round them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Map,
    Log,
}

/// Which blobs the tree lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Damaged,
    Repaired,
}

/// A question that needs a yes before anything happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Quit while work runs.
    Quit,
    /// Cancel the whole run.
    Cancel,
}

/// What the console is showing on top of the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a search; Enter keeps it, Esc drops it.
    Search,
    Confirm(Confirm),
    /// Typing an answer: new credentials, or where to export the report.
    Prompt(Prompt),
    /// Where the verbose log is written.
    LogFile,
}

impl Mode {
    /// Keys are text here, not actions.
    pub fn takes_text(&self) -> bool {
        matches!(self, Mode::Search | Mode::Prompt(_))
    }
}

/// What the update function asks the outside to do.
#[derive(Clone, PartialEq, Eq)]
pub enum Effect {
    Send(Command),
    /// Close the console once the engine's stream ends.
    Quit,
    /// Build a source from this account key or SAS and switch to it.
    UseCredentials(String),
    /// Write the report as it stands; the answer goes to `exported` or `export_failed`.
    Export {
        path: PathBuf,
        format: ReportFormat,
    },
    /// The report's name is taken: ask before replacing it (`ask_overwrite`), unless the
    /// place is refused anyway (the repair file, an input, the drive: `export_failed`).
    AskOverwrite(PathBuf),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Send(command) => f.debug_tuple("Send").field(command).finish(),
            Effect::Quit => f.write_str("Quit"),
            Effect::UseCredentials(_) => f.write_str("UseCredentials(<secret>)"),
            Effect::Export { path, format } => f
                .debug_struct("Export")
                .field("path", path)
                .field("format", format)
                .finish(),
            Effect::AskOverwrite(path) => f.debug_tuple("AskOverwrite").field(path).finish(),
        }
    }
}

/// Where a pane was last drawn, so that a click can find its row and a page key moves by
/// its height.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneRows {
    pub top: u16,
    pub height: u16,
    pub left: u16,
    pub width: u16,
    /// The first visible row's index.
    pub offset: usize,
}

/// Facts about the program around the run that the console shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surroundings {
    /// New credentials can be given (an Azure source); a local mirror takes none.
    pub takes_credentials: bool,
    /// The verbose log file, when one is written.
    pub log_file: Option<PathBuf>,
    /// Where a relative export path is taken from.
    pub working_dir: PathBuf,
}

/// The whole console state.
pub struct App {
    /// The run as the engine's events tell it: the one fold every view reads.
    pub ledger: Ledger,
    pub tree: Tree,
    pub surroundings: Surroundings,
    expanded: Vec<bool>,
    /// Node indexes in display order (expanded, filtered).
    pub visible: Vec<usize>,
    /// Index into `visible`.
    pub selected: usize,
    /// Blobs marked for the next retry or verification.
    pub marked: BTreeSet<usize>,
    /// Per tree node: damaged components and marked blobs under it.
    node_bad: Vec<u32>,
    node_marked: Vec<u32>,
    /// Per blob: its tree node, and its path in lower case (for search).
    blob_node: Vec<usize>,
    lower_paths: Vec<Box<str>>,
    /// Blobs in tree order, and each blob's place in it.
    blob_order: Vec<usize>,
    blob_rank: Vec<usize>,
    /// Verdicts changed what a filter shows.
    stale: bool,
    /// The technician has not moved yet: the cursor goes to the first damage found.
    follows_damage: bool,
    pub mode: Mode,
    pub focus: Focus,
    pub filter: Filter,
    pub search: tui_input::Input,
    /// Index of the component under the map cursor (in the selected blob).
    pub map_cursor: usize,
    pub log: VecDeque<String>,
    /// Lines the log pane is scrolled up from its end.
    pub log_scroll: usize,
    /// Written by the view.
    pub tree_rows: std::cell::Cell<PaneRows>,
    pub log_rows: std::cell::Cell<PaneRows>,
    /// The last frame had no room for the console (only "terminal too small" was drawn).
    pub too_small: std::cell::Cell<bool>,
    /// The keys in force, for the log's words about them (the console's own keymap).
    keymap: Keymap,
}

impl App {
    pub fn new(drive: Arc<Drive>) -> Self {
        Self::with(drive, Surroundings::default())
    }

    pub fn with(drive: Arc<Drive>, surroundings: Surroundings) -> Self {
        let tree = Tree::of(&drive);
        let nodes = tree.nodes.len();
        let mut blob_node = vec![0; drive.blobs.len()];
        for (index, node) in tree.nodes.iter().enumerate() {
            if let NodeKind::Blob(blob) = node.kind {
                blob_node[blob] = index;
            }
        }
        let blob_order = tree.blobs_under(0);
        let mut blob_rank = vec![0; drive.blobs.len()];
        for (rank, &blob) in blob_order.iter().enumerate() {
            blob_rank[blob] = rank;
        }
        let lower_paths = drive
            .blobs
            .iter()
            .map(|blob| blob.blob_path.to_lowercase().into_boxed_str())
            .collect();
        let mut expanded = vec![false; tree.nodes.len()];
        // Containers start open: the first screen shows blobs, not one folded line.
        expanded[0] = true;
        for &child in &tree.nodes[0].children {
            expanded[child] = true;
        }
        let mut app = Self {
            ledger: Ledger::new(drive),
            tree,
            surroundings,
            expanded,
            visible: Vec::new(),
            selected: 0,
            marked: BTreeSet::new(),
            node_bad: vec![0; nodes],
            node_marked: vec![0; nodes],
            blob_node,
            lower_paths,
            blob_order,
            blob_rank,
            stale: false,
            follows_damage: true,
            mode: Mode::Normal,
            focus: Focus::Tree,
            filter: Filter::All,
            search: tui_input::Input::default(),
            map_cursor: 0,
            log: VecDeque::new(),
            log_scroll: 0,
            tree_rows: std::cell::Cell::default(),
            log_rows: std::cell::Cell::default(),
            too_small: std::cell::Cell::default(),
            keymap: Keymap::default_keys(),
        };
        app.refresh_visible();
        app
    }

    pub fn drive(&self) -> &Arc<Drive> {
        self.ledger.drive()
    }

    /// The keys the console answers to: what the log tells the technician to press.
    pub fn use_keys(&mut self, keymap: &Keymap) {
        self.keymap = keymap.clone();
    }

    /// The first key bound to `action` ("" when none is).
    pub fn key_for(&self, action: Action) -> String {
        self.keymap.key_for(action)
    }

    /// "r retries all", or none when no key is bound to `action`: the console's words name
    /// only keys in force.
    pub fn key_does(&self, action: Action, does: &str) -> Option<String> {
        let key = self.key_for(action);
        (!key.is_empty()).then(|| format!("{key} {does}"))
    }

    /// " · r retries all" for each of `hints` whose action has a key, in order.
    pub(crate) fn key_hints(&self, hints: &[(Action, &str)]) -> String {
        hints
            .iter()
            .filter_map(|&(action, does)| self.key_does(action, does))
            .map(|hint| format!(" · {hint}"))
            .collect()
    }

    /// " (a gives one)", or nothing when no key is bound to `action`.
    pub(crate) fn key_aside(&self, action: Action, does: &str) -> String {
        self.key_does(action, does)
            .map(|hint| format!(" ({hint})"))
            .unwrap_or_default()
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

    /// Damaged components and blobs marked under a node (for folder badges).
    pub fn node_state(&self, node: usize) -> (u32, u32) {
        (self.node_bad[node], self.node_marked[node])
    }

    /// Whether work is under way (not idle, not finished).
    pub fn busy(&self) -> bool {
        !self.ledger.finished() && !self.ledger.idle() && !self.ledger.stopping()
    }

    /// Whether the tree lists a subset (a filter or a search).
    pub fn filtering(&self) -> bool {
        self.filter != Filter::All || !self.search.value().is_empty()
    }

    /// Adds `by` to a per-node count of a blob's node and every folder above it.
    fn add_up(counts: &mut [u32], tree: &Tree, node: usize, by: i64) {
        let mut at = node;
        loop {
            counts[at] = (i64::from(counts[at]) + by) as u32;
            if at == 0 {
                break;
            }
            at = tree.nodes[at].parent;
        }
    }

    /// Applies a user action.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        self.settle();
        match (&self.mode, action) {
            (Mode::Help | Mode::LogFile, _) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            (Mode::Confirm(Confirm::Quit), Action::Quit) => {
                self.mode = Mode::Normal;
                return self.quit_now();
            }
            (Mode::Confirm(Confirm::Cancel), Action::Cancel) => {
                self.mode = Mode::Normal;
                return self.cancel_now();
            }
            (Mode::Confirm(_), _) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            _ => {}
        }
        if matches!(
            action,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::NextDamage
                | Action::PreviousDamage
                | Action::Search
        ) {
            self.follows_damage = false;
        }
        match (self.focus, action) {
            (Focus::Log, Action::Up) => self.scroll_log(1),
            (Focus::Log, Action::Down) => self.scroll_log(-1),
            (Focus::Log, Action::PageUp) => self.scroll_log(self.log_page() as isize),
            (Focus::Log, Action::PageDown) => self.scroll_log(-(self.log_page() as isize)),
            (Focus::Log, Action::Top) => self.scroll_log(isize::MAX / 2),
            (Focus::Log, Action::Bottom) => self.log_scroll = 0,
            (Focus::Map, Action::Up | Action::Collapse) if self.selected_blob().is_some() => {
                self.map_cursor = self.map_cursor.saturating_sub(1);
            }
            (Focus::Map, Action::Down | Action::Expand) if self.selected_blob().is_some() => {
                self.move_map(1);
            }
            // Within the blob too: the focused pane is the one that moves.
            (Focus::Map, Action::Top) if self.selected_blob().is_some() => self.map_cursor = 0,
            (Focus::Map, Action::Bottom) if self.selected_blob().is_some() => {
                self.move_map(usize::MAX / 2);
            }
            (Focus::Map, Action::PageUp) if self.selected_blob().is_some() => {
                self.map_cursor = self.map_cursor.saturating_sub(MAP_PAGE);
            }
            (Focus::Map, Action::PageDown) if self.selected_blob().is_some() => {
                self.move_map(MAP_PAGE);
            }
            (_, Action::Up) => self.move_tree(-1),
            (_, Action::Down) => self.move_tree(1),
            (_, Action::PageUp) => self.move_tree(-(self.tree_page() as isize)),
            (_, Action::PageDown) => self.move_tree(self.tree_page() as isize),
            (_, Action::Top) => self.move_tree(isize::MIN / 2),
            (_, Action::Bottom) => self.move_tree(isize::MAX / 2),
            (_, Action::Collapse) => self.set_expanded(false),
            (_, Action::Expand) => self.set_expanded(true),
            (_, Action::Toggle) => {
                if let Some(&node) = self.visible.get(self.selected) {
                    let open = !self.expanded[node];
                    self.set_expanded(open);
                }
            }
            (_, Action::ExpandAll) => self.expand_all(),
            (_, Action::Focus) => {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Map,
                    Focus::Map => Focus::Log,
                    Focus::Log => Focus::Tree,
                }
            }
            (_, Action::NextDamage) => self.jump_to_damage(true),
            (_, Action::PreviousDamage) => self.jump_to_damage(false),
            (_, Action::DamagedOnly) => self.toggle_filter(Filter::Damaged),
            (_, Action::RepairedOnly) => self.toggle_filter(Filter::Repaired),
            (_, Action::Search) => {
                self.search.reset();
                self.mode = Mode::Search;
                self.refresh_visible();
            }
            (_, Action::Help) => self.mode = Mode::Help,
            (_, Action::LogFile) => self.mode = Mode::LogFile,
            (_, Action::Mark) => self.toggle_mark(),
            (_, Action::Retry) => return self.retry_selection(),
            (_, Action::RetryFailed) => return self.retry_all_failed(),
            (_, Action::VerifyAgain) => return self.verify_selection(),
            (_, Action::Export) => self.open_export(),
            (_, Action::Credentials) => self.open_credentials(),
            (_, Action::Pause) => return self.toggle_pause(),
            (_, Action::Cancel) => {
                if self.busy() {
                    self.mode = Mode::Confirm(Confirm::Cancel);
                } else {
                    self.push_log("nothing to cancel: no work is running".into());
                }
            }
            (_, Action::Quit) => {
                if self.busy() {
                    self.mode = Mode::Confirm(Confirm::Quit);
                } else {
                    return self.quit_now();
                }
            }
        }
        Vec::new()
    }

    /// Quits: a finished run just closes; a run kept open that has done its work ends
    /// normally; one still working is cancelled (what is in flight finishes). Decided now,
    /// not when the question was asked: the run may have finished behind it.
    fn quit_now(&mut self) -> Vec<Effect> {
        if self.ledger.finished() {
            vec![Effect::Quit]
        } else if self.ledger.idle() {
            vec![Effect::Send(Command::Finish), Effect::Quit]
        } else {
            vec![Effect::Send(Command::Cancel), Effect::Quit]
        }
    }

    fn cancel_now(&mut self) -> Vec<Effect> {
        if !self.busy() {
            return Vec::new();
        }
        // The run's `stopping` event says what happens next.
        vec![Effect::Send(Command::Cancel)]
    }

    /// A key bound to nothing: closes what is open over the panes.
    pub fn dismiss(&mut self) -> Vec<Effect> {
        if !matches!(self.mode, Mode::Normal | Mode::Prompt(_) | Mode::Search) {
            self.mode = Mode::Normal;
        }
        Vec::new()
    }

    fn toggle_pause(&mut self) -> Vec<Effect> {
        if self.ledger.finished() {
            return Vec::new();
        }
        if self.ledger.stopping() {
            self.push_log(work::STOPPING.into());
            return Vec::new();
        }
        let command = if self.ledger.paused() {
            Command::Resume
        } else {
            Command::Pause
        };
        vec![Effect::Send(command)]
    }

    /// Adds a line to the log pane (a scrolled pane stays where it is).
    pub fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        // One entry, one line: a control character from the drive's XML cannot forge another.
        let line = match crate::sanitize::escape_controls(&line) {
            std::borrow::Cow::Borrowed(_) => line,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        self.log.push_back(line);
        if self.log_scroll > 0 {
            self.log_scroll = (self.log_scroll + 1).min(self.log.len().saturating_sub(1));
        }
    }

    fn log_page(&self) -> usize {
        usize::from(self.log_rows.get().height).max(1)
    }

    fn scroll_log(&mut self, by: isize) {
        let last = self.log.len().saturating_sub(self.log_page());
        self.log_scroll = (self.log_scroll as isize + by).clamp(0, last as isize) as usize;
    }
}
