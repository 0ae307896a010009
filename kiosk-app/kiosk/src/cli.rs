//! Command line of the `kiosk` binary: `kiosk --profile NAME|PATH [--demo] [--windowed]`.

use std::path::{Path, PathBuf};

use clap::Parser;
use kiosk_devices::profile::{Profile, ProfileError};

/// The kiosk app (fullscreen touch UI of a self-service terminal).
#[derive(Debug, Parser)]
#[command(name = "kiosk", version)]
pub struct Args {
    /// Terminal profile: a name (`library-selfcheck`, looked up in /etc/kiosk/profiles and
    /// packaging/profiles) or a path to a `.toml` file.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: String,
    /// Demo mode: every device on its simulator, demo announcements.
    #[arg(long)]
    pub demo: bool,
    /// A normal window instead of fullscreen (development).
    #[arg(long)]
    pub windowed: bool,
    /// Announcement playlist (TOML) for the attract screen.
    #[arg(long, value_name = "PATH")]
    pub announcements: Option<PathBuf>,
    /// Quit after this many seconds (smoke tests).
    #[arg(long, value_name = "SECS", hide = true)]
    pub quit_after: Option<u64>,
}

/// Folders searched for a profile given by name, in order.
pub fn profile_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/kiosk/profiles"),
        PathBuf::from("packaging/profiles"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles"),
    ]
}

/// Loads the profile named on the command line, simulated in demo mode.
pub fn load_profile(args: &Args) -> Result<Profile, ProfileError> {
    let profile = Profile::find(&args.profile, &profile_dirs())?;
    Ok(if args.demo {
        profile.simulated()
    } else {
        profile
    })
}

/// The one-line reason shown when no display is reachable.
pub fn no_display_message(detail: &str) -> String {
    format!(
        "kiosk: no display ({detail}); for development run `xvfb-run kiosk --profile NAME --windowed`, \
         or try the console demo `kioskctl demo`"
    )
}

/// `Some(reason)` when neither an X11 nor a Wayland display is named in the environment.
pub fn missing_display(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("DISPLAY and WAYLAND_DISPLAY are unset".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_command_line() {
        let a =
            Args::try_parse_from(["kiosk", "--profile", "gov-terminal", "--demo", "--windowed"])
                .unwrap();
        assert_eq!(a.profile, "gov-terminal");
        assert!(a.demo && a.windowed);
        assert!(
            Args::try_parse_from(["kiosk"]).is_err(),
            "--profile is required"
        );
    }

    #[test]
    fn demo_mode_simulates_every_device() {
        let a =
            Args::try_parse_from(["kiosk", "--profile", "library-selfcheck", "--demo"]).unwrap();
        let p = load_profile(&a).unwrap();
        assert!(p.devices.values().all(|d| d.transport == "sim:"));
        let a = Args::try_parse_from(["kiosk", "--profile", "no-such-kind"]).unwrap();
        assert!(matches!(load_profile(&a), Err(ProfileError::NotFound(_))));
    }

    #[test]
    fn display_detection_and_message() {
        assert!(missing_display(|_| None).is_some());
        assert!(missing_display(|k| (k == "DISPLAY").then_some(":0".to_string())).is_none());
        assert!(
            missing_display(|k| (k == "WAYLAND_DISPLAY").then_some("wayland-0".to_string()))
                .is_none()
        );
        assert!(missing_display(|k| (k == "DISPLAY").then(String::new)).is_some());
        let m = no_display_message("x");
        assert!(m.contains("--windowed") && m.contains("xvfb-run") && m.contains("kioskctl demo"));
        assert!(!m.contains('\n'));
    }
}
