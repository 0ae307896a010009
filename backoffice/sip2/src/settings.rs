//! Per-library settings (library.md §1.5, §1.7, §1.8, §6 "ILS profile config"), loadable from a
//! terminal profile's TOML table, and the request builders that apply them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::charset::Charset;
use crate::date::Timestamp;
use crate::message::*;

/// One library system's SIP2 account and its quirks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Character set of the account (UTF-8, GB18030, CP850, …).
    pub charset: Charset,
    /// Terminator sent after each message (CR, or CR LF for servers configured so).
    pub terminator: Terminator,
    /// Send `AY`/`AZ` sequence numbers and checksums.
    pub error_detection: bool,
    /// `AO` institution id.
    pub institution_id: String,
    /// Login `CP` location code, also the checkin `AP` current location.
    pub location: Option<String>,
    /// Login `CN`.
    pub login_user: String,
    /// Login `CO`.
    pub login_password: String,
    /// `AC` terminal password (sent empty when unset and [`OptionalFields::terminal_password`]).
    pub terminal_password: Option<String>,
    /// Language code of requests (`000` unknown, `001` English, `019` Chinese).
    pub language: String,
    /// Which optional fields to send.
    pub fields: OptionalFields,
    /// AFI values written to RFID tags (ISO 28560, library.md §3.1).
    pub afi: Afi,
    /// ILS screen messages → message ids of the app's translations; tried before the
    /// built-in table ([`DEFAULT_SCREEN_RULES`]).
    pub screen_messages: Vec<ScreenRule>,
    /// Patron-status positions (0–13) that deny a checkout on the kiosk.
    pub blocking_flags: Vec<usize>,
    /// Timeout before the ACS status is known, and when it says `000`/`999`, in ms.
    pub timeout_ms: u64,
    /// Bounds applied to the ACS's timeout period, in ms.
    pub min_timeout_ms: u64,
    pub max_timeout_ms: u64,
    /// Retries after a timeout before the ACS status is known (or when it says `999`).
    pub retries: u32,
    /// Cap on the ACS's retries allowed.
    pub max_retries: u32,
    /// Resends after a `96` or a bad checksum before giving up (NYPL uses 5).
    pub max_resends: u32,
    /// Send `99` when idle this long (Koha: servers drop idle links after 600 s).
    pub keepalive_secs: u64,
    /// Reconnect attempts after a dropped connection.
    pub reconnect_attempts: u32,
    /// Send `35` at the end of a session (AutoGraphics VERSO wants none, library.md §1.8).
    pub send_end_session: bool,
    /// Largest frame accepted.
    pub max_frame: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            charset: Charset::Utf8,
            terminator: Terminator::Cr,
            error_detection: true,
            institution_id: String::new(),
            location: None,
            login_user: String::new(),
            login_password: String::new(),
            terminal_password: None,
            language: "000".into(),
            fields: OptionalFields::default(),
            afi: Afi::default(),
            screen_messages: Vec::new(),
            blocking_flags: PatronStatus::BLOCKING.to_vec(),
            timeout_ms: 10_000,
            min_timeout_ms: 1_000,
            max_timeout_ms: 60_000,
            retries: 3,
            max_retries: 5,
            max_resends: 5,
            keepalive_secs: 240,
            reconnect_attempts: 2,
            send_end_session: true,
            max_frame: crate::frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// Optional fields, per library (some servers require what the spec leaves optional, others
/// choke on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptionalFields {
    /// `AC` in every request that has it (pysip2 and others require it, even empty).
    pub terminal_password: bool,
    /// `AD` in `23`/`63` even without a PIN (empty value).
    pub empty_patron_password: bool,
    /// `CP` on login.
    pub location_code: bool,
    /// `AP` current location on checkin.
    pub current_location: bool,
    /// `BO` fee acknowledged `N` on checkout/renew.
    pub fee_acknowledged: bool,
    /// Fill the 18-character "nb due date" and "return date" with a date instead of blanks
    /// (pysip2 drops the connection on blanks; library.md §7).
    pub never_blank_dates: bool,
}

impl Default for OptionalFields {
    fn default() -> Self {
        OptionalFields {
            terminal_password: true,
            empty_patron_password: true,
            location_code: true,
            current_location: true,
            fee_acknowledged: false,
            never_blank_dates: true,
        }
    }
}

/// AFI bytes for "on loan" and "in stock / secured" (library.md §3.1: C2 and 07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Afi {
    pub on_loan: u8,
    pub in_stock: u8,
}

impl Default for Afi {
    fn default() -> Self {
        Afi {
            on_loan: 0xC2,
            in_stock: 0x07,
        }
    }
}

/// A screen-message pattern: case-insensitive, `*` matches any text; without `*` the pattern
/// matches anywhere in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenRule {
    pub pattern: String,
    pub id: String,
}

/// Built-in patterns (English texts seen from Koha/Evergreen/FOLIO/pysip2 toy servers, Chinese
/// texts from dp2-style servers). Ids are translated by the app (`i18n/`).
pub const DEFAULT_SCREEN_RULES: &[(&str, &str)] = &[
    ("blocked", "sip2.patron-blocked"),
    ("privileges denied", "sip2.patron-blocked"),
    ("暂停", "sip2.patron-blocked"),
    ("already checked out", "sip2.item-already-out"),
    ("already on loan", "sip2.item-already-out"),
    ("checked out to another", "sip2.item-already-out"),
    ("已借出", "sip2.item-already-out"),
    ("on hold", "sip2.item-on-hold"),
    ("hold for another", "sip2.item-on-hold"),
    ("reserved", "sip2.item-on-hold"),
    ("预约", "sip2.item-on-hold"),
    ("too soon", "sip2.renew-too-soon"),
    ("not renewable", "sip2.renew-refused"),
    ("renewal limit", "sip2.renew-refused"),
    ("invalid pin", "sip2.patron-pin-wrong"),
    ("invalid password", "sip2.patron-pin-wrong"),
    ("密码错误", "sip2.patron-pin-wrong"),
    ("invalid patron", "sip2.patron-unknown"),
    ("patron not found", "sip2.patron-unknown"),
    ("item not found", "sip2.item-unknown"),
    ("invalid item", "sip2.item-unknown"),
    ("fines", "sip2.patron-fines"),
    ("欠款", "sip2.patron-fines"),
];

/// Case-insensitive match with `*` wildcards (substring when the pattern has none).
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let p = pattern.to_lowercase();
    let t = text.to_lowercase();
    if !p.contains('*') {
        return t.contains(&p);
    }
    let parts: Vec<&str> = p.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !t.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return t.len() >= pos + part.len() && t[pos..].ends_with(part);
        } else {
            match t[pos..].find(part) {
                Some(j) => pos += j + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// Options of a checkout or renewal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CircOptions {
    /// Patron PIN (`AD`).
    pub pin: Option<String>,
    /// `no block = Y`: the ILS must accept it (offline replay, library.md §1.9 Alma/OCLC).
    pub no_block: bool,
    /// Original transaction date (offline replay); now when unset.
    pub transaction_date: Option<Timestamp>,
    /// The due date the kiosk promised offline (`nb due date`).
    pub nb_due_date: Option<Timestamp>,
    /// `BO` fee acknowledged.
    pub fee_acknowledged: Option<bool>,
    /// SC renewal policy `Y` (checkout) / third party allowed (renew).
    pub renewal_policy: bool,
}

fn yn(b: bool) -> String {
    if b { "Y".into() } else { "N".into() }
}

impl Settings {
    /// Timeout before the ACS status is known.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// The message id of the first rule matching `screen`, library rules first.
    pub fn translate(&self, screen: &str) -> Option<&str> {
        self.screen_messages
            .iter()
            .find(|r| pattern_matches(&r.pattern, screen))
            .map(|r| r.id.as_str())
            .or_else(|| {
                DEFAULT_SCREEN_RULES
                    .iter()
                    .find(|(p, _)| pattern_matches(p, screen))
                    .map(|(_, id)| *id)
            })
    }

    /// Whether a patron status denies a checkout here.
    pub fn blocks_checkout(&self, status: &PatronStatus) -> bool {
        status.any(&self.blocking_flags)
    }

    fn ac(&self) -> Option<String> {
        match (&self.terminal_password, self.fields.terminal_password) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => Some(String::new()),
            (None, false) => None,
        }
    }

    fn ad(&self, pin: Option<&str>) -> Option<String> {
        match pin {
            Some(p) => Some(p.to_string()),
            None if self.fields.empty_patron_password => Some(String::new()),
            None => None,
        }
    }

    fn ao(&self) -> Option<String> {
        Some(self.institution_id.clone())
    }

    fn blank_or(&self, t: Option<Timestamp>, fallback: Timestamp) -> String {
        match t {
            Some(t) => t.to_sip2(),
            None if self.fields.never_blank_dates => fallback.to_sip2(),
            None => " ".repeat(18),
        }
    }

    fn bo(&self, ack: Option<bool>) -> Option<String> {
        ack.map(yn)
            .or_else(|| self.fields.fee_acknowledged.then(|| "N".to_string()))
    }

    /// `93` Login.
    pub fn login(&self) -> Message {
        LoginRequest {
            uid_algorithm: "0".into(),
            pwd_algorithm: "0".into(),
            login_user_id: Some(self.login_user.clone()),
            login_password: Some(self.login_password.clone()),
            location_code: self.location.clone().filter(|_| self.fields.location_code),
            ..Default::default()
        }
        .into()
    }

    /// `99` SC status (status 0 = ok, print width 40, protocol 2.00).
    pub fn sc_status(&self) -> Message {
        ScStatusRequest {
            status_code: "0".into(),
            max_print_width: "040".into(),
            protocol_version: "2.00".into(),
            ..Default::default()
        }
        .into()
    }

    /// `23` Patron status.
    pub fn patron_status(&self, patron: &str, pin: Option<&str>, now: Timestamp) -> Message {
        PatronStatusRequest {
            language: self.language.clone(),
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            terminal_password: self.ac(),
            patron_password: self.ad(pin),
            ..Default::default()
        }
        .into()
    }

    /// `63` Patron information; `summary` position 0–5 asks for one item list (hold, overdue,
    /// charged, fine, recall, unavailable holds), `None` for counts only.
    pub fn patron_information(
        &self,
        patron: &str,
        pin: Option<&str>,
        summary: Option<usize>,
        now: Timestamp,
    ) -> Message {
        let summary: String = (0..10)
            .map(|i| if Some(i) == summary { 'Y' } else { ' ' })
            .collect();
        PatronInformationRequest {
            language: self.language.clone(),
            transaction_date: now.to_sip2(),
            summary,
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            terminal_password: self.ac(),
            patron_password: self.ad(pin),
            start_item: None,
            end_item: None,
            ..Default::default()
        }
        .into()
    }

    /// `11` Checkout.
    pub fn checkout(&self, patron: &str, item: &str, o: &CircOptions, now: Timestamp) -> Message {
        let date = o.transaction_date.unwrap_or(now);
        CheckoutRequest {
            sc_renewal_policy: yn(o.renewal_policy),
            no_block: yn(o.no_block),
            transaction_date: date.to_sip2(),
            nb_due_date: self.blank_or(o.nb_due_date, date),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            item_identifier: Some(item.into()),
            terminal_password: self.ac(),
            patron_password: o.pin.clone(),
            fee_acknowledged: self.bo(o.fee_acknowledged),
            ..Default::default()
        }
        .into()
    }

    /// `09` Checkin; `returned` is the original return time for offline replay.
    pub fn checkin(
        &self,
        item: &str,
        no_block: bool,
        returned: Option<Timestamp>,
        now: Timestamp,
    ) -> Message {
        let date = returned.unwrap_or(now);
        CheckinRequest {
            no_block: yn(no_block),
            transaction_date: date.to_sip2(),
            return_date: self.blank_or(Some(date), date),
            current_location: self
                .fields
                .current_location
                .then(|| self.location.clone().unwrap_or_default()),
            institution_id: self.ao(),
            item_identifier: Some(item.into()),
            terminal_password: self.ac(),
            ..Default::default()
        }
        .into()
    }

    /// `29` Renew.
    pub fn renew(&self, patron: &str, item: &str, o: &CircOptions, now: Timestamp) -> Message {
        let date = o.transaction_date.unwrap_or(now);
        RenewRequest {
            third_party_allowed: yn(o.renewal_policy),
            no_block: yn(o.no_block),
            transaction_date: date.to_sip2(),
            nb_due_date: self.blank_or(o.nb_due_date, date),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            patron_password: o.pin.clone(),
            item_identifier: Some(item.into()),
            terminal_password: self.ac(),
            fee_acknowledged: self.bo(o.fee_acknowledged),
            ..Default::default()
        }
        .into()
    }

    /// `65` Renew all.
    pub fn renew_all(&self, patron: &str, pin: Option<&str>, now: Timestamp) -> Message {
        RenewAllRequest {
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            patron_password: pin.map(str::to_string),
            terminal_password: self.ac(),
            fee_acknowledged: self.bo(None),
            ..Default::default()
        }
        .into()
    }

    /// `17` Item information.
    pub fn item_information(&self, item: &str, now: Timestamp) -> Message {
        ItemInformationRequest {
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            item_identifier: Some(item.into()),
            terminal_password: self.ac(),
            ..Default::default()
        }
        .into()
    }

    /// `35` End patron session.
    pub fn end_session(&self, patron: &str, pin: Option<&str>, now: Timestamp) -> Message {
        EndPatronSessionRequest {
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            terminal_password: self.ac(),
            patron_password: pin.map(str::to_string),
            ..Default::default()
        }
        .into()
    }

    /// `37` Fee paid (`fee_type` 2 digits, `payment_type` 00 cash / 01 VISA / 02 card,
    /// `currency` ISO 4217).
    #[allow(clippy::too_many_arguments)]
    pub fn fee_paid(
        &self,
        patron: &str,
        amount: &str,
        currency: &str,
        fee_type: &str,
        payment_type: &str,
        transaction_id: Option<&str>,
        now: Timestamp,
    ) -> Message {
        FeePaidRequest {
            transaction_date: now.to_sip2(),
            fee_type: fee_type.into(),
            payment_type: payment_type.into(),
            currency_type: currency.into(),
            fee_amount: Some(amount.into()),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            terminal_password: self.ac(),
            transaction_id: transaction_id.map(str::to_string),
            ..Default::default()
        }
        .into()
    }

    /// `15` Hold: `mode` `+` add, `-` delete, `*` change.
    pub fn hold(&self, mode: char, patron: &str, item: &str, now: Timestamp) -> Message {
        HoldRequest {
            hold_mode: mode.to_string(),
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            item_identifier: Some(item.into()),
            terminal_password: self.ac(),
            pickup_location: self.location.clone(),
            ..Default::default()
        }
        .into()
    }

    /// `25` Patron enable.
    pub fn patron_enable(&self, patron: &str, pin: Option<&str>, now: Timestamp) -> Message {
        PatronEnableRequest {
            transaction_date: now.to_sip2(),
            institution_id: self.ao(),
            patron_identifier: Some(patron.into()),
            terminal_password: self.ac(),
            patron_password: pin.map(str::to_string),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches("blocked", "Patron BLOCKED: fines"));
        assert!(pattern_matches(
            "item*hold*",
            "Item is on hold for another patron"
        ));
        assert!(!pattern_matches(
            "item*hold",
            "Item is on hold for another patron"
        ));
        assert!(pattern_matches(
            "*patron",
            "Item is on hold for another patron"
        ));
        assert!(pattern_matches("该书已借出", "该书已借出"));
    }

    #[test]
    fn library_rules_win_over_defaults() {
        let mut s = Settings::default();
        assert_eq!(s.translate("Renewal too soon"), Some("sip2.renew-too-soon"));
        s.screen_messages.push(ScreenRule {
            pattern: "too soon".into(),
            id: "mylib.wait".into(),
        });
        assert_eq!(s.translate("Renewal too soon"), Some("mylib.wait"));
        assert_eq!(s.translate("hello"), None);
    }

    #[test]
    fn loads_from_toml() {
        let s: Settings = toml::from_str(
            r#"
            charset = "gb18030"
            terminator = "crlf"
            institution_id = "CN-TEST"
            location = "LOBBY-1"
            login_user = "kiosk"
            login_password = "secret"
            fields = { terminal_password = false }
            afi = { on_loan = 0xC2, in_stock = 0x07 }
            screen_messages = [{ pattern = "*超期*", id = "sip2.patron-overdue" }]
            "#,
        )
        .unwrap();
        assert_eq!(s.charset, Charset::Gb18030);
        assert_eq!(s.terminator, Terminator::CrLf);
        assert!(!s.fields.terminal_password);
        assert_eq!(s.translate("您有超期图书"), Some("sip2.patron-overdue"));
        assert!(toml::from_str::<Settings>("no_such_key = 1").is_err());
    }
}
