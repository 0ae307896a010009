//! The signed record and the signed checkpoint: exact bytes (PROTOCOL.md §2, §5) and the JSON
//! wire form (§7). Pure encode/decode, no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::PublicKey;

/// Domain-separation prefix of a record body: `KIOSK-RECORD-V1` and one zero byte.
pub const RECORD_DOMAIN: &[u8; 16] = b"KIOSK-RECORD-V1\0";
/// Domain-separation prefix of a checkpoint body: `KIOSK-CHECKPOINT-V1` and one zero byte.
pub const CHECKPOINT_DOMAIN: &[u8; 20] = b"KIOSK-CHECKPOINT-V1\0";
/// Longest terminal id and kind, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Largest canonical payload, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 65_536;
/// Kind of the record that hands signing over to a new key (§6).
pub const KIND_KEY_ROTATION: &str = "kiosk.key_rotation";

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The all-zero `prev_hash` of sequence number 1.
pub const GENESIS_PREV: Hash = [0u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Why record or checkpoint bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("bytes end early: {0} missing")]
    Truncated(&'static str),
    #[error("wrong domain prefix (not a version-1 {0})")]
    Domain(&'static str),
    #[error("{field} is invalid: {why}")]
    Field { field: &'static str, why: String },
    #[error("{0} trailing bytes after the body")]
    Trailing(usize),
    #[error("payload: {0}")]
    Payload(#[from] crate::canonical::CanonicalError),
}

fn field(field: &'static str, why: impl Into<String>) -> FormatError {
    FormatError::Field {
        field,
        why: why.into(),
    }
}

/// Terminal ids: 1–64 bytes of `A-Z a-z 0-9 . _ : -`.
pub fn check_terminal_id(id: &str) -> Result<(), FormatError> {
    if id.is_empty() || id.len() > MAX_NAME_LEN {
        return Err(field("terminal", "must be 1-64 bytes"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(field("terminal", "only A-Z a-z 0-9 . _ : - allowed"));
    }
    Ok(())
}

/// Record kinds: 1–64 bytes of `a-z 0-9 . _ -`, starting with a letter.
pub fn check_kind(kind: &str) -> Result<(), FormatError> {
    if kind.is_empty() || kind.len() > MAX_NAME_LEN {
        return Err(field("kind", "must be 1-64 bytes"));
    }
    if !kind.as_bytes()[0].is_ascii_lowercase()
        || !kind.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
    {
        return Err(field(
            "kind",
            "only a-z 0-9 . _ - allowed, starting with a letter",
        ));
    }
    Ok(())
}

/// The fields of one record, before signing (PROTOCOL.md §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBody {
    pub terminal: String,
    /// Per-terminal sequence number, 1, 2, 3 … without gaps.
    pub seq: u64,
    /// Wall-clock time on the terminal: milliseconds since 1970-01-01T00:00:00Z (a business fact only).
    pub wall_ms: i64,
    /// Linux boot id (`/proc/sys/kernel/random/boot_id`) as 16 raw bytes; zeros when unknown.
    pub boot_id: [u8; 16],
    /// `CLOCK_BOOTTIME` in nanoseconds since that boot (monotonic, counts suspend).
    pub mono_ns: u64,
    /// The public key whose signature follows.
    pub signer: PublicKey,
    /// Hash of the previous record's body; zeros for `seq == 1`.
    pub prev_hash: Hash,
    pub kind: String,
    /// Canonical JSON (PROTOCOL.md §3).
    pub payload: Vec<u8>,
}

impl RecordBody {
    /// The exact bytes that are hashed and signed.
    pub fn encode(&self) -> Vec<u8> {
        let capacity = 16 + 2 + self.terminal.len() + 104 + self.payload.len();
        let mut out = start_body(capacity, RECORD_DOMAIN, &self.terminal);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.wall_ms.to_be_bytes());
        out.extend_from_slice(&self.boot_id);
        out.extend_from_slice(&self.mono_ns.to_be_bytes());
        out.extend_from_slice(self.signer.as_bytes());
        out.extend_from_slice(&self.prev_hash);
        put_name(&mut out, &self.kind);
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes and validates body bytes (every field rule of PROTOCOL.md §2).
    pub fn decode(bytes: &[u8]) -> Result<RecordBody, FormatError> {
        let (mut r, terminal) = Reader::start(bytes, RECORD_DOMAIN, "record")?;
        let seq = r.u64("seq")?;
        if seq == 0 {
            return Err(field("seq", "must be at least 1"));
        }
        let wall_ms = r.i64("wall_ms")?;
        let boot_id: [u8; 16] = r.array("boot_id")?;
        let mono_ns = r.u64("mono_ns")?;
        let signer = r.signer()?;
        let prev_hash: Hash = r.array("prev_hash")?;
        if seq == 1 && prev_hash != GENESIS_PREV {
            return Err(field("prev_hash", "must be zero for seq 1"));
        }
        let kind = r.name("kind")?;
        check_kind(&kind)?;
        let len = u32::from_be_bytes(r.array("payload length")?) as usize;
        if len > MAX_PAYLOAD_LEN {
            return Err(field(
                "payload",
                format!("longer than {MAX_PAYLOAD_LEN} bytes"),
            ));
        }
        let payload = r.take(len, "payload")?.to_vec();
        crate::canonical::check_canonical(&payload)?;
        r.finish()?;
        Ok(RecordBody {
            terminal,
            seq,
            wall_ms,
            boot_id,
            mono_ns,
            signer,
            prev_hash,
            kind,
            payload,
        })
    }
}

/// The fields of a checkpoint (PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    pub terminal: String,
    /// Number of records in the log = the sequence number of its head.
    pub count: u64,
    /// Hash of the body of record `count`.
    pub head_hash: Hash,
    pub wall_ms: i64,
    pub signer: PublicKey,
}

impl CheckpointBody {
    /// The exact bytes that are signed.
    pub fn encode(&self) -> Vec<u8> {
        let capacity = 20 + 2 + self.terminal.len() + 80;
        let mut out = start_body(capacity, CHECKPOINT_DOMAIN, &self.terminal);
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.head_hash);
        out.extend_from_slice(&self.wall_ms.to_be_bytes());
        out.extend_from_slice(self.signer.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<CheckpointBody, FormatError> {
        let (mut r, terminal) = Reader::start(bytes, CHECKPOINT_DOMAIN, "checkpoint")?;
        let count = r.u64("count")?;
        if count == 0 {
            return Err(field("count", "must be at least 1"));
        }
        let head_hash = r.array("head_hash")?;
        let wall_ms = r.i64("wall_ms")?;
        let signer = r.signer()?;
        r.finish()?;
        Ok(CheckpointBody {
            terminal,
            count,
            head_hash,
            wall_ms,
            signer,
        })
    }
}

/// A body buffer with its domain prefix and terminal id written (the common head of §2 and §5).
fn start_body(capacity: usize, domain: &[u8], terminal: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(domain);
    put_name(&mut out, terminal);
    out
}

/// A `u16be` length, then the bytes (terminal id, kind).
fn put_name(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the domain prefix and reads the terminal id that follows it.
    fn start(
        bytes: &'a [u8],
        domain: &[u8],
        what: &'static str,
    ) -> Result<(Reader<'a>, String), FormatError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(domain.len(), "domain")? != domain {
            return Err(FormatError::Domain(what));
        }
        let terminal = r.name("terminal")?;
        check_terminal_id(&terminal)?;
        Ok((r, terminal))
    }

    /// Fails if bytes remain after the last field.
    fn finish(&self) -> Result<(), FormatError> {
        if self.pos != self.bytes.len() {
            return Err(FormatError::Trailing(self.bytes.len() - self.pos));
        }
        Ok(())
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(FormatError::Truncated(what))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn signer(&mut self) -> Result<PublicKey, FormatError> {
        PublicKey::from_bytes(&self.array("signer")?).map_err(|e| field("signer", e.to_string()))
    }

    fn name(&mut self, what: &'static str) -> Result<String, FormatError> {
        let len = u16::from_be_bytes(self.array(what)?) as usize;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| field(what, "not UTF-8"))
    }
}

/// A record as stored, exported and uploaded: the signed body bytes, the signature and the
/// hash the terminal computed (PROTOCOL.md §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    pub body: Vec<u8>,
    pub sig: [u8; 64],
    pub hash: Hash,
}

impl SignedRecord {
    /// Decodes the body (no signature or chain check; see [`crate::verify_record`]).
    pub fn decode_body(&self) -> Result<RecordBody, FormatError> {
        RecordBody::decode(&self.body)
    }

    /// The wire form, with the decoded fields alongside for people and tools.
    pub fn to_wire(&self) -> Result<WireRecord, FormatError> {
        let b = self.decode_body()?;
        let payload: serde_json::Value =
            serde_json::from_slice(&b.payload).map_err(|e| field("payload", e.to_string()))?;
        Ok(WireRecord {
            seq: b.seq,
            terminal: b.terminal,
            kind: b.kind,
            wall_ms: b.wall_ms,
            boot_id: hex::encode(b.boot_id),
            mono_ns: b.mono_ns,
            signer: b.signer.to_hex(),
            prev_hash: hex::encode(b.prev_hash),
            payload,
            hash: hex::encode(self.hash),
            signed: B64.encode(&self.body),
            sig: B64.encode(self.sig),
        })
    }

    /// Reads the wire form. Only `signed`, `sig` and `hash` are taken; the decoded fields are
    /// checked against the signed bytes so they can never disagree.
    pub fn from_wire(w: &WireRecord) -> Result<SignedRecord, FormatError> {
        let (body, sig) = decode_signed(&w.signed, &w.sig)?;
        let hash = parse_hash(&w.hash)?;
        let rec = SignedRecord { body, sig, hash };
        let b = rec.decode_body()?;
        let payload: serde_json::Value =
            serde_json::from_slice(&b.payload).map_err(|e| field("payload", e.to_string()))?;
        if b.seq != w.seq
            || b.terminal != w.terminal
            || b.kind != w.kind
            || b.wall_ms != w.wall_ms
            || hex::encode(b.boot_id) != w.boot_id
            || b.mono_ns != w.mono_ns
            || b.signer.to_hex() != w.signer
            || hex::encode(b.prev_hash) != w.prev_hash
            || payload != w.payload
        {
            return Err(field(
                "record",
                "decoded fields disagree with the signed bytes",
            ));
        }
        Ok(rec)
    }
}

/// The authoritative members of the wire forms: `signed` (base64 body) and `sig` (base64 of 64
/// bytes).
fn decode_signed(signed: &str, sig: &str) -> Result<(Vec<u8>, [u8; 64]), FormatError> {
    let body = B64
        .decode(signed)
        .map_err(|e| field("signed", e.to_string()))?;
    let sig: [u8; 64] = B64
        .decode(sig)
        .map_err(|e| field("sig", e.to_string()))?
        .try_into()
        .map_err(|_| field("sig", "must be 64 bytes"))?;
    Ok((body, sig))
}

/// JSON form of a record (PROTOCOL.md §7.1). `signed`, `sig` (standard base64 with padding)
/// and `hash` (lowercase hex) are authoritative; the other fields repeat the signed bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRecord {
    pub seq: u64,
    pub terminal: String,
    pub kind: String,
    pub wall_ms: i64,
    pub boot_id: String,
    pub mono_ns: u64,
    pub signer: String,
    pub prev_hash: String,
    pub payload: serde_json::Value,
    pub hash: String,
    pub signed: String,
    pub sig: String,
}

/// A signed checkpoint: body bytes and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub body: Vec<u8>,
    pub sig: [u8; 64],
}

impl SignedCheckpoint {
    pub fn decode_body(&self) -> Result<CheckpointBody, FormatError> {
        CheckpointBody::decode(&self.body)
    }

    pub fn to_wire(&self) -> Result<WireCheckpoint, FormatError> {
        let b = self.decode_body()?;
        Ok(WireCheckpoint {
            terminal: b.terminal,
            count: b.count,
            head_hash: hex::encode(b.head_hash),
            wall_ms: b.wall_ms,
            signer: b.signer.to_hex(),
            signed: B64.encode(&self.body),
            sig: B64.encode(self.sig),
        })
    }

    pub fn from_wire(w: &WireCheckpoint) -> Result<SignedCheckpoint, FormatError> {
        let (body, sig) = decode_signed(&w.signed, &w.sig)?;
        let cp = SignedCheckpoint { body, sig };
        let b = cp.decode_body()?;
        if b.terminal != w.terminal
            || b.count != w.count
            || hex::encode(b.head_hash) != w.head_hash
            || b.wall_ms != w.wall_ms
            || b.signer.to_hex() != w.signer
        {
            return Err(field(
                "checkpoint",
                "decoded fields disagree with the signed bytes",
            ));
        }
        Ok(cp)
    }
}

/// JSON form of a checkpoint (PROTOCOL.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireCheckpoint {
    pub terminal: String,
    pub count: u64,
    pub head_hash: String,
    pub wall_ms: i64,
    pub signer: String,
    pub signed: String,
    pub sig: String,
}

/// Parses lowercase or uppercase hex of a 32-byte hash.
pub fn parse_hash(s: &str) -> Result<Hash, FormatError> {
    hex::decode(s)
        .map_err(|e| field("hash", e.to_string()))?
        .try_into()
        .map_err(|_| field("hash", "must be 32 bytes"))
}
