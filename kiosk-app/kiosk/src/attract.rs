//! The attract screen's announcement playlist: items rotate after their own duration, an
//! emergency alert takes over at once and stays until cleared, and nothing rotates in elder mode
//! (no timed carousels for elders, devices.md §6.1 "UI must not change while the user acts").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::session::Language;

/// The demo playlist shipped as a fixture.
pub const DEMO_PLAYLIST: &str = include_str!("../../../fixtures/announcements/demo.toml");

/// One announcement, with its text per language tag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    /// How long it shows before the next one.
    #[serde(default = "default_secs")]
    pub secs: u32,
    pub title: BTreeMap<String, String>,
    #[serde(default)]
    pub body: BTreeMap<String, String>,
}

fn default_secs() -> u32 {
    8
}

impl Announcement {
    /// An announcement with the same text in every language (emergency alerts typed by staff).
    pub fn plain(title: &str, body: &str) -> Self {
        let all = |text: &str| {
            Language::ALL
                .iter()
                .map(|l| (l.tag().to_string(), text.to_string()))
                .collect()
        };
        Announcement {
            secs: default_secs(),
            title: all(title),
            body: all(body),
        }
    }

    /// Title in `language`, else in any language the item has.
    pub fn title(&self, language: Language) -> &str {
        pick(&self.title, language)
    }

    /// Body in `language`, else in any language the item has.
    pub fn body(&self, language: Language) -> &str {
        pick(&self.body, language)
    }
}

fn pick(texts: &BTreeMap<String, String>, language: Language) -> &str {
    texts
        .iter()
        .find(|(tag, _)| Language::from_tag(tag) == Some(language))
        .or_else(|| texts.iter().next())
        .map(|(_, t)| t.as_str())
        .unwrap_or("")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaylistFile {
    #[serde(default)]
    announcement: Vec<Announcement>,
}

/// Why a playlist could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlaylistError {
    #[error("cannot read playlist {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("playlist {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// What the attract screen shows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Showing<'a> {
    /// Nothing to announce.
    Nothing,
    /// A regular item.
    Item(&'a Announcement),
    /// An emergency alert.
    Emergency(&'a Announcement),
}

/// The rotating playlist.
#[derive(Debug, Clone)]
pub struct Playlist {
    items: Vec<Announcement>,
    index: usize,
    shown_since: Instant,
    emergency: Option<Announcement>,
}

impl Playlist {
    pub fn new(items: Vec<Announcement>, now: Instant) -> Self {
        Playlist {
            items,
            index: 0,
            shown_since: now,
            emergency: None,
        }
    }

    /// Parses a playlist's TOML text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, now: Instant) -> Result<Self, PlaylistError> {
        let file: PlaylistFile = toml::from_str(text).map_err(|e| PlaylistError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self::new(file.announcement, now))
    }

    /// Reads a playlist file.
    pub fn load(path: &Path, now: Instant) -> Result<Self, PlaylistError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlaylistError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, now)
    }

    /// The demo playlist from the fixture.
    pub fn demo(now: Instant) -> Self {
        Self::parse(
            DEMO_PLAYLIST,
            Path::new("fixtures/announcements/demo.toml"),
            now,
        )
        .expect("the demo playlist fixture parses (tested)")
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// What to show now.
    pub fn showing(&self) -> Showing<'_> {
        if let Some(alert) = &self.emergency {
            return Showing::Emergency(alert);
        }
        self.items
            .get(self.index)
            .map_or(Showing::Nothing, Showing::Item)
    }

    /// Position of the current item (for "2 / 3" dots).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Shows an emergency alert at once, over any item.
    pub fn raise_emergency(&mut self, alert: Announcement) {
        self.emergency = Some(alert);
    }

    /// Back to the regular items, starting a fresh period for the current one.
    pub fn clear_emergency(&mut self, now: Instant) {
        self.emergency = None;
        self.shown_since = now;
    }

    /// Advances when the current item's time is up. In elder mode, or while an emergency shows,
    /// nothing rotates. Returns true when the item changed.
    pub fn tick(&mut self, now: Instant, elder_mode: bool) -> bool {
        if self.emergency.is_some() || self.items.len() < 2 {
            return false;
        }
        if elder_mode {
            // Keep the item, and give it a full period once elder mode is left.
            self.shown_since = now;
            return false;
        }
        let secs = self.items[self.index].secs.max(1);
        if now.saturating_duration_since(self.shown_since) < Duration::from_secs(secs.into()) {
            return false;
        }
        self.index = (self.index + 1) % self.items.len();
        self.shown_since = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title_en(p: &Playlist) -> String {
        match p.showing() {
            Showing::Item(a) | Showing::Emergency(a) => a.title(Language::En).to_string(),
            Showing::Nothing => String::new(),
        }
    }

    #[test]
    fn demo_fixture_parses_with_both_languages() {
        let p = Playlist::demo(Instant::now());
        assert!(p.len() >= 2);
        for a in &p.items {
            for l in Language::ALL {
                assert!(!a.title(l).is_empty() && !a.body(l).is_empty());
            }
        }
        assert!(title_en(&p).starts_with("Welcome"));
    }

    #[test]
    fn rotates_after_each_items_time_and_wraps() {
        let t0 = Instant::now();
        let mut p = Playlist::demo(t0);
        assert!(!p.tick(t0 + Duration::from_secs(7), false));
        assert!(p.tick(t0 + Duration::from_secs(8), false));
        assert_eq!(p.index(), 1);
        assert!(p.tick(t0 + Duration::from_secs(16), false));
        assert!(p.tick(t0 + Duration::from_secs(24), false));
        assert_eq!(p.index(), 0);
    }

    #[test]
    fn elder_mode_stops_the_carousel() {
        let t0 = Instant::now();
        let mut p = Playlist::demo(t0);
        assert!(!p.tick(t0 + Duration::from_secs(100), true));
        assert_eq!(p.index(), 0);
        // Leaving elder mode gives the item a full period before it moves.
        assert!(!p.tick(t0 + Duration::from_secs(105), false));
        assert!(p.tick(t0 + Duration::from_secs(108), false));
    }

    #[test]
    fn emergency_takes_over_at_once_and_holds() {
        let t0 = Instant::now();
        let mut p = Playlist::demo(t0);
        p.raise_emergency(Announcement::plain(
            "Fire alarm",
            "Leave by the nearest exit",
        ));
        assert!(matches!(p.showing(), Showing::Emergency(_)));
        assert_eq!(title_en(&p), "Fire alarm");
        assert!(!p.tick(t0 + Duration::from_secs(60), false));
        assert!(matches!(p.showing(), Showing::Emergency(_)));
        p.clear_emergency(t0 + Duration::from_secs(60));
        assert!(matches!(p.showing(), Showing::Item(_)));
    }

    #[test]
    fn missing_language_falls_back_and_bad_files_are_errors() {
        let p = Playlist::parse(
            "[[announcement]]\ntitle = { zh-CN = \"通知\" }\n",
            Path::new("t.toml"),
            Instant::now(),
        )
        .unwrap();
        match p.showing() {
            Showing::Item(a) => assert_eq!(a.title(Language::En), "通知"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Playlist::parse(
                "[[announcement]]\ntitel = {}\n",
                Path::new("t.toml"),
                Instant::now()
            ),
            Err(PlaylistError::Parse { .. })
        ));
        let empty = Playlist::parse("", Path::new("t.toml"), Instant::now()).unwrap();
        assert_eq!(empty.showing(), Showing::Nothing);
        assert!(matches!(
            Playlist::load(Path::new("/nonexistent/x.toml"), Instant::now()),
            Err(PlaylistError::Read { .. })
        ));
    }
}
