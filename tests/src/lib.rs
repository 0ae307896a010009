//! Helpers shared by the end-to-end tests in `e2e/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod postgres;
pub mod sip2_peer;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("fixtures").join(rel)
}

/// Reads a fixture of hex bytes (whitespace and `#` comments ignored).
pub fn hex_fixture(rel: &str) -> Vec<u8> {
    let text =
        std::fs::read_to_string(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"));
    parse_hex(&text)
}

/// Parses hex bytes, ignoring whitespace and `#` comments.
pub fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| c.is_ascii_hexdigit()))
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// The path of a workspace binary (e.g. `kioskctl`). `packaging/run-tests.sh` builds every binary
/// before the tests and sets `KIOSK_TEST_BINS_BUILT`; otherwise the one binary asked for is built
/// here (`cargo build --bin NAME`), not the whole workspace.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("debug").join(name);
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if std::env::var_os("KIOSK_TEST_BINS_BUILT").is_none() {
        let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
        if !built.iter().any(|b| b == name) {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--bin", name])
                .current_dir(workspace_root())
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build --bin {name} failed");
            built.push(name.to_string());
        }
    }
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Runs `kioskctl` with arguments and returns its output.
pub fn kioskctl(args: &[&str]) -> Output {
    Command::new(binary("kioskctl"))
        .args(args)
        .output()
        .expect("running kioskctl")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kiosk-test-")
        .tempdir()
        .expect("temp dir")
}
