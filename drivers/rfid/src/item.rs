//! An item tag as the kiosk sees it, and the AFI values that mean "secured" and "on loan".

use std::fmt;

use crate::iso15693::Uid;
use crate::tagdata::{DataModel, LibraryData, TagDataError};

/// Gate security state of an item (ISO 28560-1 AFI use, `library.md` §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityState {
    /// In the library: the gate alarms (AFI "in stock", EAS set).
    Secured,
    /// On loan: the gate lets it pass (AFI "on loan", EAS reset).
    Unsecured,
}

impl fmt::Display for SecurityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityState::Secured => "secured",
            SecurityState::Unsecured => "unsecured",
        })
    }
}

/// The AFI values a library uses; configuration (terminal profile), never constants in logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfiConfig {
    /// AFI of items in stock (secured). ISO 28560-1 practice: 0x07.
    pub in_stock: u8,
    /// AFI of items on loan (unsecured). ISO/IEC 15961 library AFI: 0xC2.
    pub on_loan: u8,
}

impl Default for AfiConfig {
    fn default() -> Self {
        AfiConfig {
            in_stock: 0x07,
            on_loan: 0xC2,
        }
    }
}

impl AfiConfig {
    /// The AFI to write for `state`.
    pub fn afi_for(&self, state: SecurityState) -> u8 {
        match state {
            SecurityState::Secured => self.in_stock,
            SecurityState::Unsecured => self.on_loan,
        }
    }

    /// What `afi` means under this configuration (`None`: neither value).
    pub fn state_of(&self, afi: u8) -> Option<SecurityState> {
        if afi == self.in_stock {
            Some(SecurityState::Secured)
        } else if afi == self.on_loan {
            Some(SecurityState::Unsecured)
        } else {
            None
        }
    }
}

/// One library item tag: ISO 15693 system data plus its decoded library data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemTag {
    pub uid: Uid,
    pub afi: u8,
    pub dsfid: u8,
    /// EAS bit, when the reader could tell (set by the last EAS command we sent).
    pub eas: Option<bool>,
    pub block_size: u8,
    pub block_count: u16,
    pub data_model: DataModel,
    /// Decoded library data (None when blank, unknown or undecodable).
    pub data: Option<LibraryData>,
    /// Why the data could not be decoded, if it could not.
    pub data_error: Option<TagDataError>,
}

impl ItemTag {
    /// An ICODE SLIX-sized tag (28 blocks of 4 bytes) holding `data` in ISO 28560-2, as an
    /// inventory reports it: how flows, tests and the demo describe a book without a pad.
    pub fn slix(uid: Uid, afi: u8, data: LibraryData) -> ItemTag {
        ItemTag {
            uid,
            afi,
            dsfid: DataModel::Iso28560_2.dsfid(),
            eas: None,
            block_size: 4,
            block_count: 28,
            data_model: DataModel::Iso28560_2,
            data: Some(data),
            data_error: None,
        }
    }

    pub fn primary_item_id(&self) -> Option<&str> {
        self.data.as_ref().map(|d| d.primary_item_id.as_str())
    }

    pub fn owner_institution(&self) -> Option<&str> {
        self.data
            .as_ref()
            .and_then(|d| d.owner_institution.as_deref())
    }

    /// Security state by AFI under `cfg`.
    pub fn security(&self, cfg: &AfiConfig) -> Option<SecurityState> {
        cfg.state_of(self.afi)
    }

    /// User memory in bytes.
    pub fn capacity(&self) -> usize {
        self.block_size as usize * self.block_count as usize
    }
}
