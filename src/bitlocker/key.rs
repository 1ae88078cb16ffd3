//! The 48-digit BitLocker recovery key (Windows calls it the recovery password): eight groups
//! of six digits, each a multiple of 11 below 720,896 (11 × 65,536). The checks catch a typo
//! before any tool sees the key, and name the group that is wrong — never its digits.

use std::fmt;

use zeroize::Zeroizing;

/// How many groups a recovery key has.
pub const GROUPS: usize = 8;
/// How many digits each group has.
pub const GROUP_DIGITS: usize = 6;
/// Every group is below this (11 × 65,536).
const GROUP_LIMIT: u32 = 720_896;

/// Why a recovery key was refused. Groups are numbered from 1; no message contains digits of
/// the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the BitLocker recovery key is empty: give the 48-digit recovery key \
         (8 groups of 6 digits, 123456-123456-…)"
    )]
    Empty,
    #[error(
        "the BitLocker recovery key has {found} groups of digits, not 8: give all 48 digits \
         as 8 groups of 6, separated by dashes"
    )]
    GroupCount { found: usize },
    #[error(
        "group {group} of the BitLocker recovery key has {found} digits, not 6: check it \
         against the recovery key page"
    )]
    GroupLength { group: usize, found: usize },
    #[error(
        "group {group} of the BitLocker recovery key contains a character that is not a digit: \
         check it against the recovery key page"
    )]
    NotDigits { group: usize },
    #[error(
        "group {group} of the BitLocker recovery key is not a multiple of 11, so it has a typo: \
         check it against the recovery key page"
    )]
    NotMultipleOf11 { group: usize },
    #[error(
        "group {group} of the BitLocker recovery key is 720896 or more, which no recovery key \
         has: check it against the recovery key page"
    )]
    TooLarge { group: usize },
}

/// A recovery key whose form has been checked, kept as `NNNNNN-…-NNNNNN`. Its `Debug` and
/// `Display` are redacted and its memory is wiped when it is dropped; [`RecoveryKey::expose`]
/// is the only way to the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey {
    text: Zeroizing<String>,
}

impl RecoveryKey {
    /// Checks the form of a recovery key. Accepts the groups separated by dashes (as Windows
    /// prints them) or by spaces, or 48 digits in a row; surrounding blanks are ignored.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(KeyError::Empty);
        }
        let groups: Vec<&str> = if input.contains(['-', ' ']) {
            input.split(['-', ' ']).filter(|g| !g.is_empty()).collect()
        } else if input.len() == GROUPS * GROUP_DIGITS && input.is_ascii() {
            (0..GROUPS)
                .map(|i| &input[i * GROUP_DIGITS..(i + 1) * GROUP_DIGITS])
                .collect()
        } else {
            vec![input]
        };
        if groups.len() != GROUPS {
            return Err(KeyError::GroupCount {
                found: groups.len(),
            });
        }
        let mut text = Zeroizing::new(String::with_capacity(GROUPS * (GROUP_DIGITS + 1)));
        for (index, group) in groups.iter().enumerate() {
            let number = index + 1;
            if !group.chars().all(|c| c.is_ascii_digit()) {
                return Err(KeyError::NotDigits { group: number });
            }
            if group.len() != GROUP_DIGITS {
                return Err(KeyError::GroupLength {
                    group: number,
                    found: group.len(),
                });
            }
            let value: u32 = group
                .parse()
                .map_err(|_| KeyError::NotDigits { group: number })?;
            if !value.is_multiple_of(11) {
                return Err(KeyError::NotMultipleOf11 { group: number });
            }
            if value >= GROUP_LIMIT {
                return Err(KeyError::TooLarge { group: number });
            }
            if index > 0 {
                text.push('-');
            }
            text.push_str(group);
        }
        Ok(Self { text })
    }

    /// The key as `NNNNNN-…-NNNNNN`, for the unlocking tool only.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The forms the key may take in text (with dashes, with spaces, digits only), for the
    /// log and report redactors.
    pub fn redaction_forms(&self) -> Vec<String> {
        vec![
            self.text.to_string(),
            self.text.replace('-', " "),
            self.text.replace('-', ""),
        ]
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

impl fmt::Display for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recovery key of the cryptsetup project's `bitlk-aes-xts-128.img`.
    const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";

    #[test]
    fn accepts_a_real_key_in_its_usual_forms() {
        let key = RecoveryKey::parse(KEY).unwrap();
        assert_eq!(key.expose(), KEY);
        for form in [
            format!("  {KEY}\n"),
            KEY.replace('-', " "),
            KEY.replace('-', ""),
        ] {
            assert_eq!(RecoveryKey::parse(&form).unwrap().expose(), KEY, "{form}");
        }
    }

    #[test]
    fn names_the_wrong_group_without_its_digits() {
        let mut typo = KEY.to_string();
        typo.replace_range(14..15, "8"); // group 3: 253979 → 253989
        let error = RecoveryKey::parse(&typo).unwrap_err();
        assert_eq!(error, KeyError::NotMultipleOf11 { group: 3 });
        assert!(error.to_string().contains("group 3"), "{error}");
        assert!(!error.to_string().contains("2539"), "{error}");

        let too_large = KEY.replace("591910", "720896");
        assert_eq!(
            RecoveryKey::parse(&too_large).unwrap_err(),
            KeyError::TooLarge { group: 8 }
        );
        let short = KEY.replace("013365", "01336");
        assert_eq!(
            RecoveryKey::parse(&short).unwrap_err(),
            KeyError::GroupLength { group: 4, found: 5 }
        );
        let letter = KEY.replace("241120", "24112O");
        assert_eq!(
            RecoveryKey::parse(&letter).unwrap_err(),
            KeyError::NotDigits { group: 5 }
        );
        let seven = KEY.rsplit_once('-').unwrap().0.to_string();
        assert_eq!(
            RecoveryKey::parse(&seven).unwrap_err(),
            KeyError::GroupCount { found: 7 }
        );
        assert_eq!(RecoveryKey::parse(" ").unwrap_err(), KeyError::Empty);
        assert_eq!(
            RecoveryKey::parse("anaconda").unwrap_err(),
            KeyError::GroupCount { found: 1 }
        );
    }

    #[test]
    fn every_group_boundary() {
        // 0 and 720885 (11 × 65535) are the smallest and largest valid groups.
        let lowest = ["000000"; 8].join("-");
        assert!(RecoveryKey::parse(&lowest).is_ok());
        let highest = ["720885"; 8].join("-");
        assert!(RecoveryKey::parse(&highest).is_ok());
    }

    #[test]
    fn never_shows_itself() {
        let key = RecoveryKey::parse(KEY).unwrap();
        assert_eq!(format!("{key}"), "<redacted>");
        assert_eq!(format!("{key:?}"), "RecoveryKey(<redacted>)");
        assert!(!format!("{:?}", Some(&key)).contains("235818"));
        assert_eq!(key.redaction_forms().len(), 3);
    }
}
