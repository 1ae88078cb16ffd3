//! Moving through the tree: folding, filters, search, jumps to damage, the map cursor.

use crate::model::tree::NodeKind;

use super::{App, Filter, Focus, Mode};
use crate::tui::action::Action;

impl App {
    /// Rebuilds the display order if verdicts changed what a filter shows (done before a
    /// frame and before a key, not for every verdict).
    pub fn settle(&mut self) {
        if self.stale {
            self.refresh_visible();
        }
    }

    /// Whether the tree lists a blob under the filter and search in force.
    fn listed(&self, blob: usize, search: &str) -> bool {
        let tally = self.ledger.blob(blob);
        let kept = match self.filter {
            Filter::All => true,
            Filter::Damaged => tally.damaged() > 0,
            Filter::Repaired => tally.repaired() + tally.regenerated() > 0,
        };
        kept && (search.is_empty() || self.lower_paths[blob].contains(search))
    }

    /// Rebuilds the display order after expanding, filtering or new verdicts: one pass over
    /// the tree, whatever its size.
    pub(super) fn refresh_visible(&mut self) {
        self.stale = false;
        let keep = self.visible.get(self.selected).copied();
        let filtering = self.filtering();
        let shown = filtering.then(|| {
            let search = self.search.value().to_lowercase();
            let mut shown = vec![false; self.tree.nodes.len()];
            // Children come after their parents: a backward pass sees every child first.
            for node in (1..self.tree.nodes.len()).rev() {
                if let NodeKind::Blob(blob) = self.tree.nodes[node].kind {
                    shown[node] = self.listed(blob, &search);
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
        // Another row under the cursor: the map starts at its first cell.
        if self.visible.get(self.selected).copied() != keep {
            self.map_cursor = 0;
        }
    }

    /// A verdict changed a blob's counts: a filter may list it differently.
    pub(super) fn blob_changed(&mut self) {
        self.stale |= self.filter != Filter::All;
    }

    /// Rows a page key moves: the tree pane's height.
    pub(super) fn tree_page(&self) -> usize {
        usize::from(self.tree_rows.get().height).max(1)
    }

    pub(super) fn move_tree(&mut self, by: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() as isize - 1;
        self.selected = (self.selected as isize + by).clamp(0, last) as usize;
        self.map_cursor = 0;
    }

    pub(super) fn move_map(&mut self, by: usize) {
        if let Some(blob) = self.selected_blob() {
            let last = self.drive().blobs[blob].components.len().saturating_sub(1);
            self.map_cursor = (self.map_cursor + by).min(last);
        }
    }

    pub(super) fn set_expanded(&mut self, open: bool) {
        if let Some(&node) = self.visible.get(self.selected)
            && !matches!(self.tree.nodes[node].kind, NodeKind::Blob(_))
        {
            self.expanded[node] = open;
            self.refresh_visible();
        }
    }

    pub(super) fn expand_all(&mut self) {
        self.expanded.fill(true);
        self.refresh_visible();
    }

    /// Puts the cursor on a blob, opening the folders above it and dropping a filter or
    /// search that hides it.
    pub fn select_blob(&mut self, blob: usize) {
        let node = self.blob_node[blob];
        let mut at = self.tree.nodes[node].parent;
        while at != 0 {
            self.expanded[at] = true;
            at = self.tree.nodes[at].parent;
        }
        if !self.listed(blob, &self.search.value().to_lowercase()) {
            self.filter = Filter::All;
            self.search.reset();
        }
        self.refresh_visible();
        if let Some(row) = self.visible.iter().position(|&n| n == node) {
            self.selected = row;
            self.map_cursor = self.first_damage_in(blob).unwrap_or(0);
        }
    }

    fn first_damage_in(&self, blob: usize) -> Option<usize> {
        (0..self.drive().blobs[blob].components.len()).find(|&c| {
            self.ledger
                .status(crate::model::ComponentId {
                    blob: blob as u32,
                    component: c as u32,
                })
                .is_some_and(crate::model::ComponentStatus::is_damage)
        })
    }

    /// `n`/`N`: the next (or previous) blob with damage, in tree order, round the end.
    pub(super) fn jump_to_damage(&mut self, forward: bool) {
        let count = self.blob_order.len();
        if count == 0 || self.ledger.damaged() == 0 {
            self.push_log("nothing is damaged".into());
            return;
        }
        let here = self.selected_blob().map(|blob| self.blob_rank[blob]);
        let start = match (here, forward) {
            (Some(rank), true) => rank + 1,
            (Some(rank), false) => rank + count - 1,
            (None, true) => 0,
            (None, false) => count - 1,
        };
        let found = (0..count)
            .map(|step| {
                if forward {
                    (start + step) % count
                } else {
                    (start + count - step) % count
                }
            })
            .map(|rank| self.blob_order[rank])
            .find(|&blob| self.ledger.blob(blob).damaged() > 0);
        if let Some(blob) = found {
            self.select_blob(blob);
            self.focus = Focus::Tree;
        }
    }

    /// The first damage found takes the cursor there, until the technician moves.
    pub(super) fn follow_damage(&mut self, blob: usize) {
        if self.follows_damage && self.mode == Mode::Normal && self.selected_blob().is_none() {
            self.follows_damage = false;
            self.select_blob(blob);
        }
    }

    pub(super) fn toggle_filter(&mut self, filter: Filter) {
        if self.filter == filter {
            self.filter = Filter::All;
            self.refresh_visible();
            return;
        }
        let empty = match filter {
            Filter::Damaged => (self.ledger.damaged() == 0).then_some((
                "nothing is damaged: there is nothing to show",
                Action::DamagedOnly,
            )),
            Filter::Repaired => (self.ledger.count(crate::model::ComponentStatus::Repaired)
                + self
                    .ledger
                    .count(crate::model::ComponentStatus::Regenerated)
                == 0)
                .then_some((
                    "nothing is repaired yet: there is nothing to show",
                    Action::RepairedOnly,
                )),
            Filter::All => None,
        };
        if let Some((nothing, key)) = empty {
            let with = self.key_for(key);
            let with = match with.is_empty() {
                true => String::new(),
                false => format!(" with {with}"),
            };
            self.push_log(format!("{nothing}{with}"));
            return;
        }
        self.filter = filter;
        self.refresh_visible();
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
            self.follows_damage = false;
        }
    }
}
