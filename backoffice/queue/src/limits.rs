//! Offline limits per record kind: how much may wait unacknowledged before the terminal must
//! refuse (reference: payment SAF caps, library offline caps).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which limit refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Number of pending records of the kind.
    Count,
    /// Sum of the value field over pending records of the kind.
    TotalValue,
    /// Value of this one record.
    RecordValue,
    /// Age in seconds of the oldest pending record of the kind.
    Age,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Count => "pending count",
            LimitKind::TotalValue => "pending total value",
            LimitKind::RecordValue => "record value",
            LimitKind::Age => "oldest pending age (s)",
        })
    }
}

/// Caps for one kind. Only pending (unacknowledged, not quarantined) records count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindLimit {
    pub max_count: Option<u64>,
    /// Cap on the sum of `value_field` over pending records (minor units).
    pub max_total_value: Option<u64>,
    /// Cap on one record's `value_field`.
    pub max_record_value: Option<u64>,
    /// Refuse new records while the oldest pending one is older than this many seconds.
    pub max_age_secs: Option<u64>,
}

/// Limits by kind, e.g. in TOML:
///
/// ```toml
/// value_field = "amount"
/// [kinds.payment]
/// max_count = 500
/// max_total_value = 25000
/// max_record_value = 5000
/// max_age_secs = 86400
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineLimits {
    /// Top-level payload field holding a record's value as a non-negative integer.
    #[serde(default = "default_value_field")]
    pub value_field: String,
    #[serde(default)]
    pub kinds: BTreeMap<String, KindLimit>,
}

fn default_value_field() -> String {
    "amount".to_string()
}

impl Default for OfflineLimits {
    fn default() -> Self {
        OfflineLimits {
            value_field: default_value_field(),
            kinds: BTreeMap::new(),
        }
    }
}

impl OfflineLimits {
    /// The value of a payload: its `value_field` if that is a non-negative integer, else 0.
    pub fn value_of(&self, payload: &serde_json::Value) -> Result<u64, String> {
        match payload.get(&self.value_field) {
            None => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                format!(
                    "payload field {:?} must be a non-negative integer (minor units)",
                    self.value_field
                )
            }),
        }
    }
}
