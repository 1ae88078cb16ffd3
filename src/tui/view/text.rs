//! Fitting text to the room it has: whole words, whole items, never a word cut in two.

use unicode_width::UnicodeWidthStr;

/// Columns a text takes on screen.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Breaks text into lines of at most `columns`, between words; a word longer than a line
/// (a hash, a path) is broken where it must be.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let gap = usize::from(!line.is_empty());
            if width(&line) + gap + width(word) <= columns {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut rest = word;
            while width(rest) > columns {
                let cut = split_at_width(rest, columns);
                lines.push(rest[..cut].to_string());
                rest = &rest[cut..];
            }
            line.push_str(rest);
        }
        lines.push(line);
    }
    lines
}

/// The byte index where `text` reaches `columns` (at least one character).
fn split_at_width(text: &str, columns: usize) -> usize {
    let mut used = 0;
    for (index, c) in text.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > columns && index > 0 {
            return index;
        }
        used += w;
    }
    text.len()
}

/// As many whole items as fit in `columns`, in order, joined by `separator`.
pub fn fit_items(items: &[String], separator: &str, columns: usize) -> String {
    let mut out = String::new();
    for item in items {
        let extra = if out.is_empty() {
            width(item)
        } else {
            width(separator) + width(item)
        };
        if width(&out) + extra > columns {
            continue;
        }
        if !out.is_empty() {
            out.push_str(separator);
        }
        out.push_str(item);
    }
    out
}

/// A name shortened at its end to fit: `longdirector…`.
pub fn name_head(name: &str, columns: usize) -> String {
    if width(name) <= columns {
        return name.to_string();
    }
    let keep = columns.saturating_sub(1);
    let (mut end, mut used) = (0, 0);
    for (index, c) in name.char_indices() {
        used += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used > keep {
            break;
        }
        end = index + c.len_utf8();
    }
    format!("{}…", &name[..end])
}

/// A path shortened from the left to fit: `…/wild/canyon.jpg`.
pub fn path_tail(path: &str, columns: usize) -> String {
    if width(path) <= columns {
        return path.to_string();
    }
    let keep = columns.saturating_sub(1);
    let mut start = path.len();
    for (index, _) in path.char_indices().rev() {
        if width(&path[index..]) > keep {
            break;
        }
        start = index;
    }
    format!("…{}", &path[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_between_words_and_breaks_only_what_cannot_fit() {
        assert_eq!(
            wrap("the file is not on the drive", 12),
            ["the file is", "not on the", "drive"]
        );
        assert_eq!(
            wrap("MD5 0123456789ABCDEF", 8),
            ["MD5", "01234567", "89ABCDEF"]
        );
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn a_name_is_cut_at_its_end() {
        assert_eq!(name_head("longdirectoryname", 8), "longdir…");
        assert_eq!(name_head("short", 8), "short");
        assert_eq!(name_head("日本語の名前", 7), "日本語…");
    }

    #[test]
    fn whole_items_only() {
        let items: Vec<String> = ["? help", "q quit", "/ search"].map(String::from).to_vec();
        assert_eq!(fit_items(&items, " · ", 20), "? help · q quit");
        assert_eq!(fit_items(&items, " · ", 100), "? help · q quit · / search");
        assert_eq!(path_tail("/tmp/demo/drive", 10), "…emo/drive");
        assert_eq!(path_tail("/d", 10), "/d");
    }
}
