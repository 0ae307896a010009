//! Runs a simulated serial device on a [`SimPort`] in its own thread.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::pty::SimPort;

/// A device that answers requests with its real protocol.
pub trait SerialDevice: Send + 'static {
    /// Consumes complete requests at the front of `input` (removing the bytes it used, and any
    /// garbage it skips, as the real device would) and returns the bytes to send back.
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8>;

    /// Called about every 50 ms, for devices that send unsolicited bytes (automatic status
    /// back, a scanner's line). Returns bytes to send.
    fn on_idle(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

enum Command {
    Unplug,
    Replug,
    Baud(Option<u32>),
}

/// Controls a running simulator from a test, the CLI or the maintenance menu.
#[derive(Clone)]
pub struct SimControl {
    tx: Sender<Command>,
    path: PathBuf,
    plugged: Arc<AtomicBool>,
}

impl SimControl {
    /// The path a client opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Simulates pulling the cable.
    pub fn unplug(&self) {
        let _ = self.tx.send(Command::Unplug);
        while self.plugged.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Plugs it back in (a new pseudo-terminal behind the same path).
    pub fn replug(&self) {
        let _ = self.tx.send(Command::Replug);
        while !self.plugged.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Paces replies like a UART at this baud rate (`None`: as fast as the pty goes).
    pub fn set_baud(&self, baud: Option<u32>) {
        let _ = self.tx.send(Command::Baud(baud));
    }
}

/// A simulator thread. Stops when dropped.
pub struct SerialSim {
    control: SimControl,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SerialSim {
    /// Starts `device` on a new pseudo-terminal. To unplug and replug, pass a `link` path: the
    /// client must open the device through it, as through a udev symlink.
    pub fn start<D: SerialDevice>(device: D, link: Option<&Path>) -> io::Result<Self> {
        let mut port = SimPort::open(link)?;
        let path = port.path().to_path_buf();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let plugged = Arc::new(AtomicBool::new(true));
        let (stop2, plugged2) = (Arc::clone(&stop), Arc::clone(&plugged));
        let device = Arc::new(Mutex::new(device));
        let thread = std::thread::Builder::new()
            .name("serial-sim".into())
            .spawn(move || {
                let mut input = Vec::new();
                let mut buf = [0u8; 4096];
                while !stop2.load(Ordering::SeqCst) {
                    while let Ok(cmd) = rx.try_recv() {
                        match cmd {
                            Command::Unplug => {
                                port.unplug();
                                input.clear();
                                plugged2.store(false, Ordering::SeqCst);
                            }
                            Command::Replug => {
                                if let Err(e) = port.replug() {
                                    tracing::error!("simulator cannot replug: {e}");
                                }
                                plugged2.store(true, Ordering::SeqCst);
                            }
                            Command::Baud(b) => port.baud = b,
                        }
                    }
                    if !port.is_plugged() {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    let n = match port.read(&mut buf, Duration::from_millis(50)) {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::warn!("simulator read failed: {e}");
                            0
                        }
                    };
                    let mut dev = device.lock().unwrap_or_else(|p| p.into_inner());
                    let reply = if n > 0 {
                        input.extend_from_slice(&buf[..n]);
                        dev.on_input(&mut input)
                    } else {
                        dev.on_idle()
                    };
                    drop(dev);
                    if !reply.is_empty()
                        && let Err(e) = port.write(&reply)
                    {
                        tracing::warn!("simulator write failed: {e}");
                    }
                }
            })?;
        Ok(SerialSim {
            control: SimControl { tx, path, plugged },
            stop,
            thread: Some(thread),
        })
    }

    /// A handle to unplug, replug or pace the device.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// The path a client opens.
    pub fn path(&self) -> &Path {
        self.control.path()
    }
}

impl Drop for SerialSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_transport::{Link, LinkErrorKind, SerialLink};

    /// Echoes each line back in upper case.
    struct Upper;
    impl SerialDevice for Upper {
        fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(pos) = input.iter().position(|&b| b == b'\n') {
                out.extend(input.drain(..=pos).map(|b| b.to_ascii_uppercase()));
            }
            out
        }
    }

    fn read_line(link: &mut dyn Link) -> Result<Vec<u8>, kiosk_transport::LinkError> {
        kiosk_transport::read_frame(link, Duration::from_secs(2), 100, |b| {
            b.ends_with(b"\n").then(|| b.to_vec())
        })
    }

    #[test]
    fn client_talks_through_a_real_pty_and_sees_unplug() {
        let dir = std::env::temp_dir().join(format!("kiosk-sim-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("ttyUPPER");
        let sim = SerialSim::start(Upper, Some(&link)).unwrap();
        let path = sim.path().to_str().unwrap().to_string();
        let mut port = SerialLink::open(&path, 115200, false).unwrap();
        port.write_all(b"hello\n").unwrap();
        assert_eq!(read_line(&mut port).unwrap(), b"HELLO\n");

        sim.control().unplug();
        let err = port
            .write_all(b"x\n")
            .and_then(|_| read_line(&mut port).map(|_| ()))
            .unwrap_err();
        assert_eq!(err.kind(), LinkErrorKind::Disconnected, "{err}");
        assert!(SerialLink::open(&path, 115200, false).is_err());

        sim.control().replug();
        let mut port = SerialLink::open(&path, 115200, false).unwrap();
        port.write_all(b"again\n").unwrap();
        assert_eq!(read_line(&mut port).unwrap(), b"AGAIN\n");
        drop(sim);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
