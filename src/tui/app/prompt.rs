//! Prompts and the search line: readline keys (tui-input), the export prompt's absolute
//! path and overwrite question, the masked credentials prompt.

use std::path::{Path, PathBuf};

use tui_input::{Input, InputRequest};

use crate::engine::RunMode;
use crate::report::ReportFormat;

use super::{App, Effect, Mode};

/// A question the console asks.
#[derive(Clone)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: Input,
    /// Why the last answer was not taken.
    pub error: Option<String>,
    /// The answer names an existing file: Enter again overwrites it.
    pub overwrite: Option<PathBuf>,
}

impl Prompt {
    /// The report format an export writes: the one the typed name's extension names, else
    /// the one chosen with Tab.
    pub fn format(&self) -> Option<ReportFormat> {
        match self.kind {
            PromptKind::Export { format } => Some(
                ReportFormat::from_path(Path::new(self.input.value().trim())).unwrap_or(format),
            ),
            PromptKind::Credentials => None,
        }
    }
}

impl PartialEq for Prompt {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.input.value() == other.input.value()
            && self.input.cursor() == other.input.cursor()
            && self.error == other.error
            && self.overwrite == other.overwrite
    }
}

impl Eq for Prompt {}

impl std::fmt::Debug for Prompt {
    // An answer to the credentials prompt is a secret: never in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let input = match self.kind {
            PromptKind::Credentials => {
                format!("<{} characters>", self.input.value().chars().count())
            }
            PromptKind::Export { .. } => format!("{:?}", self.input.value()),
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

/// Keys while typing a search or a prompt's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    /// A readline edit: a character, a caret move, Ctrl-U, Ctrl-W, …
    Edit(InputRequest),
    /// Pasted text (bracketed paste).
    Paste(String),
    /// Tab: the next choice (the report's format).
    Next,
    Done,
    Abort,
}

impl TextInput {
    /// A typed character.
    pub fn char(c: char) -> Self {
        TextInput::Edit(InputRequest::InsertChar(c))
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

fn paste(input: &mut Input, text: &str) {
    for c in text.chars().filter(|c| !c.is_control()) {
        input.handle(InputRequest::InsertChar(c));
    }
}

impl App {
    fn prompt(&mut self, kind: PromptKind, answer: String) {
        let input = Input::new(answer);
        self.mode = Mode::Prompt(Prompt {
            kind,
            input,
            error: None,
            overwrite: None,
        });
    }

    /// Where a typed export path points: relative paths start in the working directory.
    pub fn export_target(&self, typed: &str) -> PathBuf {
        let path = Path::new(typed.trim());
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.surroundings.working_dir.join(path)
        }
    }

    pub(super) fn open_export(&mut self) {
        let format = ReportFormat::Html;
        let id: String = self
            .drive()
            .drive_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let name = format!("export-repair-report-{id}.{}", format.as_str());
        let path = self.export_target(&name).display().to_string();
        self.prompt(PromptKind::Export { format }, path);
    }

    pub(super) fn open_credentials(&mut self) {
        if !self.surroundings.takes_credentials {
            self.push_log(
                "this run reads from a local copy (--source-dir): no credentials are involved"
                    .into(),
            );
            return;
        }
        if self.takes_work() {
            self.prompt(PromptKind::Credentials, String::new());
        }
    }

    /// Typed text while searching or answering a prompt.
    pub fn text_input(&mut self, input: TextInput) -> Vec<Effect> {
        if self.mode == Mode::Search {
            self.search_input(input);
            return Vec::new();
        }
        let working_dir = self.surroundings.working_dir.clone();
        let Mode::Prompt(prompt) = &mut self.mode else {
            return Vec::new();
        };
        match input {
            TextInput::Edit(request) => {
                if prompt.input.handle(request).is_some_and(|r| r.value) {
                    prompt.overwrite = None;
                    prompt.error = None;
                }
            }
            TextInput::Paste(text) => {
                paste(&mut prompt.input, text.trim());
                prompt.overwrite = None;
            }
            TextInput::Next => {
                let current = prompt.format();
                if let PromptKind::Export { format } = &mut prompt.kind {
                    let next = next_format(current.unwrap_or(*format));
                    let typed = Path::new(prompt.input.value());
                    if ReportFormat::from_path(typed).is_some() {
                        let renamed = typed.with_extension(next.as_str());
                        prompt.input = Input::new(renamed.to_string_lossy().into_owned());
                    }
                    *format = next;
                    prompt.overwrite = None;
                }
            }
            TextInput::Abort => self.mode = Mode::Normal,
            TextInput::Done => {
                let answer = prompt.input.value().trim().to_string();
                if answer.is_empty() {
                    prompt.error = Some("type something, or Esc to leave".into());
                    return Vec::new();
                }
                match prompt.kind {
                    PromptKind::Credentials => {
                        self.mode = Mode::Normal;
                        return vec![Effect::UseCredentials(answer)];
                    }
                    PromptKind::Export { .. } => {
                        let format = prompt.format().unwrap_or(ReportFormat::Html);
                        let path = if Path::new(&answer).is_absolute() {
                            PathBuf::from(&answer)
                        } else {
                            working_dir.join(&answer)
                        };
                        if path.is_dir() {
                            prompt.error = Some(format!(
                                "{} is a directory: name a file in it",
                                path.display()
                            ));
                            return Vec::new();
                        }
                        if path.exists() && prompt.overwrite.as_ref() != Some(&path) {
                            return vec![Effect::AskOverwrite(path)];
                        }
                        // The prompt stays open until the report is written (or not).
                        return vec![Effect::Export { path, format }];
                    }
                }
            }
        }
        Vec::new()
    }

    fn search_input(&mut self, input: TextInput) {
        match input {
            TextInput::Edit(request) => {
                self.search.handle(request);
            }
            TextInput::Paste(text) => paste(&mut self.search, &text),
            TextInput::Next => {}
            TextInput::Done => self.mode = Mode::Normal,
            TextInput::Abort => {
                self.search.reset();
                self.mode = Mode::Normal;
            }
        }
        self.refresh_visible();
    }

    /// The report was written: the prompt closes.
    pub fn exported(&mut self, path: &Path, format: ReportFormat) {
        self.mode = Mode::Normal;
        self.push_log(format!("report written: {} ({format})", path.display()));
    }

    /// The report's name is taken, and the place is not refused: the next Enter replaces it.
    pub fn ask_overwrite(&mut self, path: PathBuf) {
        if let Mode::Prompt(prompt) = &mut self.mode {
            prompt.error = None;
            prompt.overwrite = Some(path);
        }
    }

    /// The report could not be written: the prompt stays open with the reason.
    pub fn export_failed(&mut self, error: String) {
        if let Mode::Prompt(prompt) = &mut self.mode {
            prompt.error = Some(error.clone());
            prompt.overwrite = None;
        }
        self.push_log(format!("error: {error}"));
    }

    /// The outside could not use the credentials typed: ask again, saying why.
    pub fn credentials_refused_locally(&mut self, reason: String) {
        self.mode = Mode::Prompt(Prompt {
            kind: PromptKind::Credentials,
            input: Input::default(),
            error: Some(reason),
            overwrite: None,
        });
    }

    /// Opens the credentials prompt after the storage refused them, if nothing else is open.
    pub(super) fn ask_for_credentials(&mut self) {
        if self.ledger.mode() == Some(RunMode::Repair)
            && !self.ledger.finished()
            && self.mode == Mode::Normal
            && self.surroundings.takes_credentials
        {
            self.prompt(PromptKind::Credentials, String::new());
        }
    }
}
