//! Keys → actions: the embedded default (assets/keymap.toml), overridden per action by
//! `<config dir>/export-repair/keymap.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

const DEFAULT: &str = include_str!("../../assets/keymap.toml");

/// A key with the modifiers it must be pressed with (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    /// Ctrl-C (with or without Alt) quits whatever the keymap says: it is how every terminal
    /// program is left.
    fn quits(self) -> bool {
        self.modifiers.contains(KeyModifiers::CONTROL) && self.code == KeyCode::Char('c')
    }

    /// Whether a key press is this key: the same code and exactly the same Ctrl and Alt.
    fn matches(self, press: KeyEvent) -> bool {
        let significant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        let code = match (press.code, self.code) {
            // Shift+Tab arrives as BackTab on most terminals.
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (pressed, bound) => pressed == bound,
        };
        code && press.modifiers & significant == self.modifiers & significant
    }
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<Key>>,
}

/// A keymap file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{path}: {message}; mend the file, or remove it to use the default keys")]
    Invalid { path: String, message: String },
}

impl Keymap {
    /// The defaults.
    #[expect(
        clippy::expect_used,
        reason = "the embedded keymap is a file of this crate; a test parses it"
    )]
    pub fn default_keys() -> Self {
        Self::parse(DEFAULT, "assets/keymap.toml").expect("the embedded keymap is valid")
    }

    /// The defaults with the user's overrides, if the file exists.
    pub fn load(user_file: Option<&Path>) -> Result<Self, KeymapError> {
        let mut keymap = Self::default_keys();
        if let Some(path) = user_file.filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(path).map_err(|error| KeymapError::Invalid {
                path: path.display().to_string(),
                message: error.to_string(),
            })?;
            let overrides = Self::parse(&text, &path.display().to_string())?;
            keymap.apply(overrides);
        }
        Ok(keymap)
    }

    /// Overrides replace an action's keys, and the keys they give it leave every other
    /// action: one key, one action.
    fn apply(&mut self, overrides: Keymap) {
        for (action, keys) in overrides.bindings {
            for (other, bound) in &mut self.bindings {
                if *other != action {
                    bound.retain(|key| !keys.contains(key));
                }
            }
            self.bindings.insert(action, keys);
        }
    }

    fn parse(text: &str, path: &str) -> Result<Self, KeymapError> {
        let invalid = |message: String| KeymapError::Invalid {
            path: path.to_string(),
            message,
        };
        let table: BTreeMap<Action, Vec<String>> =
            toml::from_str(text).map_err(|error| invalid(super::toml_fault(text, &error)))?;
        let mut bindings = BTreeMap::new();
        // Which action of this file each key went to: a key given twice is refused, not
        // silently taken from the first action (with that action's every other key).
        let mut given: Vec<(Key, Action, &str)> = Vec::new();
        for (action, keys) in &table {
            let mut codes = Vec::new();
            for name in keys {
                let key =
                    parse_key(name).ok_or_else(|| invalid(format!("unknown key {name:?}")))?;
                if key.quits() {
                    return Err(invalid(format!(
                        "{name:?} (for {}) always quits: bind it to another key",
                        snake_case(*action)
                    )));
                }
                if let Some((_, other, other_name)) = given
                    .iter()
                    .find(|(bound, other, _)| *bound == key && other != action)
                {
                    return Err(invalid(format!(
                        "{name:?} is given to both {} and {} ({other_name:?}): one key, one \
                         action",
                        snake_case(*other),
                        snake_case(*action)
                    )));
                }
                given.push((key, *action, name));
                codes.push(key);
            }
            bindings.insert(*action, codes);
        }
        Ok(Self { bindings })
    }

    /// Whether a key press is Ctrl-C, which quits whatever the keymap says.
    pub fn always_quits(press: KeyEvent) -> bool {
        Key {
            code: press.code,
            modifiers: press.modifiers,
        }
        .quits()
    }

    /// The action a key press asks for.
    pub fn action(&self, key: KeyEvent) -> Option<Action> {
        if Self::always_quits(key) {
            return Some(Action::Quit);
        }
        self.bindings
            .iter()
            .find(|(_, keys)| keys.iter().any(|bound| bound.matches(key)))
            .map(|(action, _)| *action)
    }

    /// The first key of an action, as the command bar and help show it ("" if unbound).
    pub fn key_for(&self, action: Action) -> String {
        self.bindings
            .get(&action)
            .and_then(|keys| keys.first())
            .map(key_name)
            .unwrap_or_default()
    }

    /// Every binding: (action, keys), for the help screen.
    pub fn all(&self) -> impl Iterator<Item = (Action, String)> + '_ {
        self.bindings.iter().map(|(action, keys)| {
            (
                *action,
                keys.iter().map(key_name).collect::<Vec<_>>().join(" "),
            )
        })
    }
}

/// An action as the keymap file names it (`retry_failed`).
fn snake_case(action: Action) -> String {
    match serde_json::to_value(action) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{action:?}"),
    }
}

fn parse_key(name: &str) -> Option<Key> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = name;
    loop {
        if let Some(after) = rest.strip_prefix("ctrl-") {
            modifiers |= KeyModifiers::CONTROL;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("alt-") {
            modifiers |= KeyModifiers::ALT;
            rest = after;
        } else {
            break;
        }
    }
    let code = match rest {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "space" => KeyCode::Char(' '),
        single if single.chars().count() == 1 => KeyCode::Char(single.chars().next()?),
        _ => return None,
    };
    Some(Key { code, modifiers })
}

fn key_name(key: &Key) -> String {
    let code = match key.code {
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        KeyCode::Tab => "tab".into(),
        KeyCode::BackTab => "shift-tab".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::Home => "home".into(),
        KeyCode::End => "end".into(),
        KeyCode::Char(' ') => "space".into(),
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}"),
    };
    let mut name = String::new();
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        name.push_str("ctrl-");
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        name.push_str("alt-");
    }
    name + &code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn defaults_bind_arrows_and_vim_keys() {
        let keymap = Keymap::default_keys();
        assert_eq!(keymap.action(press(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(keymap.action(press(KeyCode::Down)), Some(Action::Down));
        assert_eq!(keymap.action(press(KeyCode::Char('?'))), Some(Action::Help));
        assert_eq!(
            keymap.action(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(keymap.key_for(Action::Quit), "q");
        // Modifiers count: Alt-q is not q.
        let alt_q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT);
        assert_eq!(keymap.action(alt_q), None);
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(keymap.action(shifted), Some(Action::Bottom));
    }

    #[test]
    fn user_overrides_replace_one_action_and_bad_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymap.toml");
        std::fs::write(&path, "quit = [\"x\"]\n").unwrap();
        let keymap = Keymap::load(Some(&path)).unwrap();
        assert_eq!(keymap.action(press(KeyCode::Char('x'))), Some(Action::Quit));
        assert_eq!(keymap.action(press(KeyCode::Char('q'))), None);
        assert_eq!(keymap.action(press(KeyCode::Char('j'))), Some(Action::Down));
        // A key given to one action is taken from the others; modifiers are part of a key.
        std::fs::write(&path, "search = [\"q\"]\nquit = [\"ctrl-d\"]\n").unwrap();
        let keymap = Keymap::load(Some(&path)).unwrap();
        assert_eq!(
            keymap.action(press(KeyCode::Char('q'))),
            Some(Action::Search)
        );
        assert_eq!(
            keymap.action(press(KeyCode::Char('/'))),
            None,
            "search has only q now"
        );
        assert_eq!(keymap.action(press(KeyCode::Char('d'))), None);
        let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(keymap.action(ctrl_d), Some(Action::Quit));
        assert_eq!(keymap.key_for(Action::Quit), "ctrl-d");
        std::fs::write(&path, "quit = [\"ctrl-alt-nonsense\"]\n").unwrap();
        let error = Keymap::load(Some(&path)).unwrap_err();
        assert!(error.to_string().contains("ctrl-alt-nonsense"), "{error}");
    }

    /// Ctrl-C always quits, and one key has one action: a file that says otherwise is
    /// refused, naming the key and the actions.
    ///
    /// Seen failing: `search = ["ctrl-c"]` was listed in the help as search while Ctrl-C
    /// quit; `quit = ["j"]` beside `down = ["j"]` silently left down with no key at all (not
    /// even the arrow).
    #[test]
    fn ctrl_c_and_a_key_given_twice_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymap.toml");
        std::fs::write(&path, "search = [\"ctrl-c\"]\n").unwrap();
        let error = Keymap::load(Some(&path)).unwrap_err().to_string();
        assert!(
            error.contains("\"ctrl-c\" (for search) always quits"),
            "{error}"
        );
        std::fs::write(&path, "quit = [\"j\"]\ndown = [\"j\", \"down\"]\n").unwrap();
        let error = Keymap::load(Some(&path)).unwrap_err().to_string();
        assert!(
            error.contains("\"j\" is given to both down and quit"),
            "{error}"
        );
        assert!(
            error.contains("remove it to use the default keys"),
            "{error}"
        );
        // The same key twice for one action is no conflict.
        std::fs::write(&path, "down = [\"j\", \"j\"]\n").unwrap();
        assert!(Keymap::load(Some(&path)).is_ok());
    }

    /// A keymap that is not TOML is told in one line: where, what, and what to do.
    ///
    /// Seen failing: the parser's excerpt flattened into one line of literal "\n" and no
    /// remedy.
    #[test]
    fn a_keymap_that_is_not_toml_is_told_in_one_line_with_the_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymap.toml");
        std::fs::write(&path, "# keys\nquit = [[[\n").unwrap();
        let error = Keymap::load(Some(&path)).unwrap_err().to_string();
        assert!(!error.contains('\n'), "{error}");
        assert!(error.contains("keymap.toml: line 2, column"), "{error}");
        assert!(
            error.contains("remove it to use the default keys"),
            "{error}"
        );
    }
}
