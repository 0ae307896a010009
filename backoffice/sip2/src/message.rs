//! SIP2 messages (library.md §1.1–§1.4): the raw form (command id, fixed part, variable fields)
//! with the wire codec, and one typed struct per message of the self-check set.
//!
//! * [`Codec::encode`] validates every value (no `|`, CR, LF, NUL; at most 255 encoded bytes;
//!   fixed fields of their exact width), encodes text in the library's [`Charset`], appends
//!   `AY<n>AZ<cccc>` (or only `AZ<cccc>` for 96/97) summed over the encoded bytes, and the
//!   terminator.
//! * [`Codec::decode`] takes one framed message (see [`crate::frame`]), checks the checksum on
//!   the bytes (and, when that fails, on code points, accepting with
//!   [`ChecksumStatus::CodePoints`]: library.md §1.7), decodes the text, splits fixed fields by
//!   the command's layout and variable fields by `|`, accepts a missing final `|`, keeps repeated
//!   fields (AF, AG, item lists) in order and unknown fields in `extra`.
//!
//! Fixed fields are kept as their text (so nothing a server sends is lost, including `U` or
//! blanks where `Y`/`N` is expected); helpers such as [`PatronStatus`], [`flag`] and
//! [`count`] interpret them.

use crate::charset::Charset;
use crate::checksum;
use crate::error::{DecodeError, EncodeError};

/// The field delimiter.
pub const DELIMITER: char = '|';

/// Longest variable field value in encoded bytes (library.md §1.1).
pub const MAX_VALUE_BYTES: usize = 255;

/// One variable field: a two-character code and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub code: String,
    pub value: String,
}

impl Field {
    pub fn new(code: &str, value: impl Into<String>) -> Self {
        Field {
            code: code.to_string(),
            value: value.into(),
        }
    }
}

/// A message as command id, fixed part and variable fields, before typing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawMessage {
    /// Two ASCII digits, e.g. `"11"`.
    pub id: String,
    /// The fixed-length fields, concatenated.
    pub fixed: String,
    /// Variable fields in wire order.
    pub fields: Vec<Field>,
}

impl RawMessage {
    /// The first value of a field.
    pub fn get(&self, code: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.code == code)
            .map(|f| f.value.as_str())
    }

    /// Every value of a (repeatable) field, in order.
    pub fn all<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.code == code)
            .map(|f| f.value.as_str())
    }
}

/// Line terminator sent after each message (library.md §1.8). CR is the spec; some ILSs
/// (Koha by default) send CR LF. Either is always accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    #[default]
    Cr,
    CrLf,
}

impl Terminator {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::Cr => b"\r",
            Terminator::CrLf => b"\r\n",
        }
    }
}

impl std::str::FromStr for Terminator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cr" => Ok(Terminator::Cr),
            "crlf" | "cr-lf" => Ok(Terminator::CrLf),
            o => Err(format!("unknown terminator {o:?} (use cr or crlf)")),
        }
    }
}

/// Error-detection trailer for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailer {
    /// No `AY`/`AZ` (error detection off).
    None,
    /// `AY<sequence>AZ<checksum>`; `sequence` is ignored for 96/97, which carry only `AZ`.
    Checksum { sequence: u8 },
}

/// How the checksum of a received message checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The message had no `AZ`.
    Absent,
    /// Correct over the bytes, as the spec says.
    Bytes,
    /// Correct only when summed over code points (a server bug, library.md §1.7); accepted.
    CodePoints,
}

/// A decoded message with its trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: RawMessage,
    pub sequence: Option<u8>,
    pub checksum: ChecksumStatus,
    /// Some bytes were not valid in the character set (replaced by U+FFFD).
    pub malformed_text: bool,
}

/// Encoder/decoder settings of one library system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Codec {
    pub charset: Charset,
    pub terminator: Terminator,
}

fn invalid(msg: impl Into<String>) -> EncodeError {
    EncodeError::Invalid(msg.into())
}

fn malformed(msg: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(msg.into())
}

impl Codec {
    pub fn new(charset: Charset, terminator: Terminator) -> Self {
        Codec {
            charset,
            terminator,
        }
    }

    /// The message on the wire, terminator included.
    pub fn encode(&self, msg: &RawMessage, trailer: Trailer) -> Result<Vec<u8>, EncodeError> {
        let id = msg.id.as_bytes();
        if id.len() != 2 || !id.iter().all(u8::is_ascii_digit) {
            return Err(invalid(format!(
                "command id {:?} is not two digits",
                msg.id
            )));
        }
        if let Some(width) = fixed_width(&msg.id)
            && msg.fixed.chars().count() != width
        {
            return Err(invalid(format!(
                "fixed part of {} must be {width} characters, is {}",
                msg.id,
                msg.fixed.chars().count()
            )));
        }
        if !msg.fixed.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            return Err(invalid("fixed fields must be printable ASCII"));
        }
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(id);
        out.extend_from_slice(msg.fixed.as_bytes());
        for f in &msg.fields {
            let code = f.code.as_bytes();
            if code.len() != 2 || !code.iter().all(u8::is_ascii_alphanumeric) {
                return Err(invalid(format!(
                    "field code {:?} is not two letters",
                    f.code
                )));
            }
            if let Some(c) = f
                .value
                .chars()
                .find(|c| matches!(c, '|' | '\r' | '\n' | '\0'))
            {
                return Err(invalid(format!(
                    "field {} contains {c:?}, which SIP2 cannot carry",
                    f.code
                )));
            }
            let value = self.charset.encode(&f.value)?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(invalid(format!(
                    "field {} is {} bytes, more than {MAX_VALUE_BYTES}",
                    f.code,
                    value.len()
                )));
            }
            out.extend_from_slice(code);
            out.extend_from_slice(&value);
            out.push(b'|');
        }
        if let Trailer::Checksum { sequence } = trailer {
            if msg.id != "96" && msg.id != "97" {
                if sequence > 9 {
                    return Err(invalid("sequence number must be 0-9"));
                }
                out.extend_from_slice(b"AY");
                out.push(b'0' + sequence);
            }
            out.extend_from_slice(b"AZ");
            let c = checksum::checksum_hex(&out);
            out.extend_from_slice(&c);
        }
        out.extend_from_slice(self.terminator.bytes());
        Ok(out)
    }

    /// Decodes one framed message (without its terminator; a trailing CR/LF is tolerated).
    pub fn decode(&self, frame: &[u8]) -> Result<Decoded, DecodeError> {
        let mut body = frame;
        while let [rest @ .., b'\r' | b'\n'] = body {
            body = rest;
        }
        if body.contains(&0) {
            return Err(malformed("NUL byte in message"));
        }
        let (body, sequence, status) = self.strip_trailer(body)?;
        let (text, malformed_text) = self.charset.decode(body);
        let message = parse_text(&text)?;
        Ok(Decoded {
            message,
            sequence,
            checksum: status,
            malformed_text,
        })
    }

    fn strip_trailer<'a>(
        &self,
        body: &'a [u8],
    ) -> Result<(&'a [u8], Option<u8>, ChecksumStatus), DecodeError> {
        let n = body.len();
        if n < 6 || &body[n - 6..n - 4] != b"AZ" {
            return Ok((body, None, ChecksumStatus::Absent));
        }
        let Some(received) = checksum::parse_hex4(&body[n - 4..]) else {
            return Ok((body, None, ChecksumStatus::Absent));
        };
        let prefix = &body[..n - 4];
        let computed = checksum::checksum(prefix);
        let status = if computed == received {
            ChecksumStatus::Bytes
        } else {
            let (text, _) = self.charset.decode(prefix);
            if checksum::codepoint_checksum(&text) == received {
                ChecksumStatus::CodePoints
            } else {
                return Err(DecodeError::Checksum { computed, received });
            }
        };
        let rest = &body[..n - 6];
        let m = rest.len();
        if m >= 3 && &rest[m - 3..m - 1] == b"AY" && rest[m - 1].is_ascii_digit() {
            Ok((&rest[..m - 3], Some(rest[m - 1] - b'0'), status))
        } else {
            Ok((rest, None, status))
        }
    }
}

/// Splits decoded text into id, fixed part and fields.
fn parse_text(text: &str) -> Result<RawMessage, DecodeError> {
    let mut chars = text.char_indices();
    let id: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
    if id.chars().count() != 2 || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(malformed(
            "message does not start with a two-digit command id",
        ));
    }
    let width = fixed_width(&id).ok_or_else(|| DecodeError::UnknownCommand(id.clone()))?;
    let fixed: String = text[2..].chars().take(width).collect();
    if fixed.chars().count() != width {
        return Err(malformed(format!(
            "fixed part of {id} is {} characters, needs {width}",
            fixed.chars().count()
        )));
    }
    let mut rest = &text[2 + fixed.len()..];
    let mut fields = Vec::new();
    loop {
        rest = rest.trim_start_matches(DELIMITER);
        if rest.trim().is_empty() {
            break;
        }
        let mut it = rest.char_indices();
        let code_end = match (it.next(), it.next()) {
            (Some(_), Some((i, c))) => i + c.len_utf8(),
            _ => return Err(malformed(format!("truncated field code {rest:?}"))),
        };
        let code = &rest[..code_end];
        let after = &rest[code_end..];
        let (value, next) = match after.find(DELIMITER) {
            Some(i) => (&after[..i], &after[i + 1..]),
            None => (after, ""),
        };
        fields.push(Field::new(code, value));
        rest = next;
    }
    Ok(RawMessage { id, fixed, fields })
}

/// `Y` → true, anything else false (fixed `Y`/`N`/`U` flags and `1`/`0` ok fields).
pub fn flag(s: &str) -> bool {
    matches!(s, "Y" | "y" | "1")
}

/// A 4-digit count; blanks (unsupported) are `None`.
pub fn count(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

macro_rules! messages {
    (@af $m:ident screen_message $($rest:ident)*) => { $m.screen_message.as_slice() };
    (@af $m:ident $first:ident $($rest:ident)*) => { messages!(@af $m $($rest)*) };
    (@af $m:ident) => { &[] };
    ($(
        $(#[$meta:meta])*
        $name:ident = $id:literal {
            fixed { $($f:ident : $w:literal),* $(,)? }
            one { $($o:ident : $oc:literal),* $(,)? }
            many { $($m:ident : $mc:literal),* $(,)? }
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Eq, Default)]
            pub struct $name {
                $(#[doc = concat!("Fixed, ", stringify!($w), " characters.")] pub $f: String,)*
                $(#[doc = concat!("`", $oc, "`")] pub $o: Option<String>,)*
                $(#[doc = concat!("`", $mc, "`, repeatable")] pub $m: Vec<String>,)*
                /// Fields this message does not define (vendor extensions, repeats), in order.
                pub extra: Vec<Field>,
            }

            impl $name {
                /// The command id.
                pub const ID: &'static str = $id;
                /// Width of the fixed part.
                pub const FIXED_WIDTH: usize = 0 $(+ $w)*;

                /// The raw form; fails when a fixed field has the wrong width.
                pub fn to_raw(&self) -> Result<RawMessage, EncodeError> {
                    #[allow(unused_mut)]
                    let mut fixed = String::with_capacity(Self::FIXED_WIDTH);
                    $(
                        if self.$f.chars().count() != $w {
                            return Err(EncodeError::Invalid(format!(
                                "{} {} must be {} characters, is {:?}",
                                $id, stringify!($f), $w, self.$f
                            )));
                        }
                        fixed.push_str(&self.$f);
                    )*
                    #[allow(unused_mut)]
                    let mut fields = Vec::new();
                    $( if let Some(v) = &self.$o { fields.push(Field::new($oc, v.clone())); } )*
                    $( for v in &self.$m { fields.push(Field::new($mc, v.clone())); } )*
                    fields.extend(self.extra.iter().cloned());
                    Ok(RawMessage { id: $id.to_string(), fixed, fields })
                }

                /// The typed form of a raw message with this id.
                pub fn from_raw(raw: &RawMessage) -> Result<Self, DecodeError> {
                    if raw.id != $id {
                        return Err(DecodeError::Malformed(format!(
                            "expected message {}, got {}", $id, raw.id
                        )));
                    }
                    #[allow(unused_mut, unused_variables)]
                    let mut chars = raw.fixed.chars();
                    $(
                        let $f: String = chars.by_ref().take($w).collect();
                        if $f.chars().count() != $w {
                            return Err(DecodeError::Malformed(format!(
                                "{} fixed field {} truncated", $id, stringify!($f)
                            )));
                        }
                    )*
                    let mut out = $name { $($f,)* ..Default::default() };
                    for f in &raw.fields {
                        match f.code.as_str() {
                            $( $oc if out.$o.is_none() => out.$o = Some(f.value.clone()), )*
                            $( $mc => out.$m.push(f.value.clone()), )*
                            _ => out.extra.push(f.clone()),
                        }
                    }
                    Ok(out)
                }
            }

            impl From<$name> for Message {
                fn from(m: $name) -> Message {
                    Message::$name(m)
                }
            }

            impl TryFrom<Message> for $name {
                type Error = Message;
                fn try_from(m: Message) -> Result<Self, Message> {
                    match m {
                        Message::$name(x) => Ok(x),
                        other => Err(other),
                    }
                }
            }
        )*

        /// Any message of the set, typed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $( $name($name), )*
        }

        impl Message {
            /// The command id.
            pub fn id(&self) -> &'static str {
                match self { $( Message::$name(_) => $id, )* }
            }

            pub fn to_raw(&self) -> Result<RawMessage, EncodeError> {
                match self { $( Message::$name(m) => m.to_raw(), )* }
            }

            pub fn from_raw(raw: &RawMessage) -> Result<Message, DecodeError> {
                match raw.id.as_str() {
                    $( $id => Ok(Message::$name($name::from_raw(raw)?)), )*
                    other => Err(DecodeError::UnknownCommand(other.to_string())),
                }
            }

            /// Screen messages (AF) of a response, empty for requests.
            #[allow(unused_variables)]
            pub fn screen_messages(&self) -> &[String] {
                match self {
                    $( Message::$name(m) => messages!(@af m $($m)*), )*
                }
            }
        }

        /// Width of the fixed part of command `id`, `None` for ids outside the set.
        pub fn fixed_width(id: &str) -> Option<usize> {
            match id {
                $( $id => Some($name::FIXED_WIDTH), )*
                _ => None,
            }
        }
    };
}

messages! {
    /// `93` Login.
    LoginRequest = "93" {
        fixed { uid_algorithm: 1, pwd_algorithm: 1 }
        one { login_user_id: "CN", login_password: "CO", location_code: "CP" }
        many {}
    }
    /// `94` Login response: `ok` is `1` or `0`.
    LoginResponse = "94" {
        fixed { ok: 1 }
        one {}
        many { screen_message: "AF" }
    }
    /// `99` SC status.
    ScStatusRequest = "99" {
        fixed { status_code: 1, max_print_width: 3, protocol_version: 4 }
        one {}
        many {}
    }
    /// `98` ACS status.
    AcsStatusResponse = "98" {
        fixed {
            online_status: 1, checkin_ok: 1, checkout_ok: 1, acs_renewal_policy: 1,
            status_update_ok: 1, offline_ok: 1, timeout_period: 3, retries_allowed: 3,
            date_time_sync: 18, protocol_version: 4,
        }
        one {
            institution_id: "AO", library_name: "AM", supported_messages: "BX",
            terminal_location: "AN",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `97` Request ACS resend (only `AZ`).
    RequestAcsResend = "97" {
        fixed {}
        one {}
        many {}
    }
    /// `96` Request SC resend (only `AZ`).
    RequestScResend = "96" {
        fixed {}
        one {}
        many {}
    }
    /// `23` Patron status.
    PatronStatusRequest = "23" {
        fixed { language: 3, transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", terminal_password: "AC",
            patron_password: "AD",
        }
        many {}
    }
    /// `24` Patron status response (also the answer to `01`).
    PatronStatusResponse = "24" {
        fixed { patron_status: 14, language: 3, transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", personal_name: "AE",
            valid_patron: "BL", valid_patron_password: "CQ", currency_type: "BH",
            fee_amount: "BV",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `63` Patron information.
    PatronInformationRequest = "63" {
        fixed { language: 3, transaction_date: 18, summary: 10 }
        one {
            institution_id: "AO", patron_identifier: "AA", terminal_password: "AC",
            patron_password: "AD", start_item: "BP", end_item: "BQ",
        }
        many {}
    }
    /// `64` Patron information response.
    PatronInformationResponse = "64" {
        fixed {
            patron_status: 14, language: 3, transaction_date: 18, hold_items_count: 4,
            overdue_items_count: 4, charged_items_count: 4, fine_items_count: 4,
            recall_items_count: 4, unavailable_holds_count: 4,
        }
        one {
            institution_id: "AO", patron_identifier: "AA", personal_name: "AE",
            hold_items_limit: "BZ", overdue_items_limit: "CA", charged_items_limit: "CB",
            valid_patron: "BL", valid_patron_password: "CQ", currency_type: "BH",
            fee_amount: "BV", fee_limit: "CC", home_address: "BD", email_address: "BE",
            home_phone_number: "BF",
        }
        many {
            hold_items: "AS", overdue_items: "AT", charged_items: "AU", fine_items: "AV",
            recall_items: "BU", unavailable_hold_items: "CD", screen_message: "AF",
            print_line: "AG",
        }
    }
    /// `11` Checkout.
    CheckoutRequest = "11" {
        fixed { sc_renewal_policy: 1, no_block: 1, transaction_date: 18, nb_due_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", item_identifier: "AB",
            terminal_password: "AC", item_properties: "CH", patron_password: "AD",
            fee_acknowledged: "BO", cancel: "BI",
        }
        many {}
    }
    /// `12` Checkout response.
    CheckoutResponse = "12" {
        fixed { ok: 1, renewal_ok: 1, magnetic_media: 1, desensitize: 1, transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", item_identifier: "AB",
            title_identifier: "AJ", due_date: "AH", fee_type: "BT", security_inhibit: "CI",
            currency_type: "BH", fee_amount: "BV", media_type: "CK", item_properties: "CH",
            transaction_id: "BK",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `09` Checkin.
    CheckinRequest = "09" {
        fixed { no_block: 1, transaction_date: 18, return_date: 18 }
        one {
            current_location: "AP", institution_id: "AO", item_identifier: "AB",
            terminal_password: "AC", item_properties: "CH", cancel: "BI",
        }
        many {}
    }
    /// `10` Checkin response (with the 3M extensions CT, CV, CY, DA).
    CheckinResponse = "10" {
        fixed { ok: 1, resensitize: 1, magnetic_media: 1, alert: 1, transaction_date: 18 }
        one {
            institution_id: "AO", item_identifier: "AB", permanent_location: "AQ",
            title_identifier: "AJ", sort_bin: "CL", patron_identifier: "AA", media_type: "CK",
            item_properties: "CH", destination_location: "CT", alert_type: "CV",
            hold_patron_id: "CY", hold_patron_name: "DA",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `29` Renew.
    RenewRequest = "29" {
        fixed { third_party_allowed: 1, no_block: 1, transaction_date: 18, nb_due_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", patron_password: "AD",
            item_identifier: "AB", title_identifier: "AJ", terminal_password: "AC",
            item_properties: "CH", fee_acknowledged: "BO",
        }
        many {}
    }
    /// `30` Renew response.
    RenewResponse = "30" {
        fixed { ok: 1, renewal_ok: 1, magnetic_media: 1, desensitize: 1, transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", item_identifier: "AB",
            title_identifier: "AJ", due_date: "AH", fee_type: "BT", security_inhibit: "CI",
            currency_type: "BH", fee_amount: "BV", media_type: "CK", item_properties: "CH",
            transaction_id: "BK",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `65` Renew all.
    RenewAllRequest = "65" {
        fixed { transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", patron_password: "AD",
            terminal_password: "AC", fee_acknowledged: "BO",
        }
        many {}
    }
    /// `66` Renew all response.
    RenewAllResponse = "66" {
        fixed { ok: 1, renewed_count: 4, unrenewed_count: 4, transaction_date: 18 }
        one { institution_id: "AO" }
        many {
            renewed_items: "BM", unrenewed_items: "BN", screen_message: "AF",
            print_line: "AG",
        }
    }
    /// `17` Item information.
    ItemInformationRequest = "17" {
        fixed { transaction_date: 18 }
        one { institution_id: "AO", item_identifier: "AB", terminal_password: "AC" }
        many {}
    }
    /// `18` Item information response.
    ItemInformationResponse = "18" {
        fixed { circulation_status: 2, security_marker: 2, fee_type: 2, transaction_date: 18 }
        one {
            hold_queue_length: "CF", due_date: "AH", recall_date: "CJ",
            hold_pickup_date: "CM", item_identifier: "AB", title_identifier: "AJ",
            owner: "BG", currency_type: "BH", fee_amount: "BV", media_type: "CK",
            permanent_location: "AQ", current_location: "AP", item_properties: "CH",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `35` End patron session.
    EndPatronSessionRequest = "35" {
        fixed { transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", terminal_password: "AC",
            patron_password: "AD",
        }
        many {}
    }
    /// `36` End session response.
    EndSessionResponse = "36" {
        fixed { end_session: 1, transaction_date: 18 }
        one { institution_id: "AO", patron_identifier: "AA" }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `37` Fee paid.
    FeePaidRequest = "37" {
        fixed { transaction_date: 18, fee_type: 2, payment_type: 2, currency_type: 3 }
        one {
            fee_amount: "BV", institution_id: "AO", patron_identifier: "AA",
            terminal_password: "AC", patron_password: "AD", fee_identifier: "CG",
            transaction_id: "BK",
        }
        many {}
    }
    /// `38` Fee paid response.
    FeePaidResponse = "38" {
        fixed { payment_accepted: 1, transaction_date: 18 }
        one { institution_id: "AO", patron_identifier: "AA", transaction_id: "BK" }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `15` Hold (`hold_mode` `+` add, `-` delete, `*` change).
    HoldRequest = "15" {
        fixed { hold_mode: 1, transaction_date: 18 }
        one {
            expiration_date: "BW", pickup_location: "BS", hold_type: "BY",
            institution_id: "AO", patron_identifier: "AA", patron_password: "AD",
            item_identifier: "AB", title_identifier: "AJ", terminal_password: "AC",
            fee_acknowledged: "BO",
        }
        many {}
    }
    /// `16` Hold response.
    HoldResponse = "16" {
        fixed { ok: 1, available: 1, transaction_date: 18 }
        one {
            expiration_date: "BW", queue_position: "BR", pickup_location: "BS",
            institution_id: "AO", patron_identifier: "AA", item_identifier: "AB",
            title_identifier: "AJ",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `25` Patron enable.
    PatronEnableRequest = "25" {
        fixed { transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", terminal_password: "AC",
            patron_password: "AD",
        }
        many {}
    }
    /// `26` Patron enable response.
    PatronEnableResponse = "26" {
        fixed { patron_status: 14, language: 3, transaction_date: 18 }
        one {
            institution_id: "AO", patron_identifier: "AA", personal_name: "AE",
            valid_patron: "BL", valid_patron_password: "CQ",
        }
        many { screen_message: "AF", print_line: "AG" }
    }
    /// `01` Block patron (answered by `24`).
    BlockPatronRequest = "01" {
        fixed { card_retained: 1, transaction_date: 18 }
        one {
            institution_id: "AO", blocked_card_message: "AL", patron_identifier: "AA",
            terminal_password: "AC",
        }
        many {}
    }
    /// `19` Item status update.
    ItemStatusUpdateRequest = "19" {
        fixed { transaction_date: 18 }
        one {
            institution_id: "AO", item_identifier: "AB", terminal_password: "AC",
            item_properties: "CH",
        }
        many {}
    }
    /// `20` Item status update response.
    ItemStatusUpdateResponse = "20" {
        fixed { item_properties_ok: 1, transaction_date: 18 }
        one { item_identifier: "AB", title_identifier: "AJ", item_properties: "CH" }
        many { screen_message: "AF", print_line: "AG" }
    }
}

/// The response id a request is answered with (`None` for 96/97, which are answered by a
/// replay, and for responses).
pub fn response_id(request_id: &str) -> Option<&'static str> {
    Some(match request_id {
        "93" => "94",
        "99" => "98",
        "23" | "01" => "24",
        "63" => "64",
        "11" => "12",
        "09" => "10",
        "29" => "30",
        "65" => "66",
        "17" => "18",
        "35" => "36",
        "37" => "38",
        "15" => "16",
        "25" => "26",
        "19" => "20",
        _ => return None,
    })
}

/// The 14 patron-status flags (library.md §1.4): `Y` = condition true, blank = false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatronStatus(pub [bool; 14]);

impl PatronStatus {
    /// Flag names, in position order.
    pub const NAMES: [&'static str; 14] = [
        "charge privileges denied",
        "renewal privileges denied",
        "recall privileges denied",
        "hold privileges denied",
        "card reported lost",
        "too many items charged",
        "too many items overdue",
        "too many renewals",
        "too many claims of items returned",
        "too many items lost",
        "excessive outstanding fines",
        "excessive outstanding fees",
        "recall overdue",
        "too many items billed",
    ];

    /// Positions that deny a checkout by default (NYPL's choice, library.md §1.4).
    pub const BLOCKING: [usize; 8] = [0, 4, 5, 6, 10, 11, 12, 13];

    pub fn parse(s: &str) -> Self {
        let mut flags = [false; 14];
        for (i, c) in s.chars().take(14).enumerate() {
            flags[i] = c == 'Y' || c == 'y';
        }
        PatronStatus(flags)
    }

    /// Names of the flags that are set.
    pub fn set(&self) -> Vec<&'static str> {
        (0..14)
            .filter(|i| self.0[*i])
            .map(|i| Self::NAMES[i])
            .collect()
    }

    /// Whether any of `positions` is set.
    pub fn any(&self, positions: &[usize]) -> bool {
        positions.iter().any(|i| *i < 14 && self.0[*i])
    }
}

/// The 16 BX supported-message flags of `98` (library.md §1.4), in order.
pub const BX_ORDER: [&str; 16] = [
    "23", "11", "09", "01", "99", "97", "93", "63", "35", "37", "17", "19", "25", "15", "29", "65",
];

/// The message ids a `BX` value marks as supported.
pub fn supported_messages(bx: &str) -> Vec<&'static str> {
    BX_ORDER
        .iter()
        .zip(bx.chars())
        .filter(|(_, c)| *c == 'Y' || *c == 'y')
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8() -> Codec {
        Codec::default()
    }

    #[test]
    fn encodes_the_3m_status_example() {
        let m = ScStatusRequest {
            status_code: "0".into(),
            max_print_width: " 40".into(),
            protocol_version: "2.00".into(),
            ..Default::default()
        };
        let bytes = utf8()
            .encode(&m.to_raw().unwrap(), Trailer::Checksum { sequence: 1 })
            .unwrap();
        assert_eq!(bytes, b"990 402.00AY1AZFCB4\r");
        let resend = utf8()
            .encode(
                &RequestAcsResend::default().to_raw().unwrap(),
                Trailer::Checksum { sequence: 3 },
            )
            .unwrap();
        assert_eq!(resend, b"97AZFEF5\r");
    }

    #[test]
    fn decodes_the_pysip2_patron_status_with_a_chinese_name() {
        let frame =
            "24              01920261128    192744AOCN-TEST|AAP001|AE张三|BLY|CQY|AY2AZEB6B";
        let d = utf8().decode(frame.as_bytes()).unwrap();
        assert_eq!(d.sequence, Some(2));
        assert_eq!(d.checksum, ChecksumStatus::Bytes);
        let m = PatronStatusResponse::from_raw(&d.message).unwrap();
        assert_eq!(m.personal_name.as_deref(), Some("张三"));
        assert_eq!(m.language, "019");
        assert_eq!(m.valid_patron.as_deref(), Some("Y"));
        assert_eq!(
            PatronStatus::parse(&m.patron_status).set(),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn gb18030_checksum_is_over_gb_bytes() {
        let gb = Codec::new(Charset::Gb18030, Terminator::Cr);
        let text = "24              01920261128    192744AOCN-TEST|AAP001|AE张三|BLY|CQY|AY2AZEC72";
        let bytes = Charset::Gb18030.encode(text).unwrap();
        let d = gb.decode(&bytes).unwrap();
        assert_eq!(d.checksum, ChecksumStatus::Bytes);
        assert_eq!(d.message.get("AE"), Some("张三"));
        // The same text read as UTF-8 has a bad byte checksum.
        assert!(matches!(
            utf8().decode(text.as_bytes()),
            Err(DecodeError::Checksum { .. })
        ));
    }

    #[test]
    fn codepoint_checksums_are_accepted_with_a_flag() {
        let text = "24              01920261128    192744AOCN-TEST|AAP001|AE张三|BLY|CQY|AY2AZ42A8";
        let d = utf8().decode(text.as_bytes()).unwrap();
        assert_eq!(d.checksum, ChecksumStatus::CodePoints);
    }

    #[test]
    fn evergreen_checkout_response_vector() {
        let frame = "1804020120110630    110249AB30007008637257|AJVie d'Isabelle Eberhardt |CK001|AQOSUL|APOSUL|BGOSUL|AH2011-10-28 23:59:59|CSPB LP   EAU|AY6AZDB4E";
        let d = utf8().decode(frame.as_bytes()).unwrap();
        let m = ItemInformationResponse::from_raw(&d.message).unwrap();
        assert_eq!(m.circulation_status, "04");
        assert_eq!(
            m.title_identifier.as_deref(),
            Some("Vie d'Isabelle Eberhardt ")
        );
        assert_eq!(m.extra, vec![Field::new("CS", "PB LP   EAU")]);
    }

    #[test]
    fn liberal_input() {
        // Missing final '|', repeated AF, unknown field, no trailer, stray CR LF.
        let d = utf8()
            .decode(b"941AFhello|AFworld|ZZvendor|AFlast\r\n")
            .unwrap();
        let m = LoginResponse::from_raw(&d.message).unwrap();
        assert_eq!(m.ok, "1");
        assert_eq!(m.screen_message, vec!["hello", "world", "last"]);
        assert_eq!(m.extra, vec![Field::new("ZZ", "vendor")]);
        assert_eq!(d.checksum, ChecksumStatus::Absent);
    }

    #[test]
    fn rejects_what_is_not_sip2() {
        assert!(utf8().decode(b"").is_err());
        assert!(utf8().decode(b"9").is_err());
        assert!(matches!(
            utf8().decode(b"42x"),
            Err(DecodeError::UnknownCommand(_))
        ));
        assert!(utf8().decode(b"98YYYY").is_err());
        assert!(utf8().decode(b"94\x001").is_err());
        assert!(utf8().decode(b"941AY1AZ0000").is_err());
    }

    #[test]
    fn encoder_refuses_what_sip2_cannot_carry() {
        let mut m = LoginRequest {
            uid_algorithm: "0".into(),
            pwd_algorithm: "0".into(),
            login_user_id: Some("a|b".into()),
            ..Default::default()
        };
        assert!(utf8().encode(&m.to_raw().unwrap(), Trailer::None).is_err());
        m.login_user_id = Some("x".repeat(256));
        assert!(utf8().encode(&m.to_raw().unwrap(), Trailer::None).is_err());
        m.login_user_id = Some("张三".into());
        assert!(
            Codec::new(Charset::Cp850, Terminator::Cr)
                .encode(&m.to_raw().unwrap(), Trailer::None)
                .is_err()
        );
        m.uid_algorithm = "00".into();
        assert!(m.to_raw().is_err());
    }

    #[test]
    fn bx_and_response_ids() {
        assert_eq!(
            supported_messages("YYYNYYYYYNYNNNYN"),
            vec!["23", "11", "09", "99", "97", "93", "63", "35", "17", "29"]
        );
        assert_eq!(response_id("99"), Some("98"));
        assert_eq!(response_id("01"), Some("24"));
        assert_eq!(fixed_width("64"), Some(14 + 3 + 18 + 24));
    }
}
