//! Engine events: into the ledger first, then what the console does about them (badges of
//! folders, the log, the first damage, the credentials prompt).

use crate::engine::{ComponentEvent, CredentialKind, Event, RunMode};
use crate::ledger::human;
use crate::model::{ComponentStatus, Outcome};

use super::App;
use crate::tui::action::Action;

impl App {
    /// Applies an engine event.
    pub fn on_event(&mut self, event: &Event) {
        let damaged_before = match event {
            Event::Component(component) => self
                .ledger
                .blobs()
                .get(component.id.blob as usize)
                .map(|tally| tally.damaged()),
            _ => None,
        };
        self.ledger.apply(event);
        match event {
            // The ledger took what they tell.
            Event::RunStarted { .. }
            | Event::StorageLength { .. }
            | Event::Transferred { .. }
            | Event::DownloadUnneeded { .. }
            | Event::EmptyPages { .. } => {}
            Event::StorageUnreachable {
                components,
                message,
            } => self.push_log(format!(
                "the storage could not be reached for {}: {message}; a retry from here, or a \
                 rerun, resumes",
                human::plural(components.len() as u64, "component", "components")
            )),
            Event::Warning { message } => self.push_log(format!("warning: {message}")),
            Event::WaitingForStorage { message } => self.push_log(format!("waiting: {message}")),
            Event::CredentialsRefused {
                message,
                credentials,
            } => {
                self.push_log(format!("error: {message}"));
                if self.ledger.mode() == Some(RunMode::Repair) && !self.ledger.finished() {
                    let gives_one = self.key_aside(Action::Credentials, "gives one");
                    self.push_log(match credentials {
                        CredentialKind::KeyOrSas => format!(
                            "downloads wait for a new account key or SAS{gives_one}; \
                             verification goes on"
                        ),
                        CredentialKind::EntraId => format!(
                            "downloads wait: the signed-in identity needs the \"Storage \
                             Blob Data Reader\" role, or switch to an account key or \
                             SAS{gives_one}; verification goes on"
                        ),
                    });
                    self.ask_for_credentials();
                }
            }
            Event::SourceChanged { source } => {
                self.push_log(format!(
                    "new credentials in use ({source}): the waiting downloads start again"
                ));
            }
            Event::Resumed {
                components,
                repaired,
                verified,
                checked_again,
            } => self.push_log(crate::engine::resumed_text(
                *components,
                *repaired,
                *verified,
                *checked_again,
            )),
            Event::Component(component) => {
                let blob = component.id.blob as usize;
                if blob < self.drive().blobs.len() {
                    let after = self.ledger.blob(blob).damaged();
                    let before = damaged_before.unwrap_or(after);
                    if before != after {
                        let node = self.blob_node[blob];
                        Self::add_up(
                            &mut self.node_bad,
                            &self.tree,
                            node,
                            i64::from(after) - i64::from(before),
                        );
                        self.blob_changed();
                    } else if component.status != ComponentStatus::Verified {
                        self.blob_changed();
                    }
                    if after > 0 {
                        self.follow_damage(blob);
                    }
                    self.log_verdict(component);
                }
            }
            Event::Paused => {
                self.push_log("paused: work in flight finishes, nothing new starts".into())
            }
            Event::Continued => self.push_log("going on".into()),
            Event::Stopping => self.push_log(
                "stopping: nothing new starts; what is in flight finishes, then the run ends \
                 (rerun with the same repair file to go on)"
                    .into(),
            ),
            Event::Idle { .. } => {
                let damaged = self.ledger.damaged();
                let finishes = self.key_hints(&[(Action::Quit, "finishes")]);
                self.push_log(match self.ledger.outcome() {
                    _ if damaged > 0 => format!(
                        "done for now: {damaged} component(s) still damaged{}",
                        self.key_hints(&[
                            (Action::Retry, "retries the marked or selected blobs"),
                            (Action::RetryFailed, "retries all"),
                            (Action::Quit, "finishes"),
                        ])
                    ),
                    Outcome::Clean => format!("done: {}{finishes}", self.clean_words()),
                    Outcome::Incomplete => {
                        format!("done: not every component was checked{finishes}")
                    }
                    _ => format!("done: {}{finishes}", self.repaired_words()),
                });
            }
            Event::RunFinished { interrupted, .. } => {
                self.push_log(match (interrupted, self.ledger.outcome()) {
                    (true, _) => {
                        "run interrupted: rerun with the same repair file to resume".into()
                    }
                    (false, Outcome::Clean) => format!("finished: {}", self.clean_words()),
                    (false, Outcome::Repaired) => format!("finished: {}", self.repaired_words()),
                    (false, Outcome::Damaged) => "finished: damage remains".into(),
                    (false, Outcome::Incomplete) => {
                        "finished: not every component was checked".into()
                    }
                });
            }
            // A dry run never opens the console.
            Event::Planned { .. }
            | Event::Working { .. }
            | Event::Progress(_)
            | Event::WouldDownload(_) => {}
        }
    }

    /// A log line for a verdict worth a line: damage with its reason, a repair, a repair
    /// verified again.
    /// What a clean run may claim: every component verified, or, with some not checked (no
    /// hash to check them against), only those that have one.
    fn clean_words(&self) -> String {
        match self.ledger.count(ComponentStatus::Skipped) {
            0 => "every component verified".into(),
            skipped => format!(
                "every component that has an expected hash matches it ({} not checked)",
                human::count(skipped)
            ),
        }
    }

    /// What a repaired run may claim: everything repaired, unless side files were regenerated
    /// whose MD5 is not the manifest's (a plain `verify` calls them corrupt).
    fn repaired_words(&self) -> String {
        match self.ledger.count(ComponentStatus::Regenerated) {
            0 => "all damage repaired".into(),
            regenerated => format!(
                "repaired, with {} (`verify --repair-file` checks them)",
                human::regenerated_side_files(regenerated)
            ),
        }
    }

    fn log_verdict(&mut self, component: &ComponentEvent) {
        let shown = self.ledger.status(component.id);
        let what = match (component.status, shown) {
            (ComponentStatus::Verified, Some(ComponentStatus::Repaired)) => "verified again",
            (ComponentStatus::Verified | ComponentStatus::Skipped, _) => return,
            (status, _) => status.as_str(),
        };
        let place = if component.kind.is_side_file() {
            String::new()
        } else {
            format!(" {}", human::offset(component.offset))
        };
        let reason = component
            .reason
            .as_deref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default();
        self.push_log(format!(
            "{what} {} {}{place}{reason}",
            component.file_path,
            component.kind.as_str()
        ));
    }
}
