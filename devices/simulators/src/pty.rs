//! A pseudo-terminal pair: the simulator holds the master, a client opens the slave by path
//! (directly or through a symlink) with real termios, as it would a USB-serial adapter.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{OpenptyResult, openpty};
use nix::sys::termios::{self, SetArg};

/// The simulator's side of a pseudo-terminal.
pub struct SimPort {
    master: Option<OwnedFd>,
    // Kept open so the line discipline stays raw and master reads do not fail with EIO while no
    // client has the port open.
    slave: Option<OwnedFd>,
    slave_path: PathBuf,
    link: Option<PathBuf>,
    /// When set, writes are paced like a UART at this baud rate (10 bits per byte).
    pub baud: Option<u32>,
}

impl SimPort {
    /// Opens a new pseudo-terminal. With `link`, a symlink at that path points to the slave.
    pub fn open(link: Option<&Path>) -> io::Result<Self> {
        let mut port = SimPort {
            master: None,
            slave: None,
            slave_path: PathBuf::new(),
            link: link.map(Path::to_path_buf),
            baud: None,
        };
        port.plug()?;
        Ok(port)
    }

    fn plug(&mut self) -> io::Result<()> {
        let OpenptyResult { master, slave } = openpty(None, None).map_err(io::Error::from)?;
        let mut t = termios::tcgetattr(&slave).map_err(io::Error::from)?;
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(&slave, SetArg::TCSANOW, &t).map_err(io::Error::from)?;
        let flags = fcntl(&master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        fcntl(
            &master,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        let slave_path = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&slave)
        ))?;
        if let Some(link) = &self.link {
            let tmp = link.with_extension("tmp-link");
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&slave_path, &tmp)?;
            std::fs::rename(&tmp, link)?;
        }
        self.master = Some(master);
        self.slave = Some(slave);
        self.slave_path = slave_path;
        Ok(())
    }

    /// The path a client opens: the symlink if there is one, else the slave device.
    pub fn path(&self) -> &Path {
        self.link.as_deref().unwrap_or(&self.slave_path)
    }

    /// The slave device, e.g. `/dev/pts/7`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Whether the simulated device is plugged in.
    pub fn is_plugged(&self) -> bool {
        self.master.is_some()
    }

    /// Pulls the cable: the client's next read or write fails, and the symlink disappears.
    pub fn unplug(&mut self) {
        self.master = None;
        self.slave = None;
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }

    /// Plugs the device back in: a new pseudo-terminal behind the same symlink.
    pub fn replug(&mut self) -> io::Result<()> {
        self.unplug();
        self.plug()
    }

    /// Reads what the client sent, waiting at most `timeout`. `Ok(0)` means nothing came.
    pub fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let Some(master) = &self.master else {
            return Ok(0);
        };
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return Ok(0),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        match nix::unistd::read(master, buf) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EIO) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a reply, paced at `baud` when set.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(master) = &self.master else {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "simulated device unplugged",
                ));
            };
            let chunk = match self.baud {
                // Pace in small chunks so a large reply takes its wire time, as on a UART.
                Some(_) => &rest[..rest.len().min(64)],
                None => rest,
            };
            match nix::unistd::write(master, chunk) {
                Ok(n) => {
                    if let Some(baud) = self.baud {
                        std::thread::sleep(Duration::from_micros(
                            n as u64 * 10 * 1_000_000 / baud as u64,
                        ));
                    }
                    rest = &rest[n..];
                }
                Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Drop for SimPort {
    fn drop(&mut self) {
        self.unplug();
    }
}
