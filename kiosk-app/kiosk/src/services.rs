//! The services a terminal kind offers on its home screen. Titles live in the `.slint` sources
//! (`AppState.service-title`, translated with `@tr`); Rust only names the service and the device
//! roles it needs, so a service whose required device is missing from the profile is not offered.

use kiosk_devices::profile::{Profile, TerminalKind};

/// One home-screen service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Stable id, also the key of its title in `ui/state.slint`.
    pub id: &'static str,
    /// Device roles (profile `[devices.ROLE]`) the service cannot work without.
    pub needs: &'static [&'static str],
}

const fn service(id: &'static str, needs: &'static [&'static str]) -> Service {
    Service { id, needs }
}

const GOV_TERMINAL: &[Service] = &[
    service("guide", &[]),
    service("apply", &["idcard"]),
    service("certificate", &["idcard", "printer"]),
    service("bills", &[]),
    service("progress", &["idcard"]),
];

const LIBRARY_SELFCHECK: &[Service] = &[
    service("borrow", &["rfid"]),
    service("return", &["rfid"]),
    service("renew", &[]),
    service("account", &[]),
];

const NEWSPAPER_READER: &[Service] = &[
    service("newspapers", &[]),
    service("ebooks", &[]),
    service("search", &[]),
    service("take-away", &[]),
];

const READING_BOOTH: &[Service] = &[
    service("read-aloud", &[]),
    service("record", &[]),
    service("playback", &[]),
    service("share", &[]),
];

/// Every service of a terminal kind, in home-screen order (at most six: elder rule of a few
/// large tiles per screen, devices.md §6.3).
pub fn for_kind(kind: TerminalKind) -> &'static [Service] {
    match kind {
        TerminalKind::GovTerminal => GOV_TERMINAL,
        TerminalKind::LibrarySelfcheck => LIBRARY_SELFCHECK,
        TerminalKind::NewspaperReader => NEWSPAPER_READER,
        TerminalKind::ReadingBooth => READING_BOOTH,
    }
}

/// The services this profile can offer: those whose required devices it configures.
pub fn offered(profile: &Profile) -> Vec<Service> {
    for_kind(profile.kind)
        .iter()
        .copied()
        .filter(|s| {
            s.needs
                .iter()
                .all(|role| profile.devices.contains_key(*role))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped(name: &str) -> Profile {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        Profile::find(name, &[dir]).unwrap()
    }

    #[test]
    fn shipped_profiles_offer_all_their_services() {
        for name in [
            "gov-terminal",
            "library-selfcheck",
            "newspaper-reader",
            "reading-booth",
        ] {
            let p = shipped(name);
            let offered = offered(&p);
            assert_eq!(offered.len(), for_kind(p.kind).len(), "{name}");
            assert!((1..=6).contains(&offered.len()));
        }
    }

    #[test]
    fn a_missing_device_hides_its_services() {
        let mut p = shipped("gov-terminal");
        p.devices.remove("printer");
        let ids: Vec<_> = offered(&p).iter().map(|s| s.id).collect();
        assert!(!ids.contains(&"certificate"));
        assert!(ids.contains(&"apply"));
    }
}
