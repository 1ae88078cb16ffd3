//! Keys → actions: the embedded default (assets/keymap.toml), overridden per action by
//! `<config dir>/export-repair/keymap.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

const DEFAULT: &str = include_str!("../../assets/keymap.toml");

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<KeyCode>>,
}

/// A keymap file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{path}: {message}")]
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
            keymap.bindings.extend(overrides.bindings);
        }
        Ok(keymap)
    }

    fn parse(text: &str, path: &str) -> Result<Self, KeymapError> {
        let invalid = |message: String| KeymapError::Invalid {
            path: path.to_string(),
            message,
        };
        let table: BTreeMap<Action, Vec<String>> =
            toml::from_str(text).map_err(|error| invalid(error.to_string()))?;
        let mut bindings = BTreeMap::new();
        for (action, keys) in table {
            let codes = keys
                .iter()
                .map(|key| parse_key(key).ok_or_else(|| invalid(format!("unknown key {key:?}"))))
                .collect::<Result<Vec<_>, _>>()?;
            bindings.insert(action, codes);
        }
        Ok(Self { bindings })
    }

    /// The action a key press asks for.
    pub fn action(&self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        self.bindings
            .iter()
            .find(|(_, codes)| codes.contains(&key.code))
            .map(|(action, _)| *action)
    }

    /// The first key of an action, as the command bar and help show it.
    pub fn key_for(&self, action: Action) -> String {
        self.bindings
            .get(&action)
            .and_then(|codes| codes.first())
            .map(key_name)
            .unwrap_or_default()
    }

    /// Every binding: (action, keys), for the help screen.
    pub fn all(&self) -> impl Iterator<Item = (Action, String)> + '_ {
        self.bindings.iter().map(|(action, codes)| {
            (
                *action,
                codes.iter().map(key_name).collect::<Vec<_>>().join(" "),
            )
        })
    }
}

fn parse_key(name: &str) -> Option<KeyCode> {
    Some(match name {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "space" => KeyCode::Char(' '),
        single if single.chars().count() == 1 => KeyCode::Char(single.chars().next()?),
        _ => return None,
    })
}

fn key_name(code: &KeyCode) -> String {
    match code {
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        KeyCode::Tab => "tab".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::Home => "home".into(),
        KeyCode::End => "end".into(),
        KeyCode::Char(' ') => "space".into(),
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}"),
    }
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
        std::fs::write(&path, "quit = [\"ctrl-alt-nonsense\"]\n").unwrap();
        let error = Keymap::load(Some(&path)).unwrap_err();
        assert!(error.to_string().contains("ctrl-alt-nonsense"), "{error}");
    }
}
