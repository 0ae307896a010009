//! The upload exchange (PROTOCOL.md §7): `POST /v1/records` with an `Idempotency-Key`
//! header, a batch of wire records and the latest checkpoint; per-record results back.

use serde::{Deserialize, Serialize};

use crate::record::{FormatError, SignedCheckpoint, SignedRecord, WireCheckpoint, WireRecord};
use crate::store::Batch;

/// Path of the upload endpoint.
pub const UPLOAD_PATH: &str = "/v1/records";
/// Header carrying the batch id (a retry of the same batch reuses it).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Request body of `POST /v1/records`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub terminal: String,
    /// Ascending seq order.
    pub records: Vec<WireRecord>,
    pub checkpoint: Option<WireCheckpoint>,
}

impl UploadRequest {
    pub fn from_batch(batch: &Batch) -> Result<UploadRequest, FormatError> {
        Ok(UploadRequest {
            terminal: batch.terminal.clone(),
            records: batch
                .records
                .iter()
                .map(SignedRecord::to_wire)
                .collect::<Result<_, _>>()?,
            checkpoint: batch
                .checkpoint
                .as_ref()
                .map(SignedCheckpoint::to_wire)
                .transpose()?,
        })
    }

    /// A batch id for the `Idempotency-Key` header: terminal and the seq range.
    pub fn idempotency_key(&self) -> String {
        let first = self.records.first().map_or(0, |r| r.seq);
        let last = self.records.last().map_or(0, |r| r.seq);
        format!("{}-{first}-{last}", self.terminal)
    }
}

/// Outcome for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Verified and durably stored by this request.
    Accepted,
    /// Already stored earlier with the same hash.
    Duplicate,
    /// Refused; `reason` says why. The terminal quarantines it.
    Rejected,
}

/// One entry of the response, per record of the request, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordResult {
    pub seq: u64,
    pub status: RecordStatus,
    /// A [`crate::VerifyError::reason`] code or a business code; `null` unless rejected.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Response body of `POST /v1/records` (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadResponse {
    pub results: Vec<RecordResult>,
    /// Highest seq the back office holds contiguously for this terminal.
    #[serde(default)]
    pub high_water: Option<u64>,
}

/// Path of the enrolment endpoint.
pub const ENROL_PATH: &str = "/v1/enrol";

/// Request body of `POST /v1/enrol` (PROTOCOL.md §7.5), sent with
/// `Authorization: Bearer <one-time enrolment code>` issued by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub terminal: String,
    /// The genesis key (64 hex digits), as `kioskctl keys show` prints it.
    pub public_key: String,
}

/// Response body of `POST /v1/enrol` (201 new, 200 already enrolled with this key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    pub terminal: String,
    pub public_key: String,
    /// Highest seq already held for this terminal (0 for a new one).
    pub high_water: u64,
}
