//! Asking the engine for more: marks, retries, verifying again.

use crate::engine::{Command, RunMode};
use crate::model::{ComponentId, ComponentStatus};

use super::{App, Effect};
use crate::tui::action::Action;

/// Why work asked for while the run stops is not started.
pub(super) const STOPPING: &str =
    "the run is stopping: nothing new starts; rerun with the same repair file to go on";

impl App {
    /// Whether the run takes new work now (retries, verifications); if not, the log says why.
    pub(super) fn takes_work(&mut self) -> bool {
        if self.ledger.mode() != Some(RunMode::Repair) {
            self.push_log(
                "this is a verification: retrying needs a repair run (export-repair repair …)"
                    .into(),
            );
            return false;
        }
        if self.ledger.finished() {
            self.push_log("the run has ended: rerun with the same repair file to go on".into());
            return false;
        }
        if self.ledger.stopping() {
            self.push_log(STOPPING.into());
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

    pub(super) fn toggle_mark(&mut self) {
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
            .filter(|&blob| self.ledger.blob(blob).damaged() > 0)
            .flat_map(|blob| {
                (0..self.drive().blobs[blob].components.len() as u32)
                    .map(move |component| ComponentId {
                        blob: blob as u32,
                        component,
                    })
                    .filter(|id| {
                        self.ledger
                            .status(*id)
                            .is_some_and(ComponentStatus::is_damage)
                    })
            })
            .collect()
    }

    pub(super) fn retry_selection(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let blobs = self.chosen_blobs();
        let ids = self.damaged_in(blobs.iter().copied());
        if ids.is_empty() {
            self.push_log(format!(
                "nothing to retry in {} blob(s): no damaged component{}",
                blobs.len(),
                self.key_aside(Action::VerifyAgain, "verifies them again")
            ));
            return Vec::new();
        }
        self.push_log(format!(
            "retrying {} damaged component(s) in {} blob(s)",
            ids.len(),
            blobs.len()
        ));
        self.clear_marks();
        vec![Effect::Send(Command::Retry(ids))]
    }

    pub(super) fn retry_all_failed(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let ids = self.damaged_in(0..self.drive().blobs.len());
        if ids.is_empty() {
            self.push_log("nothing to retry: no component is damaged".into());
            return Vec::new();
        }
        self.push_log(format!("retrying every damaged component ({})", ids.len()));
        vec![Effect::Send(Command::Retry(ids))]
    }

    pub(super) fn verify_selection(&mut self) -> Vec<Effect> {
        if !self.takes_work() {
            return Vec::new();
        }
        let blobs = self.chosen_blobs();
        let ids: Vec<ComponentId> = blobs
            .iter()
            .flat_map(|&blob| {
                (0..self.drive().blobs[blob].components.len() as u32).map(move |component| {
                    ComponentId {
                        blob: blob as u32,
                        component,
                    }
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
        vec![Effect::Send(Command::Verify(ids))]
    }
}
