use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::spec::TransportSpec;
use crate::usb::UsbPrinterLink;

/// What went wrong on a link, in the terms the device layer reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkErrorKind {
    /// The port, socket or USB device is not there (never plugged, or unplugged).
    NotFound,
    /// The process may not open it (udev rules, group `dialout`/`lp`).
    PermissionDenied,
    /// The peer went away during use (cable pulled, socket closed).
    Disconnected,
    /// Nothing (or not enough) arrived before the deadline.
    Timeout,
    /// The transport does not offer this operation (e.g. reading back from `/dev/usb/lp0`).
    Unsupported,
    /// A frame grew past the protocol's maximum without completing.
    Oversized,
    /// Any other operating-system error.
    Io,
}

/// A transport failure with the transport named, for the technician.
#[derive(Debug, thiserror::Error)]
#[error("{what} on {transport}: {detail}")]
pub struct LinkError {
    kind: LinkErrorKind,
    what: &'static str,
    transport: String,
    detail: String,
}

impl LinkError {
    pub fn new(
        kind: LinkErrorKind,
        what: &'static str,
        transport: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        LinkError {
            kind,
            what,
            transport: transport.into(),
            detail: detail.into(),
        }
    }

    /// The kind the device layer reacts to.
    pub fn kind(&self) -> LinkErrorKind {
        self.kind
    }

    fn from_io(what: &'static str, transport: &str, e: &io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => LinkErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => LinkErrorKind::PermissionDenied,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => LinkErrorKind::Timeout,
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof => LinkErrorKind::Disconnected,
            _ => match e.raw_os_error() {
                // EIO: a pseudo-terminal whose other side closed, or a USB-serial adapter pulled.
                // ENXIO / ENODEV: the device node is gone.
                Some(5) | Some(6) | Some(19) => LinkErrorKind::Disconnected,
                Some(111) => LinkErrorKind::NotFound, // ECONNREFUSED: nothing listens there
                _ => LinkErrorKind::Io,
            },
        };
        LinkError::new(kind, what, transport, e.to_string())
    }
}

/// A byte link to one peripheral. Reads always carry a timeout.
pub trait Link: Send {
    /// Writes every byte (and flushes).
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
    /// Reads what is available, waiting at most `timeout` for the first byte.
    /// Returns `Ok(0)` when nothing arrived in time.
    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError>;
    /// Drops bytes already received but not read (stale replies after a timeout).
    fn discard_input(&mut self) -> Result<(), LinkError> {
        let mut buf = [0u8; 256];
        while self.read_some(&mut buf, Duration::from_millis(1))? > 0 {}
        Ok(())
    }
    /// The transport string, for messages.
    fn describe(&self) -> String;
}

/// How to open a transport.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Serial framing: 8E1 instead of 8N1 (FEIG ISO-Host readers use 8E1).
    pub even_parity: bool,
    /// Connect timeout for TCP.
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            even_parity: false,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens a transport with default options.
pub fn open(spec: &TransportSpec) -> Result<Box<dyn Link>, LinkError> {
    open_with(spec, &OpenOptions::default())
}

/// Opens a transport.
pub fn open_with(spec: &TransportSpec, opts: &OpenOptions) -> Result<Box<dyn Link>, LinkError> {
    match spec {
        TransportSpec::Serial { path, baud } => {
            Ok(Box::new(SerialLink::open(path, *baud, opts.even_parity)?))
        }
        TransportSpec::Tcp { host, port } => Ok(Box::new(TcpLink::connect(
            host,
            *port,
            opts.connect_timeout,
        )?)),
        TransportSpec::File { path } => Ok(Box::new(FileLink::open(path)?)),
        TransportSpec::UsbAuto => Ok(Box::new(UsbPrinterLink::open(None)?)),
        TransportSpec::Usb { vid, pid } => Ok(Box::new(UsbPrinterLink::open(Some((*vid, *pid)))?)),
        TransportSpec::Sim => Err(LinkError::new(
            LinkErrorKind::Unsupported,
            "cannot open",
            "sim:",
            "the simulator is started by the device layer, not opened as a transport",
        )),
    }
}

/// A serial port (also a pseudo-terminal), via serialport.
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

impl SerialLink {
    pub fn open(path: &str, baud: u32, even_parity: bool) -> Result<Self, LinkError> {
        let name = format!("serial:{path}@{baud}");
        let parity = if even_parity {
            serialport::Parity::Even
        } else {
            serialport::Parity::None
        };
        let port = serialport::new(path, baud)
            .parity(parity)
            .data_bits(serialport::DataBits::Eight)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| {
                let kind = match e.kind() {
                    serialport::ErrorKind::NoDevice => LinkErrorKind::NotFound,
                    serialport::ErrorKind::Io(io::ErrorKind::NotFound) => LinkErrorKind::NotFound,
                    serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
                        LinkErrorKind::PermissionDenied
                    }
                    _ => LinkErrorKind::Io,
                };
                let hint = match kind {
                    LinkErrorKind::NotFound => {
                        " (is the reader plugged in? check the cable and `ls /dev/tty*`)"
                    }
                    LinkErrorKind::PermissionDenied => {
                        " (add the kiosk user to group dialout or install packaging/udev rules)"
                    }
                    _ => "",
                };
                LinkError::new(kind, "cannot open", name.clone(), format!("{e}{hint}"))
            })?;
        Ok(SerialLink { port, name })
    }
}

impl Link for SerialLink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.port
            .write_all(bytes)
            .and_then(|_| self.port.flush())
            .map_err(|e| LinkError::from_io("write failed", &self.name, &e))
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        self.port
            .set_timeout(timeout.max(Duration::from_millis(1)))
            .map_err(|e| {
                LinkError::new(
                    LinkErrorKind::Io,
                    "cannot set timeout",
                    &self.name,
                    e.to_string(),
                )
            })?;
        match self.port.read(buf) {
            // A zero-byte read on a tty whose poll said "readable" means hang-up.
            Ok(0) => Err(LinkError::new(
                LinkErrorKind::Disconnected,
                "read failed",
                &self.name,
                "the device hung up",
            )),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            Err(e) => Err(LinkError::from_io("read failed", &self.name, &e)),
        }
    }

    fn discard_input(&mut self) -> Result<(), LinkError> {
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(|e| {
                LinkError::new(
                    LinkErrorKind::Io,
                    "cannot clear input",
                    &self.name,
                    e.to_string(),
                )
            })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// How long one write may wait for the peer to take bytes (TCP and USB links).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP socket, e.g. a network receipt printer on port 9100.
pub struct TcpLink {
    stream: TcpStream,
    name: String,
}

impl TcpLink {
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, LinkError> {
        let name = if host.contains(':') {
            format!("tcp:[{host}]:{port}")
        } else {
            format!("tcp:{host}:{port}")
        };
        let addrs = (host, port).to_socket_addrs().map_err(|e| {
            LinkError::new(
                LinkErrorKind::NotFound,
                "cannot resolve",
                &name,
                e.to_string(),
            )
        })?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    // A network printer that stops reading (paper out, buffer full) must not
                    // block a write for ever; same bound as the USB link's bulk writes.
                    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                    return Ok(TcpLink { stream, name });
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"));
        Err(LinkError::from_io("cannot connect", &name, &e))
    }
}

impl Link for TcpLink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush())
            .map_err(|e| LinkError::from_io("write failed", &self.name, &e))
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| LinkError::from_io("cannot set timeout", &self.name, &e))?;
        match self.stream.read(buf) {
            Ok(0) => Err(LinkError::new(
                LinkErrorKind::Disconnected,
                "read failed",
                &self.name,
                "the peer closed the connection",
            )),
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(LinkError::from_io("read failed", &self.name, &e)),
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A device file such as `/dev/usb/lp0`: written to; read back only if the driver supports it.
pub struct FileLink {
    file: fs::File,
    name: String,
    readable: bool,
}

impl FileLink {
    pub fn open(path: &str) -> Result<Self, LinkError> {
        let name = format!("file:{path}");
        match fs::OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Ok(FileLink {
                file,
                name,
                readable: true,
            }),
            Err(_) => {
                let file = fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| LinkError::from_io("cannot open", &name, &e))?;
                Ok(FileLink {
                    file,
                    name,
                    readable: false,
                })
            }
        }
    }
}

impl Link for FileLink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.file
            .write_all(bytes)
            .and_then(|_| self.file.flush())
            .map_err(|e| LinkError::from_io("write failed", &self.name, &e))
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        if !self.readable {
            return Err(LinkError::new(
                LinkErrorKind::Unsupported,
                "cannot read",
                &self.name,
                "opened write-only",
            ));
        }
        // A plain read on a character device (usblp while the printer says nothing) or a FIFO
        // can block for ever, so wait for readability with poll(2) first, bounded by the
        // deadline; a file at its end (read returns 0) is retried until the deadline.
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(LinkError::from_io(
                        "read failed",
                        &self.name,
                        &io::Error::from(e),
                    ));
                }
            }
            match self.file.read(buf) {
                Ok(0) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LinkError::from_io("read failed", &self.name, &e)),
            }
        }
    }

    fn discard_input(&mut self) -> Result<(), LinkError> {
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Reads from `link` until `parse` recognises a frame in the bytes gathered so far, or the
/// deadline passes, or `max_len` bytes arrive without a frame.
///
/// `parse` sees the whole buffer and returns `None` while more bytes are needed, or `Some(r)`
/// once it has decided (a frame, or a protocol error). The protocols here are strictly
/// request/reply, so bytes arriving in the same read after a complete frame are dropped.
pub fn read_frame<T>(
    link: &mut dyn Link,
    timeout: Duration,
    max_len: usize,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> Result<T, LinkError> {
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let now = Instant::now();
        if now >= deadline {
            let detail = if buf.is_empty() {
                format!("no reply within {} ms", timeout.as_millis())
            } else {
                format!(
                    "incomplete reply within {} ms: {} bytes received",
                    timeout.as_millis(),
                    buf.len()
                )
            };
            return Err(LinkError::new(
                LinkErrorKind::Timeout,
                "timeout",
                link.describe(),
                detail,
            ));
        }
        let room = (max_len + 1)
            .saturating_sub(buf.len())
            .clamp(1, chunk.len());
        let n = link.read_some(&mut chunk[..room], deadline - now)?;
        if n == 0 {
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(result) = parse(&buf) {
            return Ok(result);
        }
        if buf.len() > max_len {
            return Err(LinkError::new(
                LinkErrorKind::Oversized,
                "oversized reply",
                link.describe(),
                format!(
                    "{} bytes without a complete frame (limit {max_len})",
                    buf.len()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every read on every link returns by its deadline, whatever the peer does.
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// Runs `f` on a thread and fails (instead of hanging the suite) if it takes over `limit`.
    fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit)
            .unwrap_or_else(|_| panic!("blocked for more than {limit:?}"))
    }

    /// A FIFO whose writer (this test) stays open but sends nothing: a blocking read on it
    /// waits for ever, as on `/dev/usb/lp0` with a printer that never answers.
    #[test]
    fn file_link_read_on_a_silent_fifo_returns_at_its_deadline() {
        let dir = std::env::temp_dir().join(format!("kiosk-transport-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("lp0");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let path = fifo.to_str().unwrap().to_string();
        let mut link = FileLink::open(&path).unwrap();
        let (n, link) = within(Duration::from_secs(5), move || {
            let start = Instant::now();
            let mut buf = [0u8; 16];
            let n = link
                .read_some(&mut buf, Duration::from_millis(200))
                .unwrap();
            assert!(start.elapsed() >= Duration::from_millis(150));
            (n, link)
        });
        assert_eq!(n, 0, "nothing was sent");
        // Bytes written into the FIFO come back through the same link.
        let mut link = link;
        link.write_all(b"\x10\x04\x01").unwrap();
        let mut buf = [0u8; 16];
        let n = link
            .read_some(&mut buf, Duration::from_millis(500))
            .unwrap();
        assert_eq!(&buf[..n], b"\x10\x04\x01");
        // read_frame on the silent FIFO: a typed timeout, not a hang.
        let err = within(Duration::from_secs(5), move || {
            read_frame(&mut link, Duration::from_millis(200), 64, |_| Some(())).unwrap_err()
        });
        assert_eq!(err.kind(), LinkErrorKind::Timeout, "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A TCP peer that accepts and then says nothing, or only half a frame, or too much.
    #[test]
    fn tcp_reads_time_out_and_oversized_replies_are_typed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = std::thread::spawn(move || {
            let (mut silent, _) = listener.accept().unwrap();
            let (mut half, _) = listener.accept().unwrap();
            half.write_all(b"\xAA\xAA").unwrap();
            let (mut flood, _) = listener.accept().unwrap();
            flood.write_all(&[0x55; 300]).unwrap();
            // Keep the sockets open until the client is done.
            let mut buf = [0u8; 1];
            let _ = silent.read(&mut buf);
            let _ = half.read(&mut buf);
            let _ = flood.read(&mut buf);
        });
        let connect = || TcpLink::connect("127.0.0.1", port, Duration::from_secs(1)).unwrap();
        let mut silent = connect();
        let mut half = connect();
        let mut flood = connect();
        let frame_of_4 = |b: &[u8]| (b.len() >= 4).then_some(());
        let (silent, half, flood) = within(Duration::from_secs(5), move || {
            let t = Duration::from_millis(200);
            let e = read_frame(&mut silent, t, 64, frame_of_4).unwrap_err();
            assert_eq!(e.kind(), LinkErrorKind::Timeout, "{e}");
            let e = read_frame(&mut half, t, 64, frame_of_4).unwrap_err();
            assert_eq!(e.kind(), LinkErrorKind::Timeout, "{e}");
            assert!(e.to_string().contains("2 bytes received"), "{e}");
            let e = read_frame(&mut flood, Duration::from_secs(2), 64, |_| None::<()>).unwrap_err();
            assert_eq!(e.kind(), LinkErrorKind::Oversized, "{e}");
            (silent, half, flood)
        });
        drop((silent, half, flood));
        peer.join().unwrap();
    }
}
