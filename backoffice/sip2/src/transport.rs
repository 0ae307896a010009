//! A thin blocking transport over `std::net` and the client that drives a [`Session`] with it:
//! read/write timeouts, and after EOF or a reset one reconnect, a new login and status, and one
//! more try of the request that was in flight (library.md §1.8).
//!
//! TLS seam: [`Connect`] opens any [`Connection`]; a TLS connector (rustls over the TCP stream,
//! or a local stunnel as FOLIO/Alma sites do) only has to implement these two traits.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::client::{Counters, Session, SessionState, Step};
use crate::date::Timestamp;
use crate::error::{Error, ErrorKind};
use crate::message::*;
use crate::settings::{CircOptions, Settings};

/// An open byte stream to the ILS.
pub trait Connection: Send {
    /// Writes every byte.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Reads what is there, waiting at most `timeout`. `Ok(0)` means the peer closed;
    /// a timeout is an error of kind `WouldBlock` or `TimedOut`.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

/// Opens connections to one ILS (TCP, TLS, or a test wrapper).
pub trait Connect: Send {
    type Conn: Connection;
    fn connect(&mut self) -> io::Result<Self::Conn>;
    /// The address, for messages.
    fn describe(&self) -> String;
}

/// Plain TCP to `HOST:PORT`.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    pub addr: String,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
}

impl TcpConnector {
    pub fn new(addr: impl Into<String>) -> Self {
        TcpConnector {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A TCP connection with timeouts.
#[derive(Debug)]
pub struct TcpConnection(TcpStream);

impl Connection for TcpConnection {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)?;
        self.0.flush()
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.0
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        self.0.read(buf)
    }
}

impl Connect for TcpConnector {
    type Conn = TcpConnection;

    fn connect(&mut self) -> io::Result<TcpConnection> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(self.write_timeout))?;
                    return Ok(TcpConnection(s));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn describe(&self) -> String {
        self.addr.clone()
    }
}

/// Why an exchange stopped.
enum Failure {
    /// EOF, reset, broken pipe: worth a reconnect.
    Dropped(String),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A blocking SIP2 client: connects, logs in, sends requests and gets typed answers.
pub struct Client<C: Connect> {
    connector: C,
    session: Session,
    conn: Option<C::Conn>,
}

impl<C: Connect> Client<C> {
    /// Connects and logs in (`93`, then `99`).
    pub fn connect(connector: C, settings: Settings) -> Result<Self, Error> {
        let mut c = Client {
            connector,
            session: Session::new(settings),
            conn: None,
        };
        c.login()?;
        Ok(c)
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn settings(&self) -> &Settings {
        self.session.settings()
    }

    pub fn counters(&self) -> Counters {
        self.session.counters()
    }

    /// The connector (for tests that inject faults).
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// The last ACS status.
    pub fn acs_status(&self) -> Option<&AcsStatusResponse> {
        self.session.acs_status()
    }

    fn login(&mut self) -> Result<(), Error> {
        self.conn = None;
        self.session.disconnected();
        let conn = self.connector.connect().map_err(|e| {
            Error::new(
                ErrorKind::Offline,
                format!(
                    "cannot connect to the ILS at {}: {e}; check the address, the network and that \
                     the SIP2 service is running",
                    self.connector.describe()
                ),
            )
        })?;
        self.conn = Some(conn);
        let login = self.session.connected(Instant::now())?;
        match self.drive(login) {
            Ok(None) => Ok(()),
            Ok(Some(m)) => Err(Error::new(
                ErrorKind::Protocol,
                format!("unexpected {} during login", m.id()),
            )),
            Err(Failure::Dropped(why)) => {
                self.conn = None;
                self.session.disconnected();
                Err(Error::new(
                    ErrorKind::LoginRefused,
                    format!(
                        "the ILS at {} closed the connection during login ({why}); check --user, \
                         --password and --location",
                        self.connector.describe()
                    ),
                ))
            }
            Err(Failure::Error(e)) => {
                self.conn = None;
                self.session.disconnected();
                Err(e)
            }
        }
    }

    /// Writes `first`, then reads until the session completes (`Ready` → `None`,
    /// `Done` → `Some`).
    fn drive(&mut self, first: Vec<u8>) -> Result<Option<Message>, Failure> {
        let mut buf = [0u8; 4096];
        self.write(&first)?;
        loop {
            let now = Instant::now();
            let step = match self.session.deadline() {
                Some(deadline) if now >= deadline => self.session.on_deadline(now)?,
                Some(deadline) => {
                    let conn = self
                        .conn
                        .as_mut()
                        .ok_or_else(|| Failure::Dropped("not connected".into()))?;
                    match conn.read(&mut buf, deadline - now) {
                        Ok(0) => {
                            return Err(Failure::Dropped("connection closed by the ILS".into()));
                        }
                        Ok(n) => self.session.receive(&buf[..n], Instant::now())?,
                        Err(e) if is_timeout(&e) => Step::Wait,
                        Err(e) => return Err(Failure::Dropped(e.to_string())),
                    }
                }
                None => self.session.receive(&[], now)?,
            };
            match step {
                Step::Wait => {}
                Step::Send(bytes) => self.write(&bytes)?,
                Step::Ready => return Ok(None),
                Step::Done(m) => return Ok(Some(m)),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Failure::Dropped("not connected".into()))?;
        conn.write_all(bytes)
            .map_err(|e| Failure::Dropped(e.to_string()))
    }

    /// Reconnects and logs in again, with the configured number of attempts.
    fn reconnect(&mut self) -> Result<(), Error> {
        let attempts = self.settings().reconnect_attempts.max(1);
        let mut last = None;
        for i in 0..attempts {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(200 * u64::from(i)));
            }
            self.session.counters_mut().reconnects += 1;
            match self.login() {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::LoginRefused => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Offline, "reconnect failed")))
    }

    /// Sends a request and returns its answer. After a dropped connection: reconnect, log in
    /// again and send the request once more.
    pub fn call(&mut self, request: Message) -> Result<Message, Error> {
        if self.conn.is_none() || self.session.state() != SessionState::Ready {
            self.reconnect()?;
        }
        let mut tried_again = false;
        loop {
            let bytes = self.session.start(request.clone(), Instant::now())?;
            match self.drive(bytes) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {
                    return Err(Error::new(ErrorKind::Protocol, "unexpected end of login"));
                }
                Err(Failure::Error(e)) => {
                    if e.kind() == ErrorKind::Timeout {
                        // The link may be half dead; start afresh next time.
                        self.conn = None;
                        self.session.disconnected();
                    }
                    return Err(e);
                }
                Err(Failure::Dropped(why)) => {
                    self.conn = None;
                    self.session.disconnected();
                    tracing::warn!(%why, "SIP2 connection dropped, reconnecting");
                    if tried_again {
                        return Err(Error::new(
                            ErrorKind::Offline,
                            format!(
                                "the ILS at {} dropped the connection twice ({why}); check the ILS \
                                 and the network",
                                self.connector.describe()
                            ),
                        ));
                    }
                    tried_again = true;
                    self.reconnect()?;
                }
            }
        }
    }

    fn call_as<T: TryFrom<Message, Error = Message>>(
        &mut self,
        request: Message,
    ) -> Result<T, Error> {
        let answer = self.call(request)?;
        T::try_from(answer).map_err(|m| {
            Error::new(
                ErrorKind::Protocol,
                format!("unexpected SIP2 answer {}", m.id()),
            )
        })
    }

    /// Sends `99` if the link has been idle for the keep-alive interval. True when it did.
    pub fn keepalive(&mut self) -> Result<bool, Error> {
        if !self.session.keepalive_due(Instant::now()) {
            return Ok(false);
        }
        self.status()?;
        Ok(true)
    }

    /// `99` → `98`.
    pub fn status(&mut self) -> Result<AcsStatusResponse, Error> {
        let m = self.settings().sc_status();
        self.call_as(m)
    }

    /// `23` → `24`.
    pub fn patron_status(
        &mut self,
        patron: &str,
        pin: Option<&str>,
    ) -> Result<PatronStatusResponse, Error> {
        let m = self.settings().patron_status(patron, pin, Timestamp::now());
        self.call_as(m)
    }

    /// `63` → `64`.
    pub fn patron_information(
        &mut self,
        patron: &str,
        pin: Option<&str>,
        summary: Option<usize>,
    ) -> Result<PatronInformationResponse, Error> {
        let m = self
            .settings()
            .patron_information(patron, pin, summary, Timestamp::now());
        self.call_as(m)
    }

    /// `11` → `12`.
    pub fn checkout(
        &mut self,
        patron: &str,
        item: &str,
        options: &CircOptions,
    ) -> Result<CheckoutResponse, Error> {
        let m = self
            .settings()
            .checkout(patron, item, options, Timestamp::now());
        self.call_as(m)
    }

    /// `09` → `10`.
    pub fn checkin(
        &mut self,
        item: &str,
        no_block: bool,
        returned: Option<Timestamp>,
    ) -> Result<CheckinResponse, Error> {
        let m = self
            .settings()
            .checkin(item, no_block, returned, Timestamp::now());
        self.call_as(m)
    }

    /// `29` → `30`.
    pub fn renew(
        &mut self,
        patron: &str,
        item: &str,
        options: &CircOptions,
    ) -> Result<RenewResponse, Error> {
        let m = self
            .settings()
            .renew(patron, item, options, Timestamp::now());
        self.call_as(m)
    }

    /// `65` → `66`.
    pub fn renew_all(
        &mut self,
        patron: &str,
        pin: Option<&str>,
    ) -> Result<RenewAllResponse, Error> {
        let m = self.settings().renew_all(patron, pin, Timestamp::now());
        self.call_as(m)
    }

    /// `17` → `18`.
    pub fn item_information(&mut self, item: &str) -> Result<ItemInformationResponse, Error> {
        let m = self.settings().item_information(item, Timestamp::now());
        self.call_as(m)
    }

    /// `35` → `36`.
    pub fn end_session(
        &mut self,
        patron: &str,
        pin: Option<&str>,
    ) -> Result<EndSessionResponse, Error> {
        let m = self.settings().end_session(patron, pin, Timestamp::now());
        self.call_as(m)
    }

    /// `15` → `16`.
    pub fn hold(&mut self, mode: char, patron: &str, item: &str) -> Result<HoldResponse, Error> {
        let m = self.settings().hold(mode, patron, item, Timestamp::now());
        self.call_as(m)
    }

    /// `25` → `26`.
    pub fn patron_enable(
        &mut self,
        patron: &str,
        pin: Option<&str>,
    ) -> Result<PatronEnableResponse, Error> {
        let m = self.settings().patron_enable(patron, pin, Timestamp::now());
        self.call_as(m)
    }

    /// `37` → `38`.
    pub fn fee_paid(
        &mut self,
        patron: &str,
        amount: &str,
        currency: &str,
        fee_type: &str,
        payment_type: &str,
    ) -> Result<FeePaidResponse, Error> {
        let m = self.settings().fee_paid(
            patron,
            amount,
            currency,
            fee_type,
            payment_type,
            None,
            Timestamp::now(),
        );
        self.call_as(m)
    }

    /// Closes the connection (the session can be reopened by the next call).
    pub fn close(&mut self) {
        self.conn = None;
        self.session.disconnected();
    }
}
