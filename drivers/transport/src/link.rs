use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

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
        // Character devices like usblp return what the printer sent, or 0 after their own timeout.
        let deadline = Instant::now() + timeout;
        loop {
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
