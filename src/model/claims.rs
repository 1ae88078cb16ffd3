//! One claim per file: every data, properties and metadata path of the drive is folded the way
//! NTFS compares names (separators, case, Unicode form, trailing dots and spaces), and two
//! entries that land on one file are both refused. Writing either would overwrite the other's
//! bytes: `\c\x.bin` and `/c/x.bin`, case twins, or a `PropertiesPath` that is another blob's
//! `FilePath`.

use std::collections::HashMap;

use crate::format::drive_path::claim_key;
use crate::sanitize::escape_controls;

use super::Blob;

/// Which of a blob's files a path is.
#[derive(Debug, Clone, Copy)]
enum Role {
    Data,
    Properties,
    Metadata,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Data => "data file",
            Role::Properties => "properties file",
            Role::Metadata => "metadata file",
        }
    }
}

/// Refuses every blob with an unsafe path or a path another entry claims too. A refused blob
/// keeps its components (they are reported) but nothing is read from or written to its files.
pub(crate) fn refuse_shared_claims(blobs: &mut [Blob]) {
    let mut claims: HashMap<String, (usize, Role)> = HashMap::new();
    let mut refusals: Vec<(usize, String)> = Vec::new();
    for (index, blob) in blobs.iter().enumerate() {
        let paths = [
            (Role::Data, Some(blob.file_path.as_str())),
            (Role::Properties, blob.properties_path.as_deref()),
            (Role::Metadata, blob.metadata_path.as_deref()),
        ];
        for (role, path) in paths {
            let Some(path) = path else { continue };
            let key = match claim_key(path) {
                Ok(key) => key,
                Err(error) => {
                    // Named as what it is the path of: a side file's is not the FilePath.
                    let why = match (role, &error) {
                        (Role::Data, _) => error.to_string(),
                        (_, crate::format::drive_path::DrivePathError::Unsafe { path, reason }) => {
                            format!("its {} path {path:?} is unsafe: {reason}", role.as_str())
                        }
                    };
                    refusals.push((
                        index,
                        format!("refused: {why}; nothing is read or written for this entry"),
                    ));
                    continue;
                }
            };
            match claims.get(&key) {
                None => {
                    claims.insert(key, (index, role));
                }
                Some(&(other, other_role)) if other == index => {
                    refusals.push((
                        index,
                        format!(
                            "refused: its {} {} is also its own {}; nothing is read or written for this entry",
                            role.as_str(),
                            quoted(path),
                            other_role.as_str()
                        ),
                    ));
                }
                Some(&(other, other_role)) => {
                    let first = &blobs[other];
                    let first_path = match other_role {
                        Role::Data => Some(first.file_path.as_str()),
                        Role::Properties => first.properties_path.as_deref(),
                        Role::Metadata => first.metadata_path.as_deref(),
                    }
                    .unwrap_or_default();
                    let why = format!(
                        "refused: the {} {} of {} and the {} {} of {} are one file on the drive; \
                         neither entry is read or written (correct the manifest or log that lists them)",
                        other_role.as_str(),
                        quoted(first_path),
                        quoted(&first.blob_path),
                        role.as_str(),
                        quoted(path),
                        quoted(&blob.blob_path),
                    );
                    refusals.push((other, why.clone()));
                    refusals.push((index, why));
                }
            }
        }
    }
    for (index, reason) in refusals {
        blobs[index].refusal.get_or_insert(reason);
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_controls(text))
}
