//! Terminal profiles: which kind of terminal this is, which devices it opens on which
//! transports, its back offices, languages, timeouts and policies. Read from TOML files under
//! `packaging/profiles/` (shipped examples) or `/etc/kiosk/`. Unknown keys are refused, so a typo
//! in a profile is an error at start, not a silently ignored setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiosk_transport::TransportSpec;
use serde::{Deserialize, Serialize};

/// The four kinds of terminal the runtime drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TerminalKind {
    GovTerminal,
    LibrarySelfcheck,
    NewspaperReader,
    ReadingBooth,
}

impl TerminalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalKind::GovTerminal => "gov-terminal",
            TerminalKind::LibrarySelfcheck => "library-selfcheck",
            TerminalKind::NewspaperReader => "newspaper-reader",
            TerminalKind::ReadingBooth => "reading-booth",
        }
    }
}

/// One device of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// Transport string (`serial:PATH@BAUD`, `usb:auto`, `tcp:HOST:PORT`, `file:PATH`, `sim:`).
    pub transport: String,
    /// Protocol variant where a class has several (RFID: `feig` or `rr3036`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// A device the terminal can work without (its services are hidden while it is missing).
    #[serde(default)]
    pub optional: bool,
}

impl DeviceEntry {
    /// The parsed transport.
    pub fn spec(&self) -> Result<TransportSpec, kiosk_transport::SpecError> {
        self.transport.parse()
    }
}

/// Session timeouts, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Inactivity before the "still there?" countdown starts.
    pub idle_secs: u32,
    /// The same in elder mode (slower).
    pub elder_idle_secs: u32,
    /// Length of the visible, spoken countdown.
    pub countdown_secs: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle_secs: 60,
            elder_idle_secs: 150,
            countdown_secs: 15,
        }
    }
}

/// Where the signed offline queue and the terminal key live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub path: PathBuf,
    pub key: PathBuf,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            path: PathBuf::from("/var/lib/kiosk/queue.db"),
            key: PathBuf::from("/var/lib/kiosk/terminal.key"),
        }
    }
}

/// Back offices the terminal forwards to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackOffice {
    /// Records upload endpoint (`embedded` in demo mode: the built-in reference receiver).
    pub records_url: Option<String>,
}

/// Library settings (library-selfcheck profiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibrarySettings {
    /// SIP2 server `HOST:PORT` (`embedded` in demo mode).
    pub sip2: Option<String>,
    pub institution: String,
    pub location: String,
    /// AFI written on check-in ("in the collection", gate silent on exit attempt → alarm).
    pub afi_in: String,
    /// AFI written on check-out ("on loan").
    pub afi_out: String,
    /// `utf-8`, `gb18030` or `cp850`.
    pub charset: String,
    /// Receipt mode: `print`, `pdf`, `none` or `ask`.
    pub receipt: String,
    /// While the library system is unreachable: `none`, `return-only` or `return-and-borrow`
    /// (library.md §4, offline design anchors).
    pub offline: String,
    /// Offline loans one patron may take, and this terminal in all, until the library system
    /// answers again.
    pub offline_loans_per_patron: u32,
    pub offline_loans_per_terminal: u32,
    /// An offline loan is due this many days after it was taken.
    pub offline_loan_days: u32,
}

impl Default for LibrarySettings {
    fn default() -> Self {
        LibrarySettings {
            sip2: None,
            institution: String::new(),
            location: String::new(),
            afi_in: "07".into(),
            afi_out: "C2".into(),
            charset: "utf-8".into(),
            receipt: "ask".into(),
            offline: "return-only".into(),
            offline_loans_per_patron: 3,
            offline_loans_per_terminal: 50,
            offline_loan_days: 14,
        }
    }
}

/// The maintenance menu's PIN and lockout (`[maintenance]`). Without this section the menu
/// cannot be opened, except in demo mode, which uses the documented demo PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    /// `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX`: PBKDF2-HMAC-SHA256 of the PIN's digits
    /// (1 000 to 10 000 000 iterations, salt 8 to 64 bytes, 32-byte hash); a Python one-liner
    /// that makes one is in `kiosk-app/kiosk/README.md`.
    pub pin_hash: String,
    /// Wrong PINs in a row that start a lockout.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First lockout; every further lockout in a row doubles it, up to `lockout_max_secs`.
    #[serde(default = "default_lockout_secs")]
    pub lockout_secs: u32,
    #[serde(default = "default_lockout_max_secs")]
    pub lockout_max_secs: u32,
}

fn default_max_attempts() -> u32 {
    5
}

fn default_lockout_secs() -> u32 {
    60
}

fn default_lockout_max_secs() -> u32 {
    3600
}

/// The parts of a checked `pin_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinHashParts {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: [u8; 32],
}

impl MaintenanceSettings {
    /// Splits and checks `pin_hash`.
    pub fn pin_hash_parts(&self) -> Result<PinHashParts, String> {
        let mut parts = self.pin_hash.split('$');
        let (Some(scheme), Some(iterations), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("maintenance.pin_hash must be pbkdf2-sha256$ITERATIONS$SALT$HASH".into());
        };
        if scheme != "pbkdf2-sha256" {
            return Err(format!(
                "maintenance.pin_hash scheme '{scheme}' is not pbkdf2-sha256"
            ));
        }
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|n| (1_000..=10_000_000).contains(n))
            .ok_or("maintenance.pin_hash iterations must be 1000 to 10000000")?;
        let unhex = |s: &str| -> Option<Vec<u8>> {
            (s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
                    .collect()
            })
        };
        let salt = unhex(salt)
            .filter(|s| (8..=64).contains(&s.len()))
            .ok_or("maintenance.pin_hash salt must be 8 to 64 bytes of hex")?;
        let hash = unhex(hash)
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or("maintenance.pin_hash hash must be 32 bytes of hex")?;
        Ok(PinHashParts {
            iterations,
            salt,
            hash,
        })
    }
}

/// A terminal profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub kind: TerminalKind,
    /// Terminal id used in signed records and SIP2 location.
    pub terminal_id: String,
    /// Shown on the attract screen and in the maintenance menu.
    #[serde(default)]
    pub display_name: String,
    /// Languages offered, first is the default.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Devices by role name (`idcard`, `fingerprint`, `rfid`, `printer`, `scanner`, `camera`).
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceEntry>,
    #[serde(default)]
    pub queue: QueueSettings,
    #[serde(default)]
    pub backoffice: BackOffice,
    #[serde(default)]
    pub library: Option<LibrarySettings>,
    /// Speak outside elder mode too (a terminal for visitors who cannot read the screen); in
    /// elder mode the kiosk speaks whenever it has a speaker.
    #[serde(default)]
    pub voice: bool,
    #[serde(default)]
    pub maintenance: Option<MaintenanceSettings>,
}

fn default_languages() -> Vec<String> {
    vec!["zh-CN".into(), "en".into()]
}

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("profile {path}: device '{device}': {source}")]
    Transport {
        path: PathBuf,
        device: String,
        source: kiosk_transport::SpecError,
    },
    #[error("profile {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no profile named '{0}' (looked in /etc/kiosk/profiles and packaging/profiles)")]
    NotFound(String),
}

impl Profile {
    /// Parses and checks a profile's text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        profile.check(path)?;
        Ok(profile)
    }

    /// Reads a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Finds a profile by name (`library-selfcheck`) in `dirs`, in order, or takes a path.
    pub fn find(name: &str, dirs: &[PathBuf]) -> Result<Self, ProfileError> {
        let as_path = Path::new(name);
        if as_path.extension().is_some_and(|e| e == "toml") && as_path.exists() {
            return Self::load(as_path);
        }
        for dir in dirs {
            let candidate = dir.join(format!("{name}.toml"));
            if candidate.exists() {
                return Self::load(&candidate);
            }
        }
        Err(ProfileError::NotFound(name.to_string()))
    }

    /// The same profile with every device on its simulator (demo mode).
    pub fn simulated(mut self) -> Self {
        for d in self.devices.values_mut() {
            d.transport = "sim:".into();
        }
        self
    }

    fn check(&self, path: &Path) -> Result<(), ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if self.terminal_id.trim().is_empty() {
            return Err(invalid("terminal_id must not be empty".into()));
        }
        if self.languages.is_empty() {
            return Err(invalid("languages must name at least one language".into()));
        }
        for (name, d) in &self.devices {
            d.spec().map_err(|source| ProfileError::Transport {
                path: path.to_path_buf(),
                device: name.clone(),
                source,
            })?;
        }
        if let Some(lib) = &self.library {
            for (what, v) in [("afi_in", &lib.afi_in), ("afi_out", &lib.afi_out)] {
                if u8::from_str_radix(v, 16).is_err() || v.len() != 2 {
                    return Err(invalid(format!(
                        "library.{what} must be two hex digits, not '{v}'"
                    )));
                }
            }
            if lib.afi_in.eq_ignore_ascii_case(&lib.afi_out) {
                return Err(invalid("library.afi_in and afi_out must differ".into()));
            }
            if !["utf-8", "gb18030", "cp850"].contains(&lib.charset.as_str()) {
                return Err(invalid(format!(
                    "library.charset '{}' is not utf-8, gb18030 or cp850",
                    lib.charset
                )));
            }
            if !["print", "pdf", "none", "ask"].contains(&lib.receipt.as_str()) {
                return Err(invalid(format!(
                    "library.receipt '{}' is not print, pdf, none or ask",
                    lib.receipt
                )));
            }
            if !["none", "return-only", "return-and-borrow"].contains(&lib.offline.as_str()) {
                return Err(invalid(format!(
                    "library.offline '{}' is not none, return-only or return-and-borrow",
                    lib.offline
                )));
            }
        }
        if let Some(m) = &self.maintenance {
            m.pin_hash_parts().map_err(invalid)?;
            if m.max_attempts == 0 || m.lockout_secs == 0 || m.lockout_max_secs < m.lockout_secs {
                return Err(invalid(
                    "maintenance: max_attempts and lockout_secs must be positive and \
                     lockout_max_secs at least lockout_secs"
                        .into(),
                ));
            }
        }
        if self.timeouts.idle_secs == 0 || self.timeouts.countdown_secs == 0 {
            return Err(invalid("timeouts must be positive".into()));
        }
        Ok(())
    }

    /// Parsed AFI values (in, out) for library profiles.
    pub fn afi(&self) -> Option<(u8, u8)> {
        let lib = self.library.as_ref()?;
        Some((
            u8::from_str_radix(&lib.afi_in, 16).ok()?,
            u8::from_str_radix(&lib.afi_out, 16).ok()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect()
    }

    #[test]
    fn every_shipped_profile_loads() {
        let files = shipped();
        assert!(files.len() >= 4, "expected the four terminal kinds");
        for f in files {
            let p = Profile::load(&f).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.file_stem().unwrap().to_str().unwrap(), p.kind.as_str());
        }
    }

    #[test]
    fn library_defaults_and_simulated() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        let p = Profile::find("library-selfcheck", &[dir]).unwrap();
        assert_eq!(p.afi(), Some((0x07, 0xC2)));
        let sim = p.simulated();
        assert!(sim.devices.values().all(|d| d.transport == "sim:"));
    }

    #[test]
    fn voice_is_off_unless_set() {
        let path = Path::new("t.toml");
        let base = "kind = \"gov-terminal\"\nterminal_id = \"t1\"\n";
        assert!(!Profile::parse(base, path).unwrap().voice);
        assert!(
            Profile::parse(&format!("{base}voice = true\n"), path)
                .unwrap()
                .voice
        );
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        let path = Path::new("t.toml");
        let base = "kind = \"gov-terminal\"\nterminal_id = \"t1\"\n";
        assert!(Profile::parse(base, path).is_ok());
        assert!(matches!(
            Profile::parse(&format!("{base}idle = 3\n"), path),
            Err(ProfileError::Parse { .. })
        ));
        assert!(matches!(
            Profile::parse(
                &format!("{base}[devices.printer]\ntransport = \"lpt:1\"\n"),
                path
            ),
            Err(ProfileError::Transport { .. })
        ));
        assert!(matches!(
            Profile::parse(
                &format!("{base}[library]\nafi_in = \"C2\"\nafi_out = \"c2\"\n"),
                path
            ),
            Err(ProfileError::Invalid { .. })
        ));
        assert!(matches!(
            Profile::parse("kind = \"atm\"\nterminal_id = \"x\"\n", path),
            Err(ProfileError::Parse { .. })
        ));
    }

    #[test]
    fn maintenance_section_is_checked_strictly() {
        let path = Path::new("t.toml");
        let base = "kind = \"gov-terminal\"\nterminal_id = \"t1\"\n[maintenance]\n";
        let good = "pbkdf2-sha256$20000$6b696f736b2d64656d6f2d73616c7431$\
                    6104ceaef712e8f538bd6699f28a837228332d9a5ef94186237355806c52e336";
        let p = Profile::parse(&format!("{base}pin_hash = \"{good}\"\n"), path).unwrap();
        let m = p.maintenance.unwrap();
        assert_eq!(
            (m.max_attempts, m.lockout_secs, m.lockout_max_secs),
            (5, 60, 3600)
        );
        let parts = m.pin_hash_parts().unwrap();
        assert_eq!(parts.iterations, 20000);
        assert_eq!(parts.salt, b"kiosk-demo-salt1");
        for bad in [
            good.replace("pbkdf2-sha256", "md5"),
            good.replace("$20000$", "$10$"),
            good.replace("$6b69", "$6b6"),
            good[..good.len() - 2].to_string(),
            format!("{good}$x"),
            "2580".to_string(),
        ] {
            assert!(
                matches!(
                    Profile::parse(&format!("{base}pin_hash = \"{bad}\"\n"), path),
                    Err(ProfileError::Invalid { .. })
                ),
                "{bad} accepted"
            );
        }
        for extra in ["pin = \"2580\"\n", "lockout_secs = 0\n"] {
            assert!(
                Profile::parse(&format!("{base}pin_hash = \"{good}\"\n{extra}"), path).is_err(),
                "{extra} accepted"
            );
        }
        assert!(Profile::parse(&format!("{base}max_attempts = 3\n"), path).is_err());
    }
}
