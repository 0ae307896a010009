//! A small built-in SIP2 server (the ACS side) for the demo mode: the library profile's demo
//! needs nothing outside the binary (ARCHITECTURE.md, "Terminal profiles"). It serves a
//! [`DemoLibrary`] from memory and behaves like the toy library the tests run on PyPI pysip2
//! (`tests/sip2-peer/toy_ils.py`): same answers, same screen messages, same protocol rules.
//! The tests still run the client against pysip2 too, and pysip2's own codec against this
//! server, so neither side can hide a bug of the other.
//!
//! It reuses this crate's codec ([`Codec`], [`Framer`], the typed messages); nothing here is
//! a second codec. Protocol rules (library.md §1.5, §7):
//!
//! * The answer carries `AY`/`AZ` when the request did, with the request's sequence number.
//! * A bad checksum is answered `96`. So is a checksum that only matches over code points
//!   (accepted by the client's decoder, but a client bug this server must not hide).
//! * `97` replays the last answer (`96` when there is none); a request repeated with the same
//!   bytes (same sequence number and checksum: a client's retry after a timeout) gets the last
//!   answer again instead of a second checkout.
//! * Login is required: anything but `93` before a good login closes the connection, and so
//!   does a refused login (after its `940`). Unknown command ids get no answer; a malformed
//!   message or one missing a field pysip2 requires closes the connection.
//!
//! [`Acs`] is the sans-IO state machine of one connection (bytes in, bytes out) over a shared
//! `Mutex<DemoLibrary>`; [`DemoServer`] runs it on a TCP listener, one thread per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::date::Timestamp;
use crate::demo::{DemoItem, DemoLibrary, DemoPatron};
use crate::error::{DecodeError, EncodeError};
use crate::frame::Framer;
use crate::message::{
    AcsStatusResponse, BX_ORDER, CheckinResponse, CheckoutRequest, CheckoutResponse,
    ChecksumStatus, Codec, EndSessionResponse, FeePaidResponse, HoldResponse,
    ItemInformationResponse, LoginResponse, Message, PatronEnableResponse,
    PatronInformationResponse, PatronStatusResponse, RawMessage, RenewAllResponse, RequestScResend,
    Trailer,
};

/// Messages the demo server answers (its `BX` in `98`); `01` and `19` are not among them.
pub const SUPPORTED: [&str; 14] = [
    "23", "11", "09", "99", "97", "93", "63", "35", "37", "17", "25", "15", "29", "65",
];

/// `98` timeout period (tenths of a second) and retries allowed, as the toy library sends.
pub const TIMEOUT_PERIOD: &str = "030";
pub const RETRIES_ALLOWED: &str = "003";

/// Fields pysip2 0.1.0 requires in each request (its models); a request without them closes
/// the connection there, and here.
fn required_fields(id: &str) -> &'static [&'static str] {
    match id {
        "93" => &["CN", "CO"],
        "23" => &["AO", "AA", "AC", "AD"],
        "11" => &["AO", "AA", "AB", "AC"],
        "09" => &["AP", "AO", "AB", "AC"],
        "01" => &["AO", "AL", "AA", "AC"],
        "37" => &["BV", "AO", "AA"],
        "17" => &["AO", "AB"],
        "19" => &["AO", "AB", "CH"],
        "63" | "35" | "25" | "15" | "29" | "65" => &["AO", "AA"],
        _ => &[],
    }
}

/// What the connection should do after some bytes arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (a whole message with its terminator).
    Reply(Vec<u8>),
    /// Close the connection (after sending the replies before it).
    Close,
}

/// The ACS state machine of one connection over a shared library.
#[derive(Debug)]
pub struct Acs {
    library: Arc<Mutex<DemoLibrary>>,
    codec: Codec,
    framer: Framer,
    authenticated: bool,
    last_request: Option<Vec<u8>>,
    last_response: Option<Vec<u8>>,
    closed: bool,
}

fn lock(lib: &Mutex<DemoLibrary>) -> MutexGuard<'_, DemoLibrary> {
    lib.lock().unwrap_or_else(|e| e.into_inner())
}

impl Acs {
    pub fn new(library: Arc<Mutex<DemoLibrary>>, codec: Codec) -> Acs {
        Acs {
            library,
            codec,
            framer: Framer::default(),
            authenticated: false,
            last_request: None,
            last_response: None,
            closed: false,
        }
    }

    /// Whether the connection has been closed by a protocol rule.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Feeds received bytes (any split); returns the replies in order, and `Close` last when
    /// the connection must end.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        self.framer.push(bytes);
        while let Some(frame) = self.framer.next_frame() {
            let Ok(frame) = frame else {
                tracing::warn!("demo SIP2 server: oversized frame, closing");
                self.closed = true;
                out.push(Output::Close);
                return out;
            };
            if let Some(o) = self.handle_frame(&frame) {
                let close = o == Output::Close;
                out.push(o);
                if close {
                    self.closed = true;
                    return out;
                }
            }
        }
        out
    }

    fn resend_request(&mut self) -> Output {
        let raw = RequestScResend::default().to_raw().unwrap_or_default();
        match self.codec.encode(&raw, Trailer::Checksum { sequence: 0 }) {
            Ok(bytes) => {
                self.last_response = Some(bytes.clone());
                Output::Reply(bytes)
            }
            Err(_) => Output::Close,
        }
    }

    /// One framed message (terminator removed) → at most one output.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Option<Output> {
        let decoded = match self.codec.decode(frame) {
            Ok(d) if d.checksum == ChecksumStatus::CodePoints => {
                tracing::debug!("demo SIP2 server: checksum over code points, not bytes: 96");
                return Some(self.resend_request());
            }
            Ok(d) => d,
            Err(DecodeError::Checksum { .. }) => return Some(self.resend_request()),
            Err(DecodeError::UnknownCommand(id)) => {
                tracing::warn!("demo SIP2 server: unknown command {id:?}, no answer");
                return None;
            }
            Err(e) => {
                tracing::warn!("demo SIP2 server: {e}, closing");
                return Some(Output::Close);
            }
        };
        let raw = &decoded.message;
        match raw.id.as_str() {
            "97" => {
                return Some(match &self.last_response {
                    Some(last) => Output::Reply(last.clone()),
                    None => self.resend_request(),
                });
            }
            "96" => return None,
            _ => {}
        }
        let checksummed = decoded.checksum != ChecksumStatus::Absent;
        if checksummed {
            if self.last_request.as_deref() == Some(frame) {
                return self.last_response.clone().map(Output::Reply);
            }
            self.last_request = Some(frame.to_vec());
        }
        if let Some(code) = required_fields(&raw.id)
            .iter()
            .find(|c| raw.get(c).is_none())
        {
            tracing::warn!(
                "demo SIP2 server: {} without required field {code}, closing",
                raw.id
            );
            return Some(Output::Close);
        }
        let message = match Message::from_raw(raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("demo SIP2 server: {e}, closing");
                return Some(Output::Close);
            }
        };
        let is_login = matches!(message, Message::LoginRequest(_));
        if !self.authenticated && !is_login {
            tracing::warn!("demo SIP2 server: {} before login, closing", raw.id);
            return Some(Output::Close);
        }
        let answer = {
            let mut lib = lock(&self.library);
            answer(&mut lib, message)
        };
        let answer = match answer {
            Ok(Some(a)) => a,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(
                    "demo SIP2 server: cannot build the answer to {}: {e}",
                    raw.id
                );
                return Some(Output::Close);
            }
        };
        let login_ok = is_login && answer.fixed == "1";
        let trailer = if checksummed {
            Trailer::Checksum {
                sequence: decoded.sequence.unwrap_or(0),
            }
        } else {
            Trailer::None
        };
        let bytes = match self.codec.encode(&answer, trailer) {
            Ok(b) => b,
            // A text the account's character set cannot carry (a Chinese title on CP850).
            Err(_) => match self
                .codec
                .encode(&self.replace_unencodable(answer), trailer)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("demo SIP2 server: cannot encode an answer: {e}");
                    return Some(Output::Close);
                }
            },
        };
        self.last_response = Some(bytes.clone());
        if is_login && !self.authenticated {
            if !login_ok {
                // pysip2 with login_required: the 940 goes out, then the link closes.
                self.closed = true;
                return Some(Output::Reply(bytes));
            }
            self.authenticated = true;
        }
        Some(Output::Reply(bytes))
    }

    fn replace_unencodable(&self, mut raw: RawMessage) -> RawMessage {
        let cs = self.codec.charset;
        for f in &mut raw.fields {
            f.value = f
                .value
                .chars()
                .map(|c| if cs.can_encode(c) { c } else { '?' })
                .collect();
        }
        raw
    }
}

fn now18() -> String {
    Timestamp::now().to_sip2()
}

fn yn(b: bool) -> String {
    if b { "Y" } else { "N" }.into()
}

fn status14(p: Option<&DemoPatron>) -> String {
    let mut flags = [' '; 14];
    if p.is_some_and(|p| p.blocked) {
        flags[0] = 'Y'; // charge privileges denied
        flags[10] = 'Y'; // excessive outstanding fines
    }
    flags.iter().collect()
}

fn pin_ok(p: Option<&DemoPatron>, pin: Option<&str>) -> String {
    yn(p.is_some_and(|p| pin.unwrap_or("") == p.pin))
}

fn patron_screen(p: Option<&DemoPatron>) -> Vec<String> {
    match p {
        None => vec!["Invalid patron".into()],
        Some(p) if p.blocked => vec![
            p.block_message
                .clone()
                .unwrap_or_else(|| "Patron blocked".into()),
        ],
        Some(_) => vec![],
    }
}

/// The transaction date plus the loan period, at 23:59:00 (UTC).
fn due_from(lib: &DemoLibrary, date18: &str) -> String {
    let base = Timestamp::parse(date18).unwrap_or_else(Timestamp::now);
    let day = base.plus_days(lib.loan_days).0.div_euclid(86_400);
    Timestamp(day * 86_400 + 23 * 3600 + 59 * 60).to_sip2()
}

fn count4(n: usize) -> String {
    format!("{:04}", n.min(9999))
}

/// Checkout and renew answers have the same layout (12 and 30).
#[allow(clippy::too_many_arguments)]
fn circ(
    id: &str,
    lib: &DemoLibrary,
    patron: &str,
    item_id: &str,
    ok: bool,
    item: Option<&DemoItem>,
    due: Option<String>,
    screen: &str,
    renewal_ok: bool,
) -> Result<RawMessage, EncodeError> {
    let mut raw = CheckoutResponse {
        ok: if ok { "1" } else { "0" }.into(),
        renewal_ok: yn(renewal_ok),
        magnetic_media: "N".into(),
        desensitize: yn(ok),
        transaction_date: now18(),
        institution_id: Some(lib.institution_id.clone()),
        patron_identifier: Some(patron.into()),
        item_identifier: Some(item_id.into()),
        title_identifier: Some(item.map(|i| i.title.clone()).unwrap_or_default()),
        due_date: Some(due.unwrap_or_default()),
        media_type: item.and_then(|i| i.media.clone()),
        screen_message: vec![screen.into()],
        ..Default::default()
    }
    .to_raw()?;
    raw.id = id.into();
    Ok(raw)
}

/// The answer of the demo library to one request (`None`: no answer).
fn answer(lib: &mut DemoLibrary, message: Message) -> Result<Option<RawMessage>, EncodeError> {
    let inst = lib.institution_id.clone();
    let raw = match message {
        Message::LoginRequest(r) => {
            let ok = r.login_user_id.as_deref() == Some(lib.login.user.as_str())
                && r.login_password.as_deref() == Some(lib.login.password.as_str());
            LoginResponse {
                ok: if ok { "1" } else { "0" }.into(),
                ..Default::default()
            }
            .to_raw()?
        }
        Message::ScStatusRequest(_) => {
            let bx: String = BX_ORDER
                .iter()
                .map(|id| SUPPORTED.contains(id))
                .map(yn)
                .collect();
            AcsStatusResponse {
                online_status: "Y".into(),
                checkin_ok: "Y".into(),
                checkout_ok: "Y".into(),
                acs_renewal_policy: "Y".into(),
                status_update_ok: "N".into(),
                offline_ok: "Y".into(),
                timeout_period: TIMEOUT_PERIOD.into(),
                retries_allowed: RETRIES_ALLOWED.into(),
                date_time_sync: now18(),
                protocol_version: "2.00".into(),
                institution_id: Some(inst),
                library_name: lib.library_name.clone(),
                supported_messages: Some(bx),
                terminal_location: lib.login.location.clone(),
                ..Default::default()
            }
            .to_raw()?
        }
        Message::PatronStatusRequest(r) => {
            let pid = r.patron_identifier.unwrap_or_default();
            let p = lib.patron(&pid);
            PatronStatusResponse {
                patron_status: status14(p),
                language: r.language,
                transaction_date: now18(),
                institution_id: Some(inst),
                patron_identifier: Some(pid.clone()),
                personal_name: Some(p.map(|p| p.name.clone()).unwrap_or_default()),
                valid_patron: Some(yn(p.is_some())),
                valid_patron_password: Some(pin_ok(p, r.patron_password.as_deref())),
                currency_type: Some(lib.currency.clone()),
                fee_amount: p.map(|p| p.fines.clone().unwrap_or_else(|| "0.00".into())),
                screen_message: patron_screen(p),
                ..Default::default()
            }
            .to_raw()?
        }
        Message::PatronInformationRequest(r) => {
            let pid = r.patron_identifier.unwrap_or_default();
            let p = lib.patron(&pid);
            let charged: Vec<String> = lib
                .items
                .iter()
                .filter(|i| i.out_to.as_deref() == Some(pid.as_str()))
                .map(|i| i.id.clone())
                .collect();
            let holds: Vec<String> = lib
                .items
                .iter()
                .filter(|i| i.hold_for.as_deref() == Some(pid.as_str()))
                .map(|i| i.id.clone())
                .collect();
            let fine = p.and_then(|p| p.fines.clone());
            let summary: Vec<char> = r.summary.chars().collect();
            let wants = |i: usize| summary.get(i) == Some(&'Y');
            PatronInformationResponse {
                patron_status: status14(p),
                language: r.language,
                transaction_date: now18(),
                hold_items_count: count4(holds.len()),
                overdue_items_count: "0000".into(),
                charged_items_count: count4(charged.len()),
                fine_items_count: if fine.as_deref().is_some_and(|f| f != "0.00") {
                    "0001"
                } else {
                    "0000"
                }
                .into(),
                recall_items_count: "0000".into(),
                unavailable_holds_count: "0000".into(),
                institution_id: Some(inst),
                patron_identifier: Some(pid.clone()),
                personal_name: Some(p.map(|p| p.name.clone()).unwrap_or_default()),
                valid_patron: Some(yn(p.is_some())),
                valid_patron_password: Some(pin_ok(p, r.patron_password.as_deref())),
                currency_type: Some(lib.currency.clone()),
                fee_amount: fine,
                email_address: p.and_then(|p| p.email.clone()),
                hold_items: if wants(0) { holds } else { vec![] },
                charged_items: if wants(2) { charged } else { vec![] },
                screen_message: patron_screen(p),
                ..Default::default()
            }
            .to_raw()?
        }
        Message::CheckoutRequest(r) => checkout(lib, r)?,
        Message::CheckinRequest(r) => {
            let iid = r.item_identifier.unwrap_or_default();
            match lib.item_mut(&iid) {
                None => CheckinResponse {
                    ok: "0".into(),
                    resensitize: "N".into(),
                    magnetic_media: "U".into(),
                    alert: "Y".into(),
                    transaction_date: now18(),
                    institution_id: Some(inst),
                    item_identifier: Some(iid),
                    permanent_location: Some(String::new()),
                    screen_message: vec!["Item not found".into()],
                    ..Default::default()
                }
                .to_raw()?,
                Some(item) => {
                    let was_out = item.out_to.take();
                    item.due = None;
                    let hold = item.hold_for.clone();
                    let screen = match (&hold, was_out) {
                        (Some(h), _) => format!("Item on hold for {h}: put it on the hold shelf"),
                        (None, Some(_)) => "Checked in".into(),
                        (None, None) => "Item was not checked out".into(),
                    };
                    CheckinResponse {
                        ok: "1".into(),
                        resensitize: "Y".into(),
                        magnetic_media: "N".into(),
                        alert: yn(hold.is_some()),
                        transaction_date: now18(),
                        institution_id: Some(inst),
                        item_identifier: Some(iid),
                        permanent_location: Some("MAIN".into()),
                        title_identifier: Some(item.title.clone()),
                        sort_bin: Some(if hold.is_some() { "HOLD" } else { "A1" }.into()),
                        // SIP2 2.00 checkin response: CV 01 "hold for this library", CY the
                        // patron waiting (and AA, as the toy library sends it).
                        alert_type: hold.as_ref().map(|_| "01".into()),
                        hold_patron_id: hold.clone(),
                        patron_identifier: hold,
                        media_type: item.media.clone(),
                        screen_message: vec![screen],
                        ..Default::default()
                    }
                    .to_raw()?
                }
            }
        }
        Message::RenewRequest(r) => {
            let pid = r.patron_identifier.unwrap_or_default();
            let iid = r.item_identifier.unwrap_or_default();
            let due = due_from(lib, &r.transaction_date);
            let item = lib.item(&iid).cloned();
            match item {
                Some(i) if i.out_to.as_deref() == Some(pid.as_str()) => {
                    if i.renew_too_soon {
                        let msg = "Renewal too soon: try again after 2026-03-03";
                        circ(
                            "30",
                            lib,
                            &pid,
                            &iid,
                            false,
                            Some(&i),
                            i.due.clone(),
                            msg,
                            false,
                        )?
                    } else {
                        let it = lib.item_mut(&iid).expect("item exists");
                        it.due = Some(due.clone());
                        let it = it.clone();
                        circ(
                            "30",
                            lib,
                            &pid,
                            &iid,
                            true,
                            Some(&it),
                            Some(due),
                            "Renewed",
                            true,
                        )?
                    }
                }
                other => {
                    let msg = "Item not checked out to this patron";
                    circ(
                        "30",
                        lib,
                        &pid,
                        &iid,
                        false,
                        other.as_ref(),
                        None,
                        msg,
                        false,
                    )?
                }
            }
        }
        Message::RenewAllRequest(r) => {
            let pid = r.patron_identifier.unwrap_or_default();
            let due = due_from(lib, &r.transaction_date);
            let (mut renewed, mut unrenewed) = (Vec::new(), Vec::new());
            for i in &mut lib.items {
                if i.out_to.as_deref() != Some(pid.as_str()) {
                    continue;
                }
                if i.renew_too_soon {
                    unrenewed.push(i.id.clone());
                } else {
                    i.due = Some(due.clone());
                    renewed.push(i.id.clone());
                }
            }
            RenewAllResponse {
                ok: "1".into(),
                renewed_count: count4(renewed.len()),
                unrenewed_count: count4(unrenewed.len()),
                transaction_date: now18(),
                institution_id: Some(inst),
                renewed_items: renewed,
                unrenewed_items: unrenewed,
                ..Default::default()
            }
            .to_raw()?
        }
        Message::ItemInformationRequest(r) => {
            let iid = r.item_identifier.unwrap_or_default();
            match lib.item(&iid) {
                None => ItemInformationResponse {
                    circulation_status: "01".into(),
                    security_marker: "00".into(),
                    fee_type: "01".into(),
                    transaction_date: now18(),
                    item_identifier: Some(iid),
                    title_identifier: Some(String::new()),
                    screen_message: vec!["Item not found".into()],
                    ..Default::default()
                }
                .to_raw()?,
                Some(i) => ItemInformationResponse {
                    circulation_status: if i.out_to.is_some() {
                        "04"
                    } else if i.hold_for.is_some() {
                        "08"
                    } else {
                        "03"
                    }
                    .into(),
                    security_marker: "02".into(),
                    fee_type: "01".into(),
                    transaction_date: now18(),
                    hold_queue_length: Some(if i.hold_for.is_some() { "1" } else { "0" }.into()),
                    due_date: i.due.clone(),
                    item_identifier: Some(i.id.clone()),
                    title_identifier: Some(i.title.clone()),
                    owner: Some(inst),
                    media_type: i.media.clone(),
                    permanent_location: Some("MAIN".into()),
                    current_location: Some("MAIN".into()),
                    ..Default::default()
                }
                .to_raw()?,
            }
        }
        Message::EndPatronSessionRequest(r) => EndSessionResponse {
            end_session: "Y".into(),
            transaction_date: now18(),
            institution_id: Some(inst),
            patron_identifier: r.patron_identifier,
            screen_message: vec!["Goodbye".into()],
            ..Default::default()
        }
        .to_raw()?,
        Message::FeePaidRequest(r) => {
            let pid = r.patron_identifier.clone().unwrap_or_default();
            let amount = r.fee_amount.as_deref().unwrap_or("").trim().parse::<f64>();
            let mut accepted = false;
            if let (Some(p), Ok(amount)) = (lib.patrons.iter_mut().find(|p| p.id == pid), amount)
                && amount.is_finite()
            {
                let owed: f64 = p.fines.as_deref().unwrap_or("0").parse().unwrap_or(0.0);
                p.fines = Some(format!("{:.2}", (owed - amount).max(0.0)));
                accepted = true;
            }
            FeePaidResponse {
                payment_accepted: yn(accepted),
                transaction_date: now18(),
                institution_id: Some(inst),
                patron_identifier: r.patron_identifier,
                transaction_id: r.transaction_id,
                ..Default::default()
            }
            .to_raw()?
        }
        Message::HoldRequest(r) => {
            let pid = r.patron_identifier.clone().unwrap_or_default();
            let iid = r.item_identifier.clone().unwrap_or_default();
            let patron_known = lib.patron(&pid).is_some();
            let item = lib.item_mut(&iid).filter(|_| patron_known);
            let ok = item.is_some();
            let (available, title) = match item {
                Some(item) => {
                    match r.hold_mode.as_str() {
                        "+" if item.hold_for.is_none() => item.hold_for = Some(pid.clone()),
                        "-" if item.hold_for.as_deref() == Some(pid.as_str()) => {
                            item.hold_for = None
                        }
                        _ => {}
                    }
                    (item.out_to.is_none(), Some(item.title.clone()))
                }
                None => (false, lib.item(&iid).map(|i| i.title.clone())),
            };
            HoldResponse {
                ok: if ok { "1" } else { "0" }.into(),
                available: yn(available),
                transaction_date: now18(),
                queue_position: ok.then(|| "1".into()),
                institution_id: Some(inst),
                patron_identifier: r.patron_identifier,
                item_identifier: r.item_identifier,
                title_identifier: title,
                ..Default::default()
            }
            .to_raw()?
        }
        Message::PatronEnableRequest(r) => {
            let pid = r.patron_identifier.unwrap_or_default();
            let p = lib.patron(&pid);
            PatronEnableResponse {
                patron_status: status14(p),
                language: "000".into(),
                transaction_date: now18(),
                institution_id: Some(inst),
                patron_identifier: Some(pid.clone()),
                personal_name: Some(p.map(|p| p.name.clone()).unwrap_or_default()),
                valid_patron: Some(yn(p.is_some())),
                ..Default::default()
            }
            .to_raw()?
        }
        other => {
            tracing::warn!("demo SIP2 server: {} not supported, no answer", other.id());
            return Ok(None);
        }
    };
    Ok(Some(raw))
}

fn checkout(lib: &mut DemoLibrary, r: CheckoutRequest) -> Result<RawMessage, EncodeError> {
    let pid = r.patron_identifier.unwrap_or_default();
    let iid = r.item_identifier.unwrap_or_default();
    let no_block = r.no_block == "Y";
    let due = due_from(lib, &r.transaction_date);
    let fail = |lib: &DemoLibrary, item: Option<&DemoItem>, screen: &str| {
        circ("12", lib, &pid, &iid, false, item, None, screen, false)
    };
    let Some(p) = lib.patron(&pid).cloned() else {
        return fail(lib, lib.item(&iid), "Invalid patron");
    };
    let Some(item) = lib.item(&iid).cloned() else {
        return fail(lib, None, "Item not found");
    };
    if p.blocked && !no_block {
        let msg = p.block_message.as_deref().unwrap_or("Patron blocked");
        return fail(lib, Some(&item), msg);
    }
    let mine = item.out_to.as_deref() == Some(p.id.as_str());
    if !mine && item.out_to.is_some() && !no_block {
        return fail(
            lib,
            Some(&item),
            "Item already checked out to another patron",
        );
    }
    if !mine
        && !no_block
        && let Some(h) = item.hold_for.as_deref()
        && h != p.id
    {
        return fail(lib, Some(&item), "Item on hold for another patron");
    }
    let Some(it) = lib.item_mut(&iid) else {
        return fail(lib, None, "Item not found");
    };
    it.due = Some(due.clone());
    if !mine {
        if it.hold_for.as_deref() == Some(p.id.as_str()) {
            it.hold_for = None;
        }
        it.out_to = Some(p.id.clone());
    }
    let it = it.clone();
    let (screen, renewal_ok) = match (mine, no_block) {
        // Checking out what the patron already has renews it (the toy library's rule).
        (true, _) => ("Item renewed", true),
        (false, true) => ("Offline transaction accepted", false),
        (false, false) => ("Checked out", false),
    };
    circ(
        "12",
        lib,
        &pid,
        &iid,
        true,
        Some(&it),
        Some(due),
        screen,
        renewal_ok,
    )
}

/// The demo SIP2 server on a TCP listener; stops (listener closed, connections ended) when
/// dropped.
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    library: Arc<Mutex<DemoLibrary>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// How often the threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

impl DemoServer {
    /// Binds `addr` (port 0: any free port, see [`DemoServer::addr`]) and serves `library` in
    /// UTF-8 with CR terminators.
    pub fn start(addr: SocketAddr, library: DemoLibrary) -> io::Result<DemoServer> {
        DemoServer::start_with(addr, library, Codec::default())
    }

    /// As [`DemoServer::start`] with another character set or terminator.
    pub fn start_with(
        addr: SocketAddr,
        library: DemoLibrary,
        codec: Codec,
    ) -> io::Result<DemoServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let library = Arc::new(Mutex::new(library));
        let stop = Arc::new(AtomicBool::new(false));
        let (lib, flag) = (library.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("sip2-demo-accept".into())
            .spawn(move || accept_loop(listener, lib, codec, flag))?;
        tracing::info!("demo SIP2 server listening on {addr}");
        Ok(DemoServer {
            addr,
            library,
            stop,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The library as it is now (loans, holds and fines changed by the requests so far).
    pub fn library(&self) -> DemoLibrary {
        lock(&self.library).clone()
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    library: Arc<Mutex<DemoLibrary>>,
    codec: Codec,
    stop: Arc<AtomicBool>,
) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let acs = Acs::new(library.clone(), codec);
                let flag = stop.clone();
                let spawned = std::thread::Builder::new()
                    .name("sip2-demo-conn".into())
                    .spawn(move || serve_connection(stream, acs, flag, peer));
                match spawned {
                    Ok(h) => connections.push(h),
                    Err(e) => tracing::warn!("demo SIP2 server: no thread for {peer}: {e}"),
                }
                connections.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!("demo SIP2 server: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
    for h in connections {
        let _ = h.join();
    }
}

fn serve_connection(mut stream: TcpStream, mut acs: Acs, stop: Arc<AtomicBool>, peer: SocketAddr) {
    tracing::debug!("demo SIP2 server: connection from {peer}");
    // A client that stops reading cannot hold a thread (nor the Drop that joins it) forever.
    let write_timeout = Some(Duration::from_secs(5));
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(write_timeout).is_err()
    {
        return;
    }
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for out in acs.receive(&buf[..n]) {
            match out {
                Output::Reply(bytes) => {
                    if stream.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Output::Close => {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        }
        if acs.closed() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{
        CheckinRequest, LoginRequest, PatronInformationRequest, RenewRequest, ScStatusRequest,
    };

    fn acs() -> Acs {
        Acs::new(
            Arc::new(Mutex::new(DemoLibrary::builtin())),
            Codec::default(),
        )
    }

    fn bytes(m: impl Into<Message>, seq: u8) -> Vec<u8> {
        Codec::default()
            .encode(
                &m.into().to_raw().unwrap(),
                Trailer::Checksum { sequence: seq },
            )
            .unwrap()
    }

    fn status(seq: u8) -> Vec<u8> {
        bytes(
            ScStatusRequest {
                status_code: "0".into(),
                max_print_width: "030".into(),
                protocol_version: "2.00".into(),
                ..Default::default()
            },
            seq,
        )
    }

    fn login(seq: u8, password: &str) -> Vec<u8> {
        bytes(
            LoginRequest {
                uid_algorithm: "0".into(),
                pwd_algorithm: "0".into(),
                login_user_id: Some("kiosk".into()),
                login_password: Some(password.into()),
                location_code: Some("LOBBY-1".into()),
                ..Default::default()
            },
            seq,
        )
    }

    fn date() -> String {
        Timestamp::from_ymd_hms(2026, 2, 1, 10, 0, 0)
            .unwrap()
            .to_sip2()
    }

    fn checkout(seq: u8, patron: &str, item: &str) -> Vec<u8> {
        bytes(
            CheckoutRequest {
                sc_renewal_policy: "N".into(),
                no_block: "N".into(),
                transaction_date: date(),
                nb_due_date: date(),
                institution_id: Some("CN-TEST".into()),
                patron_identifier: Some(patron.into()),
                item_identifier: Some(item.into()),
                terminal_password: Some(String::new()),
                ..Default::default()
            },
            seq,
        )
    }

    fn checkin(seq: u8, item: &str) -> Vec<u8> {
        bytes(
            CheckinRequest {
                no_block: "N".into(),
                transaction_date: date(),
                return_date: date(),
                current_location: Some("LOBBY-1".into()),
                institution_id: Some("CN-TEST".into()),
                item_identifier: Some(item.into()),
                terminal_password: Some(String::new()),
                ..Default::default()
            },
            seq,
        )
    }

    /// The one reply, decoded, with its sequence number.
    fn reply(acs: &mut Acs, req: &[u8]) -> (Message, Option<u8>) {
        let out = acs.receive(req);
        let [Output::Reply(b)] = out.as_slice() else {
            panic!("expected one reply, got {out:?}")
        };
        assert_eq!(b.last(), Some(&b'\r'));
        let d = Codec::default().decode(b).unwrap();
        assert_eq!(d.checksum, ChecksumStatus::Bytes);
        (Message::from_raw(&d.message).unwrap(), d.sequence)
    }

    fn logged_in() -> Acs {
        let mut a = acs();
        let (m, seq) = reply(&mut a, &login(0, "secret"));
        assert_eq!(
            m,
            Message::LoginResponse(LoginResponse {
                ok: "1".into(),
                ..Default::default()
            })
        );
        assert_eq!(seq, Some(0));
        a
    }

    #[test]
    fn login_then_status_with_sequence_numbers_echoed() {
        let mut a = logged_in();
        let (m, seq) = reply(&mut a, &status(1));
        assert_eq!(seq, Some(1));
        let Message::AcsStatusResponse(s) = m else {
            panic!("{m:?}")
        };
        assert_eq!(s.online_status, "Y");
        assert_eq!(s.timeout_period, "030");
        assert_eq!(s.institution_id.as_deref(), Some("CN-TEST"));
        assert_eq!(
            s.library_name.as_deref(),
            Some("社区图书馆 Community Library")
        );
        assert_eq!(s.supported_messages.as_deref(), Some("YYYNYYYYYYYNYYYY"));
        // Without a trailer, the answer has none either.
        let out = a.receive(b"9900302.00\r");
        let [Output::Reply(b)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert!(!b.windows(2).any(|w| w == b"AZ"));
    }

    #[test]
    fn refused_login_and_requests_before_login_close() {
        let mut a = acs();
        let out = a.receive(&login(0, "wrong"));
        let [Output::Reply(b)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert!(b.starts_with(b"940"));
        assert!(a.closed());
        let mut a = acs();
        assert_eq!(a.receive(&status(1)), vec![Output::Close]);
    }

    #[test]
    fn bad_checksum_is_answered_96_and_97_replays() {
        let mut a = logged_in();
        let mut bad = status(1);
        let n = bad.len();
        bad[n - 2] = if bad[n - 2] == b'0' { b'1' } else { b'0' };
        let out = a.receive(&bad);
        assert_eq!(out, vec![Output::Reply(b"96AZFEF6\r".to_vec())]);
        let (first, _) = reply(&mut a, &checkout(2, "P001", "B001"));
        let (again, _) = reply(&mut a, b"97AZFEF5\r");
        assert_eq!(first, again);
        // A retry with the same bytes is answered again, not checked out twice.
        let (dup, _) = reply(&mut a, &checkout(2, "P001", "B001"));
        let Message::CheckoutResponse(dup) = dup else {
            panic!()
        };
        assert_eq!(dup.screen_message, vec!["Checked out"]);
        // Unknown command: no answer, connection stays.
        assert!(a.receive(b"42xyz\r").is_empty());
        assert!(!a.closed());
        // A checksum summed over code points (a client bug) is refused too.
        let body = "2300120260201   Z100000AOCN-TEST|AAP001|AE张三|AC|AD|AY3AZ";
        let c = crate::checksum::codepoint_checksum(body);
        let frame = format!("{body}{c:04X}\r");
        assert_eq!(
            a.receive(frame.as_bytes()),
            vec![Output::Reply(b"96AZFEF6\r".to_vec())]
        );
    }

    #[test]
    fn checkout_checkin_renew_follow_the_toy_library() {
        let mut a = logged_in();
        let (m, seq) = reply(&mut a, &checkout(1, "P001", "B001"));
        assert_eq!(seq, Some(1));
        let Message::CheckoutResponse(c) = m else {
            panic!("{m:?}")
        };
        assert_eq!((c.ok.as_str(), c.desensitize.as_str()), ("1", "Y"));
        assert_eq!(c.title_identifier.as_deref(), Some("三体"));
        assert_eq!(c.due_date.as_deref(), Some("20260301   Z235900"));
        assert_eq!(
            a.library
                .lock()
                .unwrap()
                .item("B001")
                .unwrap()
                .out_to
                .as_deref(),
            Some("P001")
        );

        let (m, _) = reply(&mut a, &checkout(2, "P002", "B002"));
        let Message::CheckoutResponse(c) = m else {
            panic!()
        };
        assert_eq!(c.ok, "0");
        assert_eq!(
            c.screen_message,
            vec!["Patron blocked: excessive outstanding fines"]
        );
        let (m, _) = reply(&mut a, &checkout(3, "P003", "B001"));
        let Message::CheckoutResponse(c) = m else {
            panic!()
        };
        assert_eq!(
            c.screen_message,
            vec!["Item already checked out to another patron"]
        );
        let (m, _) = reply(&mut a, &checkout(4, "P001", "B004"));
        let Message::CheckoutResponse(c) = m else {
            panic!()
        };
        assert_eq!(c.screen_message, vec!["Item on hold for another patron"]);

        let (m, _) = reply(&mut a, &checkin(5, "B001"));
        let Message::CheckinResponse(c) = m else {
            panic!()
        };
        assert_eq!((c.ok.as_str(), c.sort_bin.as_deref()), ("1", Some("A1")));
        assert_eq!(c.screen_message, vec!["Checked in"]);
        assert_eq!(a.library.lock().unwrap().item("B001").unwrap().out_to, None);
        let (m, _) = reply(&mut a, &checkin(6, "B004"));
        let Message::CheckinResponse(c) = m else {
            panic!()
        };
        assert_eq!(c.sort_bin.as_deref(), Some("HOLD"));
        assert_eq!(
            (c.alert.as_str(), c.patron_identifier.as_deref()),
            ("Y", Some("P003"))
        );

        let renew = |seq, item: &str| {
            bytes(
                RenewRequest {
                    third_party_allowed: "N".into(),
                    no_block: "N".into(),
                    transaction_date: date(),
                    nb_due_date: date(),
                    institution_id: Some("CN-TEST".into()),
                    patron_identifier: Some("P001".into()),
                    item_identifier: Some(item.into()),
                    terminal_password: Some(String::new()),
                    ..Default::default()
                },
                seq,
            )
        };
        let (m, _) = reply(&mut a, &renew(7, "B005"));
        let Message::RenewResponse(r) = m else {
            panic!("{m:?}")
        };
        assert_eq!(r.ok, "0");
        assert_eq!(r.due_date.as_deref(), Some("20260310    235900"));
        assert!(r.screen_message[0].starts_with("Renewal too soon"));
        let (m, _) = reply(&mut a, &renew(8, "B003"));
        let Message::RenewResponse(r) = m else {
            panic!()
        };
        assert_eq!(
            r.screen_message,
            vec!["Item not checked out to this patron"]
        );
    }

    #[test]
    fn patron_information_with_pin_and_lists() {
        let mut a = logged_in();
        let req = |seq, pin: &str| {
            bytes(
                PatronInformationRequest {
                    language: "019".into(),
                    transaction_date: date(),
                    summary: "  Y       ".into(),
                    institution_id: Some("CN-TEST".into()),
                    patron_identifier: Some("P001".into()),
                    patron_password: Some(pin.into()),
                    ..Default::default()
                },
                seq,
            )
        };
        let (m, _) = reply(&mut a, &req(1, "1234"));
        let Message::PatronInformationResponse(p) = m else {
            panic!()
        };
        assert_eq!(p.personal_name.as_deref(), Some("张三"));
        assert_eq!(p.valid_patron_password.as_deref(), Some("Y"));
        assert_eq!(p.charged_items, vec!["B005"]);
        assert_eq!(p.charged_items_count, "0001");
        let (m, _) = reply(&mut a, &req(2, "9999"));
        let Message::PatronInformationResponse(p) = m else {
            panic!()
        };
        assert_eq!(p.valid_patron_password.as_deref(), Some("N"));
    }

    #[test]
    fn split_reads_crlf_and_missing_required_fields() {
        let mut a = acs();
        let l = login(0, "secret");
        assert!(a.receive(&l[..5]).is_empty());
        assert_eq!(a.receive(&l[5..]).len(), 1);
        // CR LF from the client: the LF is not a message.
        let mut c = checkout(1, "P001", "B002");
        c.push(b'\n');
        assert_eq!(a.receive(&c).len(), 1);
        // A checkout without AC closes the connection, as pysip2 does.
        let raw = RawMessage {
            id: "11".into(),
            fixed: format!("NN{}{}", date(), date()),
            fields: vec![
                crate::message::Field::new("AO", "CN-TEST"),
                crate::message::Field::new("AA", "P001"),
                crate::message::Field::new("AB", "B006"),
            ],
        };
        let b = Codec::default()
            .encode(&raw, Trailer::Checksum { sequence: 2 })
            .unwrap();
        assert_eq!(a.receive(&b), vec![Output::Close]);
    }

    #[test]
    fn tcp_server_starts_answers_and_stops() {
        let server =
            DemoServer::start("127.0.0.1:0".parse().unwrap(), DemoLibrary::builtin()).unwrap();
        let addr = server.addr();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let read_frame = |s: &mut TcpStream| {
            let mut frame = Vec::new();
            let mut b = [0u8; 1];
            while s.read(&mut b).unwrap() == 1 {
                frame.push(b[0]);
                if b[0] == b'\r' {
                    break;
                }
            }
            frame
        };
        s.write_all(&login(0, "secret")).unwrap();
        assert!(read_frame(&mut s).starts_with(b"941AY0AZ"));
        s.write_all(&checkout(1, "P001", "B006")).unwrap();
        assert!(read_frame(&mut s).starts_with(b"121NNY"));
        assert_eq!(
            server.library().item("B006").unwrap().out_to.as_deref(),
            Some("P001")
        );
        drop(server);
        // The connection ends and the port no longer accepts.
        assert_eq!(s.read(&mut [0u8; 16]).unwrap_or(0), 0);
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
    }
}
