//! Receipt printers (devices.md §3): the [`ReceiptPrinter`] class and [`EscPosPrinter`], an
//! ESC/POS printer over any [`Link`] (serial, `tcp:HOST:9100`, `usb:auto`, `file:/dev/usb/lp0`).

use std::time::Duration;

use kiosk_escpos::{
    AsbStatus, Command, Cut, PaperLevel, PrinterStatus, Receipt, Reply, StatusError, StatusRequest,
    asb, next_reply,
};
use kiosk_transport::{Link, LinkError, LinkErrorKind, TransportSpec};

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// How long a printer may take to answer the four real-time status requests.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(800);

/// A printer failure.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("printer status reply: {0}")]
    Status(#[from] StatusError),
    #[error("printer is out of paper{0}")]
    PaperOut(&'static str),
    #[error("printer cover is open{0}")]
    CoverOpen(&'static str),
    #[error("printer is offline")]
    Offline,
    #[error("printer reports an error: {0}")]
    Hardware(String),
    #[error("{0} is not supported by this printer or transport")]
    Unsupported(&'static str),
}

impl HasKind for PrinterError {
    fn kind(&self) -> ErrorKind {
        match self {
            PrinterError::Link(e) => HasKind::kind(e),
            PrinterError::Status(_) => ErrorKind::Protocol,
            PrinterError::PaperOut(_) => ErrorKind::PaperOut,
            PrinterError::CoverOpen(_) => ErrorKind::CoverOpen,
            PrinterError::Offline | PrinterError::Hardware(_) => ErrorKind::HardwareError,
            PrinterError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

impl From<PrinterError> for DeviceFault {
    fn from(e: PrinterError) -> Self {
        DeviceFault::from_error(&e)
    }
}

/// Refuses to print (or reports a failed print) for a status that stops printing.
pub fn check_printable(s: &PrinterStatus, when: &'static str) -> Result<(), PrinterError> {
    if s.paper == PaperLevel::Out || s.stopped_paper_end {
        return Err(PrinterError::PaperOut(when));
    }
    if s.cover_open {
        return Err(PrinterError::CoverOpen(when));
    }
    if s.has_error() {
        let what = if s.cutter_error {
            "autocutter error"
        } else if s.unrecoverable_error {
            "unrecoverable error"
        } else if s.mechanical_error {
            "mechanical error"
        } else {
            "error"
        };
        return Err(PrinterError::Hardware(what.to_string()));
    }
    if !s.online {
        return Err(PrinterError::Offline);
    }
    Ok(())
}

/// A receipt printer.
pub trait ReceiptPrinter: Device {
    /// The printer's current status.
    fn status(&mut self) -> Result<PrinterStatus, PrinterError>;

    /// Prints a receipt: checks the status first (paper out, cover open, offline, errors are
    /// refused), sends it, then checks again so a roll that ran out mid-receipt is reported.
    fn print(&mut self, receipt: &Receipt) -> Result<(), PrinterError>;

    /// Cuts the paper.
    fn cut(&mut self, _kind: Cut) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported("cutting"))
    }

    /// Enables automatic status back for the `asb::*` bits (0 disables).
    fn set_status_back(&mut self, _mask: u8) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported("automatic status back"))
    }

    /// The last status the printer sent on its own (ASB), if any.
    fn last_status_back(&self) -> Option<PrinterStatus> {
        None
    }

    /// Pulses the cash drawer connector.
    fn open_drawer(&mut self) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported("drawer kick"))
    }
}

/// An ESC/POS printer on a byte link.
pub struct EscPosPrinter {
    link: Box<dyn Link>,
    transport: String,
    last_asb: Option<PrinterStatus>,
    /// Whether the link reads back (false for write-only device files and USB-only-OUT printers).
    readable: bool,
}

impl EscPosPrinter {
    /// Wraps an open link.
    pub fn new(link: Box<dyn Link>) -> Self {
        let transport = link.describe();
        EscPosPrinter {
            link,
            transport,
            last_asb: None,
            readable: true,
        }
    }

    /// Opens the transport and checks that a printer answers (`DLE EOT 1`); a link that cannot
    /// read back is accepted without status.
    pub fn open(spec: &TransportSpec) -> Result<Self, PrinterError> {
        let link = kiosk_transport::open(spec)?;
        let mut p = EscPosPrinter::new(link);
        p.link.discard_input()?;
        match p.real_time(&[StatusRequest::Printer]) {
            Ok(_) => Ok(p),
            Err(PrinterError::Link(e)) if e.kind() == LinkErrorKind::Unsupported => {
                p.readable = false;
                Ok(p)
            }
            // A unidirectional printer behind usblp accepts the read but never answers.
            Err(PrinterError::Link(e))
                if e.kind() == LinkErrorKind::Timeout
                    && matches!(spec, TransportSpec::File { .. }) =>
            {
                p.readable = false;
                Ok(p)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends real-time requests as one batch and reads one reply per request, keeping any ASB
    /// messages that arrive in between.
    fn real_time(&mut self, reqs: &[StatusRequest]) -> Result<Vec<u8>, PrinterError> {
        if !self.readable {
            return Err(PrinterError::Unsupported("reading status"));
        }
        let mut out = Vec::with_capacity(reqs.len() * 3);
        for r in reqs {
            out.extend_from_slice(&r.to_bytes());
        }
        self.link.write_all(&out)?;
        let want = reqs.len();
        let mut asbs = Vec::new();
        let result = kiosk_transport::read_frame(self.link.as_mut(), STATUS_TIMEOUT, 64, |buf| {
            let mut replies = Vec::new();
            let mut rest = buf;
            asbs.clear();
            loop {
                match next_reply(rest) {
                    Ok(Some((Reply::RealTime(b), used))) => {
                        replies.push(b);
                        rest = &rest[used..];
                        if replies.len() == want {
                            return Some(Ok(replies));
                        }
                    }
                    Ok(Some((Reply::Asb(a), used))) => {
                        asbs.push(a);
                        rest = &rest[used..];
                    }
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
        });
        if let Some(AsbStatus(s)) = asbs.last() {
            self.last_asb = Some(*s);
        }
        match result {
            Ok(Ok(replies)) => Ok(replies),
            Ok(Err(e)) => {
                // Whatever else the garbage was followed by is stale now.
                let _ = self.link.discard_input();
                Err(PrinterError::Status(e))
            }
            Err(e) => {
                // After a timeout or an oversized reply, whatever is still queued (the late
                // or endless rest of it) would be read as the answer to the next request.
                let _ = self.link.discard_input();
                Err(PrinterError::Link(e))
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        self.link.write_all(bytes).map_err(PrinterError::Link)
    }
}

impl Device for EscPosPrinter {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            class: DeviceClass::ReceiptPrinter,
            model: "ESC/POS".into(),
            firmware: None,
            transport: self.transport.clone(),
        }
    }

    fn probe(&mut self) -> Result<(), DeviceFault> {
        if !self.readable {
            return Ok(());
        }
        self.real_time(&[StatusRequest::Printer])
            .map(|_| ())
            .map_err(DeviceFault::from)
    }
}

impl ReceiptPrinter for EscPosPrinter {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        let replies = self.real_time(&StatusRequest::ALL)?;
        let mut s = PrinterStatus::default();
        for (req, b) in StatusRequest::ALL.into_iter().zip(replies) {
            s.apply_real_time(req, b)?;
        }
        Ok(s)
    }

    fn print(&mut self, receipt: &Receipt) -> Result<(), PrinterError> {
        match self.status() {
            Ok(s) => {
                check_printable(&s, "")?;
                if s.paper == PaperLevel::NearEnd {
                    tracing::warn!(transport = %self.transport, "printer paper near end");
                }
            }
            Err(PrinterError::Unsupported(_)) => {}
            Err(e) => return Err(e),
        }
        self.write(&receipt.to_bytes())?;
        match self.status() {
            Ok(s) => check_printable(&s, " (the receipt may be incomplete)"),
            Err(PrinterError::Unsupported(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn cut(&mut self, kind: Cut) -> Result<(), PrinterError> {
        self.write(&Command::Cut { kind, feed: None }.to_bytes())
    }

    fn set_status_back(&mut self, mask: u8) -> Result<(), PrinterError> {
        if !self.readable {
            return Err(PrinterError::Unsupported("automatic status back"));
        }
        self.write(&Command::AutoStatusBack(mask & asb::ALL).to_bytes())
    }

    fn last_status_back(&self) -> Option<PrinterStatus> {
        self.last_asb
    }

    fn open_drawer(&mut self) -> Result<(), PrinterError> {
        self.write(
            &Command::DrawerKick {
                pin: 0,
                on: 25,
                off: 250,
            }
            .to_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_the_right_kind() {
        let mut s = PrinterStatus::ready();
        assert!(check_printable(&s, "").is_ok());
        s.paper = PaperLevel::NearEnd;
        assert!(check_printable(&s, "").is_ok());
        s.paper = PaperLevel::Out;
        assert_eq!(
            check_printable(&s, "").unwrap_err().kind(),
            ErrorKind::PaperOut
        );
        let s = PrinterStatus {
            cover_open: true,
            online: false,
            ..Default::default()
        };
        assert_eq!(
            check_printable(&s, "").unwrap_err().kind(),
            ErrorKind::CoverOpen
        );
        let s = PrinterStatus::default();
        assert_eq!(
            check_printable(&s, "").unwrap_err().kind(),
            ErrorKind::HardwareError
        );
    }
}
