//! The `kiosk` binary's contract: one-line reasons and a non-zero exit on bad input or no
//! display; a real window under Xvfb when it is installed.

use std::process::Command;

fn kiosk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "off")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    cmd
}

fn one_line_failure(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    stderr
}

#[test]
fn without_a_display_it_says_what_to_run_instead() {
    let line = one_line_failure(kiosk().args(["--profile", "gov-terminal", "--demo"]));
    assert!(line.contains("no display"), "{line}");
    assert!(
        line.contains("--windowed") && line.contains("xvfb-run"),
        "{line}"
    );
    assert!(line.contains("kioskctl demo"), "{line}");
}

#[test]
fn unknown_profile_is_one_line() {
    let line = one_line_failure(kiosk().args(["--profile", "no-such-terminal"]));
    assert!(
        line.contains("no profile named 'no-such-terminal'"),
        "{line}"
    );
}

#[test]
fn bad_announcements_file_is_one_line() {
    let line = one_line_failure(kiosk().args([
        "--profile",
        "gov-terminal",
        "--announcements",
        "/nonexistent/announcements.toml",
    ]));
    assert!(line.contains("cannot read playlist"), "{line}");
}

#[test]
fn opens_a_window_under_xvfb() {
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        eprintln!("xvfb-run not installed; skipping");
        return;
    }
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_kiosk"))
        .args([
            "--profile",
            "library-selfcheck",
            "--demo",
            "--windowed",
            "--quit-after",
            "2",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiosk under xvfb failed: {stderr}");
    assert!(stderr.contains("kiosk started"), "{stderr}");
}
