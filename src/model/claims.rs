//! One claim per file: every data, properties and metadata path of the drive is folded the way
//! NTFS compares names (separators, case, Unicode form, trailing dots and spaces), and two
//! entries that land on one file are both refused. Writing either would overwrite the other's
//! bytes: `\c\x.bin` and `/c/x.bin`, case twins, or a `PropertiesPath` that is another blob's
//! `FilePath`.

use std::collections::HashMap;
use std::hash::Hash;

use crate::format::drive_path::claim_key;
use crate::sanitize::escape_controls;

use super::{Blob, FileRole as Role};

/// Refuses every blob with an unsafe path or a path another entry claims too. A refused blob
/// keeps its components (they are reported) but nothing is read from or written to its files.
pub(crate) fn refuse_shared_claims(blobs: &mut [Blob]) {
    refuse_one_file_claimed_twice(
        blobs,
        |role, path| match claim_key(path) {
            Ok(key) => Ok(Some(key)),
            // Named as what it is the path of: a side file's is not the FilePath.
            Err(error) => Err(match (role, &error) {
                (Role::Data, _) => error.to_string(),
                (_, crate::format::drive_path::DrivePathError::Unsafe { path, reason }) => {
                    format!("its {} path {path:?} is unsafe: {reason}", role.as_str())
                }
            }),
        },
        "",
    );
}

/// Refuses, both, every two entries whose files are one: those whose paths `key_of` gives one
/// key (`None`: nothing to compare; an error: why the entry itself is refused), saying `how`
/// the two are one.
pub fn refuse_one_file_claimed_twice<K: Eq + Hash>(
    blobs: &mut [Blob],
    mut key_of: impl FnMut(Role, &str) -> Result<Option<K>, String>,
    how: &str,
) {
    let mut claims: HashMap<K, (usize, Role, &str)> = HashMap::new();
    let mut refusals: Vec<(usize, String)> = Vec::new();
    for (index, blob) in blobs.iter().enumerate() {
        for (role, path) in blob.files() {
            let key = match key_of(role, path) {
                Ok(Some(key)) => key,
                Ok(None) => continue,
                Err(why) => {
                    refusals.push((
                        index,
                        format!("refused: {why}; nothing is read or written for this entry"),
                    ));
                    continue;
                }
            };
            match claims.get(&key) {
                None => {
                    claims.insert(key, (index, role, path));
                }
                Some(&(other, other_role, _)) if other == index => {
                    refusals.push((
                        index,
                        format!(
                            "refused: its {} {} is also its own {}{how}; nothing is read or \
                             written for this entry",
                            role.as_str(),
                            quoted(path),
                            other_role.as_str()
                        ),
                    ));
                }
                Some(&(other, other_role, other_path)) => {
                    let why = format!(
                        "refused: the {} {} of {} and the {} {} of {} are one file on the \
                         drive{how}; neither entry is read or written (correct the manifest or \
                         log that lists them)",
                        other_role.as_str(),
                        quoted(other_path),
                        quoted(&blobs[other].blob_path),
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
