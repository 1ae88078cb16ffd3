//! The console's state and its update function: actions and engine events in, commands for
//! the engine out. No terminal here, so all of it is tested without one.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{Activity, Command, Event, Progress, RunMode};
use crate::format::Md5;
use crate::model::tree::{NodeKind, Tree};
use crate::model::{ComponentId, ComponentStatus, Drive, Outcome};
use crate::report::ReportFormat;

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
    /// Typing an answer: new credentials, or where to export the report.
    Prompt(Prompt),
}

impl Mode {
    /// Keys are text here, not actions.
    pub fn takes_text(&self) -> bool {
        matches!(self, Mode::Search | Mode::Prompt(_))
    }
}

/// A question the console asks.
#[derive(Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Why the last answer was not taken.
    pub error: Option<String>,
}

impl std::fmt::Debug for Prompt {
    // An answer to the credentials prompt is a secret: never in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let input = match self.kind {
            PromptKind::Credentials => format!("<{} characters>", self.input.chars().count()),
            PromptKind::Export { .. } => format!("{:?}", self.input),
        };
        f.debug_struct("Prompt")
            .field("kind", &self.kind)
            .field("input", &input)
            .field("error", &self.error)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// A new account key or SAS; typed masked.
    Credentials,
    /// The report's path; Tab changes the format.
    Export { format: ReportFormat },
}

/// What the update function asks the outside to do.
#[derive(Clone, PartialEq, Eq)]
pub enum Effect {
    Send(Command),
    /// Close the console once the engine's stream ends.
    Quit,
    /// Build a source from this account key or SAS and switch to it.
    UseCredentials(String),
    /// Write the report as it stands.
    Export {
        path: PathBuf,
        format: ReportFormat,
    },
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
        }
    }
}

/// Per-blob counts for the tree's badges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobCounts {
    pub bad: u32,
    pub repaired: u32,
    pub checked: u32,
    pub total: u32,
}

/// One component as the console knows it: its last verdict and any work under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    pub verdict: Option<ComponentStatus>,
    pub activity: Option<Activity>,
}

impl Cell {
    /// What the map shows: work under way before the verdict it will replace.
    pub fn state(self) -> CellState {
        match (self.activity, self.verdict) {
            (Some(Activity::Queued), _) => CellState::Queued,
            (Some(Activity::Verifying), _) => CellState::Verifying,
            (Some(Activity::Downloading), _) => CellState::Downloading,
            (None, Some(status)) => CellState::Done(status),
            (None, None) => CellState::Unchecked,
        }
    }
}

/// Where the tree's rows were last drawn, so that a click can find its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeRows {
    pub top: u16,
    pub height: u16,
    pub left: u16,
    pub width: u16,
    /// The first visible row's index.
    pub offset: usize,
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
    pub cells: Vec<Vec<Cell>>,
    pub reasons: HashMap<ComponentId, String>,
    /// What the drive holds where it differs from the manifest (verified ones are not kept).
    pub actual_md5: HashMap<ComponentId, Md5>,
    /// Downloads started per component in this run.
    pub attempts: HashMap<ComponentId, u32>,
    pub counts: Vec<BlobCounts>,
    /// Blobs marked for the next retry or verification.
    pub marked: BTreeSet<usize>,
    /// Per tree node: damaged components and marked blobs under it.
    node_bad: Vec<u32>,
    node_marked: Vec<u32>,
    /// Per blob: its tree node, and its path in lower case (for search).
    blob_node: Vec<usize>,
    lower_paths: Vec<Box<str>>,
    /// Verdicts changed what the damaged-only filter shows.
    stale: bool,
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
    /// The run did all it was asked and waits for more.
    pub idle: bool,
    /// The storage refused the credentials and downloads wait for new ones.
    pub awaiting_credentials: bool,
    /// Set when the engine finished: (outcome, interrupted).
    pub finished: Option<(Outcome, bool)>,
    /// Written by the view.
    pub tree_rows: std::cell::Cell<TreeRows>,
}

impl App {
    pub fn new(drive: Arc<Drive>) -> Self {
        let tree = Tree::of(&drive);
        let nodes = tree.nodes.len();
        let mut blob_node = vec![0; drive.blobs.len()];
        for (index, node) in tree.nodes.iter().enumerate() {
            if let NodeKind::Blob(blob) = node.kind {
                blob_node[blob] = index;
            }
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
        let cells = drive
            .blobs
            .iter()
            .map(|blob| vec![Cell::default(); blob.components.len()])
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
            cells,
            reasons: HashMap::new(),
            actual_md5: HashMap::new(),
            attempts: HashMap::new(),
            counts,
            marked: BTreeSet::new(),
            node_bad: vec![0; nodes],
            node_marked: vec![0; nodes],
            blob_node,
            lower_paths,
            stale: false,
            progress: Progress::default(),
            mode: Mode::Normal,
            focus: Focus::Tree,
            damaged_only: false,
            search: String::new(),
            map_cursor: 0,
            log: VecDeque::new(),
            run_mode: None,
            paused: false,
            idle: false,
            awaiting_credentials: false,
            finished: None,
            tree_rows: std::cell::Cell::default(),
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

    /// Damaged components and blobs marked under a node (for directory badges).
    pub fn node_state(&self, node: usize) -> (u32, u32) {
        (self.node_bad[node], self.node_marked[node])
    }

    /// Whether work is under way (not idle, not finished).
    pub fn busy(&self) -> bool {
        self.finished.is_none() && !self.idle
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

    fn set_mark(&mut self, blob: usize, on: bool) {
        let changed = if on {
            self.marked.insert(blob)
        } else {
            self.marked.remove(&blob)
        };
        if changed {
            let by = if on { 1 } else { -1 };
            Self::add_up(&mut self.node_marked, &self.tree, self.blob_node[blob], by);
        }
    }

    fn clear_marks(&mut self) {
        self.marked.clear();
        self.node_marked.fill(0);
    }

    /// Rebuilds the display order if verdicts changed what a filter shows (done before a
    /// frame and before a key, not for every verdict).
    pub fn settle(&mut self) {
        if self.stale {
            self.refresh_visible();
        }
    }

    /// Rebuilds the display order after expanding, filtering or new verdicts: one pass over
    /// the tree, whatever its size.
    fn refresh_visible(&mut self) {
        self.stale = false;
        let keep = self.visible.get(self.selected).copied();
        let filtering = self.damaged_only || !self.search.is_empty();
        let shown = filtering.then(|| {
            let search = self.search.to_lowercase();
            let mut shown = vec![false; self.tree.nodes.len()];
            // Children come after their parents: a backward pass sees every child first.
            for node in (1..self.tree.nodes.len()).rev() {
                if let NodeKind::Blob(blob) = self.tree.nodes[node].kind {
                    shown[node] = (!self.damaged_only || self.counts[blob].bad > 0)
                        && (search.is_empty() || self.lower_paths[blob].contains(&search));
                }
                if shown[node] {
                    shown[self.tree.nodes[node].parent] = true;
                }
            }
            shown
        });
        let mut visible = Vec::new();
        let mut stack: Vec<usize> = self.tree.nodes[0].children.iter().rev().copied().collect();
        while let Some(node) = stack.pop() {
            if shown.as_ref().is_some_and(|shown| !shown[node]) {
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
        self.settle();
        match (&self.mode, action) {
            (Mode::Help, _) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            (Mode::ConfirmQuit, Action::Quit) => {
                return vec![Effect::Send(Command::Cancel), Effect::Quit];
            }
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
            Action::Mark => self.toggle_mark(),
            Action::Retry => return self.retry_selection(),
            Action::RetryFailed => return self.retry_all_failed(),
            Action::VerifyAgain => return self.verify_selection(),
            Action::Export => {
                let format = ReportFormat::Html;
                self.prompt(
                    PromptKind::Export { format },
                    self.default_report_name(format),
                );
            }
            Action::Credentials => {
                if self.takes_work() {
                    self.prompt(PromptKind::Credentials, String::new());
                }
            }
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
                if self.busy() {
                    self.push_log("cancelling: finishing the writes in flight".into());
                    return vec![Effect::Send(Command::Cancel)];
                }
            }
            Action::Quit => {
                if self.finished.is_some() {
                    return vec![Effect::Quit];
                }
                if self.idle {
                    return vec![Effect::Send(Command::Finish), Effect::Quit];
                }
                self.mode = Mode::ConfirmQuit;
            }
        }
        Vec::new()
    }

    fn prompt(&mut self, kind: PromptKind, input: String) {
        self.mode = Mode::Prompt(Prompt {
            kind,
            input,
            error: None,
        });
    }

    fn default_report_name(&self, format: ReportFormat) -> String {
        let id: String = self
            .drive
            .drive_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        format!("export-repair-report-{id}.{}", format.as_str())
    }

    /// Whether the run can still take retries, verifications and credentials.
    fn takes_work(&mut self) -> bool {
        if self.run_mode != Some(RunMode::Repair) {
            self.push_log(
                "this is a verification: retrying needs a repair run (export-repair repair …)"
                    .into(),
            );
            return false;
        }
        if self.finished.is_some() {
            self.push_log("the run has ended: rerun with the same repair file to go on".into());
            return false;
        }
        true
    }

    /// The blobs an action on "the selection" means: the marked ones, or else those under
    /// the tree cursor.
    fn chosen_blobs(&self) -> Vec<usize> {
        if !self.marked.is_empty() {
            return self.marked.iter().copied().collect();
        }
        match self.visible.get(self.selected) {
            Some(&node) => self.tree.blobs_under(node),
            None => Vec::new(),
        }
    }

    fn toggle_mark(&mut self) {
        let blobs = match self.visible.get(self.selected) {
            Some(&node) => self.tree.blobs_under(node),
            None => return,
        };
        // A folder is marked when any of its blobs is not: one press marks all of it.
        let on = !blobs.iter().all(|b| self.marked.contains(b));
        for blob in blobs {
            self.set_mark(blob, on);
        }
        self.move_tree(1);
    }

    /// Damaged components of `blobs`.
    fn damaged_in(&self, blobs: impl IntoIterator<Item = usize>) -> Vec<ComponentId> {
        blobs
            .into_iter()
            .flat_map(|blob| {
                self.cells[blob]
                    .iter()
                    .enumerate()
                    .filter(|(_, cell)| cell.verdict.is_some_and(ComponentStatus::is_damage))
                    .map(move |(component, _)| ComponentId {
                        blob: blob as u32,
                        component: component as u32,
                    })
            })
            .collect()
    }

    fn retry_selection(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let blobs = self.chosen_blobs();
        let ids = self.damaged_in(blobs.iter().copied());
        if ids.is_empty() {
            self.push_log(format!(
                "nothing to retry in {} blob(s): no damaged component (v verifies them again)",
                blobs.len()
            ));
            return Vec::new();
        }
        self.push_log(format!(
            "retrying {} damaged component(s) in {} blob(s)",
            ids.len(),
            blobs.len()
        ));
        self.clear_marks();
        self.ask(Command::Retry(ids))
    }

    fn retry_all_failed(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let ids = self.damaged_in(0..self.drive.blobs.len());
        if ids.is_empty() {
            self.push_log("nothing to retry: no component is damaged".into());
            return Vec::new();
        }
        self.push_log(format!("retrying every damaged component ({})", ids.len()));
        self.ask(Command::Retry(ids))
    }

    fn verify_selection(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let blobs = self.chosen_blobs();
        let ids: Vec<ComponentId> = blobs
            .iter()
            .flat_map(|&blob| {
                (0..self.cells[blob].len()).map(move |component| ComponentId {
                    blob: blob as u32,
                    component: component as u32,
                })
            })
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        self.push_log(format!(
            "verifying {} blob(s) again ({} components); what does not verify is repaired",
            blobs.len(),
            ids.len()
        ));
        self.clear_marks();
        self.ask(Command::Verify(ids))
    }

    /// Sends work to the engine, showing it queued at once.
    fn ask(&mut self, command: Command) -> Vec<Effect> {
        if let Command::Retry(ids) | Command::Verify(ids) = &command {
            for id in ids {
                self.cells[id.blob as usize][id.component as usize].activity =
                    Some(Activity::Queued);
            }
        }
        self.idle = false;
        vec![Effect::Send(command)]
    }

    /// Typed text while searching or answering a prompt.
    pub fn text_input(&mut self, input: TextInput) -> Vec<Effect> {
        if self.mode == Mode::Search {
            self.search_input(input);
            return Vec::new();
        }
        let Mode::Prompt(prompt) = &mut self.mode else {
            return Vec::new();
        };
        match input {
            TextInput::Char(c) => prompt.input.push(c),
            TextInput::Paste(text) => prompt.input.push_str(text.trim()),
            TextInput::Backspace => {
                prompt.input.pop();
            }
            TextInput::Next => {
                if let PromptKind::Export { format } = &mut prompt.kind {
                    let next = next_format(*format);
                    let path = std::path::Path::new(&prompt.input);
                    if ReportFormat::from_path(path).is_some() {
                        prompt.input = path
                            .with_extension(next.as_str())
                            .to_string_lossy()
                            .into_owned();
                    }
                    *format = next;
                }
            }
            TextInput::Abort => self.mode = Mode::Normal,
            TextInput::Done => {
                let answer = std::mem::take(&mut prompt.input);
                let kind = prompt.kind;
                if answer.trim().is_empty() {
                    prompt.error = Some("type something, or Esc to leave".into());
                    return Vec::new();
                }
                self.mode = Mode::Normal;
                return match kind {
                    PromptKind::Credentials => vec![Effect::UseCredentials(answer)],
                    PromptKind::Export { format } => vec![Effect::Export {
                        path: PathBuf::from(answer.trim()),
                        format,
                    }],
                };
            }
        }
        Vec::new()
    }

    fn search_input(&mut self, input: TextInput) {
        match input {
            TextInput::Char(c) => self.search.push(c),
            TextInput::Paste(text) => self.search.push_str(&text),
            TextInput::Backspace => {
                self.search.pop();
            }
            TextInput::Next => {}
            TextInput::Done => self.mode = Mode::Normal,
            TextInput::Abort => {
                self.search.clear();
                self.mode = Mode::Normal;
            }
        }
        self.refresh_visible();
    }

    /// The outside could not use the credentials typed: ask again, saying why.
    pub fn credentials_refused_locally(&mut self, reason: String) {
        self.mode = Mode::Prompt(Prompt {
            kind: PromptKind::Credentials,
            input: String::new(),
            error: Some(reason),
        });
    }

    /// The engine took new credentials.
    pub fn credentials_accepted(&mut self) {
        self.awaiting_credentials = false;
        self.push_log("new credentials in use: the waiting downloads start again".into());
    }

    fn move_tree(&mut self, by: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() as isize - 1;
        self.selected = (self.selected as isize + by).clamp(0, last) as usize;
        self.map_cursor = 0;
    }

    /// A mouse click: on a tree row, selects it.
    pub fn click(&mut self, column: u16, row: u16) {
        let rows = self.tree_rows.get();
        let inside = (rows.left..rows.left + rows.width).contains(&column)
            && (rows.top..rows.top + rows.height).contains(&row);
        let index = rows.offset + usize::from(row.saturating_sub(rows.top));
        if inside && index < self.visible.len() && self.mode == Mode::Normal {
            self.selected = index;
            self.map_cursor = 0;
            self.focus = Focus::Tree;
        }
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

    /// Adds a line to the log pane.
    pub fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn clear_activity(&mut self) {
        for cell in self.cells.iter_mut().flatten() {
            cell.activity = None;
        }
    }

    /// Applies an engine event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { mode, .. } => self.run_mode = Some(*mode),
            Event::Warning { message } => self.push_log(format!("warning: {message}")),
            Event::Resumed {
                taken,
                checked_again,
            } => self.push_log(crate::engine::resumed_text(*taken, *checked_again)),
            Event::CredentialsRefused { message } => {
                self.push_log(format!("error: {message}"));
                if self.run_mode == Some(RunMode::Repair) && self.finished.is_none() {
                    self.awaiting_credentials = true;
                    self.push_log(
                        "downloads wait for a new account key or SAS; verification goes on".into(),
                    );
                    if self.mode == Mode::Normal {
                        self.prompt(PromptKind::Credentials, String::new());
                    }
                }
            }
            Event::Working {
                blob,
                components,
                activity,
            } => {
                if let Some(cells) = self.cells.get_mut(*blob as usize) {
                    for &c in components {
                        if let Some(cell) = cells.get_mut(c as usize) {
                            cell.activity = Some(*activity);
                            if *activity == Activity::Downloading {
                                let id = ComponentId {
                                    blob: *blob,
                                    component: c,
                                };
                                *self.attempts.entry(id).or_default() += 1;
                            }
                        }
                    }
                }
                self.idle = false;
            }
            Event::Component(component) => {
                let id = component.id;
                let cell = &mut self.cells[id.blob as usize][id.component as usize];
                let before = cell.verdict;
                cell.verdict = Some(component.status);
                cell.activity = None;
                let counts = &mut self.counts[id.blob as usize];
                if before.is_none() {
                    counts.checked += 1;
                }
                let was_bad = before.is_some_and(ComponentStatus::is_damage);
                let is_bad = component.status.is_damage();
                if was_bad != is_bad {
                    let by = if is_bad { 1 } else { -1 };
                    counts.bad = (i64::from(counts.bad) + by) as u32;
                    let node = self.blob_node[id.blob as usize];
                    Self::add_up(&mut self.node_bad, &self.tree, node, by);
                    // Only a filter can make a verdict change what is listed.
                    self.stale |= self.damaged_only;
                }
                if before == Some(ComponentStatus::Repaired)
                    && component.status != ComponentStatus::Repaired
                {
                    counts.repaired -= 1;
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
                match component.actual_md5 {
                    Some(actual) if component.status != ComponentStatus::Verified => {
                        self.actual_md5.insert(id, actual);
                    }
                    _ => {
                        self.actual_md5.remove(&id);
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
            }
            Event::Progress(progress) => self.progress = progress.clone(),
            Event::Idle { outcome, totals } => {
                self.idle = true;
                self.clear_activity();
                let damaged = totals.damaged();
                self.push_log(match outcome {
                    _ if damaged > 0 => format!(
                        "done for now: {damaged} component(s) still damaged · r retries the marked \
                         or selected blobs · R retries all · q finishes"
                    ),
                    Outcome::Clean => "done: every component verified · q finishes".into(),
                    _ => "done: all damage repaired · q finishes".into(),
                });
            }
            Event::RunFinished {
                outcome,
                interrupted,
                ..
            } => {
                self.finished = Some((*outcome, *interrupted));
                self.idle = false;
                self.clear_activity();
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

/// The export prompt's formats, in the order Tab goes through them.
const EXPORT_FORMATS: [ReportFormat; 4] = [
    ReportFormat::Html,
    ReportFormat::Json,
    ReportFormat::Csv,
    ReportFormat::DriveLog,
];

pub fn next_format(format: ReportFormat) -> ReportFormat {
    let at = EXPORT_FORMATS
        .iter()
        .position(|f| *f == format)
        .unwrap_or(0);
    EXPORT_FORMATS[(at + 1) % EXPORT_FORMATS.len()]
}

/// Keys while typing a search or a prompt's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    Char(char),
    /// Pasted text (bracketed paste).
    Paste(String),
    Backspace,
    /// Tab: the next choice (the report's format).
    Next,
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
        let reason = status.is_damage().then(|| "bad".to_string());
        let id = ComponentId { blob, component };
        Event::Component(ComponentEvent::new(&app.drive, id, status, None, reason))
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
        assert_eq!(
            app.node_state(0),
            (1, 0),
            "the root counts all damage below it"
        );
        app.update(Action::DamagedOnly);
        assert_eq!(names(&app), ["photos", "wild", "canyon.jpg"]);
        // Repaired, it leaves the filtered list.
        let event = verdict(&app, 0, 1, ComponentStatus::Repaired);
        app.on_event(&event);
        assert_eq!(app.counts[0].bad, 0);
        assert_eq!(app.counts[0].repaired, 1);
        assert_eq!(app.node_state(0), (0, 0));
        // The filter catches up before the next frame or key, not for every verdict.
        app.settle();
        assert!(app.visible.is_empty());
        app.update(Action::DamagedOnly);
        app.update(Action::Search);
        for c in "ARCHIVE".chars() {
            app.text_input(TextInput::Char(c));
        }
        app.text_input(TextInput::Done);
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
        assert_eq!(
            app.update(Action::Quit),
            [Effect::Send(Command::Cancel), Effect::Quit]
        );
        // Idle, quitting needs no confirmation and ends the run normally.
        let mut idle = demo_app();
        idle.on_event(&Event::Idle {
            outcome: Outcome::Clean,
            totals: Default::default(),
        });
        assert_eq!(
            idle.update(Action::Quit),
            [Effect::Send(Command::Finish), Effect::Quit]
        );
        let mut done = demo_app();
        done.on_event(&Event::RunFinished {
            outcome: Outcome::Clean,
            totals: Default::default(),
            finished: time::OffsetDateTime::UNIX_EPOCH,
            interrupted: false,
            repair_file_error: None,
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

    fn repairing(app: &mut App) {
        app.on_event(&Event::RunStarted {
            mode: RunMode::Repair,
            drive_id: "DEMO0001".into(),
            blobs: app.drive.blobs.len(),
            components: app.drive.component_count(),
            bytes: 0,
            started: time::OffsetDateTime::UNIX_EPOCH,
        });
    }

    #[test]
    fn marked_blobs_retry_their_damage_and_verify_again() {
        let mut app = demo_app();
        repairing(&mut app);
        for (blob, component, status) in [
            (0, 1, ComponentStatus::Failed),
            (0, 2, ComponentStatus::Verified),
            (1, 0, ComponentStatus::Corrupt),
        ] {
            let event = verdict(&app, blob, component, status);
            app.on_event(&event);
        }
        app.on_event(&Event::Idle {
            outcome: Outcome::Damaged,
            totals: Default::default(),
        });
        // Mark canyon.jpg (blob 0), in photos/wild/.
        let row = |app: &App, name: &str| {
            app.visible
                .iter()
                .position(|&n| app.tree.nodes[n].name == name)
                .unwrap()
        };
        app.selected = row(&app, "wild");
        app.update(Action::Toggle);
        let canyon = row(&app, "canyon.jpg");
        app.selected = canyon;
        app.update(Action::Mark);
        assert_eq!(app.marked, BTreeSet::from([0]));
        let id = |blob, component| ComponentId { blob, component };
        assert_eq!(
            app.update(Action::Retry),
            [Effect::Send(Command::Retry(vec![id(0, 1)]))]
        );
        assert!(app.marked.is_empty(), "marks are used up");
        assert_eq!(app.cells[0][1].state(), CellState::Queued);
        assert!(!app.idle);
        // Retry all: every damaged component on the drive.
        assert_eq!(
            app.update(Action::RetryFailed),
            [Effect::Send(Command::Retry(vec![id(0, 1), id(1, 0)]))]
        );
        // Verify again: every component of the selection (canyon.jpg, under the cursor).
        app.selected = canyon;
        let components = app.drive.blobs[0].components.len() as u32;
        assert_eq!(
            app.update(Action::VerifyAgain),
            [Effect::Send(Command::Verify(
                (0..components).map(|c| id(0, c)).collect()
            ))]
        );
        // Marking a folder marks every blob under it; again unmarks.
        app.selected = 0;
        app.update(Action::Mark);
        let under = app.tree.blobs_under(app.visible[0]).len();
        assert_eq!(app.marked.len(), under);
        assert_eq!(app.node_state(app.visible[0]).1 as usize, under);
        app.selected = 0;
        app.update(Action::Mark);
        assert!(app.marked.is_empty());
        assert_eq!(app.node_state(0).1, 0);
    }

    #[test]
    fn a_verification_or_a_finished_run_takes_no_retries() {
        let mut app = demo_app();
        let event = verdict(&app, 0, 1, ComponentStatus::Corrupt);
        app.on_event(&event);
        assert!(app.update(Action::RetryFailed).is_empty());
        assert!(app.log.back().unwrap().contains("needs a repair run"));
        let mut done = demo_app();
        repairing(&mut done);
        done.on_event(&Event::RunFinished {
            outcome: Outcome::Damaged,
            totals: Default::default(),
            finished: time::OffsetDateTime::UNIX_EPOCH,
            interrupted: false,
            repair_file_error: None,
        });
        assert!(done.update(Action::VerifyAgain).is_empty());
        assert!(done.log.back().unwrap().contains("the run has ended"));
    }

    #[test]
    fn a_refusal_opens_a_masked_prompt_and_the_answer_goes_out_once() {
        let mut app = demo_app();
        repairing(&mut app);
        app.on_event(&Event::CredentialsRefused {
            message: "403 AuthenticationFailed".into(),
        });
        assert!(app.awaiting_credentials);
        assert!(matches!(&app.mode, Mode::Prompt(p) if p.kind == PromptKind::Credentials));
        app.text_input(TextInput::Paste("  s3cr3tKey==\n".into()));
        let dump = format!("{:?}", app.mode);
        assert!(!dump.contains("s3cr3t"), "{dump}");
        let effects = app.text_input(TextInput::Done);
        assert_eq!(effects, [Effect::UseCredentials("s3cr3tKey==".into())]);
        assert!(!format!("{effects:?}").contains("s3cr3t"));
        assert_eq!(app.mode, Mode::Normal);
        // Refused by the program (say, not base64): asked again, with the reason.
        app.credentials_refused_locally("the key is not base64".into());
        let Mode::Prompt(prompt) = &app.mode else {
            panic!("no prompt")
        };
        assert_eq!(prompt.error.as_deref(), Some("the key is not base64"));
        assert!(prompt.input.is_empty());
        app.text_input(TextInput::Abort);
        app.credentials_accepted();
        assert!(!app.awaiting_credentials);
    }

    #[test]
    fn the_export_prompt_offers_a_path_and_tab_changes_the_format() {
        let mut app = demo_app();
        app.update(Action::Export);
        let Mode::Prompt(prompt) = &app.mode else {
            panic!("no prompt")
        };
        assert_eq!(prompt.input, "export-repair-report-DEMO0001.html");
        for _ in 0..3 {
            app.text_input(TextInput::Next);
        }
        let effects = app.text_input(TextInput::Done);
        assert_eq!(
            effects,
            [Effect::Export {
                path: PathBuf::from("export-repair-report-DEMO0001.xml"),
                format: ReportFormat::DriveLog,
            }]
        );
        // An empty answer is not taken.
        app.update(Action::Export);
        for _ in 0..40 {
            app.text_input(TextInput::Backspace);
        }
        assert!(app.text_input(TextInput::Done).is_empty());
        assert!(matches!(&app.mode, Mode::Prompt(p) if p.error.is_some()));
    }

    #[test]
    fn work_shows_on_cells_until_the_verdict_and_idle_clears_it() {
        let mut app = demo_app();
        repairing(&mut app);
        app.on_event(&Event::Working {
            blob: 0,
            components: vec![0, 1],
            activity: Activity::Downloading,
        });
        assert_eq!(app.cells[0][0].state(), CellState::Downloading);
        let event = verdict(&app, 0, 0, ComponentStatus::Repaired);
        app.on_event(&event);
        assert_eq!(
            app.cells[0][0].state(),
            CellState::Done(ComponentStatus::Repaired)
        );
        assert_eq!(app.counts[0].repaired, 1);
        app.on_event(&Event::Idle {
            outcome: Outcome::Repaired,
            totals: Default::default(),
        });
        assert_eq!(app.cells[0][1].state(), CellState::Unchecked);
        assert!(app.idle);
    }
}
