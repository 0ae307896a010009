//! The SIP2 test peer: `tests/sip2-peer/toy_ils.py`, a toy library on PyPI `pysip2` 0.1.0,
//! started on 127.0.0.1 with an ephemeral port and killed on drop.
//!
//! The Python comes from the venv that `packaging/setup-debian.sh --test` creates
//! (`$KIOSK_VENV`, default `~/.cache/kiosk-venv`); `KIOSK_SIP2_PYTHON` overrides it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::workspace_root;

/// The Python interpreter that has pysip2.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KIOSK_SIP2_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("KIOSK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/kiosk-venv")
        });
    venv.join("bin/python")
}

/// A running toy ILS.
pub struct Sip2Peer {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Sip2Peer {
    /// Starts the peer with extra options (`--crlf`, `--drop-on B007`, `--encoding gb18030`, …).
    pub fn start(options: &[&str]) -> Sip2Peer {
        let python = python();
        assert!(
            python.exists(),
            "{} not found: run `bash packaging/setup-debian.sh --test` (creates the venv with pysip2) \
             or set KIOSK_SIP2_PYTHON",
            python.display()
        );
        let log = tempfile::NamedTempFile::new().expect("log file");
        let script = workspace_root().join("tests/sip2-peer/toy_ils.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--port", "0"])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(port)) => port,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(log.path()).unwrap_or_default();
                panic!("toy ILS did not start: {text}");
            }
        };
        Sip2Peer { child, port, log }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the peer logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Kills the peer now (the connection drops, the port closes).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sip2Peer {
    fn drop(&mut self) {
        self.kill();
    }
}
