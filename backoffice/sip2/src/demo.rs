//! The demo library of the built-in SIP2 server ([`crate::server`]): patrons, items, loans,
//! holds and fines in the JSON format of `fixtures/sip2/library.json`, the same toy library
//! that `tests/sip2-peer/toy_ils.py` serves through pysip2 in the tests.
//!
//! [`DemoLibrary::builtin`] is that fixture compiled into the binary (`include_str!`), so the
//! demo mode needs no file. The demo SIP2 login is the fixture's `login`: user `kiosk`,
//! password `secret`, location `LOBBY-1`, institution `CN-TEST` ([`DEMO_USER`],
//! [`DEMO_PASSWORD`], [`DEMO_LOCATION`], [`DEMO_INSTITUTION`]).

use serde::{Deserialize, Serialize};

/// The built-in demo catalogue (`fixtures/sip2/library.json`).
pub const DEMO_LIBRARY_JSON: &str = include_str!("../../../fixtures/sip2/library.json");

/// SIP2 login user (CN) of the built-in catalogue.
pub const DEMO_USER: &str = "kiosk";
/// SIP2 login password (CO) of the built-in catalogue.
pub const DEMO_PASSWORD: &str = "secret";
/// Location code (CP) of the built-in catalogue.
pub const DEMO_LOCATION: &str = "LOBBY-1";
/// Institution id (AO) of the built-in catalogue.
pub const DEMO_INSTITUTION: &str = "CN-TEST";

/// The SIP2 account the kiosk logs in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLogin {
    pub user: String,
    pub password: String,
    #[serde(default)]
    pub location: Option<String>,
}

/// A patron (reader) of the demo library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoPatron {
    pub id: String,
    pub name: String,
    /// Checked against `AD`; answered in `CQ`.
    #[serde(default)]
    pub pin: String,
    /// Charge privileges denied + excessive fines (patron status positions 0 and 10).
    #[serde(default)]
    pub blocked: bool,
    /// Outstanding fines, e.g. `"3.50"` (`BV`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fines: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// An item (book) of the demo library and its circulation state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoItem {
    pub id: String,
    pub title: String,
    /// Media type (`CK`), e.g. `001` book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// The patron the item is checked out to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_to: Option<String>,
    /// Due date, as sent in `AH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The patron the item is on hold for (checkin sends it to the hold shelf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_for: Option<String>,
    /// Renewals are refused ("Renewal too soon").
    #[serde(default)]
    pub renew_too_soon: bool,
}

fn default_loan_days() -> i64 {
    28
}

fn default_currency() -> String {
    "CNY".into()
}

/// A whole demo library; the server keeps one in memory and changes it as loans happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLibrary {
    pub institution_id: String,
    #[serde(default)]
    pub library_name: Option<String>,
    pub login: DemoLogin,
    #[serde(default = "default_loan_days")]
    pub loan_days: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub patrons: Vec<DemoPatron>,
    pub items: Vec<DemoItem>,
}

/// A catalogue file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot read demo library {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("demo library is not valid JSON of the fixtures/sip2/library.json form: {0}")]
    Json(#[from] serde_json::Error),
}

impl DemoLibrary {
    /// The catalogue compiled into the binary ([`DEMO_LIBRARY_JSON`]).
    pub fn builtin() -> DemoLibrary {
        DemoLibrary::from_json(DEMO_LIBRARY_JSON).expect("the built-in demo library is valid")
    }

    /// Parses the JSON form (unknown keys such as `_origin` or `note` are ignored).
    pub fn from_json(text: &str) -> Result<DemoLibrary, DemoError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Reads a catalogue file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<DemoLibrary, DemoError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DemoError::Read {
            path: path.display().to_string(),
            source,
        })?;
        DemoLibrary::from_json(&text)
    }

    pub fn patron(&self, id: &str) -> Option<&DemoPatron> {
        self.patrons.iter().find(|p| p.id == id)
    }

    pub fn item(&self, id: &str) -> Option<&DemoItem> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn item_mut(&mut self, id: &str) -> Option<&mut DemoItem> {
        self.items.iter_mut().find(|i| i.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_has_the_test_cases() {
        let lib = DemoLibrary::builtin();
        assert_eq!(lib.institution_id, DEMO_INSTITUTION);
        assert_eq!(lib.login.user, DEMO_USER);
        assert_eq!(lib.login.password, DEMO_PASSWORD);
        assert_eq!(lib.login.location.as_deref(), Some(DEMO_LOCATION));
        assert_eq!(lib.patron("P001").unwrap().name, "张三");
        assert!(lib.patron("P002").unwrap().blocked);
        assert_eq!(lib.patron("P003").unwrap().fines.as_deref(), Some("3.50"));
        assert_eq!(lib.item("B004").unwrap().hold_for.as_deref(), Some("P003"));
        assert!(lib.item("B005").unwrap().renew_too_soon);
        assert_eq!(lib.loan_days, 28);
    }
}
