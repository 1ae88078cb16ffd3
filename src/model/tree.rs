//! The tree the console shows: containers → virtual directories → blobs.

use super::Drive;

/// A node of the blob tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// Indexes into `Tree::nodes`, sorted by name, directories first.
    pub children: Vec<usize>,
    pub depth: usize,
    /// The root is its own parent.
    pub parent: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Root,
    Container,
    Directory,
    /// Index into `Drive::blobs`.
    Blob(usize),
}

/// The tree of one drive; node 0 is the root, and every node comes after its parent.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// Directories by (parent, name) while the tree is built: a folder with many blobs is not
/// searched for every path through it.
type Folders = std::collections::HashMap<(usize, String), usize>;

impl Tree {
    pub fn of(drive: &Drive) -> Self {
        let mut tree = Tree {
            nodes: vec![Node {
                name: String::new(),
                kind: NodeKind::Root,
                children: Vec::new(),
                depth: 0,
                parent: 0,
            }],
        };
        let mut folders = Folders::new();
        for (index, blob) in drive.blobs.iter().enumerate() {
            let mut parent = 0;
            let mut segments: Vec<&str> = blob.blob_path.split('/').collect();
            let leaf = segments.pop().unwrap_or_default();
            for (level, segment) in segments.iter().enumerate() {
                let kind = if level == 0 {
                    NodeKind::Container
                } else {
                    NodeKind::Directory
                };
                parent = tree.folder(&mut folders, parent, segment, kind);
            }
            let mut label = leaf.to_string();
            if let Some(snapshot) = &blob.snapshot {
                label.push_str(&format!(" @{snapshot}"));
            }
            tree.push(parent, label, NodeKind::Blob(index));
        }
        let nodes = &mut tree.nodes;
        for index in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[index].children);
            children.sort_by(|a, b| {
                let key = |n: &Node| (matches!(n.kind, NodeKind::Blob(_)), n.name.clone());
                key(&nodes[*a]).cmp(&key(&nodes[*b]))
            });
            nodes[index].children = children;
        }
        tree
    }

    fn folder(
        &mut self,
        folders: &mut Folders,
        parent: usize,
        name: &str,
        kind: NodeKind,
    ) -> usize {
        if let Some(&existing) = folders.get(&(parent, name.to_string())) {
            return existing;
        }
        let index = self.push(parent, name.to_string(), kind);
        folders.insert((parent, name.to_string()), index);
        index
    }

    fn push(&mut self, parent: usize, name: String, kind: NodeKind) -> usize {
        let index = self.nodes.len();
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(Node {
            name,
            kind,
            children: Vec::new(),
            depth,
            parent,
        });
        self.nodes[parent].children.push(index);
        index
    }

    /// Blob indexes under a node, in tree order.
    pub fn blobs_under(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if let NodeKind::Blob(b) = self.nodes[n].kind {
                out.push(b);
            }
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::Manifest;

    #[test]
    fn groups_blobs_by_container_and_directory() {
        let manifest = Manifest::parse_str(
            r#"<DriveManifest><Drive><DriveId>D</DriveId><BlobList>
<Blob><BlobPath>pictures/wild/canyon.jpg</BlobPath><FilePath>\p\w\c</FilePath><Length>0</Length></Blob>
<Blob><BlobPath>pictures/city/redmond.jpg</BlobPath><FilePath>\p\c\r</FilePath><Length>0</Length></Blob>
<Blob><BlobPath>pictures/top.jpg</BlobPath><FilePath>\p\t</FilePath><Length>0</Length></Blob>
<Blob><BlobPath>$root/logo.bmp</BlobPath><FilePath>\logo</FilePath><Length>0</Length></Blob>
</BlobList></Drive></DriveManifest>"#,
        )
        .unwrap();
        let drive = Drive::build(Some(manifest), None).unwrap();
        let tree = Tree::of(&drive);
        let names = |node: usize| -> Vec<String> {
            tree.nodes[node]
                .children
                .iter()
                .map(|&c| tree.nodes[c].name.clone())
                .collect()
        };
        assert_eq!(names(0), ["$root", "pictures"]);
        let pictures = tree.nodes[0].children[1];
        assert_eq!(names(pictures), ["city", "wild", "top.jpg"]);
        assert_eq!(tree.blobs_under(pictures), [1, 0, 2]);
        assert_eq!(tree.blobs_under(0).len(), 4);
    }
}
